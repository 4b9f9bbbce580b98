"""Ingest sources into a `DocumentIndex`: incremental, permission-aware, and never aborted by one bad document.

A document is re-embedded only when its fingerprint changes: the hash of its content, its ACL, its source, the
chunker and the embedding model. `prune` removes documents of the same source that are gone; a document that
exists but fails to load keeps its previous version (nothing is lost to a transient parse error).

Copies: documents with the same normalised text and the same ACL are linked to one canonical document after each
ingest (`link_duplicates`); the copies stay stored, hidden from search, so removing the canonical one promotes a
copy at once and never leaves the content unsearchable. A copy with a different ACL is not linked: linking would
show its readers a document (title, link) they may not see, or hide content from readers who may.

A full re-index (`reindex=True`, Elasticsearch) writes into a new index version and switches the alias to it
only when every document made it; the previous version stays for rollback.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

import numpy as np

from ragbot.errors import ConfigurationError, InputError
from ragbot.ingestion.chunk import CHUNKER_VERSION, Chunker
from ragbot.ingestion.sources import LoadFailure, NamedByPath, Source
from ragbot.models import Document
from ragbot.ports import DocumentIndex, Embedder, IndexedDocument, IndexInfo, StoredDocument, VersionedIndex

__all__ = [
    "ForgetReport",
    "IngestReport",
    "content_key",
    "forget",
    "ingest",
    "ingest_documents",
    "link_duplicates",
    "settle_source_names",
]

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""Called with (documents done, documents in total when known)."""


@dataclass(slots=True)
class IngestReport:
    """What one ingest did. `failed` lists (doc_id, reason) for documents that were reported and skipped."""

    added: int = 0
    updated: int = 0
    unchanged: int = 0
    removed: int = 0
    chunks: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    duplicates: list[tuple[str, str]] = field(default_factory=list)
    seconds: float = 0.0
    # Full re-index only: the version built, whether it went live, and sources of the old version not carried over.
    version: int | None = None
    activated: bool = False
    dropped_versions: list[int] = field(default_factory=list)
    not_carried: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, object]:
        result: dict[str, object] = {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "chunks": self.chunks,
            "failed": [{"doc_id": d, "error": e} for d, e in self.failed],
            "duplicates": [{"doc_id": d, "duplicate_of": c} for d, c in self.duplicates],
            "seconds": round(self.seconds, 3),
        }
        if self.version is not None:
            result.update(
                version=self.version,
                activated=self.activated,
                dropped_versions=self.dropped_versions,
                not_carried=self.not_carried,
            )
        return result


def ingest(
    sources: Sequence[Source],
    *,
    index: DocumentIndex,
    embedder: Embedder,
    chunker: Chunker,
    prune: bool = False,
    reindex: bool = False,
    batch_chunks: int = 256,
    progress: Progress | None = None,
) -> IngestReport:
    """Load, chunk, embed and store every document of `sources`.

    Args:
        sources: From `ingestion.open_source` (folders, Git work trees, JSONL exports).
        index: Where documents go.
        embedder: Embeds chunk texts; the index is bound to it.
        chunker: Cuts documents into chunks.
        prune: Remove stored documents of these sources that the sources no longer hold.
        reindex: Build a new index version from these sources and switch to it (needs a `VersionedIndex`).
        batch_chunks: Chunks embedded per model call, across documents.
        progress: Called after each batch.

    Raises:
        ConfigurationError: `reindex` on an index without versions.
        InputError: A source named by default may be one the index holds under its old name (`settle_source_names`).
    """
    started = time.perf_counter()
    report = IngestReport()
    info = _index_info(embedder)
    if any(isinstance(s, NamedByPath) and s.legacy_name for s in sources) and index.info() is not None:
        settle_source_names(sources, stored=index.documents())
    target = index
    if reindex:
        if not isinstance(index, VersionedIndex):
            raise ConfigurationError(
                "the embedded store has no versions to re-index into: point RAGBOT_DATA_DIR at a new folder and "
                "ingest again, or use Elasticsearch (RAGBOT_ELASTICSEARCH__URL)"
            )
        live_sources = {d.source for d in index.documents().values()} if index.info() is not None else set()
        report.version, target = index.create_version(info)
        report.not_carried = sorted(live_sources - {s.name for s in sources})

    seen: dict[str, set[str]] = {source.name: set() for source in sources}
    kept_folders: dict[str, list[str]] = {source.name: [] for source in sources}

    def documents() -> Iterator[Document]:
        for source in sources:
            for item in source.items():
                if isinstance(item, LoadFailure):
                    report.failed.append((item.doc_id, item.reason))
                    if item.present:
                        seen[source.name].add(item.doc_id)
                    if item.present and item.doc_id.endswith("/"):  # a folder that could not be listed
                        kept_folders[source.name].append(item.doc_id)
                else:
                    seen[source.name].add(item.doc_id)
                    yield item

    ingest_documents(
        documents(),
        index=target,
        embedder=embedder,
        chunker=chunker,
        report=report,
        batch_chunks=batch_chunks,
        progress=progress,
        link=False,
    )
    if prune and not reindex:
        for name, ids in seen.items():
            gone = [
                doc_id
                for doc_id in target.documents(source=name)
                if doc_id not in ids and not doc_id.startswith(tuple(kept_folders[name]))
            ]
            report.removed += target.delete(gone)
    target.refresh()
    report.duplicates = _new_links(link_duplicates(target))
    if reindex and isinstance(index, VersionedIndex) and report.version is not None:
        if report.failed:
            log.warning(
                "index version v%d was built but not activated: %d failures", report.version, len(report.failed)
            )
        else:
            report.dropped_versions = index.activate(report.version)
            report.activated = True
        target.close()
    report.seconds = time.perf_counter() - started
    for doc_id, reason in report.failed:
        log.warning("skipped %s: %s", doc_id, reason)
    return report


