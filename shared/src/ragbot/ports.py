"""The interfaces the flow depends on. Backends implement them; tests pass fakes that honour the same contract.

Embedder        text → unit vectors            (sentence-transformers; a hashing fake in tests)
DocumentIndex   chunks + vectors, two search legs, ACL-filtered
                (embedded SQLite FTS5 + NumPy; Elasticsearch)
VersionedIndex  an index with versions behind an alias: build a new one, switch atomically, roll back
                (Elasticsearch)
Generator       question + passages → Answer   (the extractive answerer; `flow.generate.ModelAnswerer` over a
                TextGenerator)
TextGenerator   chat messages → text and token usage, streamed through a callback, within a deadline
                (TGI / vLLM / SGLang through huggingface_hub)
InteractionLog  redacted records of questions, outcomes and feedback
                (SQLite embedded; Elasticsearch distributed)
ReplySender     delivers an answer, an apology or a notice to the conversation a question came from
                (Slack Web API, Teams Bot Connector)
PartialSender   shows an answer while the model writes it (Slack edits, Teams streaming), or declines
DeliveryGate    first delivery of an event or activity, shared by every replica          (Redis SET NX EX)
RateLimiter     requests per user and per place in a window, shared by every replica     (Redis counters)
HopLedger       a hop with a visible effect (the reply) happens once per question         (Redis leases)
Backlog         the questions in the system and the workers answering them, for the admission (Redis)
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from ragbot.interactions.records import FeedbackEntry, InteractionRecord
from ragbot.models import Answer, Chunk, ConversationRef, Document, Outcome, Passage, Question

__all__ = [
    "Backlog",
    "Capacity",
    "ChatMessage",
    "Completion",
    "DeliveryGate",
    "DocumentIndex",
    "Embedder",
    "Generator",
    "HopLedger",
    "IndexInfo",
    "IndexStats",
    "IndexVersion",
    "IndexedDocument",
    "InteractionLog",
    "LedgerState",
    "LegResult",
    "LookupCache",
    "ModelInfo",
    "PartialSender",
    "PartialStream",
    "PlatformSenders",
    "RateLimiter",
    "Reachable",
    "ReplySender",
    "ServerSideFusion",
    "StoredDocument",
    "TextGenerator",
    "Vectors",
    "VersionedIndex",
    "WorkerPool",
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
    # Same text and same ACL as another document → linked to it and hidden from search (see `DocumentIndex.link`).
    content_key: str = ""
    duplicate_of: str = ""


@dataclass(frozen=True, slots=True)
class IndexedDocument:
    """One document ready to store: its chunks, their vectors (one row each) and its bookkeeping keys.

    `fingerprint` decides whether a re-ingest may skip it; `content_key` (normalised text + ACL) finds copies.
    `document.duplicate_of`, when set, names the canonical copy and hides this one from search.
    """

    document: Document
    fingerprint: str
    chunks: Sequence[Chunk]
    vectors: Vectors
    content_key: str = ""


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

    def upsert(self, item: IndexedDocument) -> None:
        """Replace everything stored for `item.document.doc_id` with these chunks.

        Raises:
            IndexMismatchError: The index is unbound. ValueError: vectors of the wrong shape.
        """
        ...

    def upsert_many(self, items: Sequence[IndexedDocument]) -> dict[str, str]:
        """Upsert a batch; returns doc_id → reason for the documents that could not be stored (the rest were).

        A document that fails keeps no fingerprint, so the next ingest tries it again.
        """
        ...

    def link(self, duplicates: Mapping[str, str]) -> None:
        """Set `duplicate_of` (doc_id → canonical doc_id, or "" to unlink): linked documents are hidden from search."""
        ...

    def refresh(self) -> None:
        """Make every write so far visible to searches (deletes are visible as soon as `delete` returns)."""
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


@dataclass(frozen=True, slots=True)
class IndexVersion:
    """One version of a versioned index."""

    version: int
    name: str
    live: bool
    documents: int
    chunks: int
    embedding_model: str
    created_at: datetime | None


@runtime_checkable
class VersionedIndex(Protocol):
    """Versions behind an alias: a full re-index builds the next version and switches to it atomically."""

    def versions(self) -> list[IndexVersion]:
        """Every kept version, oldest first."""
        ...

    def create_version(self, info: IndexInfo) -> tuple[int, DocumentIndex]:
        """Create the next, empty version (not live); returns its number and an index that writes to it."""
        ...

    def activate(self, version: int) -> list[int]:
        """Point the alias at `version` atomically; drop old versions beyond the kept count. Returns those dropped.

        Raises:
            InputError: No such version.
        """
        ...


@runtime_checkable
class ServerSideFusion(Protocol):
    """An index that fuses the keyword and vector legs itself (Elasticsearch's `rrf` retriever)."""

    @property
    def fuses_on_server(self) -> bool: ...

    def search_hybrid(
        self, text: str, vector: Vectors, *, principals: Sequence[str], k: int, rank_constant: int
    ) -> LegResult: ...


class Generator(Protocol):
    """Writes an answer grounded in the given passages, citing them as [n] where n is the passage's rank."""

    @property
    def name(self) -> str:
        """The model (and adapter) that answers; recorded with every answer."""
        ...

    def generate(
        self, question: Question, passages: Sequence[Passage], *, on_text: Callable[[str], None] | None = None
    ) -> Answer:
        """The answer; a generator that streams calls `on_text` with the text so far as it grows (others ignore it)."""
        ...


class InteractionLog(Protocol):
    """Where interaction records live. Writers never pass raw text or user ids: records are built redacted.

    Every method is safe to call from several processes at once, and idempotent per question id.
    """

    def record(self, record: InteractionRecord) -> None:
        """Store (or replace) the record of `record.question_id`, keeping any feedback already attached."""
        ...

    def add_feedback(self, question_id: str, entry: FeedbackEntry) -> None:
        """Attach feedback to a question; one entry per user, the latest wins. Unknown ids are kept for later."""
        ...

    def get(self, question_id: str) -> InteractionRecord | None: ...

    def records(self, *, since: datetime | None = None) -> Iterable[InteractionRecord]:
        """Records asked at or after `since` (all when None), oldest first, feedback attached."""
        ...

    def purge(self, *, older_than: datetime) -> int:
        """Delete records (and their feedback) asked before `older_than`; returns how many records went."""
        ...

    def forget_user(self, user_hash: str) -> int:
        """Delete every record asked by, and every feedback given by, this hashed user; returns how many."""
        ...

    def close(self) -> None: ...


class ReplySender(Protocol):
    """Delivers to one chat platform. Implementations live with their adapter (services/*)."""

    def send_answer(self, outcome: Outcome) -> None:
        """Replace the question's progress indicator with the answer, its sources and feedback controls."""
        ...

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        """Tell the conversation something plain (an apology, a limit reached), replacing any progress indicator."""
        ...


class PartialStream(Protocol):
    """One answer being shown as it is written. `show` replaces the previous partial and may raise on any failure."""

    @property
    def handle(self) -> str:
        """What the final message needs to close the stream ("" when nothing does)."""
        ...

    def show(self, text: str) -> None: ...


class PartialSender(Protocol):
    """A platform's way of showing partial answers. Implementations live with their adapter (services/*)."""

    def open(self, conversation: ConversationRef) -> PartialStream | None:
        """A stream into `conversation`, or None where partial answers are not shown there."""
        ...


@dataclass(frozen=True, slots=True)
class PlatformSenders:
    """What a chat platform's service supplies to the workers: how to reply, and how to show partial answers."""

    reply: ReplySender
    partials: PartialSender | None = None


ChatMessage = Mapping[str, str]
"""One message of a chat prompt: `{"role": "system" | "user" | "assistant", "content": ...}`."""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """What a model server says about itself, and the adapters it serves."""

    model_id: str
    max_input_tokens: int
    max_total_tokens: int
    version: str
    adapters: frozenset[str]


@dataclass(frozen=True, slots=True)
class Completion:
    """A model's text and its token usage (`prompt_tokens`, `completion_tokens`, `truncated_by_length`)."""

    text: str
    usage: Mapping[str, int]


class TextGenerator(Protocol):
    """A model server: chat messages in, text and usage out. Errors are ragbot's (`RetryableError` when waiting
    may help, `ConfigurationError` for refused credentials, `PermanentError` for a refused request)."""

    def info(self, *, refresh: bool = False) -> ModelInfo:
        """The server's model, token limits and served adapters (cached; `refresh` asks again now)."""
        ...

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapter: str | None,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
        deadline_s: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        """One completion. With `on_text`, stream and call it with the text so far as it grows.

        Args:
            messages: The prompt.
            adapter: The LoRA adapter to answer with (None: the base model).
            max_tokens: The most tokens to write.
            temperature: Sampling temperature.
            timeout_s: The most one request may wait for the server.
            deadline_s: Seconds from now after which a stream still being written is abandoned.
            on_text: Receives the text so far while it streams.
        """
        ...


class DeliveryGate(Protocol):
    """Drops repeated deliveries of one event (Slack retries, repeated Teams activities), for every replica."""

    async def first_delivery(self, kind: str, key: str, *, ttl_s: int) -> bool:
        """True the first time `(kind, key)` is seen within `ttl_s`; False for every repeat."""
        ...


class RateLimiter(Protocol):
    """Counts requests per key in a window, for every replica."""

    async def retry_after(self, scope: str, key: str, *, limit: int, window_s: int = 60) -> int:
        """Count one request for `scope:key`; 0 when within `limit` per window, else the seconds to wait."""
        ...


class LookupCache(Protocol):
    """Short-lived answers to slow lookups (a person's principals, a channel's kind), for every replica."""

    async def cached(self, key: str) -> str | None: ...

    async def cache(self, key: str, value: str, *, ttl_s: int) -> None: ...


class Reachable(Protocol):
    """A dependency a service's readiness probe asks (`/readyz`)."""

    async def ping(self) -> bool: ...


LedgerState = Literal["claimed", "done", "busy"]


class HopLedger(Protocol):
    """Once-only bookkeeping for hops whose effect is visible (posting a reply).

    A hop first `claim`s its question with a short lease, which its holder renews while it works: a second delivery
    meanwhile sees "busy" (and `lease_left` says when to look again), and after `finish` every later delivery sees
    "done". If the holder dies mid-way it stops renewing, the lease runs out, and a redelivery claims the question
    again, so nothing is lost and nothing is said twice.
    """

    def claim(self, hop: str, question_id: str, *, lease_s: int, holder: str) -> LedgerState:
        """Take the question for `holder` (an id unique to this attempt) unless it is done or held."""
        ...

    def renew(self, hop: str, question_id: str, *, lease_s: int, holder: str) -> bool:
        """Extend `holder`'s lease; False when the claim is no longer its own (its lease ran out and was taken)."""
        ...

    def lease_left(self, hop: str, question_id: str) -> float:
        """Seconds until the current holder's lease runs out (0 when nobody holds the question)."""
        ...

    def finish(self, hop: str, question_id: str, *, keep_s: int) -> None:
        """Mark the hop done for good (a finished reply also takes its question out of the `Backlog`)."""
        ...

    def release(self, hop: str, question_id: str, *, holder: str) -> None:
        """Give up `holder`'s claim without finishing (the hop failed and will be retried)."""
        ...

    def deliveries(self, task_id: str, *, ttl_s: int) -> int:
        """Count one more start of the task with this id; how many starts there have been."""
        ...

    def record_run(self, hop: str, seconds: float) -> None:
        """Note how long one run of a hop took (a moving average the admission estimates waits from)."""
        ...


@dataclass(frozen=True, slots=True)
class WorkerPool:
    """One worker, as it registered itself: the hops it runs and how many processes (or threads) run them."""

    hops: tuple[str, ...]
    processes: int


@dataclass(frozen=True, slots=True)
class Capacity:
    """What answers questions right now: the live workers, and how long each hop takes (moving averages, seconds)."""

    workers: tuple[WorkerPool, ...]
    hop_seconds: Mapping[str, float]


class Backlog(Protocol):
    """The questions in the system (admitted, not yet replied to) and the workers answering them, for every replica."""

    async def capacity(self) -> Capacity:
        """The workers registered now and the hops' measured durations."""
        ...

    async def enter(self, question_id: str, *, limit: int | None, forget_after_s: int) -> tuple[bool, int]:
        """Count the question in, unless `limit` questions are in the system already (None: no limit).

        Atomic across replicas. A question leaves when its reply is finished (`HopLedger.finish`), or is forgotten
        `forget_after_s` after it entered (it was lost before the reply hop).

        Returns:
            Whether it was let in, and how many questions are ahead of it.
        """
        ...
