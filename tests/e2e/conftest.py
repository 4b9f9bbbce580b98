"""Fixtures for end-to-end chat tests: a real Redis database, a handbook index, and the fake platforms."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.ingestion import Chunker, ingest, open_source
from tests.conftest import HANDBOOK
from tests.fakes.hash_embedder import HashEmbedder

# A database of the local Redis that nothing else uses; flushed before each test. Two test runs at once (two
# developers on one machine) each pick their own with E2E_REDIS_DB.
REDIS_URL = f"redis://127.0.0.1:6379/{int(os.environ.get('E2E_REDIS_DB', '11'))}"


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis on 127.0.0.1:6379 (.ci/run starts one)")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture(scope="session")
def handbook_store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data directory holding the sample handbook, indexed with the hashing embedder the test workers use."""
    data_dir = tmp_path_factory.mktemp("handbook-store")
    index = EmbeddedIndex(data_dir)
    try:
        ingest([open_source(HANDBOOK)], index=index, embedder=HashEmbedder(), chunker=Chunker())
    finally:
        index.close()
    return data_dir


@pytest.fixture
def data_dir(handbook_store: Path, tmp_path: Path) -> Path:
    """A private copy of the store per test (the interaction log and probe files are written next to it)."""
    target = tmp_path / "data"
    target.mkdir()
    for item in handbook_store.iterdir():
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())
    return target
