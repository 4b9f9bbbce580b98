"""Task `ragbot.feedback` (queue `feedback`): a 👍/👎 click → the interaction log."""

from __future__ import annotations

from celery import shared_task

from ragbot.errors import RetryableError
from ragbot.interactions.records import feedback_entry
from ragbot.models import Feedback
from ragbot.queue.names import TaskName
from ragbot.queue.resources import ResourceTask

__all__ = ["record_feedback"]


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.FEEDBACK,
    base=ResourceTask,
    bind=True,
    pydantic=True,
    autoretry_for=(RetryableError,),
)
def record_feedback(self: ResourceTask, feedback: Feedback) -> None:
    """Attach the feedback to its question's record (the user id is hashed first)."""
    interactions = self.resources.interactions
    if interactions is not None:
        interactions.add_feedback(feedback.question_id, feedback_entry(feedback, hasher=self.resources.hasher))
