"""The data model (DESIGN §3): frozen pydantic models, JSON on the wire, never pickle.

`Document` and `Chunk` are what ingestion produces. `Question` → `Retrieval` → `Outcome` are the messages between
the hops of the answering flow (retrieve → generate → reply), JSON on Celery queues; `Feedback` is a 👍/👎 click.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

__all__ = [
    "EVERYONE",
    "Answer",
    "Chunk",
    "Citation",
    "ConversationRef",
    "Document",
    "Feedback",
    "LegHit",
    "Outcome",
    "Passage",
    "Platform",
    "Question",
    "Retrieval",
    "SafeText",
    "Turn",
    "safe_text",
]

EVERYONE = "*"
"""The principal every asker has: documents readable by all staff carry it in their ACL."""


def _check_principals(value: tuple[str, ...]) -> tuple[str, ...]:
    cleaned = tuple(dict.fromkeys(p.strip() for p in value))
    if not cleaned or any(not p for p in cleaned):
        raise ValueError("principals must be a non-empty list of non-empty strings")
    return cleaned


MAX_QUESTION_CHARS = 4000

# What no store, log or platform should be handed: lone surrogates (Python strings may hold them, UTF-8 cannot),
# noncharacters, NUL and the other control characters (terminal escapes in a log line, say) but tab and newlines.
_NONCHARACTERS = "\ufdd0-\ufdef" + "".join(f"{chr(p + 0xFFFE)}{chr(p + 0xFFFF)}" for p in range(0, 0x110000, 0x10000))
_UNSAFE = re.compile(f"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff{_NONCHARACTERS}]")


def safe_text(value: str) -> str:
    r"""`value` as any store, log and platform can take it: valid UTF-8, no NUL, no control characters.

    A lone surrogate or a noncharacter becomes U+FFFD (a surrogate pair becomes the character it encodes), NUL is
    removed, and any other control character but tab, newline and carriage return becomes a space.

    Example:
        >>> safe_text("bad \ud800 text\x00 with \x1b[31m escapes") == "bad \ufffd text with  [31m escapes"
        True
    """
    if _UNSAFE.search(value) is None:
        return value
    if re.search("[\ud800-\udfff]", value):
        value = value.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
    return _UNSAFE.sub(_replacement, value)


def _replacement(match: re.Match[str]) -> str:
    char = match.group(0)
    if char == "\x00":
        return ""
    return " " if char <= "\x9f" else "\ufffd"


def _made_safe(value: object) -> object:
    # Before pydantic's own str check, which refuses a lone surrogate where a length is constrained.
    return safe_text(value) if isinstance(value, str) else value


SafeText = Annotated[str, BeforeValidator(_made_safe)]
"""Text from outside (a question, a thread's history, a feedback comment), made safe as the model is built."""


def _check_question_text(value: str) -> str:
    text = " ".join(value.split())
    if not text:
        raise ValueError("the question is empty")
    if len(text) > MAX_QUESTION_CHARS:
        raise ValueError(f"the question is longer than {MAX_QUESTION_CHARS} characters")
    return text


Principals = Annotated[tuple[str, ...], AfterValidator(_check_principals)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Document(_Frozen):
    """One source document, as loaded. `doc_id` is stable: for files, the POSIX path under the ingested root."""

    doc_id: str = Field(min_length=1)
    title: str
    url: str = ""
    source: str = Field(min_length=1)
    text: str
    updated_at: datetime
    acl: Principals = (EVERYONE,)
    content_hash: str
    metadata: dict[str, str] = Field(default_factory=dict)


class Chunk(_Frozen):
    """A retrievable piece of a document. `chunk_id` is `{doc_id}#{ordinal}`."""

    chunk_id: str
    doc_id: str
    ordinal: int = Field(ge=0)
    title: str
    url: str = ""
    source: str
    text: str
    heading_path: str = ""
    char_start: int = Field(ge=0)
    char_end: int = Field(ge=0)
    acl: Principals = (EVERYONE,)
    updated_at: datetime
    content_hash: str

    def embedding_text(self) -> str:
        """The text the dense model sees: where the chunk sits, then what it says."""
        context = " › ".join(part for part in (self.title, self.heading_path) if part)
        return f"{context}\n{self.text}" if context else self.text


class LegHit(_Frozen):
    """Where one retrieval leg ranked a passage (rank starts at 1) and the leg's raw score."""

    rank: int = Field(ge=1)
    score: float


class Passage(_Frozen):
    """A chunk returned for a question, with its fused score and final rank (1 = best)."""

    chunk: Chunk
    score: float
    rank: int = Field(ge=1)
    legs: dict[str, LegHit] = Field(default_factory=dict)


class Turn(_Frozen):
    """One earlier message of the conversation (a thread's history)."""

    role: Literal["user", "assistant"]
    text: SafeText = Field(max_length=MAX_QUESTION_CHARS * 4)


Platform = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_-]{0,31}$")]
"""Where a question came from: "slack", "teams", "cli", or any chat platform a service adds (its reply queue is
`reply.<platform>`). A name, not an enumeration, so a new platform needs no change in the core."""


class ConversationRef(_Frozen):
    """Where a question came from and where its answer goes. One model for every platform (no Union)."""

    platform: Platform = "cli"
    channel: str = ""
    thread: str = ""
    message: str = ""
    # Teams: the serialized ConversationReference needed for a proactive reply.
    reference: dict[str, Any] = Field(default_factory=dict)


class Question(_Frozen):
    """A question to answer. `question_id` is the idempotency key of every hop."""

    question_id: str = Field(min_length=1)
    text: Annotated[SafeText, AfterValidator(_check_question_text)]
    asker: str = ""
    principals: Principals = (EVERYONE,)
    conversation: ConversationRef = ConversationRef()
    history: tuple[Turn, ...] = ()
    # When the platform delivered it (epoch seconds): the start of the end-to-end latency.
    asked_at: float = 0.0


class Citation(_Frozen):
    """`[n]` in an answer's text points at the passage cited as n."""

    n: int = Field(ge=1)
    doc_id: str
    chunk_id: str
    title: str
    url: str
    heading_path: str
    snippet: str


class Answer(_Frozen):
    """What the user sees: text with `[n]` markers, the cited sources, or a refusal with the closest sources."""

    text: str
    citations: tuple[Citation, ...] = ()
    refused: bool = False
    reason: str = ""
    model: str
    # The LoRA adapter that wrote it ("" = the base model or no model) and the prompt's version.
    adapter: str = ""
    prompt_version: str = ""
    confidence: float = 0.0
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=dict)


class Retrieval(_Frozen):
    """The retrieve hop's result and the generate hop's input."""

    question: Question
    # What was searched for: the question, or a follow-up made standalone with the thread's history.
    query: str = ""
    passages: tuple[Passage, ...] = ()
    timings_ms: dict[str, float] = Field(default_factory=dict)
    # When this message was queued (epoch seconds); the next hop measures its queue wait from it.
    sent_at: float = 0.0


class Outcome(_Frozen):
    """The generate hop's result and the reply hop's input: the answer and the passages it was built from."""

    question: Question
    answer: Answer
    passages: tuple[Passage, ...] = ()
    sent_at: float = 0.0
    # The platform's handle of the answer shown while it was written (a Teams streamId), for the final message.
    stream_id: str = ""


class Feedback(_Frozen):
    """A 👍 or 👎 on an answer, from the asker or anyone who saw it."""

    question_id: str = Field(min_length=1, max_length=200)
    platform: Platform
    user: str = Field(min_length=1, max_length=200, description="Platform user id; hashed before it is stored.")
    value: Literal["up", "down"]
    comment: SafeText = Field("", max_length=2000)
    given_at: float = 0.0
