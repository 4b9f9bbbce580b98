"""`ragbot serve teams`: settings → clients → the bot behind aiohttp's /api/messages.

Teams (through the Bot Framework channel) posts activities to /api/messages with a bearer token that is validated
against the channel's published keys; replies reach Teams through the Bot Connector with the bot's own token from
Microsoft Entra ID. Answers are sent later by the `reply.teams` worker, from the conversation reference stored in
each question.
"""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from functools import partial

import redis.asyncio
from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from ragbot.bootstrap import build_directory
from ragbot.coordination import AdmissionGate
from ragbot.directory import PrincipalsDirectory
from ragbot.flow.enqueue import submit
from ragbot.models import Feedback
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.names import Queue, TaskName
from ragbot.settings import Settings
from teams_adapter.config import sdk_config
from teams_adapter.receive import Intake, RagBot
from teams_adapter.server import create_web_app

__all__ = ["build_service", "main"]

log = logging.getLogger("teams_adapter")


def build_service(settings: Settings) -> tuple[web.Application, AdmissionGate]:
    """Everything the adapter needs, from settings: (aiohttp app, Redis gate).

    Raises:
        ConfigurationError: The bot's app id or password is missing.
    """
    teams = settings.teams
    config = sdk_config(teams)
    client = redis.asyncio.Redis.from_url(
        settings.redis.url,
        socket_timeout=settings.redis.socket_timeout_s,
        socket_connect_timeout=settings.redis.connect_timeout_s,
    )
    gate = AdmissionGate(client)
    celery = create_celery_app(settings, name="ragbot-teams")
    expires = settings.queue.expires_s

    def feedback(item: Feedback) -> None:
        celery.send_task(
            str(TaskName.FEEDBACK), args=(item.model_dump(mode="json"),), queue=str(Queue.FEEDBACK), expires=86_400
        )

    bot = RagBot(
        gate=gate,
        answers=client,
        directory=build_directory(settings) or PrincipalsDirectory({}),
        limits=settings.limits,
        intake=Intake(submit=partial(submit, celery=celery, expires_s=expires), feedback=feedback),
        tenant_id=teams.tenant_id if teams.app_type != "MultiTenant" else None,
    )
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    web_app = create_web_app(adapter=adapter, bot=bot, gate=gate, allowed_service_urls=teams.allowed_service_urls)
    return web_app, gate


def main(settings: Settings, *, host: str = "0.0.0.0", port: int = 3978) -> int:  # noqa: S104 - a container's port
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    web_app, gate = build_service(settings)
    asyncio.run(_serve(web_app, gate, host=host, port=port))
    return 0


async def _serve(web_app: web.Application, gate: AdmissionGate, *, host: str, port: int) -> None:
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    bound = runner.addresses[0][1] if runner.addresses else port
    log.info("teams adapter listening on %s:%s", host, bound)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    log.info("teams adapter stopping")
    await runner.cleanup()
    await gate.close()


if __name__ == "__main__":
    from ragbot.logs import configure_logging

    configure_logging()
    sys.exit(main(Settings()))
