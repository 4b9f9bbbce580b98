"""The `ragbot` command line (DESIGN §8). Flags and JSON keys are a contract: extend, never change.

Every command exits non-zero with one line on stderr when its input is bad. `--json` prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn, TypeVar

from pydantic import ValidationError

from ragbot import __version__
from ragbot.errors import ConfigurationError, RagbotError
from ragbot.models import EVERYONE, Answer, Passage, Question

__all__ = ["main"]

log = logging.getLogger("ragbot")

EXIT_ERROR = 1
EXIT_USAGE = 2


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ragbot: error: {message} (see '{self.prog} --help')\n")


def _parser() -> _Parser:
    parser = _Parser(prog="ragbot", description="Answers questions from your documents, with citations.")
    parser.add_argument("--version", action="version", version=f"ragbot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and timings to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=_Parser)

    ingest = commands.add_parser(
        "ingest", help="index files, folders, Git work trees (md, txt, html, pdf, docx) and JSONL exports"
    )
    ingest.add_argument("paths", nargs="+", type=Path, metavar="PATH")
    ingest.add_argument(
        "--acl", action="append", metavar="PRINCIPAL", help="who may read files no sidecar rule matches"
    )
    ingest.add_argument("--source", help="source name (default: the folder's name); --prune is scoped to it")
    ingest.add_argument("--prune", action="store_true", help="remove documents of this source whose files are gone")
    ingest.add_argument(
        "--url-base", metavar="URL", help="document links are URL + doc_id (default for Git: derived from origin)"
    )
    ingest.add_argument(
        "--reindex",
        action="store_true",
        help="build a new index version from these sources and switch to it (Elasticsearch)",
    )
    ingest.add_argument("--json", action="store_true")

    index = commands.add_parser("index", help="list index versions or switch back to one")
    actions = index.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    versions = actions.add_parser("versions", help="kept versions, with document counts and model")
    versions.add_argument("--json", action="store_true")
    rollback = actions.add_parser("rollback", help="point the alias at another kept version")
    rollback.add_argument("version", type=_version_number, metavar="VERSION")
    rollback.add_argument("--json", action="store_true")

    forget = commands.add_parser(
        "forget", help="remove documents and their chunks, or a person's questions and votes, now"
    )
    forget.add_argument("--doc", dest="doc_ids", action="append", default=[], metavar="DOC_ID")
    forget.add_argument(
        "--user",
        dest="users",
        action="append",
        default=[],
        type=_platform_user,
        metavar="PLATFORM:ID",
        help="delete every question this person asked and every vote they gave (a data-subject request), "
        "e.g. slack:U024BE7LH or teams:29:1a2b… (repeatable)",
    )
    forget.add_argument("--json", action="store_true")

    interactions = commands.add_parser("interactions", help="the interaction log: apply the retention period")
    log_actions = interactions.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    purge = log_actions.add_parser("purge", help="delete records older than the retention period")
    purge.add_argument(
        "--older-than-days",
        type=_positive_int,
        metavar="DAYS",
        help="default: RAGBOT_INTERACTIONS__RETENTION_DAYS (180)",
    )
    purge.add_argument("--json", action="store_true")

    review = commands.add_parser("review", help="list 👎 answers, and record reviewers' corrected answers")
    review_actions = review.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=_Parser)
    review_list = review_actions.add_parser("list", help="answers with a 👎, newest first, and whether corrected")
    review_list.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="default: the last 30 days")
    review_list.add_argument("--json", action="store_true")
    correct = review_actions.add_parser("correct", help="record the answer this question should have had")
    correct.add_argument("question_id", metavar="QUESTION_ID")
    correct.add_argument(
        "--answer", required=True, help="the corrected answer, citing sources as [n] like the original"
    )
    correct.add_argument("--reviewer", required=True, help="who reviewed (stored hashed)")
    correct.add_argument("--note", default="", help="why the original was wrong")
    correct.add_argument("--json", action="store_true")

    advise = commands.add_parser(
        "advise", help="classify logged failures (knowledge gaps or behaviour defects) and say whether to retrain"
    )
    advise.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="default: the last 30 days")
    advise.add_argument(
        "--evaluation",
        type=Path,
        metavar="REPORT",
        help="an evaluation report (default: the newest in the adapter registry)",
    )
    advise.add_argument("--json", action="store_true")

    _finetune_parser(commands)

    ask = commands.add_parser("ask", help="answer one question")
    ask.add_argument("question")
    ask.add_argument(
        "--as",
        dest="principals",
        action="append",
        metavar="PRINCIPAL",
        help="ask with these principals (repeatable; default: everyone '*')",
    )
    ask.add_argument("--user", metavar="EMAIL", help="ask as this user, with the groups the principals directory lists")
    ask.add_argument("--json", action="store_true")

    chat = commands.add_parser("chat", help="ask questions interactively")
    chat.add_argument("--as", dest="principals", action="append", metavar="PRINCIPAL")
    chat.add_argument("--user", metavar="EMAIL")

    evaluate = commands.add_parser("eval", help="measure retrieval or answer quality")
    kinds = evaluate.add_subparsers(dest="kind", required=True, metavar="KIND", parser_class=_Parser)
    retrieval = kinds.add_parser("retrieval", help="BEIR-format corpus, queries and qrels")
    retrieval.add_argument("--corpus", type=Path, required=True)
    retrieval.add_argument("--queries", type=Path, required=True)
    retrieval.add_argument("--qrels", type=Path, required=True)
    retrieval.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    retrieval.add_argument("--k", type=_positive_int, default=10)
    retrieval.add_argument("--json", action="store_true")
    answers = kinds.add_parser("answers", help="a folder of documents and a QA set")
    answers.add_argument("--docs", type=Path, required=True)
    answers.add_argument("--qa", type=Path, required=True)
    answers.add_argument("--json", action="store_true")

    serve = commands.add_parser("serve", help="run a chat adapter (Slack or Teams)")
    serve.add_argument("platform", choices=["slack", "teams"])
    serve.add_argument("--host", default="0.0.0.0", help="address to listen on (default: all)")  # noqa: S104
    serve.add_argument("--port", type=_port, help="default: 3000 for Slack, 3978 for Teams; 0 picks a free one")

    worker = commands.add_parser("worker", help="run Celery workers for the answering hops")
    worker.add_argument(
        "--queues",
        help="comma-separated queues to consume: retrieve,generate,reply.slack,reply.teams,feedback (default: all)",
    )
    worker.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    worker.add_argument("--concurrency", type=_positive_int, help="processes or threads (default: one per CPU)")
    return parser


def _finetune_parser(commands: Any) -> None:
    finetune = commands.add_parser(
        "finetune", help="the learning loop: datasets, LoRA training, the evaluation gate, canary and rollback"
    )
    steps = finetune.add_subparsers(dest="step", required=True, metavar="STEP", parser_class=_Parser)

    dataset = steps.add_parser("dataset", help="build a fine-tuning dataset from the interaction log")
    dataset.add_argument("--out", type=Path, required=True, metavar="DIR", help="a new folder for the dataset")
    dataset.add_argument("--since", type=_date, metavar="YYYY-MM-DD", help="only questions asked since (default: all)")
    dataset.add_argument("--min-examples", type=_positive_int, metavar="N", help="refuse a smaller dataset")
    dataset.add_argument("--validation-share", type=_fraction, metavar="F", help="newest share held out")
    dataset.add_argument("--distractors", type=_count, metavar="N", help="unrelated passages per example")
    dataset.add_argument("--refusal-share", type=_fraction, metavar="F", help="questions also taught as refusals")
    dataset.add_argument(
        "--allow", action="append", metavar="PRINCIPAL", help="train only on documents these may read (default: '*')"
    )
    dataset.add_argument("--max-length", type=_positive_int, metavar="TOKENS", help="prompt and answer, in tokens")
    dataset.add_argument("--seed", type=int, default=0)
    dataset.add_argument("--json", action="store_true")

    train = steps.add_parser("train", help="train a LoRA adapter on a dataset (peft + trl; GPU if there is one)")
    train.add_argument("--dataset", type=Path, required=True, metavar="DIR")
    train.add_argument("--base", required=True, metavar="MODEL", help="the base model's folder (nothing downloads)")
    train.add_argument("--out", type=Path, required=True, metavar="DIR", help="checkpoints and OUT/adapter")
    train.add_argument("--rank", type=_positive_int)
    train.add_argument("--alpha", type=_positive_int)
    train.add_argument("--dropout", type=_fraction)
    train.add_argument("--target-modules", type=_names, metavar="A,B", help="e.g. q_proj,k_proj,v_proj,o_proj")
    train.add_argument("--epochs", type=_positive_float)
    train.add_argument("--learning-rate", type=_positive_float)
    train.add_argument("--max-length", type=_positive_int, metavar="TOKENS")
    train.add_argument("--batch-size", type=_positive_int)
    train.add_argument("--gradient-accumulation", type=_positive_int)
    train.add_argument("--save-steps", type=_positive_int)
    train.add_argument("--max-steps", type=_positive_int, help="stop after N optimizer steps (default: epochs)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--json", action="store_true")

    evaluate = steps.add_parser("evaluate", help="the candidate against the served adapter on held-out examples")
    evaluate.add_argument("--adapter", type=Path, required=True, metavar="DIR")
    evaluate.add_argument("--dataset", type=Path, metavar="DIR", help="default: the one it was trained on")
    evaluate.add_argument("--limit", type=_positive_int, metavar="N", help="only the first N held-out examples")
    evaluate.add_argument("--max-new-tokens", type=_positive_int, metavar="N")
    evaluate.add_argument("--tolerance", type=_fraction, metavar="F", help="allowed fall of a gated metric")
    evaluate.add_argument("--json", action="store_true")

    publish = steps.add_parser("publish", help="register an evaluated adapter, as a canary or as current")
    publish.add_argument("--adapter", type=Path, required=True, metavar="DIR")
    publish.add_argument("--canary", type=_fraction, metavar="F", help="serve it to this share of questions first")
    publish.add_argument("--name", default="ragbot", help="the version id's prefix (default: ragbot)")
    publish.add_argument("--json", action="store_true")

    promote = steps.add_parser("promote", help="make the canary the current adapter")
    promote.add_argument("--force", action="store_true", help="even when the canary compares worse")
    promote.add_argument("--json", action="store_true")
    rollback = steps.add_parser("rollback", help="end the canary, or restore the previous current adapter")
    rollback.add_argument("--json", action="store_true")
    status = steps.add_parser("status", help="versions, routing, canary against current, and the values to apply")
    status.add_argument("--json", action="store_true")


_N = TypeVar("_N", int, float)


def _number(
    convert: Callable[[str], _N], valid: Callable[[_N], bool], rule: str, *, kind: str = "number"
) -> Callable[[str], _N]:
    """An argparse type: `convert` the flag's value, and refuse it with `rule` unless it is `valid`."""

    def parse(value: str) -> _N:
        try:
            number = convert(value)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{value!r} is not a {kind}") from None
        if not valid(number):
            raise argparse.ArgumentTypeError(rule)
        return number

    return parse


