"""The interaction log's records: what was asked, by whom (hashed), what was found and answered, and the feedback.

One record per question, written by the reply hop when the answer (or the apology) is delivered, so every hop's
timings are known; feedback is attached later by question id. Text is redacted (`interactions.redact`) and platform user
ids are keyed hashes before a record is built, so no store ever sees them in clear. Every string a record holds is
also made safe (`ragbot.models.safe_text`) as it is built, so a record always serialises, whatever a document or a
model put in the answer. Stores implement `ragbot.ports.InteractionLog` (SQLite embedded, Elasticsearch distributed).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ragbot.interactions.redact import redact
from ragbot.models import Answer, Feedback, Outcome, Question, safe_text

__all__ = [
    "FeedbackEntry",
    "InteractionRecord",
    "RetrievedRef",
    "Status",
    "UserHasher",
    "failure_record",
    "feedback_entry",
    "outcome_record",
    "status_of",
]

Status = Literal["answered", "refused", "degraded", "failed"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _safe_strings(cls, data: Any) -> Any:
        """Lone surrogates, NULs and control characters out of every string, before anything can fail on them."""
        return _made_safe(data) if isinstance(data, dict) else data


def _made_safe(value: Any) -> Any:
    if isinstance(value, str):
        return safe_text(value)
    if isinstance(value, dict):
        return {_made_safe(k): _made_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_made_safe(v) for v in value)
    return value


class RetrievedRef(_Frozen):
    """One passage the question retrieved, as ranked."""

    chunk_id: str
    doc_id: str
    rank: int
    score: float
    # The chunk's text hash when it was retrieved: a training example is built only from sources that still read
    # as they did when the answer was given ("" in records written before it was kept).
    content_hash: str = ""


class FeedbackEntry(_Frozen):
    """One person's 👍/👎 on an answer; a later click by the same person replaces it."""

    user_hash: str
    value: Literal["up", "down"]
    comment: str = ""
    # A reviewer's corrected answer (`ragbot review correct`), redacted like everything else: training data.
    correction: str = ""
    given_at: datetime


class InteractionRecord(_Frozen):
    """A question and its outcome, with personal data removed."""

    question_id: str
    platform: str
    channel: str = ""
    user_hash: str = ""
    principals: tuple[str, ...] = ()
    question: str
    history_turns: int = 0
    retrieved: tuple[RetrievedRef, ...] = ()
    answer: str = ""
    citations: tuple[str, ...] = Field((), description="Chunk ids, in the order of their [n] markers.")
    status: Status
    reason: str = ""
    model: str = ""
    adapter: str = ""
    prompt_version: str = ""
    confidence: float = 0.0
    timings_ms: dict[str, float] = Field(default_factory=dict)
    usage: dict[str, int] = Field(default_factory=dict)
    asked_at: datetime
    recorded_at: datetime
    feedback: tuple[FeedbackEntry, ...] = ()


class UserHasher:
    """Keyed one-way hash of platform user ids: stable for one key, unlinkable once the key is rotated."""

    def __init__(self, key: str) -> None:
        if not key:
            raise ValueError("the user hash key is empty")
        self._key = key.encode()

    def __call__(self, platform: str, user: str) -> str:
        if not user:
            return ""
        # surrogatepass: an id no platform would send still hashes (to itself alone) instead of failing the record.
        digest = hmac.new(self._key, f"{platform}:{user}".encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
        return digest[:32]

    def principal(self, principal: str) -> str:
        """`user:ana@corp.com` names a person: keep its kind, hash the rest. Groups stay readable."""
        if principal.startswith("user:"):
            return "user:" + self("directory", principal.removeprefix("user:"))
        return principal


def outcome_record(outcome: Outcome, *, hasher: UserHasher, timings_ms: dict[str, float]) -> InteractionRecord:
    """The record of a delivered answer (or refusal)."""
    question, answer = outcome.question, outcome.answer
    return InteractionRecord(
        **_question_fields(question, hasher=hasher),
        retrieved=tuple(
            RetrievedRef(
                chunk_id=p.chunk.chunk_id,
                doc_id=p.chunk.doc_id,
                rank=p.rank,
                score=round(p.score, 6),
                content_hash=p.chunk.content_hash,
            )
            for p in outcome.passages
        ),
        answer=redact(answer.text),
        citations=tuple(c.chunk_id for c in answer.citations),
        status=status_of(answer),
        reason=answer.reason,
        model=answer.model,
        adapter=answer.adapter,
        prompt_version=answer.prompt_version,
        confidence=answer.confidence,
        timings_ms=timings_ms,
        usage=dict(answer.usage),
        recorded_at=datetime.now(UTC),
    )


def status_of(answer: Answer) -> Status:
    """How an answer counts: refused (no grounded answer), degraded (the fallback answerer), or answered."""
    return "refused" if answer.refused else "degraded" if answer.reason == "degraded" else "answered"


def failure_record(question: Question, *, hasher: UserHasher, error: str) -> InteractionRecord:
    """The record of a question that could not be answered (the asker was told)."""
    return InteractionRecord(
        **_question_fields(question, hasher=hasher),
        status="failed",
        reason=redact(error)[:500],
        recorded_at=datetime.now(UTC),
    )


def feedback_entry(feedback: Feedback, *, hasher: UserHasher) -> FeedbackEntry:
    given = feedback.given_at or datetime.now(UTC).timestamp()
    return FeedbackEntry(
        user_hash=hasher(feedback.platform, feedback.user),
        value=feedback.value,
        comment=redact(feedback.comment),
        given_at=datetime.fromtimestamp(given, UTC),
    )


def correction_entry(*, reviewer: str, answer: str, note: str = "", hasher: UserHasher) -> FeedbackEntry:
    """A reviewer's corrected answer, recorded as their 👎 on the original (one per reviewer, the latest wins)."""
    return FeedbackEntry(
        user_hash=hasher("review", reviewer),
        value="down",
        comment=redact(note),
        correction=redact(answer),
        given_at=datetime.now(UTC),
    )


def _question_fields(question: Question, *, hasher: UserHasher) -> dict[str, object]:
    ref = question.conversation
    asked = question.asked_at or datetime.now(UTC).timestamp()
    return {
        "question_id": question.question_id,
        "platform": ref.platform,
        "channel": ref.channel,
        "user_hash": hasher(ref.platform, question.asker),
        "principals": tuple(hasher.principal(p) for p in question.principals),
        "question": redact(question.text),
        "history_turns": len(question.history),
        "asked_at": datetime.fromtimestamp(asked, UTC),
    }
