"""The production generator: a model served by text-generation-inference, through `huggingface_hub.InferenceClient`.

It speaks TGI's OpenAI-compatible Messages API (`/v1/chat/completions`), so vLLM and SGLang servers work unchanged.

    /info         read at start-up and every `info_refresh_s`: the model id and the token limits the prompt is
                  packed under
    adapters      the routing (`generation.routing`: settings, or the adapter registry) names the adapter sent as the
                  request's `model`, and a canary for a stable share of questions (a hash of the question id).
                  An adapter the server does not serve is refused: TGI would silently answer with the base model.
                  A canary the server does not serve yet is skipped (the current adapter answers), and counted.
    refusals      an answer that opens with "I don't know" and cites nothing is the model declining: a refusal
                  ("not in sources") that shows the closest sources
    deadline      one answer may take `deadline_s`, retries of overloaded/unavailable responses included
    degraded      past the deadline, or when the server is down or refuses, the answer is the extractive one,
                  marked as such; the asker always gets the sources

TGI's /info names no adapters. What the server serves is what its `/v1/models` lists besides the base model
(vLLM and SGLang list their LoRA modules there) plus `RAGBOT_TGI__SERVED_ADAPTERS` (for TGI: its LORA_ADAPTERS).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from huggingface_hub import ChatCompletionInputStreamOptions, ChatCompletionStreamOutput, InferenceClient
from huggingface_hub.errors import (
    HfHubHTTPError,
    InferenceTimeoutError,
    OverloadedError,
    TextGenerationError,
)
from huggingface_hub.errors import ValidationError as TgiValidationError

from ragbot.backends.hub_http import allow_model_server
from ragbot.errors import ConfigurationError, PermanentError, RagbotError, RetryableError
from ragbot.generation.citations import cited_numbers, closest_sources, is_model_refusal, keep_markers, snippet
from ragbot.generation.condense import rule_condense
from ragbot.generation.prompting import Prompt, build_prompt, estimate_tokens, tokenizer_counter
from ragbot.generation.routing import AdapterRouting, Route, StaticRouting
from ragbot.models import Answer, Passage, Question
from ragbot.observability import metrics
from ragbot.ports import Generator
from ragbot.settings import TgiSettings

__all__ = ["DEGRADED_NOTE", "ServerInfo", "TgiCondenser", "TgiGenerator", "TgiServer"]

log = logging.getLogger(__name__)

DEGRADED_NOTE = "The answering model is unavailable right now, so here is what the documents say:"
"""Heads a degraded answer, so the reader knows it was quoted, not written."""

_RETRY_STATUSES = {424, 429, 500, 502, 503, 504}
_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)


@dataclass(frozen=True)
class ServerInfo:
    """What the model server says about itself, and the adapters it serves."""

    model_id: str
    max_input_tokens: int
    max_total_tokens: int
    version: str
    adapters: frozenset[str]


class TgiServer:
    """What the model server says about itself (cached), which adapter answers a question, and whether it is served.

    Args:
        settings: URL, token, timeouts; the adapter and canary unless `routing` is given.
        routing: Which adapter answers (default: the settings' adapter and canary).
    """

    def __init__(self, settings: TgiSettings, *, routing: AdapterRouting | None = None) -> None:
        if not settings.url:
            raise ConfigurationError("RAGBOT_TGI__URL is not set")
        allow_model_server(settings.url)
        self._settings = settings
        self.routing = routing or StaticRouting(
            Route(settings.adapter, settings.canary_adapter, settings.canary_fraction)
        )
        self._lock = threading.Lock()
        self._info: ServerInfo | None = None
        self._info_at = 0.0

    @property
    def known(self) -> ServerInfo | None:
        """The last /info read, without asking again."""
        return self._info

    def check(self) -> ServerInfo:
        """Read /info now and refuse an adapter the server does not serve (start-up, readiness).

        Raises:
            ConfigurationError: A configured adapter is not served, or the server refused our credentials.
            RetryableError: The server could not be reached.
        """
        info = self.info(refresh=True)
        for adapter in self.routing.required():
            self.require_served(adapter, info)
        return info

    def info(self, *, refresh: bool = False) -> ServerInfo:
        """/info and the served adapters, cached for `info_refresh_s`."""
        with self._lock:
            fresh = self._info is not None and time.monotonic() - self._info_at < self._settings.info_refresh_s
            if fresh and not refresh:
                return self._info  # type: ignore[return-value]
        info = self._read_info()
        with self._lock:
            self._info, self._info_at = info, time.monotonic()
        return info

    def _read_info(self) -> ServerInfo:
        try:
            raw: dict[str, Any] = self._get_json("info")
            models: dict[str, Any] = self._get_json("v1/models")
        except Exception as err:
            raise _classify(err) from err
        model_id = str(raw["model_id"])
        listed = {str(m.get("id")) for m in models.get("data") or [] if isinstance(m, dict)}
        return ServerInfo(
            model_id=model_id,
            max_input_tokens=int(raw.get("max_input_tokens") or 1024),
            max_total_tokens=int(raw.get("max_total_tokens") or 2048),
            version=str(raw.get("version") or ""),
            adapters=frozenset((listed - {model_id}) | set(self._settings.served_adapters)),
        )

    def adapter_for(self, question_id: str) -> str | None:
        """The adapter the routing picks for this question: the canary for a stable share of ids."""
        return self.routing.route().adapter_for(question_id)

    @staticmethod
    def unless_unserved_canary(route: Route, adapter: str | None, info: ServerInfo) -> str | None:
        """`adapter`, or the current one when `adapter` is a canary the server does not serve (yet)."""
        if adapter and adapter != route.current and adapter not in info.adapters:
            log.warning("canary adapter %s is not served yet; the current adapter answers", adapter)
            metrics.CANARY_SKIPPED.labels(adapter=adapter).inc()
            return route.current
        return adapter

    @staticmethod
    def require_served(adapter: str | None, info: ServerInfo) -> None:
        if adapter and adapter not in info.adapters:
            served = ", ".join(sorted(info.adapters)) or "none"
            raise ConfigurationError(
                f"the model server does not serve adapter {adapter!r} (it serves: {served}); it would answer with "
                f"the base model {info.model_id} instead. Load the adapter (TGI: LORA_ADAPTERS) and list it in "
                "RAGBOT_TGI__SERVED_ADAPTERS, or unset RAGBOT_TGI__ADAPTER / CANARY_ADAPTER"
            )

    def _get_json(self, route: str) -> dict[str, Any]:
        """GET a JSON route of the server through huggingface_hub's session (the one the client itself uses)."""
        from huggingface_hub import get_session

        token = self._settings.token
        headers = {"Authorization": f"Bearer {token.get_secret_value()}"} if token else {}
        timeout = min(self._settings.timeout_s, 10.0)
        response = get_session().get(f"{self._settings.url}/{route}", headers=headers, timeout=timeout)
        if response.status_code >= 400:
            raise _status_error(response.status_code, f"GET /{route}: {response.text[:300]}")
        body = response.json()
        if not isinstance(body, dict):
            raise PermanentError(f"the model server's /{route} is not a JSON object")
        return body


class TgiGenerator:
    """`Generator` backed by a TGI (or vLLM/SGLang) server; the extractive `fallback` answers when it cannot.

    Args:
        settings: URL, token, adapters, canary, timeouts and sampling.
        fallback: The degraded-mode generator (the extractive answerer).
        routing: Which adapter answers (default: the settings' adapter and canary).
    """

    def __init__(self, settings: TgiSettings, *, fallback: Generator, routing: AdapterRouting | None = None) -> None:
        self.server = TgiServer(settings, routing=routing)
        self._settings = settings
        self._fallback = fallback
        self._count_tokens = tokenizer_counter(settings.tokenizer) if settings.tokenizer else estimate_tokens

    @property
    def name(self) -> str:
        info = self.server.known
        return f"tgi:{info.model_id}" if info else "tgi"

    def check(self) -> ServerInfo:
        """`TgiServer.check`: read /info now and refuse an adapter the server does not serve."""
        return self.server.check()

    # -- answering -------------------------------------------------------------------------------------------------

    def generate(
        self, question: Question, passages: Sequence[Passage], *, on_text: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer from `passages`; with `on_text`, stream and call it with the text so far as it grows.

        Never raises for the server's sake: when the model cannot answer in time, the extractive answer comes back
        with reason "degraded".
        """
        deadline = time.monotonic() + self._settings.deadline_s
        route = self.server.routing.route()
        adapter = route.adapter_for(question.question_id)
        label = adapter or "base"
        try:
            info = self.server.info()
            adapter = self.server.unless_unserved_canary(route, adapter, info)
            label = adapter or "base"
            self.server.require_served(adapter, info)
            budget = min(info.max_input_tokens, info.max_total_tokens - self._settings.max_new_tokens)
            if budget < 256:
                raise ConfigurationError(
                    f"the server's token limits leave {budget} input tokens after RAGBOT_TGI__MAX_NEW_TOKENS="
                    f"{self._settings.max_new_tokens}; lower it or raise TGI's --max-total-tokens"
                )
            prompt = build_prompt(
                question,
                passages,
                budget_tokens=budget,
                max_passages=self._settings.passages,
                count_tokens=self._count_tokens,
            )
            relay = _TimedRelay(on_text) if on_text is not None else None
            started = time.perf_counter()
            text, usage = self._complete(prompt, adapter, deadline=deadline, on_text=relay)
            server_s = time.perf_counter() - started - (relay.seconds if relay else 0.0)
            metrics.GENERATION_SECONDS.labels(adapter=label).observe(server_s)
        except RagbotError as err:
            reason = _reason(err)
            metrics.GENERATIONS.labels(adapter=label, result=f"degraded:{reason}").inc()
            log.warning("answering from the documents only: %s", err, extra={"question_id": question.question_id})
            return self._degraded(question, passages, reason=reason)
        metrics.GENERATIONS.labels(adapter=label, result="ok").inc()
        for kind in ("prompt", "completion"):
            metrics.GENERATION_TOKENS.labels(adapter=label, kind=kind).inc(usage.get(f"{kind}_tokens", 0))
        for result, count in (("shown", len(prompt.shown) - prompt.truncated), ("truncated", prompt.truncated)):
            metrics.PROMPT_PACKING.labels(result=result).inc(count)
        metrics.PROMPT_PACKING.labels(result="dropped").inc(prompt.dropped)
        text, invalid = keep_markers(text, set(prompt.shown))
        timings = {"model": round(server_s * 1000, 2)}
        if relay is not None:
            timings["relay"] = round(relay.seconds * 1000, 2)
        declined = is_model_refusal(text) and not cited_numbers(text)
        return Answer(
            text=text,
            refused=declined,
            reason="not in sources" if declined else "",
            citations=closest_sources(passages) if declined else (),
            model=info.model_id,
            adapter=adapter or "",
            prompt_version=prompt.version,
            timings_ms=timings,
            usage={**usage, "invalid_citations": invalid, "passages_shown": len(prompt.shown)},
        )

    def _complete(
        self,
        prompt: Prompt,
        adapter: str | None,
        *,
        deadline: float,
        on_text: Callable[[str], None] | None,
    ) -> tuple[str, dict[str, int]]:
        """One answer from the server, retrying overloaded/unavailable responses until the deadline."""
        attempt = 0
        relayed = False

        def relay(text: str) -> None:
            nonlocal relayed
            relayed = True
            on_text(text)  # type: ignore[misc]

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise RetryableError(f"no answer within the {self._settings.deadline_s:g} s deadline")
            client = self._client(timeout=min(self._settings.timeout_s, remaining))
            try:
                if on_text is None:
                    return self._once(client, prompt, adapter)
                return self._streamed(client, prompt, adapter, deadline=deadline, on_text=relay)
            except Exception as err:
                error = _classify(err)
                # A stream the reader has started seeing is not restarted: it would shrink back to nothing.
                if not isinstance(error, RetryableError) or attempt >= len(_BACKOFF_S) or relayed:
                    raise error from err
                pause = random.uniform(0, _BACKOFF_S[attempt])  # noqa: S311 - jitter, not secrecy
                if time.monotonic() + pause >= deadline:
                    raise error from err
                log.info("model server busy (%s); retrying in %.2f s", error, pause)
                time.sleep(pause)
                attempt += 1

    def _once(self, client: InferenceClient, prompt: Prompt, adapter: str | None) -> tuple[str, dict[str, int]]:
        output = client.chat_completion(
            list(prompt.messages),
            model=adapter or "tgi",
            max_tokens=self._settings.max_new_tokens,
            temperature=self._settings.temperature,
        )
        text = str(output.choices[0].message.content or "")
        usage = output.usage
        counts = {"prompt_tokens": usage.prompt_tokens, "completion_tokens": usage.completion_tokens} if usage else {}
        if output.choices[0].finish_reason == "length":
            counts["truncated_by_length"] = 1
        return text, counts

    def _streamed(
        self,
        client: InferenceClient,
        prompt: Prompt,
        adapter: str | None,
        *,
        deadline: float,
        on_text: Callable[[str], None],
    ) -> tuple[str, dict[str, int]]:
        parts: list[str] = []
        counts: dict[str, int] = {}
        chunks: Iterable[ChatCompletionStreamOutput] = client.chat_completion(
            list(prompt.messages),
            model=adapter or "tgi",
            max_tokens=self._settings.max_new_tokens,
            temperature=self._settings.temperature,
            stream=True,
            stream_options=ChatCompletionInputStreamOptions(include_usage=True),
        )
        for chunk in chunks:
            if time.monotonic() > deadline:
                raise RetryableError(f"the answer was still streaming at the {self._settings.deadline_s:g} s deadline")
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
        return "".join(parts), counts

    def _degraded(self, question: Question, passages: Sequence[Passage], *, reason: str) -> Answer:
        fallback = self._fallback.generate(question, passages)
        if fallback.refused:
            return fallback.model_copy(update={"reason": "degraded", "usage": {**fallback.usage, "degraded": 1}})
        return fallback.model_copy(
            update={
                "text": f"{DEGRADED_NOTE}\n\n{fallback.text}",
                "reason": "degraded",
                "usage": {**fallback.usage, "degraded": 1},
                "model": f"{fallback.model} (model server: {reason})",
            }
        )

    def _client(self, *, timeout: float) -> InferenceClient:
        return _inference_client(self._settings, timeout=timeout)


class _TimedRelay:
    """Passes streamed text on, adding up the time the receiver takes (ragbot's relay cost, not the server's)."""

    def __init__(self, receiver: Callable[[str], None]) -> None:
        self._receiver = receiver
        self.seconds = 0.0

    def __call__(self, text: str) -> None:
        started = time.perf_counter()
        try:
            self._receiver(text)
        finally:
            self.seconds += time.perf_counter() - started


_CONDENSE_RULES = (
    "Rewrite the user's last message as one standalone question that can be understood without the conversation. "
    "Keep every name, number and term from the conversation that it depends on. Do not answer it. Output only the "
    "question."
)


class TgiCondenser:
    """`Condenser` that asks the model; the rule-based rewrite when the model fails, is slow or says too much.

    Args:
        settings: The model server (its base model rewrites; adapters are for answering).
        timeout_s: One attempt, no retries: retrieval waits on it.
    """

    def __init__(self, settings: TgiSettings, *, timeout_s: float = 5.0) -> None:
        if not settings.url:
            raise ConfigurationError("RAGBOT_TGI__URL is not set")
        allow_model_server(settings.url)
        self._settings = settings
        self._timeout_s = timeout_s

    def condense(self, question: Question) -> str:
        if not question.history:
            return question.text
        fallback = rule_condense(question)
        messages = [{"role": "system", "content": _CONDENSE_RULES}]
        messages += [{"role": t.role, "content": t.text} for t in question.history[-6:]]
        messages.append({"role": "user", "content": question.text})
        client = _inference_client(self._settings, timeout=self._timeout_s)
        try:
            output = client.chat_completion(messages, model="tgi", max_tokens=96, temperature=0.0)
            text = " ".join(str(output.choices[0].message.content or "").split())
        except Exception as err:
            log.info("condensing by rule: the model failed (%s: %s)", type(err).__name__, err)
            metrics.CONDENSED.labels(by="rule").inc()
            return fallback
        if not text or len(text) > 2 * len(fallback) + 40:  # empty, or an answer rather than a question
            metrics.CONDENSED.labels(by="rule").inc()
            return fallback
        metrics.CONDENSED.labels(by="model").inc()
        return text


def _inference_client(settings: TgiSettings, *, timeout: float) -> InferenceClient:
    token = settings.token.get_secret_value() if settings.token else None
    return InferenceClient(base_url=settings.url, token=token, timeout=timeout)


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


def _reason(err: RagbotError) -> str:
    text = str(err)
    if "deadline" in text or "timed out" in text:
        return "deadline"
    if "does not serve adapter" in text:
        return "adapter_not_served"
    if isinstance(err, ConfigurationError):
        return "misconfigured"
    if isinstance(err, RetryableError):
        return "unavailable"
    return "rejected"
