"""`ragbot advise`: classify logged failures as knowledge gaps or behaviour defects, and say whether to retrain.

The product's thesis: RAG for knowledge that changes, fine-tuning for behaviour that must be consistent. So:

    knowledge gap     the answer was not in what retrieval found: nothing retrieved, sources that did not hold
                      the answer, a 👎 on an answer that leaned on low-ranked sources or named stale content
                      → fix the content, the chunking or the retrieval; retraining cannot help
    behaviour defect  the sources were there but the answer was not right: cited nothing valid, cited passages it
                      was not given, a 👎 on an answer built from the best-ranked source, or named as too long,
                      badly formatted, wrong → the prompt, or fine-tuning once there are enough examples
    operational       failed or degraded answers: the model server or a hop was down; neither kind of fix

Every finding names the signal it came from, so the classification can be checked against the examples.

Evaluation misses count too: the newest `ragbot finetune evaluate` report holds how the served model answered the
held-out examples, and each of its misses is a behaviour defect by construction (every held-out example carries
the sources that hold its answer, or deliberately none). They are used only while that model is still the one
serving; a report about another model is named in the notes and left out.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal

from ragbot.interactions.records import InteractionRecord
from ragbot.interactions.redact import redact

__all__ = ["MIN_EXAMPLES", "Advice", "Finding", "advise", "classify", "evaluation_findings"]

Kind = Literal["knowledge", "behaviour", "operational"]

MIN_EXAMPLES = 50
"""Behaviour defects needed before a fine-tuning run is worth its cost (and its evaluation is meaningful)."""

_TOP_RANKS = 2
_STALE = re.compile(r"\b(outdated|out of date|old|stale|missing|not (in|found)|no doc|wrong (doc|page|source))", re.I)
_STYLE = re.compile(
    r"\b(too long|verbose|format|rambl|wrong|incorrect|not what i asked|didn'?t answer|hallucinat)", re.I
)


@dataclass(frozen=True)
class Finding:
    question_id: str
    kind: Kind
    signal: str
    question: str
    asked_at: str


@dataclass
class Advice:
    since: str
    questions: int
    findings: int
    by_kind: dict[str, int]
    by_signal: dict[str, int]
    examples: dict[str, list[dict[str, str]]]
    trend: dict[str, dict[str, float]]
    recommendation: str
    retrain: bool
    notes: list[str] = field(default_factory=list)
    evaluation: dict[str, Any] | None = None

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def classify(record: InteractionRecord) -> Finding | None:
    """The failure this record shows, if any (the first signal that applies, in order of certainty)."""
    signal: tuple[Kind, str] | None = None
    down = [f for f in record.feedback if f.value == "down"]
    if record.status == "failed":
        signal = ("operational", "failed")
    elif record.status == "degraded":
        signal = ("operational", "model unavailable (degraded answer)")
    elif record.status == "refused":
        if not record.retrieved or record.reason == "no passages":
            signal = ("knowledge", "nothing retrieved")
        elif record.reason == "no valid citation":
            signal = ("behaviour", "answer cited no valid source")
        else:
            signal = ("knowledge", "sources did not hold the answer")
    elif record.usage.get("invalid_citations", 0) > 0:
        signal = ("behaviour", "cited passages it was not given")
    elif down:
        comment = " ".join(f.comment for f in down)
        cited_ranks = {r.rank for r in record.retrieved if r.chunk_id in set(record.citations)}
        if _STALE.search(comment):
            signal = ("knowledge", "👎: stale or missing content")
        elif _STYLE.search(comment):
            signal = ("behaviour", "👎: wrong, too long or badly formatted")
        elif cited_ranks and min(cited_ranks) <= _TOP_RANKS:
            signal = ("behaviour", "👎 on an answer from the best sources")
        else:
            signal = ("knowledge", "👎 on an answer from weak sources")
    if signal is None:
        return None
    # Redacted when recorded; again here, so older records follow rules added since.
    return Finding(record.question_id, signal[0], signal[1], redact(record.question), record.asked_at.isoformat())


def evaluation_findings(report: dict[str, Any]) -> list[Finding]:
    """The served model's misses in an evaluation report, as behaviour defects."""
    return [
        Finding(
            miss["question_id"],
            "behaviour",
            f"evaluation: {miss['signal']}",
            miss.get("question", ""),
            str(report["created_at"]),
        )
        for miss in report.get("misses", {}).get("current", [])
    ]


