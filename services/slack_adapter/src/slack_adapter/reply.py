"""The Slack reply hop (queue `reply.slack`): replace the progress message with the answer, or apologise.

Tasks `ragbot.reply.slack` (Outcome) and `ragbot.apologize.slack` (the errback of every hop). Both go through
`ragbot.flow.reply`, which makes delivery once-only per question and writes the interaction log.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from celery import shared_task
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ragbot.errors import ConfigurationError, PermanentError, RetryableError
from ragbot.flow.reply import apologize, deliver
from ragbot.models import ConversationRef, Outcome, Question
from ragbot.queue.names import TaskName
from ragbot.queue.resources import Resources, ResourceTask
from ragbot.settings import Settings, SlackSettings
from slack_adapter.translate import SlackMessage, render_answer, render_notice

__all__ = ["SlackPartialSender", "SlackReplySender", "apologize_slack", "partial_sender", "reply_slack"]

log = logging.getLogger(__name__)

# Errors that will not go away by trying again: the conversation or the credentials are wrong.
_PERMANENT = {
    "channel_not_found",
    "not_in_channel",
    "is_archived",
    "invalid_auth",
    "not_authed",
    "account_inactive",
    "token_revoked",
    "missing_scope",
    "invalid_blocks",
    "msg_too_long",
}


class SlackReplySender:
    """`ReplySender` over the Slack Web API (chat.update of the progress message, chat.postMessage in the thread).

    Args:
        client: A `slack_sdk.WebClient` with the bot token (and `base_url` for a proxy), with a timeout set.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def send_answer(self, outcome: Outcome) -> None:
        self._send(outcome.question.conversation, render_answer(outcome))

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        self._send(conversation, [render_notice(text)])

    def _send(self, ref: ConversationRef, messages: list[SlackMessage]) -> None:
        first, rest = messages[0], messages[1:]
        try:
            if ref.message:
                try:
                    self._client.chat_update(channel=ref.channel, ts=ref.message, **first)
                except SlackApiError as err:
                    if err.response.get("error") != "message_not_found":
                        raise
                    # Someone deleted the progress message: answer in the thread instead.
                    self._post(ref, first)
            else:
                self._post(ref, first)
            for message in rest:
                self._post(ref, message)
        except SlackApiError as err:
            code = str(err.response.get("error") or "")
            status = err.response.status_code
            if code in _PERMANENT or (400 <= status < 500 and status != 429):
                raise PermanentError(f"Slack refused the reply: {code or status}") from err
            raise RetryableError(f"Slack was busy or failing: {code or status}") from err
        except SlackClientError as err:
            raise RetryableError(f"Slack could not be reached: {type(err).__name__}") from err
        except OSError as err:
            raise RetryableError(f"Slack could not be reached: {type(err).__name__}") from err

    def _post(self, ref: ConversationRef, message: SlackMessage) -> None:
        self._client.chat_postMessage(channel=ref.channel, thread_ts=ref.thread or None, **message)


class SlackPartialSender:
    """Shows a partial answer by editing the progress message (plain mrkdwn; the reply hop puts the blocks in).

    Args:
        client: A `slack_sdk.WebClient` with the bot token, without rate-limit retries: a refused edit is skipped.
    """

    def __init__(self, client: WebClient) -> None:
        self._client = client

    def open(self, conversation: ConversationRef) -> _SlackStream | None:
        # Without a progress message there is nothing to edit: the answer is posted whole at the end.
        return _SlackStream(self._client, conversation) if conversation.message else None


class _SlackStream:
    handle = ""  # the reply hop finds the message by the conversation's own reference

    def __init__(self, client: WebClient, conversation: ConversationRef) -> None:
        self._client, self._conversation = client, conversation

    def show(self, text: str) -> None:
        ref = self._conversation
        self._client.chat_update(channel=ref.channel, ts=ref.message, text=text[:_PARTIAL_CHARS])


_PARTIAL_CHARS = 3_000
_partials: dict[int, SlackPartialSender] = {}


def partial_sender(settings: Settings) -> SlackPartialSender:
    """The `ragbot.partials` entry point: this process's partial sender."""
    sender = _partials.get(os.getpid())
    if sender is None:
        slack = settings.slack
        if slack.bot_token is None:
            raise ConfigurationError("RAGBOT_SLACK__BOT_TOKEN is not set; the generate worker cannot show progress")
        client = WebClient(token=slack.bot_token.get_secret_value(), base_url=slack.api_url, timeout=5)
        sender = _partials[os.getpid()] = SlackPartialSender(client)
    return sender


_senders: dict[int, SlackReplySender] = {}


def _sender(settings: SlackSettings) -> SlackReplySender:
    """This process's sender (a forked child builds its own client rather than share its parent's connections)."""
    sender = _senders.get(os.getpid())
    if sender is None:
        if settings.bot_token is None:
            raise ConfigurationError("RAGBOT_SLACK__BOT_TOKEN is not set; the Slack reply worker cannot post")
        client = WebClient(token=settings.bot_token.get_secret_value(), base_url=settings.api_url, timeout=10)
        sender = _senders[os.getpid()] = SlackReplySender(client)
    return sender


def _collaborators(resources: Resources) -> dict[str, Any]:
    return {
        "sender": _sender(resources.settings.slack),
        "ledger": resources.ledger,
        "interactions": resources.interactions,
        "hasher": resources.hasher,
    }


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.REPLY_SLACK, base=ResourceTask, bind=True, pydantic=True, autoretry_for=(RetryableError,)
)
def reply_slack(self: ResourceTask, outcome: Outcome) -> None:
    """Post the answer in the question's thread (`flow.reply.deliver`)."""
    self.count_delivery()
    deliver(outcome, **_collaborators(self.resources))


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.APOLOGIZE_SLACK, base=ResourceTask, bind=True, pydantic=True, autoretry_for=(RetryableError,)
)
def apologize_slack(self: ResourceTask, failed_task_id: str, question: Question) -> None:
    """Errback: tell the asker their question failed (`flow.reply.apologize`)."""
    hop = failed_task_id.rsplit(":", 1)[-1]
    log.warning("question failed at hop %s", hop, extra={"question_id": question.question_id, "hop": hop})
    apologize(question, error=f"failed at {hop}", **_collaborators(self.resources))
