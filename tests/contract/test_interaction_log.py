"""The `InteractionLog` contract, for every log backend: SQLite in the data directory, and Elasticsearch (the
validating fake, and a real cluster under `make test-es`).

Each Elasticsearch test gets its own pair of indices, `ragbot-test-interactions-<hash of its tmp_path>`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from ragbot.backends.elasticsearch import ElasticsearchInteractionLog
from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.bootstrap import build_interaction_log
from ragbot.interactions.records import UserHasher, correction_entry, failure_record, feedback_entry, outcome_record
from ragbot.models import Feedback
from ragbot.ports import InteractionLog
from ragbot.settings import Settings
from tests.contract.backends import REAL_URL, fake_server
from tests.unit.builders import answered, asked

HASHER = UserHasher("test-key")


def _index_name(tmp_path: Path) -> str:
    return "ragbot-test-interactions-" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]


def _elasticsearch(url: str) -> Callable[[Path], InteractionLog]:
    def build(tmp_path: Path) -> InteractionLog:
        return ElasticsearchInteractionLog(
            Elasticsearch(url, request_timeout=30), index=_index_name(tmp_path), replicas=0
        )

    return build


LOGS: dict[str, Callable[[Path], InteractionLog]] = {
    "sqlite": SqliteInteractionLog,
    "elasticsearch": lambda tmp_path: _elasticsearch(fake_server().url)(tmp_path),
}
if REAL_URL:
    LOGS["elasticsearch-real"] = _elasticsearch(REAL_URL)


@pytest.fixture(params=sorted(LOGS))
def open_log(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Callable[[], InteractionLog]]:
    """Opens the test's log; two calls give two connections to one log, as two worker processes would have."""
    opened: list[InteractionLog] = []

    def open_() -> InteractionLog:
        opened.append(LOGS[request.param](tmp_path))
        return opened[-1]

    yield open_
    for log in opened:
        log.close()
    if request.param == "elasticsearch-real":
        client = Elasticsearch(REAL_URL, request_timeout=30)
        name = _index_name(tmp_path)
        client.indices.delete(index=f"{name},{name}-feedback", ignore_unavailable=True)
        client.close()


def vote(question_id: str, user: str, value: str = "up", comment: str = "") -> Feedback:
    return Feedback(question_id=question_id, platform="slack", user=user, value=value, comment=comment)  # type: ignore[arg-type]


def test_the_log_merges_feedback_and_replays_in_order(open_log: Callable[[], InteractionLog]) -> None:
    log = open_log()
    early = asked("q-early", at=datetime.now(UTC) - timedelta(days=2))
    late = asked("q-late")
    log.record(outcome_record(answered(late), hasher=HASHER, timings_ms={}))
    log.record(failure_record(early, hasher=HASHER, error="failed at retrieve"))
    down = vote("q-late", "U2", "down", comment="mail x@y.example")
    log.add_feedback("q-late", feedback_entry(down, hasher=HASHER))
    # The same person changing their mind replaces their vote; a re-recorded answer keeps the feedback.
    log.add_feedback("q-late", feedback_entry(down.model_copy(update={"value": "up"}), hasher=HASHER))
    log.record(outcome_record(answered(late), hasher=HASHER, timings_ms={"total": 1.0}))

    record = log.get("q-late")
    assert record is not None and [f.value for f in record.feedback] == ["up"]
    assert record.feedback[0].comment == "mail [email]"
    assert record.timings_ms == {"total": 1.0}
    assert [r.question_id for r in log.records()] == ["q-early", "q-late"]
    assert [r.question_id for r in log.records(since=datetime.now(UTC) - timedelta(days=1))] == ["q-late"]
    failed = log.get("q-early")
    assert failed is not None and failed.status == "failed"
    assert log.get("q-unknown") is None


def test_feedback_may_arrive_before_its_record(open_log: Callable[[], InteractionLog]) -> None:
    # A click can overtake the reply hop's write; a second process reads what the first one wrote.
    writer, reader = open_log(), open_log()
    writer.add_feedback("q-fast", feedback_entry(vote("q-fast", "U2"), hasher=HASHER))
    writer.add_feedback("q-fast", feedback_entry(vote("q-fast", "U3", "down"), hasher=HASHER))
    assert reader.get("q-fast") is None
    writer.record(outcome_record(answered(asked("q-fast")), hasher=HASHER, timings_ms={}))
    record = reader.get("q-fast")
    assert record is not None and sorted(f.value for f in record.feedback) == ["down", "up"]
    [replayed] = list(reader.records())
    assert len(replayed.feedback) == 2


def test_a_reviewers_correction_is_kept_with_the_record(open_log: Callable[[], InteractionLog]) -> None:
    log = open_log()
    log.record(outcome_record(answered(asked("q-c")), hasher=HASHER, timings_ms={}))
    log.add_feedback("q-c", correction_entry(reviewer="lead", answer="25 days [1].", hasher=HASHER))
    record = log.get("q-c")
    assert record is not None and [f.correction for f in record.feedback] == ["25 days [1]."]


def test_records_are_stored_as_built(open_log: Callable[[], InteractionLog]) -> None:
    log = open_log()
    built = outcome_record(answered(asked("q-1")), hasher=HASHER, timings_ms={"queue.retrieve": 3.5, "total": 9.0})
    log.record(built)
    assert log.get("q-1") == built


def test_purge_and_forget_user(open_log: Callable[[], InteractionLog]) -> None:
    log = open_log()
    old = asked("q-old", user="U1", at=datetime.now(UTC) - timedelta(days=400))
    mine = asked("q-mine", user="U1")
    theirs = asked("q-theirs", user="U2")
    for q in (old, mine, theirs):
        log.record(outcome_record(answered(q), hasher=HASHER, timings_ms={}))
    log.add_feedback("q-theirs", feedback_entry(vote("q-theirs", "U1"), hasher=HASHER))
    log.add_feedback("q-mine", feedback_entry(vote("q-mine", "U2"), hasher=HASHER))
    log.add_feedback("q-old", feedback_entry(vote("q-old", "U2"), hasher=HASHER))

    assert log.purge(older_than=datetime.now(UTC) - timedelta(days=180)) == 1
    assert log.forget_user(HASHER("slack", "U1")) == 2  # one question asked, one vote given
    remaining = list(log.records())
    assert [r.question_id for r in remaining] == ["q-theirs"] and remaining[0].feedback == ()
    # Nothing of the forgotten questions comes back, not even feedback others gave on them.
    log.record(outcome_record(answered(mine), hasher=HASHER, timings_ms={}))
    restored = log.get("q-mine")
    assert restored is not None and restored.feedback == ()


def test_settings_choose_the_log(tmp_path: Path) -> None:
    embedded = build_interaction_log(Settings(data_dir=tmp_path))
    assert isinstance(embedded, SqliteInteractionLog)
    embedded.close()
    distributed = build_interaction_log(
        Settings.model_validate(
            {
                "data_dir": tmp_path,
                "elasticsearch": {"url": fake_server().url, "replicas": 0},
                "interactions": {"index": _index_name(tmp_path)},
            }
        )
    )
    assert isinstance(distributed, ElasticsearchInteractionLog)
    distributed.close()
    assert build_interaction_log(Settings(data_dir=tmp_path, interactions={"enabled": False})) is None  # type: ignore[arg-type]
