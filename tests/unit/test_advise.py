"""The advisor: each logged failure is a knowledge gap, a behaviour defect or operational, for a stated reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ragbot.interactions.records import InteractionRecord, RetrievedRef, UserHasher, failure_record, outcome_record
from ragbot.learning.advise import MIN_EXAMPLES, advise, classify
from tests.unit.builders import answered, asked

HASHER = UserHasher("k")
NOW = datetime.now(UTC)


def record(qid: str = "q", *, days_ago: float = 0, **changes: object) -> InteractionRecord:
    base = outcome_record(answered(asked(qid, at=NOW - timedelta(days=days_ago))), hasher=HASHER, timings_ms={})
    return base.model_copy(update=changes)


def down(comment: str = "") -> tuple[object, ...]:
    from ragbot.interactions.records import FeedbackEntry

    return (FeedbackEntry(user_hash="u", value="down", comment=comment, given_at=NOW),)


def signal(r: InteractionRecord) -> tuple[str, str] | None:
    found = classify(r)
    return (found.kind, found.signal) if found else None


def test_each_failure_is_classified_with_its_reason() -> None:
    weak = (RetrievedRef(chunk_id="hr/leave.md#0", doc_id="hr/leave.md", rank=4, score=0.1),)
    assert signal(record()) is None  # answered, cited, no complaint
    assert signal(failure_record(asked("q"), hasher=HASHER, error="x")) == ("operational", "failed")
    assert signal(record(status="degraded"))[0] == "operational"  # type: ignore[index]
    assert signal(record(status="refused", retrieved=(), reason="no passages")) == ("knowledge", "nothing retrieved")
    assert signal(record(status="refused", reason="low confidence")) == ("knowledge", "sources did not hold the answer")
    assert signal(record(status="refused", reason="no valid citation")) == ("behaviour", "answer cited no valid source")
    assert signal(record(usage={"invalid_citations": 2})) == ("behaviour", "cited passages it was not given")
    assert signal(record(feedback=down("that page is outdated"))) == ("knowledge", "👎: stale or missing content")
    assert signal(record(feedback=down("way too long"))) == ("behaviour", "👎: wrong, too long or badly formatted")
    assert signal(record(feedback=down())) == ("behaviour", "👎 on an answer from the best sources")
    assert signal(record(feedback=down(), retrieved=weak)) == ("knowledge", "👎 on an answer from weak sources")


def test_knowledge_gaps_point_at_retrieval_not_at_retraining() -> None:
    rows = [record(f"k{i}", status="refused", reason="low confidence") for i in range(30)]
    rows += [record(f"b{i}", usage={"invalid_citations": 1}) for i in range(10)]
    advice = advise(rows, since=NOW - timedelta(days=30))
    assert advice.by_kind == {"knowledge": 30, "behaviour": 10, "operational": 0}
    assert not advice.retrain and advice.recommendation.startswith("Fix retrieval or content")
    assert len(advice.examples["sources did not hold the answer"]) == 3


def test_retraining_needs_behaviour_defects_to_lead_and_enough_of_them() -> None:
    few = [record(f"b{i}", feedback=down("wrong")) for i in range(MIN_EXAMPLES - 1)]
    advice = advise(few, since=NOW - timedelta(days=30))
    assert not advice.retrain and "too few to fine-tune on" in advice.recommendation
    enough = [*few, record("b-last", feedback=down("wrong")), record("k", status="refused", reason="low confidence")]
    advice = advise(enough, since=NOW - timedelta(days=30))
    assert advice.retrain and advice.recommendation.startswith("Retrain:")


def test_the_window_and_the_trend_between_its_halves() -> None:
    rows = [record(f"early{i}", days_ago=20) for i in range(10)]
    rows += [record(f"late{i}", days_ago=1, status="refused", reason="low confidence") for i in range(10)]
    rows.append(record("ancient", days_ago=90, status="refused", reason="low confidence"))
    advice = advise(rows, since=NOW - timedelta(days=30))
    assert advice.questions == 20  # the 90-day-old one is outside the window
    assert advice.trend["earlier"]["knowledge"] == 0.0 and advice.trend["later"]["knowledge"] == 100.0


def test_an_outage_is_called_an_outage() -> None:
    rows = [record(f"d{i}", status="degraded") for i in range(5)] + [record("k", status="refused", reason="x")]
    advice = advise(rows, since=NOW - timedelta(days=30))
    assert advice.by_kind["operational"] == 5 and "fix the service first" in advice.notes[0]


def evaluation(about: str, misses: int) -> dict[str, object]:
    miss = {
        "question_id": "slack-q1",
        "question": "how much leave?",
        "kind": "answer",
        "signal": "cited the wrong source",
    }
    return {
        "created_at": NOW.isoformat(),
        "against": {"id": about},
        "dataset": {"examples": 80},
        "misses": {"current": [miss] * misses, "candidate": []},
    }


def test_the_served_models_evaluation_misses_are_behaviour_evidence() -> None:
    rows = [record(f"k{i}", status="refused", reason="low confidence") for i in range(10)]
    advice = advise(
        rows, since=NOW - timedelta(days=30), evaluation=evaluation("handbook-a", MIN_EXAMPLES), serving="handbook-a"
    )
    assert advice.by_kind == {"knowledge": 10, "behaviour": MIN_EXAMPLES, "operational": 0}
    assert advice.by_signal["evaluation: cited the wrong source"] == MIN_EXAMPLES
    assert advice.retrain and advice.evaluation == {
        "created_at": NOW.isoformat(),
        "model": "handbook-a",
        "examples": 80,
        "misses": MIN_EXAMPLES,
    }
    # A report about another model than the one serving says nothing about production: left out, and said so.
    stale = advise(rows, since=NOW - timedelta(days=30), evaluation=evaluation("handbook-a", 60), serving="handbook-b")
    assert stale.by_kind["behaviour"] == 0 and stale.evaluation is None
    assert "measured handbook-a, not handbook-b" in stale.notes[-1]
