"""The TGI generator through the real `huggingface_hub.InferenceClient`, against a local server speaking TGI's routes.

Nothing of ragbot is patched: the fake (tests/fakes/tgi.py) answers /info, /v1/models and /v1/chat/completions (JSON
and SSE) with TGI's payloads and error bodies, and can be slow, overloaded, failing or stopped.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from huggingface_hub import constants, get_session
from huggingface_hub.errors import OfflineModeIsEnabled
from prometheus_client import REGISTRY

from ragbot.bootstrap import build_model_answerer
from ragbot.errors import ConfigurationError
from ragbot.flow.generate import ModelAnswerer, answer
from ragbot.interactions.records import status_of
from ragbot.models import Answer, Passage, Question
from ragbot.settings import TgiSettings
from ragbot.texts import DEGRADED_NOTE
from tests.fakes.tgi import FakeTgi
from tests.unit.builders import passage

PASSAGES = [
    passage(1, "Staff get 25 days of annual leave. Up to five unused days carry over.", doc_id="hr/leave.md"),
    passage(2, "Parental leave is 20 weeks at full pay.", doc_id="hr/parental.md"),
]
QUESTION = Question(question_id="slack-Ev1", text="How many days of annual leave do I get?")


class Quoting:
    """The degraded-mode generator's stand-in: quotes passage 1 (the real one is tested in test_answer.py)."""

    name = "extractive"

    def generate(self, question: Question, passages: list[Passage], *, on_text: object = None) -> Answer:
        return Answer(text=f"{passages[0].chunk.text} [1]", model="extractive")


@pytest.fixture
def tgi() -> Iterator[FakeTgi]:
    with FakeTgi(adapters=("handbook-v3", "handbook-v4")) as server:
        yield server


def generator(url: str, **settings: object) -> ModelAnswerer:
    values: dict[str, object] = {"url": url, "deadline_s": 5, "timeout_s": 2, **settings}
    return build_model_answerer(TgiSettings.model_validate(values), fallback=Quoting())


def tokens(kind: str) -> float:
    return REGISTRY.get_sample_value("ragbot_generation_tokens_total", {"adapter": "base", "kind": kind}) or 0.0


def test_an_answer_comes_from_the_model_with_checked_citations(tgi: FakeTgi) -> None:
    read_before, written_before = tokens("prompt"), tokens("completion")
    result = answer(QUESTION, PASSAGES, generator=generator(tgi.url))
    assert tokens("prompt") - read_before == result.usage["prompt_tokens"]
    assert tokens("completion") - written_before == result.usage["completion_tokens"] > 0
    assert result.text == "Staff get 25 days of annual leave. [1]" and not result.refused
    assert [c.doc_id for c in result.citations] == ["hr/leave.md"]
    assert result.model == "ragbot/handbook-assistant-8b" and result.prompt_version == "grounded-v1"
    assert result.usage["prompt_tokens"] > 0 and result.usage["passages_shown"] == 2
    [request] = tgi.chat_requests()
    assert request["model"] == "tgi" and request["max_tokens"] == 512
    assert request["messages"][0]["role"] == "system" and "<sources>" in request["messages"][-1]["content"]
    assert status_of(result) == "answered"


def test_streaming_relays_the_growing_text_and_ends_with_the_same_answer(tgi: FakeTgi) -> None:
    seen: list[str] = []
    result = generator(tgi.url).generate(QUESTION, PASSAGES, on_text=seen.append)
    assert len(seen) > 3 and all(later.startswith(earlier) for earlier, later in zip(seen, seen[1:], strict=False))
    assert seen[-1] == result.text == "Staff get 25 days of annual leave. [1]"
    assert result.usage["completion_tokens"] == len(result.text.split())
    assert result.timings_ms["model"] > 0 and "relay" in result.timings_ms  # the server's time and ours, apart
    assert tgi.chat_requests()[0]["stream"] is True


def test_markers_for_unshown_passages_are_removed_and_an_uncited_answer_is_refused(tgi: FakeTgi) -> None:
    tgi.responder = lambda request: "You get 25 days [1], or 30 [7]."
    result = answer(QUESTION, PASSAGES, generator=generator(tgi.url))
    assert result.text == "You get 25 days [1], or 30." and result.usage["invalid_citations"] == 1

    tgi.responder = lambda request: "Probably 30 days, as in most companies."
    refused = answer(QUESTION, PASSAGES, generator=generator(tgi.url))
    assert refused.refused and refused.reason == "no valid citation"
    assert [c.doc_id for c in refused.citations] == ["hr/leave.md", "hr/parental.md"]  # the closest sources


def test_a_model_that_says_it_does_not_know_is_a_refusal_with_the_closest_sources(tgi: FakeTgi) -> None:
    tgi.responder = lambda request: "I don't know: the sources do not cover parking."
    declined = answer(QUESTION, PASSAGES, generator=generator(tgi.url))
    assert declined.refused and declined.reason == "not in sources" and status_of(declined) == "refused"
    assert declined.text == "I don't know: the sources do not cover parking."
    assert [c.doc_id for c in declined.citations] == ["hr/leave.md", "hr/parental.md"]
    # "I don't know the exact figure, but…" with a citation is an answer, not a refusal.
    tgi.responder = lambda request: "I don't know the exact date, but 25 days carry over [1]."
    assert not answer(QUESTION, PASSAGES, generator=generator(tgi.url)).refused


