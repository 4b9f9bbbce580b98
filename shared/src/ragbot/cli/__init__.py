"""The `ragbot` command line (DESIGN §8). Flags and JSON keys are a contract: extend, never change.

Every command exits non-zero with one line on stderr when its input is bad. `--json` prints one JSON object.

One module per command group, as in huggingface_hub's `commands/` package: each has `register(commands)`, which
adds its sub-parser(s) and sets the `handler` that runs them. This module builds the parser from those modules,
runs the handler, and turns errors into one-line messages and exit codes. Handlers import what they need when they
run, so `ragbot --help` loads no model and no backend.
"""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
from collections.abc import Callable, Sequence

from pydantic import ValidationError

from ragbot import __version__
from ragbot.cli import advise, ask, evaluate, finetune, index, ingest, interactions, review, services
from ragbot.cli.arguments import Parser
from ragbot.cli.output import fail, validation_message
from ragbot.errors import RagbotError

__all__ = ["main"]

# The order of `ragbot --help`'s command list.
_GROUPS = (ingest, index, interactions, review, advise, finetune, ask, evaluate, services)


def _parser() -> Parser:
    parser = Parser(prog="ragbot", description="Answers questions from your documents, with citations.")
    parser.add_argument("--version", action="version", version=f"ragbot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress and timings to stderr")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", parser_class=Parser)
    for group in _GROUPS:
        group.register(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: the arguments after the program's name (default: `sys.argv[1:]`).

    Returns:
        The process exit code: 0 when the command did what it was asked, 1 when it failed (one line on stderr),
        2 on a usage error, 130 on Ctrl-C.
    """
    args = _parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    if not args.verbose:
        # The transport logs each failed attempt; the command's own one-line error says what matters.
        logging.getLogger("elastic_transport").setLevel(logging.ERROR)
    handler: Callable[[argparse.Namespace], int] = args.handler
    try:
        return handler(args)
    except RagbotError as err:
        return fail(str(err))
    except ValidationError as err:
        return fail(validation_message(err))
    except sqlite3.DatabaseError as err:
        # The index translates its own errors (naming the file); this catches the interaction log's, so a
        # damaged interactions.sqlite3 is one line here too, never a traceback.
        return fail(
            f"a SQLite file in the data directory (RAGBOT_DATA_DIR) is damaged or unusable ({err}): restore it "
            "from a backup; a damaged index.sqlite3 can instead be deleted and re-ingested"
        )
    except KeyboardInterrupt:
        return 130
