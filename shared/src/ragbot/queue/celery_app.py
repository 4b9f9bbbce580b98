"""The Celery application every producer and worker shares: JSON only, late acks, bounded everything.

Guarantees it configures (DESIGN §5):

- JSON on the wire, never pickle; results are not stored (each hop hands its result to the next by chaining).
- `acks_late` + `reject_on_worker_lost`: a message is acknowledged only after its hop finished, and requeued when
  the worker process dies mid-way (every hop is idempotent by question id, so running one twice is harmless).
- Prefetch of one, so a slow question does not hold others hostage behind it.
- Retries of retryable errors only, with exponential backoff and jitter, bounded by `queue.max_retries`.
- Publishing gives up after a few short attempts and raises, so an adapter can tell the asker at once.
- A worker that loses Redis reconnects, with backoff (2 s, 4 s, … up to 30 s apart), for as long as it takes.
- A message held by a worker that vanished comes back after the visibility timeout, which is checked against the
  expiry and the longest hop at start (`queue.timing`); workers look for such messages every few seconds.
- A message that expired in the queue still reaches its error callback (Celery alone would drop it silently).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery, group
from celery.signals import task_revoked

from ragbot.queue.names import route
from ragbot.queue.timing import delivery_timing
from ragbot.settings import Settings

__all__ = ["create_celery_app"]

log = logging.getLogger(__name__)


def create_celery_app(settings: Settings, *, include: Sequence[str] = (), name: str = "ragbot") -> Celery:
    """Build the Celery app for producers (adapters) and workers.

    Args:
        settings: Redis URL and timeouts, queue expiry, retries and visibility timeout.
        include: Task modules a worker imports (producers need none: they send by name).
        name: The app's main name (shows in worker logs).

    Raises:
        ConfigurationError: The queue's timings contradict each other (`queue.timing.delivery_timing`).
    """
    redis, queue = settings.redis, settings.queue
    timing = delivery_timing(settings)
    app = Celery(name, broker=redis.url, include=list(include), set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_serializer="json",
        task_ignore_result=True,
        task_store_errors_even_if_ignored=False,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        task_acks_on_failure_or_timeout=True,
        worker_prefetch_multiplier=1,
        task_routes=(route,),
        task_annotations={
            "*": {
                "max_retries": queue.max_retries,
                "retry_backoff": True,
                "retry_backoff_max": queue.retry_backoff_max_s,
                "retry_jitter": True,
            }
        },
        broker_connection_retry_on_startup=True,
        broker_connection_timeout=redis.connect_timeout_s,
        # None: a worker whose Redis went away keeps trying (kombu's backoff, 2 s to 30 s apart) instead of exiting
        # after a few attempts and leaving every later question to expire. Publishing has its own policy below.
        broker_connection_max_retries=None,
        worker_proc_alive_timeout=settings.worker.child_start_timeout_s,
        broker_transport_options={
            "visibility_timeout": timing.visibility_timeout_s,
            "unacked_restore_interval": timing.restore_every_s,
            "unacked_restore_throttle": 1,
            "socket_timeout": redis.socket_timeout_s,
            "socket_connect_timeout": redis.connect_timeout_s,
            "socket_keepalive": True,
            "health_check_interval": 25,
        },
        task_publish_retry=True,
        task_publish_retry_policy={"max_retries": 2, "interval_start": 0.1, "interval_step": 0.2, "interval_max": 0.5},
        worker_hijack_root_logger=False,
        worker_redirect_stdouts=False,
        worker_send_task_events=False,
        worker_cancel_long_running_tasks_on_connection_loss=True,
        broker_channel_error_retry=True,
    )
    return app


@task_revoked.connect(weak=False)  # type: ignore[untyped-decorator]
def _errbacks_for_expired(sender: Any = None, request: Any = None, expired: bool = False, **_: Any) -> None:
    """Celery marks an expired message revoked without calling its errbacks; call them, so someone is told."""
    errbacks = getattr(request, "errbacks", None) if expired else None
    if not errbacks or sender is None:
        return
    app = sender.app
    log.warning("task %s expired in the queue; calling its error callbacks", getattr(request, "id", "?"))
    group([app.signature(errback) for errback in errbacks], app=app).apply_async((request.id,))
