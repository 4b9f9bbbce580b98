"""Hop 3: reply. Deliver the answer (or an apology) to the conversation once, then log the interaction.

Platform-neutral: a `ReplySender` (Slack, Teams) does the talking. The `HopLedger` makes delivery happen once
per question even when the message arrives twice (a redelivery after a worker died, an errback racing an answer):

    claim ─▶ "done"    already said: do nothing
          ─▶ "busy"    another delivery holds it: `ReplyBusy`, retry when its lease runs out (it is then "done",
                       or free again because its holder died)
          ─▶ "claimed" send (renewing the short lease meanwhile), mark done, write the interaction record

The lease is short and renewed while the sender works, so a reply cut off by a crash is free again within one lease
(`queue.timing` derives the lease, the renewal and the retries from each other). A failure to write the log never
costs the asker their answer; it is logged and counted instead.
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Literal

from ragbot import texts
from ragbot.errors import RetryableError
from ragbot.interactions.records import InteractionRecord, UserHasher, failure_record, outcome_record, status_of
from ragbot.models import Outcome, Question
from ragbot.observability import metrics
from ragbot.ports import HopLedger, InteractionLog, ReplySender

__all__ = ["DEFAULT_LEASE_S", "RENEWALS_PER_LEASE", "Delivery", "ReplyBusy", "apologize", "deliver"]

log = logging.getLogger(__name__)

DEFAULT_LEASE_S = 15
"""The claim's lease when the caller does not say (the workers pass `queue.reply_lease_s`)."""
RENEWALS_PER_LEASE = 3
"""A holder renews its lease this many times per lease: a renewal may fail twice before the claim is lost."""
_KEEP_S = 7 * 86_400

Delivery = Literal["sent", "duplicate"]


class ReplyBusy(RetryableError):
    """Another delivery of this question holds the claim; look again in `retry_in_s` (when its lease runs out)."""

    def __init__(self, question_id: str, *, retry_in_s: float) -> None:
        super().__init__(f"question {question_id} is being replied to by another delivery")
        self.retry_in_s = retry_in_s


def deliver(
    outcome: Outcome,
    *,
    sender: ReplySender,
    ledger: HopLedger,
    interactions: InteractionLog | None,
    hasher: UserHasher,
    lease_s: int = DEFAULT_LEASE_S,
) -> Delivery:
    """Post the answer to the conversation it belongs to, exactly once, and record the interaction.

    Args:
        outcome: The answer and the question it answers.
        sender: The platform's sender.
        ledger: Where the claim is held.
        interactions: The interaction log (None: not kept).
        hasher: Hashes the asker's id for the record.
        lease_s: The claim's lease, renewed `RENEWALS_PER_LEASE` times per lease while sending.

    Raises:
        ReplyBusy: Another delivery of the same question holds the claim.
        RetryableError: The platform was busy.
    """
    question_id = outcome.question.question_id
    started = time.time()
    with _claimed(ledger, question_id, lease_s=lease_s) as claimed:
        if not claimed:
            return "duplicate"
        sender.send_answer(outcome)
        ledger.finish("reply", question_id, keep_s=_KEEP_S)
    timings = dict(outcome.answer.timings_ms)
    if outcome.sent_at:
        timings["queue.reply"] = round(max(started - outcome.sent_at, 0.0) * 1000, 2)
    timings["reply"] = round((time.time() - started) * 1000, 2)
    if outcome.question.asked_at:
        timings["total"] = round((time.time() - outcome.question.asked_at) * 1000, 2)
    metrics.observe_outcome(outcome.question.conversation.platform, status_of(outcome.answer), timings)
    if interactions is not None:
        _record(interactions, lambda: outcome_record(outcome, hasher=hasher, timings_ms=timings), question_id)
    return "sent"


def apologize(
    question: Question,
    *,
    sender: ReplySender,
    ledger: HopLedger,
    interactions: InteractionLog | None,
    hasher: UserHasher,
    error: str,
    lease_s: int = DEFAULT_LEASE_S,
) -> Delivery:
    """Tell the asker their question failed, unless it was answered after all; record the failure.

    Raises:
        ReplyBusy: Another delivery of the same question holds the claim.
        RetryableError: The platform was busy.
    """
    question_id = question.question_id
    with _claimed(ledger, question_id, lease_s=lease_s) as claimed:
        if not claimed:
            return "duplicate"
        sender.send_notice(question.conversation, texts.APOLOGY)
        ledger.finish("reply", question_id, keep_s=_KEEP_S)
    metrics.observe_outcome(question.conversation.platform, "failed", {})
    if interactions is not None:
        _record(interactions, lambda: failure_record(question, hasher=hasher, error=error), question_id)
    return "sent"


@contextmanager
def _claimed(ledger: HopLedger, question_id: str, *, lease_s: int) -> Iterator[bool]:
    """Hold the question's reply claim while the block runs: True when this delivery holds it, False when done.

    Raises:
        ReplyBusy: Another delivery holds it.
    """
    holder = uuid.uuid4().hex
    state = ledger.claim("reply", question_id, lease_s=lease_s, holder=holder)
    if state == "busy":
        raise ReplyBusy(question_id, retry_in_s=ledger.lease_left("reply", question_id))
    if state == "done":
        yield False
        return
    stop = threading.Event()
    renewer = threading.Thread(
        target=_renew, args=(ledger, question_id, holder, lease_s, stop), name="reply-lease", daemon=True
    )
    renewer.start()
    finished = False
    try:
        yield True
        finished = True
    finally:
        stop.set()
        renewer.join()
        if not finished:  # the send failed: free the question at once for the retry
            try:
                ledger.release("reply", question_id, holder=holder)
            except RetryableError:  # the lease runs out by itself
                log.warning("could not release the reply claim of question %s", question_id)


def _renew(ledger: HopLedger, question_id: str, holder: str, lease_s: int, stop: threading.Event) -> None:
    while not stop.wait(lease_s / RENEWALS_PER_LEASE):
        try:
            if not ledger.renew("reply", question_id, lease_s=lease_s, holder=holder):
                log.warning("the reply claim of question %s ran out while sending", question_id)
                return
        except Exception:  # Redis away for a moment: the next renewal may succeed within the lease
            log.warning("could not renew the reply claim of question %s", question_id, exc_info=True)


def _record(interactions: InteractionLog, build: Callable[[], InteractionRecord], question_id: str) -> None:
    try:
        interactions.record(build())
    except Exception:
        log.exception("could not write the interaction record of question %s", question_id)