_port = _number(int, lambda n: 0 <= n <= 65_535, "must be between 0 (any free port) and 65535", kind="port number")
_positive_int = _number(int, lambda n: n >= 1, "must be at least 1", kind="whole number")
_count = _number(int, lambda n: n >= 0, "must be 0 or more", kind="whole number")
_fraction = _number(float, lambda n: 0 <= n <= 1, "must be between 0 and 1")
_positive_float = _number(float, lambda n: n > 0, "must be more than 0")


def _names(value: str) -> tuple[str, ...]:
    names = tuple(n.strip() for n in value.split(",") if n.strip())
    if not names:
        raise argparse.ArgumentTypeError("give at least one module name, e.g. q_proj,v_proj")
    return names


def _platform_user(value: str) -> tuple[str, str]:
    platform, _, user = value.partition(":")
    if platform not in ("slack", "teams") or not user.strip():
        raise argparse.ArgumentTypeError(f"{value!r} is not PLATFORM:ID (slack:U024BE7LH, teams:29:1a2b…)")
    return platform, user.strip()


def _date(value: str) -> Any:
    from datetime import UTC, datetime

    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-01") from None


def _version_number(value: str) -> int:
    return _positive_int(value.removeprefix("v"))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the process exit code."""
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # The transport logs each failed attempt; the command's own one-line error says what matters.
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    handlers: dict[str, Callable[[argparse.Namespace], int]] = {
        "ingest": _ingest,
        "ask": _ask,
        "chat": _chat,
        "eval": _eval,
        "index": _index,
        "forget": _forget,
        "interactions": _interactions,
        "advise": _advise,
        "review": _review,
        "finetune": _finetune,
        "serve": _serve,
        "worker": _worker,
    }
    try:
        return handlers[args.command](args)
    except RagbotError as err:
        return _fail(str(err))
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        return _fail(f"invalid {where or 'input'}: {first['msg']}")
    except KeyboardInterrupt:
        return 130


def _fail(message: str, code: int = EXIT_ERROR) -> int:
    print(f"ragbot: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def _settings() -> Any:
    from ragbot.settings import Settings

    return Settings()


# -- services -----------------------------------------------------------------------------------------------------


def _service(name: str) -> Callable[..., int]:
    """Services register as entry points, so this package never imports them (they depend on it, not back)."""
    from importlib.metadata import entry_points

    found = [ep for ep in entry_points(group="ragbot.services") if ep.name == name]
    if not found:
        raise ConfigurationError(f"the {name} service is not installed (pip install 'ragbot[{name}]')")
    try:
        entry: Callable[..., int] = found[0].load()
    except ImportError as err:
        raise ConfigurationError(f"the {name} service cannot start: {err} (pip install 'ragbot[{name}]')") from err
    return entry


def _serve(args: argparse.Namespace) -> int:
    from ragbot.observability.logs import configure_logging

    entry = _service(args.platform)
    configure_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    port = args.port if args.port is not None else 3000 if args.platform == "slack" else 3978
    return entry(_settings(), host=args.host, port=port)


def _worker(args: argparse.Namespace) -> int:
    from ragbot.observability.logs import configure_logging

    entry = _service("worker")
    configure_logging(level=logging.DEBUG if args.verbose else logging.INFO)
    queues = args.queues.split(",") if args.queues is not None else None
    return entry(_settings(), queues=queues, pool=args.pool, concurrency=args.concurrency)


# -- ingest -------------------------------------------------------------------------------------------------------


def _ingest(args: argparse.Namespace) -> int:
    from ragbot.bootstrap import build_chunker, build_embedder, build_index
    from ragbot.ingestion import ingest, open_source

    acl = tuple(args.acl) if args.acl else None
    # Every path, sidecar and export header is checked before the model loads or anything is written.
    sources = [open_source(path, name=args.source, acl=acl, url_base=args.url_base) for path in args.paths]
    settings = _settings()
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
        print(json.dumps({**report.as_dict(), "documents_total": stats.documents, "chunks_total": stats.chunks}))
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
        return _fail(f"{len(report.failed)} document(s) could not be ingested; the rest were")
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


# -- index and forget ---------------------------------------------------------------------------------------------


def _index(args: argparse.Namespace) -> int:
    from ragbot.bootstrap import build_index
    from ragbot.errors import ConfigurationError
    from ragbot.ports import IndexVersion, VersionedIndex

    index = build_index(_settings())
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
                print(json.dumps({"live": args.version, "dropped_versions": dropped}))
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
        print(json.dumps({"versions": rows}))
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


def _forget(args: argparse.Namespace) -> int:
    if not args.doc_ids and not args.users:
        return _fail("forget: give --doc DOC_ID or --user PLATFORM:ID (or both)", EXIT_USAGE)
    out: dict[str, Any] = {}
    code = 0
    if args.doc_ids:
        code = _forget_documents(args, out)
    if args.users:
        _forget_users(args, out)
    if args.json:
        print(json.dumps(out))
    return code


def _forget_documents(args: argparse.Namespace, out: dict[str, Any]) -> int:
    from ragbot.bootstrap import build_index
    from ragbot.ingestion import forget

    index = build_index(_settings())
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
        return _fail(f"not in the index: {', '.join(report.missing)}")
    return 0


def _forget_users(args: argparse.Namespace, out: dict[str, Any]) -> None:
    from ragbot.bootstrap import build_user_hasher, open_interaction_log

    settings = _settings()
    with open_interaction_log(settings) as log:
        hasher = build_user_hasher(settings)
        removed = {f"{platform}:{user}": log.forget_user(hasher(platform, user)) for platform, user in args.users}
    out["users"] = removed
    if not args.json:
        for who, count in removed.items():
            print(f"{who}: removed {count} questions and votes")


def _interactions(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import open_interaction_log

    settings = _settings()
    days = args.older_than_days or settings.interactions.retention_days
    cutoff = datetime.now(UTC) - timedelta(days=days)
    with open_interaction_log(settings) as log:
        purged = log.purge(older_than=cutoff)
    if args.json:
        print(json.dumps({"purged": purged, "older_than": cutoff.isoformat()}))
    else:
        print(f"purged {purged} records asked before {cutoff:%Y-%m-%d %H:%M} UTC ({days} days)")
    return 0


def _review(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import build_user_hasher, open_interaction_log
    from ragbot.interactions.records import correction_entry

    settings = _settings()
    with open_interaction_log(settings) as log:
        if args.action == "correct":
            answer = " ".join(args.answer.split())
            if not answer:
                return _fail("review correct: --answer is empty", EXIT_USAGE)
            if log.get(args.question_id) is None:
                return _fail(f"no question {args.question_id!r} in the interaction log")
            entry = correction_entry(
                reviewer=args.reviewer, answer=answer, note=args.note, hasher=build_user_hasher(settings)
            )
            log.add_feedback(args.question_id, entry)
            if args.json:
                print(json.dumps({"question_id": args.question_id, "corrected": True}))
            else:
                print(f"recorded a corrected answer for {args.question_id}")
            return 0
        since = args.since or datetime.now(UTC) - timedelta(days=30)
        disliked = [r for r in log.records(since=since) if any(f.value == "down" for f in r.feedback)]
    rows: list[dict[str, Any]] = [
        {
            "question_id": r.question_id,
            "asked_at": r.asked_at.isoformat(),
            "question": r.question,
            "answer": r.answer,
            "comments": [f.comment for f in r.feedback if f.value == "down" and f.comment],
            "corrected": any(f.correction for f in r.feedback),
        }
        for r in sorted(disliked, key=lambda r: r.asked_at, reverse=True)
    ]
    if args.json:
        print(json.dumps({"since": since.isoformat(), "answers": rows}))
        return 0
    if not rows:
        print(f"No 👎 answers since {since:%Y-%m-%d}.")
    for row in rows:
        mark = "corrected" if row["corrected"] else "to review"
        print(f"{row['question_id']}  [{mark}]  {row['question'][:100]}")
        print(f"    answer: {str(row['answer'])[:160]}")
        for comment in row["comments"]:
            print(f"    👎 {comment}")
    return 0


def _advise(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import build_registry, open_interaction_log
    from ragbot.learning.advise import advise
    from ragbot.learning.artifacts import read_json

    settings = _settings()
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
        print(json.dumps(advice.as_dict()))
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


def _finetune(args: argparse.Namespace) -> int:
    from ragbot.learning import commands

    step: Callable[[argparse.Namespace, Any], int] = getattr(commands, args.step)
    return step(args, _settings())


# -- ask and chat -------------------------------------------------------------------------------------------------


class _Session:
    """Everything one asker needs, built once: the CLI's composition root for answering."""

    def __init__(self, principals: Sequence[str] | None) -> None:
        from ragbot.bootstrap import build_embedder, build_generator, build_index, build_retriever

        settings = _settings()
        self.principals = tuple(principals or (EVERYONE,))  # validated by Question on every ask
        self.embedder = build_embedder(settings)
        self.index = build_index(settings)
        self.retriever = build_retriever(settings, embedder=self.embedder, index=self.index)
        self.generator = build_generator(settings, embedder=self.embedder)

    def ask(self, question: Question) -> tuple[Answer, list[Passage]]:
        from ragbot.errors import InputError
        from ragbot.flow import answer

        if self.index.stats().chunks == 0:
            raise InputError("the index is empty: run 'ragbot ingest PATH' first")
        started = time.perf_counter()
        retrieved = self.retriever.retrieve(question.text, principals=question.principals)
        reply = answer(question, retrieved.passages, generator=self.generator)
        timings = {**retrieved.timings_ms, **reply.timings_ms, "total": _ms_since(started)}
        return reply.model_copy(update={"timings_ms": timings}), retrieved.passages

    def close(self) -> None:
        self.index.close()


