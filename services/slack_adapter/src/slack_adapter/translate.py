"""Slack ⇄ ragbot, pure functions: events to question parts, answers to Block Kit within Slack's limits.

Slack's limits that shape the rendering: 50 blocks per message, 3000 characters of text per section, 75 characters
per button label, 2000 characters per button value, 40 000 characters of fallback `text`. A long answer is split
into several sections at paragraph or sentence boundaries, and into several messages if it needs more blocks.

Markup: every piece of text that reaches Slack (answer blocks, the fallback `text`, notices, partial answers, the
`/ask` echo, source titles) goes through `escape`, Slack's one escaping rule (`&`, `<`, `>` as entities), so
`<!channel>`, `<@U…>` or `<https://evil|label>` from a document, a question or the model shows as the characters
typed and never pings or links. The only `<…>` in a message are the links `link` builds, and only for a URL the
URL policy (`ragbot.urls`) accepts. Our mrkdwn objects are `verbatim`, so Slack does not turn plain words into
channel links or mentions either.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from ragbot import texts
from ragbot.models import MAX_QUESTION_CHARS, Citation, Outcome, Turn
from ragbot.urls import safe_url

__all__ = [
    "FEEDBACK_DOWN",
    "FEEDBACK_UP",
    "PLACEHOLDER",
    "SlackMessage",
    "escape",
    "history_turns",
    "link",
    "question_text",
    "render_answer",
    "render_echo",
    "render_notice",
    "render_partial",
]

PLACEHOLDER = f":hourglass_flowing_sand: {texts.PROGRESS}"
FEEDBACK_UP = "ragbot_feedback_up"
FEEDBACK_DOWN = "ragbot_feedback_down"
MAX_BLOCKS = 50
MAX_SECTION_CHARS = 3000
MAX_FALLBACK_CHARS = 40_000
MAX_PARTIAL_CHARS = 3_000
"""A partial answer is an edit of the progress message: short, since it is replaced by the answer anyway."""

_MENTION = re.compile(r"<@[UW][A-Z0-9]+(?:\|[^>]*)?>")
_LINK = re.compile(r"<(https?://[^|>]+)\|([^>]+)>")
_BARE_LINK = re.compile(r"<(https?://[^|>]+)>")
_USER_ID = re.compile(r"[UW][A-Z0-9]{1,31}")

SlackMessage = dict[str, Any]
"""Keyword arguments of chat.postMessage / chat.update: `text` (fallback) and `blocks`."""


def question_text(text: str, *, bot_user_id: str | None) -> str:
    """What the user asked, as plain text: the bot's mention removed, other mentions and links made readable."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = _MENTION.sub("someone", text)
    text = _LINK.sub(r"\2", text)
    text = _BARE_LINK.sub(r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return " ".join(text.split())


def history_turns(
    messages: Iterable[Mapping[str, Any]], *, before_ts: str, bot_user_id: str | None, bot_id: str | None, limit: int
) -> tuple[Turn, ...]:
    """The thread's earlier turns (at most `limit`, newest kept), from conversations.replies messages."""
    turns: list[Turn] = []
    for message in messages:
        if _ts(message.get("ts")) >= _ts(before_ts) or message.get("subtype") not in (None, "bot_message"):
            continue
        text = question_text(str(message.get("text") or ""), bot_user_id=bot_user_id)
        if not text or text == PLACEHOLDER:
            continue
        mine = (bot_id and message.get("bot_id") == bot_id) or (bot_user_id and message.get("user") == bot_user_id)
        if message.get("bot_id") and not mine:
            continue  # other bots' chatter is not part of the conversation
        turns.append(Turn(role="assistant" if mine else "user", text=text[:16_000]))
    return tuple(turns[-limit:]) if limit else ()


def escape(text: str) -> str:
    """Any text as mrkdwn that shows exactly that text: the one escaping function for everything sent to Slack.

    Slack reads `&`, `<` and `>` as control characters (its formatting reference, "Escaping text") and decodes
    only these three entities, so they alone are replaced: a mention, a special such as `<!here>`, a date token or
    a link in the text becomes visible characters, and an entity already in the text (`&lt;`) shows as typed.
    """
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def link(url: str, label: str) -> str:
    """A link to `url` shown as `label`, if the URL policy accepts `url`; otherwise `label` as plain text.

    The label is escaped, and `|` (which would end it early) is shown as `¦`; the URL has no `<`, `>` or `|`
    (the policy refuses them) and its `&` is escaped as Slack expects inside a link.
    """
    title = escape(" ".join(label.split()) or url).replace("|", "¦")
    target = safe_url(url)
    return f"<{escape(target)}|{title}>" if target else title


def render_echo(user: str, text: str) -> str:
    """The message that shows an `/ask` question in the channel: the asker's mention, then the question as text.

    Args:
        user: The asker's Slack user id (mentioned only if it looks like one).
        text: The command's text as Slack sent it; mentions and links in it are shown as readable text.
    """
    who = f"<@{user}>" if _USER_ID.fullmatch(user) else "Someone"
    question = question_text(text, bot_user_id=None)[:MAX_QUESTION_CHARS]
    return f"{who} asked: {escape(question)}"


def render_partial(text: str) -> str:
    """A partial answer as the `text` of an edit of the progress message: escaped, within `MAX_PARTIAL_CHARS`."""
    return _clip_escaped(escape(text), MAX_PARTIAL_CHARS)


def render_answer(outcome: Outcome) -> list[SlackMessage]:
    """The answer as one or more messages: text sections, sources, then feedback buttons on the last one."""
    answer = outcome.answer
    updated = {p.chunk.chunk_id: p.chunk.updated_at for p in outcome.passages}
    blocks: list[dict[str, Any]] = [_section(part) for part in _split(escape(answer.text), MAX_SECTION_CHARS)]
    if answer.citations:
        title = "*Closest sources*" if answer.refused else "*Sources*"
        blocks.append({"type": "divider"})
        blocks.append(_section(title))
        blocks.extend(_section(part) for part in _split(_sources(answer.citations, updated), MAX_SECTION_CHARS))
    note = "Not found in the documents" if answer.refused else "Answered from your company's documents"
    context = {"type": "mrkdwn", "text": f"{note} · was this helpful?", "verbatim": True}
    blocks.append({"type": "context", "elements": [context]})
    blocks.append(_feedback_buttons(outcome.question.question_id))
    fallback = _clip_escaped(escape(answer.text), MAX_FALLBACK_CHARS)
    pages = [blocks[i : i + MAX_BLOCKS] for i in range(0, len(blocks), MAX_BLOCKS)]
    if len(pages) > 1 and len(pages[-1]) < 2:  # keep the buttons with their context line
        pages[-1][:0] = pages[-2][-1:]
        pages[-2] = pages[-2][:-1]
    return [{"text": fallback if i == 0 else "(continued)", "blocks": page} for i, page in enumerate(pages)]


def render_notice(text: str) -> SlackMessage:
    """A notice (an apology, a limit reached) as a message: the same escaped text in `text` and in its block."""
    return {"text": escape(text), "blocks": [_section(escape(text))]}


def _sources(citations: Sequence[Citation], updated: Mapping[str, datetime]) -> str:
    lines = []
    for citation in citations:
        parts = [f"[{citation.n}] {link(citation.url, citation.title or citation.doc_id)}"]
        if citation.heading_path:
            parts.append(escape(citation.heading_path))
        when = updated.get(citation.chunk_id)
        if when is not None:
            parts.append(f"updated {when:%Y-%m-%d}")
        lines.append(" · ".join(parts))
    return "\n".join(lines)


def _feedback_buttons(question_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "ragbot_feedback",
        "elements": [
            {
                "type": "button",
                "action_id": FEEDBACK_UP,
                "text": {"type": "plain_text", "text": ":thumbsup: Helpful", "emoji": True},
                "value": question_id[:2000],
            },
            {
                "type": "button",
                "action_id": FEEDBACK_DOWN,
                "text": {"type": "plain_text", "text": ":thumbsdown: Not helpful", "emoji": True},
                "value": question_id[:2000],
            },
        ],
    }


def _section(text: str) -> dict[str, Any]:
    # verbatim: Slack links only what we wrote as a link; it turns no plain word into a channel link or mention.
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " ", "verbatim": True}}


def _clip_escaped(text: str, limit: int) -> str:
    """Escaped `text` in at most `limit` characters, never cut inside an entity such as `&amp;`."""
    if len(text) <= limit:
        return text
    cut = text[:limit]
    amp = cut.rfind("&")
    return cut[:amp] if amp >= 0 and ";" not in cut[amp:] else cut


def _split(text: str, limit: int) -> list[str]:
    """Cut `text` into pieces of at most `limit` characters, at a paragraph, line, sentence or word boundary."""
    pieces: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = max(window.rfind("\n\n"), window.rfind("\n"), window.rfind(". "), window.rfind(" "))
        # Never cut inside an escape sequence such as &amp;.
        amp = window.rfind("&", max(cut, 0))
        if amp > 0 and ";" not in window[amp:]:
            cut = amp - 1
        cut = cut + 1 if cut > limit // 2 else limit
        pieces.append(text[:cut].rstrip())
        text = text[cut:].lstrip()
    if text or not pieces:
        pieces.append(text)
    return pieces


def _ts(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0
