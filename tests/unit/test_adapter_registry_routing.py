"""The routing generate workers follow from the registry, through the real TGI backend against the TGI fake."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from prometheus_client import REGISTRY
from pydantic import ValidationError

from ragbot.bootstrap import build_model_answerer
from ragbot.learning.registry import AdapterRegistry, RegistryRouting
from ragbot.settings import TgiSettings
from tests.fakes.tgi import FakeTgi
from tests.unit.builders import asked
from tests.unit.test_adapter_registry import make_adapter
from tests.unit.test_tgi import PASSAGES, Quoting


@pytest.fixture
def registry(tmp_path: Path) -> AdapterRegistry:
    return AdapterRegistry(tmp_path / "registry", served_path="/data/adapters")


@pytest.fixture(autouse=True)
def _no_stray_writes(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.glob("registry/.*.copying"))  # no half-copied adapter is ever left behind


def test_generate_workers_follow_the_registry_without_a_restart(registry: AdapterRegistry, tmp_path: Path) -> None:
    first = registry.publish(make_adapter(tmp_path / "a1", b"w1"), name="handbook").id
    canary = registry.publish(make_adapter(tmp_path / "a2", b"w2", against=first), name="handbook", canary=0.5).id
    questions = [asked(f"slack-Ev{i}") for i in range(40)]
    with FakeTgi(adapters=(first, canary)) as tgi:
        settings = TgiSettings(url=tgi.url, routing="registry", served_adapters=(first, canary), deadline_s=5)
        generator = build_model_answerer(
            settings, fallback=Quoting(), routing=RegistryRouting(registry.root, refresh_s=0)
        )
        assert generator.check().adapters == {first, canary}
        answers = [generator.generate(q, PASSAGES).adapter for q in questions]
        assert {first, canary} == set(answers) and 8 < answers.count(canary) < 32
        assert [r["model"] for r in tgi.chat_requests()] == answers  # what was asked is what is recorded

        registry.rollback()  # ends the canary: the very next question goes to the current adapter
        assert {generator.generate(q, PASSAGES).adapter for q in questions} == {first}


def test_a_canary_the_server_does_not_serve_yet_is_skipped_not_degraded(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    first = registry.publish(make_adapter(tmp_path / "a1", b"w1"), name="handbook").id
    canary = registry.publish(make_adapter(tmp_path / "a2", b"w2", against=first), name="handbook", canary=1.0 - 1e-9)
    with FakeTgi(adapters=(first,)) as tgi:
        settings = TgiSettings(url=tgi.url, routing="registry", served_adapters=(first,), deadline_s=5)
        generator = build_model_answerer(
            settings, fallback=Quoting(), routing=RegistryRouting(registry.root, refresh_s=0)
        )
        before = REGISTRY.get_sample_value("ragbot_canary_skipped_total", {"adapter": canary.id}) or 0.0
        result = generator.generate(asked("slack-Ev1"), PASSAGES)
        assert result.adapter == first and result.reason == ""
        assert REGISTRY.get_sample_value("ragbot_canary_skipped_total", {"adapter": canary.id}) == before + 1


def test_a_broken_registry_file_keeps_the_last_good_routing(registry: AdapterRegistry, tmp_path: Path) -> None:
    routing = RegistryRouting(registry.root, refresh_s=0)
    assert routing.route().current is None and routing.required() == ()  # nothing published: the base model
    first = registry.publish(make_adapter(tmp_path / "a1", b"w1"), name="handbook").id
    assert routing.route().current == first and routing.required() == (first,)
    registry.file.write_text("{not json")
    assert routing.route().current == first


def test_routing_by_registry_excludes_adapters_in_settings() -> None:
    with pytest.raises(ValidationError, match="unset tgi.adapter"):
        TgiSettings(url="http://tgi:8080", routing="registry", adapter="handbook-v3")
