"""ragbot benchmarks: retrieval quality, ingest throughput and query latency on the embedded store.

    make bench                         # everything below, ~15 min on 2 cores
    python bench/run.py --only quality # one part

Data: BEIR NFCorpus from the team's dataset folder (default ../shared/datasets; never copied into the repo).
Figures go to bench/out/results.json and are printed as Markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import numpy as np

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.st_embedder import SentenceTransformerEmbedder
from ragbot.bootstrap import build_chunker
from ragbot.evaluation.beir import load_corpus, load_qrels, load_queries
from ragbot.evaluation.retrieval import build_beir_index, score_rankings
from ragbot.ingestion.chunk import Chunker
from ragbot.models import Chunk, Document
from ragbot.ports import IndexedDocument
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import RetrievalSettings, Settings

OUT = Path(__file__).parent / "out"


def machine() -> str:
    return f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}"


def quality(
    data: Path, embedder: SentenceTransformerEmbedder, chunker: Chunker, *, sweep: bool = False
) -> dict[str, object]:
    """nDCG@10 etc. for the three modes on NFCorpus dev (tuning) and test (report), from one index."""
    results: dict[str, object] = {}
    index = nfcorpus_index(data, embedder, chunker)
    results["chunks"] = index.stats().chunks
    for split in ("nfcorpus-dev", "nfcorpus"):
        queries = load_queries(data / split / "queries.jsonl")
        qrels = load_qrels(data / split / "qrels.tsv")
        rows = []
        for mode in ("bm25", "dense", "hybrid"):
            retriever = Retriever(embedder=embedder, index=index, settings=Settings().retrieval)
            rows.append(score_rankings(retriever, queries, qrels, mode=mode))
            print(split, rows[-1], flush=True)
        if sweep and split == "nfcorpus-dev":
            # The tuning sweep: fusion weights and RRF k, on dev only.
            grid = []
            for bm25_weight in (0.6, 0.8, 1.0, 1.2, 1.5):
                for rrf_k in (20, 60, 100):
                    s = RetrievalSettings(bm25_weight=bm25_weight, dense_weight=1.0, rrf_k=rrf_k)
                    r = score_rankings(
                        Retriever(embedder=embedder, index=index, settings=s), queries, qrels, mode="hybrid"
                    )
                    grid.append({"bm25_weight": bm25_weight, "rrf_k": rrf_k, "ndcg@10": r["ndcg@10"]})
            results["dev_sweep"] = grid
            print("sweep", sorted(grid, key=lambda x: -float(x["ndcg@10"]))[:5], flush=True)
        results[split] = rows
    index.close()
    return results


def nfcorpus_index(data: Path, embedder: SentenceTransformerEmbedder, chunker: Chunker) -> EmbeddedIndex:
    """The NFCorpus index under bench/out, built once (about 5 minutes on 2 cores) and reused by later runs."""
    corpus = load_corpus(data / "nfcorpus" / "corpus.jsonl")
    index = EmbeddedIndex(OUT / "nfcorpus-index")
    info = index.info()
    if info is None or info.embedding_model != embedder.model_name or index.stats().documents != len(corpus):
        seconds = build_beir_index(corpus, index=index, embedder=embedder, chunker=chunker)
        print(f"built the NFCorpus index in {seconds:.0f}s", flush=True)
    return index


def throughput(data: Path, embedder: SentenceTransformerEmbedder, chunker: Chunker, *, docs: int) -> dict[str, object]:
    """Ingest throughput (load-free: chunk + embed + store) against raw model.encode on the same chunk texts."""
    corpus = load_corpus(data / "nfcorpus" / "corpus.jsonl")[:docs]
    with tempfile.TemporaryDirectory() as tmp:
        index = EmbeddedIndex(Path(tmp))
        seconds = build_beir_index(corpus, index=index, embedder=embedder, chunker=chunker)
        chunks = index.stats().chunks
        texts = [c.embedding_text() for c in index.chunks([f"{d[0]}#{i}" for d in corpus for i in range(8)]).values()]
        index.close()
    started = time.perf_counter()
    embedder.embed_documents(texts)
    encode_s = time.perf_counter() - started
    return {
        "documents": len(corpus),
        "chunks": chunks,
        "ingest_chunks_per_s": round(chunks / seconds, 1),
        "encode_chunks_per_s": round(len(texts) / encode_s, 1),
    }


def latency(data: Path, embedder: SentenceTransformerEmbedder, *, sizes: list[int]) -> dict[str, object]:
    """Hybrid query latency at N chunks: NFCorpus chunks repeated to size, vectors jittered so none are equal."""
    queries = list(load_queries(data / "nfcorpus" / "queries.jsonl").values())
    rng = np.random.default_rng(7)
    results: dict[str, object] = {}
    base = nfcorpus_index(data, embedder, Chunker())
    info = base.info()
    # The stored vectors, read straight from the store's SQLite file: no re-embedding.
    rows = (
        sqlite3.connect(OUT / "nfcorpus-index" / "index.sqlite3")
        .execute("SELECT chunk_id, embedding FROM chunks ORDER BY id")
        .fetchall()
    )
    chunks_by_id = base.chunks([r[0] for r in rows])
    seed = [chunks_by_id[r[0]] for r in rows]
    seed_vectors = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32).reshape(len(rows), -1)
    base.close()
    with tempfile.TemporaryDirectory() as tmp:
        for size in sizes:
            index = EmbeddedIndex(Path(tmp) / f"n{size}")
            assert info is not None
            index.bind(info)
            started = time.perf_counter()
            copy = 0
            stored = 0
            while stored < size:
                for start in range(0, len(seed), 50):
                    group: list[Chunk] = seed[start : start + 50]
                    doc_id = f"copy{copy}-{start}"
                    chunks = [
                        c.model_copy(update={"chunk_id": f"{doc_id}#{i}", "doc_id": doc_id, "ordinal": i})
                        for i, c in enumerate(group)
                    ]
                    noise = rng.normal(0, 0.02, size=(len(group), seed_vectors.shape[1])).astype(np.float32)
                    vectors = seed_vectors[start : start + 50] + noise
                    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
                    doc = Document(
                        doc_id=doc_id,
                        title=group[0].title,
                        source="bench",
                        text="-",
                        updated_at=group[0].updated_at,
                        content_hash=doc_id,
                    )
                    index.upsert(IndexedDocument(doc, doc_id, chunks, vectors))
                    stored += len(chunks)
                    if stored >= size:
                        break
                copy += 1
            build_s = time.perf_counter() - started
            retriever = Retriever(embedder=embedder, index=index, settings=Settings().retrieval)
            retriever.retrieve("warm up", principals=["*"])
            timings: dict[str, list[float]] = {"total": [], "embed": [], "bm25": [], "dense": []}
            for q in queries:
                started = time.perf_counter()
                result = retriever.retrieve(q, principals=["*"])
                timings["total"].append((time.perf_counter() - started) * 1000)
                for leg in ("embed", "bm25", "dense"):
                    timings[leg].append(result.timings_ms.get(leg, 0.0))
            results[str(size)] = {
                "chunks": index.stats().chunks,
                "store_s": round(build_s, 1),
                **{f"{k}_p50_ms": round(statistics.median(v), 2) for k, v in timings.items()},
                **{f"{k}_p95_ms": round(float(np.percentile(v, 95)), 2) for k, v in timings.items()},
            }
            print(size, results[str(size)], flush=True)
            index.close()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/datasets"))
    parser.add_argument("--only", choices=["quality", "throughput", "latency"])
    parser.add_argument("--sizes", default="10000,100000")
    parser.add_argument("--sweep", action="store_true", help="also sweep fusion weights and RRF k on the dev split")
    args = parser.parse_args()
    if not (args.data / "nfcorpus" / "corpus.jsonl").is_file():
        print(f"bench: NFCorpus not found under {args.data} (use --data)", file=sys.stderr)
        return 2
    settings = Settings()
    embedder = SentenceTransformerEmbedder(settings.embedding.model, batch_size=settings.embedding.batch_size)
    chunker = build_chunker(settings)
    OUT.mkdir(exist_ok=True)
    report: dict[str, object] = {"machine": machine(), "date": datetime.now(tz=UTC).date().isoformat()}
    if args.only in (None, "quality"):
        report["quality"] = quality(args.data, embedder, chunker, sweep=args.sweep)
    if args.only in (None, "throughput"):
        report["throughput"] = throughput(args.data, embedder, chunker, docs=1000)
    if args.only in (None, "latency"):
        report["latency"] = latency(args.data, embedder, sizes=[int(s) for s in args.sizes.split(",")])
    name = f"results-{args.only or 'all'}.json"
    (OUT / name).write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
