"""`ragbot serve slack`: settings → clients → the Bolt app on aiohttp (HTTP mode) or over Socket Mode.

HTTP mode serves Slack's Events API at /slack/events, verified with `RAGBOT_SLACK__SIGNING_SECRET`. With
`RAGBOT_SLACK__APP_TOKEN` set, events arrive over Socket Mode instead (no public endpoint needed); the HTTP
server still runs for /healthz, /readyz and /metrics.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from functools import partial

import redis.asyncio
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from ragbot.bootstrap import build_directory
from ragbot.coordination import AdmissionGate
from ragbot.directory import PrincipalsDirectory
from ragbot.errors import ConfigurationError
from ragbot.flow.enqueue import submit
from ragbot.models import Feedback
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.names import Queue, TaskName
from ragbot.settings import Settings
from slack_adapter.access import SlackAccess
from slack_adapter.receive import Intake, build_app
from slack_adapter.server import create_web_app

__all__ = ["build_service", "main"]

log = logging.getLogger("slack_adapter")


def build_service(settings: Settings) -> tuple[web.Application, AdmissionGate, object]:
    """Everything the adapter needs, from settings: (aiohttp app, Redis gate, Bolt app)."""
    slack = settings.slack
    if slack.bot_token is None:
        raise ConfigurationError("set RAGBOT_SLACK__BOT_TOKEN (the bot's xoxb- token)")
    if slack.signing_secret is None and slack.app_token is None:
        raise ConfigurationError(
            "set RAGBOT_SLACK__SIGNING_SECRET (HTTP Events API) or RAGBOT_SLACK__APP_TOKEN (Socket Mode)"
        )
    client = AsyncWebClient(token=slack.bot_token.get_secret_value(), base_url=slack.api_url, timeout=10)
    gate = AdmissionGate(
        redis.asyncio.Redis.from_url(
            settings.redis.url,
            socket_timeout=settings.redis.socket_timeout_s,
            socket_connect_timeout=settings.redis.connect_timeout_s,
        )
    )
    celery = create_celery_app(settings, name="ragbot-slack")
    expires = settings.queue.expires_s

    def feedback(item: Feedback) -> None:
        celery.send_task(
            str(TaskName.FEEDBACK), args=(item.model_dump(mode="json"),), queue=str(Queue.FEEDBACK), expires=86_400
        )

    access = SlackAccess(
        client=client,
        gate=gate,
        directory=build_directory(settings) or PrincipalsDirectory({}),
        settings=slack,
    )
    bolt = build_app(
        settings=slack,
        limits=settings.limits,
        client=client,
        gate=gate,
        access=access,
        intake=Intake(submit=partial(submit, celery=celery, expires_s=expires), feedback=feedback),
        socket_mode=slack.app_token is not None,
    )
    return create_web_app(bolt, gate=gate), gate, bolt


def main(settings: Settings, *, host: str = "0.0.0.0", port: int = 3000) -> int:  # noqa: S104 - a container's port
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    web_app, gate, bolt = build_service(settings)
    asyncio.run(_serve(web_app, gate, bolt, settings=settings, host=host, port=port))
    return 0


async def _serve(
    web_app: web.Application, gate: AdmissionGate, bolt: object, *, settings: Settings, host: str, port: int
) -> None:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    mode = "socket mode" if settings.slack.app_token else "http"
    log.info("slack adapter listening on %s:%s (%s)", host, bound, mode)
    socket_handler = None
    if settings.slack.app_token is not None:
        from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler

        socket_handler = AsyncSocketModeHandler(bolt, settings.slack.app_token.get_secret_value())  # type: ignore[arg-type]
        await socket_handler.connect_async()  # type: ignore[no-untyped-call]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("slack adapter stopping")
    if socket_handler is not None:
        with contextlib.suppress(Exception):
            await socket_handler.close_async()  # type: ignore[no-untyped-call]
    await runner.cleanup()
    await gate.close()


if __name__ == "__main__":
    from ragbot.logs import configure_logging

    configure_logging()
    sys.exit(main(Settings()))
