"""Hop 3: reply. Deliver the answer (or an apology) to the conversation once, then log the interaction.

Platform-neutral: a `ReplySender` (Slack, Teams) does the talking. The `HopLedger` makes delivery happen once
per question even when the message arrives twice (a redelivery after a worker died, an errback racing an answer):

    claim ─▶ "done"    already said: do nothing
          ─▶ "busy"    another worker is saying it right now: retry later (it will then be "done")
          ─▶ "claimed" send, mark done, write the interaction record

A failure to write the log never costs the asker their answer; it is logged and counted instead.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Literal

from ragbot import texts
from ragbot.errors import RetryableError
from ragbot.interactions.records import InteractionRecord, UserHasher, failure_record, outcome_record, status_of
from ragbot.models import Outcome, Question
from ragbot.observability import metrics
from ragbot.ports import HopLedger, InteractionLog, ReplySender

__all__ = ["Delivery", "apologize", "deliver"]

log = logging.getLogger(__name__)

_LEASE_S = 120
_KEEP_S = 7 * 86_400

Delivery = Literal["sent", "duplicate"]


def deliver(
    outcome: Outcome,
    *,
    sender: ReplySender,
    ledger: HopLedger,
    interactions: InteractionLog | None,
    hasher: UserHasher,
) -> Delivery:
    """Post the answer to the conversation it belongs to, exactly once, and record the interaction.

    Raises:
        RetryableError: Another delivery of the same question is in progress, or the platform was busy.
    """
    question_id = outcome.question.question_id
    started = time.time()
    if not _claim(ledger, question_id):
        return "duplicate"
    try:
        sender.send_answer(outcome)
    except BaseException:
        ledger.release("reply", question_id)
        raise
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
) -> Delivery:
    """Tell the asker their question failed, unless it was answered after all; record the failure."""
    question_id = question.question_id
    if not _claim(ledger, question_id):
        return "duplicate"
    try:
        sender.send_notice(question.conversation, texts.APOLOGY)
    except BaseException:
        ledger.release("reply", question_id)
        raise
    ledger.finish("reply", question_id, keep_s=_KEEP_S)
    metrics.observe_outcome(question.conversation.platform, "failed", {})
    if interactions is not None:
        _record(interactions, lambda: failure_record(question, hasher=hasher, error=error), question_id)
    return "sent"


def _claim(ledger: HopLedger, question_id: str) -> bool:
    state = ledger.claim("reply", question_id, lease_s=_LEASE_S)
    if state == "busy":
        raise RetryableError(f"question {question_id} is being replied to by another worker")
    return state == "claimed"


def _record(interactions: InteractionLog, build: Callable[[], InteractionRecord], question_id: str) -> None:
    try:
        interactions.record(build())
    except Exception:
        log.exception("could not write the interaction record of question %s", question_id)
