"""`ragbot serve teams`: settings → clients → the bot behind aiohttp's /api/messages.

Teams (through the Bot Framework channel) posts activities to /api/messages with a bearer token that is validated
against the channel's published keys; replies reach Teams through the Bot Connector with the bot's own token from
Microsoft Entra ID. Answers are sent later by the `reply.teams` worker, from the conversation reference stored in
each question.
"""

from __future__ import annotations

import asyncio
import logging
import sys

from aiohttp import web
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication

from ragbot.access.directory import PrincipalsDirectory
from ragbot.backends.redis_state import RedisAdmission
from ragbot.bootstrap import build_async_redis, build_directory
from ragbot.chat.http import serve_until_signalled
from ragbot.flow.receive import AdmissionPolicy
from ragbot.observability.tracing import configure_tracing, shutdown_tracing
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.producer import intake_for
from ragbot.queue.timing import load_policy
from ragbot.settings import Settings
from teams_adapter.config import sdk_config
from teams_adapter.receive import RagBot
from teams_adapter.server import create_web_app

__all__ = ["build_service", "main"]

log = logging.getLogger("teams_adapter")


def build_service(settings: Settings) -> tuple[web.Application, RedisAdmission]:
    """Everything the adapter needs, from settings: (aiohttp app, Redis gate).

    Raises:
        ConfigurationError: The bot's app id or password is missing.
    """
    teams = settings.teams
    config = sdk_config(teams)
    client = build_async_redis(settings.redis)
    gate = RedisAdmission(client)
    celery = create_celery_app(settings, name="ragbot-teams")

    bot = RagBot(
        gate=gate,
        limiter=gate,
        cache=gate,
        policy=AdmissionPolicy(
            dedupe_ttl_s=teams.dedupe_ttl_s,
            user_per_minute=settings.limits.user_per_minute,
            place_per_minute=settings.limits.channel_per_minute,
            load=load_policy(settings, backlog=gate),
        ),
        answers=client,
        directory=build_directory(settings) or PrincipalsDirectory({}),
        intake=intake_for(celery, expires_s=settings.queue.expires_s),
        tenant_id=teams.tenant_id if teams.app_type != "MultiTenant" else None,
    )
    adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))
    web_app = create_web_app(adapter=adapter, bot=bot, gate=gate, allowed_service_urls=teams.allowed_service_urls)
    return web_app, gate


def main(settings: Settings, *, host: str = "0.0.0.0", port: int = 3978) -> int:  # noqa: S104 - a container's port
    """Serve until SIGTERM or SIGINT; returns the exit code."""
    configure_tracing(settings.tracing, service="teams")
    web_app, gate = build_service(settings)
    asyncio.run(_serve(web_app, gate, host=host, port=port))
    shutdown_tracing()
    return 0


async def _serve(web_app: web.Application, gate: RedisAdmission, *, host: str, port: int) -> None:
    await serve_until_signalled(web_app, name="teams adapter", host=host, port=port, on_stopping=(gate.close,))


if __name__ == "__main__":
    from ragbot.observability.logs import configure_logging

    configure_logging()
    sys.exit(main(Settings()))