def ingest_documents(
    documents: Iterable[Document],
    *,
    index: DocumentIndex,
    embedder: Embedder,
    chunker: Chunker,
    report: IngestReport | None = None,
    batch_chunks: int = 256,
    progress: Progress | None = None,
    total: int | None = None,
    link: bool = True,
) -> IngestReport:
    """Chunk, embed and upsert already-loaded documents, skipping those whose fingerprint is unchanged.

    Args:
        documents: Streamed; held in memory only one batch at a time.
        link: Link copies to their canonical document afterwards (see `link_duplicates`).
    """
    report = report if report is not None else IngestReport()
    index.bind(_index_info(embedder))
    stored = index.documents()
    pending: list[IndexedDocument] = []
    pending_chunks = 0
    done = 0
    seen: set[str] = set()
    for document in documents:
        if document.doc_id in seen:
            report.failed.append((document.doc_id, "the same doc_id appears twice in this ingest"))
            continue
        seen.add(document.doc_id)
        previous = stored.get(document.doc_id)
        if previous is not None and previous.source != document.source:
            report.failed.append(
                (
                    document.doc_id,
                    f"already ingested from source {previous.source!r}; one id, one source: ingest a folder that "
                    "holds both, or 'ragbot forget --doc' it there first",
                )
            )
            continue
        fingerprint = _fingerprint(document, chunker=chunker, model=embedder.model_name)
        if previous is not None and previous.fingerprint == fingerprint:
            report.unchanged += 1
            done += 1
            continue
        chunks = chunker.chunk(document)
        pending.append(IndexedDocument(document, fingerprint, chunks, _NO_VECTORS, content_key(document)))
        pending_chunks += len(chunks)
        if previous is None:
            report.added += 1
        else:
            report.updated += 1
        if pending_chunks >= batch_chunks:
            done += _flush(pending, index=index, embedder=embedder, report=report)
            pending, pending_chunks = [], 0
            if progress:
                progress(done, total)
    done += _flush(pending, index=index, embedder=embedder, report=report)
    if progress:
        progress(done, total)
    if link:
        index.refresh()
        report.duplicates = _new_links(link_duplicates(index))
    return report


def settle_source_names(sources: Sequence[Source], *, stored: dict[str, StoredDocument]) -> None:
    """Keep the old default name of a source the index already holds under it, when that is safe.

    Default source names carry a hash of the folder's path (`sources.base.default_source_name`), so that two folders
    with the same name are two sources. An index built before holds them under the bare name. A source named by
    default keeps its new name if the index holds it, or if the index holds nothing under the old name; otherwise it
    takes the old name when every document stored under it is one this source still has (the same folder
    re-ingested, so nothing changes for its operator), and is refused when some are not: those may be another
    folder's with the same name, which pruning or a file of the same id would remove or overwrite.

    Args:
        sources: The sources of one ingest, before any is read.
        stored: What the index holds (`DocumentIndex.documents()`).

    Raises:
        InputError: The index holds documents under a source's old name that the source does not have; the one-line
            message says which and what to pass (`--source`).
    """
    held: dict[str, set[str]] = {}
    for doc in stored.values():
        held.setdefault(doc.source, set()).add(doc.doc_id)
    for source in sources:
        if not isinstance(source, NamedByPath):
            continue
        legacy = source.legacy_name
        if legacy is None or source.name in held or legacy not in held:
            continue
        missing = held[legacy] - set(source.doc_ids())
        if missing:
            where = getattr(source, "root", None) or getattr(source, "path", source.name)
            raise InputError(
                f"the index holds {len(held[legacy])} documents of source {legacy!r}, the name {where} had before "
                f"default source names carried a hash of the path, and {len(missing)} of them (such as "
                f"{min(missing)!r}) are not there: if they came from this folder, ingest it with --source {legacy} "
                "(add --prune to drop those); if not, give it a name of its own with --source NAME"
            )
        log.info("source %s keeps the name %r the index holds it under", source.name, legacy)
        source.rename(legacy)


