"""Kubernetes probes for Celery workers, which serve no HTTP: files whose presence and age tell the kubelet.

    ready   written when the worker is consuming, removed when it shuts down      (readinessProbe)
    alive   touched every 15 s by a timer inside the worker's event loop          (livenessProbe: fresher than 60 s)

`python -m ragbot_worker.probes ready|alive [--dir DIR] [--max-age S]` exits 0 when healthy, 1 otherwise, so an
exec probe needs no shell and no Celery import.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutdown

__all__ = ["ALIVE", "READY", "check", "install"]

READY = "ready"
ALIVE = "alive"
HEARTBEAT_S = 15.0


def install(app: Celery, directory: Path) -> None:
    """Wire the probe files into `app`'s worker lifecycle."""
    directory.mkdir(parents=True, exist_ok=True)
    ready, alive = directory / READY, directory / ALIVE
    for stale in (ready, alive):
        stale.unlink(missing_ok=True)

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _ready(**_: Any) -> None:
        alive.touch()
        ready.touch()

    @worker_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _gone(**_: Any) -> None:
        ready.unlink(missing_ok=True)
        alive.unlink(missing_ok=True)

    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.tref: Any = None

        def start(self, worker: Any) -> None:
            self.tref = worker.timer.call_repeatedly(HEARTBEAT_S, alive.touch, priority=10)

        def stop(self, worker: Any) -> None:
            if self.tref is not None:
                self.tref.cancel()
                self.tref = None

    app.steps["worker"].add(Heartbeat)


def check(directory: Path, kind: str, *, max_age_s: float = 60.0) -> bool:
    path = directory / (READY if kind == READY else ALIVE)
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    return kind == READY or age <= max_age_s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragbot_worker.probes")
    parser.add_argument("kind", choices=[READY, ALIVE])
    parser.add_argument("--dir", type=Path, default=Path(".ragbot/probes"), help="the worker's probe directory")
    parser.add_argument("--max-age", type=float, default=60.0, help="seconds the alive file may be old")
    args = parser.parse_args(argv)
    healthy = check(args.dir, args.kind, max_age_s=args.max_age)
    if not healthy:
        print(f"worker not {args.kind}: no fresh {args.dir / args.kind}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main())
