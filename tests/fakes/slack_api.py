"""A fake of Slack's Web API on a local port, and builders for the requests Slack sends to an app.

Tests of the Slack adapter talk to ``FakeSlackApi`` through the real client libraries:
``WebClient(token=..., base_url=slack.url)``, ``AsyncWebClient`` the same way, or a slack_bolt ``App`` built on such a
client. The server speaks Slack's wire protocol rather than mimicking a Python API:

* every method is ``POST`` (or ``GET``) ``{base}/api/{method}``; the SDK sends GET with a query string for a few read
  methods (``users.info``, ``conversations.*``) when async, and POSTs everything when sync;
* arguments arrive form-encoded, as JSON, as multipart or in the query string; ``blocks``/``attachments`` arrive as a
  JSON string inside a form and as a real list inside JSON, and both are recorded as lists;
* the token comes from ``Authorization: Bearer ...`` or a form ``token`` field (never from a JSON body);
* every answer is a JSON object with ``ok``; failures are ``{"ok": false, "error": "..."}`` with HTTP 200, except
  rate limits (HTTP 429 with a ``Retry-After`` header).

State lives in memory: seed users, channels and thread history, then read the recorded calls and the channels'
messages. The second half of the module builds inbound traffic as Slack sends it: signed headers (``sign_request``),
Events API envelopes, slash-command forms and interactivity ``payload=`` forms.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import secrets
import threading
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit

from tests.fakes.local_server import FakeHttpServer, LocalHttpServer
from tests.fakes.slack_socket import FakeSocketMode

Json = dict[str, Any]
ChannelKind = Literal["public", "private", "im", "mpim"]
CallMatch = str | Callable[["SlackCall"], bool]

TEAM_DOMAIN = "ragbot-test"
_SCOPES = (
    "app_mentions:read,assistant:write,channels:history,channels:read,chat:write,commands,groups:history,"
    "groups:read,im:history,im:read,mpim:history,mpim:read,users:read,users:read.email"
)
_JSON_ARGS = ("blocks", "attachments", "metadata")
_NO_AUTH = frozenset({"api.test"})
_BLOCK_TYPES = frozenset(
    {"actions", "context", "divider", "file", "header", "image", "input", "markdown", "rich_text", "section", "table"}
)
MAX_BLOCKS = 50
MAX_SECTION_TEXT = 3000
MAX_TEXT = 40_000


@dataclass(frozen=True)
class SlackCall:
    """One request the fake received: the method, its decoded arguments, the token used and what it answered."""

    method: str
    args: Json
    token: str | None
    time: float
    status: int
    response: Json


class _SlackError(Exception):
    def __init__(self, error: str, **extra: Any) -> None:
        super().__init__(error)
        self.body: Json = {"ok": False, "error": error, **extra}


def _missing(*names: str) -> _SlackError:
    messages = [f"[ERROR] missing required field: {name}" for name in names]
    return _SlackError("invalid_arguments", response_metadata={"messages": messages})


def _ts_micros(ts: str) -> int:
    seconds, _, fraction = ts.partition(".")
    if not seconds.isdigit() or not fraction.isdigit() or len(fraction) != 6:
        raise ValueError(f"not a Slack ts (want 'SECONDS.MICROS', e.g. '1700000000.000100'): {ts!r}")
    return int(seconds) * 1_000_000 + int(fraction)


def _ts(micros: int) -> str:
    return f"{micros // 1_000_000}.{micros % 1_000_000:06d}"


def _copy(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _parse_multipart(content_type: str, raw: bytes) -> Json:
    message = BytesParser(policy=HTTP).parsebytes(b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + raw)
    fields: Json = {}
    for part in message.walk():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            fields[name] = payload if part.get_filename() else payload.decode()
    return fields


def _parse_request(headers: Mapping[str, str], query: str, raw: bytes) -> tuple[Json, str | None]:
    """Decodes a Web API request into (arguments, token) the way Slack does."""
    args: Json = dict(parse_qsl(query, keep_blank_values=True))
    content_type = headers.get("content-type", "")
    media_type = content_type.split(";")[0].strip().lower()
    body: Json = {}
    if raw.strip():
        if media_type == "application/json":
            try:
                decoded = json.loads(raw)
            except ValueError:
                raise _SlackError("invalid_json") from None
            if not isinstance(decoded, dict):
                raise _SlackError("json_not_object")
            body = decoded
        elif media_type == "multipart/form-data":
            body = _parse_multipart(content_type, raw)
        else:
            body = dict(parse_qsl(raw.decode(), keep_blank_values=True))
    authorization = headers.get("authorization", "")
    token = authorization[7:].strip() if authorization.lower().startswith("bearer ") else None
    form_token = body.pop("token", None) if media_type != "application/json" else None
    args.update(body)
    for name in _JSON_ARGS:
        if isinstance(args.get(name), str):
            try:
                args[name] = json.loads(args[name])
            except ValueError:
                pass  # left as a string; the method answers invalid_blocks_format / invalid_attachments
    return args, token or (str(form_token) if form_token else None)


def _text_errors(obj: Any, pointer: str, limit: int, *, plain_only: bool = False) -> list[str]:
    if not isinstance(obj, dict) or not isinstance(obj.get("text"), str):
        return [f"must provide an object [json-pointer:{pointer}]"]
    kinds = ("plain_text",) if plain_only else ("plain_text", "mrkdwn")
    if obj.get("type") not in kinds:
        return [f"must be one of {', '.join(kinds)} [json-pointer:{pointer}/type]"]
    if not obj["text"]:
        return [f"must be more than 0 characters [json-pointer:{pointer}/text]"]
    if len(obj["text"]) > limit:
        return [f"must be less than {limit + 1} characters [json-pointer:{pointer}/text]"]
    return []


def _check_blocks(blocks: Any) -> None:
    """Applies Slack's Block Kit limits (the ones a bot posting answers can hit); raises like the API answers."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise _SlackError("invalid_blocks_format")
    errors: list[str] = []
    if len(blocks) > MAX_BLOCKS:
        errors.append(f"no more than {MAX_BLOCKS} items allowed [json-pointer:/blocks]")
    for i, block in enumerate(blocks):
        at, kind = f"/blocks/{i}", block.get("type")
        if kind not in _BLOCK_TYPES:
            errors.append(f"unsupported type: {kind} [json-pointer:{at}/type]")
            continue
        if len(str(block.get("block_id", ""))) > 255:
            errors.append(f"must be less than 256 characters [json-pointer:{at}/block_id]")
        if kind == "section":
            fields = block.get("fields")
            if "text" not in block and not fields:
                errors.append(f"must provide either text or fields [json-pointer:{at}]")
            if "text" in block:
                errors += _text_errors(block["text"], f"{at}/text", MAX_SECTION_TEXT)
            if isinstance(fields, list):
                if len(fields) > 10:
                    errors.append(f"no more than 10 items allowed [json-pointer:{at}/fields]")
                for j, item in enumerate(fields):
                    errors += _text_errors(item, f"{at}/fields/{j}", 2000)
        elif kind == "header":
            errors += _text_errors(block.get("text"), f"{at}/text", 150, plain_only=True)
        elif kind == "markdown" and len(str(block.get("text", ""))) > 12_000:
            errors.append(f"must be less than 12001 characters [json-pointer:{at}/text]")
        elif kind in ("context", "actions"):
            limit, elements = (10 if kind == "context" else 25), block.get("elements")
            if not isinstance(elements, list) or not 0 < len(elements) <= limit:
                errors.append(f"must have between 1 and {limit} items [json-pointer:{at}/elements]")
    if errors:
        raise _SlackError(
            "invalid_blocks", errors=errors, response_metadata={"messages": [f"[ERROR] {e}" for e in errors]}
        )


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        url = urlsplit(self.path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        fake: FakeSlackApi = cast(FakeHttpServer, self.server).fake
        status, extra, body = fake._handle(url.path, url.query, headers, raw)
        self.send_response(status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_GET = do_POST

    def log_message(self, format: str, *args: Any) -> None:
        """Keeps test output quiet."""


class FakeSlackApi(LocalHttpServer):
    """Slack's Web API for one workspace and one bot token, served on 127.0.0.1 at an ephemeral port."""

    def __init__(
        self,
        bot_token: str,
        *,
        bot_user_id: str = "UBOT",
        bot_id: str = "BBOT",
        team_id: str = "T1",
        app_id: str = "A1",
    ) -> None:
        super().__init__(_Handler, name="fake-slack-api", path="/api/")
        self.bot_token, self.bot_user_id, self.bot_id = bot_token, bot_user_id, bot_id
        self.team_id, self.app_id = team_id, app_id
        self._cond = threading.Condition(threading.RLock())
        self._calls: list[SlackCall] = []
        self._users: dict[str, Json] = {}
        self._channels: dict[str, Json] = {}
        self._messages: dict[str, list[Json]] = defaultdict(list)
        self._next_micros = 1_700_000_000_000_100
        self._failures: dict[str, deque[tuple[str, int, int | None]]] = defaultdict(deque)
        self._delays: dict[str, float] = {}
        self._methods: dict[str, Callable[[Json], Json]] = {
            "api.test": lambda args: {"args": args},
            "auth.test": self._auth_test,
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "chat.postEphemeral": self._post_ephemeral,
            "chat.delete": self._delete,
            "users.info": self._users_info,
            "conversations.info": self._conversations_info,
            "conversations.members": self._conversations_members,
            "conversations.replies": self._conversations_replies,
            "assistant.threads.setStatus": self._set_status,
        }
        self.add_user(bot_user_id, email=None, name="ragbot", is_bot=True)
        self.app_token: str | None = None
        self.socket_mode: FakeSocketMode | None = None

    # ---- lifecycle

    def enable_socket_mode(self, app_token: str) -> FakeSocketMode:
        """Serve Socket Mode: ``apps.connections.open`` with ``app_token`` hands out the WebSocket's URL."""
        self.app_token = app_token
        self.socket_mode = FakeSocketMode().start()
        self._methods["apps.connections.open"] = lambda args: {"url": self.socket_mode.url}  # type: ignore[union-attr]
        return self.socket_mode

    def stop(self) -> None:
        if self.socket_mode is not None:
            self.socket_mode.stop()
            self.socket_mode = None
        super().stop()

    def response_url(self, key: str = "1") -> str:
        """A response_url served here: what the app POSTs to it is recorded as method ``"response_url"``."""
        if not self.url:
            raise RuntimeError("start the fake first")
        return f"{self.url.removesuffix('/api/')}/hooks/{key}"

    # ---- seeding

    def add_user(self, user_id: str, *, email: str | None, name: str | None = None, is_bot: bool = False) -> None:
        name = name or (email.split("@")[0] if email else user_id.lower())
        profile: Json = {"real_name": name.title(), "display_name": name, "team": self.team_id}
        if email is not None:
            profile["email"] = email
        if is_bot:
            profile["bot_id"] = self.bot_id if user_id == self.bot_user_id else f"B{user_id}"
        user = {"id": user_id, "team_id": self.team_id, "name": name, "real_name": profile["real_name"]}
        user.update(deleted=False, is_bot=is_bot, is_app_user=False, profile=profile)
        with self._cond:
            self._users[user_id] = user

    def add_channel(
        self, channel_id: str, *, kind: ChannelKind = "public", members: Iterable[str] = (), name: str | None = None
    ) -> None:
        if kind not in ("public", "private", "im", "mpim"):
            raise ValueError(f"unknown channel kind {kind!r}")
        members = list(members)
        channel: Json = {
            "id": channel_id,
            "created": 1_600_000_000,
            "is_channel": kind in ("public", "private"),
            "is_group": False,
            "is_im": kind == "im",
            "is_mpim": kind == "mpim",
            "is_private": kind != "public",
            "is_archived": False,
            "is_member": self.bot_user_id in members or kind == "im",
            "context_team_id": self.team_id,
        }
        if kind == "im":  # DMs have no name; they name the other party
            channel["user"] = next((m for m in members if m != self.bot_user_id), members[0] if members else None)
        else:
            default = "mpdm-" + "--".join(members) + "-1" if kind == "mpim" else channel_id.lower()
            channel.update(name=name or default, is_general=False, is_shared=False, is_ext_shared=False)
        with self._cond:
            self._channels[channel_id] = {"info": channel, "members": members}

    def add_message(
        self,
        channel: str,
        *,
        ts: str | None = None,
        user: str | None = None,
        bot_id: str | None = None,
        text: str,
        thread_ts: str | None = None,
    ) -> str:
        """Seeds history (e.g. the earlier turns of a thread); returns the message's ts."""
        if user is None and bot_id is None:
            raise ValueError("a message has a user or a bot_id")
        message: Json = {"type": "message", "text": text, "team": self.team_id}
        message.update({k: v for k, v in (("user", user), ("bot_id", bot_id)) if v is not None})
        with self._cond:
            self._seeded(channel)
            return str(self._store(channel, message, thread_ts, ts)["ts"])

    # ---- inspection

    @property
    def calls(self) -> list[SlackCall]:
        with self._cond:
            return list(self._calls)

    def calls_to(self, method: str) -> list[SlackCall]:
        return [call for call in self.calls if call.method == method]

    def messages(self, channel: str, thread_ts: str | None = None) -> list[Json]:
        """Current messages of a channel (all of them, thread replies included), or of one thread; oldest first."""
        with self._cond:
            self._seeded(channel)
            found = self._messages[channel]
            if thread_ts is not None:
                found = [m for m in found if thread_ts in (m["ts"], m.get("thread_ts"))]
            return [self._view(channel, m) for m in found]

    def wait_for(self, match: CallMatch, *, timeout: float = 10.0, count: int = 1) -> SlackCall:
        """Blocks until ``count`` calls match (a method name or a predicate); returns the ``count``-th one."""

        def matches(call: SlackCall) -> bool:
            try:
                return call.method == match if isinstance(match, str) else bool(match(call))
            except (KeyError, TypeError, ValueError, IndexError):
                return False

        with self._cond:
            if self._cond.wait_for(lambda: sum(map(matches, self._calls)) >= count, timeout):
                return [call for call in self._calls if matches(call)][count - 1]
            seen = [f"{c.method}({', '.join(f'{k}={str(v)[:40]!r}' for k, v in c.args.items())})" for c in self._calls]
        wanted = match if isinstance(match, str) else getattr(match, "__name__", "predicate")
        raise AssertionError(f"no {count} call(s) matching {wanted} within {timeout}s; calls seen: {seen or 'none'}")

    # ---- fault injection

    def fail_next(self, method: str, *, error: str = "ratelimited", status: int = 429, retry_after: int = 1) -> None:
        """The next call to ``method`` fails: HTTP ``status`` with ``{"ok": false, "error": error}``.

        A 429 carries ``Retry-After: retry_after`` as Slack's does. Calling it n times fails the next n calls.
        """
        with self._cond:
            self._failures[method].append((error, status, retry_after))

    def delay(self, method: str, seconds: float) -> None:
        """Every later call to ``method`` waits ``seconds`` before it is handled; 0 removes the delay."""
        with self._cond:
            self._delays[method] = seconds

    # ---- the protocol

    def _handle(
        self, path: str, query: str, headers: Mapping[str, str], raw: bytes
    ) -> tuple[int, dict[str, str], bytes]:
        if path.startswith("/hooks/"):
            return self._handle_response_url(headers, raw)
        method = path.removeprefix("/api/").lstrip("/")
        self._stopping.wait(self._delays.get(method, 0.0))
        status, extra, token = 200, {"X-OAuth-Scopes": _SCOPES}, None
        args: Json = {}
        try:
            args, token = _parse_request(headers, query, raw)
            with self._cond:
                if method not in self._methods:
                    raise _SlackError("unknown_method", req_method=method)
                expected = self.app_token if method == "apps.connections.open" else self.bot_token
                if method not in _NO_AUTH and token != expected:
                    raise _SlackError("invalid_auth" if token else "not_authed")
                if self._failures[method]:
                    error, status, retry_after = self._failures[method].popleft()
                    if status == 429:
                        extra["Retry-After"] = str(retry_after)
                    raise _SlackError(error)
                body: Json = {"ok": True, **self._methods[method](args)}
        except _SlackError as failure:
            body = failure.body
        except Exception as bug:  # a bug in the fake: answer like Slack's outages do, and show what broke
            status, body = 500, {"ok": False, "error": "internal_error", "detail": repr(bug)}
        self._record(SlackCall(method, args, token, time.time(), status, body))
        return status, {"Content-Type": "application/json; charset=utf-8", **extra}, json.dumps(body).encode()

    def _handle_response_url(self, headers: Mapping[str, str], raw: bytes) -> tuple[int, dict[str, str], bytes]:
        args: Json = {}
        status, answer = 200, "ok"
        try:
            args, _ = _parse_request(headers, "", raw)
            self._content(args)
        except _SlackError as failure:
            status, answer = 400, str(failure.body["error"])
        self._record(SlackCall("response_url", args, None, time.time(), status, {"ok": status == 200}))
        return status, {"Content-Type": "text/html"}, answer.encode()

    def _record(self, call: SlackCall) -> None:
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

    # ---- state helpers (called with the lock held)

    def _channel(self, channel_id: Any) -> Json:
        if not isinstance(channel_id, str) or channel_id not in self._channels:
            raise _SlackError("channel_not_found")
        return self._channels[channel_id]

    def _seeded(self, channel_id: str) -> None:
        if channel_id not in self._channels:
            raise KeyError(f"channel {channel_id!r} was never added; known: {sorted(self._channels)}")

    def _new_ts(self) -> str:
        micros, self._next_micros = self._next_micros, self._next_micros + 100
        return _ts(micros)

    def _store(self, channel: str, message: Json, thread_ts: str | None, ts: str | None = None) -> Json:
        micros = self._next_micros if ts is None else _ts_micros(ts)
        message["ts"] = _ts(micros)
        if any(m["ts"] == message["ts"] for m in self._messages[channel]):
            raise ValueError(f"ts {message['ts']} already used in {channel}")
        self._next_micros = max(self._next_micros, micros + 100)
        if thread_ts:
            message["thread_ts"] = thread_ts
            parent = next((m for m in self._messages[channel] if m["ts"] == thread_ts), None)
            if parent is not None and thread_ts != message["ts"]:
                message["parent_user_id"] = parent.get("user") or parent.get("bot_id")
        self._messages[channel].append(message)
        self._messages[channel].sort(key=lambda m: _ts_micros(m["ts"]))
        return message

    def _find(self, channel: str, ts: Any) -> Json:
        for message in self._messages[channel]:
            if message["ts"] == ts:
                return message
        raise _SlackError("message_not_found")

    def _view(self, channel: str, message: Json) -> Json:
        """A stored message as Slack shows it: a thread parent carries its reply summary."""
        view = _copy(message)
        replies = [m for m in self._messages[channel] if m.get("thread_ts") == message["ts"] != m["ts"]]
        if replies:
            users = list(dict.fromkeys(m.get("user") or m.get("bot_id") for m in replies))
            view.update(thread_ts=message["ts"], reply_count=len(replies), reply_users=users)
            view.update(reply_users_count=len(users), latest_reply=replies[-1]["ts"])
        return cast(Json, view)

    def _content(self, args: Json) -> tuple[str, list[Json] | None, Any]:
        text, blocks, attachments = args.get("text"), args.get("blocks"), args.get("attachments")
        if blocks is not None:
            _check_blocks(blocks)
        if attachments is not None and not isinstance(attachments, list):
            raise _SlackError("invalid_attachments")
        if not text and not blocks and not attachments:
            raise _SlackError("no_text")
        if text is not None and len(str(text)) > MAX_TEXT:
            raise _SlackError("msg_too_long")
        return str(text or ""), blocks, attachments

    def _is_own(self, message: Json) -> bool:
        return message.get("bot_id") == self.bot_id or message.get("user") == self.bot_user_id

    def _page(self, items: list[Any], args: Json, default_limit: int) -> tuple[list[Any], str]:
        try:
            limit = int(args.get("limit") or default_limit)
            cursor = str(args.get("cursor") or "")
            start = int(base64.b64decode(cursor).decode().removeprefix("next:")) if cursor else 0
        except ValueError:
            raise _SlackError("invalid_cursor" if args.get("cursor") else "invalid_limit") from None
        limit = min(max(limit, 1), 1000)
        end = start + limit
        next_cursor = base64.b64encode(f"next:{end}".encode()).decode() if end < len(items) else ""
        return items[start:end], next_cursor

    # ---- methods

    def _auth_test(self, args: Json) -> Json:
        return {
            "url": f"https://{TEAM_DOMAIN}.slack.com/",
            "team": "Ragbot Test",
            "user": self._users[self.bot_user_id]["name"],
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _post_message(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))["info"]["id"]
        text, blocks, attachments = self._content(args)
        message: Json = {
            "type": "message",
            "user": self.bot_user_id,
            "bot_id": self.bot_id,
            "app_id": self.app_id,
            "text": text,
            "team": self.team_id,
        }
        message.update({k: v for k, v in (("blocks", blocks), ("attachments", attachments)) if v})
        thread_ts = str(args["thread_ts"]) if args.get("thread_ts") else None
        stored = self._store(channel, message, thread_ts)
        return {"channel": channel, "ts": stored["ts"], "message": _copy(stored)}

    def _update(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))["info"]["id"]
        message = self._find(channel, args.get("ts"))
        if not self._is_own(message):
            raise _SlackError("cant_update_message")
        text, blocks, attachments = self._content(args)
        if "text" in args:
            message["text"] = text
        for key, value in (("blocks", blocks), ("attachments", attachments)):
            if value:
                message[key] = value
            elif value is not None:  # an empty list removes them; leaving the argument out keeps them
                message.pop(key, None)
        message["edited"] = {"user": self.bot_user_id, "ts": self._new_ts()}
        return {"channel": channel, "ts": message["ts"], "text": message["text"], "message": _copy(message)}

    def _post_ephemeral(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))
        if not args.get("user"):
            raise _missing("user")
        if args["user"] not in channel["members"]:
            raise _SlackError("user_not_in_channel")
        self._content(args)
        return {"message_ts": self._new_ts()}

    def _delete(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))["info"]["id"]
        message = self._find(channel, args.get("ts"))
        if not self._is_own(message):
            raise _SlackError("cant_delete_message")
        self._messages[channel].remove(message)
        return {"channel": channel, "ts": message["ts"]}

    def _users_info(self, args: Json) -> Json:
        if not args.get("user"):
            raise _missing("user")
        if args["user"] not in self._users:
            raise _SlackError("user_not_found")
        return {"user": _copy(self._users[args["user"]])}

    def _conversations_info(self, args: Json) -> Json:
        return {"channel": _copy(self._channel(args.get("channel"))["info"])}

    def _conversations_members(self, args: Json) -> Json:
        members, next_cursor = self._page(self._channel(args.get("channel"))["members"], args, 100)
        return {"members": list(members), "response_metadata": {"next_cursor": next_cursor}}

    def _conversations_replies(self, args: Json) -> Json:
        channel = self._channel(args.get("channel"))["info"]["id"]
        if not args.get("ts"):
            raise _missing("ts")
        parent = next((m for m in self._messages[channel] if m["ts"] == args["ts"]), None)
        if parent is None:
            raise _SlackError("thread_not_found")
        thread = [parent] + [m for m in self._messages[channel] if m.get("thread_ts") == parent["ts"] != m["ts"]]
        page, next_cursor = self._page([self._view(channel, m) for m in thread], args, 1000)
        return {"messages": page, "has_more": bool(next_cursor), "response_metadata": {"next_cursor": next_cursor}}

    def _set_status(self, args: Json) -> Json:
        missing = [name for name in ("channel_id", "thread_ts") if not args.get(name)]
        missing += [] if "status" in args else ["status"]  # an empty status clears it
        if missing:
            raise _missing(*missing)
        self._channel(args["channel_id"])
        return {}


