"""A fake of text-generation-inference (TGI) on a local port, speaking TGI's HTTP protocol to the real clients.

Routes, as TGI's router serves them:

* ``GET /info``: the router's `Info` (model id, ``max_input_tokens``, ``max_total_tokens``, version, …). TGI lists
  no LoRA adapters here.
* ``GET /health``: 200 with an empty body, or 503 ``{"error": "unhealthy", "error_type": "healthcheck"}``.
* ``GET /v1/models``: the OpenAI-style list, naming only the base model (as TGI does; ``list_adapters`` adds the
  adapters, as vLLM and SGLang do).
* ``POST /v1/chat/completions``: the Messages API. ``model`` picks a LoRA adapter (``"tgi"`` or absent: the base
  model); an adapter the server does not serve silently gets the base model, as TGI does. With ``"stream": true``
  the answer comes as server-sent events, ``data: {chat.completion.chunk}`` per token and ``data: [DONE]``; with
  ``stream_options.include_usage`` the last chunk carries ``usage``.

Errors are TGI's: ``{"error": "...", "error_type": "validation"|"overloaded"|"generation"|…}`` with 422, 429, 424 or
500, and inside a stream as a ``data:`` event with the same fields. Token counts are estimated (words and
punctuation), which is enough to enforce ``max_input_tokens`` and ``max_total_tokens`` the way the router does.

What the "model" says comes from ``responder(request) -> str``; the default quotes the first source it was given
and cites it as ``[1]``, like a well-behaved grounded model. Fault injection: ``fail_next``, ``delay``,
``token_delay``, ``stall_stream``, ``healthy``.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.fakes.local_server import LocalHttpServer

Json = dict[str, Any]
Responder = Callable[[Json], str]

_TOKEN = re.compile(r"\w+|[^\w\s]")
_SOURCE = re.compile(r"^\[(\d+)\][^\n]*\n(.+?)(?=\n\[\d+\]|\n</sources>|\Z)", re.S | re.M)
_VERSION = "3.3.6"


def count_tokens(text: str) -> int:
    """A stand-in for the model's tokenizer: one token per word or punctuation mark."""
    return len(_TOKEN.findall(text))


def quote_first_source(request: Json) -> str:
    """The default model: one sentence of the first numbered source in the last user message, cited as [1]."""
    content = str(request["messages"][-1]["content"])
    found = _SOURCE.search(content)
    if not found:
        return "I don't know: the sources do not say."
    sentence = re.split(r"(?<=[.!?])\s", found.group(2).strip(), maxsplit=1)[0]
    return f"{sentence} [{found.group(1)}]"


@dataclass(frozen=True)
class TgiCall:
    """One request the fake received."""

    method: str
    path: str
    body: Json
    headers: dict[str, str]
    status: int
    at: float


class _Error(Exception):
    def __init__(self, status: int, error: str, error_type: str) -> None:
        super().__init__(error)
        self.status, self.body = status, {"error": error, "error_type": error_type}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client dropped a kept-alive connection, as HTTP clients do when they close

    def do_GET(self) -> None:
        self.server.fake._handle(self)  # type: ignore[attr-defined]

    def do_POST(self) -> None:
        self.server.fake._handle(self)  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:
        pass


