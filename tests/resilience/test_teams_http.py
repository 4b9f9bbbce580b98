"""Strangers against the Teams adapter's /api/messages: hostile activities, signed and unsigned, on the real app.

The app is `teams_adapter.__main__.build_service` (the real RagBot, CloudAdapter and Celery producer) on aiohttp, with
its Redis in database 9 of the local server and the Bot Framework played by tests/fakes/bot_connector.py: valid
tokens are signed with the fake channel's published key and checked by botbuilder against the fake's OpenID/JWKS.

Hypothesis builds the activities from what Teams sends (tests.fakes.bot_connector.message_activity and the feedback
invoke), then breaks one to three fields: a value of another JSON type, null where the field is required, a huge
string, an identifier too long or with a control character, a timestamp that is no date. Every string it plants
carries SENTINEL, and so do the well-typed fields (the question text, the sender's name, the activity id): the logs
of every logger, at DEBUG, must never contain it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import logging
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import redis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from ragbot import texts
from ragbot.access.directory import PrincipalsDirectory
from ragbot.backends.redis_state import RedisAdmission
from ragbot.bootstrap import build_async_redis
from ragbot.flow.receive import AdmissionPolicy
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.producer import intake_for
from ragbot.settings import Settings
from teams_adapter.__main__ import build_service
from teams_adapter.config import sdk_config
from teams_adapter.receive import RagBot
from teams_adapter.server import create_web_app
from tests.fakes.bot_connector import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_TENANT,
    CHANNEL_METADATA_PATH,
    FORGERY_KEY,
    FakeBotFramework,
    invoke_feedback_activity,
    message_activity,
)

REDIS_URL = "redis://127.0.0.1:6379/9"
APP_ID = "7d0c1b2a-0000-4000-8000-0000000b0a7d"
APP_PASSWORD = "resilience~secret.value"
SENTINEL = "Zq9SENTINELx4815"
PERSONAL = f"a:1personal-{SENTINEL}"
CHANNEL_THREAD = f"19:general-{SENTINEL}@thread.tacv2;messageid=1718000000000"

# -- the adapter, its Redis and the logs ------------------------------------------------------------------------------


@dataclass
class Adapter:
    loop: asyncio.AbstractEventLoop
    client: TestClient[web.Request, web.Application]
    fake: FakeBotFramework
    redis: redis.Redis

    def post(
        self, activity: Any, token: str | None, *, raw: bytes | None = None, content_type: str = "application/json"
    ) -> tuple[int, Any]:
        headers = {"Content-Type": content_type}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        data = raw if raw is not None else json.dumps(activity).encode()

        async def send() -> tuple[int, Any]:
            async with self.client.post("/api/messages", data=data, headers=headers) as response:
                body = await response.read()
                if response.status >= 500:  # aiohttp's own page for an unhandled exception is not JSON
                    return response.status, body.decode(errors="replace")
                return response.status, json.loads(body) if body else None

        return self.loop.run_until_complete(send())


def _settings(fake: FakeBotFramework) -> Settings:
    return Settings(
        redis={"url": REDIS_URL},
        teams={
            "app_id": APP_ID,
            "app_password": APP_PASSWORD,
            "openid_metadata_url": f"{fake.url}{CHANNEL_METADATA_PATH}",
            "login_url": fake.login_url(BOT_FRAMEWORK_TENANT),
            "token_issuer": BOT_FRAMEWORK_ISSUER,
            "allowed_service_urls": (fake.service_url,),
        },
    )


@contextmanager
def _ca_bundle(path: str) -> Iterator[None]:
    """`requests` (botbuilder's key fetch, MSAL, msrest) trusts the fake's throwaway CA while the adapter runs."""
    before = os.environ.get("REQUESTS_CA_BUNDLE")
    os.environ["REQUESTS_CA_BUNDLE"] = path
    try:
        yield
    finally:
        if before is None:
            del os.environ["REQUESTS_CA_BUNDLE"]
        else:
            os.environ["REQUESTS_CA_BUNDLE"] = before


@pytest.fixture(scope="module")
def adapter() -> Iterator[Adapter]:
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.flushdb()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis on 127.0.0.1:6379 (.ci/run starts one)")
    with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD) as fake, _ca_bundle(fake.ca_bundle):
        web_app, gate = build_service(_settings(fake))
        loop = asyncio.new_event_loop()

        async def start() -> TestClient[web.Request, web.Application]:
            client: TestClient[web.Request, web.Application] = TestClient(TestServer(web_app))
            await client.start_server()
            return client

        client = loop.run_until_complete(start())
        try:
            yield Adapter(loop, client, fake, store)
        finally:
            loop.run_until_complete(client.close())
            loop.run_until_complete(gate.close())
            loop.close()
            store.flushdb()
            store.close()


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def leaking(self, secret: str) -> list[str]:
        """The records whose message, arguments, extras or traceback contain `secret`."""
        plain = logging.Formatter()
        found = []
        for record in self.records:
            seen = [record.getMessage(), repr(record.__dict__)]
            if record.exc_info:
                seen.append(plain.formatException(record.exc_info))
            if any(secret in text for text in seen):
                found.append(f"{record.name} {record.levelname}: {record.getMessage()[:200]}")
        return found


@contextmanager
def every_log() -> Iterator[_Records]:
    """Every record of every logger, at DEBUG, for the duration."""
    handler = _Records()
    loggers = [logging.getLogger()] + [
        logger for logger in logging.root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    before = [(logger, logger.level, logger.disabled) for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if logger is logging.getLogger() or not logger.propagate:
            logger.addHandler(handler)
    try:
        yield handler
    finally:
        for logger, level, disabled in before:
            logger.setLevel(level)
            logger.disabled = disabled
            logger.removeHandler(handler)


# -- activities: what Teams sends, then broken --------------------------------------------------------------------


def _bases(fake: FakeBotFramework) -> list[dict[str, Any]]:
    url = fake.service_url
    return [
        message_activity(
            text=f"how many vacation days {SENTINEL}?",
            conversation_id=PERSONAL,
            activity_id=f"1718{SENTINEL}",
            service_url=url,
            app_id=APP_ID,
            from_name=SENTINEL,
        ),
        message_activity(
            text=f"who approves expenses {SENTINEL}?",
            conversation_id=CHANNEL_THREAD,
            conversation_type="channel",
            activity_id=f"1719{SENTINEL}",
            service_url=url,
            app_id=APP_ID,
            from_name=SENTINEL,
        ),
        invoke_feedback_activity(
            reaction="like",
            reply_to_id="1:answer",
            feedback_text=SENTINEL,
            conversation_id=PERSONAL,
            activity_id=f"f:{SENTINEL}",
            service_url=url,
            app_id=APP_ID,
            from_name=SENTINEL,
        ),
    ]


class Huge(str):
    """A long string that Hypothesis reports by its length."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"<{len(self)} characters>"


planted = st.one_of(st.just(SENTINEL), st.text(max_size=12).map(lambda tail: SENTINEL + tail))
# At most three breakages an activity, each with at most one of these: the body stays under the 1 MiB limit.
huge = st.sampled_from([2_000, 100_000, 250_000]).map(lambda n: Huge(SENTINEL + "x" * n + SENTINEL))
numbers = st.one_of(
    st.integers(), st.floats(allow_nan=False, allow_infinity=False), st.integers(10**30, 10**40).map(lambda n: -n)
)
json_values = st.recursive(
    st.none() | st.booleans() | numbers | planted,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(planted, inner, max_size=3),
    max_leaves=6,
)
some_list = st.lists(json_values, min_size=0, max_size=3)
some_object = st.dictionaries(planted, json_values, max_size=3)
# A value of every JSON type except the one the schema gives the field (null is never among them: see _required).
not_a_string = st.one_of(st.booleans(), numbers, some_list, some_object, huge.map(lambda text: [text]))
not_an_object = st.one_of(st.booleans(), numbers, planted, some_list, huge)
not_a_list = st.one_of(st.booleans(), numbers, planted, some_object, huge)
not_a_bool = st.one_of(numbers, planted, some_list, some_object, huge)
not_a_date = st.one_of(
    not_a_string,
    planted,
    st.sampled_from(["2024-13-01T00:00:00Z", "2024-02-30T12:00:00Z", "2024-06-01T25:61:00Z", "0000-01-01T00:00:00Z"]),
    st.sampled_from(["yesterday", "1718000000", "2024-06-01", "2024-06-01T12:00:00+99:00", ""]).map(
        lambda text: text + SENTINEL
    ),
)
not_an_identifier = st.one_of(
    not_a_string,
    st.just(Huge(SENTINEL + "9" * 1100)),  # too long for a key
    st.sampled_from(["\n", "\x00", "\r\nERROR forged log line ", "\x85"]).map(lambda c: f"{SENTINEL}{c}{SENTINEL}"),
)

STRINGS = (
    "localTimezone textFormat attachmentLayout topicName locale text speak inputHint summary action label valueType "
    "name code importance deliveryMode callerId"
).split()
LISTS = "membersAdded membersRemoved reactionsAdded reactionsRemoved attachments entities listenFor textHighlights"
OBJECTS = "suggestedActions channelData relatesTo semanticAction".split()


def _mention(field: str, value: Any) -> list[dict[str, Any]]:
    mention: dict[str, Any] = {"type": "mention", "text": "<at>ragbot</at>"}
    mention["mentioned"] = {"id": f"28:{APP_ID}", "name": "ragbot"}
    if field.startswith("mentioned."):
        mention["mentioned"][field.split(".", 1)[1]] = value
    else:
        mention[field] = value
    return [mention]


breakage = st.one_of(
    # top-level fields of the Activity schema, each given a value of another JSON type
    st.tuples(st.sampled_from(STRINGS).map(lambda f: (f,)), not_a_string),
    st.tuples(st.sampled_from(LISTS.split()).map(lambda f: (f,)), not_a_list),
    st.tuples(st.sampled_from(OBJECTS).map(lambda f: (f,)), not_an_object),
    st.tuples(st.sampled_from(["type", "serviceUrl", "channelId"]).map(lambda f: (f,)), not_a_string),
    st.tuples(st.sampled_from(["from", "recipient", "conversation"]).map(lambda f: (f,)), not_an_object),
    st.tuples(st.sampled_from(["timestamp", "localTimestamp", "expiration"]).map(lambda f: (f,)), not_a_date),
    st.tuples(st.sampled_from(["id", "replyToId"]).map(lambda f: (f,)), not_an_identifier),
    st.tuples(st.just(("historyDisclosed",)), not_a_bool),
    # required fields, null or missing
    st.tuples(
        st.sampled_from(["type", "serviceUrl", "channelId", "from", "recipient", "conversation"]).map(lambda f: (f,)),
        st.none(),
    ),
    st.tuples(st.just(("conversation", "id")), st.none() | not_an_identifier),
    # the objects the bot reads
    st.tuples(st.sampled_from([("from", "id"), ("recipient", "id")]), not_an_identifier),
    st.tuples(
        st.sampled_from([("from", "name"), ("from", "aadObjectId"), ("from", "role"), ("recipient", "name")]),
        not_a_string,
    ),
    st.tuples(
        st.sampled_from([("conversation", "conversationType"), ("conversation", "tenantId"), ("conversation", "name")]),
        not_a_string,
    ),
    st.tuples(st.just(("conversation", "isGroup")), not_a_bool),
    st.tuples(st.just(("entities",)), st.lists(not_an_object, min_size=1, max_size=3)),
    st.tuples(st.just(("entities",)), not_a_string.map(lambda v: [{"type": v}])),
    st.tuples(st.just(("entities",)), not_an_object.map(lambda v: _mention("mentioned", v))),
    st.tuples(st.just(("entities",)), not_an_identifier.map(lambda v: _mention("mentioned.id", v))),
    st.tuples(st.just(("entities",)), not_a_string.map(lambda v: _mention("text", v))),
    st.tuples(st.sampled_from([("channelData", "tenant"), ("channelData", "team")]), not_an_object),
    st.tuples(st.sampled_from([("channelData", "tenant", "id"), ("channelData", "eventType")]), not_a_string),
)


def _break(activity: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    target = activity
    for key in path[:-1]:
        if not isinstance(target.get(key), dict):
            target[key] = {}
        target = target[key]
    target[path[-1]] = value


@st.composite
def broken_activities(draw: st.DrawFn, fake: FakeBotFramework) -> dict[str, Any]:
    activity: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(_bases(fake))))
    for path, value in draw(st.lists(breakage, min_size=1, max_size=3)):
        _break(activity, path, value)
    return activity


