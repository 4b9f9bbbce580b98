"""The request bodies the Elasticsearch index sends, and what it makes of the answers: pure functions, no client.

Every search is limited by the same visibility filter: chunk records only, whose ACL names one of the asker's
principals, and none of a document linked to a canonical copy (`duplicate_of`).

Hybrid on the Basic licence: two requests, each with that filter, fused by the caller with the same RRF as the
embedded store. The keyword query is never the kNN pre-filter (it would cut the dense leg down to keyword
matches). `hybrid_retriever` builds the one-request alternative, the `rrf` retriever (Enterprise licence).

Records. One index holds two kinds of record, told apart by the keyword `kind`: `chunk` (see `chunk_source`) and
`document` (see `document_source`). Their `_id` is `record_id(kind, key)`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from ragbot.models import Chunk
from ragbot.ports import IndexedDocument, LegResult, StoredDocument, Vectors

__all__ = [
    "CHUNK",
    "DOCUMENT",
    "DOCUMENT_FIELDS",
    "KEYWORD_FIELDS",
    "MAX_KNN_CANDIDATES",
    "bulk_failure",
    "chunk_actions",
    "chunk_from_source",
    "chunk_source",
    "doc_id_of",
    "document_action",
    "document_source",
    "documents_query",
    "hybrid_retriever",
    "keyword_query",
    "knn_clause",
    "leg_result",
    "link_actions",
    "record_id",
    "stored_document",
    "visible",
]

CHUNK = "chunk"
DOCUMENT = "document"
MAX_KNN_CANDIDATES = 10_000  # Elasticsearch's ceiling on num_candidates (and, here, on k)
KEYWORD_FIELDS = ("title^2", "heading_path^1.5", "text")
DOCUMENT_FIELDS = ["doc_id", "source", "fingerprint", "chunks", "content_key", "duplicate_of"]
_MAX_ID_BYTES = 512  # Elasticsearch rejects longer _id values


def visible(principals: Sequence[str]) -> list[dict[str, Any]]:
    """The filter every search carries: chunks the principals may read, copies of canonical documents left out.

    Args:
        principals: The asker's user and group identifiers, as stored in each record's `acl`.

    Returns:
        Filter clauses, for a `bool.filter` or a kNN `filter`.
    """
    return [
        {"term": {"kind": CHUNK}},
        {"terms": {"acl": list(principals)}},
        {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}},
    ]


def keyword_query(text: str, principals: Sequence[str]) -> dict[str, Any]:
    """The BM25 leg: `multi_match` over title, heading path and text, behind the visibility filter.

    Args:
        text: The question.
        principals: Whose documents may match.

    Returns:
        A `query` body.
    """
    return {
        "bool": {
            "must": [
                {
                    "multi_match": {
                        "query": text,
                        "fields": list(KEYWORD_FIELDS),
                        "type": "best_fields",
                        "tie_breaker": 0.3,
                    }
                }
            ],
            "filter": visible(principals),
        }
    }


def knn_clause(vector: Vectors, principals: Sequence[str], *, k: int, num_candidates_factor: int) -> dict[str, Any]:
    """The dense leg: approximate kNN on `embedding`, pre-filtered by visibility only (never by the keyword query).

    Args:
        vector: The question's embedding.
        principals: Whose documents may match.
        k: How many neighbours to return.
        num_candidates_factor: Candidates explored per shard, as a multiple of `k`.

    Returns:
        A `knn` body; `num_candidates` is `k × num_candidates_factor`, at least `k`, at most `MAX_KNN_CANDIDATES`.
    """
    return {
        "field": "embedding",
        "query_vector": [float(x) for x in vector],
        "k": k,
        "num_candidates": min(max(k * num_candidates_factor, k), MAX_KNN_CANDIDATES),
        "filter": visible(principals),
    }


def hybrid_retriever(
    text: str,
    vector: Vectors,
    principals: Sequence[str],
    *,
    k: int,
    num_candidates_factor: int,
    rank_constant: int,
) -> dict[str, Any]:
    """Both legs in one request, fused by the server's `rrf` retriever (Enterprise or trial licence).

    Args:
        text: The question, for the keyword leg.
        vector: Its embedding, for the kNN leg.
        principals: Whose documents may match (both legs are filtered).
        k: The fused result size, and each leg's window.
        num_candidates_factor: See `knn_clause`.
        rank_constant: RRF's k.

    Returns:
        A `retriever` body.
    """
    return {
        "rrf": {
            "retrievers": [
                {"standard": {"query": keyword_query(text, principals)}},
                {"knn": knn_clause(vector, principals, k=k, num_candidates_factor=num_candidates_factor)},
            ],
            "rank_window_size": k,
            "rank_constant": rank_constant,
        }
    }


def leg_result(body: Mapping[str, Any]) -> LegResult:
    """The chunk ids and scores of a search answer, best first (hits must carry `_source.chunk_id`).

    Args:
        body: The search response body.

    Returns:
        The hits as one leg; a missing score counts as 0.
    """
    hits = body["hits"]["hits"]
    return LegResult(tuple(h["_source"]["chunk_id"] for h in hits), tuple(float(h["_score"] or 0.0) for h in hits))


def documents_query(source: str | None) -> dict[str, Any]:
    """The document records, of one source or all.

    Args:
        source: A source name, or None (or "") for every source.

    Returns:
        A `query` body.
    """
    filters: list[dict[str, Any]] = [{"term": {"kind": DOCUMENT}}]
    if source:
        filters.append({"term": {"source": source}})
    return {"bool": {"filter": filters}}


# -- records ----------------------------------------------------------------------------------------------------


def record_id(kind: str, key: str) -> str:
    """`chunk:{chunk_id}` / `document:{doc_id}`; hashed when a long path would pass Elasticsearch's 512-byte cap.

    Args:
        kind: `CHUNK` or `DOCUMENT`.
        key: The chunk or document id.

    Returns:
        The record's `_id`.
    """
    record = f"{kind}:{key}"
    if len(record.encode()) <= _MAX_ID_BYTES:
        return record
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def doc_id_of(detail: Mapping[str, Any]) -> str:
    """The document a failed bulk item belongs to, from its `_id`.

    Args:
        detail: One item of a bulk response.

    Returns:
        The document id (a chunk id `doc#ordinal` gives its document).
    """
    record = str(detail.get("_id", ""))
    kind, _, key = record.partition(":")
    return key.rpartition("#")[0] if kind == CHUNK and "#" in key else key


def bulk_failure(result: Mapping[str, Any]) -> tuple[str, str] | None:
    """Which document a failed bulk item belongs to, and why it failed.

    Args:
        result: One failed item of a bulk response (`{op: detail}`).

    Returns:
        (doc_id, reason), or None when the failure is harmless: deleting a stale chunk that was already gone.
    """
    ((op, detail),) = result.items()
    if op == "delete" and detail.get("status") == 404:
        return None
    error = detail.get("error", {})
    reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
    return doc_id_of(detail), f"{op} failed ({detail.get('status')}): {reason}"


def document_source(item: IndexedDocument, *, fingerprint: str) -> dict[str, Any]:
    """The document record incremental ingest reads back: fingerprint, chunk count, content key, duplicate link.

    Args:
        item: The document and its chunks.
        fingerprint: What to store as the fingerprint ("" makes the next ingest write the document again).

    Returns:
        The record's `_source`.
    """
    d = item.document
    return {
        "kind": DOCUMENT,
        "doc_id": d.doc_id,
        "source": d.source,
        "fingerprint": fingerprint,
        "chunks": len(item.chunks),
        "content_key": item.content_key,
        "duplicate_of": None,
        "title": d.title,
        "url": d.url,
        "acl": list(d.acl),
        "updated_at": d.updated_at.isoformat(),
    }


def stored_document(src: Mapping[str, Any]) -> StoredDocument:
    """What incremental ingest needs to know of a stored document, from its record's `DOCUMENT_FIELDS`.

    Args:
        src: The document record's `_source`.

    Returns:
        The stored document; absent fields read as empty.
    """
    return StoredDocument(
        doc_id=src["doc_id"],
        source=src["source"],
        fingerprint=src.get("fingerprint", ""),
        chunks=int(src.get("chunks", 0)),
        content_key=src.get("content_key", ""),
        duplicate_of=src.get("duplicate_of") or "",
    )


def document_action(index: str, item: IndexedDocument, *, fingerprint: str) -> dict[str, Any]:
    """The bulk action that writes a document record.

    Args:
        index: The index (alias or version) to write to.
        item: The document and its chunks.
        fingerprint: See `document_source`.

    Returns:
        One `streaming_bulk` action.
    """
    return {
        "_op_type": "index",
        "_index": index,
        "_id": record_id(DOCUMENT, item.document.doc_id),
        "_source": document_source(item, fingerprint=fingerprint),
    }


def chunk_actions(
    index: str, items: Sequence[IndexedDocument], previous: Mapping[str, int]
) -> Iterator[dict[str, Any]]:
    """The bulk actions that write the documents' chunks and delete the chunks a shorter version left over.

    Args:
        index: The index (alias or version) to write to.
        items: The documents, their chunks and vectors (one row per chunk).
        previous: doc_id → chunk count stored now, for the documents already stored.

    Yields:
        `streaming_bulk` actions.
    """
    for item in items:
        document = item.document
        for chunk, vector in zip(item.chunks, item.vectors, strict=True):
            yield {
                "_op_type": "index",
                "_index": index,
                "_id": record_id(CHUNK, chunk.chunk_id),
                "_source": chunk_source(chunk, vector.tolist()),
            }
        for ordinal in range(len(item.chunks), previous.get(document.doc_id, 0)):
            yield {"_op_type": "delete", "_index": index, "_id": record_id(CHUNK, f"{document.doc_id}#{ordinal}")}


def link_actions(index: str, duplicates: Mapping[str, str], counts: Mapping[str, int]) -> Iterator[dict[str, Any]]:
    """The bulk actions that link documents (their record and every chunk) to a canonical copy, or unlink them.

    Args:
        index: The index (alias or version) to write to.
        duplicates: doc_id → canonical doc_id, or "" to unlink.
        counts: doc_id → stored chunk count; documents not in it are not stored and are skipped.

    Yields:
        `streaming_bulk` partial updates.
    """
    for doc_id, canonical in duplicates.items():
        if doc_id not in counts:
            continue
        value = {"duplicate_of": canonical or None}
        yield {"_op_type": "update", "_index": index, "_id": record_id(DOCUMENT, doc_id), "doc": value}
        for ordinal in range(counts[doc_id]):
            chunk_id = record_id(CHUNK, f"{doc_id}#{ordinal}")
            yield {"_op_type": "update", "_index": index, "_id": chunk_id, "doc": value}


def chunk_source(chunk: Chunk, vector: list[float]) -> dict[str, Any]:
    """A chunk record: the searchable text, its heading path and title, its vector, ACL and freshness.

    Args:
        chunk: The chunk.
        vector: Its embedding.

    Returns:
        The record's `_source`.
    """
    return {
        "kind": CHUNK,
        "chunk_id": chunk.chunk_id,
        "doc_id": chunk.doc_id,
        "ordinal": chunk.ordinal,
        "title": chunk.title,
        "url": chunk.url,
        "source": chunk.source,
        "text": chunk.text,
        "heading_path": chunk.heading_path,
        "char_start": chunk.char_start,
        "char_end": chunk.char_end,
        "acl": list(chunk.acl),
        "updated_at": chunk.updated_at.isoformat(),
        "content_hash": chunk.content_hash,
        "duplicate_of": None,
        "embedding": vector,
    }


def chunk_from_source(src: Mapping[str, Any]) -> Chunk:
    """The chunk a chunk record holds (its vector is not read back: Elasticsearch 9 leaves it out of `_source`).

    Args:
        src: The record's `_source`.

    Returns:
        The chunk; a timestamp without a zone is taken as UTC.
    """
    updated = datetime.fromisoformat(str(src["updated_at"]))
    return Chunk(
        chunk_id=src["chunk_id"],
        doc_id=src["doc_id"],
        ordinal=int(src["ordinal"]),
        title=src.get("title", ""),
        url=src.get("url") or "",
        source=src["source"],
        text=src["text"],
        heading_path=src.get("heading_path", ""),
        char_start=int(src.get("char_start", 0)),
        char_end=int(src.get("char_end", 0)),
        acl=tuple(src["acl"]),
        updated_at=updated if updated.tzinfo else updated.replace(tzinfo=UTC),
        content_hash=src.get("content_hash", ""),
    )
