"""A fake of Slack's Socket Mode endpoint: the WebSocket an app opens instead of receiving HTTP requests.

The protocol, as Slack runs it: the app calls ``apps.connections.open`` with its app-level token (``xapp-…``) and
gets a ``wss://`` URL; on connecting, Slack sends ``{"type": "hello"}``; every event, slash command or interaction
then arrives as an envelope ``{"envelope_id", "type": "events_api"|"slash_commands"|"interactive", "payload",
"accepts_response_payload"}``, and the app acknowledges it by sending ``{"envelope_id": …}`` back (with a
``payload`` where a response is accepted). Unacknowledged envelopes are what Slack retries.

Enable it on a ``FakeSlackApi`` with ``enable_socket_mode(app_token)``; push traffic with ``push`` and wait for the
acknowledgement with ``wait_ack``.
"""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from typing import Any, Self

from aiohttp import WSMsgType, web

Json = dict[str, Any]


class FakeSocketMode:
    """One Socket Mode endpoint on 127.0.0.1 (plain ws://), served by aiohttp on its own thread and event loop."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fake-slack-socket", daemon=True)
        self._runner: web.AppRunner | None = None
        self._cond = threading.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._acks: dict[str, Json] = {}
        self.connections = 0

    def start(self) -> Self:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(10)
        return self

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)
        self._loop.close()

    def wait_connected(self, *, timeout: float = 10.0) -> None:
        with self._cond:
            if not self._cond.wait_for(lambda: bool(self._sockets), timeout):
                raise AssertionError(f"no Socket Mode connection within {timeout}s")

    def push(self, kind: str, payload: Json, *, accepts_response_payload: bool = False) -> str:
        """Send one envelope to the connected app; returns its envelope_id."""
        self.wait_connected()
        envelope_id = str(uuid.uuid4())
        envelope = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": payload,
            "accepts_response_payload": accepts_response_payload,
            "retry_attempt": 0,
            "retry_reason": "",
        }
        with self._cond:
            socket = self._sockets[-1]
        asyncio.run_coroutine_threadsafe(socket.send_json(envelope), self._loop).result(10)
        return envelope_id

    def wait_ack(self, envelope_id: str, *, timeout: float = 10.0) -> Json:
        """The app's acknowledgement of an envelope (what it sent back)."""
        with self._cond:
            if not self._cond.wait_for(lambda: envelope_id in self._acks, timeout):
                raise AssertionError(f"envelope {envelope_id} was not acknowledged within {timeout}s")
            return self._acks[envelope_id]

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_get("/link/", self._connect)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"ws://127.0.0.1:{port}/link/"

    async def _connect(self, request: web.Request) -> web.WebSocketResponse:
        socket = web.WebSocketResponse(autoping=True)
        await socket.prepare(request)
        await socket.send_json(
            {
                "type": "hello",
                "num_connections": 1,
                "debug_info": {"host": "fake-slack", "approximate_connection_time": 18060},
                "connection_info": {"app_id": "A1"},
            }
        )
        with self._cond:
            self._sockets.append(socket)
            self.connections += 1
            self._cond.notify_all()
        try:
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                body = json.loads(message.data)
                if "envelope_id" in body:
                    with self._cond:
                        self._acks[body["envelope_id"]] = body
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._sockets.remove(socket)
        return socket
