"""`ragbot eval answers`: ingest a folder, ask every question of a QA set as its asker, score the answers.

QA lines: `{"id", "question", "answerable", "gold_docs": [paths under the folder], "evidence": [quotes]}`, and
optionally `"as": [principals]` (default everyone) so permission-restricted questions can be checked both ways.

Metrics (DESIGN §8): hit@5 (a gold doc among the top-5 passages; answerable only), evidence_hit@5 (a top-5 passage
contains an evidence quote), cited_gold (the answer cites a gold doc), refusal precision and recall, p50_ms.
"""

from __future__ import annotations

import json
import re
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.bootstrap import Context, build_chunker
from ragbot.errors import InputError
from ragbot.evaluation.metrics import percentile
from ragbot.flow.generate import answer
from ragbot.ingestion.pipeline import ingest
from ragbot.ingestion.sources import open_source
from ragbot.models import EVERYONE, Answer, Passage, Question
from ragbot.ports import Embedder
from ragbot.settings import Settings

__all__ = ["AnswerRecord", "QAItem", "evaluate_answers", "load_qa", "summarize"]


class QAItem(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    id: str = Field(min_length=1)
    question: str = Field(min_length=1)
    answerable: bool
    gold_docs: tuple[str, ...] = ()
    evidence: tuple[str, ...] = ()
    as_: tuple[str, ...] = Field((EVERYONE,), alias="as", min_length=1)


@dataclass(frozen=True, slots=True)
class AnswerRecord:
    """One question's outcome, kept for calibration and error analysis."""

    item: QAItem
    answer: Answer
    passages: list[Passage]
    ms: float

    def hit(self, depth: int = 5) -> bool:
        return any(p.chunk.doc_id in self.item.gold_docs for p in self.passages[:depth])

    def evidence_hit(self, depth: int = 5) -> bool:
        quotes = [_fold(q) for q in self.item.evidence]
        return any(q and q in _fold(p.chunk.text) for p in self.passages[:depth] for q in quotes)

    def cited_gold(self) -> bool:
        return not self.answer.refused and any(c.doc_id in self.item.gold_docs for c in self.answer.citations)


def load_qa(path: Path) -> list[QAItem]:
    """Read and validate a QA JSONL file. Raises `InputError` naming the line of the first problem."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}") from err
    items: list[QAItem] = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            item = QAItem.model_validate(json.loads(line))
        except json.JSONDecodeError as err:
            raise InputError(f"{path.name}:{number}: not valid JSON ({err.msg})") from err
        except ValidationError as err:
            first = err.errors()[0]
            where = ".".join(str(p) for p in first["loc"]) or "line"
            raise InputError(f"{path.name}:{number}: {where}: {first['msg']}") from err
        if item.answerable and not item.gold_docs:
            raise InputError(f"{path.name}:{number}: an answerable question needs gold_docs")
        items.append(item)
    if not items:
        raise InputError(f"{path.name}: no questions")
    return items


def evaluate_answers(
    docs: Path, items: Sequence[QAItem], *, settings: Settings, embedder: Embedder
) -> tuple[dict[str, Any], list[AnswerRecord]]:
    """Ingest `docs` into a temporary store and answer every item as its asker. Returns (summary, records)."""
    if not docs.is_dir():
        raise InputError(f"--docs must be a folder: {docs}")
    with tempfile.TemporaryDirectory(prefix="ragbot-eval-") as tmp:
        index = EmbeddedIndex(Path(tmp))
        try:
            ingest([open_source(docs)], index=index, embedder=embedder, chunker=build_chunker(settings))
            missing = sorted({g for item in items for g in item.gold_docs} - set(index.documents()))
            if missing:
                raise InputError(f"gold_docs not found under {docs}: {', '.join(missing[:5])}")
            # The same assembly as every other process answers with, over the temporary store.
            context = Context(settings, embedder=embedder, index=index)
            retriever, generator = context.retriever, context.generator
            records = []
            for item in items:
                started = time.perf_counter()
                question = Question(question_id=item.id, text=item.question, principals=item.as_)
                passages = retriever.retrieve(question.text, principals=question.principals).passages
                reply = answer(question, passages, generator=generator)
                records.append(AnswerRecord(item, reply, passages, (time.perf_counter() - started) * 1000))
        finally:
            index.close()
    return summarize(records), records


def summarize(records: Sequence[AnswerRecord]) -> dict[str, Any]:
    """The DESIGN §8 metrics over answered records."""
    answerable = [r for r in records if r.item.answerable]
    unanswerable = [r for r in records if not r.item.answerable]
    refused = [r for r in records if r.answer.refused]

    def share(hits: int, total: int) -> float:
        return round(hits / total, 4) if total else 0.0

    return {
        "questions": len(records),
        "answerable": len(answerable),
        "hit@5": share(sum(r.hit() for r in answerable), len(answerable)),
        "evidence_hit@5": share(sum(r.evidence_hit() for r in answerable), len(answerable)),
        "cited_gold": share(sum(r.cited_gold() for r in answerable), len(answerable)),
        "refusal_precision": share(sum(not r.item.answerable for r in refused), len(refused)),
        "refusal_recall": share(sum(r.answer.refused for r in unanswerable), len(unanswerable)),
        "p50_ms": round(percentile([r.ms for r in records], 50), 2),
        "p95_ms": round(percentile([r.ms for r in records], 95), 2),
    }


_MARKUP = re.compile(r"[*_`]+")


def _fold(text: str) -> str:
    """Compare quotes to passages ignoring case, emphasis markup and whitespace."""
    return " ".join(_MARKUP.sub("", text).lower().split())
