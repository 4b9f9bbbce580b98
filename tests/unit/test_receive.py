"""The receive hop's admission, the same for every platform, over the real Redis-backed gate and limiter."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from ragbot import texts
from ragbot.backends.redis_state import RedisAdmission, RedisHopLedger, RedisWorkers
from ragbot.flow.receive import Admission, AdmissionPolicy, Arrival, LoadPolicy, Notice, admit, answer_rate
from ragbot.models import MAX_QUESTION_CHARS
from ragbot.ports import Capacity, WorkerPool

# UNIT_REDIS_DB: a database of the local Redis that nothing else on this machine uses right now.
URL = f"redis://127.0.0.1:6379/{int(os.environ.get('UNIT_REDIS_DB', '13'))}"
POLICY = AdmissionPolicy(dedupe_ttl_s=60, user_per_minute=2, place_per_minute=3)


@pytest.fixture(autouse=True)
def clean_db() -> Iterator[None]:
    client = redis.Redis.from_url(URL, socket_connect_timeout=2)
    client.flushdb()
    yield
    client.flushdb()
    client.close()


def arrival(**fields: object) -> Arrival:
    values: dict[str, object] = {
        "platform": "slack",
        "delivery_kind": "slack-event",
        "delivery_id": "Ev1",
        "user": "U1",
        "place": "C1",
        "text": "How many vacation days do I get?",
    }
    values.update(fields)
    return Arrival(**values)  # type: ignore[arg-type]


def admit_all(arrivals: list[Arrival], *, policy: AdmissionPolicy = POLICY, url: str = URL) -> list[Admission]:
    async def run() -> list[Admission]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5))
        try:
            return [await admit(a, gate=gate, limiter=gate, policy=policy) for a in arrivals]
        finally:
            await gate.close()

    return asyncio.run(run())


def test_a_question_is_accepted_once() -> None:
    first, again = admit_all([arrival(), arrival()])
    assert first == Admission("accepted") and first.accepted
    assert again == Admission("duplicate")  # a redelivery: counted, nothing said


def test_each_refusal_says_what_the_asker_needs_and_where() -> None:
    results = admit_all(
        [
            arrival(delivery_id="Ev1", allowed=False),
            arrival(delivery_id="Ev2", text=""),
            arrival(delivery_id="Ev3", text="x" * (MAX_QUESTION_CHARS + 1)),
        ]
    )
    assert results == [
        Admission("not_allowed", Notice(texts.NOT_HERE, private=True)),
        Admission("rejected", Notice(texts.EMPTY, private=True)),
        Admission("rejected", Notice(texts.TOO_LONG, private=False)),
    ]
    quiet = AdmissionPolicy(dedupe_ttl_s=60, user_per_minute=2, place_per_minute=3, prompt_when_empty=False)
    assert admit_all([arrival(delivery_id="Ev4", text="")], policy=quiet) == [Admission("ignored")]


def test_rate_limits_per_user_then_per_place() -> None:
    by_user = admit_all([arrival(delivery_id=f"Ev{i}") for i in range(3)])
    assert [a.result for a in by_user] == ["accepted", "accepted", "rate_limited"]
    notice = by_user[2].notice
    assert notice is not None and notice.private and "Please try again in" in notice.text

    # Three people share the channel's budget of three; in a private chat only the user's own limit counts.
    others = admit_all([arrival(delivery_id=f"Fv{i}", user=f"U{i + 10}") for i in range(2)])
    assert [a.result for a in others] == ["accepted", "rate_limited"]
    private = admit_all([arrival(delivery_id="Gv1", user="U99", place="")])
    assert private == [Admission("accepted")]


def test_an_unreachable_gate_is_said_at_once_not_swallowed() -> None:
    down = admit_all([arrival()], url="redis://127.0.0.1:1/0")  # nothing listens on port 1
    assert down == [Admission("enqueue_failed", Notice(texts.UNAVAILABLE, private=False))]
    without_dedupe = admit_all([arrival(delivery_id="")], url="redis://127.0.0.1:1/0")
    assert without_dedupe == [Admission("enqueue_failed", Notice(texts.UNAVAILABLE, private=False))]


def test_the_answer_rate_is_the_slowest_hop_shared_out_by_each_worker() -> None:
    seconds = {"retrieve": 0.5, "generate": 4.0, "reply": 0.5}
    # One worker for every hop: each process answers one question per 5 s.
    together = Capacity(workers=(WorkerPool(("retrieve", "generate", "reply"), 2),), hop_seconds=seconds)
    assert answer_rate(together) == pytest.approx(2 / 5.0)
    # One role per worker: the 16 generate threads are the bottleneck.
    roles = (WorkerPool(("retrieve",), 2), WorkerPool(("generate",), 16), WorkerPool(("reply",), 2))
    assert answer_rate(Capacity(workers=roles, hop_seconds=seconds)) == pytest.approx(16 / 4.0)
    # Nothing to go on: a hop never timed, or a hop nobody runs.
    assert answer_rate(Capacity(workers=roles, hop_seconds={"retrieve": 0.5, "reply": 0.5})) is None
    assert answer_rate(Capacity(workers=roles[:2], hop_seconds=seconds)) is None
    assert answer_rate(Capacity(workers=(), hop_seconds=seconds)) is None


def test_a_question_that_would_wait_too_long_is_refused_at_once_with_the_wait() -> None:
    client = redis.Redis.from_url(URL)
    RedisWorkers(client).register("w@test", hops=["retrieve", "generate", "reply"], processes=1, ttl_s=60)
    ledger = RedisHopLedger(client)
    for hop in ("retrieve", "generate", "reply"):
        ledger.record_run(hop, 1.0)  # 3 s a question, one process: 10 questions fit in 30 s

    async def run(arrivals: list[Arrival]) -> list[Admission]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        policy = AdmissionPolicy(
            dedupe_ttl_s=60,
            user_per_minute=0,
            place_per_minute=0,
            load=LoadPolicy(backlog=gate, max_wait_s=30, forget_after_s=240),
        )
        try:
            return list(await asyncio.gather(*(admit(a, gate=gate, limiter=gate, policy=policy) for a in arrivals)))
        finally:
            await gate.close()

    burst = asyncio.run(run([arrival(delivery_id=f"Ev{i}", user=f"U{i}") for i in range(14)]))
    accepted = [i for i, a in enumerate(burst) if a.accepted]
    assert len(accepted) == 10  # counted as they arrive together, not when they reach the queue
    refused = [a for a in burst if a.result == "overloaded"]
    assert len(refused) == 4 and {a.notice for a in refused} == {Notice(texts.busy(33), private=False)}

    ledger.finish("reply", f"slack-Ev{accepted[0]}", keep_s=60)  # one answered: one more fits
    assert [a.result for a in asyncio.run(run([arrival(delivery_id="EvLater")]))] == ["accepted"]
    assert [a.result for a in asyncio.run(run([arrival(delivery_id="EvLatest")]))] == ["overloaded"]
    client.close()


def test_without_a_measurement_nothing_is_refused_for_load() -> None:
    async def run() -> list[Admission]:
        gate = RedisAdmission(redis.asyncio.Redis.from_url(URL))
        policy = AdmissionPolicy(
            dedupe_ttl_s=60,
            user_per_minute=0,
            place_per_minute=0,
            load=LoadPolicy(backlog=gate, max_wait_s=1, forget_after_s=240),
        )
        try:
            return [
                await admit(arrival(delivery_id=f"Ev{i}"), gate=gate, limiter=gate, policy=policy) for i in range(5)
            ]
        finally:
            await gate.close()

    assert {a.result for a in asyncio.run(run())} == {"accepted"}  # no worker registered yet: the expiry decides
