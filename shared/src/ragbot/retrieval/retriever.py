"""Hybrid, permission-aware search: BM25 leg + dense leg (each ACL-filtered inside the index, so restricted chunks
never even compete) → reciprocal rank fusion → near-duplicate removal preferring the newest version → the top `k`.
An index that fuses on the server (Elasticsearch's `rrf` retriever, when configured) answers both legs in one
request, reported as leg "rrf".
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from ragbot.errors import IndexMismatchError
from ragbot.models import Passage
from ragbot.ports import DocumentIndex, Embedder, LegResult, ServerSideFusion
from ragbot.retrieval.fusion import drop_near_duplicates, reciprocal_rank_fusion
from ragbot.settings import RetrievalSettings

__all__ = ["Mode", "RetrievalResult", "Retriever"]

Mode = Literal["hybrid", "bm25", "dense"]


@dataclass(frozen=True, slots=True)
class RetrievalResult:
    passages: list[Passage]
    timings_ms: dict[str, float] = field(default_factory=dict)


class Retriever:
    """Hybrid, permission-aware search over a `DocumentIndex`.

    Args:
        embedder: Embeds the query for the dense leg; must be the model that built the index.
        index: Where the chunks live.
        settings: Fusion weights, RRF k, candidates per leg, near-duplicate threshold, default top_k.
    """

    def __init__(self, *, embedder: Embedder, index: DocumentIndex, settings: RetrievalSettings) -> None:
        self._embedder = embedder
        self._index = index
        self._settings = settings
        self._checked = False

    def retrieve(
        self,
        text: str,
        *,
        principals: Sequence[str],
        k: int | None = None,
        mode: Mode = "hybrid",
        candidates: int | None = None,
    ) -> RetrievalResult:
        """Search both legs, fuse, de-duplicate and return the best `k` passages the principals may read.

        Args:
            text: The (standalone) question.
            principals: Who is asking; a chunk is visible iff its ACL shares one of them.
            k: Passages to return (default `settings.top_k`).
            mode: "hybrid", or one leg alone for evaluation.
            candidates: Chunks each leg contributes before fusion (default `settings.candidates`, at least k).

        Raises:
            IndexMismatchError: The index was built by another embedding model.
        """
        k = k or self._settings.top_k
        depth = max(candidates or self._settings.candidates, k)
        timings: dict[str, float] = {}
        legs: dict[str, LegResult] = {}
        server = self._index if isinstance(self._index, ServerSideFusion) and self._index.fuses_on_server else None
        on_server = mode == "hybrid" and server is not None
        if server is not None and on_server:
            self._check_model()
            started = time.perf_counter()
            vector = self._embedder.embed_query(text)
            timings["embed"] = _ms(started)
            started = time.perf_counter()
            legs["rrf"] = server.search_hybrid(
                text, vector, principals=principals, k=depth, rank_constant=self._settings.rrf_k
            )
            timings["rrf"] = _ms(started)
        if not on_server and mode in ("hybrid", "bm25") and self._settings.bm25_weight > 0:
            started = time.perf_counter()
            legs["bm25"] = self._index.search_keyword(text, principals=principals, k=depth)
            timings["bm25"] = _ms(started)
        if not on_server and mode in ("hybrid", "dense") and self._settings.dense_weight > 0:
            self._check_model()
            started = time.perf_counter()
            vector = self._embedder.embed_query(text)
            timings["embed"] = _ms(started)
            started = time.perf_counter()
            legs["dense"] = self._index.search_vector(vector, principals=principals, k=depth)
            timings["dense"] = _ms(started)

        started = time.perf_counter()
        fused = reciprocal_rank_fusion(
            legs,
            weights={"bm25": self._settings.bm25_weight, "dense": self._settings.dense_weight},
            k=self._settings.rrf_k,
        )
        # De-duplication may drop some; look at spare candidates so k survive and old versions are recognised.
        wanted = fused[: k * 4 + 20]
        chunks = self._index.chunks([hit.chunk_id for hit in wanted])
        hits = {hit.chunk_id: hit for hit in wanted}
        unique = drop_near_duplicates(
            [chunks[h.chunk_id] for h in wanted if h.chunk_id in chunks],
            threshold=self._settings.duplicate_similarity,
        )
        passages = []
        for rank, chunk in enumerate(unique[:k], start=1):
            hit = hits[chunk.chunk_id]
            passages.append(Passage(chunk=chunk, score=hit.score, rank=rank, legs=hit.legs))
        timings["fuse"] = _ms(started)
        return RetrievalResult(passages=passages, timings_ms=timings)

    def _check_model(self) -> None:
        if self._checked:
            return
        info = self._index.info()
        if info is not None and info.embedding_model != self._embedder.model_name:
            raise IndexMismatchError(
                f"the index was built with {info.embedding_model}, but queries would be embedded with "
                f"{self._embedder.model_name}: set RAGBOT_EMBEDDING__MODEL={info.embedding_model} or re-ingest"
            )
        self._checked = True


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)
