"""The learning loop's costs: building a dataset from the log, LoRA training, and evaluation, on this machine.

    python bench/finetune.py                                  # the tiny model built here, on the CPU
    python bench/finetune.py --base /models/base --steps 200  # a real base model (on a GPU, if there is one)

A log of `--rounds` × 51 questions is seeded with the real flow over the sample handbook (hashing embedder:
retrieval quality is not what is measured), then the same library calls as `ragbot finetune dataset|train|evaluate`
run and are timed. Training figures come from the adapter card: tokens per second (prompt and answer tokens the
trainer processed), seconds per epoch, peak memory (GPU: torch's peak allocation; CPU: the process's peak RSS).
Results go to bench/out/finetune-*.json.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from tests.conftest import HANDBOOK  # noqa: E402
from tests.fakes.hash_embedder import HashEmbedder  # noqa: E402
from tests.fakes.tiny_lm import build_tiny_model  # noqa: E402
from tests.learning.seed import seed  # noqa: E402

from common import results_header, save  # noqa: E402
from ragbot.backends.embedded_index import EmbeddedIndex  # noqa: E402
from ragbot.backends.sqlite_interactions import SqliteInteractionLog  # noqa: E402
from ragbot.learning.artifacts import read_adapter_card  # noqa: E402
from ragbot.learning.dataset import DatasetOptions, build_dataset, load_dataset  # noqa: E402
from ragbot.learning.evaluate import evaluate_adapter  # noqa: E402
from ragbot.learning.train import TrainConfig, train_adapter  # noqa: E402

ALL_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--base", type=Path, help="a base model folder (default: the tiny model, built here)")
    parser.add_argument("--rounds", type=int, default=4, help="times the 51 handbook questions are logged")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--max-length", type=int, default=1024)
    parser.add_argument("--batch-size", type=int, default=2)
    parser.add_argument("--evaluate", type=int, default=10, help="held-out examples to evaluate")
    parser.add_argument("--keep", type=Path, help="keep the work folder here")
    args = parser.parse_args(argv)

    work = args.keep or Path(tempfile.mkdtemp(prefix="ragbot-bench-finetune-"))
    data_dir = work / "data"
    results: dict[str, Any] = {**results_header("finetune.py", argv)}
    try:
        seed(data_dir, HashEmbedder(), rounds=args.rounds)
        base = args.base or build_tiny_model(
            work / "tiny-base", [p.read_text(errors="ignore") for p in sorted(HANDBOOK.rglob("*")) if p.is_file()]
        )
        log, index = SqliteInteractionLog(data_dir), EmbeddedIndex(data_dir)
        started = time.perf_counter()
        card = build_dataset(
            log.records(),
            index=index,
            out=work / "dataset",
            options=DatasetOptions(min_examples=10, max_length=args.max_length),
        )
        results["dataset"] = {
            "records": card["counts"]["records"],
            "examples": card["counts"]["examples"],
            "seconds": round(time.perf_counter() - started, 3),
        }
        log.close()
        index.close()

        dataset = load_dataset(work / "dataset")
        config = TrainConfig(
            target_modules=ALL_LINEAR,
            max_length=args.max_length,
            batch_size=args.batch_size,
            gradient_accumulation=1,
            learning_rate=0.01 if args.base is None else 2e-4,
            max_steps=args.steps,
            save_steps=max(args.steps, 1),
        )
        adapter = train_adapter(dataset, base=str(base), out=work / "run", config=config)
        results["train"] = {"base": "tiny (built here)" if args.base is None else str(args.base), **adapter["metrics"]}

        started = time.perf_counter()
        report = evaluate_adapter(
            work / "run" / "adapter",
            candidate_card=read_adapter_card(work / "run" / "adapter"),
            dataset=dataset,
            current=None,
            max_new_tokens=64,
            tolerance=0.02,
            limit=args.evaluate,
        )
        seconds = time.perf_counter() - started
        examples = report["dataset"]["examples"]
        results["evaluate"] = {
            "examples": examples,
            "answers": 2 * examples,
            "seconds": round(seconds, 2),
            "seconds_per_answer": round(seconds / (2 * examples), 3),
            "gate_passed": report["gate"]["passed"],
        }
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    path = save("finetune", results)
    d, t, e = results["dataset"], results["train"], results["evaluate"]
    print(f"dataset: {d['examples']} examples from {d['records']} records in {d['seconds']} s")
    print(
        f"train:   {t['steps']} steps on {t['device']}: {t['tokens_per_s']} tokens/s, {t['seconds_per_epoch']} s per "
        f"epoch of {t['examples']['train']} examples, peak memory {t['peak_memory_mb']} MB, loss "
        f"{t['first_loss']} → {t['last_loss']}"
    )
    print(f"evaluate: {e['answers']} answers in {e['seconds']} s ({e['seconds_per_answer']} s each)")
    print(f"results: {path.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
