"""Strangers against the Slack adapter's /slack/events: hostile requests, signed and unsigned, on the real app.

The app is `slack_adapter.__main__.build_service` (the real Bolt app and listeners, the Redis admission and the Celery
producer) served by aiohttp as `ragbot serve slack` serves it, with its Redis in database 15 of the local server and
Slack's Web API played by tests/fakes/slack_api.py. Requests go over real HTTP.

Hypothesis builds the requests: random bytes, random JSON, random forms, Slack's own envelopes, commands and
interactivity payloads, sent unsigned, signed with another secret, stale, tampered with, with junk or huge
signature headers; and, signed correctly, bodies that are not Slack's (not JSON, not an object, an `event` of every
JSON type but an object, ids of the wrong type) and Slack bodies we have no listener for. Every body carries a
planted email address, card number or token; the logs of every logger, at DEBUG, must never contain one. After each
test nothing was written to Redis (nothing queued, no dedupe key) and Slack was asked nothing but `auth.test`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import urlencode

import pytest
import redis
import requests
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ragbot.settings import Settings
from slack_adapter.__main__ import build_service
from slack_adapter.server import SocketModeEnvelopes, bolt_logger
from tests.fakes.slack_api import (
    FakeSlackApi,
    app_mention_event,
    block_actions_form,
    dm_message_event,
    event_callback,
    sign_request,
    slash_command_form,
)

REDIS_URL = "redis://127.0.0.1:6379/15"
BOT_TOKEN = "xoxb-resilience-bot"
APP_TOKEN = "xapp-1-resilience"
SECRET = "resilience-signing-secret"
JSON = "application/json"
FORM = "application/x-www-form-urlencoded"

MARK = "Qx7SENTINELk2718"
EMAIL = f"ana.{MARK}@example.com"
CARD = "4556 7375 8689 9855"
TOKEN = f"xoxp-{MARK}-123456"
PLANTED = (EMAIL, CARD, TOKEN, MARK)
# What must never appear in a log: the mark (in the email, the token, and on its own), and the card number however a
# body may have encoded it.
LEAKS = (MARK, CARD, "4556737586899855", "4556+7375+8689+9855", "4556%207375%208689%209855")

T = TypeVar("T")

# -- the service, its Redis, and what it must not have done ------------------------------------------------------------


class _Loop:
    """An event loop on a thread of its own, running all the time, as the adapter's loop does in production."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, name="slack-adapter", daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 20) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class Service:
    url: str
    slack: FakeSlackApi
    store: redis.Redis
    session: requests.Session
    since: int = 0  # the fake's calls before the current test

    def post(self, body: bytes, headers: dict[str, Any]) -> requests.Response:
        return self.session.post(f"{self.url}/slack/events", data=body, headers=headers, timeout=30)

    def signed(self, body: bytes, content_type: str = JSON) -> requests.Response:
        return self.post(body, {"Content-Type": content_type, **sign_request(body, signing_secret=SECRET)})

    def assert_untouched(self) -> None:
        """Nothing queued or remembered in Redis; nothing asked of Slack but who the bot is."""
        assert self.store.dbsize() == 0
        assert [c.method for c in self.slack.calls[self.since :] if c.method != "auth.test"] == []


def _settings(slack: FakeSlackApi) -> Settings:
    config = {"bot_token": BOT_TOKEN, "signing_secret": SECRET, "api_url": slack.url}
    return Settings(redis={"url": REDIS_URL}, slack=config)


def _seed(slack: FakeSlackApi) -> None:
    slack.add_user("U1", email="liam@kestrel.example", name="liam")
    slack.add_channel("C1", kind="public", members=["U1", "UBOT"], name="general")
    slack.add_channel("D1", kind="im", members=["U1", "UBOT"])