class FakeTgi(LocalHttpServer):
    """TGI's router for one base model on 127.0.0.1 at an ephemeral port.

    Args:
        model_id: What /info and every response name as the model.
        max_input_tokens, max_total_tokens: The router's limits (``--max-input-tokens``, ``--max-total-tokens``).
        adapters: LoRA adapter ids loaded (``LORA_ADAPTERS``); they are not advertised anywhere, as in TGI.
        api_key: When set, requests need ``Authorization: Bearer <api_key>`` (TGI's ``--api-key``).
        responder: Writes the answer text from the request body.
        list_adapters: List the adapters in ``/v1/models`` as vLLM and SGLang do (TGI does not).
    """

    def __init__(
        self,
        *,
        model_id: str = "ragbot/handbook-assistant-8b",
        max_input_tokens: int = 4096,
        max_total_tokens: int = 8192,
        adapters: tuple[str, ...] = (),
        api_key: str | None = None,
        responder: Responder = quote_first_source,
        list_adapters: bool = False,
    ) -> None:
        self.model_id, self.adapters, self.api_key = model_id, adapters, api_key
        self.list_adapters = list_adapters
        self.max_input_tokens, self.max_total_tokens = max_input_tokens, max_total_tokens
        super().__init__(_Handler, name="fake-tgi")
        self.responder = responder
        self.healthy = True
        self._lock = threading.Condition(threading.RLock())
        self._calls: list[TgiCall] = []
        self._failures: deque[tuple[int, str, str]] = deque()
        self._delay_s = 0.0
        self._stall: tuple[int, float] | None = None
        self._token_delay_s = 0.0

    # ---- fault injection and inspection

    def fail_next(
        self, status: int = 429, *, error_type: str = "overloaded", error: str = "Model is overloaded"
    ) -> None:
        """The next chat completion fails with TGI's error payload (call n times to fail n requests)."""
        with self._lock:
            self._failures.append((status, error, error_type))

    def delay(self, seconds: float) -> None:
        """Every later chat completion waits this long before answering (0 removes the delay)."""
        self._delay_s = seconds

    def token_delay(self, seconds: float) -> None:
        """Streams wait this long before each token after the first (a model writing at a human-visible pace)."""
        self._token_delay_s = seconds

    def stall_stream(self, after_tokens: int, seconds: float) -> None:
        """Streams pause for ``seconds`` after ``after_tokens`` tokens (a server that hangs mid-answer)."""
        self._stall = (after_tokens, seconds)

    def calls(self, path: str | None = None) -> list[TgiCall]:
        with self._lock:
            return [c for c in self._calls if path is None or c.path == path]

    def chat_requests(self) -> list[Json]:
        """The bodies of every chat completion request, in order."""
        return [c.body for c in self.calls("/v1/chat/completions")]

    # ---- the protocol

    def _handle(self, handler: BaseHTTPRequestHandler) -> None:
        path = handler.path.split("?", 1)[0]
        raw = handler.rfile.read(int(handler.headers.get("Content-Length") or 0))
        body: Json = {}
        try:
            if self.api_key is not None and handler.headers.get("Authorization") != f"Bearer {self.api_key}":
                raise _Error(401, "Unauthorized", "authentication")
            if raw:
                try:
                    body = json.loads(raw)
                except ValueError:
                    raise _Error(422, "Failed to parse the request body as JSON", "validation") from None
            status, send = self._route(handler.command, path, body)
        except _Error as err:
            status, send = err.status, self._json_sender(err.status, err.body)
        # Recorded before the answer goes out, so a test that has its answer also sees the call.
        with self._lock:
            headers = {k.lower(): v for k, v in handler.headers.items()}
            self._calls.append(TgiCall(handler.command, path, body, headers, status, time.time()))
            self._lock.notify_all()
        try:
            send(handler)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout): nothing left to answer

    def _route(self, method: str, path: str, body: Json) -> tuple[int, Callable[[BaseHTTPRequestHandler], None]]:
        route = (method, path)
        if route == ("GET", "/info"):
            return 200, self._json_sender(200, self._info())
        if route == ("GET", "/health"):
            if not self.healthy:
                raise _Error(503, "unhealthy", "healthcheck")
            return 200, lambda handler: self._send(handler, 200, b"", "text/plain")
        if route == ("GET", "/v1/models"):
            ids = [self.model_id, *(self.adapters if self.list_adapters else ())]
            models = [{"id": i, "object": "model", "created": 0, "owned_by": self.model_id} for i in ids]
            return 200, self._json_sender(200, {"object": "list", "data": models})
        if route == ("POST", "/v1/chat/completions"):
            return 200, self._chat(body)
        raise _Error(404, f"no route {method} {path}", "not_found")

    def _json_sender(self, status: int, body: Json) -> Callable[[BaseHTTPRequestHandler], None]:
        return lambda handler: self._send_json(handler, status, body)

    def _info(self) -> Json:
        return {
            "model_id": self.model_id,
            "model_sha": "0123456789abcdef0123456789abcdef01234567",
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": 128,
            "max_best_of": 2,
            "max_stop_sequences": 4,
            "max_input_tokens": self.max_input_tokens,
            "max_total_tokens": self.max_total_tokens,
            "validation_workers": 2,
            "max_client_batch_size": 4,
            "router": "text-generation-router",
            "version": _VERSION,
            "sha": None,
            "docker_label": None,
        }

    def _chat(self, body: Json) -> Callable[[BaseHTTPRequestHandler], None]:
        messages = body.get("messages")
        if not isinstance(messages, list) or not messages:
            raise _Error(422, "Input validation error: `inputs` cannot be empty", "validation")
        for message in messages:
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant"):
                raise _Error(422, "Failed to deserialize the JSON body: messages: unknown role", "validation")
        max_new = int(body.get("max_tokens") or 100)
        prompt = "\n".join(str(m.get("content") or "") for m in messages)
        used = count_tokens(prompt) + 4 * len(messages)  # the chat template's own tokens
        if used > self.max_input_tokens:
            error = f"`inputs` must have less than {self.max_input_tokens} tokens. Given: {used}"
            raise _Error(422, f"Input validation error: {error}", "validation")
        if used + max_new > self.max_total_tokens:
            error = (
                f"`inputs` tokens + `max_new_tokens` must be <= {self.max_total_tokens}. "
                f"Given: {used} `inputs` tokens and {max_new} `max_new_tokens`"
            )
            raise _Error(422, f"Input validation error: {error}", "validation")
        with self._lock:
            failure = self._failures.popleft() if self._failures else None
        if failure:
            raise _Error(failure[0], failure[1], failure[2])
        if self._delay_s:
            self._stopping.wait(self._delay_s)
        text = self.responder(body)
        tokens = re.findall(r"\S+\s*", text)[:max_new] or [""]
        finish = "length" if len(re.findall(r"\S+\s*", text)) > max_new else "stop"
        usage = {"prompt_tokens": used, "completion_tokens": len(tokens), "total_tokens": used + len(tokens)}
        created = int(time.time())
        if body.get("stream"):
            wants_usage = (body.get("stream_options") or {}).get("include_usage")
            return lambda handler: self._stream(handler, tokens, finish, usage if wants_usage else None, created)
        return self._json_sender(
            200,
            {
                "object": "chat.completion",
                "id": "",
                "created": created,
                "model": self.model_id,
                "system_fingerprint": f"{_VERSION}-native",
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": "".join(tokens)},
                        "logprobs": None,
                        "finish_reason": finish,
                    }
                ],
                "usage": usage,
            },
        )

    def _stream(
        self, handler: BaseHTTPRequestHandler, tokens: list[str], finish: str, usage: Json | None, created: int
    ) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/event-stream")
        handler.send_header("Cache-Control", "no-cache")
        handler.send_header("Transfer-Encoding", "chunked")
        handler.end_headers()
        for i, token in enumerate(tokens):
            if self._stall and i == self._stall[0]:
                self._stopping.wait(self._stall[1])
            if i and self._token_delay_s:
                self._stopping.wait(self._token_delay_s)
            last = i == len(tokens) - 1
            chunk = {
                "object": "chat.completion.chunk",
                "id": "",
                "created": created,
                "model": self.model_id,
                "system_fingerprint": f"{_VERSION}-native",
                "choices": [
                    {
                        "index": 0,
                        "delta": {"role": "assistant", "content": token},
                        "logprobs": None,
                        "finish_reason": finish if last else None,
                    }
                ],
                "usage": usage if last else None,
            }
            self._write_chunk(handler, f"data: {json.dumps(chunk)}\n\n".encode())
        self._write_chunk(handler, b"data: [DONE]\n\n")
        self._write_chunk(handler, b"")

    @staticmethod
    def _write_chunk(handler: BaseHTTPRequestHandler, data: bytes) -> None:
        handler.wfile.write(f"{len(data):X}\r\n".encode() + data + b"\r\n")
        handler.wfile.flush()

    @staticmethod
    def _send_json(handler: BaseHTTPRequestHandler, status: int, body: Json) -> None:
        FakeTgi._send(handler, status, json.dumps(body).encode(), "application/json")

    @staticmethod
    def _send(handler: BaseHTTPRequestHandler, status: int, data: bytes, content_type: str) -> None:
        handler.send_response(status)
        handler.send_header("Content-Type", content_type)
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)
