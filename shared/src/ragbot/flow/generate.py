"""Hop 2: answer. Passages → an `Answer` whose every `[n]` points at a passage the asker was shown.

Whatever generator wrote the text, `check_citations` is applied: markers that point at no given passage are
removed and counted, and an answer left with no valid citation becomes a refusal that lists the closest
sources. An uncited claim never reaches the user.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

from ragbot.generation.citations import MARKER, REFUSAL, cite, closest_sources, keep_markers
from ragbot.models import Answer, Outcome, Passage, Question, Retrieval
from ragbot.observability import metrics
from ragbot.ports import Generator

__all__ = ["answer", "answer_retrieval", "check_citations"]


def answer(
    question: Question,
    passages: Sequence[Passage],
    *,
    generator: Generator,
    on_text: Callable[[str], None] | None = None,
) -> Answer:
    """Generate an answer to `question` from `passages` and validate its citations.

    Args:
        question: What was asked, by whom.
        passages: Retrieved passages, ranked; passage rank n is cited as `[n]`.
        generator: Writes the text.
        on_text: Receives the text so far while a streaming generator writes it (see `ragbot.chat.streaming`).

    Returns:
        The checked answer, with `timings_ms["generate"]` set.
    """
    started = time.perf_counter()
    draft = generator.generate(question, passages, on_text=on_text)
    checked = check_citations(draft, passages)
    timings = {**checked.timings_ms, "generate": round((time.perf_counter() - started) * 1000, 2)}
    return checked.model_copy(update={"timings_ms": timings})


def answer_retrieval(
    retrieval: Retrieval, *, generator: Generator, on_text: Callable[[str], None] | None = None
) -> Outcome:
    """The generate hop: answer a retrieved question; timings of both hops (and queue waits) travel on.

    Returns:
        The message for the reply hop.
    """
    started = time.time()
    result = answer(retrieval.question, retrieval.passages, generator=generator, on_text=on_text)
    timings = {**retrieval.timings_ms, **result.timings_ms}
    if retrieval.sent_at:
        timings["queue.generate"] = round(max(started - retrieval.sent_at, 0.0) * 1000, 2)
    return Outcome(
        question=retrieval.question,
        answer=result.model_copy(update={"timings_ms": timings}),
        passages=retrieval.passages,
        sent_at=time.time(),
    )


def check_citations(draft: Answer, passages: Sequence[Passage]) -> Answer:
    """Drop `[n]` markers that cite no given passage; refuse an answer left with no valid citation."""
    if draft.refused:
        return draft
    by_rank = {p.rank: p for p in passages}
    text, invalid = keep_markers(draft.text, by_rank)
    cited = sorted({int(n) for n in MARKER.findall(text)})
    invalid += draft.usage.get("invalid_citations", 0)  # markers the generator already removed
    usage = {**draft.usage, "invalid_citations": invalid}
    metrics.CITATION_CHECKS.labels(result="refused" if not cited else "markers_removed" if invalid else "ok").inc()
    if not cited:
        return draft.model_copy(
            update={
                "text": REFUSAL,
                "refused": True,
                "reason": "no valid citation",
                "citations": closest_sources(passages),
                "usage": usage,
            }
        )
    given = {c.n: c for c in draft.citations}
    citations = tuple(given.get(n) or cite(by_rank[n]) for n in cited)
    return draft.model_copy(update={"text": text, "citations": citations, "usage": usage})
