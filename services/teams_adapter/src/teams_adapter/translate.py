"""Teams ⇄ ragbot, pure functions: message text to a question, answers to message activities (JSON dicts).

An answer is a markdown message whose `[n]` markers Teams renders as citations, following Microsoft's "bot messages
with AI-generated content": one `https://schema.org/Message` entity carries the AI label (`additionalType`) and a
`Claim` per cited source (`position` n, an `appearance` DigitalDocument with name ≤ 80 characters, abstract ≤ 160,
at most 3 keywords of ≤ 28), and `channelData.feedbackLoopEnabled` turns on Teams' own 👍/👎 controls. A refusal
has no claims to make: it lists the closest sources in the text instead. `card=True` renders an Adaptive Card
(text, sources, 👍/👎 `Action.Submit`) for clients that show neither citations nor the feedback loop.

Teams refuses a message over about 28 KB; `MAX_MESSAGE_BYTES` keeps a margin under that, measured as UTF-8 JSON.

Markup: every text Teams renders as Markdown (the answer message, the card's TextBlocks, the card's summary, the
streamed partials, source titles and headings) goes through `escape`, the one escaping function: Markdown's link,
image, emphasis, code and heading characters are backslash-escaped and `&`, `<`, `>` become entities, so
`[the form](https://evil.example/phish)`, `![x](…)`, `<a href=…>` or `&lt;b&gt;` from a document, a question or
the model shows as the characters typed. Only the `[n]` citation markers stay live (and nothing after one can turn
it into a link). The only links are the ones `_source_list` builds, and only for a URL the URL policy
(`ragbot.urls`) accepts; a citation entity carries a URL only if it passes too. Notices are plain text.
"""

from __future__ import annotations

import html
import json
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

from ragbot.models import Answer, Citation, Outcome
from ragbot.urls import safe_url

__all__ = [
    "AI_LABEL_TYPE",
    "CARD_FEEDBACK",
    "MAX_ABSTRACT_CHARS",
    "MAX_CITATIONS",
    "MAX_MESSAGE_BYTES",
    "MAX_NAME_CHARS",
    "card_feedback",
    "escape",
    "invoke_feedback",
    "question_text",
    "render_answer",
    "render_notice",
    "render_partial",
]

MAX_MESSAGE_BYTES = 27_000
MAX_CITATIONS = 20
MAX_NAME_CHARS = 80
MAX_ABSTRACT_CHARS = 160
MAX_KEYWORDS = 3
MAX_KEYWORD_CHARS = 28
MAX_URL_CHARS = 2048
AI_LABEL_TYPE = "AIGeneratedContent"
CARD_FEEDBACK = "ragbot.feedback"
"""`data.action` of the Adaptive Card's 👍/👎 buttons (they come back as a message activity with that `value`)."""

_AT = re.compile(r"<at[^>]*>(.*?)</at>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")
_CITATION_MARKER = re.compile(r"\[\d{1,3}\]")
# Backslash-escaped: what makes links, images, emphasis, code, headings and tables in Markdown.
_BACKSLASHED = frozenset("\\`*_~[]#|")
# As entities, which every Markdown and HTML renderer reads as text: no tag, no autolink, no entity from content.
_ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;"}

Activity = dict[str, Any]
"""A Bot Framework activity as JSON (camelCase keys), ready for `Activity().deserialize`."""
FeedbackValue = Literal["up", "down"]


# -- inbound ----------------------------------------------------------------------------------------------------------


def question_text(text: str, *, entities: Iterable[Mapping[str, Any]] = (), bot_id: str | None = None) -> str:
    """What the user asked, as plain text: the bot's @mention removed, other mentions kept as names.

    Args:
        text: The activity's `text` (Teams wraps mentions in `<at>…</at>`).
        entities: The activity's entities; `mention` entities whose `mentioned.id` is `bot_id` are the bot's.
        bot_id: The bot's id in the conversation (the activity's `recipient.id`).
    """
    for entity in entities:
        mentioned = entity.get("mentioned") or {}
        if str(entity.get("type", "")).lower() == "mention" and bot_id and mentioned.get("id") == bot_id:
            label = str(entity.get("text") or "")
            if label:
                text = text.replace(label, " ")
    text = _AT.sub(r"\1", text)
    text = _TAG.sub(" ", text)
    text = html.unescape(text).replace("\xa0", " ")
    return " ".join(text.split())


