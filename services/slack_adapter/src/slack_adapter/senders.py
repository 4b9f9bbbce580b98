"""What the workers say into Slack: the answer replacing the progress message, notices, and partial answers.

`senders` is the `ragbot.platforms` entry point: the reply hop (`ragbot.flow.reply`, queue `reply.slack`) delivers
through `SlackReplySender`, the generate hop shows partial answers through `SlackPartialSender`.
"""

from __future__ import annotations

import logging

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from ragbot.errors import ConfigurationError, PermanentError, RetryableError
from ragbot.models import ConversationRef, Outcome
from ragbot.ports import PlatformSenders
from ragbot.settings import Settings
from slack_adapter.translate import SlackMessage, render_answer, render_notice, render_partial

__all__ = ["SlackPartialSender", "SlackReplySender", "senders"]

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
    """Shows a partial answer by editing the progress message (escaped mrkdwn; the reply hop puts the blocks in).

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
        # The model's words so far, escaped like every other text sent to Slack (translate.render_partial).
        self._client.chat_update(channel=ref.channel, ts=ref.message, text=render_partial(text))


def senders(settings: Settings) -> PlatformSenders:
    """The `ragbot.platforms` entry point: Slack's senders for one worker process, from its settings.

    Raises:
        ConfigurationError: The bot token is not set.
    """
    slack = settings.slack
    if slack.bot_token is None:
        raise ConfigurationError("RAGBOT_SLACK__BOT_TOKEN is not set; the worker cannot post to Slack")
    token = slack.bot_token.get_secret_value()
    return PlatformSenders(
        reply=SlackReplySender(WebClient(token=token, base_url=slack.api_url, timeout=10)),
        # Partial answers are worth no wait: a shorter timeout, and a refused edit is skipped.
        partials=SlackPartialSender(WebClient(token=token, base_url=slack.api_url, timeout=5)),
    )
