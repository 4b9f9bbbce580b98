"""What every `ragbot` command shares on the way in: the parser class, the flag value types and the settings.

A usage error is one line (DESIGN §8), so every sub-parser is a `Parser`. The value types refuse a bad flag while
parsing, before a model loads or anything is written.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, NoReturn, TypeAlias, TypeVar

from ragbot.cli.output import EXIT_USAGE

if TYPE_CHECKING:
    from datetime import datetime

    from ragbot.settings import Settings

__all__ = [
    "Commands",
    "Parser",
    "count",
    "date",
    "fraction",
    "load_settings",
    "port",
    "positive_float",
    "positive_int",
    "with_settings",
]


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (the contract), not a usage dump."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"ragbot: error: {message} (see '{self.prog} --help')\n")


# What `register(commands)` receives: `add_subparsers()`'s action, whose `add_parser` makes a `Parser`.
Commands: TypeAlias = "argparse._SubParsersAction[Parser]"


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


port = _number(int, lambda n: 0 <= n <= 65_535, "must be between 0 (any free port) and 65535", kind="port number")
positive_int = _number(int, lambda n: n >= 1, "must be at least 1", kind="whole number")
count = _number(int, lambda n: n >= 0, "must be 0 or more", kind="whole number")
fraction = _number(float, lambda n: 0 <= n <= 1, "must be between 0 and 1")
positive_float = _number(float, lambda n: n > 0, "must be more than 0")


def date(value: str) -> datetime:
    """An argparse type: a `YYYY-MM-DD` date, as midnight UTC.

    Args:
        value: the flag's value.

    Returns:
        The date's first moment, in UTC.

    Raises:
        argparse.ArgumentTypeError: `value` is not such a date.
    """
    from datetime import UTC, datetime

    try:
        return datetime.strptime(value, "%Y-%m-%d").replace(tzinfo=UTC)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a date like 2026-11-01") from None


def load_settings() -> Settings:
    """The settings from the environment, read when a command runs (so `--help` never needs them).

    Returns:
        The validated settings.

    Raises:
        pydantic.ValidationError: a setting is invalid; the command line prints it as one line.
    """
    from ragbot.settings import Settings

    return Settings()


def with_settings(step: Callable[[argparse.Namespace, Settings], int]) -> Callable[[argparse.Namespace], int]:
    """A handler that runs `step` with the settings read when it is called (as the `finetune` steps take them).

    Args:
        step: (parsed arguments, settings) → exit code.

    Returns:
        The handler a sub-parser sets.
    """

    def handler(args: argparse.Namespace) -> int:
        return step(args, load_settings())

    return handler