def invoke_feedback(value: Any) -> tuple[FeedbackValue, str] | None:
    """(👍/👎, comment) from a feedback-loop `message/submitAction` invoke's `value`; None for anything else."""
    if not isinstance(value, Mapping) or value.get("actionName") != "feedback":
        return None
    action = value.get("actionValue")
    if not isinstance(action, Mapping):
        return None
    reaction = action.get("reaction")
    if reaction not in ("like", "dislike"):
        return None
    comment = ""
    raw = action.get("feedback")
    # Teams sends the feedback form as a JSON-encoded string: {"feedbackText": "..."} in its default form.
    try:
        form = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        form = {"feedbackText": raw}
    if isinstance(form, Mapping):
        comment = str(form.get("feedbackText") or "")
    return ("up" if reaction == "like" else "down"), comment[:2000]


def card_feedback(value: Any) -> tuple[FeedbackValue, str] | None:
    """(👍/👎, question id) from the `value` of an Adaptive Card button press; None for anything else."""
    if not isinstance(value, Mapping) or value.get("action") != CARD_FEEDBACK:
        return None
    choice, question_id = value.get("value"), value.get("question_id")
    if choice not in ("up", "down") or not isinstance(question_id, str) or not question_id:
        return None
    return choice, question_id


# -- outbound ---------------------------------------------------------------------------------------------------------


def escape(text: str, *, markers: bool = True) -> str:
    """Any text as Markdown that shows exactly that text: the one escaping function for what Teams renders.

    Args:
        text: Text from anywhere (an answer, a partial answer, a source title or heading).
        markers: Keep `[n]` citation markers live (Teams shows them as citations); a `(` or `:` right after one is
            escaped, so a marker can never become a link or a link definition. False escapes them like any text.
    """
    out: list[str] = []
    i, end = 0, len(text)
    while i < end:
        marker = _CITATION_MARKER.match(text, i) if markers and text[i] == "[" else None
        if marker:
            out.append(marker.group(0))
            i = marker.end()
            if i < end and text[i] in "(:":
                out.append("\\" + text[i])
                i += 1
            continue
        char = text[i]
        out.append(_ENTITIES.get(char) or ("\\" + char if char in _BACKSLASHED else char))
        i += 1
    return "".join(out)


def render_partial(text: str) -> str:
    """A partial answer as the text of a streaming update: escaped like the final answer."""
    return escape(text)


def render_answer(outcome: Outcome, *, card: bool = False) -> Activity:
    """The answer as a Teams message activity, within `MAX_MESSAGE_BYTES`.

    Args:
        outcome: The answer, its citations, and the question (whose id the card's buttons carry).
        card: Render an Adaptive Card with 👍/👎 buttons instead of citation entities and the feedback loop.
    """
    answer = outcome.answer
    if card:
        return _fit_card(answer, outcome.question.question_id)
    return _fit_message(answer)


def render_notice(text: str) -> Activity:
    """A plain message (an apology, a limit reached)."""
    return {"type": "message", "text": text, "textFormat": "plain"}


def _fit_message(answer: Answer) -> Activity:
    text = answer.text
    citations = _usable(answer.citations)
    while True:
        activity = _message(answer, text, citations)
        overflow = _size(activity) - MAX_MESSAGE_BYTES
        if overflow <= 0:
            return activity
        if len(text) > 500 or not citations:
            text = _shorter(text, overflow)
        else:  # absurdly long titles or URLs: give up sources before the answer itself
            citations = citations[:-1]


def _message(answer: Answer, text: str, citations: Sequence[Citation]) -> Activity:
    cited = [c for c in citations if f"[{c.n}]" in text]
    entity: dict[str, Any] = {
        "type": "https://schema.org/Message",
        "@type": "Message",
        "@context": "https://schema.org",
        "@id": "",
        "additionalType": [AI_LABEL_TYPE],
    }
    body = escape(text)
    if answer.refused or not cited:
        # No claim is made: show where one might look instead.
        heading = "Closest sources" if answer.refused else "Sources"
        if citations:
            body = f"{body}\n\n**{heading}**\n\n{_source_list(citations)}"
    else:
        entity["citation"] = [_claim(c) for c in cited[:MAX_CITATIONS]]
    return {
        "type": "message",
        "text": body,
        "textFormat": "markdown",
        "channelData": {"feedbackLoopEnabled": True},
        "entities": [entity],
    }


def _claim(citation: Citation) -> dict[str, Any]:
    appearance: dict[str, Any] = {
        "@type": "DigitalDocument",
        "name": _clip(citation.title or citation.doc_id, MAX_NAME_CHARS),
        "abstract": _clip(" ".join(citation.snippet.split()) or citation.title or citation.doc_id, MAX_ABSTRACT_CHARS),
    }
    if citation.url:  # `_usable` has already dropped a URL the policy refuses
        appearance["url"] = citation.url
    keywords = _keywords(citation.heading_path)
    if keywords:
        appearance["keywords"] = keywords
    return {"@type": "Claim", "position": citation.n, "appearance": appearance}


