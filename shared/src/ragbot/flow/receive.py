"""Hop 0: receive. Whether a message that reached an adapter becomes a queued question, and what the asker hears if not.

One admission for every platform. The adapter translates its event into an `Arrival` (who, where, the question text
with the mention removed, the delivery id) and applies only what its platform alone knows (its own bots, tenants);
then, in this order:

    dedupe       a redelivered event (Slack retries, repeated Teams activities) is dropped by its delivery id
    allowlist    a place outside the allowlist gets a polite no (in private)
    empty        a mention with no question gets a prompt (in private), where the platform wants one
    length       an over-long question is refused
    limit        per-user and per-place (channel, group chat) rate limits, shared by every replica

If the shared state cannot be reached the asker is told at once (`texts.UNAVAILABLE`): after the platform's
acknowledgement nothing else would ever tell them. The adapter then says the `Notice`, if any, its own way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Literal

from ragbot import texts
from ragbot.models import MAX_QUESTION_CHARS
from ragbot.observability import metrics
from ragbot.ports import DeliveryGate, RateLimiter

__all__ = ["Admission", "AdmissionPolicy", "Arrival", "Notice", "admit", "count"]

log = logging.getLogger(__name__)

IntakeResult = Literal[
    "accepted",
    "duplicate",
    "ignored",
    "not_allowed",
    "rejected",
    "rate_limited",
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
    """

    platform: str
    delivery_kind: str
    delivery_id: str
    user: str
    place: str
    text: str
    allowed: bool = True


@dataclass(frozen=True, slots=True)
class AdmissionPolicy:
    """The limits admission applies (from settings, at the composition root)."""

    dedupe_ttl_s: int
    user_per_minute: int
    place_per_minute: int
    prompt_when_empty: bool = True


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
    return Admission("accepted")


def count(platform: str, result: IntakeResult) -> None:
    """Count one message's fate in the intake metric."""
    metrics.INTAKE.labels(platform=platform, result=result).inc()


async def _retry_after(arrival: Arrival, *, limiter: RateLimiter, policy: AdmissionPolicy) -> int:
    platform = arrival.platform
    wait = await limiter.retry_after(f"{platform}-user", arrival.user, limit=policy.user_per_minute)
    if wait or not arrival.place:
        return wait
    return await limiter.retry_after(f"{platform}-channel", arrival.place, limit=policy.place_per_minute)
