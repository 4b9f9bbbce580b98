"""The reply hop's claim on a real Redis ledger: renewed while a slow send goes on, free again soon after its holder
dies, and a second delivery told when to look again instead of giving up."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator

import pytest
import redis

from ragbot import texts
from ragbot.backends.redis_state import RedisHopLedger
from ragbot.flow.reply import ReplyBusy, apologize, deliver
from ragbot.interactions.records import UserHasher
from ragbot.models import Answer, ConversationRef, Outcome, Question

# UNIT_REDIS_DB: a database of the local Redis that nothing else on this machine uses right now.
URL = f"redis://127.0.0.1:6379/{int(os.environ.get('UNIT_REDIS_DB', '12'))}"
QUESTION = Question(
    question_id="slack-EvLease",
    text="How many vacation days do I get?",
    conversation=ConversationRef(platform="slack", channel="C1", thread="1.0", message="1.1"),
)
OUTCOME = Outcome(question=QUESTION, answer=Answer(text="25 days [1].", model="extractive"), passages=())


class GatedSender:
    """A platform that takes as long as the test wants to accept the reply."""

    def __init__(self) -> None:
        self.sending = threading.Event()
        self.go = threading.Event()
        self.said: list[str] = []

    def send_answer(self, outcome: Outcome) -> None:
        self.sending.set()
        assert self.go.wait(30)
        self.said.append(outcome.answer.text)

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        self.said.append(text)


@pytest.fixture
def ledger() -> Iterator[RedisHopLedger]:
    client = redis.Redis.from_url(URL, socket_connect_timeout=2)
    client.flushdb()
    yield RedisHopLedger(client)
    client.flushdb()
    client.close()


def deliver_to(sender: GatedSender, ledger: RedisHopLedger, *, lease_s: int) -> str:
    return deliver(OUTCOME, sender=sender, ledger=ledger, interactions=None, hasher=UserHasher("k"), lease_s=lease_s)


def test_a_send_longer_than_the_lease_keeps_its_claim(ledger: RedisHopLedger) -> None:
    slow = GatedSender()
    first = threading.Thread(target=deliver_to, args=(slow, ledger), kwargs={"lease_s": 2})
    first.start()
    assert slow.sending.wait(10)
    time.sleep(4.5)  # more than two leases: only renewals keep the claim
    with pytest.raises(ReplyBusy) as busy:
        deliver_to(GatedSender(), ledger, lease_s=2)
    assert 0 < busy.value.retry_in_s <= 2  # when to look again: the holder's lease
    slow.go.set()
    first.join(10)
    assert slow.said == ["25 days [1]."]
    late = GatedSender()
    late.go.set()
    assert deliver_to(late, ledger, lease_s=2) == "duplicate" and not late.said
    apology = GatedSender()
    hasher = UserHasher("k")
    assert (
        apologize(QUESTION, sender=apology, ledger=ledger, interactions=None, hasher=hasher, error="x") == "duplicate"
    )


def test_a_claim_whose_holder_died_is_free_within_one_lease(ledger: RedisHopLedger) -> None:
    # The holder claimed and then vanished (SIGKILL): nobody renews its lease.
    assert ledger.claim("reply", QUESTION.question_id, lease_s=2, holder="killed") == "claimed"
    apology = GatedSender()
    hasher = UserHasher("k")
    with pytest.raises(ReplyBusy) as busy:
        apologize(QUESTION, sender=apology, ledger=ledger, interactions=None, hasher=hasher, error="failed at reply")
    time.sleep(busy.value.retry_in_s + 0.2)  # what the task's retry waits
    assert apologize(QUESTION, sender=apology, ledger=ledger, interactions=None, hasher=hasher, error="x") == "sent"
    assert apology.said == [texts.APOLOGY]


def test_a_failed_send_frees_the_claim_at_once_for_the_retry(ledger: RedisHopLedger) -> None:
    class Refusing(GatedSender):
        def send_answer(self, outcome: Outcome) -> None:
            raise ConnectionError("platform down")

    with pytest.raises(ConnectionError):
        deliver_to(Refusing(), ledger, lease_s=60)
    retry = GatedSender()
    retry.go.set()
    assert deliver_to(retry, ledger, lease_s=60) == "sent" and retry.said == ["25 days [1]."]
