"""`ragbot finetune` (docs/FINETUNE.md): the learning loop's steps, one handler each.

This module makes an adapter: `dataset` (from liked and corrected answers), `train` (LoRA) and `evaluate` (the gate
against the served adapter). `finetune_release` serves it: `publish`, `promote`, `rollback`, `status`.

A step that cannot do what it was asked raises a `RagbotError`, which the command line prints as one line and
exits 1 on; `evaluate` prints its report before refusing a candidate that fails the gate. The learning modules are
imported when a step runs: they load the registry, the dataset builder and the trainer, which `--help` never needs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragbot.cli import finetune_release
from ragbot.cli.arguments import Commands, Parser, count, date, fraction, positive_float, positive_int, with_settings
from ragbot.cli.finetune_release import adapter_path
from ragbot.cli.output import metric, print_json
from ragbot.errors import InputError

if TYPE_CHECKING:
    from ragbot.settings import Settings

__all__ = ["dataset", "evaluate", "register", "train"]


def register(commands: Commands) -> None:
    """Add `finetune` and its steps to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    finetune = commands.add_parser(
        "finetune", help="the learning loop: datasets, LoRA training, the evaluation gate, canary and rollback"
    )
    steps = finetune.add_subparsers(dest="step", required=True, metavar="STEP", parser_class=Parser)

    step = steps.add_parser("dataset", help="build a fine-tuning dataset from the interaction log")
    step.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new folder for the dataset")
    step.add_argument("--since", type=date, metavar="YYYY-MM-DD", help="only questions asked since (default: all)")
    step.add_argument("--min-examples", type=positive_int, metavar="N", help="refuse a smaller dataset")
    step.add_argument("--validation-share", type=fraction, metavar="F", help="newest share held out")
    step.add_argument("--distractors", type=count, metavar="N", help="unrelated passages per example")
    step.add_argument("--refusal-share", type=fraction, metavar="F", help="questions also taught as refusals")
    step.add_argument(
        "--allow", action="append", metavar="PRINCIPAL", help="train only on documents these may read (default: '*')"
    )
    step.add_argument("--max-length", type=positive_int, metavar="TOKENS", help="prompt and answer, in tokens")
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(dataset))

    step = steps.add_parser("train", help="train a LoRA adapter on a dataset (peft + trl; GPU if there is one)")
    step.add_argument("--dataset", type=Path, required=True, metavar="DIR")
    step.add_argument("--base", required=True, metavar="MODEL", help="the base model's folder (nothing downloads)")
    step.add_argument("--out", type=Path, required=True, metavar="DIR", help="checkpoints and OUT/adapter")
    step.add_argument("--rank", type=positive_int)
    step.add_argument("--alpha", type=positive_int)
    step.add_argument("--dropout", type=fraction)
    step.add_argument("--target-modules", type=_names, metavar="A,B", help="e.g. q_proj,k_proj,v_proj,o_proj")
    step.add_argument("--epochs", type=positive_float)
    step.add_argument("--learning-rate", type=positive_float)
    step.add_argument("--max-length", type=positive_int, metavar="TOKENS")
    step.add_argument("--batch-size", type=positive_int)
    step.add_argument("--gradient-accumulation", type=positive_int)
    step.add_argument("--save-steps", type=positive_int)
    step.add_argument("--max-steps", type=positive_int, help="stop after N optimizer steps (default: epochs)")
    step.add_argument("--seed", type=int, default=0)
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(train))

    step = steps.add_parser("evaluate", help="the candidate against the served adapter on held-out examples")
    step.add_argument("--adapter", type=Path, required=True, metavar="DIR")
    step.add_argument("--dataset", type=Path, metavar="DIR", help="default: the one it was trained on")
    step.add_argument("--limit", type=positive_int, metavar="N", help="only the first N held-out examples")
    step.add_argument("--max-new-tokens", type=positive_int, metavar="N")
    step.add_argument("--tolerance", type=fraction, metavar="F", help="allowed fall of a gated metric")
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(evaluate))

    finetune_release.register(steps)


def _names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one module name, e.g. q_proj,v_proj")
    return names


def dataset(args: argparse.Namespace, settings: Settings) -> int:
    """Build a fine-tuning dataset from the interaction log (`finetune dataset`).

    Args:
        args: the parsed `finetune dataset` arguments.
        settings: the settings; `settings.finetune` gives every default a flag leaves out.

    Returns:
        The exit code.

    Raises:
        InputError: the validation share is not strictly between 0 and 1, or the dataset cannot be built.
    """
    from ragbot.bootstrap import build_index, open_interaction_log
    from ragbot.learning.dataset import DatasetOptions, build_dataset

    ft = settings.finetune
    options = DatasetOptions(
        since=args.since,
        min_examples=_given(args.min_examples, ft.min_examples),
        validation_share=_given(args.validation_share, ft.validation_share),
        distractors=_given(args.distractors, ft.distractors),
        refusal_share=_given(args.refusal_share, ft.refusal_share),
        allow=tuple(args.allow) if args.allow else ft.allow,
        max_length=_given(args.max_length, ft.max_length),
        seed=args.seed,
    )
    if not 0 < options.validation_share < 1:
        raise InputError("--validation-share must be more than 0 and less than 1")
    with open_interaction_log(settings) as log:
        index = build_index(settings)
        try:
            card = build_dataset(
                log.records(since=options.since),
                index=index,
                out=args.out,
                options=options,
                sources={"interaction_log": type(log).__name__, "knowledge_store": type(index).__name__},
            )
        finally:
            index.close()
    if args.json:
        print_json({"path": str(args.out), **card})
        return 0
    counts = card["counts"]
    kinds = ", ".join(f"{n} {kind}" for kind, n in sorted(counts["by_kind"].items()))
    print(f"dataset {args.out}: {counts['examples']} examples ({kinds}) from {counts['questions']} questions")
    print(
        f"  train {counts['train']}, validation {counts['validation']} (asked from {card['split']['validation_from']})"
    )
    for reason, n in counts["skipped"].items():
        print(f"  skipped {n}: {reason}")
    print(f"  hash {card['hash']}")
    return 0


