"""Processes for end-to-end tests: real Celery workers and real adapter services, as subprocesses.

Each runs the same entry points an operator runs (`ragbot serve …`, the worker entry point), configured only by
RAGBOT_* environment variables, against the real Redis and local servers standing in for Slack, Teams and TGI.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from tests.conftest import REPO

__all__ = ["Service", "WorkerProcess", "base_env"]


def base_env(*, data_dir: Path, redis_url: str, **settings: str) -> dict[str, str]:
    """The environment of a ragbot process: this interpreter's, minus any RAGBOT_* from outside, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    env.update(
        {
            "RAGBOT_DATA_DIR": str(data_dir),
            "RAGBOT_REDIS__URL": redis_url,
            "RAGBOT_WORKER__METRICS_PORT": "0",
            "PYTHONPATH": str(REPO),
            "HF_HUB_OFFLINE": "1",
        }
    )
    env.update(settings)
    return env


class _Process:
    def __init__(self, argv: list[str], env: Mapping[str, str], log_path: Path) -> None:
        self.log_path = log_path
        self._log = log_path.open("wb")
        self.proc = subprocess.Popen(argv, env=dict(env), cwd=REPO, stdout=self._log, stderr=subprocess.STDOUT)

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, *, sig: int = signal.SIGTERM, timeout: float = 20.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
        return self.proc.returncode

    def __enter__(self) -> _Process:
        return self

    def __exit__(self, *_: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.stop()

    def _fail(self, what: str) -> AssertionError:
        return AssertionError(f"{what}; its log:\n{self.log_text()[-4000:]}")


class WorkerProcess(_Process):
    """A Celery worker (prefork) consuming `queues`; started and ready (probe file) when constructed.

    By default the test worker (tests/e2e/worker_process.py: the hashing embedder, optionally slowed down);
    `entry_point=True` runs `ragbot worker` itself, with the embedding model from settings.
    """

    def __init__(
        self,
        *,
        env: Mapping[str, str],
        queues: str,
        log_path: Path,
        embed_delay_s: float = 0.0,
        concurrency: int = 1,
        timeout: float = 60.0,
        entry_point: bool = False,
    ) -> None:
        options = ["--queues", queues, "--concurrency", str(concurrency)]
        if entry_point:
            argv = [sys.executable, "-m", "ragbot.cli", "worker", *options]
        else:
            argv = [sys.executable, "-m", "tests.e2e.worker_process", *options, "--embed-delay", str(embed_delay_s)]
        super().__init__(argv, env, log_path)
        self.probe_dir = Path(env["RAGBOT_DATA_DIR"]) / "probes"
        deadline = time.monotonic() + timeout
        while not (self.probe_dir / "ready").exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise self._fail("the worker did not become ready")
            time.sleep(0.1)

    def children(self) -> list[int]:
        """Pids of the pool's child processes."""
        out = subprocess.run(
            ["ps", "-o", "pid=", "--ppid", str(self.proc.pid)], capture_output=True, text=True, check=False
        ).stdout
        return [int(pid) for pid in out.split()]


class Service(_Process):
    """`ragbot serve PLATFORM --port 0`; `url` is where it listens once its start-up line is logged."""

    def __init__(self, platform: str, *, env: Mapping[str, str], log_path: Path, timeout: float = 30.0) -> None:
        argv = [sys.executable, "-m", "ragbot.cli", "serve", platform, "--host", "127.0.0.1", "--port", "0"]
        super().__init__(argv, env, log_path)
        deadline = time.monotonic() + timeout
        self.url = ""
        while not self.url:
            for line in self.log_text().splitlines():
                try:
                    record = json.loads(line)
                except ValueError:
                    continue
                if "listening on" in str(record.get("msg")):
                    self.url = "http://" + str(record["msg"]).split("listening on ")[1].split()[0]
            if self.url:
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise self._fail(f"the {platform} service did not start")
            time.sleep(0.1)
