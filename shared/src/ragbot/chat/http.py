"""What every chat adapter's HTTP server has besides its platform endpoint, and how it runs until stopped.

    GET /healthz   the process is serving                                    (livenessProbe)
    GET /readyz    Redis answers, so questions can be queued; 503 otherwise  (readinessProbe)
    GET /metrics   Prometheus

Needs aiohttp, which both adapters' extras install.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from ragbot.ports import Reachable

__all__ = ["add_operations_routes", "serve_until_signalled"]

log = logging.getLogger(__name__)


def add_operations_routes(app: web.Application, *, gate: Reachable) -> None:
    """Mount /healthz, /readyz and /metrics on `app`."""

    async def healthz(_: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    async def readyz(_: web.Request) -> web.Response:
        try:
            await gate.ping()
        except Exception as err:  # any failure to reach Redis means: do not route questions here
            return web.json_response({"status": "unavailable", "redis": type(err).__name__}, status=503)
        return web.json_response({"status": "ready"})

    async def prometheus(_: web.Request) -> web.Response:
        return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})

    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)


async def serve_until_signalled(
    web_app: web.Application,
    *,
    name: str,
    host: str,
    port: int,
    mode: str = "http",
    on_started: Callable[[], Awaitable[None]] | None = None,
    on_stopping: Sequence[Callable[[], Awaitable[None]]] = (),
) -> None:
    """Serve `web_app` until SIGTERM or SIGINT, then stop listening and run the clean-ups in order.

    Logs "<name> listening on HOST:PORT (<mode>)" once bound (port 0 shows the port chosen), which operators and
    the end-to-end tests read.
    """
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("%s listening on %s:%s (%s)", name, host, bound, mode)
    if on_started is not None:
        await on_started()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("%s stopping", name)
    await runner.cleanup()
    for clean_up in on_stopping:
        try:
            await clean_up()
        except Exception:  # a failing clean-up must not keep the rest from running
            log.warning("clean-up failed while stopping", exc_info=True)
