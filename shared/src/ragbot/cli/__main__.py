"""`python -m ragbot.cli`: the same command line as the `ragbot` console script (the end-to-end harness uses it)."""

from __future__ import annotations

from ragbot.cli import main

__all__: list[str] = []

if __name__ == "__main__":
    raise SystemExit(main())
