"""The fake Bot Framework (tests/fakes/bot_connector.py) against the real botbuilder stack.

A real `CloudAdapter(ConfigurationBotFrameworkAuthentication(config))` serves /api/messages on aiohttp; it validates
tokens minted by the fake against the fake's OpenID metadata, gets its outbound token from the fake's Entra ID
endpoint through MSAL, and posts its replies to the fake Bot Connector. Nothing in botbuilder is patched; the only
process-level setting is `REQUESTS_CA_BUNDLE`, so that `requests` trusts the fake's throwaway CA.

Several tests pin what botbuilder 4.17.1 does with bad credentials (401 versus an escaping exception, i.e. 500), which
the Teams adapter has to map.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import jwt
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.core.teams.teams_activity_extensions import teams_get_channel_data, teams_get_channel_id
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ConversationReference, ErrorResponseException

from tests.fakes.bot_connector import (
    AAD_SIGNING_KEY,
    BOT_FRAMEWORK_SCOPE,
    BOT_FRAMEWORK_TENANT,
    FORGERY_KEY,
    PUBLIC_AZURE_CALLER_ID,
    BotSdkConfig,
    FakeBotFramework,
    invoke_feedback_activity,
    message_activity,
)

APP_ID = "3c2b5a4e-0000-4000-8000-00000000b07a"
APP_PASSWORD = "fake~secret.value-for-tests"
PERSONAL = "a:1personal-chat-with-test-user"
CHANNEL_THREAD = "19:general-0000@thread.tacv2;messageid=1718000000000"
GROUP_CHAT = "19:group-chat-0000@thread.v2"


class EchoBot(ActivityHandler):
    """Replies "echo" to every message, stores conversation references, answers feedback invokes with 200."""

    def __init__(self) -> None:
        self.seen: list[Activity] = []
        self.references: list[dict[str, Any]] = []

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        self.seen.append(turn_context.activity)
        reference = TurnContext.get_conversation_reference(turn_context.activity)
        self.references.append(json.loads(json.dumps(reference.serialize())))  # as a queue message would carry it
        await turn_context.send_activity("echo")

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        self.seen.append(turn_context.activity)
        if turn_context.activity.name == "message/submitAction":
            # The body must be an msrest Model or None: CloudAdapter.process cannot serialize a plain dict (500).
            return InvokeResponse(status=HTTPStatus.OK)
        return await super().on_invoke_activity(turn_context)


@dataclass
class Harness:
    client: TestClient[web.Request, web.Application]
    adapter: CloudAdapter
    bot: EchoBot
    errors: list[BaseException] = field(default_factory=list)

    async def post(self, activity: dict[str, Any], token: str | None) -> tuple[int, str]:
        headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
        async with self.client.post("/api/messages", json=activity, headers=headers) as response:
            return response.status, await response.text()


@contextlib.asynccontextmanager
async def running_bot(config: BotSdkConfig) -> AsyncIterator[Harness]:
    """The bot as the Teams adapter will host it: CloudAdapter.process behind POST /api/messages, nothing mapped."""
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    harness_errors: list[BaseException] = []
    bot = EchoBot()

    async def messages(request: web.Request) -> web.StreamResponse:
        try:
            response = await adapter.process(request, bot)
        except web.HTTPException:
            raise
        except Exception as error:  # recorded so tests can name what escapes the SDK (aiohttp answers 500)
            harness_errors.append(error)
            raise
        assert isinstance(response, web.StreamResponse)
        return response

    app = web.Application()
    app.router.add_post("/api/messages", messages)
    async with TestClient(TestServer(app)) as client:
        yield Harness(client, adapter, bot, harness_errors)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeBotFramework]:
    with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD) as server:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", server.ca_bundle)
        yield server


def _message(fake: FakeBotFramework, text: str = "hello", conversation_id: str = PERSONAL, **kw: Any) -> dict[str, Any]:
    return message_activity(
        text=text, conversation_id=conversation_id, service_url=fake.service_url, app_id=APP_ID, **kw
    )


# --- inbound: a valid channel token → the bot's reply reaches the connector ------------------------------------------


@pytest.mark.parametrize(
    ("conversation_type", "conversation_id"),
    [("personal", PERSONAL), ("channel", CHANNEL_THREAD), ("groupChat", GROUP_CHAT)],
)
def test_valid_channel_token_gets_the_reply_to_the_fake_connector(
    fake: FakeBotFramework, conversation_type: Any, conversation_id: str
) -> None:
    activity = _message(fake, "what is the PTO policy?", conversation_id, conversation_type=conversation_type)

    async def scenario() -> None:
        async with running_bot(fake.sdk_config()) as bot:
            assert await bot.post(activity, fake.mint_channel_token()) == (201, "")
            assert not bot.errors
            [seen] = bot.bot.seen
            assert seen.caller_id == PUBLIC_AZURE_CALLER_ID
            # botbuilder-python maps ConversationAccount.tenant_id to "tenantID"; Teams sends "tenantId", so the
            # tenant must be read from channelData.
            assert seen.conversation.tenant_id is None
            assert teams_get_channel_data(seen).tenant.id == activity["channelData"]["tenant"]["id"]
            assert teams_get_channel_id(seen) == activity["channelData"].get("channel", {}).get("id")
            mentions = [e for e in seen.entities if e.type == "mention"]
            assert len(mentions) == (0 if conversation_type == "personal" else 1)

    run(scenario)
    reply = fake.wait_for(lambda a: a.text == "echo", timeout=5)
    assert fake.activities_in(conversation_id) == [reply]
    assert (reply.operation, reply.reply_to_id, reply.app_id) == ("reply", activity["id"], APP_ID)
    assert reply.body["from"]["id"] == f"28:{APP_ID}"
    assert reply.body["recipient"]["id"] == activity["from"]["id"]
    assert reply.body["conversation"]["id"] == conversation_id
    # The bearer token is one the fake's Entra ID issued to this bot for the Bot Framework.
    claims = jwt.decode(
        reply.authorization.removeprefix("Bearer "),
        AAD_SIGNING_KEY.public_key(),
        algorithms=["RS256"],
        audience=BOT_FRAMEWORK_SCOPE,
    )
    assert claims["azp"] == APP_ID
    [grant] = fake.token_requests
    assert (grant.tenant, grant.client_id, grant.scope, grant.granted) == (
        BOT_FRAMEWORK_TENANT,
        APP_ID,
        f"{BOT_FRAMEWORK_SCOPE}/.default",
        True,
    )


def test_single_tenant_bot_gets_its_token_from_its_own_tenant(monkeypatch: pytest.MonkeyPatch) -> None:
    tenant = "5e0d6f3a-0000-4000-8000-0000000a11ce"
    with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD, tenant_id=tenant) as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        config = fake.sdk_config()
        assert (config.APP_TYPE, config.APP_TENANTID) == ("SingleTenant", tenant)

        async def scenario() -> None:
            async with running_bot(config) as bot:
                assert (await bot.post(_message(fake), fake.mint_channel_token()))[0] == 201

        run(scenario)
        assert fake.wait_for(lambda a: a.text == "echo").app_id == APP_ID
        assert [(g.tenant, g.granted) for g in fake.token_requests] == [(tenant, True)]


def test_feedback_invoke_reaches_the_bot_and_gets_its_invoke_response(fake: FakeBotFramework) -> None:
    invoke = invoke_feedback_activity(
        reaction="dislike",
        reply_to_id="1718000000123",
        feedback_text="It cited the old policy",
        conversation_id=PERSONAL,
        service_url=fake.service_url,
        app_id=APP_ID,
    )

    async def scenario() -> None:
        async with running_bot(fake.sdk_config()) as bot:
            status, body = await bot.post(invoke, fake.mint_channel_token())
            assert (status, json.loads(body)) == (200, None)
            [seen] = bot.bot.seen
            assert (seen.type, seen.name, seen.reply_to_id) == ("invoke", "message/submitAction", "1718000000123")
            assert seen.value["actionName"] == "feedback"
            action = seen.value["actionValue"]
            assert action["reaction"] == "dislike"
            assert json.loads(action["feedback"]) == {"feedbackText": "It cited the old policy"}

    run(scenario)
    assert fake.activities == []  # an invoke is answered in the HTTP response, not through the connector


# --- inbound: what the SDK does with bad credentials ------------------------------------------------------------------


def _forged(fake: FakeBotFramework, how: str) -> str | None:
    tokens: dict[str, Callable[[], str | None]] = {
        "missing header": lambda: None,
        "wrong audience": lambda: fake.mint_channel_token(audience="another-bot"),
        "wrong issuer": lambda: fake.mint_channel_token(issuer="https://sts.example.com"),
        "serviceurl mismatch": lambda: fake.mint_channel_token(service_url="https://attacker.example.com/"),
        "forged signature": lambda: fake.mint_channel_token(key=FORGERY_KEY),
        "expired": lambda: fake.mint_channel_token(expires_in=-600),
        "unknown key id": lambda: fake.mint_channel_token(kid="not-published", key=FORGERY_KEY),
    }
    return tokens[how]()


@pytest.mark.parametrize(
    ("how", "status", "escaping"),
    [
        # CloudAdapter.process maps PermissionError, and only that, to 401 ...
        ("wrong audience", 401, None),
        ("wrong issuer", 401, None),
        ("serviceurl mismatch", 401, None),
        # ... everything else escapes it, and aiohttp answers 500: the Teams adapter must map these to 401.
        ("missing header", 500, AttributeError),  # "" is not None → identity None → None.claims
        ("forged signature", 500, jwt.InvalidSignatureError),
        ("expired", 500, jwt.ExpiredSignatureError),
        ("unknown key id", 500, IndexError),
    ],
)
def test_bad_inbound_credentials_never_reach_the_bot(
    fake: FakeBotFramework, how: str, status: int, escaping: type[BaseException] | None
) -> None:
    async def scenario() -> None:
        async with running_bot(fake.sdk_config()) as bot:
            got, _ = await bot.post(_message(fake), _forged(fake, how))
            assert got == status
            assert [type(e) for e in bot.errors] == ([escaping] if escaping else [])
            assert bot.bot.seen == []

    run(scenario)
    assert fake.activities == []
    assert fake.token_requests == []


def test_channel_missing_from_the_key_endorsements_is_rejected(fake: FakeBotFramework) -> None:
    activity = _message(fake)
    activity["channelId"] = "webchat"  # the fake's key is endorsed for msteams only

    async def scenario() -> None:
        async with running_bot(fake.sdk_config()) as bot:
            assert (await bot.post(activity, fake.mint_channel_token()))[0] == 500
            [error] = bot.errors
            assert str(error) == "Could not validate endorsement key"
            assert bot.bot.seen == []

    run(scenario)
    assert fake.activities == []


def test_wrong_app_password_fails_the_reply_with_aad_invalid_client_and_a_misleading_401(
    fake: FakeBotFramework,
) -> None:
    async def scenario() -> None:
        async with running_bot(fake.sdk_config(app_password="not-the-secret")) as bot:
            # MSAL's failure surfaces as PermissionError from the bot's send_activity, which CloudAdapter.process
            # maps to 401 as if the *inbound* request had been unauthorized.
            assert (await bot.post(_message(fake), fake.mint_channel_token()))[0] == 401
            assert len(bot.bot.seen) == 1

    run(scenario)
    assert fake.activities == []
    assert [(g.client_id, g.granted, g.error) for g in fake.token_requests] == [(APP_ID, False, "invalid_client")]


# --- proactive: the reply worker's path ------------------------------------------------------------------------------


def test_continue_conversation_from_a_stored_reference_delivers_sends_and_updates(fake: FakeBotFramework) -> None:
    inbound = _message(fake, "hi", CHANNEL_THREAD, conversation_type="channel")
    sent: list[str] = []

    async def scenario() -> None:
        async with running_bot(fake.sdk_config()) as bot:
            assert (await bot.post(inbound, fake.mint_channel_token()))[0] == 201
            stored = json.dumps(bot.bot.references[0])

        # The reply worker: another process, its own adapter, only the stored reference and the app id.
        worker = CloudAdapter(ConfigurationBotFrameworkAuthentication(fake.sdk_config()))
        reference = ConversationReference().deserialize(json.loads(stored))

        async def answer(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity("thinking…")
            assert response is not None
            sent.append(response.id)
            update = Activity(type="message", id=response.id, text="The PTO policy is 25 days.")
            await turn_context.update_activity(update)

        await worker.continue_conversation(reference, answer, APP_ID)

    run(scenario)
    echo, thinking, updated = fake.activities_in(CHANNEL_THREAD)
    assert echo.text == "echo"
    assert (thinking.operation, thinking.text) == ("reply", "thinking…")
    # botbuilder posts proactive messages as replies to its synthetic continuation activity (a uuid1 id), not to the
    # stored activity id; Teams accepts that (the thread is in the conversation id).
    assert thinking.reply_to_id != inbound["id"]
    assert uuid.UUID(thinking.reply_to_id or "").version == 1
    assert thinking.activity_id == sent[0]
    assert (updated.operation, updated.activity_id, updated.text) == ("update", sent[0], "The PTO policy is 25 days.")
    assert {a.app_id for a in (echo, thinking, updated)} == {APP_ID}
    assert len(fake.token_requests) == 2  # one per adapter turn: botbuilder builds a new MSAL app each time


def test_fail_next_makes_the_connector_answer_503_once(fake: FakeBotFramework) -> None:
    reference = TurnContext.get_conversation_reference(Activity().deserialize(_message(fake)))
    fake.fail_next("/v3/conversations/", 503)

    async def say(turn_context: TurnContext) -> None:
        await turn_context.send_activity("proactive hello")

    async def scenario() -> None:
        worker = CloudAdapter(ConfigurationBotFrameworkAuthentication(fake.sdk_config()))
        with pytest.raises(ErrorResponseException) as raised:
            await worker.continue_conversation(reference, say, APP_ID)
        assert raised.value.response.status_code == 503
        await worker.continue_conversation(reference, say, APP_ID)

    run(scenario)
    assert [a.text for a in fake.activities_in(PERSONAL)] == ["proactive hello"]
    connector_calls = [r.status for r in fake.requests if "/v3/conversations/" in r.path]
    assert connector_calls == [503, 201]  # msrest does not retry a POST


# --- the fake on its own ---------------------------------------------------------------------------------------------


def _https(fake: FakeBotFramework, method: str, path: str, body: bytes | None = None, **headers: str) -> Any:
    request = urllib.request.Request(f"{fake.url}{path}", data=body, method=method, headers=headers)
    context = ssl.create_default_context(cafile=fake.ca_bundle)
    try:
        with urllib.request.urlopen(request, context=context, timeout=5) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def test_channel_jwks_publishes_the_key_with_its_endorsements(fake: FakeBotFramework) -> None:
    status, metadata = _https(fake, "GET", "/v1/.well-known/openidconfiguration")
    assert status == 200 and metadata["issuer"] == "https://api.botframework.com"
    status, jwks = _https(fake, "GET", metadata["jwks_uri"].removeprefix(fake.url))
    [key] = jwks["keys"]
    assert (status, key["kid"], key["kty"], key["endorsements"]) == (200, "test-key-1", "RSA", ["msteams"])
    claims = jwt.decode(
        fake.mint_channel_token(),
        jwt.PyJWK(key).key,
        algorithms=["RS256"],
        audience=APP_ID,
        issuer="https://api.botframework.com",
    )
    assert claims["serviceurl"] == fake.service_url


def test_connector_rejects_requests_without_a_token_it_issued(fake: FakeBotFramework) -> None:
    path = "/amer/v3/conversations/a%3A1chat/activities"
    body = json.dumps({"type": "message", "text": "hi"}).encode()
    assert _https(fake, "POST", path, body) == (401, {"message": "Authorization has been denied for this request."})
    self_signed = jwt.encode({"aud": BOT_FRAMEWORK_SCOPE, "azp": APP_ID}, FORGERY_KEY, algorithm="RS256")
    assert _https(fake, "POST", path, body, Authorization=f"Bearer {self_signed}")[0] == 401
    assert fake.activities == []


def test_token_endpoint_answers_like_entra_id(fake: FakeBotFramework) -> None:
    def token(secret: str, scope: str = "https://api.botframework.com/.default") -> Any:
        form = f"grant_type=client_credentials&client_id={APP_ID}&client_secret={secret}&scope={scope}"
        return _https(fake, "POST", "/botframework.com/oauth2/v2.0/token", form.encode())

    status, error = token("wrong")
    assert (status, error["error"], error["error_codes"]) == (401, "invalid_client", [7000215])
    assert error["error_description"].startswith("AADSTS7000215: Invalid client secret provided.")
    assert token(APP_PASSWORD, "https://api.botframework.com")[1]["error"] == "invalid_scope"
    status, granted = token(APP_PASSWORD)
    assert (status, granted["token_type"], granted["expires_in"]) == (200, "Bearer", 3599)


def test_wait_for_lists_what_it_saw_when_nothing_matches(fake: FakeBotFramework) -> None:
    with pytest.raises(AssertionError, match=r"(?s)no activity matching.*Activities seen:\n  \(none\)"):
        fake.wait_for(lambda a: a.text == "never", timeout=0.05)


def test_connector_enforces_teams_streaming_rules(fake: FakeBotFramework) -> None:
    form = f"grant_type=client_credentials&client_id={APP_ID}&client_secret={APP_PASSWORD}"
    form += "&scope=https://api.botframework.com/.default"
    token = _https(fake, "POST", "/botframework.com/oauth2/v2.0/token", form.encode())[1]["access_token"]

    def send(conversation: str, activity: dict[str, Any]) -> tuple[int, Any]:
        path = f"/amer/v3/conversations/{conversation}/activities"
        return _https(fake, "POST", path, json.dumps(activity).encode(), Authorization=f"Bearer {token}")

    def update(seq: int, stream_id: str | None = None, kind: str = "streaming") -> dict[str, Any]:
        info: dict[str, Any] = {"type": "streaminfo", "streamType": kind, "streamSequence": seq}
        if stream_id:
            info["streamId"] = stream_id
        return {"type": "typing", "text": "Staff get", "entities": [info]}

    status, opened = send("a%3A1chat", update(1))
    stream_id = opened["id"]
    assert status == 201 and send("a%3A1chat", update(2, stream_id))[0] == 201
    assert send("a%3A1chat", update(2, stream_id))[1]["error"]["code"] == "BadArgument"  # the sequence must grow
    final = {
        "type": "message",
        "text": "Staff get 25 days [1].",
        "entities": [{"type": "streaminfo", "streamId": stream_id, "streamType": "final"}],
    }
    assert send("a%3A1chat", final)[0] == 201
    closed = send("a%3A1chat", update(3, stream_id))
    assert (closed[0], closed[1]["error"]["code"]) == (403, "ContentStreamNotAllowed")
    fake.group_conversation("19:group")
    assert send("19%3Agroup", update(1))[0] == 403  # 1:1 chats only