@pytest.fixture(scope="module")
def service() -> Iterator[Service]:
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        store.flushdb()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis on 127.0.0.1:6379 (.ci/run starts one)")
    with FakeSlackApi(BOT_TOKEN) as slack:
        _seed(slack)
        web_app, gate, _ = build_service(_settings(slack))
        loop = _Loop()
        runner = web.AppRunner(web_app, access_log=None)  # as ragbot.chat.http.serve_until_signalled runs it

        async def start() -> int:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return int(runner.addresses[0][1])

        port = loop.run(start())
        session = requests.Session()
        try:
            yield Service(f"http://127.0.0.1:{port}", slack, store, session)
        finally:
            session.close()
            loop.run(runner.cleanup())
            loop.run(gate.close())
            loop.close()
            store.flushdb()
            store.close()


@pytest.fixture(autouse=True)
def _fresh(request: pytest.FixtureRequest) -> None:
    if "service" in request.fixturenames:
        service: Service = request.getfixturevalue("service")
        service.since = len(service.slack.calls)


@pytest.fixture
def logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Every record of every logger, at DEBUG, checked at the end for anything planted in a request."""
    caplog.set_level(logging.DEBUG)
    yield caplog
    for record in caplog.records:
        text = f"{caplog.handler.format(record)} {record.__dict__!r}"
        leaked = [leak for leak in LEAKS if leak in text]
        assert not leaked, f"{record.name} logged part of a request at {record.levelname}"


def _refusals(caplog: pytest.LogCaptureFixture, status: int) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith(f"slack request refused ({status})"))


# -- what hypothesis sends ---------------------------------------------------------------------------------------------

planted = st.sampled_from(PLANTED)
texts = st.one_of(
    st.text(max_size=24),
    planted,
    st.builds(lambda a, p, b: a + p + b, st.text(max_size=8), planted, st.text(max_size=8)),
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False, allow_infinity=False), texts)
json_values = st.recursive(
    scalars, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(texts, kids, max_size=4), max_leaves=10
)
not_objects = st.one_of(scalars, st.lists(json_values, max_size=4))


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def _with_plant(body: dict[str, Any], plant: str) -> dict[str, Any]:
    return {**body, "note": plant}


genuine = st.one_of(
    st.builds(lambda t: _json(event_callback(app_mention_event(t, channel="C1"))), texts),
    st.builds(lambda t: _json(event_callback(dm_message_event(t))), texts),
    st.builds(lambda t: slash_command_form("/ask", t), texts),
    st.builds(
        lambda v: block_actions_form(
            [{"action_id": "ragbot_feedback_up", "block_id": "ragbot_feedback", "value": v}], message_ts="1.000001"
        ),
        texts,
    ),
)
any_body = st.one_of(
    genuine,
    st.builds(lambda a, p, b: a + p.encode() + b, st.binary(max_size=64), planted, st.binary(max_size=64)),
    st.builds(lambda v, p: _json([v, p]), json_values, planted),
    st.builds(
        lambda d, p: urlencode({**d, "x": p}).encode(), st.dictionaries(st.text(max_size=8), texts, max_size=4), planted
    ),
)
header_junk = st.one_of(
    st.binary(max_size=80).filter(lambda b: not any(c < 0x20 or c == 0x7F for c in b) and not b[:1].isspace()),
    st.integers().map(lambda n: str(n).encode()),
    st.integers(min_value=1, max_value=7000).map(lambda n: b"9" * n),
    st.sampled_from([b"1e9", b"0x10", b"1_700_000_000", "\u0661\u0662\u0663".encode(), b"NaN", b"+1700000000"]),
)


def _hmac(timestamp: str, body: bytes, secret: str = SECRET) -> str:
    return "v0=" + hmac.new(secret.encode(), f"v0:{timestamp}:".encode() + body, hashlib.sha256).hexdigest()


Forgery = Callable[[bytes], tuple[bytes, dict[str, Any]]]


def _forgeries() -> st.SearchStrategy[Forgery]:
    """Ways of sending a body that Slack did not sign (or not now, or not this body)."""

    def unsigned(body: bytes) -> tuple[bytes, dict[str, Any]]:
        return body, {}

    def junk(ts: bytes, sig: bytes) -> Forgery:
        return lambda body: (body, {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": sig})

    def other_secret(body: bytes) -> tuple[bytes, dict[str, Any]]:
        return body, sign_request(body, signing_secret="not-the-secret")

    def skewed(by: int) -> Forgery:
        return lambda body: (body, sign_request(body, signing_secret=SECRET, timestamp=int(time.time()) + by))

    def tampered(extra: bytes) -> Forgery:
        return lambda body: (body + extra, sign_request(body, signing_secret=SECRET))

    def odd_timestamp(timestamp: str) -> Forgery:
        # signed correctly over a timestamp that is no plain number (the verifier would have called int() on it)
        return lambda body: (
            body,
            {"X-Slack-Request-Timestamp": timestamp, "X-Slack-Signature": _hmac(timestamp, body)},
        )

    def huge_signature(n: int) -> Forgery:
        return lambda body: (body, {**sign_request(body, signing_secret=SECRET), "X-Slack-Signature": "v0=" + "a" * n})

    def not_utf8(body: bytes) -> tuple[bytes, dict[str, Any]]:
        raw = b"\xff\xfe" + body
        return raw, sign_request(raw, signing_secret=SECRET)

    now = int(time.time())
    return st.one_of(
        st.just(unsigned),
        st.builds(junk, header_junk, header_junk),
        st.builds(junk, st.integers(now - 100, now + 100).map(lambda n: str(n).encode()), header_junk),
        st.just(other_secret),
        st.builds(skewed, st.integers(320, 10**9) | st.integers(-(10**9), -320)),
        st.builds(tampered, st.binary(min_size=1, max_size=8)),
        st.builds(odd_timestamp, st.sampled_from([f"{now}.0", f"+{now}", f"-{now}", f"{now}e0", f"0{now}" * 3])),
        st.builds(huge_signature, st.integers(64, 7000)),
        st.just(not_utf8),
    )


_EXAMPLES = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)


# -- strangers: 401, before anything is parsed -------------------------------------------------------------------------


@_EXAMPLES
@given(body=any_body, forge=_forgeries(), content_type=st.sampled_from([JSON, FORM, "text/plain", ""]))
def test_an_unsigned_or_badly_signed_request_is_refused_with_401(
    service: Service, logs: pytest.LogCaptureFixture, body: bytes, forge: Forgery, content_type: str
) -> None:
    sent, headers = forge(body)
    response = service.post(sent, {"Content-Type": content_type, **headers})
    assert response.status_code == 401
    assert response.json() == {"error": "unauthorized"}
    assert _refusals(logs, 401) >= 1  # the capture sees the adapter's thread: a clean log means something
    service.assert_untouched()


def test_without_a_signing_secret_nothing_is_accepted_over_http(logs: pytest.LogCaptureFixture) -> None:
    # Socket Mode alone (an app token, no signing secret): /slack/events used to dispatch whatever came, unverified.
    with FakeSlackApi(BOT_TOKEN) as slack:
        _seed(slack)
        settings = Settings(
            redis={"url": REDIS_URL},
            slack={"bot_token": BOT_TOKEN, "app_token": APP_TOKEN, "api_url": slack.url},
        )
        web_app, gate, _ = build_service(settings)
        loop = _Loop()
        runner = web.AppRunner(web_app, access_log=None)

        async def start() -> int:
            await runner.setup()
            await web.TCPSite(runner, "127.0.0.1", 0).start()
            return int(runner.addresses[0][1])

        try:
            url = f"http://127.0.0.1:{loop.run(start())}/slack/events"
            body = _json(event_callback(app_mention_event(f"what is {EMAIL}?", channel="C1")))
            for secret in (SECRET, ""):
                headers = {"Content-Type": JSON, **(sign_request(body, signing_secret=secret) if secret else {})}
                assert requests.post(url, data=body, headers=headers, timeout=30).status_code == 401
        finally:
            loop.run(runner.cleanup())
            loop.run(gate.close())
            loop.close()
        assert [c.method for c in slack.calls] == []


# -- signed, but not a body Slack sends: 400 ---------------------------------------------------------------------------


def _envelope(event: Any, plant: str) -> bytes:
    return _json({"type": "event_callback", "event_id": "EvBad", "team_id": "T1", "event": event, "note": plant})


def _mention_with(field: str, value: Any, plant: str) -> bytes:
    event = app_mention_event(f"leave policy {plant}", channel="C1")
    return _json(event_callback({**event, field: value}))


wrong_id = st.one_of(st.integers(), st.booleans(), st.lists(scalars, max_size=3), st.floats(allow_nan=False))
malformed = st.one_of(
    # not JSON and not one of Slack's forms
    st.builds(
        lambda t, p: (f"{t}{p}".encode(), FORM),
        st.text(max_size=40).filter(lambda t: "=" not in t and not t.startswith("{")),
        planted,
    ),
    st.builds(lambda t, p: (f"{{{t}{p}".encode(), JSON), st.text(max_size=40), planted),
    st.builds(
        lambda d, p: (urlencode({**d, "note": p}).encode(), FORM),
        st.dictionaries(st.sampled_from(["a", "text", "user_id"]), texts),
        planted,
    ),
    # JSON, but not an object, or an object without a string type
    st.builds(lambda v, p: (_json([v, p]), JSON), json_values, planted),
    st.builds(lambda v: (_json(v), JSON), not_objects),
    st.builds(
        lambda d, t, p: (_json({**d, "type": t, "note": p}), JSON),
        st.dictionaries(texts.filter(lambda k: k not in ("type", "command", "ssl_check")), json_values, max_size=3),
        not_objects.filter(lambda v: not isinstance(v, str)),
        planted,
    ),
    # an envelope whose event is not an object, is missing, or has no string type
    st.builds(lambda e, p: (_envelope(e, p), JSON), not_objects, planted),
    st.builds(lambda p: (_json({"type": "event_callback", "note": p}), JSON), planted),
    st.builds(
        lambda t, p: (_envelope({"type": t, "text": p, "user": "U1", "channel": "C1"}, p), JSON),
        not_objects.filter(lambda v: not isinstance(v, str)),
        planted,
    ),
    # a mention Bolt would choke on: an id of the wrong type, authorizations that are no list of objects
    st.builds(
        lambda f, v, p: (_mention_with(f, v, p), JSON), st.sampled_from(["user", "channel", "team"]), wrong_id, planted
    ),
    st.builds(
        lambda v, p: (_json({**event_callback(app_mention_event(p)), "authorizations": v}), JSON),
        st.one_of(scalars.filter(lambda v: v is not None), st.lists(scalars, min_size=1, max_size=3)),
        planted,
    ),
    # forms: a payload that is no JSON object, a command that is no command
    st.builds(lambda t, p: (urlencode({"payload": t + p}).encode(), FORM), st.text(max_size=30), planted),
    st.builds(lambda v, p: (urlencode({"payload": json.dumps([v, p])}).encode(), FORM), json_values, planted),
    st.builds(
        lambda c, p: (urlencode({"command": c, "text": p, "user_id": "U1", "channel_id": "C1"}).encode(), FORM),
        st.text(max_size=10).filter(lambda c: not c.startswith("/")),
        planted,
    ),
    # block actions without usable actions
    st.builds(
        lambda a, p: (
            urlencode({"payload": json.dumps({"type": "block_actions", "actions": a, "note": p})}).encode(),
            FORM,
        ),
        st.one_of(
            not_objects,
            st.just([]),
            st.lists(st.dictionaries(st.sampled_from(["value", "block_id"]), texts), min_size=1, max_size=2),
        ),
        planted,
    ),
    # nested deeper than the JSON parser goes
    st.builds(
        lambda n, p: (("[" * n + json.dumps(p) + "]" * n).encode(), JSON), st.integers(100_000, 400_000), planted
    ),
    st.builds(
        lambda n, p: (('{"type": "x", "a": ' + "[" * n + json.dumps(p) + "]" * n + "}").encode(), JSON),
        st.integers(100_000, 400_000),
        planted,
    ),
)


@_EXAMPLES
@given(case=malformed)
def test_a_signed_request_that_is_no_slack_body_is_refused_with_400(
    service: Service, logs: pytest.LogCaptureFixture, case: tuple[bytes, str]
) -> None:
    body, content_type = case
    response = service.signed(body, content_type)
    assert response.status_code == 400
    assert response.json() == {"error": "bad request"}
    assert _refusals(logs, 400) >= 1
    service.assert_untouched()


@pytest.mark.parametrize("event", [None, "app_mention", 42, 4.2, True, ["app_mention"], []], ids=repr)
def test_an_envelope_whose_event_is_not_an_object_is_a_400(
    service: Service, logs: pytest.LogCaptureFixture, event: Any
) -> None:
    response = service.signed(_envelope(event, EMAIL))
    assert response.status_code == 400
    service.assert_untouched()


# -- signed, and Slack's, but nothing we answer: 200, so Slack does not retry it ---------------------------------------


_HANDLED_EVENTS = ("app_mention", "message")
unknown_event = st.builds(
    lambda t, p: event_callback({"type": t, "user": "U1", "channel": "C1", "text": p, "event_ts": "1700000000.000100"}),
    st.text(min_size=1, max_size=30).filter(lambda t: t not in _HANDLED_EVENTS),
    texts,
)
ignored_event = st.one_of(
    st.builds(
        lambda t: event_callback({**app_mention_event(t, channel="C1"), "type": "message", "channel_type": "channel"}),
        texts,
    ),
    st.builds(lambda t: event_callback({**dm_message_event(t), "subtype": "message_changed"}), texts),
    st.builds(lambda t: event_callback({**dm_message_event(t), "bot_id": "BOTHER"}), texts),
    st.builds(lambda t: event_callback(app_mention_event(t, channel="D1")), texts),  # answered as message.im instead
)
unknown_request = st.one_of(
    st.builds(lambda e: (_json(e), JSON), unknown_event),
    st.builds(lambda e: (_json(e), JSON), ignored_event),
    st.builds(
        lambda t, p: (_json({"type": t, "note": p}), JSON),
        st.text(max_size=20).filter(lambda t: t not in ("event_callback", "block_actions", "interactive_message")),
        planted,
    ),
    st.builds(
        lambda c, t: (slash_command_form("/" + c, t), FORM), st.text(max_size=12).filter(lambda c: c != "ask"), texts
    ),
    st.builds(
        lambda a, v: (block_actions_form([{"action_id": a, "value": v}], message_ts="1.000001"), FORM),
        st.text(max_size=20).filter(lambda a: not a.startswith("ragbot_feedback")),
        texts,
    ),
)


@_EXAMPLES
@given(case=unknown_request)
def test_a_signed_request_we_do_not_handle_is_acknowledged_with_200(
    service: Service, logs: pytest.LogCaptureFixture, case: tuple[bytes, str]
) -> None:
    body, content_type = case
    response = service.signed(body, content_type)
    assert response.status_code == 200
    service.assert_untouched()


# -- signed and anything at all: never a 5xx ---------------------------------------------------------------------------

_KEYS = (
    "type", "event", "command", "actions", "user", "channel", "team", "enterprise", "authorizations", "message",
    "previous_message", "container", "view", "item", "challenge", "ssl_check", "event_id", "team_id", "user_id",
    "channel_id", "is_ext_shared_channel", "is_enterprise_install", "response_url", "response_urls", "function_data",
    "bot_access_token", "function_execution_id", "thread_ts", "assistant_thread", "token", "trigger_id", "callback_id",
    "action_id", "block_id", "state", "text", "enterprise_id", "user_team", "bot_id", "subtype", "channel_type",
    "inputs", "function", "id", "tab", "submission", "value",
)  # fmt: skip
_TYPES = (
    "event_callback", "block_actions", "url_verification", "interactive_message", "shortcut", "message_action",
    "view_submission", "view_closed", "block_suggestion", "dialog_submission", "dialog_suggestion",
    "dialog_cancellation", "workflow_step_edit", "workflow_step_execute", "function_executed", "app_rate_limited",
    "reaction_added", "app_home_opened", "assistant_thread_started", "member_joined_channel", "1", "/other",
)  # fmt: skip
slackish = st.recursive(
    st.one_of(scalars, st.sampled_from(_TYPES)),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.sampled_from(_KEYS) | texts, kids, max_size=5),
    max_leaves=16,
)
slackish_bodies = st.dictionaries(st.sampled_from(_KEYS), slackish, min_size=1, max_size=8).map(
    lambda d: {**d, "note": MARK}
)


@_EXAMPLES
@given(body=slackish_bodies, as_form=st.booleans())
def test_no_signed_body_makes_the_adapter_fail(
    service: Service, logs: pytest.LogCaptureFixture, body: dict[str, Any], as_form: bool
) -> None:
    raw = urlencode({"payload": json.dumps(body)}).encode() if as_form else _json(body)
    response = service.signed(raw, FORM if as_form else JSON)
    assert response.status_code in (200, 400)
    assert not [r for r in logs.records if r.levelno >= logging.ERROR]  # nothing failed inside Bolt either
    service.assert_untouched()


# -- size, and what Bolt itself may log --------------------------------------------------------------------------------


def test_a_900_kb_request_adds_one_short_line_to_the_log(service: Service, logs: pytest.LogCaptureFixture) -> None:
    filler = (f"{EMAIL} {CARD} {TOKEN} " * 20_000)[: 455 * 1024]  # twice in the event: its text and its rich-text block
    body = _json(event_callback(app_mention_event(filler, channel="C1")))
    assert 900 * 1024 < len(body) < 1024**2
    before = len(logs.records)
    unsigned = service.post(body, {"Content-Type": JSON})
    forged = service.post(body, {"Content-Type": JSON, **sign_request(body, signing_secret="not-the-secret")})
    malformed = service.signed(_envelope([filler], MARK))
    assert (unsigned.status_code, forged.status_code, malformed.status_code) == (401, 401, 400)
    ours = [r for r in logs.records[before:] if r.name.startswith(("slack", "aiohttp"))]
    assert len(ours) == 3
    assert sum(len(logs.handler.format(r)) for r in ours) < 3 * 200
    # over the adapter's 1 MiB limit aiohttp refuses it before anyone reads it
    assert service.signed(b"{" + b" " * (1024**2 + 1) + b"}").status_code == 413
    service.assert_untouched()


def test_bolt_logs_only_the_fixed_wording_of_its_warnings(service: Service, logs: pytest.LogCaptureFixture) -> None:
    # What Bolt logs with the logger it was given, in the form its own messages take (f-strings with the request).
    logger = bolt_logger()
    child = logging.getLogger("slack_bolt.IgnoringSelfEvents")  # configured from it when the app was built
    logger.info(f"Invalid request signature detected (signature: v0=1, timestamp: 1, body: {EMAIL})")  # noqa: G004 - Bolt's own form
    child.debug(f"Skipped self event: {{'type': 'message', 'text': '{EMAIL}'}}")
    logger.warning(f"Unhandled request ({{'type': 'event_callback', 'text': '{TOKEN}'}})")  # noqa: G004 - Bolt's own form
    try:
        raise ValueError(CARD)
    except ValueError as err:
        logger.exception(f"Failed to run listener function (error: {err})")  # noqa: G004 - Bolt's own form
    messages = [r.getMessage() for r in logs.records if r.name in (logger.name, child.name)]
    assert messages == ["Unhandled request", "Failed to run listener function [ValueError]"]


# -- what still works through the gates --------------------------------------------------------------------------------


def test_slack_s_own_handshakes_still_pass(service: Service, logs: pytest.LogCaptureFixture) -> None:
    challenge = service.signed(_json({"type": "url_verification", "token": "t", "challenge": "c-123"}))
    assert (challenge.status_code, challenge.json()) == (200, {"challenge": "c-123"})
    assert service.signed(b"ssl_check=1&token=t", FORM).status_code == 200
    service.assert_untouched()


def test_a_slash_command_that_mentions_payload_is_still_a_command(
    service: Service, logs: pytest.LogCaptureFixture
) -> None:
    # Bolt alone parsed any form containing "payload" as an interactivity payload, and found none: an empty body.
    try:
        response = service.signed(slash_command_form("/ask", "what is the payload limit?", channel_id="C1"), FORM)
        assert response.status_code == 200
        posted = service.slack.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == "C1")
        assert "what is the payload limit?" in str(posted.args.get("text"))
        deadline = time.monotonic() + 20
        while not any(r.getMessage() == "question queued" for r in logs.records) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert any(r.getMessage() == "question queued" for r in logs.records)
    finally:
        service.store.flushdb()  # the queued question is nobody's to answer here


# -- Socket Mode: no signature, the same shape gate --------------------------------------------------------------------


def test_malformed_socket_mode_envelopes_are_acknowledged_and_dropped(logs: pytest.LogCaptureFixture) -> None:
    store = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    store.flushdb()
    with FakeSlackApi(BOT_TOKEN) as slack:
        _seed(slack)
        socket = slack.enable_socket_mode(APP_TOKEN)
        settings = Settings(
            redis={"url": REDIS_URL},
            slack={"bot_token": BOT_TOKEN, "app_token": APP_TOKEN, "api_url": slack.url},
        )
        _, gate, bolt = build_service(settings)
        loop = _Loop()

        async def connect() -> Any:  # on the loop, as the adapter's __main__ does
            handler: Any = SocketModeEnvelopes(bolt, APP_TOKEN)  # type: ignore[arg-type]
            await handler.connect_async()
            return handler

        handler: Any = loop.run(connect())
        try:
            socket.wait_connected()
            for event in (
                None,
                f"text {EMAIL}",
                [TOKEN],
                7,
                {"type": 7, "text": CARD},
                {"type": "app_mention", "user": 5},
            ):
                envelope = socket.push("events_api", {"type": "event_callback", "event_id": "EvX", "event": event})
                assert socket.wait_ack(envelope) == {"envelope_id": envelope}
            command = socket.push("slash_commands", {"command": "ask", "text": EMAIL, "user_id": "U1"})
            assert socket.wait_ack(command) == {"envelope_id": command}
            # a payload that is no object at all is refused by the Socket Mode client itself; the next one still goes
            socket.push("events_api", [f"junk {TOKEN}"])  # type: ignore[arg-type]
            unknown = socket.push("events_api", event_callback({"type": "reaction_added", "user": "U1", "note": MARK}))
            assert socket.wait_ack(unknown) == {"envelope_id": unknown}
        finally:
            loop.run(handler.close_async())
            loop.run(gate.close())
            loop.close()
        assert store.dbsize() == 0
        assert [c.method for c in slack.calls if c.method not in ("auth.test", "apps.connections.open")] == []
    assert any(r.getMessage().startswith("slack socket mode envelope dropped") for r in logs.records)
    store.close()
