"""Prometheus metrics of the chat services and workers (DESIGN §10). Names are what dashboards and alerts use.

Workers run several processes; their entry point turns on prometheus_client's multiprocess mode before this
module is imported, and serves the aggregate. Adapters are one process and serve the default registry.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from prometheus_client import Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

# Kombu's Redis transport keeps a queue's messages in one list per priority step: "name", then "name\x06\x16<p>".
_PRIORITY_SEPARATOR = "\x06\x16"
_PRIORITY_STEPS = (3, 6, 9)

__all__ = [
    "ANSWERS",
    "CANARY_SKIPPED",
    "CITATION_CHECKS",
    "CONDENSED",
    "FEEDBACK",
    "GENERATIONS",
    "GENERATION_SECONDS",
    "GENERATION_TOKENS",
    "QueueDepthCollector",
    "PROMPT_PACKING",
    "HOP_SECONDS",
    "INTAKE",
    "INTAKE_SECONDS",
    "TASK_FAILURES",
    "observe_outcome",
]

_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120)

INTAKE = Counter(
    "ragbot_intake_total",
    "Messages an adapter received, by what became of them.",
    ["platform", "result"],  # accepted, duplicate, ignored, not_allowed, rate_limited, enqueue_failed, rejected
)
INTAKE_SECONDS = Histogram(
    "ragbot_intake_seconds",
    "From a platform request arriving to the question being queued.",
    ["platform"],
    buckets=_LATENCY_BUCKETS,
)
ANSWERS = Counter(
    "ragbot_answers_total",
    "Questions delivered back to the asker, by status (answered, refused, degraded, failed).",
    ["platform", "status"],
)
HOP_SECONDS = Histogram(
    "ragbot_hop_seconds",
    "Time per hop (retrieve, generate, reply), per queue wait (queue.*), and end to end (total).",
    ["hop"],
    buckets=_LATENCY_BUCKETS,
)
FEEDBACK = Counter("ragbot_feedback_total", "Feedback clicks on answers.", ["platform", "value"])
TASK_FAILURES = Counter(
    "ragbot_task_failures_total", "Task attempts that raised, by task and error class.", ["task", "error"]
)
GENERATIONS = Counter(
    "ragbot_generations_total",
    "Answers asked of the model server, by adapter and result: ok, or degraded:<why> (the extractive fallback).",
    ["adapter", "result"],
)
GENERATION_SECONDS = Histogram(
    "ragbot_generation_seconds",
    "Time the model server took per answer (first byte to last for a stream), by adapter.",
    ["adapter"],
    buckets=_LATENCY_BUCKETS,
)
GENERATION_TOKENS = Counter(
    "ragbot_generation_tokens_total",
    "Tokens the model server read (prompt) and wrote (completion), by adapter.",
    ["adapter", "kind"],
)
CANARY_SKIPPED = Counter(
    "ragbot_canary_skipped_total",
    "Questions routed to a canary adapter the model server does not serve (yet), answered by the current one.",
    ["adapter"],
)
CITATION_CHECKS = Counter(
    "ragbot_citation_checks_total",
    "Citation checks of generated answers: ok, markers_removed (some [n] cited nothing given), refused (none valid).",
    ["result"],
)
CONDENSED = Counter(
    "ragbot_condensed_questions_total",
    "Follow-up questions made standalone before retrieval, by the model or by the rule (no model, or it failed).",
    ["by"],
)
PROMPT_PACKING = Counter(
    "ragbot_prompt_passages_total",
    "Passages offered to the model: shown whole, truncated at a sentence, or dropped for the token budget.",
    ["result"],
)


def observe_outcome(platform: str, status: str, timings_ms: Mapping[str, float]) -> None:
    """Count one delivered question and record its per-hop timings."""
    ANSWERS.labels(platform=platform, status=status).inc()
    for hop in ("retrieve", "generate", "reply", "total", "queue.retrieve", "queue.generate", "queue.reply"):
        if hop in timings_ms:
            HOP_SECONDS.labels(hop=hop).observe(timings_ms[hop] / 1000)


class QueueDepthCollector(Collector):
    """`ragbot_queue_depth{queue}`: messages waiting in each queue, read from Redis at scrape time.

    Args:
        client: A blocking Redis client on the broker.
        queues: The queues to report (a worker reports the ones it consumes).
    """

    def __init__(self, client: Any, queues: Sequence[str]) -> None:
        self._client = client
        self._queues = tuple(queues)

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "ragbot_queue_depth", "Messages waiting in a queue (Redis list length).", labels=["queue"]
        )
        for queue in self._queues:
            keys = [queue, *(f"{queue}{_PRIORITY_SEPARATOR}{step}" for step in _PRIORITY_STEPS)]
            try:
                pipe = self._client.pipeline(transaction=False)
                for key in keys:
                    pipe.llen(key)
                depth = sum(int(n) for n in pipe.execute())
            except Exception:  # a scrape must not fail because the broker is away; the gap shows it
                log.debug("queue depth of %s unavailable", queue, exc_info=True)
                continue
            family.add_metric([queue], depth)
        yield family
