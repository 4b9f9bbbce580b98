"""The Elasticsearch `DocumentIndex`: BM25 `multi_match` and `knn` legs, versioned indexes behind one alias.

Layout. Each version is a concrete index `{alias}-v{N}`; searches and incremental writes go through the alias
`{alias}`, which points at exactly one version. A full re-index fills `v{N+1}` (replicas 0, refresh off, as
Elastic's bulk-load guidance says), then one `_aliases` call moves the alias, so a reader never sees a half-built
index. Old versions stay for `rollback` and are dropped oldest first beyond `keep_versions`.

Records. One index holds two kinds of record, told apart by the keyword `kind`:
`chunk` (the searchable text, its heading path and title, its vector, ACL, freshness) and `document` (the
bookkeeping incremental ingest needs: fingerprint, chunk count, content key, duplicate link). Every search
filters on `kind` and ACL, and excludes chunks of documents linked to a canonical copy (`duplicate_of`).

Hybrid on the Basic licence: two requests, each with the same filter, fused by the caller with the same RRF as
the embedded store. The keyword query is never the kNN pre-filter (it would cut the dense leg down to keyword
matches). `server_side_rrf=True` sends one request with the `rrf` retriever instead (Enterprise licence).

Vectors are written, never read back: Elasticsearch 9 leaves `dense_vector` fields out of `_source`.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ragbot.errors import ConfigurationError, IndexMismatchError, InputError, PermanentError, RetryableError
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

__all__ = ["ElasticsearchIndex", "connect", "translate_errors"]

log = logging.getLogger(__name__)

CHUNK = "chunk"
DOCUMENT = "document"
_MAX_ID_BYTES = 512  # Elasticsearch rejects longer _id values
_PAGE = 1000
_MAX_KNN_CANDIDATES = 10_000
_KEYWORD_FIELDS = ("title^2", "heading_path^1.5", "text")
_SOURCE_EXCLUDES = ["embedding"]
_IDS_ONLY = {"includes": ["chunk_id"]}


_P = ParamSpec("_P")
_R = TypeVar("_R")


def translate_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn the client's exceptions into ragbot's tree (errors.py) at the boundary, with `from err`."""

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from elasticsearch import ApiError, SSLError, TransportError

        try:
            return method(*args, **kwargs)
        except SSLError as err:  # retrying cannot fix a certificate nobody trusts
            raise ConfigurationError(
                f"TLS to Elasticsearch failed ({err.message}): set RAGBOT_ELASTICSEARCH__CA_FILE to the CA that "
                "signed the cluster's certificate"
            ) from err
        except TransportError as err:  # no HTTP answer: connection refused, TLS, timeout (after the retries)
            raise RetryableError(f"cannot reach Elasticsearch: {err.message}") from err
        except ApiError as err:
            raise _api_error(err) from err

    return wrapper


def _api_error(err: Any) -> Exception:
    status = err.meta.status
    error = err.body.get("error", {}) if isinstance(err.body, dict) else {}
    reason = error.get("reason", "") if isinstance(error, dict) else str(error)
    kind = error.get("type", "") if isinstance(error, dict) else ""
    if status == 401:
        return ConfigurationError(
            "Elasticsearch refused the credentials (401): check RAGBOT_ELASTICSEARCH__API_KEY, or USERNAME and PASSWORD"
        )
    if status == 403 and "license" in reason.lower():
        return ConfigurationError(
            f"the cluster's licence does not allow this ({reason}); for the rrf retriever, unset "
            "RAGBOT_ELASTICSEARCH__SERVER_SIDE_RRF to fuse in ragbot instead"
        )
    if status == 403:
        return ConfigurationError(
            f"Elasticsearch denied the request (403): {reason or kind}; check the key's privileges"
        )
    if status == 429 or status >= 500:
        return RetryableError(f"Elasticsearch is overloaded or failing ({status} {kind}): {reason}")
    return PermanentError(f"Elasticsearch rejected a request ({status} {kind}): {reason}")


