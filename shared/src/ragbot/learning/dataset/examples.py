"""Building prompt-completion examples from a target: the production prompt over its sources, plus distractors.

Each example is the prompt production sends (`ragbot.generation.prompting.build_prompt`, the current PROMPT_VERSION,
the asker's platform) over the sources as they were shown, plus distractors. The sources are shuffled and renumbered,
and the target's `[n]` markers follow them, so the model learns to cite the passage that holds the answer, not the
first one. A share of questions also appears with distractors only and "I don't know" as the target, so it learns
to refuse. The question, the answer and every passage are redacted again (the documents may name people).
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ragbot.generation.citations import MARKER, cited_numbers
from ragbot.generation.prompting import PROMPT_VERSION, build_prompt, estimate_tokens
from ragbot.interactions.redact import redact
from ragbot.learning.dataset.options import DatasetOptions
from ragbot.learning.dataset.sources import Mixer, shown, usable_sources
from ragbot.learning.dataset.support import AnswerSupport
from ragbot.learning.dataset.targets import Kind, Tally, Target
from ragbot.models import Chunk, ConversationRef, Passage, Question
from ragbot.texts import MODEL_REFUSAL

__all__ = ["Example", "examples_for"]


@dataclass(frozen=True)
class Example:
    """One training example: the prompt messages, the target answer, and what they were built from."""

    question_id: str
    question: str
    kind: Kind
    asked_at: datetime
    platform: str
    messages: list[dict[str, str]]
    answer: str
    sources: list[dict[str, Any]]
    cited: list[int]

    def line(self) -> str:
        """The example as one JSONL line in trl's conversational prompt-completion format, with a `meta` record."""
        return json.dumps(
            {
                "prompt": self.messages,
                "completion": [{"role": "assistant", "content": self.answer}],
                "meta": {
                    "question_id": self.question_id,
                    "question": self.question,
                    "kind": self.kind,
                    "asked_at": self.asked_at.isoformat(),
                    "platform": self.platform,
                    "sources": self.sources,
                    "cited": self.cited,
                    "prompt_version": PROMPT_VERSION,
                },
            },
            ensure_ascii=False,
        )


def examples_for(
    target: Target,
    *,
    chunks: dict[str, Chunk],
    mixer: Mixer,
    options: DatasetOptions,
    tally: Tally,
    support: AnswerSupport | None = None,
) -> list[Example]:
    """The examples `target` gives: its own, and for a share of answers a refusal over distractors only.

    Args:
        target: The question and the answer it teaches.
        chunks: The store's chunks by id, for the sources shown with the answer.
        mixer: Where distractors come from.
        options: Distractors, refusal share, readers, length and seed.
        tally: Where a skipped question's reason is counted.
        support: Checks the answer's words against what `options.allow` may read (`AnswerSupport`).

    Returns:
        The examples, or none (and the reason tallied) when its sources cannot be shown or do not fit, or when
        its answer quotes a passage `options.allow` may not read, whatever it cites.
    """
    record = target.record
    kept = usable_sources(target, chunks=chunks, allow=options.allow, tally=tally)
    if kept is None:
        return []
    if support is not None and target.kind != "refusal":
        logged = [chunks[ref.chunk_id] for ref in shown(record) if ref.chunk_id in chunks]
        if support.quotes_unreadable(target.text, readable_chunks=list(kept.values()), shown=logged):
            tally.skip("the answer quotes a passage --allow may not read")
            return []

    rng = random.Random(f"{options.seed}:{record.question_id}")  # noqa: S311 - shuffling, not secrecy
    avoid = {ref.doc_id for ref in record.retrieved}
    extra = mixer.pick(record.question, avoid_docs=avoid, count=options.distractors + len(kept), rng=rng)
    built = []
    main = _example(
        target,
        list(kept.items()),
        extra[: options.distractors],
        text=target.text,
        rng=rng,
        kind=target.kind,
        options=options,
    )
    if main is None:
        tally.skip(f"the cited sources do not fit in --max-length {options.max_length}")
        return []
    built.append(main)
    if target.kind != "refusal" and len(extra) >= 2 and rng.random() < options.refusal_share:
        absent = _example(target, [], extra, text=MODEL_REFUSAL, rng=rng, kind="refusal", options=options)
        if absent is not None:
            built.append(absent)
    return built


def _example(
    target: Target,
    shown: list[tuple[int, Chunk]],
    distractors: list[Chunk],
    *,
    text: str,
    rng: random.Random,
    kind: Kind,
    options: DatasetOptions,
) -> Example | None:
    """One example: sources shuffled and renumbered, the target's markers renumbered with them.

    When the cited sources do not all fit in `max_length`, the last other source goes, until they do (or none is
    left to drop: then there is no example).
    """
    record = target.record
    question = Question(
        question_id=record.question_id,
        text=redact(record.question),
        conversation=ConversationRef(platform=record.platform if record.platform in ("slack", "teams") else "cli"),
    )
    needed = set(cited_numbers(text)) if kind != "refusal" else set()
    pool: list[tuple[int | None, Chunk]] = [*shown, *((None, c) for c in distractors)]
    rng.shuffle(pool)
    while True:
        renumber = {old: new for new, (old, _) in enumerate(pool, start=1) if old is not None}
        answer = redact(_renumbered(text, renumber) if kind != "refusal" else MARKER.sub("", text).strip())
        passages = [
            Passage(chunk=chunk.model_copy(update={"text": redact(chunk.text)}), score=0.0, rank=n)
            for n, (_, chunk) in enumerate(pool, start=1)
        ]
        budget = options.max_length - max(estimate_tokens(answer), 64) - 16
        prompt = build_prompt(question, passages, budget_tokens=max(budget, 1), max_passages=len(passages))
        cited = sorted(set(cited_numbers(answer)))
        if set(cited) <= set(prompt.shown) and pool:
            break
        spare = [i for i, (old, _) in enumerate(pool) if old not in needed]
        if not spare:
            return None
        pool.pop(spare[-1])
    sources = [
        {"n": p.rank, "chunk_id": p.chunk.chunk_id, "doc_id": p.chunk.doc_id, "distractor": old is None}
        for p, (old, _) in zip(passages, pool, strict=True)
        if p.rank in prompt.shown
    ]
    return Example(
        record.question_id,
        question.text,
        kind,
        record.asked_at,
        question.conversation.platform,
        prompt.messages,
        answer,
        sources,
        cited,
    )


def _renumbered(text: str, renumber: dict[int, int]) -> str:
    def swap(match: re.Match[str]) -> str:
        return match.group(0).replace(f"[{match.group(1)}]", f"[{renumber[int(match.group(1))]}]")

    return MARKER.sub(swap, text)
