"""`ragbot serve slack`: settings → clients → the Bolt app on aiohttp (HTTP mode) or over Socket Mode.

HTTP mode serves Slack's Events API at /slack/events, verified with `RAGBOT_SLACK__SIGNING_SECRET`. With
`RAGBOT_SLACK__APP_TOKEN` set, events arrive over Socket Mode instead (no public endpoint needed); the HTTP
server still runs for /healthz, /readyz and /metrics, and /slack/events answers 401 unless a signing secret is set.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from typing import Any

from aiohttp import web
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from ragbot.access.directory import PrincipalsDirectory
from ragbot.backends.redis_state import RedisAdmission
from ragbot.bootstrap import build_async_redis, build_directory
from ragbot.chat.http import serve_until_signalled
from ragbot.errors import ConfigurationError
from ragbot.flow.receive import AdmissionPolicy
from ragbot.observability.tracing import configure_tracing, shutdown_tracing
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.producer import intake_for
from ragbot.queue.timing import load_policy
from ragbot.settings import Settings
from slack_adapter.access import SlackAccess
from slack_adapter.receive import build_app
from slack_adapter.server import SocketModeEnvelopes, create_web_app

__all__ = ["build_service", "main"]

log = logging.getLogger("slack_adapter")


def build_service(settings: Settings) -> tuple[web.Application, RedisAdmission, object]:
    """Everything the adapter needs, from settings: (aiohttp app, Redis gate, Bolt app)."""
    slack = settings.slack
    if slack.bot_token is None:
        raise ConfigurationError("set RAGBOT_SLACK__BOT_TOKEN (the bot's xoxb- token)")
    if slack.signing_secret is None and slack.app_token is None:
        raise ConfigurationError(
            "set RAGBOT_SLACK__SIGNING_SECRET (HTTP Events API) or RAGBOT_SLACK__APP_TOKEN (Socket Mode)"
        )
    # Slack's 429s (chat.postMessage allows about one message a second per channel) are waited out, as its
    # Retry-After says; a dropped connection is retried once more. Anything else reaches the listener.
    client = AsyncWebClient(
        token=slack.bot_token.get_secret_value(),
        base_url=slack.api_url,
        timeout=10,
        retry_handlers=[
            AsyncConnectionErrorRetryHandler(max_retry_count=2),
            AsyncRateLimitErrorRetryHandler(max_retry_count=2),
        ],
    )
    gate = RedisAdmission(build_async_redis(settings.redis))
    celery = create_celery_app(settings, name="ragbot-slack")

    access = SlackAccess(
        client=client,
        cache=gate,
        directory=build_directory(settings) or PrincipalsDirectory({}),
        settings=slack,
    )
    bolt = build_app(
        settings=slack,
        policy=AdmissionPolicy(
            dedupe_ttl_s=slack.dedupe_ttl_s,
            user_per_minute=settings.limits.user_per_minute,
            place_per_minute=settings.limits.channel_per_minute,
            load=load_policy(settings, backlog=gate),
        ),
        client=client,
        gate=gate,
        limiter=gate,
        access=access,
        intake=intake_for(celery, expires_s=settings.queue.expires_s),
    )
    secret = slack.signing_secret.get_secret_value() if slack.signing_secret else None
    return create_web_app(bolt, gate=gate, signing_secret=secret), gate, bolt


def main(settings: Settings, *, host: str = "0.0.0.0", port: int = 3000) -> int:  # noqa: S104 - a container's port
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    configure_tracing(settings.tracing, service="slack")
    web_app, gate, bolt = build_service(settings)
    asyncio.run(_serve(web_app, gate, bolt, settings=settings, host=host, port=port))
    shutdown_tracing()
    return 0


async def _serve(
    web_app: web.Application, gate: RedisAdmission, bolt: object, *, settings: Settings, host: str, port: int
) -> None:
    socket_handler: Any = None
    app_token = settings.slack.app_token

    async def connect_socket_mode() -> None:
        nonlocal socket_handler
        if app_token is not None:
            socket_handler = SocketModeEnvelopes(bolt, app_token.get_secret_value())  # type: ignore[arg-type]
            await socket_handler.connect_async()

    async def close_socket_mode() -> None:
        if socket_handler is not None:
            await socket_handler.close_async()

    socket_mode = app_token is not None
    await serve_until_signalled(
        web_app,
        name="slack adapter",
        host=host,
        port=port,
        mode="socket mode" if socket_mode else "http",
        on_started=connect_socket_mode if socket_mode else None,
        on_stopping=(close_socket_mode, gate.close),
    )


if __name__ == "__main__":
    from ragbot.observability.logs import configure_logging

    configure_logging()
    sys.exit(main(Settings()))
