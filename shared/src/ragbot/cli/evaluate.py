"""`ragbot eval retrieval|answers`: measure retrieval on BEIR-format data, or answers on a QA set (DESIGN §8).

Both index into a fresh temporary store, so an evaluation never touches the live index; that is why this builds
only the embedder and leaves the rest of answering to `ragbot.evaluation`.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ragbot.cli.arguments import Commands, Parser, load_settings, positive_int
from ragbot.cli.output import fail, print_json

__all__ = ["register", "run"]


def register(commands: Commands) -> None:
    """Add `eval retrieval` and `eval answers` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    evaluate = commands.add_parser("eval", help="measure retrieval or answer quality")
    kinds = evaluate.add_subparsers(dest="kind", required=True, metavar="KIND", parser_class=Parser)
    retrieval = kinds.add_parser("retrieval", help="BEIR-format corpus, queries and qrels")
    retrieval.add_argument("--corpus", type=Path, required=True)
    retrieval.add_argument("--queries", type=Path, required=True)
    retrieval.add_argument("--qrels", type=Path, required=True)
    retrieval.add_argument("--mode", choices=["hybrid", "bm25", "dense"], default="hybrid")
    retrieval.add_argument("--k", type=positive_int, default=10)
    retrieval.add_argument("--json", action="store_true")
    answers = kinds.add_parser("answers", help="a folder of documents and a QA set")
    answers.add_argument("--docs", type=Path, required=True)
    answers.add_argument("--qa", type=Path, required=True)
    answers.add_argument("--json", action="store_true")
    evaluate.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Run the evaluation and print its summary, one metric a line or (`--json`) as one object.

    Args:
        args: the parsed `eval` arguments (`kind` is `retrieval` or `answers`).

    Returns:
        The exit code: 1 when no query has judgments.
    """
    from ragbot.bootstrap import build_chunker, build_embedder

    settings = load_settings()
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
            return fail("no query in --queries has judgments in --qrels")
    else:
        from ragbot.evaluation import evaluate_answers, load_qa

        summary, _ = evaluate_answers(args.docs, load_qa(args.qa), settings=settings, embedder=build_embedder(settings))
    if args.json:
        print_json(summary)
    else:
        width = max(len(key) for key in summary)
        for key, value in summary.items():
            print(f"{key:<{width}}  {value}")
    return 0
