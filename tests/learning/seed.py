"""An interaction log as production writes it: the sample handbook's questions asked in Slack, answered by the real
flow (hybrid retrieval, the extractive answerer), recorded redacted, and voted on like people would."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.bootstrap import build_chunker
from ragbot.evaluation.answers import QAItem, load_qa
from ragbot.flow import answer
from ragbot.generation.extractive import ExtractiveGenerator
from ragbot.ingestion import ingest, open_source
from ragbot.interactions.records import UserHasher, feedback_entry, outcome_record
from ragbot.models import Answer, ConversationRef, Feedback, Outcome, Question
from ragbot.ports import Embedder
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import Settings
from tests.conftest import HANDBOOK, QA

KEY = "learning-test-key"
HASHER = UserHasher(KEY)
SETTINGS = {"RAGBOT_INTERACTIONS__USER_HASH_KEY": KEY}


@dataclass(frozen=True)
class Asked:
    question_id: str
    item: QAItem
    answer: Answer
    liked: bool | None  # 👍, 👎, or no vote (refused)


def seed(data_dir: Path, embedder: Embedder, *, now: datetime | None = None, rounds: int = 1) -> list[Asked]:
    """Ingest the handbook into `data_dir` and log every QA question, oldest first, one every 12 hours.

    With `rounds` > 1 each question is asked again, as "(again, n) …", so a benchmark can log as many as it needs.
    """
    settings = Settings(data_dir=data_dir)
    index = EmbeddedIndex(data_dir)
    log = SqliteInteractionLog(data_dir)
    try:
        ingest([open_source(HANDBOOK)], index=index, embedder=embedder, chunker=build_chunker(settings))
        retriever = Retriever(embedder=embedder, index=index, settings=settings.retrieval)
        generator = ExtractiveGenerator(embedder=embedder, settings=settings.answer)
        items = [(r, item) for r in range(rounds) for item in load_qa(QA)]
        start = (now or datetime.now(UTC)) - timedelta(hours=12 * len(items))
        asked = []
        for i, (again, item) in enumerate(items):
            question = Question(
                question_id=f"slack-{item.id}" + (f"-{again}" if again else ""),
                text=f"(again, {again}) {item.question}" if again else item.question,
                asker=f"U{i % 7}",
                principals=item.as_,
                conversation=ConversationRef(platform="slack", channel="C1", thread=f"{i}.0"),
                asked_at=(start + timedelta(hours=12 * i)).timestamp(),
            )
            passages = retriever.retrieve(question.text, principals=question.principals).passages
            reply = answer(question, passages, generator=generator)
            log.record(
                outcome_record(
                    Outcome(question=question, answer=reply, passages=passages), hasher=HASHER, timings_ms={}
                )
            )
            liked = None if reply.refused else any(c.doc_id in item.gold_docs for c in reply.citations)
            if liked is not None:
                vote = Feedback(
                    question_id=question.question_id,
                    platform="slack",
                    user=f"U{(i + 3) % 7}",
                    value="up" if liked else "down",
                )
                log.add_feedback(question.question_id, feedback_entry(vote, hasher=HASHER))
            asked.append(Asked(question.question_id, item, reply, liked))
        return asked
    finally:
        log.close()
        index.close()
