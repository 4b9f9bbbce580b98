"""Ingest folders of files into a `DocumentIndex`: incremental, permission-aware, and never aborted by one bad file.

A document is re-embedded only when its fingerprint changes: the hash of its bytes, its ACL, its source, the
chunker and the embedding model. `prune` removes documents of the same source whose files are gone; a file
that exists but fails to load keeps its previous version (nothing is lost to a transient parse error).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import load_acl_rules
from ragbot.ingestion.chunk import CHUNKER_VERSION, Chunker
from ragbot.ingestion.load import discover, load_document
from ragbot.models import Chunk, Document
from ragbot.ports import DocumentIndex, Embedder, IndexInfo

__all__ = ["IngestReport", "ingest", "ingest_documents"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int], None]
"""Called with (documents done, documents in total)."""


@dataclass(slots=True)
class IngestReport:
    """What one ingest did. `failed` lists (doc_id, reason) for files that were reported and skipped."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
            "failed": [{"doc_id": d, "error": e} for d, e in self.failed],
            "seconds": round(self.seconds, 3),
        }


def ingest(
    roots: Sequence[Path],
    *,
    index: DocumentIndex,
    embedder: Embedder,
    chunker: Chunker,
    source: str | None = None,
    acl: tuple[str, ...] | None = None,
    prune: bool = False,
    batch_chunks: int = 256,
    progress: Progress | None = None,
) -> IngestReport:
    """Load, chunk, embed and store every supported file under `roots`.

    Args:
        roots: Folders (or single files). A document's id is its POSIX path relative to its folder.
        index: Where documents go.
        embedder: Embeds chunk texts; the index is bound to it.
        chunker: Cuts documents into chunks.
        source: Source name recorded on documents; default the folder's name. `prune` is scoped to it.
        acl: Principals for files no sidecar rule matches (default: the sidecar's default, else everyone).
        prune: Remove stored documents of this source whose files no longer exist.
        batch_chunks: Chunks embedded per model call, across documents.
        progress: Called after each batch.

    Raises:
        InputError: A root does not exist or its ACL sidecar is invalid (checked before anything is written).
    """
    started = time.perf_counter()
    plan: list[tuple[str, list[Document | tuple[str, str]], set[str]]] = []
    for root in roots:
        root = root.expanduser()
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        folder = root if root.is_dir() else root.parent
        rules = load_acl_rules(folder, default=acl)
        name = source or folder.resolve().name or "files"
        loaded: list[Document | tuple[str, str]] = []
        seen: set[str] = set()
        for file in discover(root, acl=rules):
            seen.add(file.doc_id)
            try:
                loaded.append(load_document(file, source=name))
            except DocumentError as err:
                loaded.append((err.path, str(err)))
        plan.append((name, loaded, seen))

    report = IngestReport()
    documents: list[Document] = []
    for _, loaded, _ in plan:
        for item in loaded:
            if isinstance(item, tuple):
                report.failed.append(item)
            else:
                documents.append(item)
    ingest_documents(
        documents,
        index=index,
        embedder=embedder,
        chunker=chunker,
        report=report,
        batch_chunks=batch_chunks,
        progress=progress,
    )
    if prune:
        for name, _, seen in plan:
            gone = [doc_id for doc_id in index.documents(source=name) if doc_id not in seen]
            report.removed += index.delete(gone)
    report.seconds = time.perf_counter() - started
    for doc_id, reason in report.failed:
        log.warning("skipped %s: %s", doc_id, reason)
    return report


def ingest_documents(
    documents: Sequence[Document],
    *,
    index: DocumentIndex,
    embedder: Embedder,
    chunker: Chunker,
    report: IngestReport | None = None,
    batch_chunks: int = 256,
    progress: Progress | None = None,
) -> IngestReport:
    """Chunk, embed and upsert already-loaded documents, skipping those whose fingerprint is unchanged."""
    report = report if report is not None else IngestReport()
    index.bind(
        IndexInfo(
            embedding_model=embedder.model_name,
            dimension=embedder.dimension,
            chunker_version=CHUNKER_VERSION,
            created_at=datetime.now(tz=UTC).replace(microsecond=0),
        )
    )
    stored = index.documents()
    pending: list[tuple[Document, str, list[Chunk]]] = []
    pending_chunks = 0
    done = 0
    for document in documents:
        previous = stored.get(document.doc_id)
        if previous is not None and previous.source != document.source:
            report.failed.append((document.doc_id, f"already ingested from source {previous.source!r}"))
            continue
        fingerprint = _fingerprint(document, chunker=chunker, model=embedder.model_name)
        if previous is not None and previous.fingerprint == fingerprint:
            report.unchanged += 1
            done += 1
            continue
        chunks = chunker.chunk(document)
        pending.append((document, fingerprint, chunks))
        pending_chunks += len(chunks)
        if previous is None:
            report.added += 1
        else:
            report.updated += 1
        if pending_chunks >= batch_chunks:
            done += _flush(pending, index=index, embedder=embedder, report=report)
            pending, pending_chunks = [], 0
            if progress:
                progress(done, len(documents))
    done += _flush(pending, index=index, embedder=embedder, report=report)
    if progress:
        progress(done, len(documents))
    return report


def _flush(
    pending: list[tuple[Document, str, list[Chunk]]], *, index: DocumentIndex, embedder: Embedder, report: IngestReport
) -> int:
    if not pending:
        return 0
    texts = [chunk.embedding_text() for _, _, chunks in pending for chunk in chunks]
    vectors = embedder.embed_documents(texts)
    offset = 0
    for document, fingerprint, chunks in pending:
        index.upsert(document, fingerprint, chunks, vectors[offset : offset + len(chunks)])
        offset += len(chunks)
        report.chunks += len(chunks)
    return len(pending)


def _fingerprint(document: Document, *, chunker: Chunker, model: str) -> str:
    parts = [
        document.content_hash,
        "\x1f".join(sorted(document.acl)),
        document.source,
        CHUNKER_VERSION,
        f"{chunker.target}/{chunker.overlap}",
        model,
    ]
    return hashlib.sha256("\x1e".join(parts).encode()).hexdigest()
