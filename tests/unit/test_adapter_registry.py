"""The adapter registry's store: immutable versions, canary, promote and rollback, and the values it implies.

The routing generate workers follow is in `test_adapter_registry_routing.py`, the canary comparison in
`test_adapter_registry_canary.py`.
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ragbot.errors import InputError
from ragbot.generation.prompting import PROMPT_VERSION
from ragbot.learning.artifacts import ADAPTER_CARD, EVALUATION, content_hash, write_json
from ragbot.learning.registry import AdapterRegistry

BASE = "models/kestrel-8b-instruct"


def make_adapter(folder: Path, weights: bytes, *, against: str = "base", passed: bool = True, **card: Any) -> Path:
    """An adapter folder as `finetune train` and `finetune evaluate` leave it (the registry's input contract)."""
    folder.mkdir(parents=True)
    (folder / "adapter_config.json").write_text(json.dumps({"peft_type": "LORA", "r": 8}))
    (folder / "adapter_model.safetensors").write_bytes(weights)
    digest = content_hash(folder)
    values = {"base_model": BASE, "prompt_version": PROMPT_VERSION, "dataset": {"hash": "d" * 64}, "metrics": {}}
    write_json(folder / ADAPTER_CARD, {**values, **card, "content_hash": digest})
    gate = {"passed": passed, "regressions": [] if passed else ["citation_validity"]}
    write_json(
        folder / EVALUATION,
        {"candidate": {"content_hash": digest}, "against": {"id": against}, "gate": gate, "metrics": {"candidate": {}}},
    )
    return folder


@pytest.fixture
def registry(tmp_path: Path) -> AdapterRegistry:
    return AdapterRegistry(tmp_path / "registry", served_path="/data/adapters")


def test_publish_as_canary_copies_the_adapter_read_only_and_writes_what_to_deploy(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    source = make_adapter(tmp_path / "a1", b"weights-1")
    version = registry.publish(source, name="handbook", canary=0.1)
    assert version.id == f"handbook-{content_hash(source)[:12]}"
    folder = registry.folder(version.id)
    assert content_hash(folder) == content_hash(source)
    assert all(not os.stat(p).st_mode & stat.S_IWUSR for p in folder.iterdir())  # immutable
    routing = registry.state().routing
    assert (routing.current, routing.canary, routing.fraction) == (None, version.id, 0.1)
    values = yaml.safe_load((registry.root / "helm-values.yaml").read_text())
    assert values == {
        "tgi": {
            "loraAdapters": [{"name": version.id, "path": f"/data/adapters/versions/{version.id}"}],
            "adapterRegistry": {"enabled": True},
        },
    }
    env = (registry.root / "adapters.env").read_text()
    assert f'RAGBOT_TGI__SERVED_ADAPTERS=["{version.id}"]' in env
    assert f"TGI_LORA_ADAPTERS={version.id}=/data/adapters/versions/{version.id}" in env


def test_promote_and_rollback_walk_the_history(registry: AdapterRegistry, tmp_path: Path) -> None:
    first = registry.publish(make_adapter(tmp_path / "a1", b"w1"), name="handbook").id
    second = registry.publish(make_adapter(tmp_path / "a2", b"w2", against=first), name="handbook", canary=0.2).id
    assert registry.state().loaded() == [first, second]
    assert registry.promote().current == second
    with pytest.raises(InputError, match="no canary to promote"):
        registry.promote()
    third = registry.publish(make_adapter(tmp_path / "a3", b"w3", against=second), name="handbook", canary=0.5).id
    # The canary ends first; then each rollback restores the current before, down to the base model.
    done, routing = registry.rollback()
    assert done.startswith(f"ended the canary {third}") and routing.current == second and routing.canary is None
    done, routing = registry.rollback()
    assert routing.current == first and done == f"{first} is current again (was {second})"
    done, routing = registry.rollback()
    assert routing.current is None and done.startswith("the base model is current again")
    with pytest.raises(InputError, match="nothing to roll back to"):
        registry.rollback()
    actions = [e.action for e in registry.state().events]
    assert actions == ["publish", "canary", "promote", "canary", "rollback", "rollback", "rollback"]


def test_tgi_keeps_loaded_what_a_rollback_may_need(registry: AdapterRegistry, tmp_path: Path) -> None:
    ids = []
    for i in range(5):
        against = ids[-1] if ids else "base"
        ids.append(registry.publish(make_adapter(tmp_path / f"a{i}", f"w{i}".encode(), against=against), name="v").id)
    assert registry.state().loaded() == [ids[4], ids[3], ids[2]]  # current and the two before it


def test_only_an_evaluated_unchanged_adapter_for_this_release_is_published(
    registry: AdapterRegistry, tmp_path: Path
) -> None:
    def refused(folder: Path, match: str, **options: Any) -> None:
        with pytest.raises(InputError, match=match):
            registry.publish(folder, name=options.pop("name", "handbook"), **options)

    refused(make_adapter(tmp_path / "failed", b"f", passed=False), "did not pass the evaluation gate")
    refused(make_adapter(tmp_path / "old-prompt", b"p", prompt_version="grounded-v0"), "trained on grounded-v0")
    refused(make_adapter(tmp_path / "other", b"o", against="handbook-123456789abc"), "evaluate it again")
    changed = make_adapter(tmp_path / "changed", b"c")
    (changed / "adapter_model.safetensors").write_bytes(b"tampered")
    refused(changed, "changed since it was trained")
    unevaluated = make_adapter(tmp_path / "unevaluated", b"u")
    (unevaluated / EVALUATION).unlink()
    refused(unevaluated, "no evaluation.json")
    refused(make_adapter(tmp_path / "bad-name", b"n"), "is not an adapter name", name="Handbook V3")
    refused(make_adapter(tmp_path / "canary-fraction", b"x"), "between 0 and 1", canary=1.0)
    refused(tmp_path / "nothing-here", "not a LoRA adapter folder")

    good = make_adapter(tmp_path / "good", b"g")
    first = registry.publish(good, name="handbook", canary=0.1).id
    refused(make_adapter(tmp_path / "second", b"s"), "canary now")
    registry.promote()
    again = make_adapter(tmp_path / "again", b"g", against=first)
    refused(again, f"already published as {first}")
    refused(make_adapter(tmp_path / "other-base", b"b", base_model="other", against=first), "for base model 'other'")
    assert list(registry.state().versions) == [first]


@pytest.fixture(autouse=True)
def _no_stray_writes(tmp_path: Path) -> Iterator[None]:
    yield
    assert not list(tmp_path.glob("registry/.*.copying"))  # no half-copied adapter is ever left behind
