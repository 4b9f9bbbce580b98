"""TeamsSettings → what botbuilder's `ConfigurationBotFrameworkAuthentication` reads, validated at start-up.

botbuilder reads its configuration with `getattr(config, "UPPER_SNAKE_NAME")`: an object with attributes is
required (a dict silently yields the public-cloud defaults). Setting any of the endpoint attributes (TO_*, OAUTH_URL,
CALLER_ID) switches botbuilder to *parameterized* authentication, which takes every endpoint from the object; so when
an operator overrides one endpoint (a sovereign cloud, a test server) every other one is filled in here with its
public-cloud value, and with none overridden the SDK's own public-cloud constants apply.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from ragbot.errors import ConfigurationError
from ragbot.settings import TeamsSettings

__all__ = ["PUBLIC_CLOUD", "SdkConfig", "sdk_config", "service_url_allowed"]

PUBLIC_CLOUD = {
    "TO_CHANNEL_FROM_BOT_OAUTH_SCOPE": "https://api.botframework.com",
    "TO_BOT_FROM_CHANNEL_TOKEN_ISSUER": "https://api.botframework.com",
    "TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL": "https://login.botframework.com/v1/.well-known/openidconfiguration",
    "TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL": (
        "https://login.microsoftonline.com/botframework.com/v2.0/.well-known/openid-configuration"
    ),
    "OAUTH_URL": "https://api.botframework.com",
    "CALLER_ID": "urn:botframework:azure",
}
"""botbuilder's public-cloud endpoints (AuthenticationConstants), used for whatever an override leaves unset."""
_LOGIN_BASE = "https://login.microsoftonline.com"
_MULTI_TENANT = "botframework.com"


@dataclass(frozen=True)
class SdkConfig:
    """The attributes `ConfigurationBotFrameworkAuthentication` and its credential factory read.

    The endpoint attributes are None unless an endpoint was overridden (then all are set: see the module docstring).
    """

    APP_ID: str
    APP_PASSWORD: str
    APP_TYPE: str
    APP_TENANTID: str | None = None
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str | None = None
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str | None = None
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str | None = None
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str | None = None
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str | None = None
    OAUTH_URL: str | None = None
    CALLER_ID: str | None = None
    VALIDATE_AUTHORITY: bool = True
    CHANNEL_SERVICE: str | None = None


def sdk_config(settings: TeamsSettings) -> SdkConfig:
    """The SDK configuration of the bot registration in `settings`.

    Raises:
        ConfigurationError: The app id, or the password (except for a managed identity), is missing.
    """
    if not settings.app_id:
        raise ConfigurationError("set RAGBOT_TEAMS__APP_ID (the bot's Microsoft App ID)")
    password = settings.app_password.get_secret_value() if settings.app_password else ""
    if not password and settings.app_type != "UserAssignedMSI":
        raise ConfigurationError("set RAGBOT_TEAMS__APP_PASSWORD (the client secret of the bot's app registration)")
    base = SdkConfig(
        APP_ID=settings.app_id,
        APP_PASSWORD=password,
        APP_TYPE=settings.app_type,
        APP_TENANTID=settings.tenant_id,
    )
    if not (settings.openid_metadata_url or settings.login_url or settings.token_issuer):
        return base
    # In parameterized mode the tenant reaches MSAL only through the login URL, never through APP_TENANTID.
    tenant = settings.tenant_id if settings.app_type != "MultiTenant" and settings.tenant_id else _MULTI_TENANT
    return SdkConfig(
        APP_ID=base.APP_ID,
        APP_PASSWORD=base.APP_PASSWORD,
        APP_TYPE=base.APP_TYPE,
        APP_TENANTID=base.APP_TENANTID,
        TO_CHANNEL_FROM_BOT_LOGIN_URL=settings.login_url or f"{_LOGIN_BASE}/{tenant}",
        TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=PUBLIC_CLOUD["TO_CHANNEL_FROM_BOT_OAUTH_SCOPE"],
        TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=settings.token_issuer or PUBLIC_CLOUD["TO_BOT_FROM_CHANNEL_TOKEN_ISSUER"],
        TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=(
            settings.openid_metadata_url or PUBLIC_CLOUD["TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL"]
        ),
        TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=PUBLIC_CLOUD["TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL"],
        OAUTH_URL=PUBLIC_CLOUD["OAUTH_URL"],
        CALLER_ID=PUBLIC_CLOUD["CALLER_ID"],
        # Read by botbuilder but never handed to MSAL (4.17.1); kept truthful for when it is.
        VALIDATE_AUTHORITY=settings.login_url is None,
    )


def service_url_allowed(service_url: str, allowed: tuple[str, ...]) -> bool:
    """Whether the bot may talk to (and hand its token to) `service_url`. An empty `allowed` allows any https URL.

    An entry allows itself and every URL below it: "https://smba.trafficmanager.net/" allows all of Teams' regions.
    Scheme and host compare case-insensitively, the path as is.
    """
    url = _normalized(service_url)
    if url is None:
        return False
    if not allowed:
        return True
    for entry in allowed:
        prefix = _normalized(entry)
        if prefix is not None and url.startswith(prefix):
            return True
    return False


def _normalized(url: str) -> str | None:
    parts = urlsplit(url.strip())
    if parts.scheme.lower() != "https" or not parts.netloc:
        return None
    path = parts.path if parts.path.endswith("/") else f"{parts.path}/"
    return f"https://{parts.netloc.lower()}{path}"
