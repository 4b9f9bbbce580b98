"""The extractive answerer: quotes the sentences of the top passages that best answer the question.

It is the default `Generator` when no model server is configured, and the degraded mode when one is down. It
never writes a word the sources do not contain, so every sentence it returns is cited by construction.

Scoring a candidate sentence (or list item, or table row with its header):
    0.7 × cosine(question, sentence) + 0.3 × share of the question's content words it contains,
minus a small penalty per rank of the passage it comes from. The best score is the answer's confidence; under
`min_confidence` (calibrated on examples/qa.jsonl, see docs/BENCHMARKS.md) the answer is a refusal that shows the
closest sources instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from ragbot.generation.citations import cite, closest_sources
from ragbot.language.sentences import split_sentences
from ragbot.language.stopwords import STOPWORDS
from ragbot.models import Answer, Citation, Passage, Question
from ragbot.ports import Embedder
from ragbot.settings import AnswerSettings
from ragbot.texts import REFUSAL

__all__ = ["ExtractiveGenerator"]

_WORD = re.compile(r"\w+")
_LIST_MARKER = re.compile(r"^\s*(?:[-*+]|\d{1,3}[.)])\s+")
_TABLE_RULE = re.compile(r"^\|?[\s:|-]+\|?$")
_COSINE_WEIGHT = 0.7
_RANK_PENALTY = 0.01


@dataclass(frozen=True, slots=True)
class _Unit:
    passage: Passage
    position: int
    text: str


class ExtractiveGenerator:
    """A `Generator` that answers with quoted sentences, each followed by its `[n]` citation.

    Args:
        embedder: Scores sentences against the question (the retrieval model; no extra weights).
        settings: Confidence threshold, sentences per answer, passages to quote from.
    """

    def __init__(self, *, embedder: Embedder, settings: AnswerSettings) -> None:
        self._embedder = embedder
        self._settings = settings

    @property
    def name(self) -> str:
        return f"extractive+{self._embedder.model_name}"

    def generate(
        self, question: Question, passages: Sequence[Passage], *, on_text: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer `question` by quoting `passages`; a refusal when nothing scores above `min_confidence`.

        `on_text` is ignored: the answer takes milliseconds, there is nothing to stream.
        """
        units = [u for p in passages[: self._settings.passages] for u in _units(p)]
        if not units:
            return self._refusal(passages, confidence=0.0, reason="no passages")
        scores = self._score(question.text, units)
        best = int(np.argmax(scores))
        confidence = float(scores[best])
        if confidence < self._settings.min_confidence:
            return self._refusal(passages, confidence=confidence, reason="low confidence")

        # The best unit, then close runners-up that add something, in reading order.
        chosen = [best]
        for i in np.argsort(-scores):
            if len(chosen) >= self._settings.max_sentences:
                break
            i = int(i)
            if i in chosen or scores[i] < max(self._settings.min_confidence, confidence - 0.08):
                continue
            if any(_overlap(units[i].text, units[j].text) > 0.6 for j in chosen):
                continue
            chosen.append(i)
        chosen.sort(key=lambda i: (units[i].passage.rank, units[i].position))

        parts: list[str] = []
        citations: dict[int, Citation] = {}
        for i in chosen:
            unit = units[i]
            n = unit.passage.rank
            parts.append(f"{unit.text.rstrip()} [{n}]")
            if n not in citations:
                citations[n] = cite(unit.passage, quoted=unit.text)
        return Answer(
            text=" ".join(parts),
            citations=tuple(citations[n] for n in sorted(citations)),
            model=self.name,
            confidence=round(confidence, 4),
        )

    def _score(self, question: str, units: list[_Unit]) -> np.ndarray:
        query = self._embedder.embed_query(question)
        vectors = self._embedder.embed_documents([u.text for u in units])
        cosine = vectors @ query
        terms = _content_terms(question)
        lexical = np.array(
            [len(terms & _content_terms(u.text)) / len(terms) if terms else 0.0 for u in units], dtype=np.float32
        )
        penalty = np.array([_RANK_PENALTY * (u.passage.rank - 1) for u in units], dtype=np.float32)
        return np.asarray(_COSINE_WEIGHT * cosine + (1 - _COSINE_WEIGHT) * lexical - penalty)

    def _refusal(self, passages: Sequence[Passage], *, confidence: float, reason: str) -> Answer:
        return Answer(
            text=REFUSAL,
            citations=closest_sources(passages),
            refused=True,
            reason=reason,
            model=self.name,
            confidence=round(confidence, 4),
        )


def _units(passage: Passage) -> list[_Unit]:
    """Answerable pieces of a passage: sentences of prose, list items, table rows read with their header."""
    units: list[str] = []
    header: list[str] | None = None
    for block in passage.chunk.text.split("\n\n"):
        lines = block.split("\n")
        if lines[0].lstrip().startswith("|"):
            header = _cells(lines[0])
            for line in lines[1:]:
                if _TABLE_RULE.match(line.strip()):
                    continue
                cells = _cells(line)
                pairs = zip(header, cells, strict=False) if header else ()
                units.append("; ".join(f"{h}: {c}" for h, c in pairs if c) or " ".join(cells))
        elif _LIST_MARKER.match(lines[0]):
            units += [_LIST_MARKER.sub("", line).strip() for line in lines if _LIST_MARKER.match(line)]
        else:
            units += split_sentences(" ".join(block.split()))
    return [_Unit(passage, i, u) for i, u in enumerate(units) if len(_WORD.findall(u)) >= 3]


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def _content_terms(text: str) -> set[str]:
    # A five-letter prefix is a cheap stemmer: "approvals"/"approve", "reimbursed"/"reimbursement".
    return {w[:5] for w in _WORD.findall(text.lower()) if w not in STOPWORDS and len(w) > 1}


def _overlap(a: str, b: str) -> float:
    wa, wb = set(_WORD.findall(a.lower())), set(_WORD.findall(b.lower()))
    return len(wa & wb) / max(1, min(len(wa), len(wb)))
