"""What an index version is made of: its settings, its strict mapping, and the `_meta` record of what built it.

The mapping is `dynamic: strict`, so a field no builder knows is refused instead of guessed. Identifiers and the
ACL are keywords (filters, not analysed); title, heading path and text use the English analyser for the BM25 leg;
the fingerprint and URL are stored but not indexed. The vector is a `dense_vector` with cosine similarity and the
configured HNSW options.

`_meta` names the embedding model, its dimension and the chunker version, so the index refuses vectors from
another model (`ElasticsearchIndex.bind`) and `ragbot versions` can say what built each version.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from ragbot.ports import IndexInfo

if TYPE_CHECKING:
    from ragbot.settings import ElasticsearchSettings

__all__ = ["index_settings", "info_of", "mappings", "meta_of", "serving_settings"]


def index_settings(settings: ElasticsearchSettings, *, bulk_load: bool) -> dict[str, Any]:
    """The settings of a new version.

    Args:
        settings: Shards and replicas.
        bulk_load: For a full re-index: no replicas and no refresh until `serving_settings` is applied, as
            Elastic's bulk-load guidance says.

    Returns:
        The `settings` body of a create-index request.
    """
    values: dict[str, Any] = {
        "number_of_shards": settings.shards,
        "number_of_replicas": 0 if bulk_load else settings.replicas,
    }
    if bulk_load:
        values["refresh_interval"] = "-1"
    return {"index": values}


def serving_settings(settings: ElasticsearchSettings) -> dict[str, Any]:
    """The settings a version gets back before it serves: its replicas, and the default refresh interval.

    Args:
        settings: Replicas.

    Returns:
        The `settings` body of an update-settings request.
    """
    return {"index": {"number_of_replicas": settings.replicas, "refresh_interval": None}}


def mappings(info: IndexInfo, settings: ElasticsearchSettings) -> dict[str, Any]:
    """The strict mapping of a version, chunk and document records alike, with its `_meta`.

    Args:
        info: The embedding model, dimension and chunker version the version is built with.
        settings: The vector index type and its HNSW parameters.

    Returns:
        The `mappings` body of a create-index request.
    """
    index_options: dict[str, Any] = {"type": settings.vector_index}
    if settings.vector_index.endswith("hnsw"):
        index_options.update(m=settings.hnsw_m, ef_construction=settings.hnsw_ef_construction)
    keyword = {"type": "keyword"}
    stored_only = {"type": "keyword", "index": False, "doc_values": False}
    return {
        "dynamic": "strict",
        "_meta": meta_of(info),
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


def meta_of(info: IndexInfo) -> dict[str, Any]:
    """The `_meta` record of what built a version.

    Args:
        info: The embedding model, dimension, chunker version and creation time.

    Returns:
        The `_meta` object of the version's mapping.
    """
    return {
        "embedding_model": info.embedding_model,
        "dimension": info.dimension,
        "chunker_version": info.chunker_version,
        "created_at": info.created_at.isoformat(),
        "created_by": "ragbot",
    }


def info_of(meta: dict[str, Any]) -> IndexInfo | None:
    """Read a `_meta` record back.

    Args:
        meta: The `_meta` object of a mapping; empty for an index ragbot did not build.

    Returns:
        What built the index, or None when `meta` is not ragbot's.
    """
    if "embedding_model" not in meta:
        return None
    return IndexInfo(
        embedding_model=str(meta["embedding_model"]),
        dimension=int(meta["dimension"]),
        chunker_version=str(meta["chunker_version"]),
        created_at=datetime.fromisoformat(str(meta["created_at"])),
    )
