"""The Teams adapter's HTTP server (aiohttp): the Bot Framework messaging endpoint, health, readiness and metrics.

POST /api/messages   activities from Teams: authenticated here, then run through the bot by `CloudAdapter`
GET  /healthz        the process is serving
GET  /readyz         Redis answers (the adapter can queue questions); 503 otherwise
GET  /metrics        Prometheus

Authentication is done here rather than inside `CloudAdapter.process`, because botbuilder 4.17.1 maps only
`PermissionError` to 401: a missing header, a forged signature, an expired token or an unknown key escape it as other
exceptions (500), and a failure of the bot's own outbound credentials during the turn comes back as a misleading 401.
Splitting the two steps gives every inbound authentication failure a 401 and every bot failure a 500.
"""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.core import serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from ragbot.chat.http import add_operations_routes
from ragbot.ports import Reachable
from teams_adapter.config import service_url_allowed
from teams_adapter.receive import RagBot

__all__ = ["create_web_app"]

log = logging.getLogger(__name__)

# What Bot Framework services send back with a 401; Teams does not read it, operators' tools do.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ragbot"'}


def create_web_app(
    *, adapter: CloudAdapter, bot: RagBot, gate: Reachable, allowed_service_urls: tuple[str, ...] = ()
) -> web.Application:
    """The messaging endpoint and the operational endpoints on one aiohttp application.

    Args:
        adapter: The CloudAdapter (its `bot_framework_authentication` validates inbound tokens).
        bot: The bot that handles authenticated activities.
        gate: Redis, for the readiness check.
        allowed_service_urls: Service URLs the bot may answer (empty: any https URL); see `service_url_allowed`.
    """

    async def messages(request: web.Request) -> web.Response:
        if "application/json" not in request.headers.get("Content-Type", ""):
            return web.json_response({"error": "expected application/json"}, status=415)
        header = request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return _unauthorized("no bearer token")
        try:
            body: Any = await request.json()
        except ValueError:
            return web.json_response({"error": "the body is not JSON"}, status=400)
        if not isinstance(body, dict):
            return web.json_response({"error": "the body is not an activity"}, status=400)
        activity = Activity().deserialize(body)
        if not activity.type:
            return web.json_response({"error": "the activity has no type"}, status=400)
        try:
            auth = await adapter.bot_framework_authentication.authenticate_request(activity, header)
        except PermissionError as err:  # wrong audience, issuer or service URL (PermissionError is an OSError)
            return _unauthorized(type(err).__name__)
        except (OSError, aiohttp.ClientError, TimeoutError) as err:
            # The signing keys could not be fetched: not the caller's fault, and Teams retries a 503.
            log.warning("could not validate a token: signing keys unavailable (%s)", type(err).__name__)
            return web.json_response({"error": "authentication unavailable"}, status=503)
        except Exception as err:  # forged or expired token, unknown key, endorsement mismatch: all unauthenticated
            return _unauthorized(type(err).__name__)
        if not service_url_allowed(str(activity.service_url or ""), allowed_service_urls):
            log.warning("activity from a service URL outside the allowlist refused", extra={"activity_id": activity.id})
            return web.json_response({"error": "service URL not allowed"}, status=403)
        try:
            invoke = await adapter.process_activity(auth, activity, bot.on_turn)
        except Exception:
            log.exception("the bot failed on an activity", extra={"activity_id": activity.id})
            return web.json_response({"error": "internal error"}, status=500)
        if invoke:
            return web.json_response(data=serializer_helper(invoke.body), status=int(invoke.status))
        return web.Response(status=201)

    # Teams caps a message at ~28 KB; a generous 1 MiB leaves room for invokes with card payloads.
    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/api/messages", messages)
    add_operations_routes(app, gate=gate)
    return app


def _unauthorized(reason: str) -> web.Response:
    log.info("unauthenticated request refused: %s", reason)
    return web.json_response({"error": "unauthorized"}, status=401, headers=_CHALLENGE)
