"""Composition root helpers: settings in, ready collaborators out. Only entry points call these."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from ragbot.access.directory import PrincipalsDirectory
from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from ragbot.errors import ConfigurationError
from ragbot.generation.condense import Condenser, RuleCondenser
from ragbot.generation.extractive import ExtractiveGenerator
from ragbot.ingestion.chunk import Chunker
from ragbot.interactions.records import UserHasher
from ragbot.ports import DocumentIndex, Embedder, Generator, InteractionLog
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import RedisSettings, Settings

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ragbot.learning.registry import AdapterRegistry

__all__ = [
    "build_chunker",
    "build_condenser",
    "build_directory",
    "build_embedder",
    "build_generator",
    "build_index",
    "build_interaction_log",
    "build_registry",
    "build_async_redis",
    "build_redis",
    "build_retriever",
    "build_user_hasher",
    "open_interaction_log",
]


def build_embedder(settings: Settings) -> SentenceTransformerEmbedder:
    e = settings.embedding
    return SentenceTransformerEmbedder(e.model, device=e.device, batch_size=e.batch_size, threads=e.threads)


def build_index(settings: Settings) -> DocumentIndex:
    """Elasticsearch when `RAGBOT_ELASTICSEARCH__URL` is set, else the embedded store in `data_dir`."""
    if settings.elasticsearch.url:
        from ragbot.backends.elasticsearch import ElasticsearchIndex, connect

        return ElasticsearchIndex(connect(settings.elasticsearch), settings=settings.elasticsearch)
    return EmbeddedIndex(settings.data_dir)


def build_directory(settings: Settings) -> PrincipalsDirectory | None:
    """The principals directory file, if one is configured (`RAGBOT_DIRECTORY__PATH`)."""
    path = settings.directory.path
    return PrincipalsDirectory.from_file(path) if path is not None else None


def build_chunker(settings: Settings) -> Chunker:
    return Chunker(target_tokens=settings.chunking.target_tokens, overlap_tokens=settings.chunking.overlap_tokens)


def build_generator(settings: Settings, *, embedder: Embedder) -> Generator:
    """The model server when `RAGBOT_TGI__URL` is set (with the extractive answerer as its degraded mode)."""
    extractive = ExtractiveGenerator(embedder=embedder, settings=settings.answer)
    if settings.tgi.url:
        from ragbot.backends.tgi import TgiGenerator

        routing = None
        if settings.tgi.routing == "registry":
            from ragbot.learning.registry import RegistryRouting

            routing = RegistryRouting(settings.finetune.registry_dir(settings.data_dir))
        return TgiGenerator(settings.tgi, fallback=extractive, routing=routing)
    return extractive


def build_registry(settings: Settings) -> AdapterRegistry:
    """The adapter registry (`RAGBOT_FINETUNE__REGISTRY`, default data_dir/adapters)."""
    from ragbot.learning.registry import AdapterRegistry

    finetune = settings.finetune
    return AdapterRegistry(finetune.registry_dir(settings.data_dir), served_path=finetune.served_path)


def build_condenser(settings: Settings) -> Condenser:
    """Follow-ups made standalone by the model when there is one (`RAGBOT_TGI__URL`), else by rule."""
    if settings.tgi.url:
        from ragbot.backends.tgi import TgiCondenser

        return TgiCondenser(settings.tgi)
    return RuleCondenser()


def build_retriever(settings: Settings, *, embedder: Embedder, index: DocumentIndex) -> Retriever:
    return Retriever(embedder=embedder, index=index, settings=settings.retrieval)


def build_interaction_log(settings: Settings) -> InteractionLog | None:
    """The interaction log, or None when `RAGBOT_INTERACTIONS__ENABLED=false`.

    Elasticsearch (`RAGBOT_INTERACTIONS__INDEX`) when the store is Elasticsearch, else SQLite in `data_dir`.
    """
    if not settings.interactions.enabled:
        return None
    if settings.elasticsearch.url:
        from ragbot.backends.elasticsearch import ElasticsearchInteractionLog, connect

        es = settings.elasticsearch
        return ElasticsearchInteractionLog(
            connect(es), index=settings.interactions.index, shards=es.shards, replicas=es.replicas
        )
    from ragbot.backends.sqlite_interactions import SqliteInteractionLog

    return SqliteInteractionLog(settings.data_dir)


@contextmanager
def open_interaction_log(settings: Settings) -> Iterator[InteractionLog]:
    """The interaction log for a command that reads or changes it, closed afterwards.

    Raises:
        ConfigurationError: The log is off, so it holds nothing.
    """
    log = build_interaction_log(settings)
    if log is None:
        raise ConfigurationError("the interaction log is off (RAGBOT_INTERACTIONS__ENABLED=false): it holds nothing")
    try:
        yield log
    finally:
        log.close()


def build_user_hasher(settings: Settings) -> UserHasher:
    return UserHasher(settings.user_hash_key())


def build_redis(settings: RedisSettings) -> redis.Redis:
    """A blocking Redis client with the configured timeouts (workers)."""
    import redis

    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        health_check_interval=30,
    )


def build_async_redis(settings: RedisSettings) -> redis.asyncio.Redis:
    """An asyncio Redis client with the configured timeouts (adapters)."""
    import redis.asyncio

    return redis.asyncio.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
    )