def connect(settings: ElasticsearchSettings) -> Elasticsearch:
    """Build the official client from settings: auth, TLS, timeouts, retries with full-jitter backoff.

    Raises:
        ConfigurationError: `settings.url` is unset.
    """
    from elasticsearch import Elasticsearch

    if not settings.url:
        raise ConfigurationError("RAGBOT_ELASTICSEARCH__URL is not set")
    options: dict[str, Any] = {}
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    elif settings.username and settings.password is not None:
        options["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.ca_file is not None:
        if not settings.ca_file.is_file():
            raise ConfigurationError(f"RAGBOT_ELASTICSEARCH__CA_FILE: no such file: {settings.ca_file}")
        options["ca_certs"] = str(settings.ca_file)
    if settings.url.startswith("https://"):
        options["verify_certs"] = settings.verify_certs
    return Elasticsearch(
        settings.url,
        request_timeout=settings.request_timeout_s,
        max_retries=settings.max_retries,
        retry_on_status=(429, 502, 503, 504),
        retry_on_timeout=True,
        retry_backoff_base=settings.retry_backoff_s,
        retry_backoff_cap=settings.retry_backoff_cap_s,
        **options,
    )


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
        meta = self._meta(self._name)
        if not meta:
            return None
        return IndexInfo(
            embedding_model=str(meta["embedding_model"]),
            dimension=int(meta["dimension"]),
            chunker_version=str(meta["chunker_version"]),
            created_at=datetime.fromisoformat(str(meta["created_at"])),
        )

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
                index=self._name, meta={**_meta_of(current), "chunker_version": info.chunker_version}
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
        from elasticsearch import NotFoundError

        try:
            found = self._es.indices.get(index=f"{self._alias}-v*")
        except NotFoundError:
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
        self._es.indices.put_settings(
            index=name,
            settings={"index": {"number_of_replicas": self._settings.replicas, "refresh_interval": None}},
        )
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
        s = self._settings
        index_settings: dict[str, Any] = {
            "number_of_shards": s.shards,
            "number_of_replicas": 0 if bulk_load else s.replicas,
        }
        if bulk_load:
            index_settings["refresh_interval"] = "-1"
        self._es.indices.create(
            index=self._version(version),
            settings={"index": index_settings},
            mappings=_mappings(info, s),
        )

    # -- writes ---------------------------------------------------------------------------------------------------

    @translate_errors
    def documents(self, *, source: str | None = None) -> dict[str, StoredDocument]:
        filters: list[dict[str, Any]] = [{"term": {"kind": DOCUMENT}}]
        if source:
            filters.append({"term": {"source": source}})
        result = {}
        for hit in self._scan(
            {"bool": {"filter": filters}}, ["doc_id", "source", "fingerprint", "chunks", "content_key", "duplicate_of"]
        ):
            src = hit["_source"]
            result[src["doc_id"]] = StoredDocument(
                doc_id=src["doc_id"],
                source=src["source"],
                fingerprint=src.get("fingerprint", ""),
                chunks=int(src.get("chunks", 0)),
                content_key=src.get("content_key", ""),
                duplicate_of=src.get("duplicate_of") or "",
            )
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
        failed = self._bulk(self._chunk_actions(items, previous))
        self._bulk(
            _document_action(self._name, item, fingerprint="" if item.document.doc_id in failed else item.fingerprint)
            for item in items
        )
        return failed

    def _chunk_actions(self, items: Sequence[IndexedDocument], previous: Mapping[str, int]) -> Iterator[dict[str, Any]]:
        for item in items:
            document = item.document
            for chunk, vector in zip(item.chunks, item.vectors, strict=True):
                yield {
                    "_op_type": "index",
                    "_index": self._name,
                    "_id": _record_id(CHUNK, chunk.chunk_id),
                    "_source": _chunk_source(chunk, vector.tolist()),
                }
            for ordinal in range(len(item.chunks), previous.get(document.doc_id, 0)):
                yield {
                    "_op_type": "delete",
                    "_index": self._name,
                    "_id": _record_id(CHUNK, f"{document.doc_id}#{ordinal}"),
                }

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
            if ok:
                continue
            ((op, detail),) = result.items()
            if op == "delete" and detail.get("status") == 404:
                continue  # the stale chunk was already gone
            doc_id = _doc_id_of(detail)
            error = detail.get("error", {})
            reason = error.get("reason", str(error)) if isinstance(error, dict) else str(error)
            failed.setdefault(doc_id, f"{op} failed ({detail.get('status')}): {reason}")
        return failed

    def _stored_chunk_counts(self, doc_ids: Sequence[str]) -> dict[str, int]:
        if not doc_ids:
            return {}
        response = self._es.mget(
            index=self._name, ids=[_record_id(DOCUMENT, d) for d in doc_ids], source_includes=["doc_id", "chunks"]
        )
        return {d["_source"]["doc_id"]: int(d["_source"]["chunks"]) for d in response["docs"] if d.get("found")}

    @translate_errors
    def link(self, duplicates: Mapping[str, str]) -> None:
        if not duplicates:
            return
        counts = self._stored_chunk_counts(list(duplicates))

        def actions() -> Iterator[dict[str, Any]]:
            for doc_id, canonical in duplicates.items():
                if doc_id not in counts:
                    continue
                value = {"duplicate_of": canonical or None}
                yield {"_op_type": "update", "_index": self._name, "_id": _record_id(DOCUMENT, doc_id), "doc": value}
                for ordinal in range(counts[doc_id]):
                    chunk_id = _record_id(CHUNK, f"{doc_id}#{ordinal}")
                    yield {"_op_type": "update", "_index": self._name, "_id": chunk_id, "doc": value}

        failed = self._bulk(actions())
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
        return len(present)

    # -- reads ----------------------------------------------------------------------------------------------------

    @translate_errors
    def search_keyword(self, text: str, *, principals: Sequence[str], k: int) -> LegResult:
        if not principals or k <= 0 or not text.strip():
            return LegResult((), ())
        response = self._es.search(
            index=self._name,
            query=self._keyword_query(text, principals),
            size=min(k, _MAX_KNN_CANDIDATES),
            source=_IDS_ONLY,
        )
        return _leg(response.body)

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
        k = min(k, _MAX_KNN_CANDIDATES)
        response = self._es.search(index=self._name, knn=self._knn(vector, principals, k), size=k, source=_IDS_ONLY)
        leg = _leg(response.body)
        # Elasticsearch scores cosine as (1 + cos) / 2; report the cosine itself, as the embedded store does.
        return LegResult(leg.chunk_ids, tuple(2.0 * s - 1.0 for s in leg.scores))

    @translate_errors
    def search_hybrid(
        self, text: str, vector: Vectors, *, principals: Sequence[str], k: int, rank_constant: int
    ) -> LegResult:
        """Both legs fused by the server's `rrf` retriever (needs an Enterprise or trial licence)."""
        if not principals or k <= 0:
            return LegResult((), ())
        k = min(k, _MAX_KNN_CANDIDATES)
        knn = self._knn(vector, principals, k)
        response = self._es.search(
            index=self._name,
            retriever={
                "rrf": {
                    "retrievers": [
                        {"standard": {"query": self._keyword_query(text, principals)}},
                        {"knn": knn},
                    ],
                    "rank_window_size": k,
                    "rank_constant": rank_constant,
                }
            },
            size=k,
            source=_IDS_ONLY,
        )
        return _leg(response.body)

    @translate_errors
    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        response = self._es.mget(
            index=self._name, ids=[_record_id(CHUNK, c) for c in chunk_ids], source_excludes=_SOURCE_EXCLUDES
        )
        found = {}
        for doc in response["docs"]:
            if doc.get("found"):
                chunk = _chunk_from_source(doc["_source"])
                found[chunk.chunk_id] = chunk
        return found

    # -- internals ------------------------------------------------------------------------------------------------

    def _visible(self, principals: Sequence[str]) -> list[dict[str, Any]]:
        return [
            {"term": {"kind": CHUNK}},
            {"terms": {"acl": list(principals)}},
            {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}},
        ]

    def _keyword_query(self, text: str, principals: Sequence[str]) -> dict[str, Any]:
        return {
            "bool": {
                "must": [
                    {
                        "multi_match": {
                            "query": text,
                            "fields": list(_KEYWORD_FIELDS),
                            "type": "best_fields",
                            "tie_breaker": 0.3,
                        }
                    }
                ],
                "filter": self._visible(principals),
            }
        }

    def _knn(self, vector: Vectors, principals: Sequence[str], k: int) -> dict[str, Any]:
        return {
            "field": "embedding",
            "query_vector": [float(x) for x in vector],
            "k": k,
            "num_candidates": min(max(k * self._settings.num_candidates_factor, k), _MAX_KNN_CANDIDATES),
            "filter": self._visible(principals),
        }

    def _meta(self, name: str) -> dict[str, Any]:
        from elasticsearch import NotFoundError

        try:
            response = self._es.indices.get_mapping(index=name)
        except NotFoundError:
            return {}
        bodies = list(response.body.values())
        if len(bodies) != 1:
            raise IndexMismatchError(f"{name} resolves to {len(bodies)} indexes; point the alias at exactly one")
        meta: dict[str, Any] = bodies[0].get("mappings", {}).get("_meta", {})
        return meta if "embedding_model" in meta else {}

    def _count(self, kind: str) -> int:
        from elasticsearch import NotFoundError

        try:
            return int(self._es.count(index=self._name, query={"term": {"kind": kind}})["count"])
        except NotFoundError:
            return 0

    def _scan(self, query: dict[str, Any], fields: list[str]) -> Iterator[dict[str, Any]]:
        """Every hit of `query`, paged with search_after on doc_id (unique per document record)."""
        from elasticsearch import NotFoundError

        after: list[Any] | None = None
        while True:
            try:
                response = self._es.search(
                    index=self._name,
                    query=query,
                    size=_PAGE,
                    sort=[{"doc_id": "asc"}],
                    source={"includes": fields},
                    search_after=after,
                )
            except NotFoundError:
                return
            hits = response["hits"]["hits"]
            yield from hits
            if len(hits) < _PAGE:
                return
            after = hits[-1]["sort"]


