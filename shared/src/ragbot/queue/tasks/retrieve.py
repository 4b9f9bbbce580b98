"""Task `ragbot.retrieve` (queue `retrieve`): Question → Retrieval."""

from __future__ import annotations

from celery import shared_task

from ragbot.errors import RetryableError
from ragbot.flow.retrieve import retrieve_question
from ragbot.models import Question, Retrieval
from ragbot.queue.names import TaskName
from ragbot.queue.resources import ResourceTask

__all__ = ["retrieve"]


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.RETRIEVE,
    base=ResourceTask,
    bind=True,
    pydantic=True,
    pydantic_dump_kwargs={"mode": "json"},
    autoretry_for=(RetryableError,),
)
def retrieve(self: ResourceTask, question: Question) -> Retrieval:
    """Find the passages the asker may read (`flow.retrieve.retrieve_question`)."""
    self.count_delivery()
    resources = self.resources
    return retrieve_question(
        question, retriever=resources.retriever, condenser=resources.condenser, sent_at=question.asked_at
    )
