"""Queue and task names: constants, so producers build signatures by name and never import a consumer's code.

question ─▶ retrieve ─▶ generate ─▶ reply.<platform>
                └──────────┴───────────▶ apologize.<platform> (errback, on the reply queue)
👍/👎 click ─▶ feedback

Each chat platform has its own reply queue, named after it (`reply.slack`, `reply.teams`): a new platform needs
no new constant here.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

__all__ = ["Queue", "TaskName", "apologize_task", "reply_queue", "reply_task", "route"]


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


_FIXED = {TaskName.RETRIEVE: Queue.RETRIEVE, TaskName.GENERATE: Queue.GENERATE, TaskName.FEEDBACK: Queue.FEEDBACK}
_PER_PLATFORM = ("ragbot.reply.", "ragbot.apologize.")


def reply_queue(platform: str) -> str:
    """The queue a platform's replies and apologies wait on."""
    return f"reply.{platform}"


def reply_task(platform: str) -> str:
    return f"ragbot.reply.{platform}"


def apologize_task(platform: str) -> str:
    return f"ragbot.apologize.{platform}"


def route(name: str, *_: Any, **__: Any) -> dict[str, str] | None:
    """Celery's task router: the queue of a task sent by name without one (every hop sets its queue anyway)."""
    if name in _FIXED:
        return {"queue": str(_FIXED[TaskName(name)])}
    for prefix in _PER_PLATFORM:
        if name.startswith(prefix):
            return {"queue": reply_queue(name.removeprefix(prefix))}
    return None
