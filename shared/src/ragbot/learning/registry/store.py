"""The adapter store: immutable adapter versions, which one answers (and which is the canary), and the history.

One folder, on the volume the model server reads (Kubernetes: the models volume TGI mounts):

    registry.json                 versions (id → content hash, base model, prompt version, dataset, evaluation),
                                  the routing (current, canary and its fraction, the previous currents), events
    versions/<id>/                a published adapter, copied in and made read-only; <id> = <name>-<hash[:12]>
    evaluations/                  every `ragbot finetune evaluate` report (what `ragbot advise` reads)
    helm-values.yaml              the chart values the registry implies (`helm upgrade -f`): the adapters TGI
                                  must load, and generate workers that follow the registry
    adapters.env                  the same for docker compose and plain settings

`publish` registers an adapter that passed the evaluation gate against the adapter current at publish time, as
the canary (`--canary F`) or as current; `promote` makes the canary current; `rollback` ends the canary, or,
without one, restores the previous current. Generation workers with `RAGBOT_TGI__ROUTING=registry` follow the
routing within seconds (`RegistryRouting`). TGI loads adapters at start only (`LORA_ADAPTERS`), so a newly
published adapter needs the values applied once; the current, the canary and the last two currents stay loaded,
so promote and rollback need nothing more. What the values say is `deploy`'s; how workers follow the routing is
`routing`'s.

Writers take an exclusive lock on the folder; registry.json is replaced atomically, so readers never see half.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ragbot.errors import ConfigurationError, InputError
from ragbot.generation.prompting import PROMPT_VERSION
from ragbot.generation.routing import Route
from ragbot.learning.artifacts import (
    ADAPTER_CARD,
    CONTENT_FILES,
    EVALUATION,
    content_hash,
    read_adapter_card,
    read_json,
    write_json,
)
from ragbot.learning.registry.deploy import implied_values, write_deploy_files
from ragbot.settings import check_adapter_name

__all__ = [
    "KEEP_LOADED",
    "REGISTRY_FORMAT",
    "AdapterRegistry",
    "AdapterVersion",
    "Event",
    "RegistryState",
    "RoutingState",
    "read_state",
]

REGISTRY_FORMAT = "ragbot-registry/1"
KEEP_LOADED = 2
"""Previous currents kept loaded in TGI, so a rollback needs no restart."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AdapterVersion(_Model):
    """One published adapter; never changes once written."""

    id: str
    content_hash: str
    base_model: str
    prompt_version: str
    dataset_hash: str
    published_at: datetime
    evaluation: dict[str, Any] = Field(default_factory=dict)
    metrics: dict[str, Any] = Field(default_factory=dict)


class RoutingState(_Model):
    """Which version answers. `previous` holds earlier currents, newest last ("" is the base model)."""

    current: str | None = None
    current_since: datetime | None = None
    canary: str | None = None
    fraction: float = Field(0.0, ge=0.0, le=1.0)
    canary_since: datetime | None = None
    previous: list[str] = Field(default_factory=list)

    def route(self) -> Route:
        return Route(self.current, self.canary, self.fraction if self.canary else 0.0)


class Event(_Model):
    """One change to the routing, as `ragbot finetune status` lists it."""

    at: datetime
    action: str
    adapter: str | None = None
    detail: str = ""


class RegistryState(_Model):
    """Everything registry.json holds: the versions, the routing and the events."""

    format: str = REGISTRY_FORMAT
    versions: dict[str, AdapterVersion] = Field(default_factory=dict)
    routing: RoutingState = RoutingState()
    events: list[Event] = Field(default_factory=list)

    def loaded(self) -> list[str]:
        """The versions the model server must load: current, canary, and the last previous currents."""
        r = self.routing
        wanted = [r.current, r.canary, *reversed([p for p in r.previous if p][-KEEP_LOADED:])]
        return list(dict.fromkeys(a for a in wanted if a))