def test_an_overloaded_server_is_retried_within_the_deadline(tgi: FakeTgi) -> None:
    tgi.fail_next(429)
    tgi.fail_next(503, error_type="unhealthy", error="Service Unavailable")
    result = generator(tgi.url).generate(QUESTION, PASSAGES)
    assert result.reason == "" and result.text.endswith("[1]")
    assert [c.status for c in tgi.calls("/v1/chat/completions")] == [429, 503, 200]


def test_a_rejected_request_is_not_retried_and_the_asker_still_gets_the_sources(tgi: FakeTgi) -> None:
    tgi.fail_next(422, error_type="validation", error="Input validation error: `inputs` tokens too many")
    result = generator(tgi.url).generate(QUESTION, PASSAGES)
    assert result.reason == "degraded" and result.text.startswith(DEGRADED_NOTE)
    assert len(tgi.calls("/v1/chat/completions")) == 1
    assert status_of(result) == "degraded"


def test_a_slow_server_degrades_at_the_deadline(tgi: FakeTgi) -> None:
    tgi.delay(3.0)
    result = generator(tgi.url, deadline_s=1.0, timeout_s=0.5).generate(QUESTION, PASSAGES)
    assert result.reason == "degraded" and "deadline" in result.model
    assert result.text == f"{DEGRADED_NOTE}\n\n{PASSAGES[0].chunk.text} [1]"


def test_a_stream_that_stalls_degrades_at_the_deadline(tgi: FakeTgi) -> None:
    tgi.stall_stream(after_tokens=3, seconds=3.0)
    seen: list[str] = []
    result = generator(tgi.url, deadline_s=1.0, timeout_s=0.5).generate(QUESTION, PASSAGES, on_text=seen.append)
    assert result.reason == "degraded" and len(seen) == 3


def test_a_server_that_is_down_degrades() -> None:
    with FakeTgi() as server:
        url = server.url
    result = generator(url, deadline_s=1.0).generate(QUESTION, PASSAGES)
    assert result.reason == "degraded" and "unavailable" in result.model


def test_an_adapter_the_server_does_not_serve_is_refused_not_silently_replaced(tgi: FakeTgi) -> None:
    # TGI's /info lists no adapters: what it serves is declared (its LORA_ADAPTERS) and checked at start-up.
    unknown = generator(tgi.url, adapter="handbook-v9", served_adapters=("handbook-v3",))
    with pytest.raises(ConfigurationError, match="does not serve adapter 'handbook-v9'"):
        unknown.check()
    result = unknown.generate(QUESTION, PASSAGES)
    assert result.reason == "degraded" and not tgi.chat_requests()  # never sent to the base model

    served = generator(tgi.url, adapter="handbook-v3", served_adapters=("handbook-v3",))
    assert served.check().model_id == "ragbot/handbook-assistant-8b"
    assert served.generate(QUESTION, PASSAGES).adapter == "handbook-v3"
    assert tgi.chat_requests()[-1]["model"] == "handbook-v3"


def test_servers_that_list_their_adapters_need_no_declaration() -> None:
    with FakeTgi(adapters=("handbook-v3",), list_adapters=True) as vllm_like:
        assert generator(vllm_like.url, adapter="handbook-v3").check().adapters == {"handbook-v3"}


def test_the_canary_gets_its_fraction_stably_and_every_answer_names_its_adapter(tgi: FakeTgi) -> None:
    canary = generator(
        tgi.url,
        adapter="handbook-v3",
        canary_adapter="handbook-v4",
        canary_fraction=0.25,
        served_adapters=("handbook-v3", "handbook-v4"),
    )
    picks = [canary.routing.route().adapter_for(f"slack-Ev{i}") for i in range(2000)]
    assert 0.2 < picks.count("handbook-v4") / len(picks) < 0.3
    assert [canary.routing.route().adapter_for(f"slack-Ev{i}") for i in range(50)] == picks[
        :50
    ]  # a retry keeps its adapter
    chosen = canary.routing.route().adapter_for(QUESTION.question_id)
    assert canary.generate(QUESTION, PASSAGES).adapter == chosen == tgi.chat_requests()[-1]["model"]


def test_the_token_is_sent_and_a_refused_one_degrades() -> None:
    with FakeTgi(api_key="s3cret") as guarded:
        assert generator(guarded.url, token="s3cret").generate(QUESTION, PASSAGES).reason == ""
        assert guarded.calls("/v1/chat/completions")[-1].headers["authorization"] == "Bearer s3cret"
        wrong = generator(guarded.url, token="nope")
        with pytest.raises(ConfigurationError, match="RAGBOT_TGI__TOKEN"):
            wrong.check()
        assert wrong.generate(QUESTION, PASSAGES).reason == "degraded"


def test_the_prompt_fits_the_servers_limits(tgi: FakeTgi) -> None:
    tgi.max_input_tokens, tgi.max_total_tokens = 1500, 2048
    many = [passage(rank, "A long paragraph about travel booking rules and receipts. " * 30) for rank in range(1, 9)]
    result = generator(tgi.url, max_new_tokens=512).generate(QUESTION, many)
    assert result.reason == "" and result.usage["passages_shown"] < 8  # packed, not rejected by the server
    assert all(c.status == 200 for c in tgi.calls("/v1/chat/completions"))


def test_offline_mode_still_blocks_the_hub_but_not_the_model_server(
    tgi: FakeTgi, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    assert generator(tgi.url).generate(QUESTION, PASSAGES).reason == ""
    with pytest.raises(OfflineModeIsEnabled):
        get_session().get("https://huggingface.co/api/models/sentence-transformers/all-MiniLM-L6-v2")
