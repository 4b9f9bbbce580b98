"""How long everything on the queue may take, derived from each other in one place and checked at start.

A question is acknowledged to the asker before any worker sees it, so every clock below exists to make sure it is
answered or apologised for, exactly once, whatever dies on the way:

    expires_s            a message may wait this long in a queue; then its errback apologises
    visibility_timeout   a message held by a worker that vanished (SIGKILL, a lost node) comes back after this:
                         longer than a live worker ever holds one (a hop's run plus a retry's wait), so a hop
                         still running is never handed to a second worker; shorter than `expires_s`, so what a
                         crashed worker held comes back while it can still be answered
    restore_every_s      how often a worker looks for such messages (kombu's default is every ~100 s)
    reply_lease_s        the reply hop's claim on a question: renewed every `renew_every_s` while sending, so a
                         reply cut off by a crash is free again within one lease; a redelivered reply that finds
                         the claim taken retries when the holder's lease runs out, for as long as its message
                         lives, and its errback apologises after that: never a silent thread
    max_wait_s           the admission refuses a question at once when it would wait longer than this
    backlog_age_s        a question still counted as "in the system" after this long is forgotten (it was lost
                         before the reply hop, which is where a question leaves the count)

`delivery_timing(settings)` is called by `create_celery_app`, so every adapter and worker refuses contradicting
settings at start, with one line naming them; `load_policy` gives an adapter's admission its load check.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ragbot.errors import ConfigurationError
from ragbot.flow.receive import LoadPolicy
from ragbot.flow.reply import RENEWALS_PER_LEASE
from ragbot.ports import Backlog
from ragbot.settings import Settings

__all__ = ["DeliveryTiming", "delivery_timing", "load_policy"]

# What a hop needs besides a model server's answer: a search, the extractive answer, a chat platform's reply (Slack's
# client gives a call 10 s). A hop that runs longer is handed to a second worker as well: harmless (every hop is
# idempotent, and a reply whose holder is alive keeps its lease), only wasted work.
_HOP_WORK_S = 10.0


@dataclass(frozen=True, slots=True)
class DeliveryTiming:
    """The queue's clocks, in seconds (see the module docstring for what each one guarantees)."""

    expires_s: int
    visibility_timeout_s: int
    restore_every_s: int
    longest_hold_s: float
    reply_lease_s: int
    renew_every_s: float
    busy_retries: int
    max_wait_s: int
    backlog_age_s: int


def delivery_timing(settings: Settings) -> DeliveryTiming:
    """The clocks for these settings.

    Raises:
        ConfigurationError: Two settings contradict each other (the message names both, on one line).
    """
    queue = settings.queue
    model_s = settings.tgi.deadline_s if settings.tgi.url else 0.0
    # A live worker holds a message while a hop runs, and while it waits out a retry's countdown (kept in the worker).
    longest_hold = model_s + _HOP_WORK_S + max(queue.retry_backoff_max_s, queue.reply_lease_s)
    if queue.visibility_timeout_s <= longest_hold:
        raise ConfigurationError(
            f"RAGBOT_QUEUE__VISIBILITY_TIMEOUT_S ({queue.visibility_timeout_s}) must be longer than a worker may hold "
            f"a message ({longest_hold:g} s: RAGBOT_TGI__DEADLINE_S when a model server is set, + {_HOP_WORK_S:g} s, "
            "+ the longer of RAGBOT_QUEUE__RETRY_BACKOFF_MAX_S and RAGBOT_QUEUE__REPLY_LEASE_S), or a hop still "
            "running is handed to a second worker"
        )
    if queue.visibility_timeout_s >= queue.expires_s:
        raise ConfigurationError(
            f"RAGBOT_QUEUE__VISIBILITY_TIMEOUT_S ({queue.visibility_timeout_s}) must be shorter than "
            f"RAGBOT_QUEUE__EXPIRES_S ({queue.expires_s}), or what a crashed worker held comes back only after it "
            "expired and can only be apologised for"
        )
    if queue.max_wait_s >= queue.expires_s:
        raise ConfigurationError(
            f"RAGBOT_QUEUE__MAX_WAIT_S ({queue.max_wait_s}) must be shorter than RAGBOT_QUEUE__EXPIRES_S "
            f"({queue.expires_s}): a question admitted to wait that long would expire in the queue instead"
        )
    renew_every = queue.reply_lease_s / RENEWALS_PER_LEASE
    return DeliveryTiming(
        expires_s=queue.expires_s,
        visibility_timeout_s=queue.visibility_timeout_s,
        restore_every_s=max(1, min(5, queue.visibility_timeout_s // 6)),
        longest_hold_s=longest_hold,
        reply_lease_s=queue.reply_lease_s,
        renew_every_s=renew_every,
        # A busy claim is retried when its lease runs out (at most a lease apart): enough retries to outlast the
        # message itself, whose expiry then hands the question to the apology.
        busy_retries=math.ceil(queue.expires_s / max(renew_every, 1.0)) + 1,
        max_wait_s=queue.max_wait_s,
        backlog_age_s=2 * queue.expires_s,
    )


def load_policy(settings: Settings, *, backlog: Backlog) -> LoadPolicy:
    """The admission's load check for these settings (each adapter's composition root passes its Redis state).

    Raises:
        ConfigurationError: The queue's timings contradict each other.
    """
    timing = delivery_timing(settings)
    return LoadPolicy(backlog=backlog, max_wait_s=timing.max_wait_s, forget_after_s=timing.backlog_age_s)
