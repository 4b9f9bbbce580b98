"""The producer: a question becomes the chain retrieve → generate → reply.<platform>, with an apology as errback.

Signatures are built by task name, so an adapter never imports worker code. Every message expires, and the
errback (on the platform's reply queue) runs if any hop fails for good or expires, so the asker always hears back.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from celery import Celery, chain
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from ragbot.errors import InputError, RetryableError
from ragbot.models import Feedback, Question
from ragbot.observability import tracing
from ragbot.queue.names import Queue, TaskName, apologize_task, reply_queue, reply_task

__all__ = ["Intake", "intake_for", "submit", "submit_feedback"]


_FEEDBACK_EXPIRES_S = 86_400


@dataclass(frozen=True)
class Intake:
    """Where an adapter hands work. `submit` queues a question; `feedback` queues a 👍/👎 (both blocking)."""

    submit: Callable[[Question], str]
    feedback: Callable[[Feedback], None]


def intake_for(celery: Celery, *, expires_s: int) -> Intake:
    """The adapter's intake over the queue: questions into the answering chain, clicks onto `feedback`."""
    return Intake(
        submit=partial(submit, celery=celery, expires_s=expires_s),
        feedback=partial(submit_feedback, celery=celery),
    )


def submit_feedback(feedback: Feedback, *, celery: Celery) -> None:
    """Queue a 👍/👎 for the interaction log (it may wait longer than a question: nobody is waiting on it)."""
    celery.send_task(
        str(TaskName.FEEDBACK),
        args=(feedback.model_dump(mode="json"),),
        queue=str(Queue.FEEDBACK),
        expires=_FEEDBACK_EXPIRES_S,
    )


def submit(question: Question, *, celery: Celery, expires_s: int) -> str:
    """Queue `question` for answering; returns the id of its first task.

    Args:
        question: A question from Slack or Teams (`conversation.platform` picks the reply queue).
        celery: The producer app (`create_celery_app`).
        expires_s: How long each message may wait in its queue before it is given up (and apologised for).

    Raises:
        InputError: The question comes from a platform that has no reply queue.
        RetryableError: The broker could not be reached; nothing was queued.
    """
    chat = question.conversation.platform
    if chat == "cli":
        raise InputError(f"questions from {chat!r} are answered in-process, not queued")
    queued = question.model_copy(update={"asked_at": question.asked_at or time.time()})
    qid = queued.question_id
    options = {"expires": expires_s}
    errback = celery.signature(
        str(apologize_task(chat)), args=(queued.model_dump(mode="json"),), queue=str(reply_queue(chat)), **options
    )
    flow = chain(
        celery.signature(
            str(TaskName.RETRIEVE),
            args=(queued.model_dump(mode="json"),),
            queue=str(Queue.RETRIEVE),
            task_id=f"{qid}:retrieve",
            **options,
        ),
        celery.signature(str(TaskName.GENERATE), queue=str(Queue.GENERATE), task_id=f"{qid}:generate", **options),
        celery.signature(str(reply_task(chat)), queue=str(reply_queue(chat)), task_id=f"{qid}:reply", **options),
    ).on_error(errback)
    try:
        with tracing.span("ragbot.enqueue", **{"ragbot.question_id": qid, "ragbot.platform": chat}):
            flow.apply_async()
    except (OperationalError, RedisError, OSError) as err:  # to the caller it is one thing: not queued
        raise RetryableError(f"the question queue is unreachable ({type(err).__name__})") from err
    return f"{qid}:retrieve"
