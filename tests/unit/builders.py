"""Small constructors for test data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ragbot.models import Answer, Chunk, Citation, ConversationRef, Document, Outcome, Passage, Question


def document(doc_id: str = "doc.md", text: str = "Hello world.", **fields: object) -> Document:
    values: dict[str, object] = {
        "doc_id": doc_id,
        "title": "Doc",
        "source": "test",
        "text": text,
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
    }
    values.update(fields)
    return Document.model_validate(values)


def chunk(chunk_id: str = "doc.md#0", text: str = "Hello world.", **fields: object) -> Chunk:
    doc_id = str(fields.pop("doc_id", chunk_id.split("#")[0]))
    values: dict[str, object] = {
        "chunk_id": chunk_id,
        "doc_id": doc_id,
        "ordinal": int(chunk_id.split("#")[1]),
        "title": "Doc",
        "source": "test",
        "text": text,
        "char_start": 0,
        "char_end": len(text),
        "updated_at": datetime(2026, 1, 1, tzinfo=UTC),
        "content_hash": hashlib.sha256(text.encode()).hexdigest(),
    }
    values.update(fields)
    return Chunk.model_validate(values)


def passage(rank: int, text: str, *, doc_id: str | None = None) -> Passage:
    doc = doc_id or f"doc{rank}.md"
    return Passage(chunk=chunk(f"{doc}#0", text, title=f"Title {rank}"), score=1.0 / rank, rank=rank)


def asked(qid: str = "slack-Ev1", *, user: str = "U1", at: datetime | None = None) -> Question:
    """A Slack question full of personal data (an email, a phone number) that records must not keep."""
    return Question(
        question_id=qid,
        text="I'm ana@corp.example, call me on +44 20 7946 0958: how many leave days?",
        asker=user,
        principals=("*", "user:ana@corp.example", "group:hr"),
        conversation=ConversationRef(platform="slack", channel="C1", thread="1.0", message="2.0"),
        asked_at=(at or datetime.now(UTC)).timestamp(),
    )


def answered(q: Question) -> Outcome:
    """`q` answered from one passage, citing it, with an email address in the answer text."""
    found = passage(1, "Staff get 25 days of annual leave.", doc_id="hr/leave.md")
    cited = found.chunk
    answer = Answer(
        text="You get 25 days [1]. Questions to hr@corp.example.",
        citations=(
            Citation(
                n=1,
                doc_id=cited.doc_id,
                chunk_id=cited.chunk_id,
                title="Leave",
                url="",
                heading_path="",
                snippet="Staff get 25 days",
            ),
        ),
        model="extractive",
    )
    return Outcome(question=q, answer=answer, passages=(found,))