def link_duplicates(index: DocumentIndex) -> dict[str, str]:
    """Link every group of documents with the same content key to one canonical member.

    Returns the changes: doc_id → its new canonical document, or "" for a copy that answers for itself again.

    The canonical member stays the one others already point at; otherwise the smallest doc_id. A document whose
    canonical is gone or no longer identical is unlinked or re-linked, so the content never drops out of search.
    """
    groups: dict[str, list[str]] = {}
    stored = index.documents()
    for doc in stored.values():
        if doc.content_key:
            groups.setdefault(doc.content_key, []).append(doc.doc_id)
    changes: dict[str, str] = {}
    for doc in stored.values():
        members = groups.get(doc.content_key, [doc.doc_id])
        if len(members) == 1 and doc.duplicate_of:
            changes[doc.doc_id] = ""
    for members in groups.values():
        if len(members) < 2:
            continue
        pointed_at = {stored[m].duplicate_of for m in members} & set(members)
        canonical = min(pointed_at) if pointed_at else min(members)
        for member in members:
            wanted = "" if member == canonical else canonical
            if stored[member].duplicate_of != wanted:
                changes[member] = wanted
    if changes:
        index.link(changes)
    for doc_id, canonical in changes.items():
        log.info("linked %s to %s", doc_id, canonical or "(itself: canonical again)")
    return changes


@dataclass(slots=True)
class ForgetReport:
    removed: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    promoted: list[str] = field(default_factory=list)


def forget(doc_ids: Sequence[str], *, index: DocumentIndex) -> ForgetReport:
    """Remove documents and every chunk of them now; a copy of a removed canonical document takes its place.

    When this returns, neither search leg nor `chunks()` can return them (the deletion guarantee).
    """
    report = ForgetReport()
    stored = index.documents()
    for doc_id in dict.fromkeys(doc_ids):
        (report.removed if doc_id in stored else report.missing).append(doc_id)
    index.delete(report.removed)
    report.promoted = sorted(doc_id for doc_id, canonical in link_duplicates(index).items() if not canonical)
    return report


def _new_links(changes: dict[str, str]) -> list[tuple[str, str]]:
    return sorted((doc_id, canonical) for doc_id, canonical in changes.items() if canonical)


def content_key(document: Document) -> str:
    """Same key ⇔ same words (case and spacing aside) and the same readers: the test for a linkable copy."""
    text = " ".join(document.text.casefold().split())
    readers = "\x1e".join(sorted(document.acl))
    return hashlib.sha256(f"{text}\x1f{readers}".encode()).hexdigest()


def _index_info(embedder: Embedder) -> IndexInfo:
    return IndexInfo(
        embedding_model=embedder.model_name,
        dimension=embedder.dimension,
        chunker_version=CHUNKER_VERSION,
        created_at=datetime.now(tz=UTC).replace(microsecond=0),
    )


_NO_VECTORS = np.zeros((0, 0), dtype=np.float32)  # placeholder until the batch is embedded


def _flush(pending: list[IndexedDocument], *, index: DocumentIndex, embedder: Embedder, report: IngestReport) -> int:
    if not pending:
        return 0
    vectors = embedder.embed_documents([chunk.embedding_text() for item in pending for chunk in item.chunks])
    batch = []
    offset = 0
    for item in pending:
        batch.append(replace(item, vectors=vectors[offset : offset + len(item.chunks)]))
        offset += len(item.chunks)
    failed = index.upsert_many(batch)
    for item in batch:
        if item.document.doc_id in failed:
            report.failed.append((item.document.doc_id, failed[item.document.doc_id]))
        else:
            report.chunks += len(item.chunks)
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