@contextmanager
def nothing_happens(adapter: Adapter, records: _Records) -> Iterator[None]:
    """The requests inside reach nothing: no Redis key, nothing sent to Teams, no token fetched, no SENTINEL logged."""
    assert adapter.redis.dbsize() == 0
    sent, tokens = len(adapter.fake.activities), len(adapter.fake.token_requests)
    records.records.clear()
    yield
    assert adapter.redis.dbsize() == 0  # nothing queued, not even a delivery remembered
    assert (len(adapter.fake.activities), len(adapter.fake.token_requests)) == (sent, tokens)  # the bot never ran
    assert records.leaking(SENTINEL) == []


_EXAMPLES = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

# -- the properties ---------------------------------------------------------------------------------------------------


def test_a_malformed_activity_with_a_valid_token_gets_400_and_reaches_nothing(adapter: Adapter) -> None:
    with every_log() as records:

        @_EXAMPLES
        @given(activity=broken_activities(adapter.fake))
        def check(activity: dict[str, Any]) -> None:
            with nothing_happens(adapter, records):
                status, body = adapter.post(activity, adapter.fake.mint_channel_token())
                assert status == 400, body
                assert set(body) == {"error"} and SENTINEL not in body["error"]
                event(body["error"])

        check()


unauthenticated = st.sampled_from(
    [
        "no Authorization header",
        "a bearer that is no token",
        "a forged signature",
        "expired",
        "another bot's token",
        "an unknown key",
        "another issuer",
    ]
)


