"""The lifecycle the HTTP fakes share: a `ThreadingHTTPServer` on 127.0.0.1 at an ephemeral port, on a daemon thread.

Given `tls=` (a server-side `ssl.SSLContext`), the fake serves HTTPS instead.
"""

from __future__ import annotations

import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self


class FakeHttpServer(ThreadingHTTPServer):
    """A threading server whose handlers reach their fake as `self.server.fake`."""

    daemon_threads = True
    request_queue_size = 128  # a real service's backlog, not socketserver's 5: bursts must not drop connections
    fake: Any


class LocalHttpServer:
    """start/stop/with for a fake served by `handler`; `url` is set once started.

    Requests sleeping in `self._stopping.wait(...)` (delays, stalls) wake when the fake stops.
    """

    def __init__(
        self, handler: type[BaseHTTPRequestHandler], *, name: str, path: str = "", tls: ssl.SSLContext | None = None
    ) -> None:
        self._handler, self._name, self._path, self._tls = handler, name, path, tls
        self._stopping = threading.Event()
        self._server: FakeHttpServer | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> Self:
        if self._server is None:
            self._stopping.clear()
            self._server = FakeHttpServer(("127.0.0.1", 0), self._handler)
            self._server.fake = self
            if self._tls is not None:
                self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
            scheme = "https" if self._tls is not None else "http"
            self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}{self._path}"
            self._thread = threading.Thread(
                target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name=self._name, daemon=True
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        server, thread, self._server, self._thread = self._server, self._thread, None, None
        if server is not None and thread is not None:
            self._stopping.set()
            server.shutdown()
            server.server_close()
            thread.join(timeout=5)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
