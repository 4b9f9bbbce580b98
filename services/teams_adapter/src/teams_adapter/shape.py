"""Whether an activity's JSON has the shapes the Bot Framework schema gives its fields, before anything reads it.

botbuilder's deserialiser (msrest) raises on some wrong shapes (`from` as a string, a bad `timestamp`), quietly turns
others into strings (`"id": [1]` becomes "[1]"), and lets others through to fail later in the turn (`conversation`
null). So the messaging endpoint checks the raw JSON first, here, in one place: every top-level field of the schema's
Activity has its JSON type, and the objects the bot reads (`from`, `recipient`, `conversation`, `entities` and their
mentions, `channelData`'s tenant, team and channel) have theirs. The answer names the first field that does not,
from this module's own vocabulary: never the caller's value, never a key the caller made up.

Fields the schema allows to be absent may also be null. Beyond the schema:
- `type`, `channelId`, `serviceUrl`, `from`, `recipient` and `conversation` (with its `id`) are required: the Bot
  Framework channel always sends them, and a turn cannot be answered without them;
- identifiers (`id`, `replyToId`, the accounts' and the conversation's `id`) are at most 1024 characters with no
  control characters, since they become Redis keys and log fields;
- the JSON nests at most 64 levels deep.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

__all__ = ["MAX_DEPTH", "MAX_ID_CHARS", "malformed_field"]

MAX_ID_CHARS = 1024
MAX_DEPTH = 64

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?", re.ASCII)

Check = Callable[[Any], str | None]
"""A field's check: None when the value has the shape, else the name (relative to the field) of what does not."""


def malformed_field(body: Mapping[str, Any]) -> str | None:
    """The first field of the activity `body` (parsed JSON) whose shape is wrong, by its schema name; None if none.

    Fields outside the schema are not looked at (the deserialiser drops them).
    """
    if _too_deep(body):
        return "(nesting)"
    for name, check in _ACTIVITY.items():
        value = body.get(name)
        if value is None:
            if name in _REQUIRED:
                return name
            continue
        problem = check(value)
        if problem is not None:
            return f"{name}{problem}"
    return None


# -- checks of one value --------------------------------------------------------------------------------------------


def _text(value: Any) -> str | None:
    return None if isinstance(value, str) else ""


def _name(value: Any) -> str | None:
    """A non-empty string (an activity's type, channel, service URL)."""
    return None if isinstance(value, str) and value else ""


def _identifier(value: Any) -> str | None:
    ok = isinstance(value, str) and len(value) <= MAX_ID_CHARS and not _CONTROL.search(value)
    return None if ok else ""


def _flag(value: Any) -> str | None:
    return None if isinstance(value, bool) else ""


def _count(value: Any) -> str | None:
    return None if isinstance(value, int) and not isinstance(value, bool) else ""


def _anything(value: Any) -> str | None:
    return None


def _object(value: Any) -> str | None:
    return None if isinstance(value, Mapping) else ""


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return ""
    found = _TIMESTAMP.fullmatch(value)
    if found is None:
        return ""
    text = value
    if found.group(2):  # .NET sends 7 fractional digits; datetime takes at most 6
        start, end = found.span(1)
        text = f"{value[:start]}.{found.group(2)[:6]}{value[end:]}"
    try:
        datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return ""
    return None


def _fields(checks: Mapping[str, Check], *, required: frozenset[str] = frozenset()) -> Check:
    """An object whose listed fields have their shapes (null allowed unless required); other keys are free."""

    def check(value: Any) -> str | None:
        if not isinstance(value, Mapping):
            return ""
        for name, inner in checks.items():
            item = value.get(name)
            if item is None:
                if name in required:
                    return f".{name}"
                continue
            problem = inner(item)
            if problem is not None:
                return f".{name}{problem}"
        return None

    return check


