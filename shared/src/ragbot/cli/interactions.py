"""`ragbot forget` and `ragbot interactions purge`: removing documents, people's data and old records, now.

`forget --doc` takes documents and their chunks out of the index; `forget --user` answers a data-subject request
by deleting a person's questions and votes; `interactions purge` applies the retention period.
"""

from __future__ import annotations

import argparse
from typing import Any

from ragbot.cli.arguments import Commands, Parser, load_settings, positive_int
from ragbot.cli.output import EXIT_USAGE, fail, print_json

__all__ = ["forget", "purge", "register"]


def register(commands: Commands) -> None:
    """Add `forget` and `interactions purge` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    forget_parser = commands.add_parser(
        "forget", help="remove documents and their chunks, or a person's questions and votes, now"
    )
    forget_parser.add_argument("--doc", dest="doc_ids", action="append", default=[], metavar="DOC_ID")
    forget_parser.add_argument(
        "--user",
        dest="users",
        action="append",
        default=[],
        type=_platform_user,
        metavar="PLATFORM:ID",
        help="delete every question this person asked and every vote they gave (a data-subject request), "
        "e.g. slack:U024BE7LH or teams:29:1a2b… (repeatable)",
    )
    forget_parser.add_argument("--json", action="store_true")
    forget_parser.set_defaults(handler=forget)

    interactions = commands.add_parser("interactions", help="the interaction log: apply the retention period")
    log_actions = interactions.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    purge_parser = log_actions.add_parser("purge", help="delete records older than the retention period")
    purge_parser.add_argument(
        "--older-than-days",
        type=positive_int,
        metavar="DAYS",
        help="default: RAGBOT_INTERACTIONS__RETENTION_DAYS (180)",
    )
    purge_parser.add_argument("--json", action="store_true")
    purge_parser.set_defaults(handler=purge)


def _platform_user(value: str) -> tuple[str, str]:
    platform, _, user = value.partition(":")
    if platform not in ("slack", "teams") or not user.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not PLATFORM:ID (slack:U024BE7LH, teams:29:1a2b…)")
    return platform, user.strip()


def forget(args: argparse.Namespace) -> int:
    """Remove the given documents from the index and the given people's questions and votes from the log.

    Args:
        args: the parsed `forget` arguments.

    Returns:
        The exit code: 2 when neither `--doc` nor `--user` is given, 1 when a document is not in the index.
    """
    if not args.doc_ids and not args.users:
        return fail("forget: give --doc DOC_ID or --user PLATFORM:ID (or both)", EXIT_USAGE)
    out: dict[str, Any] = {}
    code = 0
    if args.doc_ids:
        code = _forget_documents(args, out)
    if args.users:
        _forget_users(args, out)
    if args.json:
        print_json(out)
    return code


def _forget_documents(args: argparse.Namespace, out: dict[str, Any]) -> int:
    from ragbot.bootstrap import build_index
    from ragbot.ingestion import forget

    index = build_index(load_settings())
    try:
        report = forget(args.doc_ids, index=index)
    finally:
        index.close()
    out.update({"removed": report.removed, "missing": report.missing, "promoted": report.promoted})
    if not args.json:
        for doc_id in report.removed:
            print(f"removed {doc_id} and all its chunks")
        for doc_id in report.promoted:
            print(f"  {doc_id}, a copy of a removed document, now answers in its place")
    if report.missing:
        return fail(f"not in the index: {', '.join(report.missing)}")
    return 0


def _forget_users(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from ragbot.bootstrap import build_user_hasher, open_interaction_log

    settings = load_settings()
    with open_interaction_log(settings) as log:
        hasher = build_user_hasher(settings)
        removed = {f"{platform}:{user}": log.forget_user(hasher(platform, user)) for platform, user in args.users}
    out["users"] = removed
    if not args.json:
        for who, count in removed.items():
            print(f"{who}: removed {count} questions and votes")


def purge(args: argparse.Namespace) -> int:
    """Delete the interaction records older than the retention period.

    Args:
        args: the parsed `interactions purge` arguments.

    Returns:
        The exit code.
    """
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import open_interaction_log

    settings = load_settings()
    days = args.older_than_days or settings.interactions.retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with open_interaction_log(settings) as log:
        purged = log.purge(older_than=cutoff)
    if args.json:
        print_json({"purged": purged, "older_than": cutoff.isoformat()})
    else:
        print(f"purged {purged} records asked before {cutoff:%Y-%m-%d %H:%M} UTC ({days} days)")
    return 0
