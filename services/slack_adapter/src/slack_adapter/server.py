"""The Slack adapter's HTTP server (aiohttp): Slack's events endpoint, health, readiness and metrics.

POST /slack/events   Events API, slash commands and interactivity (Bolt verifies the signature)
GET  /healthz        the process is serving
GET  /readyz         Redis answers (the adapter can queue questions); 503 otherwise
GET  /metrics        Prometheus
"""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from ragbot.coordination import AdmissionGate

__all__ = ["create_web_app"]

log = logging.getLogger(__name__)


def create_web_app(bolt: AsyncApp, *, gate: AdmissionGate) -> web.Application:
    """Mount the Bolt app and the operational endpoints on one aiohttp application."""

    async def events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

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

    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/slack/events", events)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", prometheus)
    return app
