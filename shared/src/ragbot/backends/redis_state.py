"""State the chat services share through Redis, so every replica agrees (DESIGN §5).

`RedisAdmission` (adapters, asyncio; the `DeliveryGate`, `RateLimiter` and `LookupCache` ports): drops duplicate
deliveries (Slack retries, repeated Teams activities) with `SET NX EX`, enforces per-user and per-channel rate limits
with one atomic counter per window, and caches slow lookups.

`RedisHopLedger` (workers, blocking; the `HopLedger` port): makes the reply hop happen once per question even when a
message is delivered twice, and counts deliveries of a hop so a message that keeps killing its worker is given up on
(and the asker told) instead of looping.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

from ragbot.ports import LedgerState

__all__ = ["RedisAdmission", "RedisHopLedger"]

_PREFIX = "ragbot:"
# INCR a window counter, starting its expiry on the first hit; returns the count and the seconds left in the window.
_COUNT_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""


class RedisAdmission:
    """What an adapter asks Redis before it accepts a question.

    Args:
        client: An asyncio Redis client (with socket timeouts set: a stalled Redis must fail fast).
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._count = client.register_script(_COUNT_IN_WINDOW)

    async def first_delivery(self, kind: str, key: str, *, ttl_s: int) -> bool:
        """True the first time `(kind, key)` is seen within `ttl_s`; False for every repeat."""
        return bool(await self._redis.set(f"{_PREFIX}seen:{kind}:{key}", "1", nx=True, ex=ttl_s))

    async def retry_after(self, scope: str, key: str, *, limit: int, window_s: int = 60) -> int:
        """Count one request for `scope:key`; return 0 when within `limit` per window, else seconds to wait."""
        if limit <= 0:
            return 0
        count, ttl = await self._count(keys=[f"{_PREFIX}rate:{scope}:{key}"], args=[window_s])
        return 0 if int(count) <= limit else max(int(ttl), 1)

    async def cached(self, key: str) -> str | None:
        value: Any = await self._redis.get(f"{_PREFIX}cache:{key}")
        return value.decode() if isinstance(value, bytes) else value

    async def cache(self, key: str, value: str, *, ttl_s: int) -> None:
        await self._redis.set(f"{_PREFIX}cache:{key}", value, ex=ttl_s)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class RedisHopLedger:
    """Once-only bookkeeping for hops whose effect is visible (posting a reply).

    A hop first `claim`s its question with a lease: a second delivery while the first is working sees "busy", and
    after `finish` every later delivery sees "done". If the worker dies mid-way the lease runs out and a redelivery
    may claim it again, so nothing is lost and nothing is said twice.

    Args:
        client: A blocking Redis client (with socket timeouts set).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    def claim(self, hop: str, question_id: str, *, lease_s: int) -> LedgerState:
        key = f"{_PREFIX}hop:{hop}:{question_id}"
        if self._redis.set(key, "working", nx=True, ex=lease_s):
            return "claimed"
        state: Any = self._redis.get(key)
        if state in (b"done", "done"):
            return "done"
        if state is None:  # the lease ran out between the two calls
            return self.claim(hop, question_id, lease_s=lease_s)
        return "busy"

    def finish(self, hop: str, question_id: str, *, keep_s: int) -> None:
        self._redis.set(f"{_PREFIX}hop:{hop}:{question_id}", "done", ex=keep_s)

    def release(self, hop: str, question_id: str) -> None:
        """Give up a claim without finishing (the hop failed and will be retried)."""
        self._redis.delete(f"{_PREFIX}hop:{hop}:{question_id}")

    def deliveries(self, task_id: str, *, ttl_s: int) -> int:
        """Count one more start of the task with this id; how many starts there have been."""
        key = f"{_PREFIX}deliveries:{task_id}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl_s)
        count, _ = pipe.execute()
        return int(count)
