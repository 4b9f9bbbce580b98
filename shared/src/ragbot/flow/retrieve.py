"""Hop 1: retrieve. Question → the passages the asker may read, best first (`ragbot.retrieval.Retriever`).

A follow-up in a thread is first made standalone (`Condenser`), so the search sees what the asker means.
"""

from __future__ import annotations

import time

from ragbot.generation.condense import Condenser
from ragbot.models import Question, Retrieval
from ragbot.retrieval.retriever import Retriever

__all__ = ["retrieve_question"]


def retrieve_question(
    question: Question, *, retriever: Retriever, condenser: Condenser | None = None, sent_at: float = 0.0
) -> Retrieval:
    """The retrieve hop: the passages `question.principals` may read, with the hop's timings.

    Args:
        question: The question as the adapter enqueued it.
        retriever: Hybrid search over the index.
        condenser: Makes a follow-up (a question with thread history) standalone before the search.
        sent_at: When the question was queued (epoch seconds); its queue wait is recorded as `queue.retrieve`.

    Returns:
        The message for the generate hop.
    """
    started = time.time()
    timings: dict[str, float] = {}
    query = question.text
    if question.history and condenser is not None:
        query = condenser.condense(question)
        timings["condense"] = _ms_since(started)
    result = retriever.retrieve(query, principals=question.principals)
    timings = {**timings, **result.timings_ms, "retrieve": _ms_since(started)}
    if sent_at:
        timings["queue.retrieve"] = round(max(started - sent_at, 0.0) * 1000, 2)
    return Retrieval(
        question=question, query=query, passages=tuple(result.passages), timings_ms=timings, sent_at=time.time()
    )


def _ms_since(epoch: float) -> float:
    return round((time.time() - epoch) * 1000, 2)
