"""Fake Bot Framework services for tests that drive the real botbuilder stack (CloudAdapter, MSAL, ConnectorClient).

`FakeBotFramework` is one real HTTPS server (stdlib `ThreadingHTTPServer` on 127.0.0.1, an ephemeral port, daemon
threads; its own throwaway CA) that plays every remote party a Teams bot talks to:

- the Bot Framework channel's OpenID metadata and JWKS, against which botbuilder validates inbound
  `Authorization: Bearer` tokens. The JWKS publishes `CHANNEL_SIGNING_KEY` with `endorsements`, as the real one does;
  `mint_channel_token` signs tokens with it exactly like the channel does (RS256, `iss` https://api.botframework.com,
  `aud` the bot's app id, `serviceurl`);
- Microsoft Entra ID (AAD) for the bot's outbound token: MSAL's OIDC discovery document and the v2.0 token endpoint
  (client-credentials grant only), with AAD's error bodies (`invalid_client` / AADSTS7000215 for a wrong secret...);
- the Bot Connector REST API (`/v3/conversations/{id}/activities[/{activityId}]`: send, reply, update, delete), which
  demands a bearer token this very server issued and records every activity it accepts. It enforces Teams' message
  streaming rules: a `streaminfo` entity of type `informative`/`streaming` rides on a `typing` activity; the first
  one opens a stream whose id is that activity's id; later ones carry the `streamId` and a growing
  `streamSequence`; a `message` with `streamType: final` and the `streamId` closes it; anything after that, or for
  an unknown stream, is refused (403 `ContentStreamNotAllowed`), as is streaming into a conversation registered
  with `group_conversation` (Teams streams in 1:1 chats only).

Pointing botbuilder at it (see `FakeBotFramework.sdk_config`, and `BotSdkConfig` for why each key is there):

- botbuilder-python reads its configuration with `getattr(config, "UPPER_SNAKE_NAME")`, so the configuration must be
  an object with attributes; a dict silently yields the public-cloud defaults (and real network calls).
- MSAL only accepts `https://` authorities, and botbuilder builds `ConfidentialClientApplication(authority=...)`
  without passing `validate_authority` (the `VALIDATE_AUTHORITY` key is read but never reaches MSAL, botbuilder
  4.17.1), so for a host MSAL does not know MSAL would first call instance discovery on
  https://login.microsoftonline.com. MSAL skips that for ADFS authorities (first path segment `adfs`), hence the
  login URL `https://127.0.0.1:PORT/adfs/{tenant}`; MSAL then fetches `/adfs/{tenant}/.well-known/openid-configuration`
  and posts to the `token_endpoint` found there (`/{tenant}/oauth2/v2.0/token`).
- Python `requests` (used by MSAL, by botbuilder's OpenID metadata fetch and by msrest's ConnectorClient) must trust
  the fake's CA: set the environment variable `REQUESTS_CA_BUNDLE` to `FakeBotFramework.ca_bundle` for the test
  (`monkeypatch.setenv`). This is configuration of the process, not a patch of the SDK.

`message_activity` and `invoke_feedback_activity` build what Teams posts to a bot (personal chat, channel with an
@mention, group chat; the feedback-loop `message/submitAction` invoke).

Gotchas this fake surfaced in botbuilder 4.17.1 (pinned by tests/unit/test_fake_bot_connector.py):
- Only a token with a wrong `aud`/`iss`/`serviceurl` makes `CloudAdapter.process` answer 401 (it maps
  `PermissionError`). A missing Authorization header (AttributeError), a bad signature (`jwt.InvalidSignatureError`),
  an expired token (`jwt.ExpiredSignatureError`), an unknown `kid` (IndexError), a channel not in the key's
  endorsements (Exception) all escape as exceptions, which aiohttp turns into 500: the adapter must map them.
- The SDK accepts tokens up to 300 s past `exp` (clock tolerance): mint expired tokens with `expires_in < -300`.
- botbuilder caches OpenID metadata per URL for a process lifetime (`JwtTokenExtractor.metadataCache`, refreshed daily);
  each fake has its own port, hence its own URL, so fakes do not see each other's caches.
- A new MSAL application (OIDC discovery + token request) is built for every connector client, i.e. every inbound
  turn and every `continue_conversation`; `token_requests` lets a test see that.
- A wrong app password fails the bot's *reply* (MSAL → PermissionError), which `CloudAdapter.process` reports as a
  401 on the inbound request.
- Teams sends `conversation.tenantId`; botbuilder-python maps `ConversationAccount.tenant_id` to "tenantID", so it
  reads None: take the tenant from `channelData.tenant.id`.
- An `InvokeResponse.body` must be an msrest Model or None; a plain dict makes `CloudAdapter.process` fail (500).
- `continue_conversation` posts as a *reply* to its synthetic continuation activity (a uuid1 id), not to the stored
  activity id; msrest does not retry a POST answered 503.

Not emulated: conversation membership, create-conversation, attachments upload, the user-token (OAuth card) API,
Teams' rate limits and streaming.
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import hashlib
import html
import ipaddress
import itertools
import json
import re
import secrets
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import jwt
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from jwt.algorithms import RSAAlgorithm

# --- protocol constants (the public-cloud values botbuilder uses) ---------------------------------------------------

BOT_FRAMEWORK_ISSUER = "https://api.botframework.com"
"""`iss` of channel→bot tokens (AuthenticationConstants.TO_BOT_FROM_CHANNEL_TOKEN_ISSUER)."""
BOT_FRAMEWORK_SCOPE = "https://api.botframework.com"
"""Resource of bot→channel tokens; MSAL asks for `{scope}/.default` (TO_CHANNEL_FROM_BOT_OAUTH_SCOPE)."""
BOT_FRAMEWORK_TENANT = "botframework.com"
"""The tenant multi-tenant bots get their outbound token from."""
BOT_FRAMEWORK_TENANT_ID = "d6d49420-f39b-4df7-a1dc-d59a935871db"
"""The directory id behind `botframework.com`."""
PUBLIC_AZURE_CALLER_ID = "urn:botframework:azure"
"""What the public cloud writes into `activity.caller_id` (CallerIdConstants.public_azure_channel)."""
TEAMS_CHANNEL_ID = "msteams"

CHANNEL_METADATA_PATH = "/v1/.well-known/openidconfiguration"
CHANNEL_JWKS_PATH = "/v1/.well-known/keys"
EMULATOR_METADATA_PATH = "/common/v2.0/.well-known/openid-configuration"
SERVICE_PATH = "/amer/"
"""Path of `service_url`, like Teams' https://smba.trafficmanager.net/amer/ (msrest appends `v3/...` to it)."""

