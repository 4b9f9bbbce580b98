"""The adapter registry: immutable adapter versions, the routing generate workers follow, and the canary.

store       the registry folder: publish, promote, rollback, the history (`AdapterRegistry`)
deploy      the Helm values and the env file that serve what the registry routes to
routing     `RegistryRouting`, the `AdapterRouting` generate workers follow within seconds of a change
canary      the canary's answers against the current adapter's, from the interaction log
"""

from ragbot.learning.registry.canary import MIN_COMPARED, compare_canary
from ragbot.learning.registry.routing import RegistryRouting
from ragbot.learning.registry.store import AdapterRegistry, AdapterVersion, RegistryState, RoutingState

__all__ = [
    "MIN_COMPARED",
    "AdapterRegistry",
    "AdapterVersion",
    "RegistryRouting",
    "RegistryState",
    "RoutingState",
    "compare_canary",
]