def _token(fake: FakeBotFramework, how: str) -> str | None:
    tokens: dict[str, Callable[[], str | None]] = {
        "no Authorization header": lambda: None,
        "a bearer that is no token": lambda: f"{SENTINEL}.{SENTINEL}.{SENTINEL}",
        "a forged signature": lambda: fake.mint_channel_token(key=FORGERY_KEY, extra_claims={"note": SENTINEL}),
        "expired": lambda: fake.mint_channel_token(expires_in=-600),
        "another bot's token": lambda: fake.mint_channel_token(audience=SENTINEL),
        "an unknown key": lambda: fake.mint_channel_token(kid=SENTINEL),
        "another issuer": lambda: fake.mint_channel_token(issuer=f"https://{SENTINEL}.example"),
    }
    return tokens[how]()


def test_any_activity_without_a_valid_token_gets_401_and_reaches_nothing(adapter: Adapter) -> None:
    with every_log() as records:

        @_EXAMPLES
        @given(activity=broken_activities(adapter.fake) | st.sampled_from(_bases(adapter.fake)), how=unauthenticated)
        def check(activity: dict[str, Any], how: str) -> None:
            with nothing_happens(adapter, records):
                status, body = adapter.post(activity, _token(adapter.fake, how))
                assert status == 401, how
                assert body == {"error": "unauthorized"}

        check()


