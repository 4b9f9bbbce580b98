"""Teams settings become the botbuilder SDK's configuration; reply endpoints are checked against the allowlist."""

from __future__ import annotations

import pytest

from ragbot.errors import ConfigurationError
from ragbot.settings import TeamsSettings
from teams_adapter.config import PUBLIC_CLOUD, sdk_config, service_url_allowed


def test_sdk_config_requires_the_app_id_and_password_naming_the_variables() -> None:
    with pytest.raises(ConfigurationError, match="RAGBOT_TEAMS__APP_ID"):
        sdk_config(TeamsSettings())
    with pytest.raises(ConfigurationError, match="RAGBOT_TEAMS__APP_PASSWORD"):
        sdk_config(TeamsSettings(app_id="app"))


def test_sdk_config_uses_the_sdks_public_cloud_unless_an_endpoint_is_overridden() -> None:
    public = sdk_config(TeamsSettings(app_id="app", app_password="pw"))
    assert (public.APP_ID, public.APP_PASSWORD, public.APP_TYPE) == ("app", "pw", "MultiTenant")
    # None everywhere keeps botbuilder on its built-in public-cloud authentication.
    assert public.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL is None and public.TO_CHANNEL_FROM_BOT_LOGIN_URL is None

    custom = sdk_config(
        TeamsSettings(
            app_id="app",
            app_password="pw",
            app_type="SingleTenant",
            tenant_id="tenant-1",
            openid_metadata_url="https://keys.example/v1/.well-known/openidconfiguration",
        )
    )
    assert custom.TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL == "https://keys.example/v1/.well-known/openidconfiguration"
    # Parameterized mode takes every endpoint from the object: the rest are the public-cloud values...
    assert custom.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER == PUBLIC_CLOUD["TO_BOT_FROM_CHANNEL_TOKEN_ISSUER"]
    assert custom.CALLER_ID == PUBLIC_CLOUD["CALLER_ID"] and custom.OAUTH_URL == PUBLIC_CLOUD["OAUTH_URL"]
    # ... and the tenant reaches MSAL only through the login URL.
    assert custom.TO_CHANNEL_FROM_BOT_LOGIN_URL == "https://login.microsoftonline.com/tenant-1"
    assert custom.APP_TENANTID == "tenant-1"


def test_service_urls_outside_the_allowlist_are_refused() -> None:
    allowed = ("https://smba.trafficmanager.net/",)
    assert service_url_allowed("https://smba.trafficmanager.net/amer/", allowed)
    assert service_url_allowed("https://SMBA.trafficmanager.net/emea/", allowed)
    assert not service_url_allowed("https://smba.trafficmanager.net.evil.example/amer/", allowed)
    assert not service_url_allowed("https://attacker.example/amer/", allowed)
    assert not service_url_allowed("http://smba.trafficmanager.net/amer/", ())  # never the bot's token over http
    assert service_url_allowed("https://anything.example/", ())
