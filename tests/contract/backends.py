"""The store backends every contract test runs against.

- `embedded`: SQLite + NumPy in the test's temporary folder.
- `elasticsearch`: the real `elasticsearch` client against `tests/fakes/elasticsearch.py`, a local HTTP server
  that validates each request against Elasticsearch 9's REST API (one server per test session).
- `elasticsearch-real`: a real cluster, only when `RAGBOT_TEST_ELASTICSEARCH_URL` is set (`make test-es`).

Each Elasticsearch test gets its own alias, `ragbot-test-<hash of its tmp_path>`, so two connections made for the
same test share one store, as two processes would.
"""

from __future__ import annotations

import atexit
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from elasticsearch import Elasticsearch

from ragbot.backends.elasticsearch import ElasticsearchIndex
from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.ports import DocumentIndex
from ragbot.settings import ElasticsearchSettings
from tests.fakes.elasticsearch import FakeElasticsearch

# Read at import: the autouse clean_environ fixture removes RAGBOT_* variables before each test runs.
REAL_URL = os.environ.get("RAGBOT_TEST_ELASTICSEARCH_URL", "")

_fake: FakeElasticsearch | None = None


def fake_server() -> FakeElasticsearch:
    """The session's fake cluster, started on first use."""
    global _fake
    if _fake is None:
        _fake = FakeElasticsearch().start()
        atexit.register(_fake.stop)
    return _fake


def es_settings(url: str, tmp_path: Path, **overrides: object) -> ElasticsearchSettings:
    alias = "ragbot-test-" + hashlib.sha1(str(tmp_path).encode()).hexdigest()[:12]
    values: dict[str, object] = {"url": url, "alias": alias, "replicas": 0, "retry_backoff_s": 0.01, **overrides}
    return ElasticsearchSettings.model_validate(values)


def elasticsearch_index(url: str, tmp_path: Path, **overrides: object) -> ElasticsearchIndex:
    settings = es_settings(url, tmp_path, **overrides)
    return ElasticsearchIndex(Elasticsearch(url, request_timeout=30), settings=settings)


def drop_test_indices(url: str, tmp_path: Path) -> None:
    """Delete what a test created (a real cluster outlives the test session)."""
    client = Elasticsearch(url, request_timeout=30)
    try:
        # Deleting by wildcard is refused (action.destructive_requires_name), so name each version.
        names = list(client.indices.get(index=f"{es_settings(url, tmp_path).alias}-v*", allow_no_indices=True))
        if names:
            client.indices.delete(index=",".join(names))
    finally:
        client.close()


BACKENDS: dict[str, Callable[[Path], DocumentIndex]] = {
    "embedded": EmbeddedIndex,
    "elasticsearch": lambda tmp_path: elasticsearch_index(fake_server().url, tmp_path),
}
if REAL_URL:
    BACKENDS["elasticsearch-real"] = lambda tmp_path: elasticsearch_index(REAL_URL, tmp_path)


def backend_url(name: str) -> str | None:
    """The cluster behind an Elasticsearch backend, None for the embedded one."""
    return {"elasticsearch": fake_server().url if name == "elasticsearch" else "", "elasticsearch-real": REAL_URL}.get(
        name
    )
