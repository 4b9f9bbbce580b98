"""`ragbot eval retrieval`: index a BEIR corpus into a fresh store and score the ranking.

Documents are chunked like any other source; each query's chunk ranking is folded into a document ranking (a
document ranks where its best chunk does) before the metrics.
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.evaluation.beir import CorpusDoc
from ragbot.evaluation.metrics import mrr_at_k, ndcg_at_k, percentile, recall_at_k
from ragbot.ingestion.chunk import Chunker
from ragbot.ingestion.pipeline import ingest_documents
from ragbot.models import EVERYONE, Document
from ragbot.ports import DocumentIndex, Embedder
from ragbot.retrieval.retriever import Mode, Retriever
from ragbot.settings import RetrievalSettings

__all__ = ["build_beir_index", "evaluate_retrieval", "score_rankings"]

_DEPTH = 100  # documents ranked per query: recall@100 needs them


def build_beir_index(
    corpus: Sequence[CorpusDoc], *, index: DocumentIndex, embedder: Embedder, chunker: Chunker
) -> float:
    """Ingest a BEIR corpus; returns the seconds it took (chunking, embedding and storing)."""
    epoch = datetime(2000, 1, 1, tzinfo=UTC)
    documents = [
        Document(
            doc_id=doc_id,
            title=title,
            source="beir",
            text=text,
            updated_at=epoch,
            acl=(EVERYONE,),
            content_hash=hashlib.sha256(f"{title}\x1f{text}".encode()).hexdigest(),
        )
        for doc_id, title, text in corpus
    ]
    started = time.perf_counter()
    ingest_documents(documents, index=index, embedder=embedder, chunker=chunker)
    return time.perf_counter() - started


def score_rankings(
    retriever: Retriever,
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    mode: Mode,
    k: int = 10,
) -> dict[str, float | int | str]:
    """Run every judged query through `retriever` and average the metrics over them."""
    evaluated = [qid for qid in qrels if qid in queries]
    totals = {"ndcg": 0.0, "r10": 0.0, "r100": 0.0, "mrr": 0.0, "ndcg_k": 0.0}
    latencies: list[float] = []
    for qid in evaluated:
        started = time.perf_counter()
        result = retriever.retrieve(queries[qid], principals=[EVERYONE], k=_DEPTH * 3, mode=mode, candidates=_DEPTH * 3)
        latencies.append((time.perf_counter() - started) * 1000)
        ranking = list(dict.fromkeys(p.chunk.doc_id for p in result.passages))[:_DEPTH]
        judged = qrels[qid]
        totals["ndcg"] += ndcg_at_k(ranking, judged, 10)
        totals["ndcg_k"] += ndcg_at_k(ranking, judged, k)
        totals["r10"] += recall_at_k(ranking, judged, 10)
        totals["r100"] += recall_at_k(ranking, judged, 100)
        totals["mrr"] += mrr_at_k(ranking, judged, 10)
    n = max(len(evaluated), 1)
    summary: dict[str, float | int | str] = {
        "mode": mode,
        "queries": len(evaluated),
        "ndcg@10": round(totals["ndcg"] / n, 4),
        "recall@10": round(totals["r10"] / n, 4),
        "recall@100": round(totals["r100"] / n, 4),
        "mrr@10": round(totals["mrr"] / n, 4),
        "query_ms_p50": round(percentile(latencies, 50), 2),
        "query_ms_p95": round(percentile(latencies, 95), 2),
    }
    if k != 10:
        summary[f"ndcg@{k}"] = round(totals["ndcg_k"] / n, 4)
    return summary


def evaluate_retrieval(
    corpus: Sequence[CorpusDoc],
    queries: Mapping[str, str],
    qrels: Mapping[str, Mapping[str, int]],
    *,
    embedder: Embedder,
    chunker: Chunker,
    settings: RetrievalSettings,
    modes: Sequence[Mode] = ("hybrid",),
    k: int = 10,
) -> list[dict[str, float | int | str]]:
    """Index `corpus` into a temporary store once, then score each mode. One summary per mode."""
    with tempfile.TemporaryDirectory(prefix="ragbot-eval-") as tmp:
        index = EmbeddedIndex(Path(tmp))
        try:
            index_s = build_beir_index(corpus, index=index, embedder=embedder, chunker=chunker)
            retriever = Retriever(embedder=embedder, index=index, settings=settings)
            results = []
            for mode in modes:
                summary = score_rankings(retriever, queries, qrels, mode=mode, k=k)
                summary["index_s"] = round(index_s, 2)
                results.append(summary)
            return results
        finally:
            index.close()
