"""Task `ragbot.generate` (queue `generate`): Retrieval → Outcome."""

from __future__ import annotations

from celery import shared_task

from ragbot.errors import RetryableError
from ragbot.flow.generate import answer_retrieval
from ragbot.models import Outcome, Retrieval
from ragbot.queue.names import TaskName
from ragbot.queue.resources import ResourceTask

__all__ = ["generate"]


@shared_task(  # type: ignore[untyped-decorator]
    name=TaskName.GENERATE,
    base=ResourceTask,
    bind=True,
    pydantic=True,
    pydantic_dump_kwargs={"mode": "json"},
    autoretry_for=(RetryableError,),
)
def generate(self: ResourceTask, retrieval: Retrieval) -> Outcome:
    """Write the cited answer (`flow.answer.answer_retrieval`), showing it as it is written where the platform can."""
    self.count_delivery()
    resources = self.resources
    shown = resources.stream_to(retrieval.question)
    outcome = answer_retrieval(retrieval, generator=resources.generator, on_text=shown)
    return outcome.model_copy(update={"stream_id": shown.handle}) if shown is not None and shown.handle else outcome
