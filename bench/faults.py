"""Worker faults and bursts: how long until the asker hears after each fault, and what a burst of questions does.

    python bench/faults.py                                   # everything, default clocks, 3 runs a fault (~15 min)
    python bench/faults.py --only burst --size 200
    python bench/faults.py --only child,redis --runs 5

The scenarios are the resilience suite's (tests/resilience/worker_scenarios.py), repeated for medians: real
processes (`ragbot serve slack`, Celery workers), a redis-server of their own per scenario, Slack's Web API as the
local fake. The queue's clocks are the shipped defaults (expiry 120 s, visibility timeout 90 s, reply lease 15 s,
refusal above an estimated 60 s wait) unless `--short-clocks`.

child     a pool process SIGKILLed while it sends the reply (Slack taking 3 s to accept it): seconds from the kill
          to the answer in the thread and its interaction record
main      the worker's main process SIGKILLed mid-question, a new one started at once: seconds from the kill to
          the answer (the visibility timeout decides)
redis     Redis stopped 25 s, then started (empty): seconds from its start to the next question's answer
start     `ragbot worker --queues retrieve --concurrency 2` with the real model: seconds to ready, a pool
          process's warm-up, and a SIGKILLed one's warm replacement
burst     `ragbot worker` (every queue, one process per core) with the real model over the handbook indexed with it;
          three warm-up questions, then `--size` at once: answered / told busy / apologised for, and when; run with
          the load check on (RAGBOT_QUEUE__MAX_WAIT_S default) and off (0: everything queued, as before the check)

Figures go to bench/out/faults-*.json and are printed as Markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from tests.e2e.harness import Service, WorkerProcess, base_env  # noqa: E402
from tests.fakes.hash_embedder import HashEmbedder  # noqa: E402
from tests.fakes.slack_api import FakeSlackApi  # noqa: E402
from tests.resilience.conftest import RedisServer  # noqa: E402
from tests.resilience.worker_scenarios import (  # noqa: E402
    ALL,
    burst,
    copy_store,
    index_handbook,
    kill_child_mid_reply,
    kill_main_mid_question,
    redis_outage,
    replace_a_child,
    seeded_slack,
    slack_env,
)

from common import results_header, save  # noqa: E402

SHORT_CLOCKS = {
    "RAGBOT_QUEUE__EXPIRES_S": "60",
    "RAGBOT_QUEUE__VISIBILITY_TIMEOUT_S": "20",
    "RAGBOT_QUEUE__REPLY_LEASE_S": "5",
    "RAGBOT_QUEUE__RETRY_BACKOFF_MAX_S": "2",
    "RAGBOT_QUEUE__MAX_WAIT_S": "10",
}
PARTS = ("child", "main", "redis", "start", "burst")
Env = dict[str, str]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def stack(
    store: Path, work: Path, clocks: dict[str, str]
) -> Iterator[tuple[FakeSlackApi, Service, dict[str, str], RedisServer]]:
    """A fresh Redis, the Slack fake and `ragbot serve slack`, over a private copy of `store`."""
    work.mkdir(parents=True)
    server = RedisServer(work, _free_port())
    server.start()
    try:
        with seeded_slack() as slack:
            env = slack_env(
                data_dir=copy_store(store, work / "data"), redis_url=server.url, slack_url=slack.url, **clocks
            )
            with Service("slack", env=env, log_path=work / "slack.log") as adapter:
                yield slack, adapter, env, server  # type: ignore[misc]
    finally:
        server.stop()


def repeat(runs: int, scenario: Callable[[int], float]) -> dict[str, Any]:
    seconds = [round(scenario(i), 2) for i in range(runs)]
    return {"runs": seconds, "median_s": round(statistics.median(seconds), 2)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(PARTS), help=f"comma-separated parts of {','.join(PARTS)}")
    parser.add_argument("--runs", type=int, default=3, help="runs of each fault (medians are reported)")
    parser.add_argument("--size", type=int, default=200, help="questions in the burst")
    parser.add_argument("--short-clocks", action="store_true", help="the resilience suite's shortened clocks")
    args = parser.parse_args(argv)
    parts = [p for p in args.only.split(",") if p]
    clocks = SHORT_CLOCKS if args.short_clocks else {}
    results: dict[str, Any] = {**results_header("faults.py", argv), "clocks": clocks or "defaults"}

    with tempfile.TemporaryDirectory(prefix="ragbot-faults-") as tmp:
        root = Path(tmp)
        hashed = index_handbook(root / "hashed", HashEmbedder())

        if "child" in parts:

            def child(i: int) -> float:
                with stack(hashed, root / f"child{i}", clocks) as (slack, adapter, env, _):
                    recovery = kill_child_mid_reply(slack, adapter, env, log_dir=root, question_id=f"slack-EvC{i}")
                assert recovery.status == "answered" and len(recovery.shown) == 1, recovery.shown
                return recovery.seconds

            results["child_killed_mid_reply"] = repeat(args.runs, child)
            print("child", results["child_killed_mid_reply"], flush=True)

        if "main" in parts:

            def main_process(i: int) -> float:
                with stack(hashed, root / f"main{i}", clocks) as (slack, adapter, env, _):
                    recovery = kill_main_mid_question(slack, adapter, env, log_dir=root, question_id=f"slack-EvM{i}")
                assert len(recovery.shown) == 1, recovery.shown
                results.setdefault("main_killed_statuses", []).append(recovery.status)
                return recovery.seconds

            results["main_killed_mid_question"] = repeat(args.runs, main_process)
            print("main", results["main_killed_mid_question"], flush=True)

        if "redis" in parts:

            def outage(i: int) -> float:
                with stack(hashed, root / f"redis{i}", clocks) as (slack, adapter, env, server):
                    recovery = redis_outage(slack, adapter, env, server, log_dir=root, question_id=f"slack-EvR{i}")
                assert recovery.survived and recovery.status == "answered", recovery.shown
                return recovery.seconds

            results["redis_stopped_25s"] = repeat(args.runs, outage)
            print("redis", results["redis_stopped_25s"], flush=True)

        if "start" in parts:
            starts = []
            for i in range(args.runs):
                server = RedisServer(root, _free_port())
                server.start()
                try:
                    empty = root / f"start{i}"
                    empty.mkdir()
                    started = replace_a_child(base_env(data_dir=empty, redis_url=server.url), log_dir=empty)
                finally:
                    server.stop()
                assert started.warm_before_ready and started.stable
                starts.append(started)
            results["real_model_start"] = {
                "ready_s": [round(s.ready_s, 2) for s in starts],
                "ready_s_median": round(statistics.median(s.ready_s for s in starts), 2),
                "child_warm_s_median": round(statistics.median(w for s in starts for w in s.warm_s), 2),
                "child_warm_s_max": round(max(w for s in starts for w in s.warm_s), 2),
                "replaced_s": [round(s.replaced_s, 2) for s in starts],
                "replaced_s_median": round(statistics.median(s.replaced_s for s in starts), 2),
                "loaded_before_fork_s": [
                    float(line.split(" fork in ")[1].split(" s")[0])
                    for s in starts
                    for line in s.log.splitlines()
                    if "loaded before the fork in" in line
                ],
            }
            print("start", results["real_model_start"], flush=True)

        if "burst" in parts:
            from ragbot.backends.st_embedder import SentenceTransformerEmbedder

            real = index_handbook(root / "real", SentenceTransformerEmbedder())
            for label, extra in (("load check on", {}), ("load check off", {"RAGBOT_QUEUE__MAX_WAIT_S": "0"})):
                work = root / f"burst-{label.split()[-1]}"
                with stack(real, work, {**clocks, **extra}) as (slack, adapter, env, _):
                    worker = WorkerProcess(
                        env=env, queues=ALL, log_path=work / "worker.log", entry_point=True, timeout=300
                    )
                    with worker:
                        outcome = burst(slack, adapter, redis_url=env["RAGBOT_REDIS__URL"], size=args.size)
                results.setdefault("burst", {})[label] = outcome.summary()
                print("burst", label, outcome.summary(), flush=True)

    path = save("faults", results)
    print(f"\nwrote {path}")
    print(markdown(results))
    return 0


def markdown(results: dict[str, Any]) -> str:
    lines = ["| fault | runs (s) | median |", "|---|---|---|"]
    for key, name in (
        ("child_killed_mid_reply", "pool process SIGKILLed mid-reply → answer + record"),
        ("main_killed_mid_question", "main process SIGKILLed mid-question, restarted → answer"),
        ("redis_stopped_25s", "Redis stopped 25 s, started → next question answered"),
    ):
        if key in results:
            runs = ", ".join(f"{s:.1f}" for s in results[key]["runs"])
            lines.append(f"| {name} | {runs} | {results[key]['median_s']:.1f} s |")
    if "burst" in results:
        lines += [
            "",
            "| burst | answered | told busy | apologised | answer p50 / max | busy p50 / max | apology p50 "
            "| all settled |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for label, s in results["burst"].items():
            lines.append(
                f"| {s['questions']}, {label} | {s['answered']} | {s['told_busy']} | {s['apologised']} | "
                f"{s['answer_s_median']} / {s['answer_s_max']} s | {s['busy_s_median']} / {s['busy_s_max']} s | "
                f"{s['apology_s_median']} s | {s['settled_s']} s |"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
