"""Shared chat state on a real Redis: duplicate deliveries, rate limits, once-only replies, delivery counts."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from ragbot.backends.redis_state import RedisAdmission, RedisHopLedger

URL = "redis://127.0.0.1:6379/12"


@pytest.fixture
def client() -> Iterator[redis.Redis]:
    sync = redis.Redis.from_url(URL, socket_connect_timeout=2)
    sync.flushdb()
    yield sync
    sync.flushdb()
    sync.close()


def test_first_delivery_and_rate_limits(client: redis.Redis) -> None:
    async def scenario() -> tuple[list[bool], list[int], int]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        try:
            seen = [await gate.first_delivery("slack-event", "Ev1", ttl_s=60) for _ in range(3)]
            waits = [await gate.retry_after("user", "U1", limit=2, window_s=30) for _ in range(3)]
            unlimited = await gate.retry_after("user", "U2", limit=0)
            return seen, waits, unlimited
        finally:
            await gate.close()

    seen, waits, unlimited = asyncio.run(scenario())
    assert seen == [True, False, False]
    assert waits[:2] == [0, 0] and 1 <= waits[2] <= 30
    assert unlimited == 0


def test_a_reply_is_claimed_once_and_released_on_failure(client: redis.Redis) -> None:
    ledger = RedisHopLedger(client)
    assert ledger.claim("reply", "q1", lease_s=30) == "claimed"
    assert ledger.claim("reply", "q1", lease_s=30) == "busy"
    ledger.release("reply", "q1")
    assert ledger.claim("reply", "q1", lease_s=30) == "claimed"
    ledger.finish("reply", "q1", keep_s=60)
    assert ledger.claim("reply", "q1", lease_s=30) == "done"


def test_deliveries_are_counted_per_task(client: redis.Redis) -> None:
    ledger = RedisHopLedger(client)
    assert [ledger.deliveries("q1:retrieve:0", ttl_s=60) for _ in range(3)] == [1, 2, 3]
    assert ledger.deliveries("q2:retrieve:0", ttl_s=60) == 1
