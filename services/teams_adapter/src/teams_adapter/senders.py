"""What the workers say into Teams: a proactive message with the answer or a notice, and streamed partial answers.

`senders` is the `ragbot.platforms` entry point: the reply hop (`ragbot.flow.reply`, queue `reply.teams`) delivers
through `TeamsReplySender`, the generate hop streams through `TeamsPartialSender`. A message is sent with
`CloudAdapter.continue_conversation` from the ConversationReference the adapter stored in the question, and the id
the Bot Connector gives the answer is recorded (`teams_adapter.answers`) so its 👍/👎 find the question.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from typing import Any

import aiohttp
import redis
from botbuilder.core import TurnContext
from botbuilder.integration.aiohttp import CloudAdapter, ConfigurationBotFrameworkAuthentication
from botbuilder.schema import Activity, ConversationReference, Entity
from msal.exceptions import MsalServiceError
from msrest.exceptions import ClientRequestError, HttpOperationError

from ragbot.bootstrap import build_redis
from ragbot.errors import PermanentError, RetryableError
from ragbot.models import ConversationRef, Outcome
from ragbot.ports import PlatformSenders
from ragbot.settings import Settings
from teams_adapter.answers import remember_answer
from teams_adapter.config import SdkConfig, sdk_config, service_url_allowed
from teams_adapter.translate import render_answer, render_notice, render_partial

__all__ = ["TeamsPartialSender", "TeamsReplySender", "senders"]

log = logging.getLogger(__name__)

# Entra ID errors that say "try later", as opposed to wrong credentials (invalid_client, unauthorized_client ...).
_TRANSIENT_AAD = ("temporarily_unavailable", "server_error", "request_timeout")
# MSAL reports an HTTP failure of Entra ID's discovery or token endpoint only in its message.
_MSAL_HTTP_STATUS = re.compile(r"HTTP Error: (\d{3})")


class TeamsReplySender:
    """`ReplySender` over the Bot Connector: proactive messages into the question's conversation.

    Args:
        config: The bot's SDK configuration (`teams_adapter.config.sdk_config`).
        allowed_service_urls: Service URLs the bot may send to (empty: any https URL).
        answers: Blocking Redis client where answer ids are recorded for feedback; None records nothing.
        card: Send answers as Adaptive Cards with 👍/👎 buttons instead of citation entities and the feedback loop.
    """

    def __init__(
        self,
        *,
        config: SdkConfig,
        allowed_service_urls: tuple[str, ...] = (),
        answers: redis.Redis | None = None,
        card: bool = False,
    ) -> None:
        self._config = config
        self._allowed = allowed_service_urls
        self._answers = answers
        self._card = card
        self._adapter = CloudAdapter(ConfigurationBotFrameworkAuthentication(config))

    def send_answer(self, outcome: Outcome) -> None:
        question = outcome.question
        payload = dict(render_answer(outcome, card=self._card))
        if outcome.stream_id:  # the answer was streamed into the chat: this message closes that stream
            final = {"type": "streaminfo", "streamId": outcome.stream_id, "streamType": "final"}
            payload["entities"] = [*(payload.get("entities") or []), final]
        sent = self.send(question.conversation, payload)
        if sent and self._answers is not None:
            try:
                remember_answer(self._answers, activity_id=sent, question_id=question.question_id)
            except Exception:  # the answer is out; raising now would send it twice
                log.warning(
                    "answer id not recorded; its feedback will be lost", extra={"question_id": question.question_id}
                )

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        self.send(conversation, render_notice(text))

    def send(self, ref: ConversationRef, payload: Mapping[str, Any]) -> str | None:
        """Send one activity into the conversation of `ref`; the id the Bot Connector gave it."""
        if ref.platform != "teams" or not ref.reference:
            raise PermanentError("the question carries no Teams conversation reference")
        reference = ConversationReference().deserialize(dict(ref.reference))
        service_url = str(reference.service_url or "")
        if not service_url_allowed(service_url, self._allowed):
            raise PermanentError("the conversation's service URL is not allowed (teams.allowed_service_urls)")
        activity = _activity(payload)
        try:
            return asyncio.run(self._continue(reference, activity))
        except HttpOperationError as err:
            status = getattr(err.response, "status_code", None)
            if status is None or status == 429 or status >= 500:
                raise RetryableError(f"the Bot Connector was busy or failing: {status}") from err
            raise PermanentError(f"the Bot Connector refused the reply: {status}") from err
        except PermissionError as err:  # MSAL could not get the bot's token (before the generic OSError below)
            if any(code in str(err) for code in _TRANSIENT_AAD):
                raise RetryableError("Entra ID could not issue the bot's token just now") from err
            raise PermanentError("Entra ID refused the bot's credentials (check RAGBOT_TEAMS__APP_*)") from err
        except MsalServiceError as err:
            match = _MSAL_HTTP_STATUS.search(str(err))
            status = int(match.group(1)) if match else None
            if status is None or status == 429 or status >= 500:
                raise RetryableError(f"Entra ID was busy or failing: {status}") from err
            raise PermanentError(f"Entra ID refused the bot's token request: {status}") from err
        except (ClientRequestError, aiohttp.ClientError, OSError, TimeoutError) as err:
            raise RetryableError(f"the Bot Connector could not be reached: {type(err).__name__}") from err

    async def _continue(self, reference: ConversationReference, activity: Activity) -> str | None:
        sent: list[str | None] = []

        async def send(turn_context: TurnContext) -> None:
            response = await turn_context.send_activity(activity)
            sent.append(getattr(response, "id", None))

        await self._adapter.continue_conversation(reference, send, self._config.APP_ID)
        return sent[0] if sent else None


class TeamsPartialSender:
    """Streams a partial answer into a 1:1 chat with Teams' streaming protocol; elsewhere Teams gets one final message.

    Each update is a `typing` activity carrying the text so far and a `streaminfo` entity (`streamType: streaming`,
    a growing `streamSequence`); the first one's id is the stream's id, which the reply hop's final message closes.

    Args:
        sender: Sends activities (its error mapping included).
        card: Answers go out as Adaptive Cards, which are not streamed.
    """

    def __init__(self, sender: TeamsReplySender, *, card: bool = False) -> None:
        self._sender, self._card = sender, card

    def open(self, conversation: ConversationRef) -> _TeamsStream | None:
        kind = ((conversation.reference or {}).get("conversation") or {}).get("conversationType") or "personal"
        if self._card or conversation.platform != "teams" or not conversation.reference or kind != "personal":
            return None
        return _TeamsStream(self._sender, conversation)


class _TeamsStream:
    def __init__(self, sender: TeamsReplySender, conversation: ConversationRef) -> None:
        self._sender, self._conversation = sender, conversation
        self.handle = ""
        self._sequence = 0

    def show(self, text: str) -> None:
        self._sequence += 1
        info: dict[str, Any] = {"type": "streaminfo", "streamType": "streaming", "streamSequence": self._sequence}
        if self.handle:
            info["streamId"] = self.handle
        # The model's words so far, escaped like the final answer (translate.render_partial).
        update = {"type": "typing", "text": render_partial(text), "entities": [info]}
        sent = self._sender.send(self._conversation, update)
        if not self.handle:
            self.handle = sent or ""


class _JsonEntity(Entity):  # type: ignore[misc]
    """An entity sent exactly as given. msrest serializes only mapped attributes, and `Entity` maps just `type`,
    so the citation entity's `@type`, `additionalType` and `citation` would otherwise be dropped on the wire."""

    def __init__(self, payload: Mapping[str, Any]) -> None:
        super().__init__(type=str(payload.get("type") or ""))
        attribute_map: dict[str, dict[str, str]] = {"type": {"key": "type", "type": "str"}}
        for i, (key, value) in enumerate(payload.items()):
            if key == "type":
                continue
            name = f"field_{i}"
            # msrest reads a "." in a key as nesting; none of Teams' entity keys has one, but escape it anyway.
            attribute_map[name] = {"key": key.replace(".", "\\."), "type": "object"}
            setattr(self, name, value)
        self._attribute_map = attribute_map


def _activity(payload: Mapping[str, Any]) -> Activity:
    activity = Activity().deserialize(dict(payload))
    activity.entities = [_JsonEntity(entity) for entity in payload.get("entities") or []] or None
    return activity


def senders(settings: Settings) -> PlatformSenders:
    """The `ragbot.platforms` entry point: Teams' senders for one worker process, from its settings.

    Raises:
        ConfigurationError: The bot's app id or password is missing.
    """
    teams = settings.teams
    config = sdk_config(teams)
    reply = TeamsReplySender(
        config=config,
        allowed_service_urls=teams.allowed_service_urls,
        answers=build_redis(settings.redis),
        card=teams.card_fallback,
    )
    # Partial answers record no answer id: only the final message carries feedback.
    streaming = TeamsReplySender(config=config, allowed_service_urls=teams.allowed_service_urls)
    return PlatformSenders(reply=reply, partials=TeamsPartialSender(streaming, card=teams.card_fallback))
