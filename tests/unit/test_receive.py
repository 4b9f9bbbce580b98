"""The receive hop's admission, the same for every platform, over the real Redis-backed gate and limiter."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
import redis
import redis.asyncio

from ragbot import texts
from ragbot.backends.redis_state import RedisAdmission
from ragbot.flow.receive import Admission, AdmissionPolicy, Arrival, Notice, admit
from ragbot.models import MAX_QUESTION_CHARS

URL = "redis://127.0.0.1:6379/13"
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
