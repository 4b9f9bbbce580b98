"""The adapter routing generate workers follow from the registry (`RAGBOT_TGI__ROUTING=registry`).

`RegistryRouting` implements `ragbot.generation.routing.AdapterRouting`: it re-reads registry.json when the file
changes, so `ragbot finetune publish|promote|rollback` reach every worker within seconds, without a restart.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from pathlib import Path

from ragbot.errors import ConfigurationError
from ragbot.generation.routing import Route
from ragbot.learning.registry.store import read_state

__all__ = ["RegistryRouting"]

log = logging.getLogger(__name__)


class RegistryRouting:
    """`AdapterRouting` from the registry, re-read when registry.json changes (checked every `refresh_s`).

    A registry that cannot be read keeps the last routing that could (and logs why); before any, the base model.

    Args:
        root: The registry folder (`RAGBOT_FINETUNE__REGISTRY`).
        refresh_s: How often, at most, registry.json is checked for a change (its modification time and size).
    """

    def __init__(self, root: Path, *, refresh_s: float = 2.0) -> None:
        self._file = root / "registry.json"
        self._refresh_s = refresh_s
        self._lock = threading.Lock()
        self._checked = -math.inf
        self._stamp: tuple[int, int] | None = None
        self._route = Route()

    def route(self) -> Route:
        """The routing now, re-read first if registry.json changed."""
        with self._lock:
            if time.monotonic() - self._checked >= self._refresh_s:
                self._checked = time.monotonic()
                self._reload()
            return self._route

    def required(self) -> tuple[str, ...]:
        """The current adapter, which the model server must serve before a generate worker starts."""
        current = self.route().current
        return (current,) if current else ()

    def _reload(self) -> None:
        try:
            info = self._file.stat()
        except FileNotFoundError:
            self._stamp, self._route = None, Route()
            return
        stamp = (info.st_mtime_ns, info.st_size)
        if stamp == self._stamp:
            return
        try:
            self._route = read_state(self._file).routing.route()
            self._stamp = stamp
        except ConfigurationError as err:
            log.error("keeping the last adapter routing: %s", err)