def _deep(fake: FakeBotFramework) -> bytes:
    return json.dumps({**_bases(fake)[0], "value": json.loads("[" * 70 + "1" + "]" * 70)}).encode()


@pytest.mark.parametrize(
    ("name", "raw", "error"),
    [
        ("not JSON", lambda fake: f"{{'text': '{SENTINEL}'".encode(), "the body is not JSON"),
        ("not UTF-8", lambda fake: b'{"text": "\xff\xfe' + SENTINEL.encode() + b'"}', "the body is not JSON"),
        ("nested past the parser's stack", lambda fake: b"[" * 100_000, "the body is not JSON"),
        ("empty", lambda fake: b"", "the body is not JSON"),
        ("an array", lambda fake: json.dumps([SENTINEL]).encode(), "the body is not an activity"),
        ("a string", lambda fake: json.dumps(SENTINEL).encode(), "the body is not an activity"),
        ("null", lambda fake: b"null", "the body is not an activity"),
        ("nested deeper than 64", _deep, "malformed activity: (nesting)"),
    ],
)
@pytest.mark.parametrize("signed", [True, False])
def test_a_body_that_is_no_activity_gets_400_signed_and_401_unsigned(
    adapter: Adapter, name: str, raw: Callable[[FakeBotFramework], bytes], error: str, signed: bool
) -> None:
    token = adapter.fake.mint_channel_token() if signed else _token(adapter.fake, "a forged signature")
    with every_log() as records, nothing_happens(adapter, records):
        status, body = adapter.post(None, token, raw=raw(adapter.fake))
        assert (status, body) == ((400, {"error": error}) if signed else (401, {"error": "unauthorized"})), name


