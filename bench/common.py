"""What the benchmark scripts share: the machine line, percentiles, results files, fakes in their own process."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
OUT = REPO / "bench" / "out"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def results_header(script: str, argv: Sequence[str] | None) -> dict[str, Any]:
    """machine, date and the exact command, the first keys of every results file."""
    return {
        "machine": machine(),
        "date": datetime.now(UTC).date().isoformat(),
        "command": " ".join([f"python bench/{script}", *(argv if argv is not None else sys.argv[1:])]),
    }


def save(prefix: str, results: dict[str, Any]) -> Path:
    """bench/out/<prefix>-<UTC timestamp>.json"""
    OUT.mkdir(exist_ok=True)
    path = OUT / f"{prefix}-{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}.json"
    path.write_text(json.dumps(results, indent=2))
    return path


@contextmanager
def fake_in_process(code: str, *args: str) -> Iterator[str]:
    """Run `code` (which starts a fake and prints its URL, then waits on stdin) in its own interpreter."""
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args], cwd=REPO, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdin is not None
    try:
        yield proc.stdout.readline().strip()
    finally:
        proc.stdin.close()
        proc.wait(10)