def _principals(args: argparse.Namespace) -> tuple[str, ...] | None:
    """--as principals, plus --user's own and their groups from the principals directory."""
    if not args.user:
        return tuple(args.principals) if args.principals else None
    from ragbot.bootstrap import build_directory
    from ragbot.errors import ConfigurationError

    directory = build_directory(_settings())
    if directory is None:
        raise ConfigurationError("--user needs a principals directory: set RAGBOT_DIRECTORY__PATH to its file")
    return (*directory.principals_for(args.user), *(args.principals or ()))


def _question(text: str, principals: Sequence[str] | None) -> Question:
    return Question(question_id=uuid.uuid4().hex, text=text, principals=tuple(principals or (EVERYONE,)))


def _ask(args: argparse.Namespace) -> int:
    question = _question(args.question, _principals(args))  # bad input fails before the model loads
    session = _Session(question.principals)
    try:
        reply, passages = session.ask(question)
    finally:
        session.close()
    if args.json:
        print(json.dumps(_answer_json(question, reply, passages)))
    else:
        print(_render(reply))
    return 0


def _chat(args: argparse.Namespace) -> int:
    from ragbot.errors import InputError

    session = _Session(_principals(args))
    print(f"Ask about your documents (as {', '.join(session.principals)}). Empty line or Ctrl-D to quit.")
    try:
        while True:
            try:
                text = input("\nyou> ").strip()
            except EOFError:
                print()
                return 0
            if not text or text.lower() in {"exit", "quit"}:
                return 0
            try:
                reply, _ = session.ask(_question(text, session.principals))
            except (InputError, ValidationError) as err:
                print(f"ragbot: {err}")
                continue
            print(f"\nragbot> {_render(reply)}")
    finally:
        session.close()