def train(args: argparse.Namespace, settings: Settings) -> int:
    """Train a LoRA adapter on a dataset (`finetune train`).

    Args:
        args: the parsed `finetune train` arguments.
        settings: the settings; `settings.finetune` gives every default a flag leaves out.

    Returns:
        The exit code.
    """
    from ragbot.learning.dataset import load_dataset
    from ragbot.learning.train import TrainConfig, train_adapter

    ft = settings.finetune
    config = TrainConfig(
        rank=_given(args.rank, ft.rank),
        alpha=_given(args.alpha, ft.alpha),
        dropout=_given(args.dropout, ft.dropout),
        target_modules=_given(args.target_modules, ft.target_modules),
        epochs=_given(args.epochs, ft.epochs),
        learning_rate=_given(args.learning_rate, ft.learning_rate),
        max_length=_given(args.max_length, ft.max_length),
        batch_size=_given(args.batch_size, ft.batch_size),
        gradient_accumulation=_given(args.gradient_accumulation, ft.gradient_accumulation),
        save_steps=_given(args.save_steps, ft.save_steps),
        seed=args.seed,
        max_steps=args.max_steps,
    )
    card = train_adapter(load_dataset(args.dataset), base=args.base, out=args.out, config=config, progress=_stderr)
    if args.json:
        print_json({"path": str(args.out / "adapter"), **card})
        return 0
    m = card["metrics"]
    print(f"adapter {args.out / 'adapter'}: {m['steps']} steps, {m['epochs']} epochs on {m['device']}")
    print(f"  loss {m['first_loss']} → {m['last_loss']} (validation {m['eval_loss']})")
    print(f"  {m['tokens_per_s']} tokens/s, {m['seconds_per_epoch']} s per epoch, peak memory {m['peak_memory_mb']} MB")
    print(f"  content hash {card['content_hash']}")
    print(f"Next: ragbot finetune evaluate --adapter {args.out / 'adapter'}")
    return 0


def evaluate(args: argparse.Namespace, settings: Settings) -> int:
    """Evaluate a candidate adapter against the served one on held-out examples (`finetune evaluate`).

    Args:
        args: the parsed `finetune evaluate` arguments.
        settings: the settings; `settings.finetune` gives every default a flag leaves out.

    Returns:
        The exit code.

    Raises:
        InputError: the candidate fails the gate (after its report is printed and kept).
    """
    from ragbot.bootstrap import build_registry
    from ragbot.learning.artifacts import EVALUATION, read_adapter_card, write_json
    from ragbot.learning.dataset import load_dataset
    from ragbot.learning.evaluate import GATED, evaluate_adapter

    ft = settings.finetune
    adapter_dir = adapter_path(args.adapter)
    card = read_adapter_card(adapter_dir)
    data = load_dataset(args.dataset or Path(card["dataset"]["path"]))
    registry = build_registry(settings)
    report = evaluate_adapter(
        adapter_dir,
        candidate_card=card,
        dataset=data,
        current=registry.current(),
        max_new_tokens=_given(args.max_new_tokens, ft.max_new_tokens),
        tolerance=_given(args.tolerance, ft.tolerance),
        limit=args.limit,
        progress=None if args.json else _stderr,
    )
    write_json(adapter_dir / EVALUATION, report)
    kept = registry.save_evaluation(report)
    result = report["gate"]
    if args.json:
        print_json({**report, "report": str(kept)})
    else:
        against = report["against"]["id"]
        print(f"{report['dataset']['examples']} held-out examples; candidate against {against}")
        print(f"  {'metric':<20}{'candidate':>10}{against[:10]:>11}{'delta':>9}")
        ours, theirs = report["metrics"]["candidate"], report["metrics"]["current"]
        for name in GATED:
            delta = result["deltas"][name]
            mark = "  REGRESSED" if name in result["regressions"] else "" if delta is not None else "  (not gated)"
            cells = f"{metric(ours[name]):>10}{metric(theirs[name]):>11}{metric(delta, signed=True):>9}"
            print(f"  {name:<20}{cells}{mark}")
        print(f"gate: {'passed' if result['passed'] else 'FAILED'} (tolerance {result['tolerance']})")
    if not result["passed"]:
        regressed = ", ".join(f"{n} {result['deltas'][n]:+.3f}" for n in result["regressions"]) or "no examples"
        raise InputError(f"the candidate is refused: it regresses against {report['against']['id']} ({regressed})")
    if not args.json:
        print(f"Next: ragbot finetune publish --adapter {adapter_dir} --canary 0.1")
    return 0


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
