"""`ragbot forget --user` and `ragbot interactions purge`: a person's data and old records leave the interaction log."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.interactions.records import UserHasher, feedback_entry, outcome_record
from ragbot.models import Feedback
from tests.cli.test_cli import ragbot
from tests.unit.builders import answered, asked

KEY = "cli-test-key"
HASHER = UserHasher(KEY)
SETTINGS = {"RAGBOT_INTERACTIONS__USER_HASH_KEY": KEY}


def seeded(data_dir: Path) -> SqliteInteractionLog:
    log = SqliteInteractionLog(data_dir)
    for qid, user, days in (("q-old", "U1", 400), ("q-1", "U1", 0), ("q-2", "U2", 0), ("q-3", "U3", 10)):
        question = asked(qid, user=user, at=datetime.now(UTC) - timedelta(days=days))
        log.record(outcome_record(answered(question), hasher=HASHER, timings_ms={}))
    click = Feedback(question_id="q-2", platform="slack", user="U1", value="down")
    log.add_feedback("q-2", feedback_entry(click, hasher=HASHER))
    return log


def test_forget_removes_what_a_person_asked_and_gave(tmp_path: Path) -> None:
    log = seeded(tmp_path)
    done = ragbot("forget", "--user", "slack:U1", "--json", data_dir=tmp_path, settings=SETTINGS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"users": {"slack:U1": 3}}  # two questions and one vote
    assert [r.question_id for r in log.records()] == ["q-3", "q-2"]
    assert log.get("q-2").feedback == ()  # type: ignore[union-attr]
    # Asking again finds nothing; plain output says so in words.
    again = ragbot("forget", "--user", "slack:U1", data_dir=tmp_path, settings=SETTINGS)
    assert again.returncode == 0 and again.stdout.strip() == "slack:U1: removed 0 questions and votes"


def test_purge_applies_the_retention_period(tmp_path: Path) -> None:
    log = seeded(tmp_path)
    done = ragbot("interactions", "purge", "--json", data_dir=tmp_path, settings=SETTINGS)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["purged"] == 1  # the 400-day-old record, under the default 180 days
    done = ragbot("interactions", "purge", "--older-than-days", "5", data_dir=tmp_path, settings=SETTINGS)
    assert done.returncode == 0 and done.stdout.startswith("purged 1 records asked before")
    assert sorted(r.question_id for r in log.records()) == ["q-1", "q-2"]


def test_bad_requests_are_refused_with_one_line(tmp_path: Path) -> None:
    done = ragbot("forget", "--user", "U1", data_dir=tmp_path)
    assert done.returncode == 2 and "is not PLATFORM:ID" in done.stderr
    done = ragbot("forget", data_dir=tmp_path)
    assert done.returncode == 2 and "give --doc DOC_ID or --user PLATFORM:ID" in done.stderr
    done = ragbot("interactions", "purge", "--older-than-days", "0", data_dir=tmp_path)
    assert done.returncode == 2 and "must be at least 1" in done.stderr
    done = ragbot("interactions", "purge", data_dir=tmp_path, settings={"RAGBOT_INTERACTIONS__ENABLED": "false"})
    assert done.returncode == 1 and done.stderr.startswith("ragbot: error: the interaction log is off")


def test_advise_reads_the_log_and_says_what_to_fix(tmp_path: Path) -> None:
    log = seeded(tmp_path)
    refusal = asked("q-refused", user="U4")
    refused = outcome_record(answered(refusal), hasher=HASHER, timings_ms={}).model_copy(
        update={"status": "refused", "reason": "low confidence"}
    )
    log.record(refused)
    done = ragbot("advise", "--json", data_dir=tmp_path, settings=SETTINGS)
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert advice["questions"] == 4  # the 400-day-old question is outside the default 30 days
    assert advice["by_kind"]["knowledge"] == 1 and advice["retrain"] is False
    assert advice["examples"]["sources did not hold the answer"][0]["question_id"] == "q-refused"
    text = ragbot("advise", "--since", "2020-01-01", data_dir=tmp_path, settings=SETTINGS)
    assert text.returncode == 0 and "5 questions" in text.stdout and "Fix retrieval or content" in text.stdout
    assert ragbot("advise", "--since", "yesterday", data_dir=tmp_path).returncode == 2


def test_review_lists_disliked_answers_and_records_corrections(tmp_path: Path) -> None:
    log = seeded(tmp_path)  # q-2 has a 👎
    listed = json.loads(ragbot("review", "list", "--json", data_dir=tmp_path, settings=SETTINGS).stdout)
    assert [(a["question_id"], a["corrected"]) for a in listed["answers"]] == [("q-2", False)]
    assert "ana@corp.example" not in json.dumps(listed)  # what reviewers see is already redacted
    done = ragbot(
        "review",
        "correct",
        "q-2",
        "--answer",
        "You get 25 days [1]; mail hr@corp.example.",
        "--reviewer",
        "lead@corp.example",
        "--note",
        "cite the policy",
        data_dir=tmp_path,
        settings=SETTINGS,
    )
    assert done.returncode == 0, done.stderr
    record = log.get("q-2")
    assert record is not None
    [correction] = [f for f in record.feedback if f.correction]
    assert correction.correction == "You get 25 days [1]; mail [email]." and correction.value == "down"
    assert "lead@corp.example" not in record.model_dump_json()  # the reviewer is hashed too
    listed = json.loads(ragbot("review", "list", "--json", data_dir=tmp_path, settings=SETTINGS).stdout)
    assert listed["answers"][0]["corrected"] is True
    unknown = ragbot(
        "review", "correct", "q-nope", "--answer", "x", "--reviewer", "r", data_dir=tmp_path, settings=SETTINGS
    )
    assert unknown.returncode == 1 and "no question 'q-nope'" in unknown.stderr
