"""State the chat services share through Redis, so every replica agrees (DESIGN §5).

`RedisAdmission` (adapters, asyncio; the `DeliveryGate`, `RateLimiter`, `LookupCache` and `Backlog` ports): drops
duplicate deliveries (Slack retries, repeated Teams activities) with `SET NX EX`, enforces per-user and per-channel
rate limits with one atomic counter per window, caches slow lookups, and keeps the count of questions in the system
(a sorted set: entered at admission, left when the reply is finished) beside the workers' registered capacity.

`RedisHopLedger` (workers, blocking; the `HopLedger` port): makes the reply hop happen once per question even when a
message is delivered twice (a lease owned by one holder, renewed while it sends), counts deliveries of a hop so a
message that keeps killing its worker is given up on (and the asker told) instead of looping, and keeps a moving
average of each hop's duration. `RedisWorkers` (a worker's main process): registers the worker's live processes.

Connection errors become `RetryableError`: a task that meets a Redis outage is retried, not failed for good.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, ParamSpec, TypeVar

import redis
import redis.asyncio

from ragbot.errors import RetryableError
from ragbot.ports import Capacity, LedgerState, WorkerPool

__all__ = ["RedisAdmission", "RedisHopLedger", "RedisWorkers"]

_PREFIX = "ragbot:"
# INCR a window counter, starting its expiry on the first hit; returns the count and the seconds left in the window.
_COUNT_IN_WINDOW = """
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('TTL', KEYS[1])
if ttl < 0 then redis.call('EXPIRE', KEYS[1], ARGV[1]); ttl = tonumber(ARGV[1]) end
return {n, ttl}
"""
# The questions in the system: forget the stale, count, and add this one unless the limit is reached (-1: none).
# Returns {admitted 0/1, questions ahead}.
_ENTER = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[3]))
local ahead = redis.call('ZCARD', KEYS[1])
local rank = redis.call('ZRANK', KEYS[1], ARGV[4])
if rank then return {1, rank} end
local limit = tonumber(ARGV[2])
if limit >= 0 and ahead >= limit then return {0, ahead} end
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return {1, ahead}
"""
# A claim is "working:<holder>" until finished ("done"); only its holder may renew or release it.
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('EXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# An exponentially weighted moving average of a hop's duration (weight ARGV[2] for the newest run).
_AVERAGE = """
local old = redis.call('HGET', KEYS[1], ARGV[1])
local new = tonumber(ARGV[3])
if old then new = tonumber(ARGV[2]) * new + (1 - tonumber(ARGV[2])) * tonumber(old) end
redis.call('HSET', KEYS[1], ARGV[1], tostring(new))
redis.call('EXPIRE', KEYS[1], ARGV[4])
return tostring(new)
"""
_IN_SYSTEM = f"{_PREFIX}in-system"
_WORKERS = f"{_PREFIX}workers"
_HOP_SECONDS = f"{_PREFIX}hop-seconds"
_AVERAGE_WEIGHT = 0.2
_KEEP_AVERAGES_S = 7 * 86_400

P = ParamSpec("P")
T = TypeVar("T")


def _retryable(method: Callable[P, T]) -> Callable[P, T]:
    """Redis unreachable or too slow: the caller may try again later (a task retries with backoff)."""

    @wraps(method)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return method(*args, **kwargs)
        except (redis.ConnectionError, redis.TimeoutError) as err:
            raise RetryableError(f"Redis is unreachable ({type(err).__name__})") from err

    return wrapper


class RedisAdmission:
    """What an adapter asks Redis before it accepts a question.

    Args:
        client: An asyncio Redis client (with socket timeouts set: a stalled Redis must fail fast).
    """

    def __init__(self, client: redis.asyncio.Redis) -> None:
        self._redis = client
        self._count = client.register_script(_COUNT_IN_WINDOW)
        self._enter = client.register_script(_ENTER)

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

    async def capacity(self) -> Capacity:
        """The workers registered now (stale registrations skipped) and each hop's moving-average duration."""
        pipe = self._redis.pipeline(transaction=False)
        pipe.hgetall(_WORKERS)
        pipe.hgetall(_HOP_SECONDS)
        workers, seconds = await pipe.execute()
        return _capacity(workers, seconds, now=time.time())

    async def enter(self, question_id: str, *, limit: int | None, forget_after_s: int) -> tuple[bool, int]:
        """Count the question in unless `limit` questions are in the system; (let in, questions ahead)."""
        admitted, ahead = await self._enter(
            keys=[_IN_SYSTEM], args=[time.time(), -1 if limit is None else limit, forget_after_s, question_id]
        )
        return bool(admitted), int(ahead)

    async def ping(self) -> bool:
        return bool(await self._redis.ping())

    async def close(self) -> None:
        await self._redis.aclose()


class RedisHopLedger:
    """Once-only bookkeeping for hops whose effect is visible (posting a reply), and the hops' durations.

    A hop first `claim`s its question for a holder with a short lease, which the holder renews while it works: a
    second delivery meanwhile sees "busy", and after `finish` every later delivery sees "done". If the holder dies
    mid-way the lease runs out and a redelivery may claim it again, so nothing is lost and nothing is said twice.

    Args:
        client: A blocking Redis client (with socket timeouts set).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client
        self._renew = client.register_script(_RENEW)
        self._release = client.register_script(_RELEASE)
        self._average = client.register_script(_AVERAGE)

    @_retryable
    def claim(self, hop: str, question_id: str, *, lease_s: int, holder: str) -> LedgerState:
        key = _hop_key(hop, question_id)
        for _ in range(3):  # the lease may run out between the two calls
            if self._redis.set(key, f"working:{holder}", nx=True, ex=lease_s):
                return "claimed"
            state: Any = self._redis.get(key)
            if state in (b"done", "done"):
                return "done"
            if state is not None:
                return "busy"
        return "busy"

    @_retryable
    def renew(self, hop: str, question_id: str, *, lease_s: int, holder: str) -> bool:
        return bool(self._renew(keys=[_hop_key(hop, question_id)], args=[f"working:{holder}", lease_s]))

    @_retryable
    def lease_left(self, hop: str, question_id: str) -> float:
        left = int(self._redis.pttl(_hop_key(hop, question_id)))
        return max(left, 0) / 1000

    @_retryable
    def finish(self, hop: str, question_id: str, *, keep_s: int) -> None:
        pipe = self._redis.pipeline(transaction=False)
        pipe.set(_hop_key(hop, question_id), "done", ex=keep_s)
        if hop == "reply":  # the question has been answered or apologised for: it leaves the admission's count
            pipe.zrem(_IN_SYSTEM, question_id)
        pipe.execute()

    @_retryable
    def release(self, hop: str, question_id: str, *, holder: str) -> None:
        """Give up `holder`'s claim without finishing (the hop failed and will be retried)."""
        self._release(keys=[_hop_key(hop, question_id)], args=[f"working:{holder}"])

    @_retryable
    def deliveries(self, task_id: str, *, ttl_s: int) -> int:
        """Count one more start of the task with this id; how many starts there have been."""
        key = f"{_PREFIX}deliveries:{task_id}"
        pipe = self._redis.pipeline()
        pipe.incr(key)
        pipe.expire(key, ttl_s)
        count, _ = pipe.execute()
        return int(count)

    @_retryable
    def record_run(self, hop: str, seconds: float) -> None:
        """Fold one run's duration into the hop's moving average."""
        self._average(keys=[_HOP_SECONDS], args=[hop, _AVERAGE_WEIGHT, max(seconds, 0.0), _KEEP_AVERAGES_S])


class RedisWorkers:
    """Where a worker's main process says what it can answer: its hops and its live, warm processes.

    Each registration holds until `ttl_s` from now; the admission ignores stale ones, so a worker that vanished stops
    counting within one TTL. Registering also drops registrations stale for a day (pods come and go).

    Args:
        client: A blocking Redis client (with socket timeouts set).
    """

    def __init__(self, client: redis.Redis) -> None:
        self._redis = client

    @_retryable
    def register(self, name: str, *, hops: Iterable[str], processes: int, ttl_s: float) -> None:
        now = time.time()
        entry = json.dumps({"hops": sorted(set(hops)), "processes": processes, "until": now + ttl_s})
        self._redis.hset(_WORKERS, name, entry)
        stale = [
            field for field, value in (self._redis.hgetall(_WORKERS) or {}).items() if _until(value) < now - 86_400
        ]
        if stale:
            self._redis.hdel(_WORKERS, *stale)

    @_retryable
    def unregister(self, name: str) -> None:
        self._redis.hdel(_WORKERS, name)


def _hop_key(hop: str, question_id: str) -> str:
    return f"{_PREFIX}hop:{hop}:{question_id}"


def _until(value: Any) -> float:
    try:
        return float(json.loads(value)["until"])
    except (ValueError, TypeError, KeyError):
        return 0.0


def _capacity(workers: dict[Any, Any], seconds: dict[Any, Any], *, now: float) -> Capacity:
    pools = []
    for value in workers.values():
        try:
            entry = json.loads(value)
            if float(entry["until"]) >= now and int(entry["processes"]) > 0:
                pools.append(WorkerPool(hops=tuple(str(h) for h in entry["hops"]), processes=int(entry["processes"])))
        except (ValueError, TypeError, KeyError):  # another version's entry: not ours to judge
            continue
    hop_seconds = {}
    for hop, value in seconds.items():
        try:
            hop_seconds[hop.decode() if isinstance(hop, bytes) else str(hop)] = float(value)
        except (ValueError, TypeError):
            continue
    return Capacity(workers=tuple(pools), hop_seconds=hop_seconds)
