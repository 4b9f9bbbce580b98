"""Interaction records: redacted and hashed when built; the SQLite log keeps, merges, purges and forgets them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.interactions import UserHasher, failure_record, feedback_entry, outcome_record
from ragbot.models import Answer, Citation, ConversationRef, Feedback, Outcome, Question
from tests.unit.builders import passage

HASHER = UserHasher("test-key")


def question(qid: str = "slack-Ev1", *, user: str = "U1", asked: datetime | None = None) -> Question:
    return Question(
        question_id=qid,
        text="I'm ana@corp.example, call me on +44 20 7946 0958: how many leave days?",
        asker=user,
        principals=("*", "user:ana@corp.example", "group:hr"),
        conversation=ConversationRef(platform="slack", channel="C1", thread="1.0", message="2.0"),
        asked_at=(asked or datetime.now(UTC)).timestamp(),
    )


def outcome(q: Question) -> Outcome:
    found = passage(1, "Staff get 25 days of annual leave.", doc_id="hr/leave.md")
    chunk = found.chunk
    answer = Answer(
        text="You get 25 days [1]. Questions to hr@corp.example.",
        citations=(
            Citation(
                n=1,
                doc_id=chunk.doc_id,
                chunk_id=chunk.chunk_id,
                title="Leave",
                url="",
                heading_path="",
                snippet="Staff get 25 days",
            ),
        ),
        model="extractive",
    )
    return Outcome(question=q, answer=answer, passages=(found,))


def test_records_carry_no_personal_data() -> None:
    record = outcome_record(outcome(question()), hasher=HASHER, timings_ms={"total": 12.0})
    dumped = record.model_dump_json()
    assert "ana@corp.example" not in dumped and "7946" not in dumped and "hr@corp.example" not in dumped
    assert "U1" not in dumped and record.user_hash == HASHER("slack", "U1")
    assert "group:hr" in record.principals and all(not p.endswith("corp.example") for p in record.principals)
    assert record.status == "answered" and record.citations == ("hr/leave.md#0",)
    assert record.retrieved[0].doc_id == "hr/leave.md"


def test_hashes_depend_on_the_key() -> None:
    assert UserHasher("a")("slack", "U1") != UserHasher("b")("slack", "U1")
    assert HASHER("slack", "U1") != HASHER("teams", "U1")
    with pytest.raises(ValueError, match="empty"):
        UserHasher("")


def test_the_log_merges_feedback_and_replays_in_order(tmp_path: Path) -> None:
    log = SqliteInteractionLog(tmp_path)
    early = question("q-early", asked=datetime.now(UTC) - timedelta(days=2))
    late = question("q-late")
    log.record(outcome_record(outcome(late), hasher=HASHER, timings_ms={}))
    log.record(failure_record(early, hasher=HASHER, error="failed at retrieve"))
    vote = Feedback(question_id="q-late", platform="slack", user="U2", value="down", comment="mail x@y.example")
    log.add_feedback("q-late", feedback_entry(vote, hasher=HASHER))
    # The same person changing their mind replaces their vote; a re-recorded answer keeps the feedback.
    log.add_feedback("q-late", feedback_entry(vote.model_copy(update={"value": "up"}), hasher=HASHER))
    log.record(outcome_record(outcome(late), hasher=HASHER, timings_ms={"total": 1.0}))

    record = log.get("q-late")
    assert record is not None and [f.value for f in record.feedback] == ["up"]
    assert record.feedback[0].comment == "mail [email]"
    assert [r.question_id for r in log.records()] == ["q-early", "q-late"]
    assert [r.question_id for r in log.records(since=datetime.now(UTC) - timedelta(days=1))] == ["q-late"]
    assert log.get("q-early").status == "failed"  # type: ignore[union-attr]
    log.close()


def test_purge_and_forget_user(tmp_path: Path) -> None:
    log = SqliteInteractionLog(tmp_path)
    old = question("q-old", user="U1", asked=datetime.now(UTC) - timedelta(days=400))
    mine = question("q-mine", user="U1")
    theirs = question("q-theirs", user="U2")
    for q in (old, mine, theirs):
        log.record(outcome_record(outcome(q), hasher=HASHER, timings_ms={}))
    log.add_feedback(
        "q-theirs",
        feedback_entry(Feedback(question_id="q-theirs", platform="slack", user="U1", value="up"), hasher=HASHER),
    )
    assert log.purge(older_than=datetime.now(UTC) - timedelta(days=180)) == 1
    assert log.forget_user(HASHER("slack", "U1")) == 2  # one question asked, one vote given
    remaining = list(log.records())
    assert [r.question_id for r in remaining] == ["q-theirs"] and remaining[0].feedback == ()
