"""Which question an answer message belongs to: answer activity id → question id, in Redis.

Teams' feedback-loop invoke names only the rated message (`replyToId`, an id the Bot Connector assigned when the
answer was sent) and nothing the bot put in that message, so the reply hop records the pair when it sends and the
adapter looks it up when a 👍/👎 arrives. The key lives as long as feedback is useful; a lost key costs one
feedback entry, never an answer.
"""

from __future__ import annotations

from typing import Any

import redis
import redis.asyncio

__all__ = ["ANSWER_TTL_S", "question_for_answer", "remember_answer"]

ANSWER_TTL_S = 30 * 86_400


def _key(activity_id: str) -> str:
    return f"ragbot:teams:answer:{activity_id}"


def remember_answer(client: redis.Redis, *, activity_id: str, question_id: str) -> None:
    """Record that the message `activity_id` answers `question_id` (blocking; the reply worker)."""
    client.set(_key(activity_id), question_id, ex=ANSWER_TTL_S)


async def question_for_answer(client: redis.asyncio.Redis, activity_id: str) -> str | None:
    """The question the message `activity_id` answered, or None when unknown (the adapter)."""
    value: Any = await client.get(_key(activity_id))
    if value is None:
        return None
    return value.decode() if isinstance(value, bytes) else str(value)
