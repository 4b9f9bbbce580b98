"""Queue and task names: constants, so producers build signatures by name and never import a consumer's code.

question ─▶ retrieve ─▶ generate ─▶ reply.slack | reply.teams
                └──────────┴───────────▶ apologize.<platform> (errback, on the reply queue)
👍/👎 click ─▶ feedback
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal

__all__ = ["ChatPlatform", "Queue", "TaskName", "apologize_task", "reply_queue", "reply_task"]

ChatPlatform = Literal["slack", "teams"]


class Queue(StrEnum):
    RETRIEVE = "retrieve"
    GENERATE = "generate"
    REPLY_SLACK = "reply.slack"
    REPLY_TEAMS = "reply.teams"
    FEEDBACK = "feedback"


class TaskName(StrEnum):
    RETRIEVE = "ragbot.retrieve"
    GENERATE = "ragbot.generate"
    REPLY_SLACK = "ragbot.reply.slack"
    REPLY_TEAMS = "ragbot.reply.teams"
    APOLOGIZE_SLACK = "ragbot.apologize.slack"
    APOLOGIZE_TEAMS = "ragbot.apologize.teams"
    FEEDBACK = "ragbot.feedback"


ROUTES: dict[str, Queue] = {
    TaskName.RETRIEVE: Queue.RETRIEVE,
    TaskName.GENERATE: Queue.GENERATE,
    TaskName.REPLY_SLACK: Queue.REPLY_SLACK,
    TaskName.APOLOGIZE_SLACK: Queue.REPLY_SLACK,
    TaskName.REPLY_TEAMS: Queue.REPLY_TEAMS,
    TaskName.APOLOGIZE_TEAMS: Queue.REPLY_TEAMS,
    TaskName.FEEDBACK: Queue.FEEDBACK,
}


def reply_queue(platform: ChatPlatform) -> Queue:
    return Queue.REPLY_SLACK if platform == "slack" else Queue.REPLY_TEAMS


def reply_task(platform: ChatPlatform) -> TaskName:
    return TaskName.REPLY_SLACK if platform == "slack" else TaskName.REPLY_TEAMS


def apologize_task(platform: ChatPlatform) -> TaskName:
    return TaskName.APOLOGIZE_SLACK if platform == "slack" else TaskName.APOLOGIZE_TEAMS
