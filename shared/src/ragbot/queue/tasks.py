"""The Celery tasks: each is the decorator plus one call into `ragbot.flow`, made once for every platform.

    ragbot.retrieve               Question  → Retrieval     flow.retrieve.retrieve_question
    ragbot.generate               Retrieval → Outcome       flow.generate.answer_retrieval (partials as written)
    ragbot.reply.<platform>       Outcome   → the thread    flow.reply.deliver, with the platform's ReplySender
    ragbot.apologize.<platform>   errback of every hop      flow.reply.apologize
    ragbot.feedback               Feedback  → the interaction log

`register_tasks` adds the tasks of the queues a worker consumes to its app; the reply and apology tasks are the
same two functions for every platform, which differ only in the sender the process's context supplies. A task
reaches its process's context through its app (`attach_context`): the worker's composition root says how to build
it, once per process; no task looks anything up.

A reply or apology that finds the question held by another delivery (`flow.reply.ReplyBusy`: a redelivery after a
crash, while the dead holder's lease runs out) retries when that lease ends, for as long as its message lives
(`queue.timing`); other retryable errors retry with backoff, `queue.max_retries` times. Each hop's run time goes
into a moving average, which the admission estimates waits from.
"""

from __future__ import annotations

import functools
import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from celery import Celery, Task

from ragbot.chat.streaming import Throttle
from ragbot.errors import PermanentError, RetryableError
from ragbot.flow.generate import answer_retrieval
from ragbot.flow.reply import ReplyBusy, apologize, deliver
from ragbot.flow.retrieve import retrieve_question
from ragbot.generation.condense import Condenser
from ragbot.interactions.records import UserHasher, feedback_entry
from ragbot.models import Feedback, Outcome, Question, Retrieval
from ragbot.ports import Generator, HopLedger, InteractionLog, PlatformSenders
from ragbot.queue.names import Queue, TaskName, apologize_task, reply_queue, reply_task
from ragbot.queue.timing import delivery_timing
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import Settings

__all__ = ["HopContext", "HopTask", "ProcessContext", "attach_context", "register_tasks"]

log = logging.getLogger(__name__)


class HopContext(Protocol):
    """What the tasks of one process use (`ragbot.bootstrap.Context` is one)."""

    settings: Settings

    @property
    def retriever(self) -> Retriever: ...

    @property
    def condenser(self) -> Condenser: ...

    @property
    def generator(self) -> Generator: ...

    @property
    def interactions(self) -> InteractionLog | None: ...

    @property
    def ledger(self) -> HopLedger: ...

    @property
    def hasher(self) -> UserHasher: ...

    def senders(self, platform: str) -> PlatformSenders: ...

    def stream_to(self, question: Question) -> Throttle | None: ...

    def warm(self, *, retrieval: bool) -> None: ...


class ProcessContext:
    """One context per process: a forked child builds its own rather than share its parent's sockets.

    Args:
        factory: Builds the context (the worker's composition root says how).
    """

    def __init__(self, factory: Callable[[], HopContext]) -> None:
        self._factory = factory
        self._lock = threading.Lock()
        self._current: tuple[int, HopContext] | None = None

    def get(self) -> HopContext:
        """This process's context, built on first use."""
        with self._lock:
            if self._current is None or self._current[0] != os.getpid():
                self._current = (os.getpid(), self._factory())
            return self._current[1]


def attach_context(app: Celery, context: ProcessContext) -> None:
    """Give the tasks of `app` their process's context (the worker's composition root calls this once)."""
    app.ragbot_context = context


class HopTask(Task):  # type: ignore[misc]
    """Base of ragbot's tasks: the process's context, and poison-message protection."""

    @property
    def context(self) -> HopContext:
        holder: ProcessContext | None = getattr(self.app, "ragbot_context", None)
        if holder is None:
            raise PermanentError("the worker's context was not attached (ragbot.queue.tasks.attach_context)")
        return holder.get()

    @contextmanager
    def waiting_out_busy(self) -> Iterator[None]:
        """A `ReplyBusy` becomes a retry when the holder's lease runs out, counted apart from ordinary retries.

        The holder either finishes ("done" next time) or died and stops renewing (free next time); the message's own
        expiry bounds the waiting, after which the errback apologises.
        """
        try:
            yield
        except ReplyBusy as busy:
            timing = delivery_timing(self.context.settings)
            countdown = max(busy.retry_in_s, 0.5) + random.uniform(0, 0.5)  # noqa: S311 - spreading, not secrecy
            log.info("reply held by another delivery; retrying in %.1f s", countdown)
            limit = self.max_retries + timing.busy_retries
            raise self.retry(exc=busy, countdown=countdown, max_retries=limit) from busy

    def count_delivery(self) -> None:
        """Refuse a message that has already been started `queue.max_deliveries` times (it keeps killing workers).

        Retries are separate attempts with their own count; only redeliveries of the same attempt add up.

        Raises:
            PermanentError: The message was delivered too often; its errback tells the asker.
        """
        context = self.context
        queue = context.settings.queue
        limit = queue.max_deliveries
        key = f"{self.request.id}:{self.request.retries}"
        if context.ledger.deliveries(key, ttl_s=queue.visibility_timeout_s * (limit + 1)) > limit:
            raise PermanentError(f"task {self.request.id} was delivered more than {limit} times; giving up")