def _keywords(heading_path: str) -> list[str]:
    parts = [" ".join(p.split()) for p in heading_path.split("›")]
    return [_clip(p, MAX_KEYWORD_CHARS) for p in parts if p][-MAX_KEYWORDS:]


def _fit_card(answer: Answer, question_id: str) -> Activity:
    text = answer.text
    while True:
        activity = _card(answer, text, question_id)
        overflow = _size(activity) - MAX_MESSAGE_BYTES
        if overflow <= 0:
            return activity
        text = _shorter(text, overflow)


def _card(answer: Answer, text: str, question_id: str) -> Activity:
    body: list[dict[str, Any]] = [{"type": "TextBlock", "text": escape(text) or " ", "wrap": True}]
    citations = _usable(answer.citations)
    if citations:
        heading = "Closest sources" if answer.refused else "Sources"
        body.append({"type": "TextBlock", "text": heading, "weight": "Bolder", "separator": True, "wrap": True})
        body.append({"type": "TextBlock", "text": _source_list(citations), "wrap": True, "isSubtle": True})
    note = "Not found in the documents" if answer.refused else "Answered from your company's documents"
    body.append({"type": "TextBlock", "text": f"{note} · was this helpful?", "size": "Small", "wrap": True})
    buttons = [("up", "👍 Helpful"), ("down", "👎 Not helpful")]
    content = {
        "type": "AdaptiveCard",
        "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
        "version": "1.5",
        "body": body,
        "actions": [
            {
                "type": "Action.Submit",
                "title": title,
                "data": {"action": CARD_FEEDBACK, "value": value, "question_id": question_id},
            }
            for value, title in buttons
        ],
    }
    return {
        "type": "message",
        "summary": escape(_clip(answer.text, 200)),
        "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive", "content": content}],
        "entities": [
            {
                "type": "https://schema.org/Message",
                "@type": "Message",
                "@context": "https://schema.org",
                "@id": "",
                "additionalType": [AI_LABEL_TYPE],
            }
        ],
    }


def _source_list(citations: Sequence[Citation]) -> str:
    lines = []
    for citation in citations:
        title = _escape(citation.title or citation.doc_id)
        # The policy leaves no space, `<`, `>` or `\\` in a URL; parentheses would end the link's destination.
        url = safe_url(citation.url).replace("(", "%28").replace(")", "%29")
        head = f"[{title}]({url})" if url else f"**{title}**"
        parts = [f"[{citation.n}] {head}"]
        if citation.heading_path:
            parts.append(_escape(citation.heading_path))
        lines.append("- " + " · ".join(parts))
    return "\n".join(lines)


def _usable(citations: Sequence[Citation]) -> list[Citation]:
    """Citations with a URL Teams can open and the URL policy accepts, or none: a bad URL is dropped, not the source."""
    usable = (len(c.url) <= MAX_URL_CHARS and safe_url(c.url) for c in citations)
    return [c if ok else c.model_copy(update={"url": ""}) for c, ok in zip(citations, usable, strict=True)]


def _escape(text: str) -> str:
    """A title or heading on one line, escaped, its digits in brackets included (it is not an answer)."""
    return escape(" ".join(text.split()), markers=False)


def _shorter(text: str, overflow: int) -> str:
    """`text` clipped so that its escaped form, as JSON, is about `overflow` bytes smaller."""
    if not text:
        return text
    # Escaping grows a text (`&` is `&amp;`, `*` is `\\*`): cut by what a character weighs once escaped.
    weight = max(len(json.dumps(escape(text), ensure_ascii=False).encode("utf-8")) / len(text), 1.0)
    return _clip(text, max(len(text) - math.ceil(overflow / weight) - 1, 0))


def _clip(text: str, limit: int) -> str:
    """`text` in at most `limit` characters, cut at a word boundary when one is near, marked with an ellipsis."""
    if len(text) <= limit:
        return text
    if limit <= 1:
        return "…"[:limit]
    window = text[: limit - 1]
    cut = max(window.rfind(" "), window.rfind("\n"))
    return (window[:cut] if cut > limit // 2 else window).rstrip() + "…"


def _size(activity: Activity) -> int:
    return len(json.dumps(activity, ensure_ascii=False).encode("utf-8"))
