"""Bulk ingest into Elasticsearch at scale: throughput and the ingest process's memory, for N synthetic chunks.

    python bench/es_bulk.py --chunks 100000            # against the validating fake cluster, in its own process
    python bench/es_bulk.py --chunks 100000 --url URL  # against a real cluster (creates and drops one alias)

The corpus is `bench/synthetic.py` (Zipf pseudo-words, ~1 chunk per section) and the vectors are seeded random
unit vectors of 384 dims: this measures ragbot's write path (load → chunk → bulk), not the embedding model, whose
throughput is measured by `bench/run.py --only throughput`. Each size runs in a fresh process so its peak RSS is
its own. Against the fake, the wall time includes the fake's own indexing in Python (one more core), so the
CPU seconds spent in the ingest process are the figure to size ingest jobs by.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from ragbot.backends.elasticsearch import ElasticsearchIndex, connect  # noqa: E402
from ragbot.ingestion.chunk import Chunker  # noqa: E402
from ragbot.ingestion.pipeline import ingest_documents  # noqa: E402
from ragbot.settings import ElasticsearchSettings  # noqa: E402
from synthetic import SyntheticEmbedder, documents  # noqa: E402

_FAKE = (
    "import sys\n"
    "from tests.fakes.elasticsearch import FakeElasticsearch\n"
    "server = FakeElasticsearch().start()\n"
    "print(server.url, flush=True)\n"
    "sys.stdin.read()\n"
    "server.stop()\n"
)


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def measure(url: str, chunks: int, batch: int) -> dict[str, object]:
    """One ingest of `chunks` synthetic chunks in this process."""
    settings = ElasticsearchSettings(url=url, alias=f"ragbot-bench-{uuid.uuid4().hex[:8]}", replicas=0)
    index = ElasticsearchIndex(connect(settings), settings=settings)
    embedder = SyntheticEmbedder(384)
    before_rss, before_cpu = _rss_mb(), _cpu_s()
    started = time.perf_counter()
    report = ingest_documents(
        documents(chunks=chunks), index=index, embedder=embedder, chunker=Chunker(), batch_chunks=batch, link=False
    )
    index.refresh()
    seconds = time.perf_counter() - started
    stored = index.stats().chunks
    client = connect(settings)
    client.indices.delete(index=",".join(v.name for v in index.versions()))
    client.close()
    index.close()
    return {
        "chunks": stored,
        "documents": report.added,
        "failed": len(report.failed),
        "seconds": round(seconds, 1),
        "chunks_per_s": round(stored / seconds, 1),
        "ingest_cpu_s_per_1k_chunks": round((_cpu_s() - before_cpu) / stored * 1000, 3),
        "peak_rss_mb": round(_rss_mb(), 1),
        "rss_growth_mb": round(_rss_mb() - before_rss, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chunks", default="10000,100000", help="comma-separated sizes")
    parser.add_argument("--batch", type=int, default=500, help="chunks embedded and written per batch")
    parser.add_argument("--url", help="a real cluster (default: start the fake one)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # internal: measure one size and print JSON
    args = parser.parse_args()
    if args.one:
        print(json.dumps(measure(args.url, args.one, args.batch)))
        return 0

    fake = None
    url = args.url
    if not url:
        env = {**os.environ, "PYTHONPATH": str(REPO)}
        fake = subprocess.Popen(
            [sys.executable, "-c", _FAKE], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        assert fake.stdout is not None
        url = fake.stdout.readline().strip()
    results = []
    try:
        for size in (int(s) for s in args.chunks.split(",")):
            done = subprocess.run(
                [sys.executable, __file__, "--one", str(size), "--url", url, "--batch", str(args.batch)],
                capture_output=True,
                text=True,
                check=True,
            )
            results.append(json.loads(done.stdout))
            print(json.dumps(results[-1]), flush=True)
    finally:
        if fake is not None:
            assert fake.stdin is not None
            fake.stdin.close()
            fake.wait(timeout=60)
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": datetime.now(tz=UTC).date().isoformat(),
        "cluster": "real" if args.url else "fake (tests/fakes/elasticsearch.py, separate process)",
        "batch": args.batch,
        "results": results,
    }
    out = REPO / "bench" / "out"
    out.mkdir(exist_ok=True)
    (out / "es-bulk.json").write_text(json.dumps(report, indent=2))
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
