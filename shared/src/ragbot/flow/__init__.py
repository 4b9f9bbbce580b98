"""The answering flow, one module per hop: plain functions over ports, models and errors; every collaborator is
passed in, so the same hops run in a Celery worker, in the CLI and in a test, with no queue installed.

    chat message ─receive.admit()─▶ Question ─(queue.producer)─▶ [retrieve] ─retrieve.retrieve_question()─▶ Retrieval
        ─▶ [generate] ─generate.answer_retrieval()─▶ Outcome ─▶ [reply.<platform>] ─reply.deliver()─▶ the thread
                                         any hop fails for good or expires ─▶ reply.apologize()

    receive.py   admission, the same for every chat platform: dedupe, allowlist, empty and over-long questions,
                 rate limits (every word the asker reads is in `ragbot.texts`)
    retrieve.py  a follow-up made standalone, then hybrid, permission-filtered search (`ragbot.retrieval`)
    generate.py  prompt → model (routing, budget, retries within a deadline) → refusal → degraded fallback →
                 citation check
    reply.py     claim once (`HopLedger`), deliver through the platform's `ReplySender`, record the interaction

In the distributed deployment each bracketed hop runs on its own Celery queue (`ragbot.queue.tasks`); embedded,
the CLI calls the same functions in turn. The import contracts in pyproject.toml keep this package free of
backends, the queue, services and SDKs.
"""

from ragbot.flow.generate import ModelAnswerer, answer, answer_retrieval, check_citations
from ragbot.flow.receive import Admission, Arrival, admit
from ragbot.flow.reply import apologize, deliver
from ragbot.flow.retrieve import retrieve_question

__all__ = [
    "Admission",
    "Arrival",
    "ModelAnswerer",
    "admit",
    "answer",
    "answer_retrieval",
    "apologize",
    "check_citations",
    "deliver",
    "retrieve_question",
]
