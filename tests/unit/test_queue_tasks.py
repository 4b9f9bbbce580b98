"""The tasks are made once: any platform that supplies a sender gets its reply and apology tasks and queue."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ragbot.bootstrap import Context
from ragbot.models import Answer, ConversationRef, Outcome, Question
from ragbot.ports import PlatformSenders
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.names import route
from ragbot.queue.tasks import ProcessContext, attach_context, register_tasks
from ragbot.settings import Settings

# UNIT_REDIS_DB: a database of the local Redis that nothing else on this machine uses right now.
URL = f"redis://127.0.0.1:6379/{int(os.environ.get('UNIT_REDIS_DB', '13'))}"


class RecordingSender:
    """A third platform's `ReplySender`: what it was asked to say."""

    def __init__(self) -> None:
        self.said: list[tuple[str, str]] = []

    def send_answer(self, outcome: Outcome) -> None:
        self.said.append(("answer", outcome.answer.text))

    def send_notice(self, conversation: ConversationRef, text: str) -> None:
        self.said.append(("notice", text))


@pytest.fixture
def settings(tmp_path: Path) -> Iterator[Settings]:
    client = redis.Redis.from_url(URL, socket_connect_timeout=2)
    client.flushdb()
    yield Settings.model_validate({"data_dir": str(tmp_path), "redis": {"url": URL}})
    client.flushdb()
    client.close()


def test_a_platform_with_a_sender_gets_its_tasks_and_queue(settings: Settings) -> None:
    sender = RecordingSender()
    app = create_celery_app(settings)
    names = register_tasks(app, queues=["retrieve", "reply.matrix", "feedback"], platforms=["slack", "matrix"])
    assert names == ["ragbot.retrieve", "ragbot.feedback", "ragbot.reply.matrix", "ragbot.apologize.matrix"]
    assert route("ragbot.reply.matrix") == {"queue": "reply.matrix"}
    assert route("ragbot.apologize.matrix") == {"queue": "reply.matrix"}
    assert route("ragbot.generate") == {"queue": "generate"}

    context = Context(settings, platforms={"matrix": lambda _: PlatformSenders(reply=sender)})
    attach_context(app, ProcessContext(lambda: context))
    question = Question(
        question_id="matrix-1",
        text="How many vacation days do I get?",
        conversation=ConversationRef(platform="matrix", channel="!room", thread="$event"),
    )
    outcome = Outcome(question=question, answer=Answer(text="25 days [1].", model="extractive"), passages=())
    app.tasks["ragbot.reply.matrix"].apply(args=(outcome.model_dump(mode="json"),)).get()
    app.tasks["ragbot.reply.matrix"].apply(args=(outcome.model_dump(mode="json"),)).get()  # a redelivery
    app.tasks["ragbot.apologize.matrix"].apply(args=("matrix-1:generate", question.model_dump(mode="json"))).get()
    assert sender.said == [("answer", "25 days [1].")]  # once, and no apology after the answer
    record = context.interactions.get("matrix-1") if context.interactions is not None else None
    assert record is not None and record.platform == "matrix"
    context.close()
