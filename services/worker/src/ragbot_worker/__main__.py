"""`ragbot worker [--queues retrieve,generate,reply.slack,reply.teams,feedback]`: the Celery workers.

One command for every hop; a deployment runs one worker per role by choosing queues (the retrieval worker takes
`retrieve`, the generation worker `generate`, each adapter's reply worker `reply.<platform>` and `feedback`). This is
the worker's composition root: it registers the tasks of the chosen queues, finds the installed chat platforms'
senders (`ragbot.platforms` entry points), and gives each process one `ragbot.bootstrap.Context`, built from
settings on first use; collaborators load lazily, so a generation worker never loads torch.

Processes: prefork by default. On the CPU the retrieval model is loaded once, in the main process before it forks
(single-threaded there: torch's OpenMP pool does not survive a fork), so a child, the first or a replacement for
one that died, starts in about a second with the model already in its memory; it only restores its torch threads,
opens the index and embeds once (`worker_process_init`). On a GPU each child loads the model after the fork (CUDA
cannot be forked), which `worker.child_start_timeout_s` must cover. Measured in docs/BENCHMARKS.md.

Health: probe files (`ragbot_worker.probes`): ready only once every pool process is warm. Capacity: the main
process registers its warm processes and hops in Redis every few seconds (`RedisWorkers`), which the adapters'
admission divides the waiting questions by. Redis may go away: the worker reconnects for as long as it takes.
Metrics: Prometheus on `RAGBOT_WORKER__METRICS_PORT`, aggregated across the children.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ragbot.errors import InputError
from ragbot.settings import Settings

__all__ = ["ALL_QUEUES", "main", "parse_queues"]

log = logging.getLogger("ragbot.worker")

_CORE_QUEUES = ("retrieve", "generate", "feedback")
ALL_QUEUES = ("retrieve", "generate", "reply.slack", "reply.teams", "feedback")
"""Every queue of a standard installation (the reply queues of the platforms ragbot ships)."""


def parse_queues(value: str | Sequence[str] | None) -> list[str]:
    """`retrieve,generate` → ["retrieve", "generate"]; unknown names are an input error naming the known ones."""
    if value is None:
        return list(ALL_QUEUES)
    names = value.split(",") if isinstance(value, str) else list(value)
    queues = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    known = _known_queues()
    unknown = [q for q in queues if q not in known]
    if unknown or not queues:
        raise InputError(f"unknown queue(s) {', '.join(unknown) or '(none given)'}; choose from {','.join(known)}")
    return queues


def _known_queues() -> tuple[str, ...]:
    """The core queues and a reply queue per chat platform, shipped or installed."""
    from ragbot.bootstrap import platform_senders

    platforms = dict.fromkeys([q.removeprefix("reply.") for q in ALL_QUEUES if q.startswith("reply.")])
    platforms.update(dict.fromkeys(platform_senders()))
    core = [q for q in ALL_QUEUES if q in _CORE_QUEUES]
    return (*core[:2], *(f"reply.{p}" for p in platforms), *core[2:])


def main(
    settings: Settings,
    *,
    queues: Sequence[str] | None = None,
    pool: str = "prefork",
    concurrency: int | None = None,
    loglevel: str = "INFO",
    context: Callable[[], Any] | None = None,
) -> int:
    """Run a worker until it is stopped (SIGTERM: finish the current tasks, then exit). Returns its exit code.

    Args:
        settings: Redis, queue and worker settings, and whatever the tasks build their resources from.
        queues: Queues to consume (default: all).
        pool: Celery pool: prefork, threads or solo.
        concurrency: Processes or threads (default: `worker.concurrency`, 0 meaning one per CPU).
        loglevel: Celery's log level.
        context: Builds a process's `Context` (default: from settings); tests pass collaborators in this way.
    """
    from ragbot.bootstrap import Context, platform_senders

    platforms = platform_senders()
    chosen = parse_queues(queues) if queues is not None else _installed(platforms)
    # Celery logs every task's return value at INFO: ours hold questions and answers, which logs must never carry.
    logging.getLogger("celery.app.trace").setLevel(logging.WARNING)
    probe_dir = settings.worker.probe_dir or settings.data_dir / "probes"
    _multiprocess_metrics(probe_dir / "metrics", enabled=settings.worker.metrics_port > 0)

    from celery.signals import worker_process_init, worker_process_shutdown

    from ragbot.observability.tracing import configure_tracing, shutdown_tracing
    from ragbot.queue.celery_app import create_celery_app
    from ragbot.queue.tasks import ProcessContext, attach_context, register_tasks
    from ragbot_worker import probes

    if any(q == "feedback" or q.startswith("reply.") for q in chosen):
        # These write the interaction log: a key that cannot be used stops the worker now, not every reply later.
        settings.user_hash_key()
    if "generate" in chosen:
        _check_model_server(settings)
    app = create_celery_app(settings, name="ragbot-worker")
    register_tasks(app, queues=chosen, platforms=platforms)
    warm_retrieval = "retrieve" in chosen
    workers = concurrency if concurrency is not None else settings.worker.concurrency or os.cpu_count() or 1
    prefork = pool == "prefork"
    preloaded = _load_before_fork(settings) if prefork and warm_retrieval and context is None else None
    process = ProcessContext(context or (lambda: Context(settings, embedder=preloaded, platforms=platforms)))
    attach_context(app, process)
    hostname = f"ragbot-{'+'.join(chosen)}@{socket.gethostname()}"
    capacity = _Registration(settings, name=f"{hostname}:{os.getpid()}", queues=chosen)
    children = workers if prefork else 0
    probes.install(app, probe_dir, children=children, on_check=lambda warm: capacity.set(warm if prefork else workers))

    @worker_process_init.connect(weak=False)  # type: ignore[untyped-decorator]
    def _warm(**_: Any) -> None:
        # Celery kills a child that is not up within worker.child_start_timeout_s: this is all it does before.
        started = time.perf_counter()
        configure_tracing(settings.tracing, service="worker")  # per child: exporters do not survive a fork
        if preloaded is not None:
            preloaded.after_fork()
        process.get().warm(retrieval=warm_retrieval)
        probes.child_ready(probe_dir)
        log.info("pool process %d warm in %.2f s", os.getpid(), time.perf_counter() - started)

    @worker_process_shutdown.connect(weak=False)  # type: ignore[untyped-decorator]
    def _process_gone(pid: int | None = None, **_: Any) -> None:
        shutdown_tracing()
        if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]

    if settings.worker.metrics_port:
        _serve_metrics(settings, chosen)
    if not prefork:  # no children: this process answers, and traces
        configure_tracing(settings.tracing, service="worker")
        process.get().warm(retrieval=warm_retrieval)
    log.info("worker consuming %s with %s×%s", ",".join(chosen), pool, workers)
    worker = app.Worker(
        queues=chosen,
        pool_cls=pool,
        concurrency=workers,
        loglevel=loglevel,
        hostname=hostname,
        without_gossip=True,
        without_mingle=True,
        optimization="fair",
    )
    capacity.start()
    try:
        worker.start()
    finally:
        capacity.stop()
        shutdown_tracing()  # threads and solo pools trace in this process
    return int(worker.exitcode or 0)


def _load_before_fork(settings: Settings) -> Any:
    """The embedding model, loaded here for every child to inherit; None where it must load after the fork."""
    from ragbot.bootstrap import build_embedder

    started = time.perf_counter()
    embedder = build_embedder(settings)
    if not embedder.load_before_fork():
        log.info("embedding model on %s: each pool process loads its own after the fork", settings.embedding.device)
        return None
    log.info("embedding model loaded before the fork in %.2f s", time.perf_counter() - started)
    return embedder


class _Registration:
    """Registers this worker's warm processes and hops in Redis every few seconds, from a thread of its own.

    A thread, not the worker's event loop: while Redis is away each attempt waits out the client's timeouts, which
    must not hold up the loop that reconnects the consumer. Registrations expire unless renewed, so a worker that
    dies stops counting within `_TTL_S`.
    """

    _EVERY_S = 5.0
    _TTL_S = 20.0

    def __init__(self, settings: Settings, *, name: str, queues: Sequence[str]) -> None:
        self._settings, self._name = settings, name
        self._hops = sorted({q.split(".", 1)[0] for q in queues} & {"retrieve", "generate", "reply"})
        self._warm = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="capacity", daemon=True)

    def set(self, warm: int) -> None:
        self._warm = warm

    def start(self) -> None:
        if self._hops:
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _run(self) -> None:
        from ragbot.backends.redis_state import RedisWorkers
        from ragbot.bootstrap import build_redis

        registry = RedisWorkers(build_redis(self._settings.redis))
        while not self._stop.wait(self._EVERY_S):
            try:
                if self._warm:
                    registry.register(self._name, hops=self._hops, processes=self._warm, ttl_s=self._TTL_S)
            except Exception:  # Redis away: the consumer is reconnecting too; try again next time
                log.debug("capacity not registered", exc_info=True)
        try:
            registry.unregister(self._name)
        except Exception:
            log.debug("capacity not unregistered", exc_info=True)


def _installed(platforms: Mapping[str, object]) -> list[str]:
    """ "All queues": the core ones and the reply queue of every chat platform installed here."""
    found = [q for q in ALL_QUEUES if q in _CORE_QUEUES or q.removeprefix("reply.") in platforms]
    found += [f"reply.{p}" for p in platforms if f"reply.{p}" not in found]
    skipped = sorted(set(ALL_QUEUES) - set(found))
    if skipped:
        log.warning("not consuming %s: their chat services are not installed", ",".join(skipped))
    return found


def _check_model_server(settings: Settings) -> None:
    """Before serving `generate`: a misconfigured model server stops the worker; an unreachable one is only logged.

    Raises:
        ConfigurationError: An adapter is configured that the server does not serve, or the token is refused.
    """
    if not settings.tgi.url:
        return
    from ragbot.bootstrap import build_model_server, static_routing
    from ragbot.errors import RetryableError
    from ragbot.flow.generate import check_served

    try:
        info = check_served(build_model_server(settings.tgi), static_routing(settings.tgi))
    except RetryableError as err:
        log.warning("model server not reachable at start-up (%s); answers are degraded until it is", err)
        return
    log.info(
        "model server %s (%s), adapters served: %s",
        info.model_id,
        info.version or "version unknown",
        ", ".join(sorted(info.adapters)) or "none",
    )


def _multiprocess_metrics(directory: Path, *, enabled: bool) -> None:
    """prometheus_client reads this at import: children then write their samples to files the parent sums."""
    if not enabled or "prometheus_client" in sys.modules:
        return
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(directory)


def _serve_metrics(settings: Settings, queues: Sequence[str]) -> None:
    """The pool's metrics (summed over its processes) and the depth of the queues it consumes."""
    from prometheus_client import REGISTRY, CollectorRegistry, start_http_server

    from ragbot.bootstrap import build_redis
    from ragbot.observability.metrics import QueueDepthCollector

    registry = REGISTRY
    if "PROMETHEUS_MULTIPROC_DIR" in os.environ:
        from prometheus_client import multiprocess

        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    registry.register(QueueDepthCollector(build_redis(settings.redis), queues))
    start_http_server(settings.worker.metrics_port, registry=registry)


def _cli(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ragbot_worker")
    parser.add_argument("--queues")
    parser.add_argument("--pool", choices=["prefork", "threads", "solo"], default="prefork")
    parser.add_argument("--concurrency", type=int)
    args = parser.parse_args(argv)
    queues = parse_queues(args.queues) if args.queues else None
    return main(Settings(), queues=queues, pool=args.pool, concurrency=args.concurrency)


if __name__ == "__main__":
    sys.exit(_cli())
