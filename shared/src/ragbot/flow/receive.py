"""Hop 0: receive. Whether a message that reached an adapter becomes a queued question, and what the asker hears if not.

One admission for every platform. The adapter translates its event into an `Arrival` (who, where, the question text
with the mention removed, the delivery id) and applies only what its platform alone knows (its own bots, tenants);
then, in this order:

    dedupe       a redelivered event (Slack retries, repeated Teams activities) is dropped by its delivery id
    allowlist    a place outside the allowlist gets a polite no (in private)
    empty        a mention with no question gets a prompt (in private), where the platform wants one
    length       an over-long question is refused
    limit        per-user and per-place (channel, group chat) rate limits, shared by every replica
    load         a question that would wait longer than `max_wait_s` for its answer is refused at once, with
                 the wait it would have had (`texts.busy`), instead of waiting in a queue for an apology

If the shared state cannot be reached the asker is told at once (`texts.UNAVAILABLE`): after the platform's
acknowledgement nothing else would ever tell them. The adapter then says the `Notice`, if any, its own way.

The load check counts the questions in the system (`Backlog`: admitted, not yet replied to; atomic across
replicas, so a burst is counted as it arrives, not when it reaches the queue) against what the workers answer per
second (`answer_rate`: each registered worker's processes over the time its hops take, at the slowest hop). With
no measurement yet (no worker registered, a hop never timed) nothing is refused: the expiry stays the backstop.
"""

from __future__ import annotations

import logging
import math
import uuid
from dataclasses import dataclass
from typing import Literal

from ragbot import texts
from ragbot.models import MAX_QUESTION_CHARS
from ragbot.observability import metrics
from ragbot.ports import Backlog, Capacity, DeliveryGate, RateLimiter

__all__ = ["Admission", "AdmissionPolicy", "Arrival", "LoadPolicy", "Notice", "admit", "answer_rate", "count"]

log = logging.getLogger(__name__)

IntakeResult = Literal[
    "accepted",
    "duplicate",
    "ignored",
    "not_allowed",
    "rejected",
    "rate_limited",
    "overloaded",
    "enqueue_failed",
    "lookup_failed",
]


@dataclass(frozen=True, slots=True)
class Arrival:
    """A chat message, as every platform describes it to the admission.

    Args:
        platform: "slack", "teams", ...: prefixes the dedupe and rate-limit keys.
        delivery_kind, delivery_id: What identifies a redelivery ("" id: never deduplicated).
        user: The asker (the rate-limit key).
        place: The channel or group chat a limit is shared by; "" in a private chat (only the user's limit applies).
        text: The question, with the mention removed.
        allowed: Whether the place is on the platform's allowlist.

    The adapter names the question it queues `{platform}-{delivery_id}` (`question_id`): the reply hop takes it out
    of the admission's count by that name.
    """

    platform: str
    delivery_kind: str
    delivery_id: str
    user: str
    place: str
    text: str
    allowed: bool = True

    @property
    def question_id(self) -> str:
        return f"{self.platform}-{self.delivery_id}" if self.delivery_id else f"{self.platform}-{uuid.uuid4().hex}"


# The hops every question passes through, in order (their names as workers register them).
_ANSWERING_HOPS = ("retrieve", "generate", "reply")


@dataclass(frozen=True, slots=True)
class LoadPolicy:
    """When a question is refused for load (`queue.timing.load_policy` builds it from settings).

    Args:
        backlog: The questions in the system and the workers answering them.
        max_wait_s: Refuse a question that would wait longer than this for its answer; 0: never refuse.
        forget_after_s: A question still counted after this long was lost before its reply; it stops counting.
    """

    backlog: Backlog
    max_wait_s: int
    forget_after_s: int


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The limits admission applies (from settings, at the composition root)."""

    dedupe_ttl_s: int
    user_per_minute: int
    place_per_minute: int
    prompt_when_empty: bool = True
    load: LoadPolicy | None = None


@dataclass(frozen=True, slots=True)
class Notice:
    """What the asker is told instead of an answer; `private` notices only the asker sees, where the platform can."""

    text: str
    private: bool


@dataclass(frozen=True, slots=True)
class Admission:
    """The verdict: `result` is the intake metric's label; `notice` what to tell the asker (None: nothing)."""

    result: IntakeResult
    notice: Notice | None = None

    @property
    def accepted(self) -> bool:
        return self.result == "accepted"