def _list_of(inner: Check) -> Check:
    def check(value: Any) -> str | None:
        if not isinstance(value, list):
            return ""
        for item in value:
            problem = "" if item is None else inner(item)
            if problem is not None:
                return f"[]{problem}"
        return None

    return check


# -- the schema's objects -------------------------------------------------------------------------------------------

_ACCOUNT = _fields(
    {"id": _identifier, "name": _text, "aadObjectId": _text, "role": _text, "properties": _object},
)
_CONVERSATION = _fields(
    {
        "id": _identifier,
        "isGroup": _flag,
        "conversationType": _text,
        "name": _text,
        "aadObjectId": _text,
        "role": _text,
        "tenantId": _text,
        "properties": _object,
    },
    required=frozenset({"id"}),
)
_MENTION = _fields({"type": _text, "mentioned": _ACCOUNT, "text": _text})


def _entity(value: Any) -> str | None:
    """Any entity is an object with a string `type`; a mention's `mentioned` is an account and its `text` a string."""
    problem = _fields({"type": _text})(value)
    if problem is not None:
        return problem
    if str(value.get("type") or "").lower() == "mention":
        return _MENTION(value)
    return None


_REFERENCE = _fields(
    {
        "activityId": _identifier,
        "user": _ACCOUNT,
        "bot": _ACCOUNT,
        "conversation": _CONVERSATION,
        "channelId": _text,
        "locale": _text,
        "serviceUrl": _text,
    }
)
_ID_ONLY = _fields({"id": _text, "name": _text})
_CHANNEL_DATA = _fields(
    {"tenant": _ID_ONLY, "team": _ID_ONLY, "channel": _ID_ONLY, "eventType": _text, "teamsChannelId": _text}
)
_ATTACHMENT = _fields(
    {"contentType": _text, "contentUrl": _text, "content": _anything, "name": _text, "thumbnailUrl": _text}
)

_ACTIVITY: dict[str, Check] = {
    "type": _name,
    "id": _identifier,
    "timestamp": _timestamp,
    "localTimestamp": _timestamp,
    "localTimezone": _text,
    "serviceUrl": _name,
    "channelId": _name,
    "from": _ACCOUNT,
    "conversation": _CONVERSATION,
    "recipient": _ACCOUNT,
    "textFormat": _text,
    "attachmentLayout": _text,
    "membersAdded": _list_of(_ACCOUNT),
    "membersRemoved": _list_of(_ACCOUNT),
    "reactionsAdded": _list_of(_fields({"type": _text})),
    "reactionsRemoved": _list_of(_fields({"type": _text})),
    "topicName": _text,
    "historyDisclosed": _flag,
    "locale": _text,
    "text": _text,
    "speak": _text,
    "inputHint": _text,
    "summary": _text,
    "suggestedActions": _fields({"to": _list_of(_text), "actions": _list_of(_object)}),
    "attachments": _list_of(_ATTACHMENT),
    "entities": _list_of(_entity),
    "channelData": _CHANNEL_DATA,
    "action": _text,
    "replyToId": _identifier,
    "label": _text,
    "valueType": _text,
    "value": _anything,
    "name": _text,
    "relatesTo": _REFERENCE,
    "code": _text,
    "expiration": _timestamp,
    "importance": _text,
    "deliveryMode": _text,
    "listenFor": _list_of(_text),
    "textHighlights": _list_of(_fields({"text": _text, "occurrence": _count})),
    "semanticAction": _fields({"id": _text, "state": _text, "entities": _object}),
    "callerId": _text,
}
"""The Bot Framework Activity's fields (botbuilder.schema.Activity's attribute map) and their JSON shapes."""

_REQUIRED = frozenset({"type", "serviceUrl", "channelId", "from", "recipient", "conversation"})


def _too_deep(body: Any) -> bool:
    """Whether the JSON nests deeper than `MAX_DEPTH` (walked without recursion)."""
    stack: list[tuple[Any, int]] = [(body, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, Mapping):
            children: Any = value.values()
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > MAX_DEPTH:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False
