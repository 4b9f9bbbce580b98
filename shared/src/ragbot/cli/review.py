"""`ragbot review list|correct`: the 👎 answers, and the corrected answers reviewers record for them.

Corrected answers are what `ragbot finetune dataset` teaches from, next to the answers people liked.
"""

from __future__ import annotations

import argparse
from typing import Any

from ragbot.cli.arguments import Commands, Parser, date, load_settings
from ragbot.cli.output import EXIT_USAGE, fail, print_json

__all__ = ["register", "run"]


def register(commands: Commands) -> None:
    """Add `review list` and `review correct` to the command line.

    Args:
        commands: the top-level sub-parsers action (`ArgumentParser.add_subparsers`).
    """
    review = commands.add_parser("review", help="list 👎 answers, and record reviewers' corrected answers")
    review_actions = review.add_subparsers(dest="action", required=True, metavar="ACTION", parser_class=Parser)
    review_list = review_actions.add_parser("list", help="answers with a 👎, newest first, and whether corrected")
    review_list.add_argument("--since", type=date, metavar="YYYY-MM-DD", help="default: the last 30 days")
    review_list.add_argument("--json", action="store_true")
    correct = review_actions.add_parser("correct", help="record the answer this question should have had")
    correct.add_argument("question_id", metavar="QUESTION_ID")
    correct.add_argument(
        "--answer", required=True, help="the corrected answer, citing sources as [n] like the original"
    )
    correct.add_argument("--reviewer", required=True, help="who reviewed (stored hashed)")
    correct.add_argument("--note", default="", help="why the original was wrong")
    correct.add_argument("--json", action="store_true")
    review.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """List the 👎 answers since a date, or record a corrected answer.

    Args:
        args: the parsed `review` arguments (`action` is `list` or `correct`).

    Returns:
        The exit code: 2 for an empty corrected answer, 1 for a question the log does not hold.
    """
    from datetime import UTC, datetime, timedelta

    from ragbot.bootstrap import build_user_hasher, open_interaction_log
    from ragbot.interactions.records import correction_entry
    from ragbot.interactions.redact import redact

    settings = load_settings()
    with open_interaction_log(settings) as log:
        if args.action == "correct":
            answer = " ".join(args.answer.split())
            if not answer:
                return fail("review correct: --answer is empty", EXIT_USAGE)
            if log.get(args.question_id) is None:
                return fail(f"no question {args.question_id!r} in the interaction log")
            entry = correction_entry(
                reviewer=args.reviewer, answer=answer, note=args.note, hasher=build_user_hasher(settings)
            )
            log.add_feedback(args.question_id, entry)
            if args.json:
                print_json({"question_id": args.question_id, "corrected": True})
            else:
                print(f"recorded a corrected answer for {args.question_id}")
            return 0
        since = args.since or datetime.now(UTC) - timedelta(days=30)
        disliked = [r for r in log.records(since=since) if any(f.value == "down" for f in r.feedback)]
    rows: list[dict[str, Any]] = [
        {
            "question_id": r.question_id,
            "asked_at": r.asked_at.isoformat(),
            # Redacted when recorded; again here, so records kept from before a redaction rule was added follow it.
            "question": redact(r.question),
            "answer": redact(r.answer),
            "comments": [redact(f.comment) for f in r.feedback if f.value == "down" and f.comment],
            "corrected": any(f.correction for f in r.feedback),
        }
        for r in sorted(disliked, key=lambda r: r.asked_at, reverse=True)
    ]
    if args.json:
        print_json({"since": since.isoformat(), "answers": rows})
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