def retrieve(self: HopTask, question: Question) -> Retrieval:
    """Find the passages the asker may read (`flow.retrieve.retrieve_question`)."""
    self.count_delivery()
    context = self.context
    return retrieve_question(
        question, retriever=context.retriever, condenser=context.condenser, sent_at=question.asked_at
    )


def generate(self: HopTask, retrieval: Retrieval) -> Outcome:
    """Write the cited answer (`flow.generate.answer_retrieval`), showing it as it is written where the platform can."""
    self.count_delivery()
    context = self.context
    shown = context.stream_to(retrieval.question)
    outcome = answer_retrieval(retrieval, generator=context.generator, on_text=shown)
    return outcome.model_copy(update={"stream_id": shown.handle}) if shown is not None and shown.handle else outcome


def reply(self: HopTask, outcome: Outcome) -> None:
    """Deliver the answer into the question's conversation (`flow.reply.deliver`)."""
    self.count_delivery()
    context = self.context
    with self.waiting_out_busy():
        deliver(
            outcome,
            sender=context.senders(outcome.question.conversation.platform).reply,
            ledger=context.ledger,
            interactions=context.interactions,
            hasher=context.hasher,
            lease_s=context.settings.queue.reply_lease_s,
        )


def apology(self: HopTask, failed_task_id: str, question: Question) -> None:
    """Errback: tell the asker their question failed (`flow.reply.apologize`)."""
    hop = failed_task_id.rsplit(":", 1)[-1]
    if not self.request.retries:
        log.warning("question failed at hop %s", hop, extra={"question_id": question.question_id, "hop": hop})
    context = self.context
    with self.waiting_out_busy():
        apologize(
            question,
            sender=context.senders(question.conversation.platform).reply,
            ledger=context.ledger,
            interactions=context.interactions,
            hasher=context.hasher,
            error=f"failed at {hop}",
            lease_s=context.settings.queue.reply_lease_s,
        )


def record_feedback(self: HopTask, feedback: Feedback) -> None:
    """Attach the feedback to its question's record (the user id is hashed first)."""
    context = self.context
    interactions = context.interactions
    if interactions is not None:
        interactions.add_feedback(feedback.question_id, feedback_entry(feedback, hasher=context.hasher))


_HOPS: dict[Callable[..., Any], str] = {retrieve: "retrieve", generate: "generate", reply: "reply"}


def register_tasks(app: Celery, *, queues: Iterable[str], platforms: Iterable[str]) -> list[str]:
    """Add to `app` the tasks of the queues it consumes; returns their names.

    Args:
        app: The worker's Celery app.
        queues: The queues the worker consumes.
        platforms: The chat platforms whose reply queues it may consume (those installed).
    """
    chosen = set(queues)
    tasks: list[tuple[str, Callable[..., Any], bool]] = []  # (name, function, whether its result travels on)
    if Queue.RETRIEVE in chosen:
        tasks.append((TaskName.RETRIEVE, retrieve, True))
    if Queue.GENERATE in chosen:
        tasks.append((TaskName.GENERATE, generate, True))
    if Queue.FEEDBACK in chosen:
        tasks.append((TaskName.FEEDBACK, record_feedback, False))
    for platform in platforms:
        if reply_queue(platform) in chosen:
            tasks.append((reply_task(platform), reply, False))
            tasks.append((apologize_task(platform), apology, False))
    for name, function, returns in tasks:
        options: dict[str, Any] = {"pydantic_dump_kwargs": {"mode": "json"}} if returns else {}
        timed = _timed(function, hop=_HOPS.get(function)) if function in _HOPS else function
        app.task(name=str(name), base=HopTask, bind=True, pydantic=True, autoretry_for=(RetryableError,), **options)(
            timed
        )
    return [str(name) for name, _, _ in tasks]


def _timed(function: Callable[..., Any], *, hop: str | None) -> Callable[..., Any]:
    """Fold each successful run's duration into the hop's moving average (the admission's speed estimate)."""

    @functools.wraps(function)
    def run(self: HopTask, *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = function(self, *args, **kwargs)
        try:
            self.context.ledger.record_run(str(hop), time.perf_counter() - started)
        except Exception:  # a missing measurement costs an estimate, never an answer
            log.debug("could not record the run time of %s", hop, exc_info=True)
        return result

    return run
