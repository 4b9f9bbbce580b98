"""Shared chat state on a real Redis: duplicate deliveries, rate limits, once-only replies, delivery counts,
the questions in the system and the workers' capacity."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from ragbot.backends.redis_state import RedisAdmission, RedisHopLedger, RedisWorkers
from ragbot.errors import RetryableError
from ragbot.ports import WorkerPool

# UNIT_REDIS_DB: a database of the local Redis that nothing else on this machine uses right now.
URL = f"redis://127.0.0.1:6379/{int(os.environ.get('UNIT_REDIS_DB', '12'))}"


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
    assert ledger.claim("reply", "q1", lease_s=30, holder="a") == "claimed"
    assert ledger.claim("reply", "q1", lease_s=30, holder="b") == "busy"
    assert 29 < ledger.lease_left("reply", "q1") <= 30
    ledger.release("reply", "q1", holder="b")  # not b's to release
    assert ledger.claim("reply", "q1", lease_s=30, holder="b") == "busy"
    ledger.release("reply", "q1", holder="a")
    assert ledger.lease_left("reply", "q1") == 0
    assert ledger.claim("reply", "q1", lease_s=30, holder="b") == "claimed"
    ledger.finish("reply", "q1", keep_s=60)
    assert ledger.claim("reply", "q1", lease_s=30, holder="c") == "done"


def test_only_the_holder_renews_and_a_lapsed_lease_is_free_again(client: redis.Redis) -> None:
    ledger = RedisHopLedger(client)
    assert ledger.claim("reply", "q1", lease_s=1, holder="dead") == "claimed"
    assert ledger.renew("reply", "q1", lease_s=1, holder="other") is False
    deadline = time.monotonic() + 5
    while ledger.claim("reply", "q1", lease_s=30, holder="next") == "busy":  # the dead holder stopped renewing
        assert time.monotonic() < deadline, "the lease never ran out"
        time.sleep(0.1)
    assert ledger.renew("reply", "q1", lease_s=30, holder="dead") is False  # too late: the claim is next's now
    assert ledger.renew("reply", "q1", lease_s=30, holder="next") is True


def test_an_unreachable_ledger_is_a_retryable_error() -> None:
    ledger = RedisHopLedger(redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.5))
    with pytest.raises(RetryableError):
        ledger.claim("reply", "q1", lease_s=30, holder="a")
    with pytest.raises(RetryableError):
        ledger.record_run("retrieve", 0.5)


def test_questions_enter_up_to_a_limit_and_leave_when_replied_to(client: redis.Redis) -> None:
    ledger = RedisHopLedger(client)

    async def scenario() -> list[tuple[bool, int]]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        try:
            entered = [await gate.enter(f"q{i}", limit=2, forget_after_s=60) for i in range(3)]
            again = await gate.enter("q0", limit=2, forget_after_s=60)  # a question already in is not counted twice
            unlimited = await gate.enter("q9", limit=None, forget_after_s=60)
            ledger.finish("reply", "q0", keep_s=60)  # answered: it leaves
            ledger.finish("retrieve", "q1", keep_s=60)  # another hop: it stays
            after = await gate.enter("q3", limit=3, forget_after_s=60)
            return [*entered, again, unlimited, after]
        finally:
            await gate.close()

    assert asyncio.run(scenario()) == [(True, 0), (True, 1), (False, 2), (True, 0), (True, 2), (True, 2)]


def test_a_question_lost_before_its_reply_is_forgotten(client: redis.Redis) -> None:
    async def scenario() -> tuple[tuple[bool, int], tuple[bool, int]]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        try:
            await gate.enter("lost", limit=1, forget_after_s=1)
            refused = await gate.enter("next", limit=1, forget_after_s=1)
            await asyncio.sleep(1.2)
            return refused, await gate.enter("next", limit=1, forget_after_s=1)
        finally:
            await gate.close()

    assert asyncio.run(scenario()) == ((False, 1), (True, 0))


def test_capacity_is_the_live_registrations_and_the_hops_moving_averages(client: redis.Redis) -> None:
    workers, ledger = RedisWorkers(client), RedisHopLedger(client)
    workers.register("all@a", hops=["retrieve", "generate", "reply"], processes=2, ttl_s=30)
    workers.register("gone@b", hops=["retrieve"], processes=4, ttl_s=-1)  # its registration ran out
    workers.register("left@c", hops=["reply"], processes=1, ttl_s=30)
    workers.unregister("left@c")
    ledger.record_run("retrieve", 1.0)
    ledger.record_run("retrieve", 2.0)  # weight 0.2 for the newest run
    client.hset("ragbot:workers", "other-version", "not json")

    async def read() -> object:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        try:
            return await gate.capacity()
        finally:
            await gate.close()

    capacity = asyncio.run(read())
    assert capacity.workers == (WorkerPool(hops=("generate", "reply", "retrieve"), processes=2),)  # type: ignore[attr-defined]
    assert capacity.hop_seconds == {"retrieve": pytest.approx(1.2)}  # type: ignore[attr-defined]


def test_deliveries_are_counted_per_task(client: redis.Redis) -> None:
    ledger = RedisHopLedger(client)
    assert [ledger.deliveries("q1:retrieve:0", ttl_s=60) for _ in range(3)] == [1, 2, 3]
    assert ledger.deliveries("q2:retrieve:0", ttl_s=60) == 1
