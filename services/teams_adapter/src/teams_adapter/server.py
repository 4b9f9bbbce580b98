"""The Teams adapter's HTTP server (aiohttp): the Bot Framework messaging endpoint, health, readiness and metrics.

POST /api/messages   activities from Teams: authenticated here, then run through the bot by `CloudAdapter`
GET  /healthz        the process is serving
GET  /readyz         Redis answers (the adapter can queue questions); 503 otherwise
GET  /metrics        Prometheus

Authentication is done here rather than inside `CloudAdapter.process`, because botbuilder 4.17.1 maps only
`PermissionError` to 401: a missing header, a forged signature, an expired token or an unknown key escape it as other
exceptions (500), and a failure of the bot's own outbound credentials during the turn comes back as a misleading 401.
Splitting the two steps gives every inbound authentication failure a 401 and every bot failure a 500.

A request is read in this order, so that a stranger's body reaches nothing but the JSON parser:

    415  not JSON by its Content-Type                    401  no bearer token
    401  the token does not vouch for the activity: validated against only `serviceUrl` and `channelId`, taken from
         the raw JSON as strings (absent, or of another type, they count as absent: the checks below refuse that)
    400  the body is not a JSON object; a field does not have its schema shape (`teams_adapter.shape`); or the
         deserialiser refuses the activity
    403  the service URL is not allowed                  then the bot; 500 if it fails

Every 4xx body is a fixed sentence; a log line names at most a field of the schema and an exception's type, never a
value from the request. A failure in the bot is logged as one line: the activity id and the exception's type (its
message and traceback could carry the caller's text).
"""

from __future__ import annotations

import json
import logging
from typing import Any

import aiohttp
from aiohttp import web
from botbuilder.core import InvokeResponse, serializer_helper
from botbuilder.integration.aiohttp import CloudAdapter
from botbuilder.schema import Activity

from ragbot.chat.http import add_operations_routes
from ragbot.ports import Reachable
from teams_adapter.config import service_url_allowed
from teams_adapter.receive import RagBot
from teams_adapter.shape import malformed_field

__all__ = ["create_web_app"]

log = logging.getLogger(__name__)

# What Bot Framework services send back with a 401; Teams does not read it, operators' tools do.
_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="ragbot"'}
_NOT_JSON = object()


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
            body: Any = json.loads(await request.read())
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested past the parser's stack
            body = _NOT_JSON
        # Only what token validation reads, as strings: the body is not deserialised before it is authenticated.
        fields = body if isinstance(body, dict) else {}
        claimed = Activity(service_url=_string(fields.get("serviceUrl")), channel_id=_string(fields.get("channelId")))
        try:
            auth = await adapter.bot_framework_authentication.authenticate_request(claimed, header)
        except PermissionError as err:  # wrong audience, issuer or service URL (PermissionError is an OSError)
            return _unauthorized(type(err).__name__)
        except (OSError, aiohttp.ClientError, TimeoutError) as err:
            # The signing keys could not be fetched: not the caller's fault, and Teams retries a 503.
            log.warning("could not validate a token: signing keys unavailable (%s)", type(err).__name__)
            return web.json_response({"error": "authentication unavailable"}, status=503)
        except Exception as err:  # forged or expired token, unknown key, endorsement mismatch: all unauthenticated
            return _unauthorized(type(err).__name__)
        if body is _NOT_JSON:
            return _bad_request("the body is not JSON")
        if not isinstance(body, dict):
            return _bad_request("the body is not an activity")
        field = malformed_field(body)
        if field is not None:
            log.info("malformed activity refused: %s", field)
            return _bad_request(f"malformed activity: {field}")
        try:
            activity = Activity().deserialize(body)
        except Exception as err:  # the deserialiser's message quotes the value: only its type is logged
            log.info("activity refused by the deserialiser (%s)", type(err).__name__)
            return _bad_request("malformed activity")
        if not service_url_allowed(str(activity.service_url or ""), allowed_service_urls):
            log.warning("activity from a service URL outside the allowlist refused", extra={"activity_id": activity.id})
            return web.json_response({"error": "service URL not allowed"}, status=403)
        try:
            return _turn_response(await adapter.process_activity(auth, activity, bot.on_turn))
        except Exception as err:  # its message and traceback may quote the activity: the type only
            log.error("the bot failed on activity %s (%s)", activity.id, type(err).__name__)
            return web.json_response({"error": "internal error"}, status=500)

    # Teams caps a message at ~28 KB; a generous 1 MiB leaves room for invokes with card payloads.
    app = web.Application(client_max_size=1024**2)
    app.router.add_post("/api/messages", messages)
    add_operations_routes(app, gate=gate)
    return app


def _turn_response(invoke: InvokeResponse | None) -> web.Response:
    """201 for a turn with nothing to answer; an invoke's (or expectReplies') status and body otherwise."""
    if not invoke:
        return web.Response(status=201)
    body = invoke.body
    # An invoke's body is an msrest model; the replies of an expectReplies turn arrive already serialised.
    data = body if body is None or isinstance(body, dict | list) else serializer_helper(body)
    return web.json_response(data=data, status=int(invoke.status))


def _string(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _bad_request(message: str) -> web.Response:
    return web.json_response({"error": message}, status=400)


def _unauthorized(reason: str) -> web.Response:
    log.info("unauthenticated request refused: %s", reason)
    return web.json_response({"error": "unauthorized"}, status=401, headers=_CHALLENGE)
