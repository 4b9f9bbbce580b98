"""Hop 2: generate. Passages → an `Answer` whose every `[n]` points at a passage the asker was shown.

    prompt      the question and the passages, packed by rank under the server's token budget (`build_prompt`)
    route       the adapter the routing picks (a canary for a stable share of questions); one the server does not
                serve is refused (it would silently answer with the base model), a canary not yet served is skipped
    complete    the `TextGenerator` writes it, streamed to `on_text` when given; overloaded or unavailable servers
                are retried with jittered backoff until the deadline, but a stream the reader has seen is never
                restarted
    refusal     an answer that opens with "I don't know" and cites nothing is the model declining: a refusal
                ("not in sources") that shows the closest sources
    degraded    past the deadline, or when the server is down or refuses, the answer is the extractive one, marked
                as such: the asker always gets the sources
    citations   whatever wrote the text, `check_citations` removes markers that point at no given passage, and an
                answer left with no valid citation becomes a refusal that lists the closest sources

Without a model server the extractive answerer writes every answer. Any model server behind the `TextGenerator`
port (TGI, vLLM, SGLang) gets the same policy.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ragbot import texts
from ragbot.errors import ConfigurationError, RagbotError, RetryableError
from ragbot.generation.citations import MARKER, cite, cited_numbers, closest_sources, is_model_refusal, keep_markers
from ragbot.generation.prompting import Prompt, TokenCounter, build_prompt, estimate_tokens
from ragbot.generation.routing import AdapterRouting, Route
from ragbot.models import Answer, Outcome, Passage, Question, Retrieval
from ragbot.observability import metrics
from ragbot.ports import Completion, Generator, ModelInfo, TextGenerator

__all__ = [
    "ModelAnswerer",
    "ModelPolicy",
    "answer",
    "answer_retrieval",
    "check_citations",
    "check_served",
    "require_served",
    "unless_unserved_canary",
]

log = logging.getLogger(__name__)

_BACKOFF_S = (0.25, 0.5, 1.0, 2.0)
_MIN_PROMPT_TOKENS = 256


@dataclass(frozen=True, slots=True)
class ModelPolicy:
    """How answers are asked of a model (from the model server's settings, at the composition root).

    Args:
        deadline_s: One answer may take this long, retries included; then the degraded answer goes out.
        timeout_s: The most one request may wait for the server.
        max_new_tokens: The most tokens an answer may have.
        temperature: Sampling temperature.
        passages: The most passages shown to the model.
    """

    deadline_s: float
    timeout_s: float
    max_new_tokens: int
    temperature: float
    passages: int


class ModelAnswerer:
    """A `Generator` that asks a model server, with the extractive `fallback` as its degraded mode.

    Args:
        model: The model server.
        routing: Which adapter answers a question.
        policy: Deadline, timeouts and sampling.
        fallback: Answers when the model cannot (the extractive answerer).
        count_tokens: Token counts for the prompt budget (the served model's tokenizer when known).
    """

    def __init__(
        self,
        *,
        model: TextGenerator,
        routing: AdapterRouting,
        policy: ModelPolicy,
        fallback: Generator,
        count_tokens: TokenCounter = estimate_tokens,
    ) -> None:
        self.model = model
        self.routing = routing
        self._policy = policy
        self._fallback = fallback
        self._count_tokens = count_tokens
        self._known: ModelInfo | None = None

    @property
    def name(self) -> str:
        return f"tgi:{self._known.model_id}" if self._known else "tgi"

    def check(self) -> ModelInfo:
        """Ask the server now and refuse an adapter it does not serve (start-up, readiness).

        Raises:
            ConfigurationError: A configured adapter is not served, or the server refused our credentials.
            RetryableError: The server could not be reached.
        """
        self._known = check_served(self.model, self.routing)
        return self._known

    def generate(
        self, question: Question, passages: Sequence[Passage], *, on_text: Callable[[str], None] | None = None
    ) -> Answer:
        """Answer from `passages`; with `on_text`, stream and call it with the text so far as it grows.

        Never raises for the server's sake: when the model cannot answer in time, the extractive answer comes back
        with reason "degraded".
        """
        policy = self._policy
        deadline = time.monotonic() + policy.deadline_s
        route = self.routing.route()
        adapter = route.adapter_for(question.question_id)
        label = adapter or "base"
        try:
            info = self._info()
            adapter = unless_unserved_canary(route, adapter, info)
            label = adapter or "base"
            require_served(adapter, info)
            budget = min(info.max_input_tokens, info.max_total_tokens - policy.max_new_tokens)
            if budget < _MIN_PROMPT_TOKENS:
                raise ConfigurationError(
                    f"the server's token limits leave {budget} input tokens after RAGBOT_TGI__MAX_NEW_TOKENS="
                    f"{policy.max_new_tokens}; lower it or raise TGI's --max-total-tokens"
                )
            prompt = build_prompt(
                question, passages, budget_tokens=budget, max_passages=policy.passages, count_tokens=self._count_tokens
            )
            relay = _TimedRelay(on_text) if on_text is not None else None
            started = time.perf_counter()
            completion = self._complete(prompt, adapter, deadline=deadline, on_text=relay)
            server_s = time.perf_counter() - started - (relay.seconds if relay else 0.0)
            metrics.GENERATION_SECONDS.labels(adapter=label).observe(server_s)
        except RagbotError as err:
            reason = _reason(err)
            metrics.GENERATIONS.labels(adapter=label, result=f"degraded:{reason}").inc()
            log.warning(
                "answering from the documents only: %s", _loggable(err), extra={"question_id": question.question_id}
            )
            return self._degraded(question, passages, reason=reason)
        usage = dict(completion.usage)
        metrics.GENERATIONS.labels(adapter=label, result="ok").inc()
        for kind in ("prompt", "completion"):
            metrics.GENERATION_TOKENS.labels(adapter=label, kind=kind).inc(usage.get(f"{kind}_tokens", 0))
        for result, count in (("shown", len(prompt.shown) - prompt.truncated), ("truncated", prompt.truncated)):
            metrics.PROMPT_PACKING.labels(result=result).inc(count)
        metrics.PROMPT_PACKING.labels(result="dropped").inc(prompt.dropped)
        text, invalid = keep_markers(completion.text, set(prompt.shown))
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

    def _info(self, *, refresh: bool = False) -> ModelInfo:
        self._known = self.model.info(refresh=refresh)
        return self._known

    def _complete(
        self, prompt: Prompt, adapter: str | None, *, deadline: float, on_text: Callable[[str], None] | None
    ) -> Completion:
        """One answer from the server, retrying overloaded/unavailable responses until the deadline."""
        policy = self._policy
        attempt = 0
        relayed = False

        def relay(text: str) -> None:
            nonlocal relayed
            relayed = True
            on_text(text)  # type: ignore[misc]

        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0.05:
                raise RetryableError(f"no answer within the {policy.deadline_s:g} s deadline")
            try:
                return self.model.complete(
                    prompt.messages,
                    adapter=adapter,
                    max_tokens=policy.max_new_tokens,
                    temperature=policy.temperature,
                    timeout_s=min(policy.timeout_s, remaining),
                    deadline_s=remaining,
                    on_text=relay if on_text is not None else None,
                )
            except RetryableError as error:
                # A stream the reader has started seeing is not restarted: it would shrink back to nothing.
                if attempt >= len(_BACKOFF_S) or relayed:
                    raise
                pause = random.uniform(0, _BACKOFF_S[attempt])  # noqa: S311 - jitter, not secrecy
                if time.monotonic() + pause >= deadline:
                    raise
                log.info("model server busy (%s); retrying in %.2f s", _loggable(error), pause)
                time.sleep(pause)
                attempt += 1

    def _degraded(self, question: Question, passages: Sequence[Passage], *, reason: str) -> Answer:
        fallback = self._fallback.generate(question, passages)
        if fallback.refused:
            return fallback.model_copy(update={"reason": "degraded", "usage": {**fallback.usage, "degraded": 1}})
        return fallback.model_copy(
            update={
                "text": f"{texts.DEGRADED_NOTE}\n\n{fallback.text}",
                "reason": "degraded",
                "usage": {**fallback.usage, "degraded": 1},
                "model": f"{fallback.model} (model server: {reason})",
            }
        )


def check_served(model: TextGenerator, routing: AdapterRouting) -> ModelInfo:
    """Ask the server now and refuse any adapter the routing requires that it does not serve.

    Raises:
        ConfigurationError: A required adapter is not served, or the server refused our credentials.
        RetryableError: The server could not be reached.
    """
    info = model.info(refresh=True)
    for adapter in routing.required():
        require_served(adapter, info)
    return info


def unless_unserved_canary(route: Route, adapter: str | None, info: ModelInfo) -> str | None:
    """`adapter`, or the current one when `adapter` is a canary the server does not serve (yet)."""
    if adapter and adapter != route.current and adapter not in info.adapters:
        log.warning("canary adapter %s is not served yet; the current adapter answers", adapter)
        metrics.CANARY_SKIPPED.labels(adapter=adapter).inc()
        return route.current
    return adapter


def require_served(adapter: str | None, info: ModelInfo) -> None:
    """Refuse an adapter the server does not serve: TGI would silently answer with the base model.

    Raises:
        ConfigurationError: Naming the adapter, what is served and how to fix it.
    """
    if adapter and adapter not in info.adapters:
        served = ", ".join(sorted(info.adapters)) or "none"
        raise ConfigurationError(
            f"the model server does not serve adapter {adapter!r} (it serves: {served}); it would answer with "
            f"the base model {info.model_id} instead. Load the adapter (TGI: LORA_ADAPTERS) and list it in "
            "RAGBOT_TGI__SERVED_ADAPTERS, or unset RAGBOT_TGI__ADAPTER / CANARY_ADAPTER"
        )


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


def _loggable(err: RagbotError) -> str:
    """What a log may say of a failed answer: our own configuration errors whole; for the rest, the kind only, since
    they quote the model server's reply, which may echo the request (the question, the passages)."""
    if isinstance(err, ConfigurationError):
        return str(err)
    return f"{_reason(err)} ({type(err).__name__})"


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


def answer(
    question: Question,
    passages: Sequence[Passage],
    *,
    generator: Generator,
    on_text: Callable[[str], None] | None = None,
) -> Answer:
    """Generate an answer to `question` from `passages` and validate its citations.

    Args:
        question: What was asked, by whom.
        passages: Retrieved passages, ranked; passage rank n is cited as `[n]`.
        generator: Writes the text.
        on_text: Receives the text so far while a streaming generator writes it (see `ragbot.chat.streaming`).

    Returns:
        The checked answer, with `timings_ms["generate"]` set.
    """
    started = time.perf_counter()
    draft = generator.generate(question, passages, on_text=on_text)
    checked = check_citations(draft, passages)
    timings = {**checked.timings_ms, "generate": round((time.perf_counter() - started) * 1000, 2)}
    return checked.model_copy(update={"timings_ms": timings})


def answer_retrieval(
    retrieval: Retrieval, *, generator: Generator, on_text: Callable[[str], None] | None = None
) -> Outcome:
    """The generate hop: answer a retrieved question; timings of both hops (and queue waits) travel on.

    Returns:
        The message for the reply hop.
    """
    started = time.time()
    result = answer(retrieval.question, retrieval.passages, generator=generator, on_text=on_text)
    timings = {**retrieval.timings_ms, **result.timings_ms}
    if retrieval.sent_at:
        timings["queue.generate"] = round(max(started - retrieval.sent_at, 0.0) * 1000, 2)
    return Outcome(
        question=retrieval.question,
        answer=result.model_copy(update={"timings_ms": timings}),
        passages=retrieval.passages,
        sent_at=time.time(),
    )


def check_citations(draft: Answer, passages: Sequence[Passage]) -> Answer:
    """Drop `[n]` markers that cite no given passage; refuse an answer left with no valid citation."""
    if draft.refused:
        return draft
    by_rank = {p.rank: p for p in passages}
    text, invalid = keep_markers(draft.text, by_rank)
    cited = sorted({int(n) for n in MARKER.findall(text)})
    invalid += draft.usage.get("invalid_citations", 0)  # markers the generator already removed
    usage = {**draft.usage, "invalid_citations": invalid}
    metrics.CITATION_CHECKS.labels(result="refused" if not cited else "markers_removed" if invalid else "ok").inc()
    if not cited:
        return draft.model_copy(
            update={
                "text": texts.REFUSAL,
                "refused": True,
                "reason": "no valid citation",
                "citations": closest_sources(passages),
                "usage": usage,
            }
        )
    given = {c.n: c for c in draft.citations}
    citations = tuple(given.get(n) or cite(by_rank[n]) for n in cited)
    return draft.model_copy(update={"text": text, "citations": citations, "usage": usage})
