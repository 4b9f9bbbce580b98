"""Per-process collaborators of the tasks, built on first use, after the worker forked.

`ResourceTask` is the base of every task: `self.resources` is this process's `Resources`, which builds the
embedder, index, generator, interaction log and Redis clients from settings the first time each is needed. The
worker entry point calls `configure()` once with how to build them (a test passes fakes in the same way), and
warms the retrieval model in `worker_process_init`, so the first question does not pay for loading it.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from functools import cached_property
from typing import Any

from celery import Task

from ragbot import bootstrap
from ragbot.backends.redis_state import HopLedger
from ragbot.chat.streaming import PartialSender, Throttle, partial_sender
from ragbot.errors import PermanentError
from ragbot.generation.condense import Condenser
from ragbot.interactions.records import UserHasher
from ragbot.models import Question
from ragbot.ports import DocumentIndex, Embedder, Generator, InteractionLog
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import Settings

__all__ = ["ResourceTask", "Resources", "configure", "current"]


class Resources:
    """What the tasks of one worker process use. Anything passed in is used as is; the rest comes from settings.

    Args:
        settings: The worker's settings.
        embedder, index, generator, interactions: Ready-made collaborators (tests, custom deployments).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        embedder: Embedder | None = None,
        index: DocumentIndex | None = None,
        generator: Generator | None = None,
        interactions: InteractionLog | None = None,
    ) -> None:
        self.settings = settings
        self._partials: dict[str, PartialSender | None] = {}
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
        return bootstrap.build_embedder(self.settings)

    @cached_property
    def index(self) -> DocumentIndex:
        return bootstrap.build_index(self.settings)

    @cached_property
    def retriever(self) -> Retriever:
        return bootstrap.build_retriever(self.settings, embedder=self.embedder, index=self.index)

    @cached_property
    def condenser(self) -> Condenser:
        return bootstrap.build_condenser(self.settings)

    @cached_property
    def generator(self) -> Generator:
        return bootstrap.build_generator(self.settings, embedder=self.embedder)

    @cached_property
    def interactions(self) -> InteractionLog | None:
        return bootstrap.build_interaction_log(self.settings)

    @cached_property
    def ledger(self) -> HopLedger:
        return HopLedger(bootstrap.build_redis(self.settings.redis))

    @cached_property
    def hasher(self) -> UserHasher:
        return bootstrap.build_user_hasher(self.settings)

    def stream_to(self, question: Question) -> Throttle | None:
        """Where the growing answer to `question` is shown while the model writes it (None: only at the end)."""
        tgi = self.settings.tgi
        if not (tgi.url and tgi.stream_interval_s > 0):
            return None
        platform = question.conversation.platform
        if platform not in self._partials:
            self._partials[platform] = partial_sender(platform, self.settings)
        sender = self._partials[platform]
        stream = sender.open(question.conversation) if sender is not None else None
        return Throttle(stream, interval_s=tgi.stream_interval_s) if stream is not None else None

    def warm(self, *, retrieval: bool) -> None:
        """Load what the first question would otherwise wait for (the embedding model, the index)."""
        if retrieval:
            self.embedder.embed_query("warm up")
            self.retriever  # noqa: B018 - building it opens the index


_lock = threading.Lock()
_factory: Callable[[], Resources] | None = None
_current: tuple[int, Resources] | None = None


def configure(factory: Callable[[], Resources]) -> None:
    """Say how this worker builds its resources. Called once by the worker entry point, before the fork."""
    global _factory, _current
    with _lock:
        _factory, _current = factory, None


def current() -> Resources:
    """This process's resources (a forked child builds its own rather than share its parent's sockets)."""
    global _current
    with _lock:
        if _current is None or _current[0] != os.getpid():
            if _factory is None:
                raise PermanentError("the worker's resources were not configured (ragbot.queue.resources.configure)")
            _current = (os.getpid(), _factory())
        return _current[1]


class ResourceTask(Task):  # type: ignore[misc]
    """Base of ragbot's tasks: per-process resources, and poison-message protection."""

    @property
    def resources(self) -> Resources:
        return current()

    def count_delivery(self) -> None:
        """Refuse a message that has already been started `queue.max_deliveries` times (it keeps killing workers).

        Retries are separate attempts with their own count; only redeliveries of the same attempt add up.

        Raises:
            PermanentError: The message was delivered too often; its errback tells the asker.
        """
        resources = self.resources
        limit = resources.settings.queue.max_deliveries
        key = f"{self.request.id}:{self.request.retries}"
        if resources.ledger.deliveries(key, ttl_s=resources.settings.queue.visibility_timeout_s * (limit + 1)) > limit:
            raise PermanentError(f"task {self.request.id} was delivered more than {limit} times; giving up")
