"""The Elasticsearch `DocumentIndex`: versioned indexes behind one alias, bulk writes, and the searches.

Layout. Each version is a concrete index `{alias}-v{N}`; searches and incremental writes go through the alias
`{alias}`, which points at exactly one version. A full re-index fills `v{N+1}` (replicas 0, refresh off, as
Elastic's bulk-load guidance says), then one `_aliases` call moves the alias, so a reader never sees a half-built
index. Old versions stay for `rollback` and are dropped oldest first beyond `keep_versions`.

Records. One index holds chunk records and document records, told apart by `kind` (queries.py builds both, and
every search body); mapping.py says what a version is made of; client.py translates the client's errors.

Vectors are written, never read back: Elasticsearch 9 leaves `dense_vector` fields out of `_source`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from ragbot.backends.elasticsearch.client import expunge_deletes, if_found, translate_errors
from ragbot.backends.elasticsearch.mapping import index_settings, info_of, mappings, meta_of, serving_settings
from ragbot.backends.elasticsearch.queries import (
    CHUNK,
    DOCUMENT,
    DOCUMENT_FIELDS,
    MAX_KNN_CANDIDATES,
    bulk_failure,
    chunk_actions,
    chunk_from_source,
    document_action,
    documents_query,
    hybrid_retriever,
    keyword_query,
    knn_clause,
    leg_result,
    link_actions,
    record_id,
    stored_document,
)
from ragbot.errors import IndexMismatchError, InputError, RetryableError
from ragbot.models import Chunk
from ragbot.ports import (
    DocumentIndex,
    IndexedDocument,
    IndexInfo,
    IndexStats,
    IndexVersion,
    LegResult,
    StoredDocument,
    Vectors,
)

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ragbot.settings import ElasticsearchSettings

__all__ = ["ElasticsearchIndex"]

log = logging.getLogger(__name__)

_PAGE = 1000
_SOURCE_EXCLUDES = ["embedding"]
_IDS_ONLY = {"includes": ["chunk_id"]}


class ElasticsearchIndex:
    """A `DocumentIndex` (and `VersionedIndex`) on an Elasticsearch 8.x/9.x cluster.

    Args:
        client: The official client (see `connect`); this index closes it on `close()` if `owns_client`.
        settings: Alias, versions kept, shards/replicas, HNSW and bulk parameters.
        target: A concrete version to read and write instead of the alias (used while re-indexing).

    Example:
        >>> index = ElasticsearchIndex(connect(settings.elasticsearch), settings=settings.elasticsearch)
        >>> index.search_keyword("vpn client", principals=["*"], k=5).chunk_ids
    """

    def __init__(
        self,
        client: Elasticsearch,
        *,
        settings: ElasticsearchSettings,
        target: str | None = None,
        owns_client: bool = True,
    ) -> None:
        self._es = client
        self._settings = settings
        self._alias = settings.alias
        self._name = target or settings.alias
        self._owns_client = owns_client
        self._version_name = re.compile(rf"^{re.escape(self._alias)}-v(\d+)$")
        self._dimension: int | None = None

    @property
    def name(self) -> str:
        """The alias, or the concrete version this index writes to."""
        return self._name

    @property
    def fuses_on_server(self) -> bool:
        return self._settings.server_side_rrf

    # -- lifecycle and metadata ---------------------------------------------------------------------------------

    @translate_errors
    def info(self) -> IndexInfo | None:
        return info_of(self._meta(self._name))

    @translate_errors
    def bind(self, info: IndexInfo) -> None:
        current = self.info()
        if current is None:
            if self._name != self._alias:
                raise InputError(f"index version {self._name} does not exist")
            self._create_version(1, info, bulk_load=False)
            self._es.indices.update_aliases(actions=[{"add": {"index": self._version(1), "alias": self._alias}}])
            log.info("created %s behind alias %s", self._version(1), self._alias)
            return
        if (current.embedding_model, current.dimension) != (info.embedding_model, info.dimension):
            raise IndexMismatchError(
                f"the Elasticsearch index {self._name} was built with {current.embedding_model} "
                f"({current.dimension}-d), not {info.embedding_model} ({info.dimension}-d): set "
                f"RAGBOT_EMBEDDING__MODEL back, or build a new version with 'ragbot ingest --reindex'"
            )
        if current.chunker_version != info.chunker_version:
            self._es.indices.put_mapping(
                index=self._name, meta={**meta_of(current), "chunker_version": info.chunker_version}
            )

    def close(self) -> None:
        if self._owns_client:
            self._es.close()

    @translate_errors
    def stats(self) -> IndexStats:
        return IndexStats(documents=self._count(DOCUMENT), chunks=self._count(CHUNK))

    @translate_errors
    def refresh(self) -> None:
        if self.info() is not None:
            self._es.indices.refresh(index=self._name)

    # -- versions -------------------------------------------------------------------------------------------------

    @translate_errors
    def versions(self) -> list[IndexVersion]:
        found = if_found(self._es.indices.get, index=f"{self._alias}-v*")
        if found is None:
            return []
        result = []
        for name, body in found.body.items():
            match = self._version_name.match(name)
            if not match:
                continue
            meta = body.get("mappings", {}).get("_meta", {})
            view = ElasticsearchIndex(self._es, settings=self._settings, target=name, owns_client=False)
            stats = view.stats()
            created = meta.get("created_at")
            result.append(
                IndexVersion(
                    version=int(match.group(1)),
                    name=name,
                    live=self._alias in body.get("aliases", {}),
                    documents=stats.documents,
                    chunks=stats.chunks,
                    embedding_model=str(meta.get("embedding_model", "?")),
                    created_at=datetime.fromisoformat(created) if created else None,
                )
            )
        return sorted(result, key=lambda v: v.version)

    @translate_errors
    def create_version(self, info: IndexInfo) -> tuple[int, DocumentIndex]:
        version = max((v.version for v in self.versions()), default=0) + 1
        self._create_version(version, info, bulk_load=True)
        log.info("created %s for a full re-index", self._version(version))
        target = ElasticsearchIndex(self._es, settings=self._settings, target=self._version(version), owns_client=False)
        return version, target

    @translate_errors
    def activate(self, version: int) -> list[int]:
        versions = {v.version: v for v in self.versions()}
        if version not in versions:
            kept = ", ".join(f"v{n}" for n in sorted(versions)) or "none"
            raise InputError(f"there is no index version v{version} (kept: {kept})")
        name = self._version(version)
        # A version built for bulk loading gets its replicas and refresh back before it serves.
        self._es.indices.put_settings(index=name, settings=serving_settings(self._settings))
        self._es.indices.refresh(index=name)
        actions: list[Mapping[str, Any]] = [
            {"remove": {"index": v.name, "alias": self._alias}}
            for v in versions.values()
            if v.live and v.version != version
        ]
        actions.append({"add": {"index": name, "alias": self._alias}})
        self._es.indices.update_aliases(actions=actions)
        log.info("alias %s now points at %s", self._alias, name)
        return self._drop_old(keep_around=version)

    def _drop_old(self, *, keep_around: int) -> list[int]:
        """Delete the oldest versions (never the live one, never newer ones) beyond `keep_versions`."""
        older = sorted(v.version for v in self.versions() if v.version < keep_around and not v.live)
        doomed = older[: max(0, len(older) - self._settings.keep_versions)]
        if doomed:
            self._es.indices.delete(index=",".join(self._version(n) for n in doomed))
            log.info("dropped old index versions %s", doomed)
        return doomed

    def _version(self, number: int) -> str:
        return f"{self._alias}-v{number}"

    def _create_version(self, version: int, info: IndexInfo, *, bulk_load: bool) -> None:
        self._es.indices.create(
            index=self._version(version),
            settings=index_settings(self._settings, bulk_load=bulk_load),
            mappings=mappings(info, self._settings),
        )

    # -- writes ---------------------------------------------------------------------------------------------------

    @translate_errors
    def documents(self, *, source: str | None = None) -> dict[str, StoredDocument]:
        result = {}
        for hit in self._scan(documents_query(source), DOCUMENT_FIELDS):
            document = stored_document(hit["_source"])
            result[document.doc_id] = document
        return result

    def upsert(self, item: IndexedDocument) -> None:
        failed = self.upsert_many([item])
        if failed:
            raise RetryableError(f"Elasticsearch did not store {item.document.doc_id}: {failed[item.document.doc_id]}")

    @translate_errors
    def upsert_many(self, items: Sequence[IndexedDocument]) -> dict[str, str]:
        info = self.info()
        if info is None:
            raise IndexMismatchError("bind the index to an embedding model before writing to it")
        for item in items:
            if item.vectors.shape != (len(item.chunks), info.dimension):
                raise ValueError(
                    f"expected vectors of shape ({len(item.chunks)}, {info.dimension}), got {item.vectors.shape}"
                )
        previous = self._stored_chunk_counts([item.document.doc_id for item in items])
        # Chunks first, the document record last: a document whose chunks failed is written with no
        # fingerprint, so the next ingest retries it instead of taking it for unchanged.
        failed = self._bulk(chunk_actions(self._name, items, previous))
        self._bulk(
            document_action(self._name, item, fingerprint="" if item.document.doc_id in failed else item.fingerprint)
            for item in items
        )
        return failed

    def _bulk(self, actions: Iterable[dict[str, Any]]) -> dict[str, str]:
        """Stream actions in bounded requests; returns doc_id → first error for the documents that failed."""
        from elasticsearch import helpers

        failed: dict[str, str] = {}
        for ok, result in helpers.streaming_bulk(
            self._es,
            actions,
            chunk_size=self._settings.bulk_chunks,
            max_chunk_bytes=self._settings.bulk_max_mb * 1024 * 1024,
            raise_on_error=False,
            max_retries=self._settings.max_retries,
            initial_backoff=max(self._settings.retry_backoff_s, 0.1),
            max_backoff=max(self._settings.retry_backoff_cap_s, 0.1),
            yield_ok=False,
        ):
            failure = None if ok else bulk_failure(result)
            if failure is not None:
                failed.setdefault(*failure)
        return failed

    def _stored_chunk_counts(self, doc_ids: Sequence[str]) -> dict[str, int]:
        if not doc_ids:
            return {}
        response = self._es.mget(
            index=self._name, ids=[record_id(DOCUMENT, d) for d in doc_ids], source_includes=["doc_id", "chunks"]
        )
        return {d["_source"]["doc_id"]: int(d["_source"]["chunks"]) for d in response["docs"] if d.get("found")}

    @translate_errors
    def link(self, duplicates: Mapping[str, str]) -> None:
        if not duplicates:
            return
        counts = self._stored_chunk_counts(list(duplicates))
        failed = self._bulk(link_actions(self._name, duplicates, counts))
        self._es.indices.refresh(index=self._name)
        if failed:
            raise RetryableError(
                f"could not link {len(failed)} duplicate document(s), e.g. {next(iter(failed.items()))}"
            )

    @translate_errors
    def delete(self, doc_ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(doc_ids))
        if not ids or self.info() is None:
            return 0
        present = self._stored_chunk_counts(ids)
        if not present:
            return 0
        # By query, not by id: whatever carries the doc_id goes, even a chunk a failed write left behind.
        self._es.delete_by_query(
            index=self._name,
            query={"terms": {"doc_id": list(present)}},
            refresh=True,
            conflicts="proceed",
            wait_for_completion=True,
        )
        # Gone from every search now; the forced merge takes their text out of the segments too (erasure).
        expunge_deletes(self._es, self._name)
        return len(present)

    # -- reads ----------------------------------------------------------------------------------------------------

    @translate_errors
    def search_keyword(self, text: str, *, principals: Sequence[str], k: int) -> LegResult:
        if not principals or k <= 0 or not text.strip():
            return LegResult((), ())
        response = self._es.search(
            index=self._name,
            query=keyword_query(text, principals),
            size=min(k, MAX_KNN_CANDIDATES),
            source=_IDS_ONLY,
        )
        return leg_result(response.body)

    @translate_errors
    def search_vector(self, vector: Vectors, *, principals: Sequence[str], k: int) -> LegResult:
        if not principals or k <= 0:
            return LegResult((), ())
        # The dimension is read once, not on every question; a mismatch re-reads it (a rollback may have moved
        # the alias to a version built by another model) before refusing.
        if self._dimension is None or vector.shape != (self._dimension,):
            info = self.info()
            if info is None:
                return LegResult((), ())
            self._dimension = info.dimension
            if vector.shape != (info.dimension,):
                raise IndexMismatchError(f"query vector has shape {vector.shape}, the index holds {info.dimension}-d")
        k = min(k, MAX_KNN_CANDIDATES)
        knn = knn_clause(vector, principals, k=k, num_candidates_factor=self._settings.num_candidates_factor)
        response = self._es.search(index=self._name, knn=knn, size=k, source=_IDS_ONLY)
        leg = leg_result(response.body)
        # Elasticsearch scores cosine as (1 + cos) / 2; report the cosine itself, as the embedded store does.
        return LegResult(leg.chunk_ids, tuple(2.0 * s - 1.0 for s in leg.scores))

    @translate_errors
    def search_hybrid(
        self, text: str, vector: Vectors, *, principals: Sequence[str], k: int, rank_constant: int
    ) -> LegResult:
        """Both legs fused by the server's `rrf` retriever (needs an Enterprise or trial licence)."""
        if not principals or k <= 0:
            return LegResult((), ())
        k = min(k, MAX_KNN_CANDIDATES)
        retriever = hybrid_retriever(
            text,
            vector,
            principals,
            k=k,
            num_candidates_factor=self._settings.num_candidates_factor,
            rank_constant=rank_constant,
        )
        response = self._es.search(index=self._name, retriever=retriever, size=k, source=_IDS_ONLY)
        return leg_result(response.body)

    @translate_errors
    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        response = self._es.mget(
            index=self._name, ids=[record_id(CHUNK, c) for c in chunk_ids], source_excludes=_SOURCE_EXCLUDES
        )
        found = {}
        for doc in response["docs"]:
            if doc.get("found"):
                chunk = chunk_from_source(doc["_source"])
                found[chunk.chunk_id] = chunk
        return found

    # -- internals ------------------------------------------------------------------------------------------------

    def _meta(self, name: str) -> dict[str, Any]:
        response = if_found(self._es.indices.get_mapping, index=name)
        if response is None:
            return {}
        bodies = list(response.body.values())
        if len(bodies) != 1:
            raise IndexMismatchError(f"{name} resolves to {len(bodies)} indexes; point the alias at exactly one")
        meta: dict[str, Any] = bodies[0].get("mappings", {}).get("_meta", {})
        return meta

    def _count(self, kind: str) -> int:
        response = if_found(self._es.count, index=self._name, query={"term": {"kind": kind}})
        return 0 if response is None else int(response["count"])

    def _scan(self, query: dict[str, Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every hit of `query`, paged with search_after on doc_id (unique per document record)."""
        after: list[Any] | None = None
        while True:
            response = if_found(
                self._es.search,
                index=self._name,
                query=query,
                size=_PAGE,
                sort=[{"doc_id": "asc"}],
                source={"includes": fields},
                search_after=after,
            )
            if response is None:
                return
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < _PAGE:
                return
            after = hits[-1]["sort"]
