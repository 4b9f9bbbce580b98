"""A deterministic `Embedder` for tests that need no model: hashed bag of words, L2-normalized.

Texts that share words get similar vectors, which is enough to exercise the dense leg, fusion and the ACL masks.
It is a fake of the external model, not of our code: every backend sees the same `Embedder` port.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence

import numpy as np

from ragbot.ports import Vectors

_WORD = re.compile(r"\w+")


class HashEmbedder:
    def __init__(self, dimension: int = 64, *, name: str = "hash-bow-64") -> None:
        self._dimension = dimension
        self._name = name

    @property
    def model_name(self) -> str:
        return self._name

    @property
    def dimension(self) -> int:
        return self._dimension

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        out = np.zeros((len(texts), self._dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in _WORD.findall(text.lower()):
                bucket = int.from_bytes(hashlib.blake2b(word.encode(), digest_size=4).digest(), "little")
                out[row, bucket % self._dimension] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
            else:
                out[row, 0] = 1.0
        return out

    def embed_query(self, text: str) -> Vectors:
        vector: Vectors = self.embed_documents([text])[0]
        return vector
