"""The Slack app: listeners that turn mentions, DMs, `/ask` and feedback clicks into queued work.

`server.py` verifies every HTTP request's signature and checks its body before Bolt sees it (Socket Mode envelopes get
the same check); Bolt acknowledges events before the listener runs (well within Slack's 3 seconds), acknowledges
what no listener handles, and drops the bot's own messages. On top of that, in this order:

    filter       other bots, edits and system messages are ignored
    admit        `ragbot.flow.receive.admit`: dedupe by event_id, the channel allowlist, empty and over-long
                 questions, per-user and per-channel rate limits (the same admission as every platform)
    access       who may read what (the asker's principals, or the channel's); if Slack cannot tell us, we say so
    progress     a placeholder message in the thread, which the reply hop later replaces with the answer; if Slack
                 will not take it, the question goes on and the answer is posted in the thread instead
    enqueue      retrieve → generate → reply.slack; if the queue is unreachable the asker is told at once

Once an event is acknowledged Slack never sends it again, so after the ack every path ends in the queue or in a
message to the asker; none ends in silence.
Listeners only translate and submit; answering happens in the workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ragbot import texts
from ragbot.errors import RetryableError
from ragbot.flow.receive import Admission, AdmissionPolicy, Arrival, IntakeResult, admit, count
from ragbot.models import ConversationRef, Feedback, Question
from ragbot.observability import metrics
from ragbot.ports import DeliveryGate, RateLimiter
from ragbot.queue.producer import Intake
from ragbot.settings import SlackSettings
from slack_adapter.access import SlackAccess
from slack_adapter.server import bolt_logger, on_bolt_error
from slack_adapter.translate import FEEDBACK_DOWN, FEEDBACK_UP, PLACEHOLDER, history_turns, question_text, render_echo

__all__ = ["build_app"]

log = logging.getLogger(__name__)


def build_app(
    *,
    settings: SlackSettings,
    policy: AdmissionPolicy,
    client: AsyncWebClient,
    gate: DeliveryGate,
    limiter: RateLimiter,
    access: SlackAccess,
    intake: Intake,
) -> AsyncApp:
    """The Bolt app with ragbot's listeners. Every collaborator is passed in (a test passes local servers).

    Args:
        settings: Slack settings (signing secret, allowlist, history depth).
        policy: The admission's dedupe window and rate limits.
        client: Web API client with the bot token (its `base_url` may point at a proxy or a test server).
        gate: Drops redelivered events.
        limiter: Rate limits per user and per channel.
        access: Resolves the principals a question is searched with.
        intake: Queues questions and feedback.
    """
    app = AsyncApp(
        client=client,
        logger=bolt_logger(),  # warnings and errors only, without the request
        # server.py has verified the signature and checked the body already, on the raw bytes (see its docstring)
        request_verification_enabled=False,
        process_before_response=False,
        ignoring_self_events_enabled=True,
        url_verification_enabled=True,
        raise_error_for_unhandled_request=True,  # to on_bolt_error, which acknowledges them (no 404, no retries)
    )
    app.error(on_bolt_error)
    handler = _Handler(
        settings=settings, policy=policy, client=client, gate=gate, limiter=limiter, access=access, intake=intake
    )
    app.event("app_mention")(handler.on_mention)
    app.event("message")(handler.on_message)
    app.command("/ask")(handler.on_command)
    app.action(FEEDBACK_UP)(handler.on_feedback)
    app.action(FEEDBACK_DOWN)(handler.on_feedback)
    return app


class _Handler:
    def __init__(
        self,
        *,
        settings: SlackSettings,
        policy: AdmissionPolicy,
        client: AsyncWebClient,
        gate: DeliveryGate,
        limiter: RateLimiter,
        access: SlackAccess,
        intake: Intake,
    ) -> None:
        self._settings = settings
        self._policy = policy
        self._client = client
        self._gate = gate
        self._limiter = limiter
        self._access = access
        self._intake = intake
        self._identity: tuple[str | None, str | None] | None = None

    # -- listeners --------------------------------------------------------------------------------------------

    async def on_mention(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if str(event.get("channel", "")).startswith("D"):
            return  # a mention inside a DM also arrives as message.im, which answers it
        await self._question(event, body=body, context=context, kind_hint=event.get("channel_type"))

    async def on_message(self, event: dict[str, Any], body: dict[str, Any], context: Any) -> None:
        if event.get("channel_type") != "im" or event.get("subtype") or event.get("bot_id"):
            return
        await self._question(event, body=body, context=context, kind_hint="im")

    async def on_command(self, ack: Callable[..., Awaitable[None]], command: dict[str, Any], context: Any) -> None:
        await ack()
        started = time.perf_counter()
        user, channel = str(command.get("user_id", "")), str(command.get("channel_id", ""))
        text = " ".join(str(command.get("text") or "").split())
        if not text:
            await self._ephemeral(channel, user, None, texts.EMPTY)
            return
        try:
            # A slash command's text is seen by nobody else: post it, and answer in its thread.
            posted: Any = await self._client.chat_postMessage(channel=channel, text=render_echo(user, text))
        except SlackApiError as err:
            log.warning("could not post the /ask question: %s", err.response.get("error"))
            await self._ephemeral(channel, user, None, texts.NOT_HERE)
            return
        except Exception:  # a timeout: Slack is slow, not saying no
            log.warning("could not post the /ask question", exc_info=True)
            await self._ephemeral(channel, user, None, texts.UNAVAILABLE)
            return
        event = {"user": user, "channel": channel, "text": text, "ts": posted["ts"]}
        trigger = str(command.get("trigger_id") or posted["ts"])
        await self._question(
            event,
            body={"event_id": f"cmd-{trigger}", "team_id": command.get("team_id")},
            context=context,
            kind_hint=None,
            started=started,
        )

    async def on_feedback(
        self, ack: Callable[..., Awaitable[None]], body: dict[str, Any], action: dict[str, Any]
    ) -> None:
        await ack()
        user = str((body.get("user") or {}).get("id") or "")
        value = "up" if action.get("action_id") == FEEDBACK_UP else "down"
        question_id = str(action.get("value") or "")
        channel = str((body.get("channel") or {}).get("id") or "")
        container = body.get("container") or {}
        thread = container.get("thread_ts") or container.get("message_ts")
        try:
            feedback = Feedback(question_id=question_id, platform="slack", user=user, value=value, given_at=time.time())
            await asyncio.to_thread(self._intake.feedback, feedback)
        except Exception:
            log.warning("feedback not recorded", exc_info=True, extra={"question_id": question_id})
            await self._ephemeral(channel, user, thread, texts.FEEDBACK_FAILED)
            return
        metrics.FEEDBACK.labels(platform="slack", value=value).inc()
        await self._ephemeral(channel, user, thread, texts.feedback_thanks(value))

    # -- the path of a question -------------------------------------------------------------------------------

    async def _question(
        self,
        event: dict[str, Any],
        *,
        body: dict[str, Any],
        context: Any,
        kind_hint: str | None,
        started: float | None = None,
    ) -> None:
        started = started or time.perf_counter()
        user, channel = str(event.get("user") or ""), str(event.get("channel") or "")
        ts = str(event.get("ts") or "")
        thread = str(event.get("thread_ts") or ts)
        bot_user_id, bot_id = await self._bot_identity(context)
        if not user or not channel or event.get("bot_id"):
            return self._count("ignored")
        allowed = self._settings.allowed_channels
        arrival = Arrival(
            platform="slack",
            delivery_kind="slack-event",
            delivery_id=str(body.get("event_id") or ""),
            user=user,
            place="" if channel.startswith("D") else channel,
            text=question_text(str(event.get("text") or ""), bot_user_id=bot_user_id),
            allowed=not allowed or channel in allowed or channel.startswith("D"),
        )
        admission = await admit(arrival, gate=self._gate, limiter=self._limiter, policy=self._policy)
        if not admission.accepted:
            await self._tell(admission, channel=channel, user=user, thread=thread)
            return self._count(admission.result)
        text = arrival.text
        try:
            kind = await self._access.channel_kind(channel, hint=kind_hint)
            principals = await self._access.principals(channel=channel, kind=kind, user=user)
        except Exception:  # Slack errors, timeouts, Redis: without principals we must not search at all
            log.warning("could not resolve principals", exc_info=True, extra={"channel": channel})
            await self._say(channel, thread, texts.NO_ACCESS_CHECK)
            return self._count("lookup_failed")
        history = await self._history(channel, thread, ts, bot_user_id, bot_id) if thread != ts else ()
        progress = await self._progress(channel, thread)
        question = Question(
            question_id=f"slack-{body.get('event_id') or f'{channel}-{ts}'}",
            text=text,
            asker=user,
            principals=principals,
            conversation=ConversationRef(
                platform="slack",
                channel=channel,
                thread=thread,
                message=progress,
                reference={"team": str(body.get("team_id") or ""), "channel_type": kind},
            ),
            history=history,
            asked_at=time.time(),
        )
        try:
            await asyncio.to_thread(self._intake.submit, question)
        except RetryableError:
            log.warning("could not enqueue", exc_info=True, extra={"question_id": question.question_id})
            if progress:
                await self._update(channel, progress, texts.UNAVAILABLE)
            else:
                await self._say(channel, thread, texts.UNAVAILABLE)
            return self._count("enqueue_failed")
        metrics.INTAKE_SECONDS.labels(platform="slack").observe(time.perf_counter() - started)
        log.info("question queued", extra={"question_id": question.question_id, "platform": "slack"})
        return self._count("accepted")

    async def _progress(self, channel: str, thread: str) -> str:
        """Post the placeholder and return its ts; "" when Slack would not take it (rate limit, timeout)."""
        try:
            posted: Any = await self._client.chat_postMessage(channel=channel, thread_ts=thread, text=PLACEHOLDER)
        except Exception:  # the question matters more than the progress message: go on without it
            log.warning("could not post the progress message", exc_info=True, extra={"channel": channel})
            return ""
        return str(posted["ts"])

    async def _tell(self, admission: Admission, *, channel: str, user: str, thread: str) -> None:
        notice = admission.notice
        if notice is None:
            return
        if notice.private:
            await self._ephemeral(channel, user, thread, notice.text)
        else:
            await self._say(channel, thread, notice.text)

    async def _history(self, channel: str, thread: str, ts: str, bot_user_id: str | None, bot_id: str | None) -> Any:
        limit = self._settings.history_turns
        if not limit:
            return ()
        try:
            replies: Any = await self._client.conversations_replies(channel=channel, ts=thread, limit=100)
        except Exception:  # a follow-up without its history is still worth answering
            log.warning("thread history unavailable", exc_info=True, extra={"channel": channel})
            return ()
        return history_turns(
            replies.get("messages") or [], before_ts=ts, bot_user_id=bot_user_id, bot_id=bot_id, limit=limit
        )

    async def _bot_identity(self, context: Any) -> tuple[str | None, str | None]:
        if self._identity is None:
            self._identity = (context.get("bot_user_id"), context.get("bot_id"))
        return self._identity

    async def _say(self, channel: str, thread: str | None, text: str) -> None:
        try:
            await self._client.chat_postMessage(channel=channel, thread_ts=thread, text=text)
        except Exception:  # the last word to the asker: nothing is left to tell them with, so log it
            log.warning("could not post a notice", exc_info=True, extra={"channel": channel})

    async def _update(self, channel: str, ts: str, text: str) -> None:
        try:
            await self._client.chat_update(channel=channel, ts=ts, text=text)
        except Exception:
            log.warning("could not update the progress message", exc_info=True, extra={"channel": channel})

    async def _ephemeral(self, channel: str, user: str, thread: str | None, text: str) -> None:
        try:
            await self._client.chat_postEphemeral(channel=channel, user=user, thread_ts=thread, text=text)
        except Exception:
            log.warning("could not post an ephemeral notice", exc_info=True, extra={"channel": channel})

    @staticmethod
    def _count(result: IntakeResult) -> None:
        count("slack", result)
