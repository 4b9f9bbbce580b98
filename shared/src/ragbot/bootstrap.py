"""The composition root: settings in, ready collaborators out. Only entry points (the CLI, each service's `__main__`,
the worker's process start) call these; everything below them receives its collaborators as arguments.

`Context` is what one process answers with: built once from `Settings` (and whatever a test passes in), each
collaborator made on first use. The CLI, the workers and `ragbot eval` all answer through the same `Context`.
`platform_senders` finds the chat platforms' senders (`ragbot.platforms` entry points) at process start.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, Any

from ragbot.access.directory import PrincipalsDirectory
from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from ragbot.chat.streaming import Throttle
from ragbot.errors import ConfigurationError
from ragbot.flow.generate import ModelAnswerer, ModelPolicy
from ragbot.generation.condense import Condenser, ModelCondenser, RuleCondenser
from ragbot.generation.extractive import ExtractiveGenerator
from ragbot.generation.prompting import estimate_tokens, tokenizer_counter
from ragbot.generation.routing import AdapterRouting, Route, StaticRouting
from ragbot.ingestion.chunk import Chunker
from ragbot.interactions.records import UserHasher
from ragbot.models import Question
from ragbot.ports import (
    DocumentIndex,
    Embedder,
    Generator,
    HopLedger,
    InteractionLog,
    PlatformSenders,
    TextGenerator,
)
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import RedisSettings, Settings, TgiSettings

if TYPE_CHECKING:
    import redis
    import redis.asyncio

    from ragbot.learning.registry import AdapterRegistry

__all__ = [
    "Context",
    "PlatformFactory",
    "build_model_answerer",
    "build_model_server",
    "platform_senders",
    "static_routing",
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
        routing: AdapterRouting | None = None
        if settings.tgi.routing == "registry":
            from ragbot.learning.registry import RegistryRouting

            routing = RegistryRouting(settings.finetune.registry_dir(settings.data_dir))
        return build_model_answerer(settings.tgi, fallback=extractive, routing=routing)
    return extractive


def build_model_server(settings: TgiSettings) -> TextGenerator:
    """The model server's client (`RAGBOT_TGI__*`): TGI's Messages API through huggingface_hub."""
    from ragbot.backends.tgi import TgiTextGenerator, inference_client_factory

    if not settings.url:
        raise ConfigurationError("RAGBOT_TGI__URL is not set")
    token = settings.token.get_secret_value() if settings.token else None
    return TgiTextGenerator(
        url=settings.url,
        client=inference_client_factory(url=settings.url, token=token),
        token=token,
        info_refresh_s=settings.info_refresh_s,
        served_adapters=settings.served_adapters,
        info_timeout_s=min(settings.timeout_s, 10.0),
    )


def static_routing(settings: TgiSettings) -> StaticRouting:
    """The adapter and canary fixed in settings (`RAGBOT_TGI__ADAPTER`, `__CANARY_ADAPTER`, `__CANARY_FRACTION`)."""
    return StaticRouting(Route(settings.adapter, settings.canary_adapter, settings.canary_fraction))


def build_model_answerer(
    settings: TgiSettings, *, fallback: Generator, routing: AdapterRouting | None = None
) -> ModelAnswerer:
    """Answers written by the model server, with `fallback` (the extractive answerer) as the degraded mode.

    Args:
        settings: The model server, its deadline, sampling and (unless `routing` is given) adapter and canary.
        fallback: Answers when the model cannot.
        routing: Which adapter answers (default: the settings' adapter and canary).
    """
    policy = ModelPolicy(
        deadline_s=settings.deadline_s,
        timeout_s=settings.timeout_s,
        max_new_tokens=settings.max_new_tokens,
        temperature=settings.temperature,
        passages=settings.passages,
    )
    return ModelAnswerer(
        model=build_model_server(settings),
        routing=routing or static_routing(settings),
        policy=policy,
        fallback=fallback,
        count_tokens=tokenizer_counter(settings.tokenizer) if settings.tokenizer else estimate_tokens,
    )


def build_registry(settings: Settings) -> AdapterRegistry:
    """The adapter registry (`RAGBOT_FINETUNE__REGISTRY`, default data_dir/adapters)."""
    from ragbot.learning.registry import AdapterRegistry

    finetune = settings.finetune
    return AdapterRegistry(finetune.registry_dir(settings.data_dir), served_path=finetune.served_path)


def build_condenser(settings: Settings) -> Condenser:
    """Follow-ups made standalone by the model when there is one (`RAGBOT_TGI__URL`), else by rule."""
    if settings.tgi.url:
        return ModelCondenser(build_model_server(settings.tgi))
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
    """A blocking Redis client with the configured timeouts (workers).

    A command that meets a connection Redis closed (it restarted) is sent once more on a new one.
    """
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(
        settings.url,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        health_check_interval=30,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.ConnectionError],
    )


def build_async_redis(settings: RedisSettings) -> redis.asyncio.Redis:
    """An asyncio Redis client with the configured timeouts (adapters).

    A command that meets a connection Redis closed (it restarted) is sent once more on a new one, so the first
    question after a Redis restart is not told the service is unavailable. At most 100 connections; a burst that
    needs more waits (up to the command timeout) for one to come free instead of failing at once.
    """
    import redis.asyncio
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    pool = redis.asyncio.BlockingConnectionPool.from_url(
        settings.url,
        max_connections=100,
        timeout=settings.socket_timeout_s,
        socket_timeout=settings.socket_timeout_s,
        socket_connect_timeout=settings.connect_timeout_s,
        retry=Retry(NoBackoff(), 1),
        retry_on_error=[redis.asyncio.ConnectionError],
    )
    # from_pool: closing the client closes its pool (a client given a pool would leave the connections open).
    return redis.asyncio.Redis.from_pool(pool)


PlatformFactory = Callable[[Settings], PlatformSenders]
"""A chat service's `ragbot.platforms` entry point: its senders, built from settings."""


def platform_senders(names: Iterable[str] | None = None) -> dict[str, PlatformFactory]:
    """The installed chat platforms' sender factories (`ragbot.platforms` entry points), by platform name.

    Args:
        names: Only these platforms (default: every installed one); one not installed is left out.
    """
    wanted = set(names) if names is not None else None
    return {ep.name: ep.load() for ep in entry_points(group="ragbot.platforms") if wanted is None or ep.name in wanted}


class Context:
    """What one process answers with. Anything passed in is used as is; the rest is built from settings on first use.

    A forked worker child builds its own (sockets and model threads do not survive a fork): the worker's composition
    root makes one per process.

    Args:
        settings: The process's settings.
        embedder, index, generator, interactions: Ready-made collaborators (tests, custom deployments).
        platforms: The chat platforms this process replies to, and how to build their senders.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        index: DocumentIndex | None = None,
        generator: Generator | None = None,
        interactions: InteractionLog | None = None,
        platforms: Mapping[str, PlatformFactory] | None = None,
    ) -> None:
        self.settings = settings
        self._platforms = dict(platforms or {})
        self._senders: dict[str, PlatformSenders] = {}
        given: dict[str, Any] = {
            "embedder": embedder,
            "index": index,
            "generator": generator,
            "interactions": interactions,
        }
        # cached_property reads the instance dict first: seeding it makes a given collaborator win.
        self.__dict__.update({name: value for name, value in given.items() if value is not None})

    @cached_property
    def embedder(self) -> Embedder:
        return build_embedder(self.settings)

    @cached_property
    def index(self) -> DocumentIndex:
        return build_index(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        return build_retriever(self.settings, embedder=self.embedder, index=self.index)

    @cached_property
    def condenser(self) -> Condenser:
        return build_condenser(self.settings)

    @cached_property
    def generator(self) -> Generator:
        return build_generator(self.settings, embedder=self.embedder)

    @cached_property
    def interactions(self) -> InteractionLog | None:
        return build_interaction_log(self.settings)

    @cached_property
    def ledger(self) -> HopLedger:
        from ragbot.backends.redis_state import RedisHopLedger

        return RedisHopLedger(build_redis(self.settings.redis))

    @cached_property
    def hasher(self) -> UserHasher:
        return build_user_hasher(self.settings)

    def senders(self, platform: str) -> PlatformSenders:
        """The platform's senders, built on first use.

        Raises:
            ConfigurationError: This process was not given the platform (its service is not installed).
        """
        if platform not in self._senders:
            factory = self._platforms.get(platform)
            if factory is None:
                raise ConfigurationError(f"no chat platform {platform!r} is installed in this worker")
            self._senders[platform] = factory(self.settings)
        return self._senders[platform]

    def stream_to(self, question: Question) -> Throttle | None:
        """Where the growing answer to `question` is shown while the model writes it (None: only at the end)."""
        tgi = self.settings.tgi
        platform = question.conversation.platform
        if not (tgi.url and tgi.stream_interval_s > 0) or platform not in self._platforms:
            return None
        partials = self.senders(platform).partials
        stream = partials.open(question.conversation) if partials is not None else None
        return Throttle(stream, interval_s=tgi.stream_interval_s) if stream is not None else None

    def warm(self, *, retrieval: bool) -> None:
        """Load what the first question would otherwise wait for (the embedding model, the index)."""
        if retrieval:
            self.embedder.embed_query("warm up")
            self.retriever  # noqa: B018 - building it opens the index

    def close(self) -> None:
        """Close what was opened (the index, the interaction log)."""
        for name in ("index", "interactions"):
            opened = self.__dict__.get(name)
            if opened is not None:
                opened.close()
