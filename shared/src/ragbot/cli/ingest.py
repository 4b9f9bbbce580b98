"""`ragbot ingest PATH...`: index files, folders, Git work trees and JSONL exports (DESIGN §8)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from ragbot.cli.arguments import Commands, load_settings
from ragbot.cli.output import fail, print_json

__all__ = ["register", "run"]


def register(commands: Commands) -> None:
    """Add `ingest` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    ingest = commands.add_parser(
        "ingest", help="index files, folders, Git work trees (md, txt, html, pdf, docx) and JSONL exports"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument(
        "--acl", action="append", metavar="PRINCIPAL", help="who may read files no sidecar rule matches"
    )
    ingest.add_argument(
        "--source", help="source name (default: the folder's name and a hash of its path); --prune is scoped to it"
    )
    ingest.add_argument("--prune", action="store_true", help="remove documents of this source whose files are gone")
    ingest.add_argument(
        "--url-base", metavar="URL", help="document links are URL + doc_id (default for Git: derived from origin)"
    )
    ingest.add_argument(
        "--reindex",
        action="store_true",
        help="build a new index version from these sources and switch to it (Elasticsearch)",
    )
    ingest.add_argument(
        "--follow-symlinks",
        action="store_true",
        help="read what links lead to even outside the folder (default: such links are skipped and reported)",
    )
    ingest.add_argument("--json", action="store_true")
    ingest.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Ingest the given paths and report what changed.

    Args:
        args: the parsed `ingest` arguments.

    Returns:
        The exit code: 1 when a document could not be ingested (the rest are).
    """
    from ragbot.bootstrap import build_chunker, build_embedder, build_index
    from ragbot.ingestion import ingest, open_source

    acl = tuple(args.acl) if args.acl else None
    # Every path, sidecar and export header is checked before the model loads or anything is written.
    sources = [
        open_source(path, name=args.source, acl=acl, url_base=args.url_base, follow_symlinks=args.follow_symlinks)
        for path in args.paths
    ]
    settings = load_settings()
    embedder = build_embedder(settings)
    index = build_index(settings)
    progress = _Progress(enabled=not args.json)
    try:
        report = ingest(
            sources,
            index=index,
            embedder=embedder,
            chunker=build_chunker(settings),
            prune=args.prune,
            reindex=args.reindex,
            progress=progress,
        )
        stats = index.stats()
    finally:
        progress.close()
        index.close()
    if args.json:
        print_json({**report.as_dict(), "documents_total": stats.documents, "chunks_total": stats.chunks})
    else:
        print(
            f"ingested: {report.added} added, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.removed} removed, {len(report.failed)} failed; {report.chunks} chunks embedded in "
            f"{report.seconds:.1f}s. The index holds {stats.documents} documents, {stats.chunks} chunks."
        )
        for doc_id, canonical in report.duplicates:
            print(f"  {doc_id} is a copy of {canonical}: linked, answers cite {canonical}")
        if report.version is not None:
            state = "live" if report.activated else "built but NOT live (fix the failures, then ingest again)"
            print(f"  index version v{report.version}: {state}")
            if report.not_carried:
                print(
                    f"  warning: sources of the previous version not in this re-index: {', '.join(report.not_carried)}"
                    " ('ragbot index rollback' restores it)",
                    file=sys.stderr,
                )
        for doc_id, reason in report.failed:
            print(f"  skipped {doc_id}: {reason}", file=sys.stderr)
    if report.failed:
        return fail(f"{len(report.failed)} document(s) could not be ingested; the rest were")
    return 0


class _Progress:
    """A progress bar on a terminal; a line every 10 seconds otherwise (CI logs, Kubernetes jobs)."""

    def __init__(self, *, enabled: bool, every_s: float = 10.0) -> None:
        self._enabled = enabled
        self._every = every_s
        self._last = time.monotonic()
        self._bar: Any = None
        if enabled and sys.stderr.isatty():
            from tqdm import tqdm  # type: ignore[import-untyped]  # no stubs published

            self._bar = tqdm(desc="ingest", unit=" docs", file=sys.stderr, dynamic_ncols=True)

    def __call__(self, done: int, total: int | None) -> None:
        if not self._enabled:
            return
        if self._bar is not None:
            self._bar.total = total
            self._bar.update(done - self._bar.n)
        elif time.monotonic() - self._last >= self._every:
            self._last = time.monotonic()
            print(f"ingest: {done} documents done", file=sys.stderr, flush=True)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