def advise(
    records: Iterable[InteractionRecord],
    *,
    since: datetime,
    examples: int = 3,
    evaluation: dict[str, Any] | None = None,
    serving: str = "base",
) -> Advice:
    """Classify every record asked since `since`, count, compare the two halves of the window, recommend.

    Args:
        records: The interaction log.
        since: Start of the window.
        examples: Examples kept per signal.
        evaluation: The newest evaluation report, if any; its served model's misses count as behaviour defects.
        serving: The adapter serving now ("base" for the base model): a report about another one is left out.
    """
    rows = [r for r in records if r.asked_at >= since]
    findings = [f for f in (classify(r) for r in rows) if f is not None]
    used_evaluation = None
    extra_notes = []
    if evaluation is not None:
        about = evaluation.get("against", {}).get("id", "base")
        if about == serving:
            evaluated = evaluation_findings(evaluation)
            findings += evaluated
            used_evaluation = {
                "created_at": evaluation["created_at"],
                "model": about,
                "examples": evaluation.get("dataset", {}).get("examples", 0),
                "misses": len(evaluated),
            }
        else:
            extra_notes.append(
                f"The newest evaluation report ({evaluation.get('created_at', '?')}) measured {about}, not {serving}, "
                "which serves now: its misses are left out."
            )
    by_kind: Counter[str] = Counter(f.kind for f in findings)
    by_signal = Counter(f.signal for f in findings)
    picked: dict[str, list[dict[str, str]]] = {}
    for finding in sorted(findings, key=lambda f: f.asked_at, reverse=True):
        bucket = picked.setdefault(finding.signal, [])
        if len(bucket) < examples:
            bucket.append(
                {"question_id": finding.question_id, "question": finding.question, "asked_at": finding.asked_at}
            )
    recommendation, retrain, notes = _recommend(len(rows) + (used_evaluation or {}).get("examples", 0), by_kind)
    return Advice(
        since=since.isoformat(),
        questions=len(rows),
        findings=len(findings),
        by_kind={kind: by_kind.get(kind, 0) for kind in ("knowledge", "behaviour", "operational")},
        by_signal=dict(by_signal.most_common()),
        examples=picked,
        trend=_trend(rows, findings),
        recommendation=recommendation,
        retrain=retrain,
        notes=notes + extra_notes,
        evaluation=used_evaluation,
    )


def _trend(rows: list[InteractionRecord], findings: list[Finding]) -> dict[str, dict[str, float]]:
    """Findings per 100 questions in the earlier and the later half of the window, per kind."""
    if len(rows) < 2:
        return {}
    ordered = sorted(r.asked_at for r in rows)
    middle = ordered[len(ordered) // 2].isoformat()
    halves = {
        "earlier": [r for r in rows if r.asked_at.isoformat() < middle],
        "later": [r for r in rows if r.asked_at.isoformat() >= middle],
    }
    trend: dict[str, dict[str, float]] = {}
    for name, half in halves.items():
        ids = {r.question_id for r in half}
        counts = Counter(f.kind for f in findings if f.question_id in ids)
        trend[name] = {
            kind: round(100 * counts.get(kind, 0) / max(len(half), 1), 1)
            for kind in ("knowledge", "behaviour", "operational")
        }
    return trend


def _recommend(questions: int, by_kind: Counter[str]) -> tuple[str, bool, list[str]]:
    knowledge, behaviour, operational = (by_kind.get(k, 0) for k in ("knowledge", "behaviour", "operational"))
    notes = []
    if operational and operational >= knowledge + behaviour:
        notes.append(f"{operational} answers failed or were degraded: fix the service first (docs/RUNBOOK.md).")
    if not questions:
        return "No questions in this window: nothing to advise on.", False, notes
    if not knowledge and not behaviour:
        return "No knowledge gaps or behaviour defects found: keep collecting feedback.", False, notes
    if knowledge >= behaviour:
        return (
            f"Fix retrieval or content, not the model: {knowledge} knowledge gaps against {behaviour} behaviour "
            "defects. The answers were not in what was retrieved; add or update the documents, or tune chunking and "
            "retrieval (`ragbot eval retrieval`). Retraining would not help.",
            False,
            notes,
        )
    if behaviour < MIN_EXAMPLES:
        return (
            f"Behaviour defects lead ({behaviour} against {knowledge} knowledge gaps), but {behaviour} examples are "
            f"too few to fine-tune on (at least {MIN_EXAMPLES}): adjust the prompt, and review 👎 answers to collect "
            "corrected examples.",
            False,
            notes,
        )
    return (
        f"Retrain: {behaviour} behaviour defects against {knowledge} knowledge gaps. The sources held the answers; "
        "the model did not use them well. Build a dataset from the log (positive feedback and corrected answers), "
        "train a LoRA adapter, and release it behind the evaluation gate and a canary.",
        True,
        notes,
    )
