"""`ragbot index versions|rollback VERSION`: the kept index versions, and switching the alias back to one."""

from __future__ import annotations

import argparse

from ragbot.cli.arguments import Commands, Parser, load_settings, positive_int
from ragbot.cli.output import print_json

__all__ = ["register", "run"]


def register(commands: Commands) -> None:
    """Add `index versions` and `index rollback` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    index = commands.add_parser("index", help="list index versions or switch back to one")
    actions = index.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    versions = actions.add_parser("versions", help="kept versions, with document counts and model")
    versions.add_argument("--json", action="store_true")
    rollback = actions.add_parser("rollback", help="point the alias at another kept version")
    rollback.add_argument("version", type=_version_number, metavar="VERSION")
    rollback.add_argument("--json", action="store_true")
    index.set_defaults(handler=run)


def _version_number(value: str) -> int:
    return positive_int(value.removeprefix("v"))


def run(args: argparse.Namespace) -> int:
    """List the index versions, or point the alias at another one.

    Args:
        args: the parsed `index` arguments (`action` is `versions` or `rollback`).

    Returns:
        The exit code.

    Raises:
        ConfigurationError: a rollback on the embedded store, which keeps a single version.
    """
    from ragbot.bootstrap import build_index
    from ragbot.errors import ConfigurationError
    from ragbot.ports import IndexVersion, VersionedIndex

    index = build_index(load_settings())
    try:
        if not isinstance(index, VersionedIndex):
            if args.action == "rollback":
                raise ConfigurationError(
                    "the embedded store keeps a single version; versions and rollback need Elasticsearch "
                    "(RAGBOT_ELASTICSEARCH__URL)"
                )
            info, stats = index.info(), index.stats()
            versions = [
                IndexVersion(
                    1,
                    "embedded",
                    True,
                    stats.documents,
                    stats.chunks,
                    info.embedding_model if info else "-",
                    info.created_at if info else None,
                )
            ]
        elif args.action == "rollback":
            dropped = index.activate(args.version)
            if args.json:
                print_json({"live": args.version, "dropped_versions": dropped})
            else:
                print(f"the alias now points at v{args.version}")
            return 0
        else:
            versions = index.versions()
    finally:
        index.close()
    rows = [
        {
            "version": v.version,
            "name": v.name,
            "live": v.live,
            "documents": v.documents,
            "chunks": v.chunks,
            "embedding_model": v.embedding_model,
            "created_at": v.created_at.isoformat() if v.created_at else None,
        }
        for v in versions
    ]
    if args.json:
        print_json({"versions": rows})
    elif not rows:
        print("no index yet: run 'ragbot ingest PATH' first")
    else:
        print(f"{'':2}{'version':<9}{'documents':>10}{'chunks':>10}  {'model':<24}created")
        for r in rows:
            print(
                f"{'*' if r['live'] else '':2}v{r['version']:<8}{r['documents']:>10}{r['chunks']:>10}  "
                f"{r['embedding_model']:<24}{r['created_at'] or '-'}"
            )
    return 0