def _mappings(info: IndexInfo, s: ElasticsearchSettings) -> dict[str, Any]:
    index_options: dict[str, Any] = {"type": s.vector_index}
    if s.vector_index.endswith("hnsw"):
        index_options.update(m=s.hnsw_m, ef_construction=s.hnsw_ef_construction)
    keyword = {"type": "keyword"}
    stored_only = {"type": "keyword", "index": False, "doc_values": False}
    return {
        "dynamic": "strict",
        "_meta": _meta_of(info),
        "properties": {
            "kind": keyword,
            "doc_id": keyword,
            "chunk_id": keyword,
            "source": keyword,
            "acl": keyword,
            "content_hash": keyword,
            "content_key": keyword,
            "duplicate_of": keyword,
            "fingerprint": stored_only,
            "url": stored_only,
            "title": {"type": "text", "analyzer": "english"},
            "heading_path": {"type": "text", "analyzer": "english"},
            "text": {"type": "text", "analyzer": "english"},
            "updated_at": {"type": "date"},
            "ordinal": {"type": "integer"},
            "chunks": {"type": "integer", "index": False},
            "char_start": {"type": "integer", "index": False},
            "char_end": {"type": "integer", "index": False},
            "embedding": {
                "type": "dense_vector",
                "dims": info.dimension,
                "index": True,
                "similarity": "cosine",
                "index_options": index_options,
            },
        },
    }


