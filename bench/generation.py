"""The generation worker's own cost per answer, and how many answers one worker process keeps in flight.

    python bench/generation.py                    # both parts, ~2 min
    python bench/generation.py --only overhead --answers 200
    python bench/generation.py --only concurrency --latency 1.0 --concurrency 1,8,32,64

overhead     `ModelAnswerer` (TGI backend) answers one question from 8 handbook-sized passages, N times, against a TGI
             fake with no added latency, JSON and streamed. Per answer: the generate hop's total
             (`flow.generate.answer`: prompt packing, the request, the citation check) against the time spent waiting
             on the server (the answer's `timings_ms.model`); for streams also the relay (a callback receiving the
             growing text, as the chat adapters' relays do). The difference is ragbot's own work.
concurrency  The fake answers after a fixed latency (a GPU server's time to write an answer); C threads of one
             process ask at once, as `ragbot worker --queues generate --pool threads --concurrency C` runs them.
             Answers/s against the ideal C / latency shows how far one process scales before it is the bottleneck.

The TGI fake runs in its own process (`tests/fakes/tgi.py`), so it does not share the benchmark's interpreter.
Figures go to bench/out/generation-*.json and are printed as Markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from tests.fakes.hash_embedder import HashEmbedder  # noqa: E402

from common import fake_in_process, percentile, results_header, save  # noqa: E402
from ragbot.bootstrap import build_model_answerer  # noqa: E402
from ragbot.flow.generate import ModelAnswerer, answer  # noqa: E402
from ragbot.generation.extractive import ExtractiveGenerator  # noqa: E402
from ragbot.models import Chunk, Passage, Question  # noqa: E402
from ragbot.settings import AnswerSettings, TgiSettings  # noqa: E402

_FAKE = """
import sys
from tests.fakes.tgi import FakeTgi
tgi = FakeTgi(max_input_tokens=8000, max_total_tokens=10000)
tgi.delay(float(sys.argv[1]))
tgi.start()
print(tgi.url, flush=True)
sys.stdin.read()
tgi.stop()
"""


@contextmanager
def fake_tgi(latency_s: float) -> Iterator[str]:
    with fake_in_process(_FAKE, str(latency_s)) as url:
        yield url


def passages() -> list[Passage]:
    """Eight passages of about 600 characters, the size the chunker makes from the handbook."""
    body = (
        "Staff get 25 days of annual leave a year, plus public holidays. Up to five unused days carry over into the "
        "first quarter of the next year; the rest lapse. Requests go through the HR portal at least two weeks ahead "
        "for anything longer than three days. Managers approve within five working days. Part-time staff get leave "
        "pro rata. Contractors are covered by their agency's terms, not this policy. Sick leave is separate and "
        "needs a doctor's note after three days."
    )
    out = []
    for rank in range(1, 9):
        chunk = Chunk(
            chunk_id=f"hr/leave-{rank}.md#0",
            doc_id=f"hr/leave-{rank}.md",
            ordinal=0,
            title=f"Leave policy part {rank}",
            heading_path="Annual leave",
            text=body,
            char_start=0,
            char_end=len(body),
            content_hash=f"{rank:064x}",
            url="",
            acl=("*",),
            source="bench",
            updated_at=datetime(2026, 1, 1, tzinfo=UTC),
        )
        out.append(Passage(chunk=chunk, score=1.0 / rank, rank=rank))
    return out


def generator(url: str) -> ModelAnswerer:
    fallback = ExtractiveGenerator(embedder=HashEmbedder(), settings=AnswerSettings())
    return build_model_answerer(TgiSettings(url=url, deadline_s=120, timeout_s=60), fallback=fallback)


def question(i: int) -> Question:
    return Question(question_id=f"bench-{i}", text="How many days of annual leave do I get, and do they carry over?")


def overhead(n: int) -> dict[str, Any]:
    found = passages()
    rows: dict[str, Any] = {}
    with fake_tgi(0.0) as url:
        gen = generator(url)
        for mode in ("json", "stream"):
            totals, servers, relays = [], [], []
            for i in range(n + 10):
                relayed: list[str] = []
                started = time.perf_counter()
                result = (
                    answer(question(i), found, generator=gen) if mode == "json" else _streamed(gen, i, found, relayed)
                )
                total = (time.perf_counter() - started) * 1000
                if result.reason:
                    raise AssertionError(f"the model did not answer: {result.reason} {result.model}")
                if i < 10:
                    continue  # warm-up: connections, first /info
                totals.append(total)
                servers.append(result.timings_ms["model"])
                relays.append(result.timings_ms.get("relay", 0.0))
            own = [t - s for t, s in zip(totals, servers, strict=True)]
            rows[mode] = {
                "answers": n,
                "total_p50_ms": round(statistics.median(totals), 2),
                "server_p50_ms": round(statistics.median(servers), 2),
                "own_p50_ms": round(statistics.median(own), 2),
                "own_p95_ms": round(percentile(own, 0.95), 2),
                "relay_p50_ms": round(statistics.median(relays), 2),
            }
            print("overhead", mode, rows[mode], flush=True)
    return rows


def _streamed(gen: ModelAnswerer, i: int, found: list[Passage], relayed: list[str]) -> Any:
    from ragbot.flow.generate import check_citations

    started = time.perf_counter()
    draft = gen.generate(question(i), found, on_text=relayed.append)
    checked = check_citations(draft, found)
    timings = {**checked.timings_ms, "generate": round((time.perf_counter() - started) * 1000, 2)}
    return checked.model_copy(update={"timings_ms": timings})


def concurrency(latency_s: float, levels: list[int], per_thread: int) -> dict[str, Any]:
    found = passages()
    rows = []
    with fake_tgi(latency_s) as url:
        gen = generator(url)
        answer(question(0), found, generator=gen)  # warm: /info
        for c in levels:
            n = c * per_thread
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=c) as pool:
                results = list(pool.map(lambda i: answer(question(i), found, generator=gen), range(n)))
            wall = time.perf_counter() - started
            degraded = sum(1 for r in results if r.reason)
            rate = n / wall
            rows.append(
                {
                    "concurrency": c,
                    "answers": n,
                    "answers_per_s": round(rate, 1),
                    "ideal_per_s": round(c / latency_s, 1),
                    "efficiency": round(rate / (c / latency_s), 3),
                    "degraded": degraded,
                }
            )
            print("concurrency", rows[-1], flush=True)
    return {"latency_s": latency_s, "rows": rows}


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}. Date: {results['date']}. Command: `{results['command']}`.", ""]
    if "overhead" in results:
        lines += [
            "| mode | answers | total p50 | server p50 | ragbot's own p50 | own p95 | relay p50 |",
            "|---|---|---|---|---|---|---|",
        ]
        for mode, r in results["overhead"].items():
            lines.append(
                f"| {mode} | {r['answers']} | {r['total_p50_ms']} ms | {r['server_p50_ms']} ms | {r['own_p50_ms']} ms "
                f"| {r['own_p95_ms']} ms | {r['relay_p50_ms']} ms |"
            )
        lines.append("")
    if "concurrency" in results:
        c = results["concurrency"]
        lines += [
            f"Server latency {c['latency_s']} s per answer.",
            "",
            "| threads | answers | answers/s | ideal | efficiency | degraded |",
            "|---|---|---|---|---|---|",
        ]
        for r in c["rows"]:
            lines.append(
                f"| {r['concurrency']} | {r['answers']} | {r['answers_per_s']} | {r['ideal_per_s']} "
                f"| {r['efficiency']:.0%} | {r['degraded']} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("overhead", "concurrency"))
    parser.add_argument("--answers", type=int, default=200, help="answers per mode in the overhead part")
    parser.add_argument("--latency", type=float, default=1.0, help="the server's seconds per answer")
    parser.add_argument("--concurrency", default="1,8,32,64", help="threads, one run each")
    parser.add_argument("--per-thread", type=int, default=4, help="answers each thread asks for")
    args = parser.parse_args(argv)
    try:
        levels = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error("--concurrency takes comma-separated integers, e.g. 1,8,32")
    if args.answers < 1 or args.latency <= 0 or args.per_thread < 1 or min(levels) < 1:
        parser.error("--answers, --latency, --per-thread and --concurrency must be positive")
    results = results_header("generation.py", argv)
    if args.only in (None, "overhead"):
        results["overhead"] = overhead(args.answers)
    if args.only in (None, "concurrency"):
        results["concurrency"] = concurrency(args.latency, levels, args.per_thread)
    save("generation", results)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
