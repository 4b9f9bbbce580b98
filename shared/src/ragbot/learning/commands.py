"""The `ragbot finetune` steps (docs/FINETUNE.md), one function each: (parsed arguments, settings) → exit code.

A step that cannot do what it was asked raises a `RagbotError`, which the command line prints as one line and
exits 1 on; `evaluate` prints its report before refusing a candidate that fails the gate.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ragbot.bootstrap import build_index, build_registry, open_interaction_log
from ragbot.errors import InputError
from ragbot.learning.artifacts import ADAPTER_CARD, EVALUATION, read_adapter_card, write_json
from ragbot.learning.dataset import DatasetOptions, build_dataset, load_dataset
from ragbot.learning.evaluate import GATED, evaluate_adapter
from ragbot.learning.registry import RegistryState, compare_canary
from ragbot.learning.train import TrainConfig, train_adapter
from ragbot.settings import Settings

__all__ = ["dataset", "evaluate", "promote", "publish", "rollback", "status", "train"]


def dataset(args: argparse.Namespace, settings: Settings) -> int:
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
        print(json.dumps({"path": str(args.out), **card}))
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
        print(json.dumps({"path": str(args.out / "adapter"), **card}))
        return 0
    m = card["metrics"]
    print(f"adapter {args.out / 'adapter'}: {m['steps']} steps, {m['epochs']} epochs on {m['device']}")
    print(f"  loss {m['first_loss']} → {m['last_loss']} (validation {m['eval_loss']})")
    print(f"  {m['tokens_per_s']} tokens/s, {m['seconds_per_epoch']} s per epoch, peak memory {m['peak_memory_mb']} MB")
    print(f"  content hash {card['content_hash']}")
    print(f"Next: ragbot finetune evaluate --adapter {args.out / 'adapter'}")
    return 0


def evaluate(args: argparse.Namespace, settings: Settings) -> int:
    ft = settings.finetune
    adapter_dir = _adapter_dir(args.adapter)
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
        print(json.dumps({**report, "report": str(kept)}))
    else:
        against = report["against"]["id"]
        print(f"{report['dataset']['examples']} held-out examples; candidate against {against}")
        print(f"  {'metric':<20}{'candidate':>10}{against[:10]:>11}{'delta':>9}")
        ours, theirs = report["metrics"]["candidate"], report["metrics"]["current"]
        for name in GATED:
            delta = result["deltas"][name]
            mark = "  REGRESSED" if name in result["regressions"] else "" if delta is not None else "  (not gated)"
            print(f"  {name:<20}{_num(ours[name]):>10}{_num(theirs[name]):>11}{_num(delta, signed=True):>9}{mark}")
        print(f"gate: {'passed' if result['passed'] else 'FAILED'} (tolerance {result['tolerance']})")
    if not result["passed"]:
        regressed = ", ".join(f"{n} {result['deltas'][n]:+.3f}" for n in result["regressions"]) or "no examples"
        raise InputError(f"the candidate is refused: it regresses against {report['against']['id']} ({regressed})")
    if not args.json:
        print(f"Next: ragbot finetune publish --adapter {adapter_dir} --canary 0.1")
    return 0


def publish(args: argparse.Namespace, settings: Settings) -> int:
    registry = build_registry(settings)
    version = registry.publish(_adapter_dir(args.adapter), name=args.name, canary=args.canary)
    state = registry.state()
    implied = registry.implied(state)
    if args.json:
        print(json.dumps({"published": version.id, "routing": state.routing.model_dump(mode="json"), **implied}))
        return 0
    role = f"the canary for {args.canary:.0%} of questions" if args.canary is not None else "current"
    print(f"published {version.id} as {role}")
    _print_implied(registry.root, implied, settings)
    return 0


def promote(args: argparse.Namespace, settings: Settings) -> int:
    registry = build_registry(settings)
    state = registry.state()
    if state.routing.canary and settings.interactions.enabled:
        with open_interaction_log(settings) as log:
            comparison = compare_canary(log.records(since=state.routing.canary_since), state.routing)
        if comparison["verdict"] == "worse" and not args.force:
            raise InputError(
                f"the canary {state.routing.canary} answers worse than {comparison['current']} "
                f"({', '.join(comparison['worse_on'])}): roll it back, or promote with --force"
            )
    routing = registry.promote()
    if args.json:
        print(json.dumps({"routing": routing.model_dump(mode="json")}))
    else:
        print(f"{routing.current} is current; it answers every question")
    return 0


def rollback(args: argparse.Namespace, settings: Settings) -> int:
    done, routing = build_registry(settings).rollback()
    if args.json:
        print(json.dumps({"done": done, "routing": routing.model_dump(mode="json")}))
    else:
        print(done)
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    registry = build_registry(settings)
    state = registry.state()
    comparison: dict[str, Any] = {"verdict": "no canary"}
    if state.routing.canary and settings.interactions.enabled:
        with open_interaction_log(settings) as log:
            comparison = compare_canary(log.records(since=state.routing.canary_since), state.routing)
    implied = registry.implied(state)
    if args.json:
        print(
            json.dumps(
                {
                    "registry": str(registry.root),
                    "routing": state.routing.model_dump(mode="json"),
                    "versions": [v.model_dump(mode="json") for v in state.versions.values()],
                    "comparison": comparison,
                    "events": [e.model_dump(mode="json") for e in state.events[-20:]],
                    **implied,
                }
            )
        )
        return 0
    _print_status(state, comparison)
    _print_implied(registry.root, implied, settings)
    return 0


# -- helpers -----------------------------------------------------------------------------------------------------


def _given(value: Any, default: Any) -> Any:
    return default if value is None else value


def _adapter_dir(path: Path) -> Path:
    """`train`'s OUT or OUT/adapter: both name the adapter."""
    if not (path / ADAPTER_CARD).exists() and (path / "adapter" / ADAPTER_CARD).exists():
        return path / "adapter"
    return path


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _num(value: float | None, *, signed: bool = False) -> str:
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _print_status(state: RegistryState, comparison: dict[str, Any]) -> None:
    routing = state.routing
    if not state.versions:
        print("No adapter published: the base model answers.")
        return
    print(
        f"current: {routing.current or 'the base model'}"
        + (f" (since {routing.current_since:%Y-%m-%d %H:%M})" if routing.current_since else "")
    )
    if routing.canary:
        print(
            f"canary:  {routing.canary} for {routing.fraction:.0%} of questions"
            f" (since {routing.canary_since:%Y-%m-%d %H:%M})"
        )
        print(f"  compared with the current adapter: {comparison['verdict']}")
        for side, stats in comparison.get("sides", {}).items():
            print(
                f"  {side:<8} {stats['answers']} answers, 👎 {_num(stats['down_rate'])} of {stats['votes']} votes, "
                f"refusals {_num(stats['refusal_rate'])}, citation failures {_num(stats['citation_failure_rate'])}"
            )
        if comparison.get("worse_on"):
            print(f"  worse on {', '.join(comparison['worse_on'])}: 'ragbot finetune rollback' ends it")
    if routing.previous:
        print(f"rollback to: {routing.previous[-1] or 'the base model'}")
    print("versions:")
    for version in state.versions.values():
        gate = version.evaluation.get("gate", {})
        print(
            f"  {version.id}  published {version.published_at:%Y-%m-%d}  gate {'passed' if gate.get('passed') else '?'}"
            f" against {version.evaluation.get('against', '?')}"
        )


def _print_implied(root: Path, implied: dict[str, Any], settings: Settings) -> None:
    adapters = implied["helm"]["tgi"]["loraAdapters"]
    print(f"TGI must load: {', '.join(a['name'] for a in adapters) or 'no adapter'} (LORA_ADAPTERS loads at start)")
    print(f"  Kubernetes: helm upgrade … -f {root / 'helm-values.yaml'}")
    print(f"  docker compose: the variables in {root / 'adapters.env'}")
    if settings.tgi.routing != "registry":
        print("  generate workers route by settings now: set RAGBOT_TGI__ROUTING=registry to follow the registry")
