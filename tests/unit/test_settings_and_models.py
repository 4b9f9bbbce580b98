from pathlib import Path

import pytest
from pydantic import BaseModel, SecretStr, ValidationError

from ragbot.bootstrap import build_user_hasher
from ragbot.errors import ConfigurationError
from ragbot.interactions.records import UserHasher
from ragbot.models import Question
from ragbot.settings import DEFAULT_USER_HASH_KEY, Settings


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


def _fields(model: type[BaseModel], prefix: str = "RAGBOT_") -> list[tuple[str, str | None]]:
    """(variable, description) of every field, groups included, walking the nested settings models."""
    found: list[tuple[str, str | None]] = []
    for name, field in model.model_fields.items():
        env = f"{prefix}{name.upper()}"
        found.append((env, field.description))
        if isinstance(field.annotation, type) and issubclass(field.annotation, BaseModel):
            found += _fields(field.annotation, env + "__")
    return found


def test_every_setting_explains_itself() -> None:
    fields = _fields(Settings)
    assert len(fields) > 100  # the walk reached the nested groups
    missing = [env for env, description in fields if not (description and description.strip())]
    assert missing == []
    # A sentence for an operator, not a placeholder.
    for env, description in fields:
        assert description is not None and len(description) >= 10 and description.rstrip().endswith("."), env


DISTRIBUTED = {"elasticsearch": {"url": "http://es.internal:9200"}}


def test_the_built_in_user_hash_key_is_refused_with_elasticsearch() -> None:
    settings = Settings.model_validate(DISTRIBUTED)
    with pytest.raises(ConfigurationError) as refused:
        settings.user_hash_key()
    message = str(refused.value)
    assert "RAGBOT_INTERACTIONS__USER_HASH_KEY" in message and "openssl rand -hex 32" in message
    assert "\n" not in message and DEFAULT_USER_HASH_KEY not in message
    with pytest.raises(ConfigurationError, match="RAGBOT_INTERACTIONS__USER_HASH_KEY"):
        build_user_hasher(settings)


def test_the_built_in_user_hash_key_is_refused_from_the_environment_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RAGBOT_ELASTICSEARCH__URL", "https://es.internal:9200")
    with pytest.raises(ConfigurationError, match="RAGBOT_INTERACTIONS__USER_HASH_KEY"):
        build_user_hasher(Settings())
    monkeypatch.setenv("RAGBOT_INTERACTIONS__USER_HASH_KEY", "0f3c9a7e5d")
    settings = Settings()
    assert settings.user_hash_key() == "0f3c9a7e5d"
    assert build_user_hasher(settings)("slack", "U1") == UserHasher("0f3c9a7e5d")("slack", "U1")


def test_the_embedded_store_keeps_the_built_in_user_hash_key() -> None:
    settings = Settings()
    assert settings.elasticsearch.url is None
    assert settings.user_hash_key() == DEFAULT_USER_HASH_KEY
    assert build_user_hasher(settings)("slack", "U1") == UserHasher(DEFAULT_USER_HASH_KEY)("slack", "U1")


def test_a_distributed_deployment_without_an_interaction_log_hashes_nothing_to_protect() -> None:
    settings = Settings.model_validate({**DISTRIBUTED, "interactions": {"enabled": False}})
    assert settings.user_hash_key() == DEFAULT_USER_HASH_KEY


def test_a_key_of_ones_own_is_accepted_with_elasticsearch() -> None:
    settings = Settings.model_validate({**DISTRIBUTED, "interactions": {"user_hash_key": SecretStr("s3cret-key")}})
    assert settings.user_hash_key() == "s3cret-key"
