"""`ragbot finetune publish|promote|rollback|status`: serving an evaluated adapter through the adapter registry.

`publish` registers it as a canary or as current, `promote` makes the canary current unless it answers worse,
`rollback` ends the canary or restores the previous adapter, and `status` compares them. `publish` and `status`
print what TGI must load for the registry's routing (the Helm values and the compose variables).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ragbot.cli.arguments import Commands, fraction, with_settings
from ragbot.cli.output import metric, print_json
from ragbot.errors import InputError

if TYPE_CHECKING:
    from ragbot.learning.registry import RegistryState
    from ragbot.settings import Settings

__all__ = ["adapter_path", "promote", "publish", "register", "rollback", "status"]


def register(steps: Commands) -> None:
    """Add `publish`, `promote`, `rollback` and `status` to `finetune`'s steps.

    Args:
        steps: `finetune`'s sub-parsers action.
    """
    step = steps.add_parser("publish", help="register an evaluated adapter, as a canary or as current")
    step.add_argument("--adapter", type=Path, required=True, metavar="DIR")
    step.add_argument("--canary", type=fraction, metavar="F", help="serve it to this share of questions first")
    step.add_argument("--name", default="ragbot", help="the version id's prefix (default: ragbot)")
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(publish))

    step = steps.add_parser("promote", help="make the canary the current adapter")
    step.add_argument("--force", action="store_true", help="even when the canary compares worse")
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(promote))
    step = steps.add_parser("rollback", help="end the canary, or restore the previous current adapter")
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(rollback))
    step = steps.add_parser("status", help="versions, routing, canary against current, and the values to apply")
    step.add_argument("--json", action="store_true")
    step.set_defaults(handler=with_settings(status))


def adapter_path(path: Path) -> Path:
    """The adapter an `--adapter` flag names: `train`'s OUT and OUT/adapter both do.

    Args:
        path: the flag's value.

    Returns:
        The folder that holds the adapter card.
    """
    from ragbot.learning.artifacts import ADAPTER_CARD

    if not (path / ADAPTER_CARD).exists() and (path / "adapter" / ADAPTER_CARD).exists():
        return path / "adapter"
    return path


def publish(args: argparse.Namespace, settings: Settings) -> int:
    """Register an evaluated adapter, as a canary or as current (`finetune publish`).

    Args:
        args: the parsed `finetune publish` arguments.
        settings: the settings, which say where the registry is.

    Returns:
        The exit code.
    """
    from ragbot.bootstrap import build_registry

    registry = build_registry(settings)
    version = registry.publish(adapter_path(args.adapter), name=args.name, canary=args.canary)
    state = registry.state()
    implied = registry.implied(state)
    if args.json:
        print_json({"published": version.id, "routing": state.routing.model_dump(mode="json"), **implied})
        return 0
    role = f"the canary for {args.canary:.0%} of questions" if args.canary is not None else "current"
    print(f"published {version.id} as {role}")
    _print_implied(registry.root, implied, settings)
    return 0


def promote(args: argparse.Namespace, settings: Settings) -> int:
    """Make the canary the current adapter (`finetune promote`).

    Args:
        args: the parsed `finetune promote` arguments.
        settings: the settings, which say where the registry and the interaction log are.

    Returns:
        The exit code.

    Raises:
        InputError: the canary answers worse than the current adapter, and `--force` is not given.
    """
    from ragbot.bootstrap import build_registry, open_interaction_log
    from ragbot.learning.registry import compare_canary

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
        print_json({"routing": routing.model_dump(mode="json")})
    else:
        print(f"{routing.current} is current; it answers every question")
    return 0


def rollback(args: argparse.Namespace, settings: Settings) -> int:
    """End the canary, or restore the previous current adapter (`finetune rollback`).

    Args:
        args: the parsed `finetune rollback` arguments.
        settings: the settings, which say where the registry is.

    Returns:
        The exit code.
    """
    from ragbot.bootstrap import build_registry

    done, routing = build_registry(settings).rollback()
    if args.json:
        print_json({"done": done, "routing": routing.model_dump(mode="json")})
    else:
        print(done)
    return 0


def status(args: argparse.Namespace, settings: Settings) -> int:
    """Print the versions, the routing, the canary against current, and the values to apply (`finetune status`).

    Args:
        args: the parsed `finetune status` arguments.
        settings: the settings, which say where the registry and the interaction log are.

    Returns:
        The exit code.
    """
    from ragbot.bootstrap import build_registry, open_interaction_log
    from ragbot.learning.registry import compare_canary

    registry = build_registry(settings)
    state = registry.state()
    comparison: dict[str, Any] = {"verdict": "no canary"}
    if state.routing.canary and settings.interactions.enabled:
        with open_interaction_log(settings) as log:
            comparison = compare_canary(log.records(since=state.routing.canary_since), state.routing)
    implied = registry.implied(state)
    if args.json:
        print_json(
            {
                "registry": str(registry.root),
                "routing": state.routing.model_dump(mode="json"),
                "versions": [v.model_dump(mode="json") for v in state.versions.values()],
                "comparison": comparison,
                "events": [e.model_dump(mode="json") for e in state.events[-20:]],
                **implied,
            }
        )
        return 0
    _print_status(state, comparison)
    _print_implied(registry.root, implied, settings)
    return 0


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
                f"  {side:<8} {stats['answers']} answers, 👎 {metric(stats['down_rate'])} of {stats['votes']} votes, "
                f"refusals {metric(stats['refusal_rate'])}, citation failures {metric(stats['citation_failure_rate'])}"
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