def _meta_of(info: IndexInfo) -> dict[str, Any]:
    return {
        "embedding_model": info.embedding_model,
        "dimension": info.dimension,
        "chunker_version": info.chunker_version,
        "created_at": info.created_at.isoformat(),
        "created_by": "ragbot",
    }


def _record_id(kind: str, key: str) -> str:
    """`chunk:{chunk_id}` / `document:{doc_id}`; hashed when a long path would pass Elasticsearch's 512-byte cap."""
    record = f"{kind}:{key}"
    if len(record.encode()) <= _MAX_ID_BYTES:
        return record
    return f"{kind}:sha256:{hashlib.sha256(key.encode()).hexdigest()}"


def _doc_id_of(detail: Mapping[str, Any]) -> str:
    """The document a failed bulk item belongs to, from its _id."""
    record = str(detail.get("_id", ""))
    kind, _, key = record.partition(":")
    return key.rpartition("#")[0] if kind == CHUNK and "#" in key else key


def _document_action(index: str, item: IndexedDocument, *, fingerprint: str) -> dict[str, Any]:
    d = item.document
    return {
        "_op_type": "index",
        "_index": index,
        "_id": _record_id(DOCUMENT, d.doc_id),
        "_source": {
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
        },
    }


def _chunk_source(chunk: Chunk, vector: list[float]) -> dict[str, Any]:
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


def _chunk_from_source(src: Mapping[str, Any]) -> Chunk:
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


def _leg(body: Mapping[str, Any]) -> LegResult:
    hits = body["hits"]["hits"]
    return LegResult(tuple(h["_source"]["chunk_id"] for h in hits), tuple(float(h["_score"] or 0.0) for h in hits))
