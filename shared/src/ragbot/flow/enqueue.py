"""Enqueue: a question becomes the chain retrieve → generate → reply.<platform>, with an apology as errback.

Signatures are built by task name, so an adapter never imports worker code. Every message expires, and the
errback (on the platform's reply queue) runs if any hop fails for good or expires, so the asker always hears back.
"""

from __future__ import annotations

import time

from celery import Celery, chain
from kombu.exceptions import OperationalError
from redis.exceptions import RedisError

from ragbot.errors import InputError, RetryableError
from ragbot.models import Question
from ragbot.queue.names import ChatPlatform, Queue, TaskName, apologize_task, reply_queue, reply_task

__all__ = ["submit"]


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
    platform = question.conversation.platform
    if platform not in ("slack", "teams"):
        raise InputError(f"questions from {platform!r} are answered in-process, not queued")
    chat: ChatPlatform = platform
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
        flow.apply_async()
    except (OperationalError, RedisError, OSError) as err:  # to the caller it is one thing: not queued
        raise RetryableError(f"the question queue is unreachable ({type(err).__name__})") from err
    return f"{qid}:retrieve"
