"""huggingface_hub's HTTP session, opened to exactly one more host: our own model server.

`HF_HUB_OFFLINE=1` is how ragbot guarantees that nothing downloads weights at run time, and huggingface_hub
enforces it by refusing every request its shared session makes, including `InferenceClient`'s calls to a
self-hosted TGI. `allow_model_server` replaces the session factory (huggingface_hub's public
`set_client_factory`) with one whose guard lets requests to the configured server's host and port through and
keeps refusing everything else while offline mode is on, the Hub included.
"""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import httpx2
from huggingface_hub import constants, set_client_factory
from huggingface_hub.errors import OfflineModeIsEnabled

__all__ = ["allow_model_server"]

_lock = threading.Lock()
_allowed: set[tuple[str, int]] = set()


def allow_model_server(url: str) -> None:
    """Let huggingface_hub reach `url`'s host and port even in offline mode (idempotent, process-wide)."""
    key = _origin(url)
    with _lock:
        if key in _allowed:
            return
        _allowed.add(key)
        set_client_factory(_client)


def _origin(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return (parts.hostname or "").lower(), port


def _guard(request: httpx2.Request) -> None:
    if not constants.is_offline_mode():
        return
    if (request.url.host.lower(), request.url.port or (443 if request.url.scheme == "https" else 80)) in _allowed:
        return
    raise OfflineModeIsEnabled(f"Cannot reach {request.url}: offline mode is enabled (HF_HUB_OFFLINE)")


def _client() -> httpx2.Client:
    return httpx2.Client(event_hooks={"request": [_guard]}, follow_redirects=True, timeout=None)