# ---- inbound requests, as Slack sends them to the app


def sign_request(body: bytes | str, *, signing_secret: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers Slack signs a request with (v0: HMAC-SHA256 of ``v0:{timestamp}:{body}``)."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    raw = body.encode() if isinstance(body, str) else body
    digest = hmac.new(signing_secret.encode(), b"v0:%d:" % timestamp + raw, hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": str(timestamp), "X-Slack-Signature": f"v0={digest}"}


_event_counter = itertools.count(100)


def _event_ts() -> str:
    return f"{int(time.time())}.{next(_event_counter) % 1_000_000:06d}"


def _rich_text(text: str) -> list[Json]:
    """The ``rich_text`` block Slack attaches to a user's message, with ``<@U..>`` mentions as user elements."""
    elements: list[Json] = []
    for i, piece in enumerate(re.split(r"<@([A-Z0-9]+)>", text)):
        if i % 2:
            elements.append({"type": "user", "user_id": piece})
        elif piece:
            elements.append({"type": "text", "text": piece})
    section = {"type": "rich_text_section", "elements": elements}
    return [{"type": "rich_text", "block_id": secrets.token_hex(3), "elements": [section]}]


def event_callback(
    event: Json,
    *,
    event_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
    bot_user_id: str = "UBOT",
) -> Json:
    """The Events API envelope Slack POSTs (as JSON) around one event."""
    event_time = int(float(event.get("event_ts") or time.time()))
    return {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "context_team_id": team_id,
        "context_enterprise_id": None,
        "api_app_id": api_app_id,
        "event": event,
        "type": "event_callback",
        "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
        "event_time": event_time,
        "authorizations": [
            {
                "enterprise_id": None,
                "team_id": team_id,
                "user_id": bot_user_id,
                "is_bot": True,
                "is_enterprise_install": False,
            }
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{secrets.token_urlsafe(24)}",
    }


def _message_fields(text: str, user: str, channel: str, ts: str | None, thread_ts: str | None, team_id: str) -> Json:
    ts = ts or _event_ts()
    fields: Json = {
        "user": user,
        "ts": ts,
        "client_msg_id": str(uuid.uuid4()),
        "text": text,
        "team": team_id,
        "blocks": _rich_text(text),
        "channel": channel,
        "event_ts": ts,
    }
    if thread_ts is not None:
        fields["thread_ts"] = thread_ts
    return fields


def app_mention_event(
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    ts: str | None = None,
    thread_ts: str | None = None,
    team_id: str = "T1",
    bot_user_id: str = "UBOT",
) -> Json:
    """An ``app_mention`` event; ``<@bot_user_id>`` is put in front of ``text`` unless it already mentions the bot."""
    mention = f"<@{bot_user_id}>"
    text = text if mention in text else f"{mention} {text}"
    return {"type": "app_mention", **_message_fields(text, user, channel, ts, thread_ts, team_id)}


def dm_message_event(
    text: str,
    *,
    user: str = "U1",
    channel: str = "D1",
    ts: str | None = None,
    thread_ts: str | None = None,
    team_id: str = "T1",
) -> Json:
    """A ``message`` event from a user in the bot's DM (``message.im``: ``channel_type`` is ``"im"``)."""
    return {"type": "message", **_message_fields(text, user, channel, ts, thread_ts, team_id), "channel_type": "im"}


def slash_command_form(
    command: str = "/ask",
    text: str = "",
    *,
    user_id: str = "U1",
    channel_id: str = "C1",
    response_url: str = "https://hooks.slack.com/commands/T1/1/fake",
    trigger_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
) -> bytes:
    """The form body Slack POSTs for a slash command."""
    fields = {
        "token": "legacy-verification-token",
        "team_id": team_id,
        "team_domain": TEAM_DOMAIN,
        "channel_id": channel_id,
        "channel_name": "directmessage" if channel_id.startswith("D") else channel_id.lower(),
        "user_id": user_id,
        "user_name": user_id.lower(),
        "command": command,
        "text": text,
        "api_app_id": api_app_id,
        "is_enterprise_install": "false",
        "response_url": response_url,
        "trigger_id": trigger_id or f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}",
    }
    return urlencode(fields).encode()


def block_actions_form(
    actions: list[Json],
    *,
    user_id: str = "U1",
    channel_id: str = "C1",
    message_ts: str,
    container: Json | None = None,
    message: Json | None = None,
    thread_ts: str | None = None,
    response_url: str = "https://hooks.slack.com/actions/T1/1/fake",
    trigger_id: str | None = None,
    team_id: str = "T1",
    api_app_id: str = "A1",
) -> bytes:
    """The form body (``payload=<json>``) Slack POSTs when a user clicks an element in a message."""
    now = _event_ts()
    filled = [{"type": "button", "block_id": "actions", "action_ts": now, **action} for action in actions]
    default_container: Json = {
        "type": "message",
        "message_ts": message_ts,
        "channel_id": channel_id,
        "is_ephemeral": False,
    }
    if thread_ts is not None:
        default_container["thread_ts"] = thread_ts
    payload: Json = {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "name": user_id.lower(), "team_id": team_id},
        "api_app_id": api_app_id,
        "token": "legacy-verification-token",
        "container": container or default_container,
        "trigger_id": trigger_id or f"{secrets.randbelow(10**10)}.{secrets.randbelow(10**10)}.{secrets.token_hex(16)}",
        "team": {"id": team_id, "domain": TEAM_DOMAIN},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": channel_id, "name": "directmessage" if channel_id.startswith("D") else channel_id.lower()},
        "message": message or {"type": "message", "ts": message_ts, "text": "", "user": "UBOT", "bot_id": "BBOT"},
        "state": {"values": {}},
        "response_url": response_url,
        "actions": filled,
    }
    return urlencode({"payload": json.dumps(payload)}).encode()
