"""What every `ragbot` command shares on the way out: exit codes, the one-line error, JSON and metric figures.

DESIGN §8 makes these a contract: a command that fails prints exactly one line on stderr and exits non-zero, and
`--json` prints one JSON object on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pydantic import ValidationError

__all__ = ["EXIT_ERROR", "EXIT_USAGE", "fail", "metric", "print_json", "validation_message"]

EXIT_ERROR = 1
EXIT_USAGE = 2


def fail(message: str, code: int = EXIT_ERROR) -> int:
    """Print `message` as the command's one-line error on stderr.

    Args:
        message: what went wrong; line breaks and runs of spaces are folded so it stays one line.
        code: the exit code to return.

    Returns:
        `code`, so a handler can `return fail(...)`.
    """
    print(f"ragbot: error: {' '.join(message.split())}", file=sys.stderr)
    return code


def validation_message(err: ValidationError, *, located: bool = True) -> str:
    """The first problem pydantic found, as one short line: never its multi-line dump, never the input it quotes.

    Args:
        err: the validation error.
        located: start with the field it is about ("invalid text: …"); leave it out where the message names it.

    Returns:
        The line, for `fail` or for an interactive prompt.
    """
    first = err.errors(include_url=False, include_input=False)[0]
    what = str(first["msg"]).removeprefix("Value error, ")
    where = ".".join(str(p) for p in first["loc"])
    return f"invalid {where or 'input'}: {what}" if located else what


def print_json(body: Any) -> None:
    """Print `body` as one JSON object on one line of stdout (what `--json` promises).

    Args:
        body: anything `json.dumps` takes.
    """
    print(json.dumps(body))


def metric(value: float | None, *, signed: bool = False) -> str:
    """A metric as the tables print it: three decimals, `-` when there is none.

    Args:
        value: the metric, or None when it was not measured.
        signed: show the sign, as a delta does.

    Returns:
        The text for the table cell.
    """
    if value is None:
        return "-"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
