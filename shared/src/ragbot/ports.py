"""The interfaces the flow depends on. Backends implement them; tests pass fakes that honour the same contract.

Embedder        text → unit vectors            (sentence-transformers; a hashing fake in tests)
DocumentIndex   chunks + vectors, two search legs, ACL-filtered
                (embedded SQLite FTS5 + NumPy; Elasticsearch later)
Generator       question + passages → Answer   (extractive answerer; TGI later)
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragbot.models import Answer, Chunk, Document, Passage, Question

__all__ = [
    "DocumentIndex",
    "Embedder",
    "Generator",
    "IndexInfo",
    "IndexStats",
    "LegResult",
    "StoredDocument",
    "Vectors",
]

Vectors = npt.NDArray[np.float32]
"""A 2-D float32 array, one L2-normalized row per text."""


@runtime_checkable
class Embedder(Protocol):
    """Turns texts into L2-normalized vectors of a fixed dimension."""

    @property
    def model_name(self) -> str:
        """A stable name for the model; the index records it and refuses queries from another."""
        ...

    @property
    def dimension(self) -> int: ...

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        """Embed passages for indexing. Returns shape (len(texts), dimension)."""
        ...

    def embed_query(self, text: str) -> Vectors:
        """Embed one query. Returns shape (dimension,)."""
        ...


@dataclass(frozen=True, slots=True)
class IndexInfo:
    """What built an index. A query with another embedding model or dimension is refused."""

    embedding_model: str
    dimension: int
    chunker_version: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class StoredDocument:
    """What the index remembers of a document to make re-ingestion incremental."""

    doc_id: str
    source: str
    fingerprint: str
    chunks: int


@dataclass(frozen=True, slots=True)
class IndexStats:
    documents: int
    chunks: int


@dataclass(frozen=True, slots=True)
class LegResult:
    """One search leg's answer: chunk ids best first, with the leg's raw scores (higher is better)."""

    chunk_ids: tuple[str, ...]
    scores: tuple[float, ...]


class DocumentIndex(Protocol):
    """A store of chunks searchable by keywords (BM25) and by vector, filtered by the asker's principals.

    A chunk is visible to a query iff its ACL shares at least one principal with the query's `principals`.
    Every implementation passes `tests/contract/test_document_index.py`.
    """

    def info(self) -> IndexInfo | None:
        """What built this index, or None while it is empty and unbound."""
        ...

    def bind(self, info: IndexInfo) -> None:
        """Record what builds this index. Raises `IndexMismatchError` if it was built by something else."""
        ...

    def documents(self, *, source: str | None = None) -> dict[str, StoredDocument]:
        """Every stored document (of one source, if given), by doc_id."""
        ...

    def upsert(self, document: Document, fingerprint: str, chunks: Sequence[Chunk], vectors: Vectors) -> None:
        """Replace everything stored for `document.doc_id` with these chunks, atomically."""
        ...

    def delete(self, doc_ids: Iterable[str]) -> int:
        """Remove documents and all their chunks at once. Returns how many documents were removed."""
        ...

    def search_keyword(self, text: str, *, principals: Sequence[str], k: int) -> LegResult:
        """BM25 over title, heading path and text."""
        ...

    def search_vector(self, vector: Vectors, *, principals: Sequence[str], k: int) -> LegResult:
        """Nearest chunks by cosine similarity."""
        ...

    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        """Fetch chunks by id; unknown ids are left out."""
        ...

    def stats(self) -> IndexStats: ...

    def close(self) -> None: ...


class Generator(Protocol):
    """Writes an answer grounded in the given passages, citing them as [n] where n is the passage's rank."""

    @property
    def name(self) -> str:
        """The model (and adapter) that answers; recorded with every answer."""
        ...

    def generate(self, question: Question, passages: Sequence[Passage]) -> Answer: ...
