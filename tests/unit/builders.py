"""Small constructors for test data."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ragbot.models import Chunk, Document, Passage


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
