"""Which LoRA adapter answers a question: the current one, or a canary for a stable share of questions.

Two sources of routing, one interface (`AdapterRouting`):

    StaticRouting     fixed at start-up: RAGBOT_TGI__ADAPTER, __CANARY_ADAPTER, __CANARY_FRACTION
    RegistryRouting   what the adapter registry says now (`ragbot finetune publish|promote|rollback`), re-read
                      within seconds of a change (`ragbot.learning.registry`)

A question is in the canary when a hash of its id falls below the fraction, so a retried question keeps its
adapter and the same questions stay in the canary while its fraction grows.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Protocol

__all__ = ["AdapterRouting", "Route", "StaticRouting", "in_canary"]


def in_canary(question_id: str, fraction: float) -> bool:
    """Whether this question belongs to a canary that takes `fraction` of questions."""
    if fraction <= 0:
        return False
    digest = hashlib.sha256(question_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < fraction


@dataclass(frozen=True)
class Route:
    """The adapter routing at one moment. `None` is the base model."""

    current: str | None = None
    canary: str | None = None
    fraction: float = 0.0

    def adapter_for(self, question_id: str) -> str | None:
        if self.canary and in_canary(question_id, self.fraction):
            return self.canary
        return self.current


class AdapterRouting(Protocol):
    """Where the routing comes from; asked once per question, so it may change between questions."""

    def route(self) -> Route:
        """The routing now."""
        ...

    def required(self) -> tuple[str, ...]:
        """Adapters the model server must serve before a generate worker starts."""
        ...


class StaticRouting:
    """Routing from settings, fixed for the life of the process; every adapter it names must be served."""

    def __init__(self, route: Route) -> None:
        self._route = route

    def route(self) -> Route:
        return self._route

    def required(self) -> tuple[str, ...]:
        return tuple(a for a in (self._route.current, self._route.canary) if a)