TEST_TENANT_ID = "72f988bf-0000-4000-8000-00000000c0de"
"""The Teams tenant of the test users (channelData.tenant.id, conversation.tenantId)."""
TEST_USER_AAD_OBJECT_ID = "a1b2c3d4-0000-4000-8000-0000000005e1"
TEST_TEAM_ID = "19:team-handbook-0000@thread.tacv2"

# --- keys ------------------------------------------------------------------------------------------------------------


def generate_rsa_key() -> rsa.RSAPrivateKey:
    """A fresh 2048-bit RSA key (for forging tokens, or a second published key)."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


CHANNEL_KEY_ID = "test-key-1"
CHANNEL_SIGNING_KEY = generate_rsa_key()
"""Signs channel→bot tokens; its public part is in every fake's channel JWKS under `CHANNEL_KEY_ID`."""
FORGERY_KEY = generate_rsa_key()
"""Never published: a token signed with it under `CHANNEL_KEY_ID` has a bad signature."""
AAD_KEY_ID = "test-aad-key-1"
AAD_SIGNING_KEY = generate_rsa_key()
"""Signs the access tokens the fake's token endpoint issues to bots (published in the AAD JWKS)."""


def _now() -> int:
    return int(time.time())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def public_jwk(key: rsa.RSAPrivateKey | rsa.RSAPublicKey, kid: str, **extra: Any) -> dict[str, Any]:
    """The JWK of a key's public part, shaped like Bot Framework's and Entra ID's JWKS entries (`kid` == `x5t`)."""
    public = key.public_key() if isinstance(key, rsa.RSAPrivateKey) else key
    jwk: dict[str, Any] = RSAAlgorithm.to_jwk(public, as_dict=True)
    return {"kty": "RSA", "use": "sig", "kid": kid, "x5t": kid, "n": jwk["n"], "e": jwk["e"], **extra}


def mint_channel_token(
    *,
    app_id: str,
    service_url: str | None,
    issuer: str = BOT_FRAMEWORK_ISSUER,
    audience: str | None = None,
    kid: str | None = CHANNEL_KEY_ID,
    key: rsa.RSAPrivateKey | None = None,
    algorithm: str = "RS256",
    expires_in: int = 3600,
    issued_at: int | None = None,
    extra_claims: Mapping[str, Any] | None = None,
) -> str:
    """A channel→bot JWT as the Bot Framework channel service signs it for a bot.

    Claims: `iss` (https://api.botframework.com), `aud` (the bot's app id), `serviceurl` (must equal the activity's
    `serviceUrl` byte for byte; `None` omits the claim), `nbf`, `iat`, `exp`; header `kid` and `x5t`.
    Forging: `key=FORGERY_KEY` (bad signature under a published kid), `kid="unknown"`, `audience="other-app"`,
    `issuer=...`, `expires_in=-600` (expired beyond the SDK's 300 s clock tolerance).
    """
    now = _now() if issued_at is None else issued_at
    claims: dict[str, Any] = {
        "iss": issuer,
        "aud": app_id if audience is None else audience,
        "nbf": min(now, now + expires_in - 60),
        "iat": min(now, now + expires_in - 60),
        "exp": now + expires_in,
    }
    if service_url is not None:
        claims["serviceurl"] = service_url
    claims.update(extra_claims or {})
    headers: dict[str, Any] = {"typ": "JWT"}
    if kid is not None:
        headers.update(kid=kid, x5t=kid)
    return jwt.encode(claims, key or CHANNEL_SIGNING_KEY, algorithm=algorithm, headers=headers)


# --- TLS material ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _TlsMaterial:
    ca_pem: bytes
    cert_pem: bytes
    key_pem: bytes


