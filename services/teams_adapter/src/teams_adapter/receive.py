"""The Teams bot: an `ActivityHandler` that turns messages into queued questions and 👍/👎 into feedback.

The HTTP layer (server.py) has authenticated the request before anything here runs. Then, for a message:

    feedback     an Adaptive Card button press (a message whose `value` is ours) is feedback, not a question
    filter       other bots and other tenants (when a tenant is configured) are ignored
    admit        `ragbot.flow.receive.admit`: dedupe by activity id (Teams' retries answer once), an empty or
                 mention-only message answered with a prompt (as on Slack), over-long questions refused, per-user
                 and (in channels and group chats) per-conversation rate limits — the same admission as every
                 platform
    progress     a typing indicator at once; the answer follows as a proactive message from the reply worker
    principals   personal chat: the asker's (email → directory); channels and group chats: public documents only
    enqueue      retrieve → generate → reply.teams; if the queue is unreachable the asker is told at once

A feedback-loop invoke (`message/submitAction`) is answered in the HTTP response: 200 once the feedback is queued.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import redis.asyncio
from botbuilder.core import ActivityHandler, InvokeResponse, TurnContext
from botbuilder.core.teams import TeamsInfo
from botbuilder.schema import Activity, ActivityTypes

from ragbot import texts
from ragbot.access.directory import PrincipalsDirectory
from ragbot.errors import RetryableError
from ragbot.flow.receive import AdmissionPolicy, Arrival, IntakeResult, admit, count
from ragbot.models import EVERYONE, ConversationRef, Feedback, Question
from ragbot.observability import metrics
from ragbot.ports import DeliveryGate, LookupCache, RateLimiter
from ragbot.queue.producer import Intake
from teams_adapter.answers import question_for_answer
from teams_adapter.translate import FeedbackValue, card_feedback, invoke_feedback, question_text

__all__ = ["RagBot"]

log = logging.getLogger(__name__)

_CACHE_S = 300
_FEEDBACK_INVOKE = "message/submitAction"


class RagBot(ActivityHandler):  # type: ignore[misc]
    """ragbot's Teams bot. Every collaborator is passed in; a test passes local servers.

    Args:
        gate: Drops redelivered activities.
        limiter: Rate limits per user and per conversation.
        cache: Caches a person's principals for a few minutes.
        policy: The admission's dedupe window and limits.
        answers: The asyncio Redis client holding answer id → question id (see `teams_adapter.answers`).
        directory: Email → principals for personal chats.
        intake: Queues questions and feedback.
        tenant_id: When set, activities from any other Teams tenant are ignored.
    """

    def __init__(
        self,
        *,
        gate: DeliveryGate,
        limiter: RateLimiter,
        cache: LookupCache,
        policy: AdmissionPolicy,
        answers: redis.asyncio.Redis,
        directory: PrincipalsDirectory,
        intake: Intake,
        tenant_id: str | None = None,
    ) -> None:
        super().__init__()
        self._gate = gate
        self._limiter = limiter
        self._cache = cache
        self._policy = policy
        self._answers = answers
        self._directory = directory
        self._intake = intake
        self._tenant_id = tenant_id.lower() if tenant_id else None

    # -- messages ---------------------------------------------------------------------------------------------

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        started = time.perf_counter()
        activity: Activity = turn_context.activity
        sender = activity.from_property
        user = str(getattr(sender, "id", None) or "")
        clicked = card_feedback(activity.value)
        if clicked is not None:
            value, question_id = clicked
            if not await self._record_feedback(question_id, user=user, value=value, comment=""):
                await self._say(turn_context, texts.FEEDBACK_FAILED)
            return
        if not user or getattr(sender, "role", None) == "bot" or user.startswith("28:"):
            return self._count("ignored")  # bots (including this one) never ask questions
        if not self._tenant_allowed(activity):
            log.warning("activity from another tenant ignored", extra={"activity_id": activity.id})
            return self._count("not_allowed")
        recipient = getattr(activity.recipient, "id", None)
        kind = str(getattr(activity.conversation, "conversation_type", None) or "personal")
        # A channel's threads share the channel's budget: the conversation id is "<channel>;messageid=<root>".
        place = "" if kind == "personal" else str(activity.conversation.id).split(";", 1)[0]
        arrival = Arrival(
            platform="teams",
            delivery_kind="teams-activity",
            delivery_id=str(activity.id or ""),
            user=str(getattr(sender, "aad_object_id", None) or user),
            place=place,
            text=question_text(activity.text or "", entities=_entities(activity), bot_id=recipient),
        )
        admission = await admit(arrival, gate=self._gate, limiter=self._limiter, policy=self._policy)
        if not admission.accepted:
            if admission.notice is not None:  # Teams shows nothing to one member only: every notice is said
                await self._say(turn_context, admission.notice.text)
            return self._count(admission.result)
        text = arrival.text
        await self._typing(turn_context)
        principals = await self._principals(turn_context, kind=kind)
        reference = TurnContext.get_conversation_reference(activity)
        question = Question(
            question_id=f"teams-{activity.id}",
            text=text,
            asker=user,
            principals=principals,
            conversation=ConversationRef(
                platform="teams",
                channel=str(activity.conversation.id),
                thread=str(activity.id or ""),
                # JSON round trip: the queue carries plain JSON, whatever msrest left in the dict.
                reference=json.loads(json.dumps(reference.serialize())),
            ),
            history=(),
            asked_at=time.time(),
        )
        try:
            await asyncio.to_thread(self._intake.submit, question)
        except RetryableError:
            log.warning("could not enqueue", exc_info=True, extra={"question_id": question.question_id})
            await self._say(turn_context, texts.UNAVAILABLE)
            return self._count("enqueue_failed")
        metrics.INTAKE_SECONDS.labels(platform="teams").observe(time.perf_counter() - started)
        log.info("question queued", extra={"question_id": question.question_id, "platform": "teams"})
        return self._count("accepted")

    # -- feedback-loop invokes ----------------------------------------------------------------------------------

    async def on_invoke_activity(self, turn_context: TurnContext) -> InvokeResponse:
        activity: Activity = turn_context.activity
        if activity.name != _FEEDBACK_INVOKE:
            # The only invoke this bot implements. botbuilder's own handling of the others (sign-in, Adaptive Card
            # actions) would end in 501 too, after reading a `value` it does not check: some shapes raise there.
            return InvokeResponse(status=HTTPStatus.NOT_IMPLEMENTED)
        parsed = invoke_feedback(activity.value)
        if parsed is None:
            return InvokeResponse(status=HTTPStatus.BAD_REQUEST)
        value, comment = parsed
        rated = str(activity.reply_to_id or "")
        try:
            question_id = await question_for_answer(self._answers, rated) if rated else None
        except Exception:
            log.warning("answer lookup unavailable", exc_info=True, extra={"activity_id": rated})
            return InvokeResponse(status=HTTPStatus.SERVICE_UNAVAILABLE)
        if question_id is None:
            # Not one of our recorded answers (an old one, or a notice): nothing to attach the rating to.
            log.warning("feedback on an unknown message dropped", extra={"activity_id": rated})
            return InvokeResponse(status=HTTPStatus.OK)
        user = str(getattr(activity.from_property, "id", None) or "")
        recorded = await self._record_feedback(question_id, user=user, value=value, comment=comment)
        # The body must be an msrest Model or None: CloudAdapter.process cannot serialize a plain dict.
        return InvokeResponse(status=HTTPStatus.OK if recorded else HTTPStatus.SERVICE_UNAVAILABLE)

    async def _record_feedback(self, question_id: str, *, user: str, value: FeedbackValue, comment: str) -> bool:
        try:
            feedback = Feedback(
                question_id=question_id, platform="teams", user=user, value=value, comment=comment, given_at=time.time()
            )
            await asyncio.to_thread(self._intake.feedback, feedback)
        except Exception:
            log.warning("feedback not recorded", exc_info=True, extra={"question_id": question_id})
            return False
        metrics.FEEDBACK.labels(platform="teams", value=value).inc()
        log.info("feedback queued", extra={"question_id": question_id, "platform": "teams"})
        return True

    # -- helpers ------------------------------------------------------------------------------------------------

    def _tenant_allowed(self, activity: Activity) -> bool:
        if self._tenant_id is None:
            return True
        # botbuilder-python reads conversation.tenantId as "tenantID" (always None for Teams): use channelData.
        data = activity.channel_data if isinstance(activity.channel_data, Mapping) else {}
        tenant = (data.get("tenant") or {}).get("id")
        return isinstance(tenant, str) and tenant.lower() == self._tenant_id

    async def _principals(self, turn_context: TurnContext, *, kind: str) -> tuple[str, ...]:
        """Channels and group chats see only public documents (others read the answer); a personal chat the asker's."""
        if kind != "personal":
            return (EVERYONE,)
        sender = turn_context.activity.from_property
        user = str(getattr(sender, "aad_object_id", None) or sender.id)
        key = f"teams:principals:{user}"
        try:
            cached = await self._cache.cached(key)
        except Exception:
            cached = None
        if cached is not None:
            return tuple(json.loads(cached))
        email = await self._email(turn_context)
        if not email:
            return (EVERYONE,)  # not cached: the next question tries the lookup again
        found = self._directory.principals_for(email)
        try:
            await self._cache.cache(key, json.dumps(found), ttl_s=_CACHE_S)
        except Exception:
            log.debug("principals cache unavailable", exc_info=True)
        return found

    async def _email(self, turn_context: TurnContext) -> str:
        sender = turn_context.activity.from_property
        try:
            member = await TeamsInfo.get_member(turn_context, sender.id)
            email = str(getattr(member, "email", None) or getattr(member, "user_principal_name", None) or "")
        except Exception as err:  # the roster API failing must not cost the asker an answer
            log.info("member lookup failed (%s); falling back to the activity", type(err).__name__)
            extra = getattr(sender, "additional_properties", None) or {}
            email = str(extra.get("email") or extra.get("userPrincipalName") or "")
        return email if "@" in email else ""

    async def _typing(self, turn_context: TurnContext) -> None:
        try:
            await turn_context.send_activity(Activity(type=ActivityTypes.typing))
        except Exception:
            log.warning("could not send the typing indicator", exc_info=True)

    async def _say(self, turn_context: TurnContext, text: str) -> None:
        try:
            await turn_context.send_activity(text)
        except Exception:
            log.warning("could not post a notice", exc_info=True)

    @staticmethod
    def _count(result: IntakeResult) -> None:
        count("teams", result)


def _entities(activity: Activity) -> list[dict[str, Any]]:
    """The activity's entities as JSON: msrest keeps a mention's `mentioned` and `text` in additional_properties."""
    found = []
    for entity in activity.entities or []:
        extra = getattr(entity, "additional_properties", None) or {}
        item = {**extra, "type": getattr(entity, "type", None) or ""}
        for name, key in (("mentioned", "mentioned"), ("text", "text")):
            value = getattr(entity, name, None)
            if value is not None and key not in item:
                item[key] = value.serialize() if hasattr(value, "serialize") else value
        found.append(item)
    return found
