"""Kubernetes probes for Celery workers, which serve no HTTP: files whose presence and age tell the kubelet.

    ready       present while the worker consumes AND every pool process it should have is warm (has loaded what
                its first question needs); removed while one is missing, e.g. a killed child's replacement is
                still warming, and when the worker shuts down                        (readinessProbe)
    alive       touched every 15 s by a timer inside the worker's event loop          (livenessProbe: fresher than 60 s)
    children/   one file per warm pool process, named by its pid, written by the process itself (`child_ready`)

`python -m ragbot_worker.probes ready|alive [--dir DIR] [--max-age S]` exits 0 when healthy, 1 otherwise, so an
exec probe needs no shell and no Celery import.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from celery import Celery, bootsteps
from celery.signals import worker_ready, worker_shutdown

__all__ = ["ALIVE", "CHILDREN", "READY", "check", "child_ready", "install"]

READY = "ready"
ALIVE = "alive"
CHILDREN = "children"
HEARTBEAT_S = 15.0
CHECK_S = 1.0


def child_ready(directory: Path) -> None:
    """Called by a pool process once it is warm: from now on it can answer."""
    marks = directory / CHILDREN
    marks.mkdir(parents=True, exist_ok=True)
    (marks / str(os.getpid())).touch()


def install(app: Celery, directory: Path, *, children: int, on_check: Callable[[int], None] | None = None) -> None:
    """Wire the probe files into `app`'s worker lifecycle.

    Args:
        app: The worker's Celery app.
        directory: Where the probe files live.
        children: Pool processes that must be warm before the worker is ready (0: a pool without children, which
            is warm before it starts consuming).
        on_check: Called every second, once the worker consumes, with the number of warm processes.
    """
    directory.mkdir(parents=True, exist_ok=True)
    ready, alive, marks = directory / READY, directory / ALIVE, directory / CHILDREN
    for stale in (ready, alive):
        stale.unlink(missing_ok=True)
    shutil.rmtree(marks, ignore_errors=True)
    marks.mkdir()
    consuming = False

    @worker_ready.connect(weak=False)  # type: ignore[untyped-decorator]
    def _consuming(**_: Any) -> None:
        nonlocal consuming
        consuming = True
        alive.touch()

    @worker_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _gone(**_: Any) -> None:
        nonlocal consuming
        consuming = False
        ready.unlink(missing_ok=True)
        alive.unlink(missing_ok=True)

    def check(worker: Any) -> None:
        if not consuming:
            return
        warm = _warm_children(worker, marks) if children else 1
        if warm >= max(children, 1):
            if not ready.exists():
                ready.touch()
        else:
            ready.unlink(missing_ok=True)
        if on_check is not None:
            on_check(warm)

    class Heartbeat(bootsteps.StartStopStep):  # type: ignore[misc]
        requires = {"celery.worker.components:Timer"}

        def __init__(self, worker: Any, **kwargs: Any) -> None:
            super().__init__(worker, **kwargs)
            self.trefs: list[Any] = []

        def start(self, worker: Any) -> None:
            self.trefs = [
                worker.timer.call_repeatedly(HEARTBEAT_S, alive.touch, priority=10),
                worker.timer.call_repeatedly(CHECK_S, check, (worker,), priority=10),
            ]

        def stop(self, worker: Any) -> None:
            for tref in self.trefs:
                tref.cancel()
            self.trefs = []

    app.steps["worker"].add(Heartbeat)


def _warm_children(worker: Any, marks: Path) -> int:
    """Pool processes alive now that said they are warm; marks of processes gone are removed."""
    try:
        live = {int(pid) for pid in worker.pool.info.get("processes", ())}
    except Exception:  # the pool is starting or stopping
        return 0
    warm = 0
    for mark in marks.iterdir():
        if not mark.name.isdigit():
            continue
        if int(mark.name) in live:
            warm += 1
        else:
            with contextlib.suppress(FileNotFoundError):
                mark.unlink()
    return warm


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
