"""`ragbot finetune` through the console script: every wrong request is one line and a non-zero exit; a canary
that answers worse is not promoted without --force. (The whole loop runs in tests/e2e/test_learning_loop.py.)"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.learning.registry import MIN_COMPARED, AdapterRegistry
from tests.cli.test_cli import ragbot
from tests.unit.test_adapter_registry import make_adapter
from tests.unit.test_adapter_registry_canary import logged


def test_wrong_requests_are_refused_with_one_line(tmp_path: Path) -> None:
    def refused(code: int, message: str, *args: str) -> None:
        done = ragbot("finetune", *args, data_dir=tmp_path)
        assert done.returncode == code, done.stderr
        assert done.stderr.startswith("ragbot: error: ") and message in done.stderr and done.stderr.count("\n") == 1

    refused(1, "only 0 usable examples from 0 logged questions", "dataset", "--out", str(tmp_path / "ds"))
    refused(1, "--validation-share must be more than 0", "dataset", "--out", "ds", "--validation-share", "1")
    refused(2, "must be between 0 and 1", "dataset", "--out", "ds", "--refusal-share", "1.5")
    refused(1, "is not a dataset folder", "train", "--dataset", str(tmp_path), "--base", "b", "--out", "o")
    refused(
        2,
        "give at least one module name",
        "train",
        "--dataset",
        "d",
        "--base",
        "b",
        "--out",
        "o",
        "--target-modules",
        ",",
    )
    refused(1, "is not a LoRA adapter folder", "evaluate", "--adapter", str(tmp_path / "nowhere"))
    refused(1, "there is no canary to promote", "promote")
    refused(1, "nothing to roll back to", "rollback")
    refused(2, "must be between 0 and 1", "publish", "--adapter", "a", "--canary", "2")
    failed = make_adapter(tmp_path / "failed", b"w", passed=False)
    refused(1, "did not pass the evaluation gate (citation_validity)", "publish", "--adapter", str(failed))
    off = ragbot(
        "finetune", "dataset", "--out", "ds", data_dir=tmp_path, settings={"RAGBOT_INTERACTIONS__ENABLED": "false"}
    )
    assert off.returncode == 1 and "the interaction log is off" in off.stderr

    empty = ragbot("finetune", "status", data_dir=tmp_path)
    assert empty.returncode == 0 and empty.stdout.startswith("No adapter published: the base model answers.")


def test_a_canary_that_answers_worse_is_not_promoted_without_force(tmp_path: Path) -> None:
    registry = AdapterRegistry(tmp_path / "adapters")
    first = registry.publish(make_adapter(tmp_path / "a1", b"w1"), name="handbook").id
    canary = registry.publish(make_adapter(tmp_path / "a2", b"w2", against=first), name="handbook", canary=0.5).id
    log = SqliteInteractionLog(tmp_path)
    later = datetime.now(UTC) + timedelta(seconds=1)
    for i in range(MIN_COMPARED + 20):
        for record in (
            logged(f"a{i}", first, at=later, down=i % 10 == 0),
            logged(f"b{i}", canary, at=later, down=i % 2 == 0),
        ):
            log.record(record)
            for entry in record.feedback:  # the log keeps votes apart from records, as the feedback hop adds them
                log.add_feedback(record.question_id, entry)
    log.close()

    status = ragbot("finetune", "status", "--json", data_dir=tmp_path)
    comparison = json.loads(status.stdout)["comparison"]
    assert comparison["verdict"] == "worse" and comparison["worse_on"] == ["down_rate"]
    shown = ragbot("finetune", "status", data_dir=tmp_path).stdout
    assert f"canary:  {canary} for 50% of questions" in shown and "worse on down_rate" in shown

    done = ragbot("finetune", "promote", data_dir=tmp_path)
    assert done.returncode == 1 and "answers worse than" in done.stderr and "--force" in done.stderr
    done = ragbot("finetune", "promote", "--force", "--json", data_dir=tmp_path)
    assert done.returncode == 0 and json.loads(done.stdout)["routing"]["current"] == canary
