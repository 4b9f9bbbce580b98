"""A deterministic synthetic corpus for scale benchmarks: handbook-like pages of Zipf-distributed pseudo-words.

Each page has a title and `sections` headed sections of ~110 words, which the default chunker turns into about
one chunk per section, so `documents(chunks=100_000)` yields ~100k chunks. Same seed, same corpus, on any machine.
A matching `SyntheticEmbedder` gives each text a seeded unit vector without a model, so a benchmark of the
store's write path is not a benchmark of the embedding model (that one is measured separately).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta

import numpy as np

from ragbot.models import Document
from ragbot.ports import Vectors

__all__ = ["SyntheticEmbedder", "documents"]

_SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "ti", "vo", "xe", "zu", "bra", "tor", "quen", "dal", "fi", "gos"]


def _vocabulary(size: int, rng: np.random.Generator) -> list[str]:
    words: set[str] = set()
    while len(words) < size:
        words.add("".join(rng.choice(_SYLLABLES, size=int(rng.integers(2, 5)))))
    return sorted(words)


def documents(*, chunks: int, sections: int = 5, words: int = 110, seed: int = 7) -> Iterator[Document]:
    """Yield pages until about `chunks` sections have been produced."""
    rng = np.random.default_rng(seed)
    vocabulary = _vocabulary(20_000, rng)
    # Zipf's law, as in real text: a few words everywhere, most words rare.
    weights = 1.0 / np.arange(1, len(vocabulary) + 1)
    weights /= weights.sum()
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for n in range((chunks + sections - 1) // sections):
        picks = rng.choice(len(vocabulary), size=sections * (words + 4), p=weights)
        tokens = [vocabulary[i] for i in picks]
        body = []
        for s in range(sections):
            part = tokens[s * (words + 4) : (s + 1) * (words + 4)]
            body.append(f"## {' '.join(part[:3]).title()}\n\n{' '.join(part[4:])}.")
        text = f"# Page {n}\n\n" + "\n\n".join(body) + "\n"
        yield Document(
            doc_id=f"synthetic/page-{n:07d}.md",
            title=f"Page {n}",
            url=f"https://wiki.example/page-{n}",
            source="synthetic",
            text=text,
            updated_at=start + timedelta(minutes=n),
            acl=("*",) if n % 4 else ("group:staff",),
            content_hash=hashlib.sha256(text.encode()).hexdigest(),
        )


class SyntheticEmbedder:
    """Seeded unit vectors from a hash of each text: the shape of a real model's output, none of its cost."""

    def __init__(self, dimension: int = 384) -> None:
        self._dimension = dimension

    @property
    def model_name(self) -> str:
        return f"synthetic-{self._dimension}"

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        rows = [self.embed_query(t) for t in texts]
        return np.stack(rows) if rows else np.zeros((0, self._dimension), dtype=np.float32)

    def embed_query(self, text: str) -> Vectors:
        seed = int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")
        vector = np.random.default_rng(seed).standard_normal(self._dimension).astype(np.float32)
        return vector / np.linalg.norm(vector)