def _answer_json(question: Question, reply: Answer, passages: Sequence[Passage]) -> dict[str, Any]:
    return {
        "question": question.text,
        "answer": reply.text,
        "refused": reply.refused,
        "reason": reply.reason,
        "confidence": reply.confidence,
        "citations": [c.model_dump() for c in reply.citations],
        "passages": [
            {"rank": p.rank, "doc_id": p.chunk.doc_id, "chunk_id": p.chunk.chunk_id, "score": round(p.score, 6)}
            for p in passages
        ],
        "model": reply.model,
        "adapter": reply.adapter,
        "prompt_version": reply.prompt_version,
        "timings_ms": reply.timings_ms,
    }


def _render(reply: Answer) -> str:
    lines = [reply.text, "", "Closest sources:" if reply.refused else "Sources:"]
    if not reply.citations:
        lines[-1] = "(no documents you can see match this question)"
    for c in reply.citations:
        where = " › ".join(part for part in (c.title, c.heading_path) if part)
        lines.append(f"  [{c.n}] {where} ({c.url or c.doc_id})")
        lines.append(f"      “{c.snippet}”")
    return "\n".join(lines)


# -- eval ---------------------------------------------------------------------------------------------------------


def _eval(args: argparse.Namespace) -> int:
    from ragbot.bootstrap import build_chunker, build_embedder

    settings = _settings()
    if args.kind == "retrieval":
        from ragbot.evaluation import evaluate_retrieval, load_corpus, load_qrels, load_queries

        corpus, queries, qrels = load_corpus(args.corpus), load_queries(args.queries), load_qrels(args.qrels)
        (summary,) = evaluate_retrieval(
            corpus,
            queries,
            qrels,
            embedder=build_embedder(settings),
            chunker=build_chunker(settings),
            settings=settings.retrieval,
            modes=(args.mode,),
            k=args.k,
        )
        if summary["queries"] == 0:
            return _fail("no query in --queries has judgments in --qrels")
    else:
        from ragbot.evaluation import evaluate_answers, load_qa

        summary, _ = evaluate_answers(args.docs, load_qa(args.qa), settings=settings, embedder=build_embedder(settings))
    if args.json:
        print(json.dumps(summary))
    else:
        width = max(len(key) for key in summary)
        for key, value in summary.items():
            print(f"{key:<{width}}  {value}")
    return 0


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


if __name__ == "__main__":
    raise SystemExit(main())
