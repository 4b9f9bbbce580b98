"""The Slack adapter's HTTP server (aiohttp): Slack's events endpoint, health, readiness and metrics.

POST /slack/events   Events API, slash commands and interactivity
GET  /healthz        the process is serving
GET  /readyz         Redis answers (the adapter can queue questions); 503 otherwise
GET  /metrics        Prometheus

A request to /slack/events passes three gates before Bolt sees any of it; a refusal is one fixed log line, never
the request:

    signature   X-Slack-Signature over the raw bytes (slack_sdk's SignatureVerifier), with a numeric timestamp
                within five minutes; without a signing secret (Socket Mode) nothing passes              → else 401
    body        a JSON object, or a form: a slash command, an ssl_check, or `payload=` holding a JSON object  → else 400
    shape       the fields Bolt and the listeners read have the types Slack sends (`check_shape`)          → else 400

Bolt then gets the body it was checked as, re-encoded as JSON, so it dispatches exactly what passed the gates; it
does not verify the signature a second time (`receive.build_app` turns that off): the second check would be the same
verifier with the same secret, it needs the raw bytes, which Bolt would parse again by its own looser rules (a slash
command whose text contains "payload" became an empty body), and its failure path logs the whole request. Socket
Mode envelopes have no HTTP signature; `SocketModeEnvelopes` puts the same shape gate in front of Bolt there.

Whatever Bolt and the Socket Mode client log goes through `bolt_logger()`, which lets through only warnings and
errors, cut to their fixed wording. Requests Bolt has no listener for are acknowledged with 200 (`on_bolt_error`):
Slack retries anything else, and an event type we do not handle will not be handled on the retry either.
"""

from __future__ import annotations

import json
import logging
import re
import traceback
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.error import BoltUnhandledRequestError
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.response import BoltResponse
from slack_sdk.signature import SignatureVerifier
from slack_sdk.socket_mode.aiohttp import SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse

from ragbot.chat.http import add_operations_routes
from ragbot.ports import Reachable

__all__ = ["SocketModeEnvelopes", "bolt_logger", "check_shape", "create_web_app", "on_bolt_error", "parse_body"]

log = logging.getLogger(__name__)

_TIMESTAMP = re.compile(r"[0-9]{1,12}")  # seconds since the epoch; `int()` of anything longer is a waste
_SIGNATURE = re.compile(r"v0=[0-9a-f]{64}")  # an HMAC-SHA256 hex digest, as Slack sends it
# Fields Bolt's context extraction and the listeners read as an id (a string) or as an object with an id; anything
# else (a number, a list, true) makes Bolt fail, so it is refused first. Checked at the top level and in `event`.
_ID_OR_OBJECT = ("user", "channel", "team", "enterprise", "message", "previous_message", "item", "view", "container")


def create_web_app(bolt: AsyncApp, *, gate: Reachable, signing_secret: str | None) -> web.Application:
    """Mount the Bolt app and the operational endpoints on one aiohttp application.

    Args:
        bolt: The Bolt app (`receive.build_app`), which trusts what reaches it.
        gate: What /readyz asks.
        signing_secret: Slack's signing secret; None refuses every request to /slack/events (Socket Mode only).
    """
    verifier = SignatureVerifier(signing_secret) if signing_secret else None

    async def events(request: web.Request) -> web.Response:
        raw = await request.read()  # over client_max_size: aiohttp answers 413
        text = _verified_text(verifier, raw, request.headers)
        if text is None:
            return _refuse(401, "signature")
        body = parse_body(text, request.content_type)
        if body is None:
            return _refuse(400, "body")
        problem = check_shape(body)
        if problem is not None:
            return _refuse(400, problem)
        try:
            # Bolt reads ids into its context as it builds the request: a shape the gates did not foresee (or a body
            # nested too deep to encode again) is the caller's, and still a 400.
            headers: Any = request.headers
            bolt_request = AsyncBoltRequest(body=json.dumps(body), query=request.query_string, headers=headers)
        except Exception as err:  # any failure here comes from the body
            return _refuse(400, f"shape ({type(err).__name__})")
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/slack/events", events)
    add_operations_routes(app, gate=gate)
    return app


def _refuse(status: int, reason: str) -> web.Response:
    log.info("slack request refused (%s): %s", status, reason)
    return web.json_response({"error": "unauthorized" if status == 401 else "bad request"}, status=status)


def _verified_text(verifier: SignatureVerifier | None, raw: bytes, headers: Mapping[str, str]) -> str | None:
    """The body as text when Slack signed it; None otherwise (no secret, bad headers, not UTF-8, wrong or stale).

    The headers are checked for form before the verifier sees them: it calls `int()` on the timestamp and compares
    digests that must be ASCII, and either raises on what a stranger may send. A body that is not UTF-8 cannot be
    verified by it (it decodes before hashing), and Slack sends only UTF-8.
    """
    if verifier is None:
        return None
    timestamp = headers.get("X-Slack-Request-Timestamp", "")
    signature = headers.get("X-Slack-Signature", "")
    if not _TIMESTAMP.fullmatch(timestamp) or not _SIGNATURE.fullmatch(signature):
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        return None
    return text if verifier.is_valid(text, timestamp, signature) else None


