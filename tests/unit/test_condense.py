"""Follow-ups become standalone questions before retrieval: by the model when there is one, else by rule."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.bootstrap import build_model_server
from ragbot.flow.retrieve import retrieve_question
from ragbot.generation.condense import ModelCondenser, RuleCondenser, rule_condense
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.models import Question, Turn
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import RetrievalSettings, TgiSettings
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.tgi import FakeTgi

ASKED = Turn(role="user", text="How many days of annual leave do I get?")
ANSWERED = Turn(role="assistant", text="You get 25 days a year [1].")


def follow_up(text: str) -> Question:
    return Question(question_id="q2", text=text, history=(ASKED, ANSWERED))


@pytest.mark.parametrize(
    "text", ["and for contractors?", "What about part-time staff?", "Does it carry over into next year?"]
)
def test_a_follow_up_is_prefixed_with_the_previous_question(text: str) -> None:
    assert rule_condense(follow_up(text)) == f"{ASKED.text} {text}"


def test_a_question_that_stands_on_its_own_is_left_alone() -> None:
    text = "Which VPN portal address should I type into the client?"
    assert rule_condense(follow_up(text)) == text
    assert rule_condense(Question(question_id="q", text="and for contractors?")) == "and for contractors?"


@pytest.fixture
def tgi() -> Iterator[FakeTgi]:
    with FakeTgi() as server:
        server.responder = lambda request: "How many days of annual leave do contractors get?"
        yield server


def test_the_model_rewrites_a_follow_up_from_the_thread(tgi: FakeTgi) -> None:
    condensed = ModelCondenser(build_model_server(TgiSettings(url=tgi.url))).condense(follow_up("and for contractors?"))
    assert condensed == "How many days of annual leave do contractors get?"
    [request] = tgi.chat_requests()
    roles = [m["role"] for m in request["messages"]]
    assert (
        roles == ["system", "user", "assistant", "user"]
        and request["messages"][-1]["content"] == "and for contractors?"
    )


def test_the_rule_stands_in_when_the_model_fails_or_rambles(tgi: FakeTgi) -> None:
    condenser = ModelCondenser(build_model_server(TgiSettings(url=tgi.url)))
    tgi.fail_next(503, error_type="unhealthy", error="Service Unavailable")
    assert condenser.condense(follow_up("and for contractors?")) == f"{ASKED.text} and for contractors?"
    tgi.responder = lambda request: "Contractors are covered by their agency. " * 20
    assert condenser.condense(follow_up("and for contractors?")) == f"{ASKED.text} and for contractors?"
    assert len(tgi.chat_requests()) == 2  # one attempt per question, never retried: retrieval is waiting


def test_the_retrieve_hop_searches_for_the_standalone_question(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    (root / "hr").mkdir(parents=True)
    (root / "hr" / "leave.md").write_text("# Annual leave\n\nStaff get 25 days of annual leave a year.\n")
    (root / "it.md").write_text("# Laptops\n\nContractors bring their own laptops and get a guest account.\n")
    index = EmbeddedIndex(tmp_path / "store")
    embedder: Any = HashEmbedder()
    ingest([open_source(root)], index=index, embedder=embedder, chunker=Chunker())
    retriever = Retriever(embedder=embedder, index=index, settings=RetrievalSettings())
    question = follow_up("and for contractors?")
    plain = retrieve_question(question, retriever=retriever)
    condensed = retrieve_question(question, retriever=retriever, condenser=RuleCondenser())
    index.close()
    assert plain.query == "and for contractors?" and plain.passages[0].chunk.doc_id == "it.md"
    assert condensed.query.startswith(ASKED.text) and condensed.passages[0].chunk.doc_id == "hr/leave.md"
    assert "condense" in condensed.timings_ms
