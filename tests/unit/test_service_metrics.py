"""Service metrics that are computed rather than counted: queue depth read from the broker at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis
from prometheus_client import CollectorRegistry, generate_latest

from ragbot.observability.metrics import QueueDepthCollector

URL = "redis://127.0.0.1:6379/14"


@pytest.fixture
def broker() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(URL, socket_connect_timeout=2)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_queue_depth_counts_every_priority_list_of_a_queue(broker: redis.Redis) -> None:
    broker.rpush("retrieve", "a", "b")
    broker.rpush("retrieve\x06\x169", "urgent")  # kombu's list for priority step 9
    broker.rpush("generate", "c")
    registry = CollectorRegistry()
    registry.register(QueueDepthCollector(broker, ["retrieve", "generate", "reply.slack"]))
    text = generate_latest(registry).decode()
    assert 'ragbot_queue_depth{queue="retrieve"} 3.0' in text
    assert 'ragbot_queue_depth{queue="generate"} 1.0' in text
    assert 'ragbot_queue_depth{queue="reply.slack"} 0.0' in text


def test_an_unreachable_broker_leaves_a_gap_rather_than_failing_the_scrape() -> None:
    registry = CollectorRegistry()
    away = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    registry.register(QueueDepthCollector(away, ["retrieve"]))
    text = generate_latest(registry).decode()
    assert "# TYPE ragbot_queue_depth gauge" in text and 'queue="retrieve"' not in text
