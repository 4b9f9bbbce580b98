"""A model served by text-generation-inference, through `huggingface_hub.InferenceClient`: the `TextGenerator` port.

It speaks TGI's OpenAI-compatible Messages API (`/v1/chat/completions`), so vLLM and SGLang servers work unchanged.
It only talks to the server: what to ask, which adapter, retries, refusals and the degraded fallback are the generate
hop's (`ragbot.flow.generate`), the same for every model server.

    /info         read at start-up and every `info_refresh_s`: the model id and the token limits the prompt is
                  packed under
    adapters      TGI's /info names none. What the server serves is what its `/v1/models` lists besides the base
                  model (vLLM and SGLang list their LoRA modules there) plus `RAGBOT_TGI__SERVED_ADAPTERS` (for TGI:
                  its LORA_ADAPTERS)
    errors        the client's exceptions in ragbot's tree: what waiting can fix is a `RetryableError`
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from huggingface_hub import ChatCompletionInputStreamOptions, ChatCompletionStreamOutput, InferenceClient, get_session
from huggingface_hub.errors import (
    HfHubHTTPError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
)
from huggingface_hub.errors import ValidationError as TgiValidationError

from ragbot.backends.hub_http import allow_model_server
from ragbot.errors import ConfigurationError, PermanentError, RagbotError, RetryableError
from ragbot.generation.citations import snippet
from ragbot.ports import ChatMessage, Completion, ModelInfo

__all__ = ["ClientFactory", "TgiTextGenerator", "inference_client_factory"]

_RETRY_STATUSES = {424, 429, 500, 502, 503, 504}

ClientFactory = Callable[[float], InferenceClient]
"""Builds the client for one request, with that request's timeout in seconds."""


def inference_client_factory(*, url: str, token: str | None) -> ClientFactory:
    """`InferenceClient`s for the server at `url`; the timeout varies per request (what is left of a deadline)."""
    allow_model_server(url)

    def build(timeout: float) -> InferenceClient:
        return InferenceClient(base_url=url, token=token, timeout=timeout)

    return build


