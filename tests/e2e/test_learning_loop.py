"""The learning loop end to end on the CPU, through the `ragbot` command as an operator runs it.

A log seeded by the real answering flow over the sample handbook (questions asked in Slack, answered, voted on, one
answer corrected by a reviewer) → `finetune dataset` → `finetune train` on a tiny model built here (interrupted
once and resumed; the loss goes down) → `finetune evaluate` against the base model (the gate passes) → `finetune
publish --canary` → answers from the real TGI backend against the TGI fake: a share written by the canary adapter
→ `finetune rollback` → none. `advise` reads the evaluation on the way.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from ragbot.bootstrap import build_generator
from ragbot.flow import answer
from ragbot.models import Question
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import Settings, TgiSettings
from tests.cli.test_cli import RAGBOT, ragbot
from tests.conftest import HANDBOOK
from tests.fakes.tgi import FakeTgi
from tests.fakes.tiny_lm import build_tiny_model
from tests.learning.seed import SETTINGS, Asked, seed

TRAIN = (
    "--max-steps",
    "24",
    "--save-steps",
    "8",
    "--learning-rate",
    "0.01",
    "--batch-size",
    "2",
    "--gradient-accumulation",
    "1",
    "--target-modules",
    "q_proj,k_proj,v_proj,o_proj,gate_proj,up_proj,down_proj",
)


def cli(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    return ragbot(*args, data_dir=data_dir, settings=SETTINGS)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory, minilm: SentenceTransformerEmbedder) -> tuple[Path, list[Asked]]:
    data_dir = tmp_path_factory.mktemp("learning")
    return data_dir, seed(data_dir, minilm)


@pytest.fixture(scope="module")
def dataset(seeded: tuple[Path, list[Asked]]) -> tuple[Path, dict[str, Any]]:
    data_dir, asked = seeded
    disliked = next(a for a in asked if a.liked is False)
    fixed = cli(
        "review",
        "correct",
        disliked.question_id,
        "--answer",
        f"{disliked.item.evidence[0]} [1]",
        "--reviewer",
        "maria",
        "--note",
        "quoted the wrong policy",
        data_dir=data_dir,
    )
    assert fixed.returncode == 0, fixed.stderr
    out = data_dir.parent / f"{data_dir.name}-dataset"
    done = cli(
        "finetune",
        "dataset",
        "--out",
        str(out),
        "--min-examples",
        "20",
        "--max-length",
        "1024",
        "--refusal-share",
        "0.3",
        "--json",
        data_dir=data_dir,
    )
    assert done.returncode == 0, done.stderr
    return out, json.loads(done.stdout)


@pytest.fixture(scope="module")
def trained(seeded: tuple[Path, list[Asked]], dataset: tuple[Path, dict[str, Any]]) -> tuple[Path, dict[str, Any], str]:
    data_dir, _ = seeded
    base = build_tiny_model(data_dir.parent / "tiny-base", _handbook_texts())
    out = data_dir.parent / "run"
    args = ["finetune", "train", "--dataset", str(dataset[0]), "--base", str(base), "--out", str(out), *TRAIN]
    # The first run is killed once it has written a checkpoint; the same command then resumes it.
    log = data_dir.parent / "first-run.log"
    with log.open("wb") as stderr:
        first = subprocess.Popen([str(RAGBOT), *args], env=_env(data_dir), stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + 240
        while not (out / "checkpoints" / "checkpoint-8" / "trainer_state.json").exists():
            assert first.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        first.send_signal(signal.SIGKILL)
        first.wait()
    done = cli(*args, "--json", data_dir=data_dir)
    assert done.returncode == 0, done.stderr
    return out / "adapter", json.loads(done.stdout), done.stderr


@pytest.fixture(scope="module")
def evaluated(seeded: tuple[Path, list[Asked]], trained: tuple[Path, dict[str, Any], str]) -> dict[str, Any]:
    done = cli(
        "finetune", "evaluate", "--adapter", str(trained[0]), "--max-new-tokens", "32", "--json", data_dir=seeded[0]
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_the_dataset_holds_liked_and_corrected_answers_split_by_time(
    seeded: tuple[Path, list[Asked]], dataset: tuple[Path, dict[str, Any]]
) -> None:
    _, asked = seeded
    path, card = dataset
    counts = card["counts"]
    assert counts["by_kind"]["correction"] == 1 and counts["by_kind"]["refusal"] >= 3
    assert counts["by_kind"]["answer"] <= sum(a.liked is True for a in asked)
    assert counts["skipped"]["refused, not corrected"] == sum(a.liked is None for a in asked)
    assert counts["train"] + counts["validation"] == counts["examples"] >= 20
    assert card["prompt_version"] == "grounded-v1" and card["filters"]["allow"] == ["*"]
    for name in ("train.jsonl", "validation.jsonl", "README.md", "dataset_card.json"):
        assert (path / name).is_file()
    restricted = {a.question_id for a in asked if a.item.as_ != ("*",)}
    rows = [json.loads(line) for line in (path / "train.jsonl").read_text().splitlines()]
    assert not restricted & {r["meta"]["question_id"] for r in rows}  # HR-only answers stay out of the weights


def test_training_lowers_the_loss_and_resumes_after_an_interruption(trained: tuple[Path, dict[str, Any], str]) -> None:
    adapter, card, log = trained
    metrics = card["metrics"]
    assert metrics["resumed_from"] == "checkpoint-8" and "resuming from checkpoint-8" in log
    assert metrics["steps"] == 24 and metrics["last_loss"] < metrics["first_loss"]
    assert metrics["tokens_per_s"] > 0 and metrics["peak_memory_mb"] > 0 and metrics["device"] == "cpu"
    assert {p.name for p in adapter.iterdir()} >= {
        "adapter_config.json",
        "adapter_model.safetensors",
        "ragbot-adapter.json",
        "README.md",
    }
    config = json.loads((adapter / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA" and config["r"] == 16 and "q_proj" in config["target_modules"]
    assert card["content_hash"] in (adapter / "README.md").read_text()


def test_the_candidate_passes_the_gate_against_the_base_model(evaluated: dict[str, Any]) -> None:
    assert evaluated["against"]["id"] == "base" and evaluated["gate"]["passed"]
    candidate, base = evaluated["metrics"]["candidate"], evaluated["metrics"]["current"]
    assert candidate["examples"] == base["examples"] == evaluated["dataset"]["examples"] > 0
    # A few steps teach even a tiny model to end its answers; the random base never stops on its own.
    assert candidate["format_compliance"] > base["format_compliance"] == 0.0
    assert evaluated["gate"]["regressions"] == [] and "refusal_precision" in evaluated["gate"]["not_gated"]
    assert Path(evaluated["report"]).is_file()


def test_a_canary_takes_its_share_of_answers_until_it_is_rolled_back(
    seeded: tuple[Path, list[Asked]],
    trained: tuple[Path, dict[str, Any], str],
    evaluated: dict[str, Any],
    minilm: SentenceTransformerEmbedder,
) -> None:
    data_dir, asked = seeded
    done = cli(
        "finetune",
        "publish",
        "--adapter",
        str(trained[0]),
        "--canary",
        "0.5",
        "--name",
        "handbook",
        "--json",
        data_dir=data_dir,
    )
    assert done.returncode == 0, done.stderr
    published = json.loads(done.stdout)
    canary = published["published"]
    assert published["routing"]["canary"] == canary and published["env"]["RAGBOT_TGI__ROUTING"] == "registry"

    with FakeTgi(adapters=(canary,)) as tgi:
        settings = Settings(
            data_dir=data_dir,
            tgi=TgiSettings(url=tgi.url, routing="registry", served_adapters=(canary,), deadline_s=10),
        )
        generator = build_generator(settings, embedder=minilm)
        index = EmbeddedIndex(data_dir)
        retriever = Retriever(embedder=minilm, index=index, settings=settings.retrieval)

        def adapters() -> Counter[str]:
            seen = Counter[str]()
            for a in asked[:30]:
                question = Question(question_id=f"{a.question_id}-again", text=a.item.question)
                passages = retriever.retrieve(question.text, principals=question.principals).passages
                seen[answer(question, passages, generator=generator).adapter or "base"] += 1
            return seen

        try:
            routed = adapters()
            assert set(routed) == {canary, "base"} and 5 <= routed[canary] <= 25
            assert Counter(r.get("model") for r in tgi.chat_requests())[canary] == routed[canary]

            status = json.loads(cli("finetune", "status", "--json", data_dir=data_dir).stdout)
            assert status["routing"]["canary"] == canary and status["comparison"]["verdict"] == "too early"
            rolled = cli("finetune", "rollback", data_dir=data_dir)
            assert rolled.returncode == 0 and rolled.stdout.startswith(f"ended the canary {canary}")
            time.sleep(2.1)  # generate workers re-read the registry every 2 s
            assert adapters() == {"base": 30}
        finally:
            index.close()


def test_advise_reads_the_evaluation_of_the_model_that_serves(
    seeded: tuple[Path, list[Asked]], evaluated: dict[str, Any]
) -> None:
    done = cli("advise", "--since", "2020-01-01", "--json", data_dir=seeded[0])
    assert done.returncode == 0, done.stderr
    advice = json.loads(done.stdout)
    assert advice["evaluation"]["model"] == "base"
    assert advice["evaluation"]["misses"] == len(evaluated["misses"]["current"]) > 0
    assert any(signal.startswith("evaluation: ") for signal in advice["by_signal"])


def _env(data_dir: Path) -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    return {**env, "RAGBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **SETTINGS}


def _handbook_texts() -> list[str]:
    return [p.read_text(errors="ignore") for p in sorted(HANDBOOK.rglob("*")) if p.is_file()]
