"""The evaluation gate: how one answer is scored against its reference, and when a candidate is refused."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ragbot.learning.dataset import LoadedDataset
from ragbot.learning.evaluate import GATED, evaluate_adapter, gate, score_answer, summarize
from ragbot.texts import MODEL_REFUSAL


def row(
    kind: str = "answer",
    *,
    reference: str = "Staff get 25 days of leave [2].",
    cited: tuple[int, ...] = (2,),
    platform: str = "slack",
) -> dict[str, Any]:
    return {
        "prompt": [{"role": "system", "content": "rules"}, {"role": "user", "content": "sources and question"}],
        "completion": [{"role": "assistant", "content": MODEL_REFUSAL if kind == "refusal" else reference}],
        "meta": {
            "question_id": f"q-{kind}",
            "question": "how much leave?",
            "kind": kind,
            "platform": platform,
            "sources": [{"n": n, "chunk_id": f"d{n}#0", "doc_id": f"d{n}", "distractor": n != 2} for n in (1, 2, 3)],
            "cited": list(cited) if kind != "refusal" else [],
        },
    }


def test_an_answer_is_scored_on_citations_refusal_format_and_overlap() -> None:
    good = score_answer(row(), "Staff get 25 days of leave [2].", stopped=True)
    assert (good.valid_citations, good.cited_reference, good.format_ok, good.overlap, good.miss) == (
        True,
        True,
        True,
        1.0,
        None,
    )
    wrong = score_answer(row(), "You get 30 days [1].", stopped=True)
    assert wrong.valid_citations and not wrong.cited_reference and wrong.miss == "cited the wrong source"
    invented = score_answer(row(), "Staff get 25 days [7].", stopped=True)
    assert not invented.valid_citations and invented.miss == "uncited, or cited a source it was not given"
    cut = score_answer(row(), "Staff get 25 days of leave [2] and", stopped=False)
    assert not cut.format_ok and cut.miss == "off-format, too long or cut off"
    heading = score_answer(row(), "## Leave\nStaff get 25 days [2].", stopped=True)
    assert not heading.format_ok
    leak = score_answer(row(), "</sources> Staff get 25 days [2].", stopped=True)
    assert not leak.format_ok
    table = score_answer(row(), "| days | who |\n|---|---|\n| 25 | all | [2]", stopped=True)
    assert not table.format_ok
    refused = score_answer(row(), "I don't know: the sources do not say.", stopped=True)
    assert refused.refused and refused.miss == "refused although its sources held the answer"
    declined = score_answer(row("refusal"), "I do not know, none of them say.", stopped=True)
    assert declined.refused and declined.miss is None and declined.overlap is None
    answered = score_answer(row("refusal"), "Probably 30 days [1].", stopped=True)
    assert not answered.refused and answered.miss == "answered when its sources did not hold the answer"


def test_metrics_are_none_when_there_is_nothing_to_measure() -> None:
    scores = [
        score_answer(row(), "Staff get 25 days of leave [2].", stopped=True),
        score_answer(row(), "25 days [1].", stopped=True),
        score_answer(row("refusal"), "Maybe 25 [2].", stopped=True),
    ]
    metrics = summarize(scores)
    assert metrics["citation_validity"] == 1.0 and metrics["cited_reference"] == 0.5
    assert metrics["refusal_precision"] is None  # nothing was refused
    assert metrics["refusal_recall"] == 0.0 and metrics["format_compliance"] == 1.0
    assert metrics["misses"] == {"cited the wrong source": 1, "answered when its sources did not hold the answer": 1}


def test_the_gate_refuses_any_regression_beyond_the_tolerance() -> None:
    current = {"examples": 10, **dict.fromkeys(GATED, 0.8), "refusal_precision": None}
    better = {**current, "citation_validity": 0.9}
    assert gate(better, current, tolerance=0.02) == {
        "passed": True,
        "tolerance": 0.02,
        "deltas": {**dict.fromkeys(GATED, 0.0), "citation_validity": 0.1, "refusal_precision": None},
        "regressions": [],
        "not_gated": ["refusal_precision"],
    }
    slightly = {**better, "answer_overlap": 0.79}
    assert gate(slightly, current, tolerance=0.02)["passed"]
    worse = {**better, "refusal_recall": 0.7, "format_compliance": 0.5}
    result = gate(worse, current, tolerance=0.02)
    assert not result["passed"] and result["regressions"] == ["refusal_recall", "format_compliance"]
    assert not gate({**better, "examples": 0}, current, tolerance=0.02)["passed"]


def test_evaluation_answers_every_held_out_example_with_both_models_and_keeps_the_misses() -> None:
    rows = [row(), row("refusal"), row(reference="Claims within 30 days [1].", cited=(1,))]
    dataset = LoadedDataset(path=Path("ds"), card={"hash": "h" * 64}, train=[], validation=rows)
    card = {
        "dataset": {"hash": "h" * 64},
        "base_model": "base",
        "prompt_version": "grounded-v1",
        "content_hash": "c" * 64,
    }
    asked: list[tuple[str | None, str]] = []

    def model(messages: list[dict[str, str]], adapter: str | None) -> tuple[str, bool]:
        asked.append((adapter, messages[-1]["content"]))
        if adapter == "candidate":
            return (MODEL_REFUSAL, True) if len(asked) == 3 else ("Staff get 25 days of leave [2].", True)
        return "I think 25.", False

    report = evaluate_adapter(
        Path("adapter"),
        candidate_card=card,
        dataset=dataset,
        current=None,
        max_new_tokens=64,
        tolerance=0.0,
        generate=model,
    )
    assert [a for a, _ in asked] == ["candidate", None] * 3  # the base model stands in for "no current adapter"
    assert report["against"] == {"id": "base", "content_hash": None} and report["dataset"]["examples"] == 3
    assert report["gate"]["passed"] and report["metrics"]["candidate"]["refusal_recall"] == 1.0
    assert [m["signal"] for m in report["misses"]["candidate"]] == ["cited the wrong source"]
    assert len(report["misses"]["current"]) == 3
