"""The `index` fixture: one fresh, bound store per test, for every backend in `BACKENDS`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ragbot.ports import DocumentIndex
from tests.contract.backends import BACKENDS, backend_url, drop_test_indices
from tests.contract.test_document_index import INFO


@pytest.fixture(params=sorted(BACKENDS))
def index(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[DocumentIndex]:
    store = BACKENDS[request.param](tmp_path)
    store.bind(INFO)
    yield store
    store.close()
    url = backend_url(request.param)
    if url:
        drop_test_indices(url, tmp_path)