async def admit(arrival: Arrival, *, gate: DeliveryGate, limiter: RateLimiter, policy: AdmissionPolicy) -> Admission:
    """Decide whether `arrival` is a question to queue.

    Args:
        arrival: The message, translated by its adapter.
        gate: Drops redeliveries.
        limiter: The rate limits.
        policy: Dedupe window, limits, and whether an empty mention is answered with a prompt.

    Returns:
        The verdict and the notice the asker should see (the caller counts and says it).
    """
    if arrival.delivery_id:
        try:
            first = await gate.first_delivery(arrival.delivery_kind, arrival.delivery_id, ttl_s=policy.dedupe_ttl_s)
        except Exception:  # shared state down: nothing can be queued either; say so rather than go quiet
            log.warning("dedupe unavailable", exc_info=True, extra={"platform": arrival.platform})
            return Admission("enqueue_failed", Notice(texts.UNAVAILABLE, private=False))
        if not first:
            log.info("duplicate delivery dropped", extra={"platform": arrival.platform})
            return Admission("duplicate")
    if not arrival.allowed:
        return Admission("not_allowed", Notice(texts.NOT_HERE, private=True))
    if not arrival.text:
        if policy.prompt_when_empty:
            return Admission("rejected", Notice(texts.EMPTY, private=True))
        return Admission("ignored")
    if len(arrival.text) > MAX_QUESTION_CHARS:
        return Admission("rejected", Notice(texts.TOO_LONG, private=False))
    try:
        wait = await _retry_after(arrival, limiter=limiter, policy=policy)
    except Exception:
        log.warning("rate limiter unavailable", exc_info=True, extra={"platform": arrival.platform})
        return Admission("enqueue_failed", Notice(texts.UNAVAILABLE, private=False))
    if wait:
        return Admission("rate_limited", Notice(texts.rate_limited(wait), private=True))
    if policy.load is not None:
        return await _enter(arrival, policy.load)
    return Admission("accepted")


def answer_rate(capacity: Capacity) -> float | None:
    """Questions per second the registered workers can answer, at the slowest hop; None when it cannot be told.

    A worker running several hops shares its processes between them: its processes over the time its hops take
    together is what it adds to each of its hops. (One worker for every hop: processes / the sum of the hops'
    times; one worker per hop: each hop's processes / its time.)
    """
    seconds = capacity.hop_seconds
    if any(seconds.get(hop, 0.0) <= 0 for hop in _ANSWERING_HOPS):
        return None  # a hop never timed yet: no estimate
    rates: dict[str, float] = dict.fromkeys(_ANSWERING_HOPS, 0.0)
    for worker in capacity.workers:
        hops = [hop for hop in worker.hops if hop in rates]
        busy = sum(seconds[hop] for hop in hops)
        for hop in hops:
            rates[hop] += worker.processes / busy
    slowest = min(rates.values())
    return slowest if slowest > 0 else None  # a hop nobody runs right now: no estimate either


async def _enter(arrival: Arrival, load: LoadPolicy) -> Admission:
    try:
        rate = answer_rate(await load.backlog.capacity()) if load.max_wait_s else None
        limit = max(math.floor(load.max_wait_s * rate), 1) if rate else None
        let_in, ahead = await load.backlog.enter(arrival.question_id, limit=limit, forget_after_s=load.forget_after_s)
    except Exception:  # measuring failed: take the question; its expiry still ends any wait with an apology
        log.warning("backlog unavailable", exc_info=True, extra={"platform": arrival.platform})
        return Admission("accepted")
    if let_in or not rate:
        return Admission("accepted")
    log.info("question refused for load", extra={"platform": arrival.platform, "ahead": ahead})
    return Admission("overloaded", Notice(texts.busy(math.ceil((ahead + 1) / rate)), private=False))


def count(platform: str, result: IntakeResult) -> None:
    """Count one message's fate in the intake metric."""
    metrics.INTAKE.labels(platform=platform, result=result).inc()


async def _retry_after(arrival: Arrival, *, limiter: RateLimiter, policy: AdmissionPolicy) -> int:
    platform = arrival.platform
    wait = await limiter.retry_after(f"{platform}-user", arrival.user, limit=policy.user_per_minute)
    if wait or not arrival.place:
        return wait
    return await limiter.retry_after(f"{platform}-channel", arrival.place, limit=policy.place_per_minute)