def parse_body(text: str, content_type: str) -> dict[str, Any] | None:
    """What Slack sent, as one object; None when it is not one of Slack's request bodies.

    JSON (the Events API) when the content type says so or the body starts with "{" (Bolt's rule); otherwise a form:
    interactivity (`payload=` holding a JSON object), a slash command (`command=`) or Slack's `ssl_check=`.
    """
    if content_type == "application/json" or text.startswith("{"):
        return _json_object(text)
    fields = dict(parse_qsl(text, keep_blank_values=True))
    if "payload" in fields:
        return _json_object(fields["payload"])
    if "command" in fields or "ssl_check" in fields:
        return dict(fields)
    return None


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def check_shape(body: Any) -> str | None:
    """Why Bolt or the listeners could not read `body` as Slack's; None when they can. Never a value from it.

    A slash command has a `command` that starts with "/", Slack's ssl_check is "1", and every other body has a
    string `type`. An `event` is an object with a string `type` (and an `event_callback` has one); block actions are
    a non-empty list of objects with a string `action_id`; `authorizations` a list of objects; ids (user, channel,
    team, …) strings or objects, at the top and in the event.
    """
    if not isinstance(body, dict):
        return "not an object"
    if "command" in body:
        command = body["command"]
        if not isinstance(command, str) or not command.startswith("/"):
            return "command"
    elif "ssl_check" in body:
        if body["ssl_check"] != "1":
            return "ssl_check"
    elif not isinstance(body.get("type"), str):
        return "type"
    problem = _ids(body, "")
    if problem is not None:
        return problem
    if "event" in body or body.get("type") == "event_callback":
        event = body.get("event")
        if not isinstance(event, dict) or not isinstance(event.get("type"), str):
            return "event"
        problem = _ids(event, "event.")
        if problem is not None:
            return problem
    authorizations = body.get("authorizations")
    if authorizations is not None and not _objects(authorizations):
        return "authorizations"
    if "actions" in body or body.get("type") in ("block_actions", "interactive_message"):
        actions = body.get("actions")
        if not _objects(actions) or not actions or not all(isinstance(a.get("action_id"), str) for a in actions):
            return "actions"
    return None


def _ids(obj: dict[str, Any], where: str) -> str | None:
    for key in _ID_OR_OBJECT:
        value = obj.get(key)
        if value is not None and not isinstance(value, (str, dict)):
            return where + key
    return None


def _objects(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)


# ---- Socket Mode


class SocketModeEnvelopes(AsyncSocketModeHandler):
    """Bolt's Socket Mode handler with the shape gate in front: a malformed envelope is acknowledged and dropped.

    Acknowledged, because Slack resends what is not, and a malformed envelope stays malformed.
    """

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:  # type: ignore[override]
        problem = check_shape(req.payload)
        if problem is not None:
            log.warning("slack socket mode envelope dropped: %s", problem)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        await super().handle(client, req)


# ---- what Bolt may log, and what it does with requests it has no listener for


class _FixedWordingOnly(logging.Filter):
    """Bolt's and the Socket Mode client's records without the request: they put bodies, events, signatures and
    exception texts into their messages (f-strings), at every level.

    Below WARNING nothing passes (the debug and info lines are where whole bodies go: "Invalid request signature
    detected (… body: …)", "Skipped self event: …", "on_message invoked: …"). A warning or error keeps its wording up
    to the first "(", ":", "{" or "[" — Bolt's messages put every value after one of them — and the exception's
    class, not its text.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return False
        message = record.msg if isinstance(record.msg, str) else ""
        head = re.split(r"[(:{\[\n]", message, maxsplit=1)[0].strip()[:120] or "slack_bolt"
        if record.exc_info and record.exc_info[0] is not None:
            head = f"{head} [{record.exc_info[0].__name__}]"
        record.msg, record.args = head, ()
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        return True


def bolt_logger() -> logging.Logger:
    """The logger to give Bolt (and, through it, the Socket Mode client): warnings and errors, without the request.

    Bolt copies its level and filters to each logger it makes (`slack_bolt.<Class>`), so they all drop the same.
    """
    logger = logging.getLogger("slack_adapter.bolt")
    logger.setLevel(logging.WARNING)
    if not any(isinstance(f, _FixedWordingOnly) for f in logger.filters):
        logger.addFilter(_FixedWordingOnly())
    return logger


async def on_bolt_error(error: Exception, response: BoltResponse | None) -> BoltResponse | None:
    """Bolt's error handler (`app.error`): unhandled requests are acknowledged; failures logged without values.

    Needs `raise_error_for_unhandled_request=True`: otherwise Bolt answers a request no listener matched with 404 and
    logs part of it (event type, command, action ids, dialog submissions).
    """
    if isinstance(error, BoltUnhandledRequestError):
        # Slack retries any answer but 2xx; an event type we do not handle will not be handled on the retry either.
        return BoltResponse(status=200, body="") if response is not None else None
    log.error("slack request failed in a listener or middleware: %s", _where(error))
    return None


def _where(error: BaseException) -> str:
    """The exception's class and the frames it came through (file, line, function); never its message."""
    frames = traceback.extract_tb(error.__traceback__)[-6:]
    path = " < ".join(f"{PurePath(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames))
    return f"{type(error).__name__} at {path}" if path else type(error).__name__