def test_without_the_json_content_type_or_a_bearer_token_nothing_is_read(adapter: Adapter) -> None:
    activity = _bases(adapter.fake)[0]
    with every_log() as records, nothing_happens(adapter, records):
        assert adapter.post(activity, adapter.fake.mint_channel_token(), content_type="text/plain")[0] == 415
        assert adapter.post(activity, None) == (401, {"error": "unauthorized"})
        assert adapter.post(None, None, raw=b"[" * 100_000) == (401, {"error": "unauthorized"})


def test_a_token_for_another_service_url_gets_401(adapter: Adapter) -> None:
    activity = _bases(adapter.fake)[0]
    token = adapter.fake.mint_channel_token(service_url=f"https://{SENTINEL}.example/")
    with every_log() as records, nothing_happens(adapter, records):
        assert adapter.post(activity, token) == (401, {"error": "unauthorized"})


def test_a_charset_python_does_not_know_is_ignored_json_is_utf8(adapter: Adapter) -> None:
    activity = _bases(adapter.fake)[0]
    try:
        status, _ = adapter.post(
            activity, adapter.fake.mint_channel_token(), content_type=f"application/json; charset={SENTINEL}x"
        )
        assert status == 201  # read as UTF-8 (RFC 8259), where aiohttp's request.json() raised LookupError: a 500
    finally:
        adapter.redis.flushdb()


# -- well-formed activities, any values: the bot runs and never fails -------------------------------------------------


@st.composite
def odd_activities(draw: st.DrawFn, fake: FakeBotFramework) -> dict[str, Any]:
    """Activities of the right shapes with unusual values: kinds, invoke names, values, delivery modes, accounts."""
    activity: dict[str, Any] = copy.deepcopy(draw(st.sampled_from(_bases(fake))))
    # Identifiers travel in Bot Connector URLs, which urllib3 logs at DEBUG: SENTINEL stays in the text and names.
    activity["id"] = f"odd-{draw(st.integers(0, 10**12))}"
    activity["conversation"]["id"] = draw(st.sampled_from(["a:1odd-chat", "19:odd@thread.tacv2;messageid=1"]))
    words = st.text(st.characters(exclude_categories=("Cc", "Cs")), max_size=30)  # identifiers refuse controls
    kinds = ["message"] * 4 + ["invoke"] * 3 + ["conversationUpdate", "messageReaction", "event", "typing", ""]
    activity["type"] = draw(st.sampled_from(kinds)) or draw(words.filter(str.strip))
    activity["text"] = draw(words.map(lambda t: f"{t} {SENTINEL}") | st.sampled_from(["", "   ", "<at>ragbot</at>"]))
    activity["name"] = draw(
        st.sampled_from(["message/submitAction", "adaptiveCard/action", "signin/verifyState", "healthCheck"]) | words
    )
    activity["value"] = draw(json_values.filter(lambda v: not (isinstance(v, str) and len(v) > 10_000)))
    activity["deliveryMode"] = draw(st.sampled_from(["normal", "expectReplies", "notification"]) | st.none())
    activity["from"]["role"] = draw(st.sampled_from(["user", "bot"]) | st.none())
    activity["from"]["id"] = draw(st.sampled_from(["29:someone", "28:another-bot", ""]) | words)
    activity["conversation"]["conversationType"] = draw(st.sampled_from(["personal", "channel", "groupChat"]) | words)
    activity["membersAdded"] = draw(st.lists(st.fixed_dictionaries({"id": words}), max_size=2))
    activity["reactionsAdded"] = draw(st.lists(st.fixed_dictionaries({"type": words}), max_size=2))
    return activity


