"""The Slack adapter's HTTP server (aiohttp): Slack's events endpoint, health, readiness and metrics.

POST /slack/events   Events API, slash commands and interactivity (Bolt verifies the signature)
GET  /healthz        the process is serving
GET  /readyz         Redis answers (the adapter can queue questions); 503 otherwise
GET  /metrics        Prometheus
"""

from __future__ import annotations

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.async_app import AsyncApp

from ragbot.chat.http import add_operations_routes
from ragbot.ports import Reachable

__all__ = ["create_web_app"]


def create_web_app(bolt: AsyncApp, *, gate: Reachable) -> web.Application:
    """Mount the Bolt app and the operational endpoints on one aiohttp application."""

    async def events(request: web.Request) -> web.Response:
        bolt_request = await to_bolt_request(request)
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/slack/events", events)
    add_operations_routes(app, gate=gate)
    return app
