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
    ],
)
def test_invalid_settings_fail_fast(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ValidationError):
        Settings()


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
