"""`ragbot advise`: what the interaction log says about where answers fail, and whether to retrain.

Failures are classified as knowledge gaps (fix the documents) or behaviour defects (what fine-tuning can fix);
the served model's evaluation misses count too.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ragbot.cli.arguments import Commands, date, load_settings
from ragbot.cli.output import print_json

__all__ = ["register", "run"]


def register(commands: Commands) -> None:
    """Add `advise` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    advise = commands.add_parser(
        "advise", help="classify logged failures (knowledge gaps or behaviour defects) and say whether to retrain"
    )
    advise.add_argument("--since", type=date, metavar="YYYY-MM-DD", help="default: the last 30 days")
    advise.add_argument(
        "--evaluation",
        type=Path,
        metavar="REPORT",
        help="an evaluation report (default: the newest in the adapter registry)",
    )
    advise.add_argument("--json", action="store_true")
    advise.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Classify the failures logged since a date and print the advice.

    Args:
        args: the parsed `advise` arguments.

    Returns:
        The exit code.
    """
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import build_registry, open_interaction_log
    from ragbot.learning.advise import advise
    from ragbot.learning.artifacts import read_json

    settings = load_settings()
    since = args.since or datetime.now(UTC) - timedelta(days=30)
    registry = build_registry(settings)
    report: dict[str, Any] | None
    if args.evaluation:
        report = read_json(args.evaluation, what="an evaluation report")
    else:
        report = registry.latest_evaluation()
    serving = registry.state().routing.current or "base"
    with open_interaction_log(settings) as log:
        advice = advise(log.records(since=since), since=since, evaluation=report, serving=serving)
    if args.json:
        print_json(advice.as_dict())
        return 0
    print(f"Since {since:%Y-%m-%d}: {advice.questions} questions, {advice.findings} with a failure signal.")
    for kind, count in advice.by_kind.items():
        print(f"  {kind:12} {count}")
    for signal, count in advice.by_signal.items():
        print(f"\n{signal}: {count}")
        for example in advice.examples.get(signal, []):
            print(f"  {example['question_id']}  {example['question'][:100]}")
    if advice.trend:
        print(
            "\nPer 100 questions, earlier → later half: "
            + ", ".join(
                f"{kind} {advice.trend['earlier'][kind]} → {advice.trend['later'][kind]}" for kind in advice.by_kind
            )
        )
    if advice.evaluation:
        e = advice.evaluation
        print(f"\nEvaluation of {e['model']} ({e['created_at'][:10]}): {e['misses']} misses, {e['examples']} examples")
    print(f"\n{advice.recommendation}")
    for note in advice.notes:
        print(f"Note: {note}")
    return 0