class TgiTextGenerator:
    """`TextGenerator` over a TGI (or vLLM/SGLang) server.

    Args:
        url: The server's base URL (for its /info and /v1/models).
        client: Builds the `InferenceClient` for a request (tests and proxies inject their own).
        token: Bearer token for the JSON routes (the client carries its own).
        info_refresh_s: How long /info is trusted before it is read again.
        served_adapters: Adapters the server serves that its /v1/models does not list (TGI's LORA_ADAPTERS).
    """

    def __init__(
        self,
        *,
        url: str,
        client: ClientFactory,
        token: str | None = None,
        info_refresh_s: float = 60.0,
        served_adapters: Sequence[str] = (),
        info_timeout_s: float = 10.0,
    ) -> None:
        if not url:
            raise ConfigurationError("RAGBOT_TGI__URL is not set")
        self._url = url.rstrip("/")
        self._client = client
        self._token = token
        self._info_refresh_s = info_refresh_s
        self._served = frozenset(served_adapters)
        self._info_timeout_s = info_timeout_s
        self._lock = threading.Lock()
        self._info: ModelInfo | None = None
        self._info_at = 0.0

    def info(self, *, refresh: bool = False) -> ModelInfo:
        """/info and the served adapters, cached for `info_refresh_s`."""
        with self._lock:
            fresh = self._info is not None and time.monotonic() - self._info_at < self._info_refresh_s
            if fresh and not refresh:
                return self._info  # type: ignore[return-value]
        info = self._read_info()
        with self._lock:
            self._info, self._info_at = info, time.monotonic()
        return info

    def complete(
        self,
        messages: Sequence[ChatMessage],
        *,
        adapter: str | None,
        max_tokens: int,
        temperature: float,
        timeout_s: float,
        deadline_s: float,
        on_text: Callable[[str], None] | None = None,
    ) -> Completion:
        deadline = time.monotonic() + deadline_s
        client = self._client(timeout_s)
        try:
            if on_text is None:
                return self._once(client, messages, adapter, max_tokens=max_tokens, temperature=temperature)
            return self._streamed(
                client,
                messages,
                adapter,
                max_tokens=max_tokens,
                temperature=temperature,
                deadline=deadline,
                on_text=on_text,
            )
        except Exception as err:
            raise _classify(err) from err

    def _once(
        self,
        client: InferenceClient,
        messages: Sequence[ChatMessage],
        adapter: str | None,
        *,
        max_tokens: int,
        temperature: float,
    ) -> Completion:
        output = client.chat_completion(
            [dict(m) for m in messages], model=adapter or "tgi", max_tokens=max_tokens, temperature=temperature
        )
        text = str(output.choices[0].message.content or "")
        usage = output.usage
        counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens} if usage else {}
        if output.choices[0].finish_reason == "length":
            counts["truncated_by_length"] = 1
        return Completion(text=text, usage=counts)

    def _streamed(
        self,
        client: InferenceClient,
        messages: Sequence[ChatMessage],
        adapter: str | None,
        *,
        max_tokens: int,
        temperature: float,
        deadline: float,
        on_text: Callable[[str], None],
    ) -> Completion:
        parts: list[str] = []
        counts: dict[str, int] = {}
        chunks: Iterable[ChatCompletionStreamOutput] = client.chat_completion(
            [dict(m) for m in messages],
            model=adapter or "tgi",
            max_tokens=max_tokens,
            temperature=temperature,
            stream=True,
            stream_options=ChatCompletionInputStreamOptions(include_usage=True),
        )
        for chunk in chunks:
            if time.monotonic() > deadline:
                raise RetryableError("the answer was still streaming at the deadline")
            if chunk.usage:
                usage = chunk.usage
                counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens}
            for choice in chunk.choices or ():
                delta = choice.delta.content if choice.delta else None
                if delta:
                    parts.append(delta)
                    on_text("".join(parts))
                if choice.finish_reason == "length":
                    counts["truncated_by_length"] = 1
        return Completion(text="".join(parts), usage=counts)

    def _read_info(self) -> ModelInfo:
        try:
            raw: dict[str, Any] = self._get_json("info")
            models: dict[str, Any] = self._get_json("v1/models")
        except Exception as err:
            raise _classify(err) from err
        model_id = str(raw["model_id"])
        listed = {str(m.get("id")) for m in models.get("data") or [] if isinstance(m, dict)}
        return ModelInfo(
            model_id=model_id,
            max_input_tokens=int(raw.get("max_input_tokens") or 1024),
            max_total_tokens=int(raw.get("max_total_tokens") or 2048),
            version=str(raw.get("version") or ""),
            adapters=frozenset((listed - {model_id}) | self._served),
        )

    def _get_json(self, route: str) -> dict[str, Any]:
        """GET a JSON route of the server through huggingface_hub's session (the one the client itself uses)."""
        headers = {"Authorization": f"Bearer {self._token}"} if self._token else {}
        response = get_session().get(f"{self._url}/{route}", headers=headers, timeout=self._info_timeout_s)
        if response.status_code >= 400:
            raise _status_error(response.status_code, f"GET /{route}: {response.text[:300]}")
        body = response.json()
        if not isinstance(body, dict):
            raise PermanentError(f"the model server's /{route} is not a JSON object")
        return body


def _classify(err: BaseException) -> RagbotError:
    """The client's exceptions in ragbot's error tree: what waiting can fix is retryable."""
    import httpx2

    if isinstance(err, RagbotError):
        return err
    if isinstance(err, InferenceTimeoutError | httpx2.TimeoutException | TimeoutError):
        return RetryableError("the model server timed out")
    if isinstance(err, OverloadedError):
        return RetryableError("the model server is overloaded")
    if isinstance(err, TgiValidationError):
        return PermanentError(f"the model server rejected the request: {snippet(str(err), limit=300)}")
    if isinstance(err, TextGenerationError):
        return RetryableError(f"the model server failed mid-answer: {snippet(str(err), limit=300)}")
    if isinstance(err, HfHubHTTPError) and err.response is not None:
        return _status_error(err.response.status_code, str(err))
    if isinstance(err, httpx2.TransportError | OSError):
        return RetryableError(f"cannot reach the model server ({type(err).__name__})")
    if isinstance(err, KeyError | ValueError | TypeError):
        return PermanentError(f"the model server's answer was not what TGI sends ({type(err).__name__}: {err})")
    raise err


def _status_error(status: int, detail: str) -> RagbotError:
    if status in (401, 403):
        return ConfigurationError(f"the model server refused our credentials ({status}): check RAGBOT_TGI__TOKEN")
    if status in _RETRY_STATUSES:
        return RetryableError(f"the model server answered {status}")
    return PermanentError(f"the model server rejected the request ({status}): {snippet(detail, limit=300)}")