class AdapterRegistry:
    """The registry folder (`RAGBOT_FINETUNE__REGISTRY`).

    Args:
        root: The folder (created on first write).
        served_path: The same folder as the model server sees it (default: `root`).
    """

    def __init__(self, root: Path, *, served_path: str | None = None) -> None:
        self.root = root
        self.served_path = (served_path or str(root)).rstrip("/")

    @property
    def file(self) -> Path:
        return self.root / "registry.json"

    def state(self) -> RegistryState:
        """The registry now (empty when nothing was published)."""
        return read_state(self.file)

    def folder(self, version: str) -> Path:
        return self.root / "versions" / version

    def current(self) -> tuple[str, Path, dict[str, Any]] | None:
        """(id, folder, card) of the current adapter, or None for the base model."""
        current = self.state().routing.current
        if not current:
            return None
        return current, self.folder(current), read_adapter_card(self.folder(current))

    def save_evaluation(self, report: dict[str, Any]) -> Path:
        """Keep an evaluation report (for `ragbot advise`); returns its path."""
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        path = self.root / "evaluations" / f"{stamp}-{report['candidate']['content_hash'][:12]}.json"
        write_json(path, report)
        return path

    def latest_evaluation(self) -> dict[str, Any] | None:
        """The newest evaluation report, if any."""
        folder = self.root / "evaluations"
        reports = sorted(folder.glob("*.json")) if folder.is_dir() else []
        return read_json(reports[-1], what="an evaluation report") if reports else None

    # -- changes -----------------------------------------------------------------------------------------------------

    def publish(self, adapter_dir: Path, *, name: str, canary: float | None = None) -> AdapterVersion:
        """Register an evaluated adapter as the canary (with `canary` as its fraction) or as current.

        Raises:
            InputError: Not an adapter folder, no passing evaluation against the current adapter, a prompt or
                base model other than the registry's, or a canary already running.
        """
        try:
            check_adapter_name(f"{name}-{'0' * 12}")
        except ValueError as err:
            raise InputError(f"--name {name!r}: {err}".replace(f"-{'0' * 12}", "")) from err
        card = read_adapter_card(adapter_dir)
        evaluation = read_json(adapter_dir / EVALUATION, what="the report 'ragbot finetune evaluate' writes")
        if card["prompt_version"] != PROMPT_VERSION:
            raise InputError(
                f"the adapter was trained on {card['prompt_version']} prompts, but this release sends "
                f"{PROMPT_VERSION}: build a dataset and train again"
            )
        if evaluation.get("candidate", {}).get("content_hash") != card["content_hash"]:
            raise InputError("evaluation.json is not this adapter's: run 'ragbot finetune evaluate' on it")
        if not evaluation.get("gate", {}).get("passed"):
            failed = ", ".join(evaluation.get("gate", {}).get("regressions") or []) or "no examples"
            raise InputError(f"the adapter did not pass the evaluation gate ({failed}): it cannot be published")
        version_id = f"{name}-{card['content_hash'][:12]}"
        if canary is not None and not 0 < canary < 1:
            raise InputError("--canary must be a fraction between 0 and 1 (0.1 = one question in ten)")

        with self._changing() as state:
            routing = state.routing
            against = evaluation.get("against", {}).get("id")
            if against != (routing.current or "base"):
                raise InputError(
                    f"the adapter was evaluated against {against}, but {routing.current or 'the base model'} is "
                    "current now: evaluate it again"
                )
            if version_id in state.versions:
                raise InputError(f"this adapter is already published as {version_id}")
            if routing.canary:
                raise InputError(f"{routing.canary} is the canary now: promote it or roll it back first")
            bases = {v.base_model for v in state.versions.values()}
            if bases and card["base_model"] not in bases:
                raise InputError(
                    f"the adapter is for base model {card['base_model']!r}; the registry's adapters are for "
                    f"{', '.join(sorted(bases))}"
                )
            self._copy_in(adapter_dir, version_id, expected=card["content_hash"])
            now = datetime.now(UTC)
            version = AdapterVersion(
                id=version_id,
                content_hash=card["content_hash"],
                base_model=card["base_model"],
                prompt_version=card["prompt_version"],
                dataset_hash=card["dataset"]["hash"],
                published_at=now,
                evaluation={
                    "against": against,
                    "gate": evaluation["gate"],
                    "metrics": evaluation["metrics"]["candidate"],
                },
                metrics=card.get("metrics", {}),
            )
            state.versions[version_id] = version
            if canary is not None:
                routing.canary, routing.fraction, routing.canary_since = version_id, canary, now
                state.events.append(Event(at=now, action="canary", adapter=version_id, detail=f"fraction {canary}"))
            else:
                self._make_current(state, version_id, now)
                state.events.append(Event(at=now, action="publish", adapter=version_id))
        return version

    def promote(self) -> RoutingState:
        """Make the canary the current adapter.

        Raises:
            InputError: No canary.
        """
        with self._changing() as state:
            routing = state.routing
            if not routing.canary:
                raise InputError("there is no canary to promote")
            promoted, now = routing.canary, datetime.now(UTC)
            self._make_current(state, promoted, now)
            state.events.append(Event(at=now, action="promote", adapter=promoted))
            return routing.model_copy()

    def rollback(self) -> tuple[str, RoutingState]:
        """End the canary; without one, restore the previous current. Returns what was done, and the routing.

        Raises:
            InputError: Neither a canary nor a previous current.
        """
        with self._changing() as state:
            routing, now = state.routing, datetime.now(UTC)
            if routing.canary:
                ended = routing.canary
                routing.canary, routing.fraction, routing.canary_since = None, 0.0, None
                state.events.append(Event(at=now, action="rollback", adapter=ended, detail="canary ended"))
                return f"ended the canary {ended}; {routing.current or 'the base model'} answers every question", (
                    routing.model_copy()
                )
            if not routing.previous:
                raise InputError("nothing to roll back to: no canary, and no earlier current adapter")
            replaced = routing.current
            restored = routing.previous.pop()
            routing.current, routing.current_since = restored or None, now
            state.events.append(Event(at=now, action="rollback", adapter=restored or None, detail=f"from {replaced}"))
            return f"{restored or 'the base model'} is current again (was {replaced})", routing.model_copy()

    # -- what the registry implies ------------------------------------------------------------------------------------

    def implied(self, state: RegistryState | None = None) -> dict[str, Any]:
        """The chart values and the settings that serve what the registry routes to."""
        return implied_values((state or self.state()).loaded(), served_path=self.served_path)

    # -- internals ---------------------------------------------------------------------------------------------------

    @contextmanager
    def _changing(self) -> Iterator[RegistryState]:
        self.root.mkdir(parents=True, exist_ok=True)
        with (self.root / ".lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            state = self.state()
            yield state
            write_json(self.file, state.model_dump(mode="json"))
            write_deploy_files(self.root, self.implied(state))

    def _make_current(self, state: RegistryState, version: str, now: datetime) -> None:
        routing = state.routing
        if routing.canary == version:
            routing.canary, routing.fraction, routing.canary_since = None, 0.0, None
        routing.previous.append(routing.current or "")
        routing.current, routing.current_since = version, now

    def _copy_in(self, adapter_dir: Path, version: str, *, expected: str) -> None:
        target = self.folder(version)
        staging = target.with_name(f".{version}.copying")
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir(parents=True)
        for name in (*CONTENT_FILES, ADAPTER_CARD, EVALUATION, "README.md"):
            if (adapter_dir / name).exists():
                shutil.copy2(adapter_dir / name, staging / name)
        for path in staging.iterdir():
            path.chmod(stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        if content_hash(staging) != expected:
            raise InputError(f"{adapter_dir} changed while it was being copied: publish again")
        os.replace(staging, target)


def read_state(path: Path) -> RegistryState:
    """Read and check a registry.json; a missing file is an empty registry.

    Args:
        path: The registry.json file.

    Returns:
        The registry's state.

    Raises:
        ConfigurationError: The file cannot be read, is not valid, or has another format.
    """
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return RegistryState()
    except OSError as err:
        raise ConfigurationError(f"cannot read the adapter registry {path}: {err}") from err
    try:
        state = RegistryState.model_validate_json(raw)
    except ValidationError as err:
        raise ConfigurationError(f"the adapter registry {path} is not valid: {err.errors()[0]['msg']}") from err
    if state.format != REGISTRY_FORMAT:
        raise ConfigurationError(f"the adapter registry {path} has format {state.format!r}, not {REGISTRY_FORMAT!r}")
    return state