def test_a_well_formed_activity_with_odd_values_never_gets_a_5xx(adapter: Adapter) -> None:
    try:
        with every_log() as records:

            @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
            @given(activity=odd_activities(adapter.fake))
            def check(activity: dict[str, Any]) -> None:
                records.records.clear()
                status, _ = adapter.post(activity, adapter.fake.mint_channel_token())
                # 501 is the Bot Framework's answer to an invoke a bot does not implement, not a failure.
                assert status < 500 or (status == 501 and activity["type"] == "invoke"), status
                event(f"{activity['type'] if activity['type'] in ('message', 'invoke') else 'other'} → {status}")
                assert [r.getMessage() for r in records.records if r.levelno >= logging.ERROR] == []
                assert records.leaking(SENTINEL) == []  # the question text reaches no log

            check()
    finally:
        adapter.redis.flushdb()


# -- an empty message gets the prompt, as on Slack ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("what", "conversation", "kind", "text"),
    [
        ("whitespace only", "a:1personal-empty", "personal", " \t\n\u00a0 "),
        ("the bot's mention only", "19:general-empty@thread.tacv2;messageid=1", "channel", ""),
    ],
)
def test_an_empty_message_is_answered_with_the_prompt(
    adapter: Adapter, what: str, conversation: str, kind: Any, text: str
) -> None:
    activity = message_activity(
        text=text,
        conversation_id=conversation,
        conversation_type=kind,
        service_url=adapter.fake.service_url,
        app_id=APP_ID,
    )
    try:
        status, _ = adapter.post(activity, adapter.fake.mint_channel_token())
        assert status == 201, what
        said = adapter.fake.wait_for(lambda a: a.conversation_id == conversation and a.type == "message")
        assert said.text == texts.EMPTY
        assert [a.type for a in adapter.fake.activities_in(conversation)] == ["message"]  # no typing: nothing queued
        keys = [key.decode() if isinstance(key, bytes) else key for key in adapter.redis.keys()]
        assert keys and all(key.startswith("ragbot:") for key in keys)  # no queue, only the dedupe mark
    finally:
        adapter.redis.flushdb()


# -- a failure in the bot: one line, the activity id and the exception's type ---------------------------------------


class _FailingBot(RagBot):
    async def on_message_activity(self, turn_context: TurnContext) -> None:
        raise ValueError(f"the bot broke on {turn_context.activity.text}")


def test_a_failure_in_the_bot_is_one_line_with_the_activity_id_and_the_exception_type() -> None:
    with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD) as fake, _ca_bundle(fake.ca_bundle):
        configured = _settings(fake)
        client = build_async_redis(configured.redis)
        gate = RedisAdmission(client)
        bot = _FailingBot(
            gate=gate,
            limiter=gate,
            cache=gate,
            policy=AdmissionPolicy(dedupe_ttl_s=60, user_per_minute=5, place_per_minute=5),
            answers=client,
            directory=PrincipalsDirectory({}),
            intake=intake_for(create_celery_app(configured, name="ragbot-teams-test"), expires_s=60),
        )
        app = create_web_app(
            adapter=CloudAdapter(ConfigurationBotFrameworkAuthentication(sdk_config(configured.teams))),
            bot=bot,
            gate=gate,
            allowed_service_urls=(fake.service_url,),
        )
        activity = message_activity(
            text=f"what is {SENTINEL}?", conversation_id=PERSONAL, service_url=fake.service_url, app_id=APP_ID
        )

        async def scenario() -> tuple[int, Any]:
            async with TestClient(TestServer(app)) as http:
                headers = {"Authorization": f"Bearer {fake.mint_channel_token()}"}
                async with http.post("/api/messages", json=activity, headers=headers) as response:
                    result = response.status, await response.json()
            await gate.close()
            return result

        with every_log() as records:
            assert asyncio.run(scenario()) == (500, {"error": "internal error"})
    [line] = [r for r in records.records if r.levelno >= logging.ERROR]
    assert line.name == "teams_adapter.server" and line.exc_info is None
    assert line.getMessage() == f"the bot failed on activity {activity['id']} (ValueError)"
    assert records.leaking(SENTINEL) == []
