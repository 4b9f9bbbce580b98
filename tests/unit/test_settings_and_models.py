from pathlib import Path

import pytest
from pydantic import ValidationError

from ragbot.models import Question
from ragbot.settings import Settings


def test_defaults_are_embedded() -> None:
    settings = Settings()
    assert settings.data_dir == Path(".ragbot")
    assert settings.embedding.model == "all-MiniLM-L6-v2"
    assert (settings.retrieval.rrf_k, settings.retrieval.top_k) == (60, 5)


def test_nested_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGBOT_DATA_DIR", "/srv/ragbot")
    monkeypatch.setenv("RAGBOT_RETRIEVAL__BM25_WEIGHT", "0.5")
    monkeypatch.setenv("RAGBOT_ANSWER__MIN_CONFIDENCE", "0.4")
    settings = Settings()
    assert settings.data_dir == Path("/srv/ragbot")
    assert settings.retrieval.bm25_weight == 0.5
    assert settings.answer.min_confidence == 0.4


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("RAGBOT_RETRIEVAL__RRF_K", "0"),
        ("RAGBOT_RETRIEVAL__TOP_K", "many"),
        ("RAGBOT_CHUNKING__OVERLAP_TOKENS", "200"),
        ("RAGBOT_RETRIEVAL__TYPO", "1"),
        ("RAGBOT_TGI__URL", "tgi:8080"),
        ("RAGBOT_TGI__CANARY_FRACTION", "0.1"),  # a canary fraction without a canary adapter
        ("RAGBOT_TGI__CANARY_FRACTION", "1.5"),
        ("RAGBOT_TGI__DEADLINE_S", "0"),
    ],
)
def test_invalid_settings_fail_fast(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


def test_model_server_settings_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGBOT_TGI__URL", "http://tgi:8080/")
    monkeypatch.setenv("RAGBOT_TGI__SERVED_ADAPTERS", '["handbook-v3", "handbook-v4"]')
    monkeypatch.setenv("RAGBOT_TGI__CANARY_ADAPTER", "handbook-v4")
    monkeypatch.setenv("RAGBOT_TGI__CANARY_FRACTION", "0.05")
    tgi = Settings().tgi
    assert tgi.url == "http://tgi:8080" and tgi.served_adapters == ("handbook-v3", "handbook-v4")
    assert (tgi.canary_adapter, tgi.canary_fraction) == ("handbook-v4", 0.05)


def test_both_legs_cannot_be_switched_off() -> None:
    with pytest.raises(ValidationError, match="at least one"):
        Settings(retrieval={"bm25_weight": 0, "dense_weight": 0})


def test_question_text_is_normalized_and_validated() -> None:
    assert Question(question_id="q", text="  how   many\n days? ").text == "how many days?"
    for bad in ("", "   \n", "x" * 4001):
        with pytest.raises(ValidationError):
            Question(question_id="q", text=bad)
    with pytest.raises(ValidationError, match="principals"):
        Question(question_id="q", text="ok", principals=())
    assert Question(question_id="q", text="ok", principals=("*", " *", "group:hr")).principals == ("*", "group:hr")