@functools.cache
def _tls_material() -> _TlsMaterial:
    """A throwaway CA and a 127.0.0.1/localhost server certificate it signed (made once per test process)."""
    now = dt.datetime.now(dt.UTC)
    ca_key, server_key = generate_rsa_key(), generate_rsa_key()
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ragbot fake Bot Framework test CA")])
    ca_ski = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(ca_ski, critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    server = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(server_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_ski), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(server_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return _TlsMaterial(
        ca_pem=ca.public_bytes(serialization.Encoding.PEM),
        cert_pem=server.public_bytes(serialization.Encoding.PEM),
        key_pem=server_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    )


# --- what botbuilder reads -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BotSdkConfig:
    """The attributes `ConfigurationBotFrameworkAuthentication(config)` and its credential factory read (getattr).

    Setting any of the TO_* / OAUTH_URL / CALLER_ID attributes selects botbuilder's *parameterized* authentication,
    which takes every endpoint from here instead of the public-cloud constants (CHANNEL_SERVICE is then ignored).
    """

    APP_ID: str
    """MicrosoftAppId: the only `aud` accepted on inbound tokens, and the MSAL client id."""
    APP_PASSWORD: str
    """MicrosoftAppPassword: the MSAL client secret."""
    APP_TYPE: str
    """MicrosoftAppType: "MultiTenant" or "SingleTenant" (the latter requires APP_TENANTID)."""
    APP_TENANTID: str | None
    """MicrosoftAppTenantId. In parameterized mode it does NOT reach the authority: the tenant must be in the login
    URL (`TO_CHANNEL_FROM_BOT_LOGIN_URL`)."""
    TO_CHANNEL_FROM_BOT_LOGIN_URL: str
    """The MSAL authority for the outbound token, verbatim (https only; `/adfs/{tenant}` avoids instance discovery)."""
    TO_CHANNEL_FROM_BOT_OAUTH_SCOPE: str
    """The resource of the outbound token (MSAL scope `{this}/.default`); kept at the real value."""
    TO_BOT_FROM_CHANNEL_TOKEN_ISSUER: str
    """The only accepted `iss` of channel tokens; kept at the real value, `mint_channel_token` uses it."""
    TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL: str
    """Channel OpenID metadata → `jwks_uri` → signing keys with endorsements: the fake's."""
    TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL: str
    """Keys for Emulator and skill tokens (AAD-issued): the fake's AAD JWKS, so nothing reaches the internet."""
    OAUTH_URL: str
    """User-token (OAuth card) service base URL; the fake does not implement it (404), it only keeps calls local."""
    CALLER_ID: str
    """Written to `activity.caller_id` of authenticated channel activities; the public-cloud value."""
    VALIDATE_AUTHORITY: bool
    """Read and passed down, but botbuilder 4.17.1 never hands it to MSAL: documentation only."""
    CHANNEL_SERVICE: str | None = None
    """Selects the public/government built-in constants when no TO_* key is set; ignored here."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


# --- recordings ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RecordedActivity:
    """An activity the fake Bot Connector accepted."""

    operation: Literal["send", "reply", "update", "delete"]
    conversation_id: str
    activity_id: str
    """The id the connector assigned (send, reply) or the one addressed in the path (update, delete)."""
    reply_to_id: str | None
    """For `reply`: the activity id in the path."""
    body: dict[str, Any]
    """The posted activity JSON (`{}` for delete)."""
    app_id: str
    """`azp` of the bearer token the bot presented."""
    authorization: str
    """The raw Authorization header."""

    @property
    def type(self) -> str | None:
        value = self.body.get("type")
        return value if isinstance(value, str) else None

    @property
    def text(self) -> str | None:
        value = self.body.get("text")
        return value if isinstance(value, str) else None

    def summary(self) -> str:
        text = (self.text or "")[:80]
        return f"{self.operation} {self.conversation_id!r} id={self.activity_id} type={self.type} text={text!r}"


@dataclass(frozen=True)
class RecordedRequest:
    """Every HTTP request the fake answered, in order."""

    method: str
    path: str
    status: int


@dataclass(frozen=True)
class TokenRequest:
    """A call to the token endpoint (granted or not)."""

    tenant: str
    client_id: str
    scope: str
    granted: bool
    error: str | None


@dataclass
class _App:
    password: str
    tenant_id: str | None  # None: multi-tenant (tokens from botframework.com)


@dataclass
class _Failure:
    prefix: str
    status: int
    remaining: int


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


# --- HTTP plumbing ---------------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a real service's backlog, not socketserver's 5: bursts must not drop connections

    def __init__(self, fake: FakeBotFramework, context: ssl.SSLContext) -> None:
        self.fake = fake
        self.tls = context
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _Handler)

    def get_request(self) -> tuple[socket.socket, Any]:
        sock, address = self.socket.accept()
        # The TLS handshake runs in the connection's own thread (see finish_request), never in the accept loop.
        return self.tls.wrap_socket(sock, server_side=True, do_handshake_on_connect=False), address

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def finish_request(self, request: Any, client_address: Any) -> None:
        try:
            request.settimeout(10)
            request.do_handshake()
            request.settimeout(None)
        except (OSError, ssl.SSLError):
            return
        super().finish_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _handle(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.fake._dispatch(self.command, self.path, headers, raw)
        payload = b"" if response.body is None else json.dumps(response.body).encode()
        self.send_response(response.status)
        if response.body is not None:
            self.send_header("Content-Type", "application/json; charset=utf-8")
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _handle


_CONNECTOR_ROUTE = re.compile(
    r"^(?:/[^/]+)*?/v3/conversations/(?P<conversation>[^/]+)/activities(?:/(?P<activity>[^/]+))?/?$"
)
_TOKEN_ROUTE = re.compile(r"^/(?P<tenant>[^/]+)/oauth2/v2\.0/token$")
_AAD_METADATA_ROUTE = re.compile(
    r"^/(?:adfs/(?P<adfs_tenant>[^/]+)|(?P<tenant>[^/]+)/v2\.0)/\.well-known/openid-configuration$"
)
_AAD_JWKS_ROUTE = re.compile(r"^/(?P<tenant>[^/]+)/discovery/v2\.0/keys$")

_DENIED = {"message": "Authorization has been denied for this request."}


def _connector_error(status: int, code: str, message: str) -> _Response:
    return _Response(status, {"error": {"code": code, "message": message}})


def _aad_error(status: int, error: str, code: int, description: str) -> _Response:
    trace_id, correlation_id = str(uuid.uuid4()), str(uuid.uuid4())
    timestamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return _Response(
        status,
        {
            "error": error,
            "error_description": f"AADSTS{code}: {description} Trace ID: {trace_id} "
            f"Correlation ID: {correlation_id} Timestamp: {timestamp}",
            "error_codes": [code],
            "timestamp": timestamp,
            "trace_id": trace_id,
            "correlation_id": correlation_id,
            "error_uri": f"https://login.microsoftonline.com/error?code={code}",
        },
    )


def _tenant_id(tenant: str) -> str:
    return BOT_FRAMEWORK_TENANT_ID if tenant.lower() == BOT_FRAMEWORK_TENANT else tenant


# --- the fake --------------------------------------------------------------------------------------------------------


class FakeBotFramework:
    """Bot Framework channel keys + Entra ID token endpoint + Bot Connector API on one HTTPS port (module docstring)."""

    def __init__(
        self,
        *,
        app_id: str,
        app_password: str,
        tenant_id: str | None = None,
        endorsements: Iterable[str] = (TEAMS_CHANNEL_ID,),
        signing_key: rsa.RSAPrivateKey = CHANNEL_SIGNING_KEY,
        kid: str = CHANNEL_KEY_ID,
        token_lifetime: int = 3599,
    ) -> None:
        """Registers one bot: `tenant_id=None` is a multi-tenant bot (token from botframework.com), otherwise a
        single-tenant bot whose token comes from its own tenant. `endorsements`: the channels the channel key may
        sign for (botbuilder rejects an activity whose channelId is not among them)."""
        self.app_id = app_id
        self.endorsements = list(endorsements)
        self.token_lifetime = token_lifetime
        self._apps: dict[str, _App] = {app_id: _App(app_password, tenant_id)}
        self._channel_keys: list[dict[str, Any]] = [public_jwk(signing_key, kid, endorsements=self.endorsements)]
        self._issued_token_ids: set[str] = set()
        self._activities: list[RecordedActivity] = []
        self._streams: dict[str, int] = {}  # open stream id -> last streamSequence
        self._group_conversations: set[str] = set()
        self._requests: list[RecordedRequest] = []
        self._token_requests: list[TokenRequest] = []
        self._failures: list[_Failure] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self._changed = threading.Condition(self._lock)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._folder: Path | None = None
        self.url = ""
        self.ca_bundle = ""

    # lifecycle -------------------------------------------------------------------------------------------------------

    def start(self) -> FakeBotFramework:
        if self._server is not None:
            return self
        material = _tls_material()
        self._folder = Path(tempfile.mkdtemp(prefix="fake-bot-framework-"))
        (self._folder / "ca.pem").write_bytes(material.ca_pem)
        (self._folder / "server.pem").write_bytes(material.cert_pem)
        (self._folder / "server.key").write_bytes(material.key_pem)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self._folder / "server.pem", self._folder / "server.key")
        self.ca_bundle = str(self._folder / "ca.pem")
        self._server = _Server(self, context)
        self.url = f"https://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-bot-framework", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)
            self._folder = None

    def __enter__(self) -> FakeBotFramework:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # configuration ---------------------------------------------------------------------------------------------------

    @property
    def service_url(self) -> str:
        """The `serviceUrl` to put in inbound activities and tokens (the connector API lives under it)."""
        return f"{self.url}{SERVICE_PATH}"

    def login_url(self, tenant: str) -> str:
        """The MSAL authority for `tenant` (ADFS-shaped, so MSAL skips instance discovery; module docstring)."""
        return f"{self.url}/adfs/{tenant}"

    def register_app(self, app_id: str, app_password: str, tenant_id: str | None = None) -> None:
        """Another bot registration the token endpoint knows."""
        with self._lock:
            self._apps[app_id] = _App(app_password, tenant_id)

    def add_channel_key(self, key: rsa.RSAPrivateKey, kid: str, endorsements: Iterable[str] | None = None) -> None:
        """Publish another channel signing key (e.g. with different endorsements)."""
        with self._lock:
            chosen = self.endorsements if endorsements is None else list(endorsements)
            self._channel_keys.append(public_jwk(key, kid, endorsements=chosen))

    def sdk_config(
        self, app_id: str | None = None, app_password: str | None = None, tenant_id: str | None = None
    ) -> BotSdkConfig:
        """What to give `ConfigurationBotFrameworkAuthentication` so botbuilder talks only to this fake.

        Defaults to the registered bot; pass another password to test a bad secret. A `tenant_id` (or a registered
        single-tenant bot) gives a SingleTenant config whose login URL carries that tenant.
        """
        app_id = app_id or self.app_id
        registered = self._apps.get(app_id)
        if app_password is None:
            app_password = registered.password if registered else ""
        if tenant_id is None and registered is not None:
            tenant_id = registered.tenant_id
        return BotSdkConfig(
            APP_ID=app_id,
            APP_PASSWORD=app_password,
            APP_TYPE="SingleTenant" if tenant_id else "MultiTenant",
            APP_TENANTID=tenant_id,
            TO_CHANNEL_FROM_BOT_LOGIN_URL=self.login_url(tenant_id or BOT_FRAMEWORK_TENANT),
            TO_CHANNEL_FROM_BOT_OAUTH_SCOPE=BOT_FRAMEWORK_SCOPE,
            TO_BOT_FROM_CHANNEL_TOKEN_ISSUER=BOT_FRAMEWORK_ISSUER,
            TO_BOT_FROM_CHANNEL_OPENID_METADATA_URL=f"{self.url}{CHANNEL_METADATA_PATH}",
            TO_BOT_FROM_EMULATOR_OPENID_METADATA_URL=f"{self.url}{EMULATOR_METADATA_PATH}",
            OAUTH_URL=self.url,
            CALLER_ID=PUBLIC_AZURE_CALLER_ID,
            VALIDATE_AUTHORITY=False,
        )

    def mint_channel_token(self, **kwargs: Any) -> str:
        """`mint_channel_token` for the registered bot and this fake's `service_url` unless given."""
        kwargs.setdefault("app_id", self.app_id)
        kwargs.setdefault("service_url", self.service_url)
        return mint_channel_token(**kwargs)

    # fault injection -------------------------------------------------------------------------------------------------

    def fail_next(self, path_prefix: str, status: int = 503, *, times: int = 1) -> None:
        """Answer the next `times` requests whose path starts with `path_prefix` with `status` and the error body
        of that endpoint (Bot Connector or AAD). Connector paths match with or without the service URL's path
        (`/v3/conversations/...` or `/amer/v3/conversations/...`)."""
        with self._lock:
            self._failures.append(_Failure(path_prefix, status, times))

    # observations ----------------------------------------------------------------------------------------------------

    def group_conversation(self, conversation_id: str) -> None:
        """Mark a conversation as a group chat or channel: streaming into it is refused, as Teams does."""
        with self._lock:
            self._group_conversations.add(conversation_id)

    @property
    def activities(self) -> list[RecordedActivity]:
        with self._lock:
            return list(self._activities)

    def activities_in(self, conversation_id: str) -> list[RecordedActivity]:
        with self._lock:
            return [a for a in self._activities if a.conversation_id == conversation_id]

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    @property
    def token_requests(self) -> list[TokenRequest]:
        with self._lock:
            return list(self._token_requests)

    def wait_for(
        self, predicate: Callable[[RecordedActivity], bool] = lambda _: True, timeout: float = 10.0
    ) -> RecordedActivity:
        """The first recorded activity matching `predicate`, waiting up to `timeout` seconds for it to arrive.

        Blocks the calling thread: from async code use `await asyncio.to_thread(fake.wait_for, ...)`.
        Raises AssertionError listing everything the connector saw when nothing matches in time.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                for activity in self._activities:
                    if predicate(activity):
                        return activity
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    seen = "\n  ".join(a.summary() for a in self._activities) or "(none)"
                    requests = "\n  ".join(f"{r.method} {r.path} -> {r.status}" for r in self._requests) or "(none)"
                    raise AssertionError(
                        f"no activity matching {getattr(predicate, '__name__', predicate)!r} reached the fake Bot "
                        f"Connector within {timeout}s.\nActivities seen:\n  {seen}\nRequests:\n  {requests}"
                    )
                self._changed.wait(remaining)

    # dispatch --------------------------------------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response:
        path = urlsplit(target).path
        try:
            response = self._injected_failure(path) or self._route(method, path, headers, raw)
        except Exception as error:  # a bug in the fake must show up as a loud 500, not a hung client
            response = _connector_error(500, "FakeServerError", f"{type(error).__name__}: {error}")
        with self._changed:
            self._requests.append(RecordedRequest(method, target, response.status))
            self._changed.notify_all()
        return response

    def _injected_failure(self, path: str) -> _Response | None:
        relative = path[len(SERVICE_PATH) - 1 :] if path.startswith(SERVICE_PATH) else path
        with self._lock:
            for failure in self._failures:
                if path.startswith(failure.prefix) or relative.startswith(failure.prefix):
                    failure.remaining -= 1
                    if failure.remaining <= 0:
                        self._failures.remove(failure)
                    break
            else:
                return None
        headers = {"Retry-After": "1"} if failure.status in (429, 503) else {}
        if _TOKEN_ROUTE.match(path) or _AAD_METADATA_ROUTE.match(path):
            response = _aad_error(failure.status, "temporarily_unavailable", 90006, "Injected failure.")
        else:
            response = _connector_error(failure.status, "ServiceUnavailable", "Injected failure.")
        response.headers.update(headers)
        return response

    def _route(self, method: str, path: str, headers: dict[str, str], raw: bytes) -> _Response:
        if method == "GET" and path == CHANNEL_METADATA_PATH:
            return _Response(200, self._channel_metadata())
        if method == "GET" and path == CHANNEL_JWKS_PATH:
            with self._lock:
                return _Response(200, {"keys": [dict(k) for k in self._channel_keys]})
        if match := _CONNECTOR_ROUTE.match(path):
            return self._connector(method, unquote(match["conversation"]), match["activity"], headers, raw)
        if match := _TOKEN_ROUTE.match(path):
            if method != "POST":
                return _aad_error(405, "invalid_request", 900561, "The endpoint only accepts POST requests.")
            return self._token(unquote(match["tenant"]), headers, raw)
        if method == "GET" and (match := _AAD_METADATA_ROUTE.match(path)):
            return _Response(200, self._aad_metadata(unquote(match["adfs_tenant"] or match["tenant"])))
        if method == "GET" and _AAD_JWKS_ROUTE.match(path):
            return _Response(200, {"keys": [public_jwk(AAD_SIGNING_KEY, AAD_KEY_ID)]})
        return _connector_error(404, "NotFound", f"The fake Bot Framework has no {method} {path}.")

    # channel keys ----------------------------------------------------------------------------------------------------

    def _channel_metadata(self) -> dict[str, Any]:
        return {
            "issuer": BOT_FRAMEWORK_ISSUER,
            "authorization_endpoint": "https://invalid.botframework.com",
            "jwks_uri": f"{self.url}{CHANNEL_JWKS_PATH}",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        }

    # Entra ID --------------------------------------------------------------------------------------------------------

    def _aad_metadata(self, tenant: str) -> dict[str, Any]:
        tid = _tenant_id(tenant)
        return {
            "token_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/token",
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "jwks_uri": f"{self.url}/{tenant}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "issuer": f"{self.url}/{tid}/v2.0",
            "authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/authorize",
            "device_authorization_endpoint": f"{self.url}/{tenant}/oauth2/v2.0/devicecode",
            "tenant_region_scope": "NA",
        }

    def _token(self, tenant: str, headers: dict[str, str], raw: bytes) -> _Response:
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        client_id, secret = form.get("client_id", ""), form.get("client_secret")
        basic = headers.get("authorization", "")
        if basic.lower().startswith("basic "):
            decoded = base64.b64decode(basic[6:]).decode("utf-8", "replace")
            basic_id, _, basic_secret = decoded.partition(":")
            client_id, secret = unquote(basic_id), unquote(basic_secret)
        scope = form.get("scope", "")
        response, error = self._grant(tenant, form.get("grant_type", ""), client_id, secret, scope)
        with self._lock:
            self._token_requests.append(TokenRequest(tenant, client_id, scope, error is None, error))
        return response

    def _grant(
        self, tenant: str, grant_type: str, client_id: str, secret: str | None, scope: str
    ) -> tuple[_Response, str | None]:
        tid = _tenant_id(tenant)
        if grant_type != "client_credentials":
            return _aad_error(
                400, "unsupported_grant_type", 70003, "The app requested an unsupported grant type."
            ), "unsupported_grant_type"
        with self._lock:
            app = self._apps.get(client_id)
        home = (app.tenant_id or BOT_FRAMEWORK_TENANT_ID) if app else None
        if app is None or _tenant_id(home or "") != tid:
            return _aad_error(
                400,
                "unauthorized_client",
                700016,
                f"Application with identifier '{client_id}' was not found in the directory '{tenant}'. This can "
                "happen if the application has not been installed by the administrator of the tenant or consented "
                "to by any user in the tenant. You may have sent your authentication request to the wrong tenant.",
            ), "unauthorized_client"
        if not secret:
            return _aad_error(
                401,
                "invalid_client",
                7000218,
                "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.",
            ), "invalid_client"
        if not secrets.compare_digest(secret, app.password):
            return _aad_error(
                401,
                "invalid_client",
                7000215,
                "Invalid client secret provided. Ensure the secret being sent in the request is the client secret "
                f"value, not the client secret ID, for a secret added to app '{client_id}'.",
            ), "invalid_client"
        scopes = scope.split()
        if len(scopes) != 1 or not scopes[0].endswith("/.default"):
            return _aad_error(
                400,
                "invalid_scope",
                1002012,
                f"The provided value for scope {scope} is not valid. Client credential flows must have a scope value "
                "with /.default suffixed to the resource identifier (application ID URI).",
            ), "invalid_scope"
        resource = scopes[0].removesuffix("/.default")
        now = _now()
        token_id = _b64url(secrets.token_bytes(16))
        claims = {
            "aud": resource,
            "iss": f"{self.url}/{tid}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + self.token_lifetime,
            "azp": client_id,
            "azpacr": "1",
            "tid": tid,
            "oid": str(uuid.UUID(bytes=hashlib.sha256(client_id.encode()).digest()[:16])),
            "sub": client_id,
            "uti": token_id,
            "ver": "2.0",
        }
        token = jwt.encode(claims, AAD_SIGNING_KEY, algorithm="RS256", headers={"kid": AAD_KEY_ID, "x5t": AAD_KEY_ID})
        with self._lock:
            self._issued_token_ids.add(token_id)
        body = {
            "token_type": "Bearer",
            "expires_in": self.token_lifetime,
            "ext_expires_in": self.token_lifetime,
            "access_token": token,
        }
        return _Response(200, body, {"Cache-Control": "no-store, no-cache", "Pragma": "no-cache"}), None

    # Bot Connector ---------------------------------------------------------------------------------------------------

    def _authorize(self, headers: dict[str, str]) -> str | _Response:
        """The app id of a valid bearer token this fake issued for the Bot Framework, or the 401 to send."""
        scheme, _, token = headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token:
            return _Response(401, _DENIED, {"WWW-Authenticate": 'Bearer realm="api.botframework.com"'})
        try:
            claims = jwt.decode(
                token,
                AAD_SIGNING_KEY.public_key(),
                algorithms=["RS256"],
                audience=BOT_FRAMEWORK_SCOPE,
                options={"require": ["exp", "nbf", "aud", "azp", "uti"]},
            )
        except jwt.PyJWTError as error:
            return _Response(
                401, _DENIED, {"WWW-Authenticate": f'Bearer error="invalid_token", error_description="{error}"'}
            )
        with self._lock:
            known = claims["uti"] in self._issued_token_ids and claims["azp"] in self._apps
        if not known:
            return _Response(401, _DENIED, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return str(claims["azp"])

    def _connector(
        self, method: str, conversation_id: str, path_activity: str | None, headers: dict[str, str], raw: bytes
    ) -> _Response:
        operations: dict[tuple[str, bool], Literal["send", "reply", "update", "delete"]] = {
            ("POST", False): "send",
            ("POST", True): "reply",
            ("PUT", True): "update",
            ("DELETE", True): "delete",
        }
        operation = operations.get((method, path_activity is not None))
        if operation is None:
            return _connector_error(405, "MethodNotAllowed", f"{method} is not supported on this resource.")
        authorized = self._authorize(headers)
        if isinstance(authorized, _Response):
            return authorized
        activity_id = unquote(path_activity) if path_activity else None
        body: dict[str, Any] = {}
        if operation != "delete":
            try:
                body = json.loads(raw or b"null")
            except ValueError:
                return _connector_error(400, "BadSyntax", "The request body is not valid JSON.")
            if not isinstance(body, dict) or not body.get("type"):
                return _connector_error(400, "BadArgument", "Activity type is required.")
        with self._changed:
            if operation in ("update", "delete"):
                own = {a.activity_id for a in self._activities if a.conversation_id == conversation_id}
                if activity_id not in own:
                    return _connector_error(
                        404, "NotFound", f"Activity {activity_id} was not sent by a bot in {conversation_id}."
                    )
                assigned = activity_id
            else:
                assigned = str(int(time.time() * 1000) * 1000 + next(self._ids))
                refused = self._stream_rules(conversation_id, body, assigned)
                if refused is not None:
                    return refused
            self._activities.append(
                RecordedActivity(
                    operation=operation,
                    conversation_id=conversation_id,
                    activity_id=assigned,
                    reply_to_id=activity_id if operation == "reply" else None,
                    body=body,
                    app_id=authorized,
                    authorization=headers.get("authorization", ""),
                )
            )
            self._changed.notify_all()
        if operation == "delete":
            return _Response(200)
        return _Response(200 if operation == "update" else 201, {"id": assigned})

    def _stream_rules(self, conversation_id: str, body: dict[str, Any], assigned: str) -> _Response | None:
        """Teams' streaming protocol, checked with the lock held; opens and closes streams."""
        info = next(
            (e for e in body.get("entities") or [] if isinstance(e, dict) and e.get("type") == "streaminfo"), None
        )
        if info is None:
            return None
        kind, stream_id = info.get("streamType"), info.get("streamId")
        if conversation_id in self._group_conversations:
            return _connector_error(403, "ContentStreamNotAllowed", "Content streaming is only supported in 1:1 chats.")
        if kind in ("informative", "streaming"):
            sequence = info.get("streamSequence")
            if body.get("type") != "typing" or not isinstance(sequence, int) or sequence < 1:
                return _connector_error(
                    400, "BadArgument", "A streaming update is a typing activity with a streamSequence."
                )
            if stream_id is None:
                self._streams[assigned] = sequence
                return None
            if stream_id not in self._streams:
                return _connector_error(403, "ContentStreamNotAllowed", f"Stream {stream_id} is not open.")
            if sequence <= self._streams[stream_id]:
                return _connector_error(400, "BadArgument", "streamSequence must increase.")
            self._streams[stream_id] = sequence
            return None
        if kind == "final":
            if body.get("type") != "message" or stream_id not in self._streams:
                return _connector_error(403, "ContentStreamNotAllowed", f"Stream {stream_id} is not open.")
            del self._streams[stream_id]
            return None
        return _connector_error(400, "BadArgument", f"Unknown streamType {kind!r}.")


# --- what Teams posts to a bot ---------------------------------------------------------------------------------------

ConversationType = Literal["personal", "channel", "groupChat"]


def _timestamp(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _teams_message_id() -> str:
    return str(int(time.time() * 1000) + secrets.randbelow(1000))


def _envelope(
    *,
    activity_type: str,
    activity_id: str,
    conversation_id: str,
    service_url: str,
    app_id: str,
    bot_name: str,
    recipient_id: str | None,
    from_id: str,
    from_name: str,
    aad_object_id: str,
    conversation_type: ConversationType,
    tenant_id: str,
    team_id: str,
    teams_channel_id: str | None,
    locale: str,
    timestamp: dt.datetime | None,
) -> dict[str, Any]:
    moment = timestamp or dt.datetime.now(dt.UTC)
    conversation: dict[str, Any] = {"conversationType": conversation_type, "tenantId": tenant_id, "id": conversation_id}
    channel_data: dict[str, Any] = {"tenant": {"id": tenant_id}}
    if conversation_type != "personal":
        conversation = {"isGroup": True, **conversation}
    if conversation_type == "channel":
        channel = teams_channel_id or conversation_id.split(";", 1)[0]
        channel_data = {
            "teamsChannelId": channel,
            "teamsTeamId": team_id,
            "channel": {"id": channel},
            "team": {"id": team_id},
            "tenant": {"id": tenant_id},
        }
    return {
        "type": activity_type,
        "id": activity_id,
        "timestamp": _timestamp(moment),
        "localTimestamp": moment.astimezone(dt.UTC).isoformat(timespec="milliseconds"),
        "localTimezone": "Etc/UTC",
        "serviceUrl": service_url,
        "channelId": TEAMS_CHANNEL_ID,
        "from": {"id": from_id, "name": from_name, "aadObjectId": aad_object_id},
        "conversation": conversation,
        "recipient": {"id": recipient_id or f"28:{app_id}", "name": bot_name},
        "entities": [
            {
                "locale": locale,
                "country": locale.rpartition("-")[2],
                "platform": "Web",
                "timezone": "Etc/UTC",
                "type": "clientInfo",
            }
        ],
        "channelData": channel_data,
        "locale": locale,
    }


def message_activity(
    *,
    text: str,
    conversation_id: str,
    service_url: str,
    app_id: str,
    tenant_id: str = TEST_TENANT_ID,
    from_id: str = "29:1test-user-teams-id",
    from_name: str = "Test User",
    aad_object_id: str = TEST_USER_AAD_OBJECT_ID,
    conversation_type: ConversationType = "personal",
    activity_id: str | None = None,
    recipient_id: str | None = None,
    bot_name: str = "ragbot",
    mention_bot: bool | None = None,
    team_id: str = TEST_TEAM_ID,
    teams_channel_id: str | None = None,
    reply_to_id: str | None = None,
    locale: str = "en-US",
    timestamp: dt.datetime | None = None,
) -> dict[str, Any]:
    """A message activity as Teams posts it to a bot's /api/messages.

    `recipient_id` defaults to "28:{app_id}" (Teams' bot id). In channels and group chats a bot only receives
    messages that @mention it, so `mention_bot` defaults to True there: the text then starts with
    `<at>{bot_name}</at>`, a `mention` entity is added, and Teams' text/html rendering comes as an attachment.
    Channel conversation ids look like "19:...@thread.tacv2;messageid=..." (the thread); the channel id in
    channelData is the part before ";" unless `teams_channel_id` is given.
    """
    activity = _envelope(
        activity_type="message",
        activity_id=activity_id or _teams_message_id(),
        conversation_id=conversation_id,
        service_url=service_url,
        app_id=app_id,
        bot_name=bot_name,
        recipient_id=recipient_id,
        from_id=from_id,
        from_name=from_name,
        aad_object_id=aad_object_id,
        conversation_type=conversation_type,
        tenant_id=tenant_id,
        team_id=team_id,
        teams_channel_id=teams_channel_id,
        locale=locale,
        timestamp=timestamp,
    )
    if mention_bot is None:
        mention_bot = conversation_type != "personal"
    activity["textFormat"] = "plain"
    activity["text"] = text
    if mention_bot:
        at = f"<at>{bot_name}</at>"
        activity["text"] = f"{at} {text}"
        activity["entities"].insert(
            0, {"type": "mention", "mentioned": {"id": activity["recipient"]["id"], "name": bot_name}, "text": at}
        )
        activity["attachments"] = [{"contentType": "text/html", "content": f"<p>{at}&nbsp;{html.escape(text)}</p>"}]
    if reply_to_id is not None:
        activity["replyToId"] = reply_to_id
    return activity


def invoke_feedback_activity(
    *,
    reaction: Literal["like", "dislike"],
    reply_to_id: str,
    conversation_id: str,
    service_url: str,
    app_id: str,
    feedback_text: str = "",
    feedback: str | Mapping[str, Any] | None = None,
    tenant_id: str = TEST_TENANT_ID,
    from_id: str = "29:1test-user-teams-id",
    from_name: str = "Test User",
    aad_object_id: str = TEST_USER_AAD_OBJECT_ID,
    conversation_type: ConversationType = "personal",
    activity_id: str | None = None,
    recipient_id: str | None = None,
    bot_name: str = "ragbot",
    team_id: str = TEST_TEAM_ID,
    teams_channel_id: str | None = None,
    locale: str = "en-US",
    timestamp: dt.datetime | None = None,
) -> dict[str, Any]:
    """The `message/submitAction` invoke Teams sends when a user rates a bot message (the feedback loop).

    `value` is {"actionName": "feedback", "actionValue": {"reaction": "like"|"dislike", "feedback": "<json>"}}: Teams
    sends `feedback` as a JSON-encoded *string*; its default form yields {"feedbackText": "..."}. A custom `feedback`
    (string or mapping, encoded here) replaces it. `replyToId` is the id of the rated bot message. Teams expects an
    invoke response (HTTP 200) within a few seconds.
    """
    activity = _envelope(
        activity_type="invoke",
        activity_id=activity_id or f"f:{secrets.randbelow(10**19)}",
        conversation_id=conversation_id,
        service_url=service_url,
        app_id=app_id,
        bot_name=bot_name,
        recipient_id=recipient_id,
        from_id=from_id,
        from_name=from_name,
        aad_object_id=aad_object_id,
        conversation_type=conversation_type,
        tenant_id=tenant_id,
        team_id=team_id,
        teams_channel_id=teams_channel_id,
        locale=locale,
        timestamp=timestamp,
    )
    if feedback is None:
        encoded = json.dumps({"feedbackText": feedback_text})
    elif isinstance(feedback, str):
        encoded = feedback
    else:
        encoded = json.dumps(dict(feedback))
    activity["name"] = "message/submitAction"
    activity["replyToId"] = reply_to_id
    activity["value"] = {"actionName": "feedback", "actionValue": {"reaction": reaction, "feedback": encoded}}
    return activity
