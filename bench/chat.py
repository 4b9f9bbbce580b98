"""The chat path under load: Slack adapter acknowledgement latency and intake rate, and the queue's cost per hop.

    python bench/chat.py                          # both parts, ~3 min on 2 cores
    python bench/chat.py --only intake --events 2000 --concurrency 1,8,32
    python bench/chat.py --only hops --questions 60

intake  `ragbot serve slack` as operators run it, fed signed Events API requests (app mentions in a public
        channel, each with its own event_id) by an asyncio client at a fixed number of requests in flight.
        Measured: the time to Slack's HTTP 200 (p50/p99), and the rate at which questions land on the `retrieve`
        queue. Nothing consumes the queue during the run, so afterwards every acknowledged event must be there
        exactly once: the run checks the task ids on the Redis list against the event ids it sent.
hops    the same questions answered twice: by calling retrieve → generate → reply in one process, and through the
        queue (`ragbot worker` on every queue, one child), one question at a time so no queue has a backlog.
        Both are timed by the pipeline's own stopwatch (the interaction log's `timings_ms.total`, from the moment
        the question was handed over to the moment the reply was posted); the difference is what the queue costs,
        and `queue.<hop>` is each hop's wait between being sent and being picked up.

Slack's Web API is the protocol fake from tests/fakes (in its own process, so it does not share the load
generator's interpreter); Redis is the local server (database 13, flushed). Figures go to
bench/out/chat-*.json and are printed as Markdown for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "bench")]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import aiohttp  # noqa: E402
import redis  # noqa: E402
from tests.e2e.harness import Service, WorkerProcess, base_env  # noqa: E402
from tests.fakes.slack_api import app_mention_event, event_callback, sign_request  # noqa: E402

from common import fake_in_process, percentile, results_header, save  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/13"
BOT_TOKEN = "xoxb-bench"
SECRET = "bench-signing-secret"
USERS = [f"U{i:03d}" for i in range(20)]

_FAKE_SLACK = f"""
import sys
from tests.fakes.slack_api import FakeSlackApi
api = FakeSlackApi({BOT_TOKEN!r})
users = {USERS!r}
for user in users:
    api.add_user(user, email=None, name=user.lower())
api.add_channel("C1", kind="public", members=[*users, "UBOT"], name="general")
api.start()
print(api.url, flush=True)
sys.stdin.read()
api.stop()
"""


@contextmanager
def fake_slack() -> Iterator[str]:
    with fake_in_process(_FAKE_SLACK) as url:
        yield url


def signed_events(n: int, *, text: str, run: str) -> list[tuple[str, bytes, dict[str, str]]]:
    """`n` app mentions from rotating users, signed up front so the client spends nothing on HMACs in the run.

    Event ids are unique across runs: the adapter would rightly drop a repeated one as a Slack retry.
    """
    requests = []
    for i in range(n):
        event = app_mention_event(text, user=USERS[i % len(USERS)])
        payload = event_callback(event, event_id=f"Ev{run}x{i:07d}")
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/json", **sign_request(body, signing_secret=SECRET)}
        requests.append((str(payload["event_id"]), body, headers))
    return requests


async def _fire(url: str, events: list[tuple[str, bytes, dict[str, str]]], concurrency: int) -> list[float]:
    """POST every event with `concurrency` requests in flight; the seconds each took to be acknowledged."""
    latencies: list[float] = []
    pending = iter(events)
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as session:

        async def lane() -> None:
            for _, body, headers in pending:
                started = time.perf_counter()
                async with session.post(f"{url}/slack/events", data=body, headers=headers) as response:
                    await response.read()
                    if response.status != 200:
                        raise RuntimeError(f"the adapter answered {response.status}")
                latencies.append(time.perf_counter() - started)

        await asyncio.gather(*(lane() for _ in range(concurrency)))
    return latencies


def queued_task_ids(client: redis.Redis) -> list[str]:
    return [json.loads(raw)["headers"]["id"] for raw in client.lrange("retrieve", 0, -1)]


def intake_run(adapter: Service, client: redis.Redis, *, events: int, concurrency: int, run: str) -> dict[str, Any]:
    client.delete("retrieve")
    batch = signed_events(events, text="what is the travel policy?", run=run)
    started = time.perf_counter()
    latencies = asyncio.run(_fire(adapter.url, batch, concurrency))
    acked = time.perf_counter()
    deadline = acked + 120
    while client.llen("retrieve") < events and time.perf_counter() < deadline:
        time.sleep(0.01)
    queued = time.perf_counter()
    ids = queued_task_ids(client)
    expected = {f"slack-{event_id}:retrieve" for event_id, _, _ in batch}
    lost, duplicated = len(expected - set(ids)), len(ids) - len(set(ids))
    if lost or duplicated or len(ids) != events:
        raise AssertionError(f"{lost} events lost and {duplicated} queued twice of {events}")
    client.delete("retrieve")
    return {
        "concurrency": concurrency,
        "events": events,
        "ack_p50_ms": round(statistics.median(latencies) * 1000, 1),
        "ack_p99_ms": round(percentile(latencies, 0.99) * 1000, 1),
        "ack_max_ms": round(max(latencies) * 1000, 1),
        "acked_per_s": round(events / (acked - started), 1),
        "queued_per_s": round(events / (queued - started), 1),
        "lost": lost,
        "duplicated": duplicated,
    }


def intake(env: dict[str, str], work: Path, *, events: int, concurrencies: list[int]) -> dict[str, Any]:
    client = redis.Redis.from_url(REDIS_URL)
    rows = []
    with Service("slack", env=env, log_path=work / "slack.log") as adapter:
        intake_run(adapter, client, events=50, concurrency=4, run="W")  # warm-up: connections, users.info cache
        for i, concurrency in enumerate(concurrencies):
            rows.append(intake_run(adapter, client, events=events, concurrency=concurrency, run=f"R{i}"))
            print("intake", rows[-1], flush=True)
    return {"rows": rows}


def questions(n: int) -> list[str]:
    lines = [q for q in (REPO / "examples" / "sample-questions.txt").read_text().splitlines() if q.strip()]
    qa = [json.loads(line)["question"] for line in (REPO / "examples" / "qa.jsonl").read_text().splitlines() if line]
    pool = lines + qa
    return [pool[i % len(pool)] for i in range(n)]


def hops(env: dict[str, str], work: Path, *, n: int) -> dict[str, Any]:
    os.environ.update(env)
    from slack_sdk import WebClient

    from ragbot.bootstrap import Context, build_chunker
    from ragbot.flow.generate import answer_retrieval
    from ragbot.flow.reply import deliver
    from ragbot.flow.retrieve import retrieve_question
    from ragbot.ingestion import ingest, open_source
    from ragbot.models import ConversationRef, Question
    from ragbot.queue.celery_app import create_celery_app
    from ragbot.queue.producer import submit
    from ragbot.settings import Settings
    from slack_adapter.senders import SlackReplySender

    settings = Settings()
    resources = Context(settings)
    ingest(
        [open_source(REPO / "examples" / "handbook")],
        index=resources.index,
        embedder=resources.embedder,
        chunker=build_chunker(settings),
    )
    resources.warm(retrieval=True)
    sender = SlackReplySender(WebClient(token=BOT_TOKEN, base_url=settings.slack.api_url, timeout=10))
    log = resources.interactions
    assert log is not None, "the interaction log is off (RAGBOT_INTERACTIONS__ENABLED)"
    texts = questions(n)

    def ask(i: int, how: str) -> Question:
        conversation = ConversationRef(platform="slack", channel="C1", thread=f"{i}.000100")
        return Question(
            question_id=f"{how}-{i}", text=texts[i], asker="U000", conversation=conversation, asked_at=time.time()
        )

    def timings(question_id: str, timeout: float = 60) -> dict[str, float]:
        deadline = time.monotonic() + timeout
        while (record := log.get(question_id)) is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"no answer to {question_id}")
            time.sleep(0.002)
        return dict(record.timings_ms)

    direct = []
    for i in range(n):
        question = ask(i, "direct")
        outcome = answer_retrieval(
            retrieve_question(question, retriever=resources.retriever), generator=resources.generator
        )
        deliver(outcome, sender=sender, ledger=resources.ledger, interactions=log, hasher=resources.hasher)
        direct.append(timings(question.question_id))
    resources.index.close()

    celery = create_celery_app(settings)
    queued = []
    all_queues = "retrieve,generate,reply.slack,feedback"
    with WorkerProcess(env=env, queues=all_queues, log_path=work / "worker.log", entry_point=True, timeout=180):
        submit(ask(-1, "warm"), celery=celery, expires_s=60)
        timings("warm--1")
        for i in range(n):
            question = ask(i, "queued")
            submit(question, celery=celery, expires_s=60)
            queued.append(timings(question.question_id))

    def median(rows: list[dict[str, float]], key: str) -> float:
        return round(statistics.median(row.get(key, 0.0) for row in rows), 1)

    keys = ("queue.retrieve", "retrieve", "queue.generate", "generate", "queue.reply", "reply", "total")
    result = {
        "questions": n,
        "direct": {key: median(direct, key) for key in keys},
        "queued": {key: median(queued, key) for key in keys},
    }
    result["overhead_ms"] = round(result["queued"]["total"] - result["direct"]["total"], 1)
    waits = [sum(v for k, v in row.items() if k.startswith("queue.")) for row in queued]
    result["queue_wait_ms"] = {"p50": round(statistics.median(waits), 1), "p95": round(percentile(waits, 0.95), 1)}
    print("hops", result, flush=True)
    return result


def markdown(results: dict[str, Any]) -> str:
    lines = [f"Machine: {results['machine']}. Date: {results['date']}. Command: `{results['command']}`.", ""]
    if "intake" in results:
        lines += [
            "| in flight | events | ack p50 ms | ack p99 ms | acked/s | queued/s | lost | duplicated |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for r in results["intake"]["rows"]:
            lines.append(
                f"| {r['concurrency']} | {r['events']} | {r['ack_p50_ms']} | {r['ack_p99_ms']} | {r['acked_per_s']} "
                f"| {r['queued_per_s']} | {r['lost']} | {r['duplicated']} |"
            )
        lines.append("")
    if "hops" in results:
        h = results["hops"]
        lines += [
            "| path | queue.retrieve | retrieve | queue.generate | generate | queue.reply | reply | total |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for path in ("direct", "queued"):
            row = h[path]
            cells = ["—" if path == "direct" and k.startswith("queue.") else str(v) for k, v in row.items()]
            lines.append(f"| {path} | " + " | ".join(cells) + " |")
        waits = h["queue_wait_ms"]
        lines.append(
            f"\nTime spent in the queue per question (sum of the three waits): p50 {waits['p50']} ms, "
            f"p95 {waits['p95']} ms. Median total, queued − direct: {h['overhead_ms']} ms."
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("intake", "hops"))
    parser.add_argument("--events", type=int, default=1000, help="events per intake run")
    parser.add_argument("--concurrency", default="1,8,32", help="requests in flight, one intake run each")
    parser.add_argument("--questions", type=int, default=60, help="questions per path in the hops part")
    args = parser.parse_args(argv)
    if args.events < 1 or args.questions < 1:
        parser.error("--events and --questions must be at least 1")
    try:
        concurrencies = [int(c) for c in args.concurrency.split(",")]
    except ValueError:
        parser.error("--concurrency takes comma-separated integers, e.g. 1,8,32")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.ConnectionError:
        parser.error("this benchmark needs Redis on 127.0.0.1:6379")
    results = results_header("chat.py", argv)
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-chat-") as tmp, fake_slack() as slack_url:
        work = Path(tmp)
        env = base_env(
            data_dir=work / "data",
            redis_url=REDIS_URL,
            RAGBOT_SLACK__BOT_TOKEN=BOT_TOKEN,
            RAGBOT_SLACK__SIGNING_SECRET=SECRET,
            RAGBOT_SLACK__API_URL=slack_url,
            RAGBOT_LIMITS__USER_PER_MINUTE="0",
            RAGBOT_LIMITS__CHANNEL_PER_MINUTE="0",
        )
        (work / "data").mkdir()
        if args.only in (None, "intake"):
            results["intake"] = intake(env, work, events=args.events, concurrencies=concurrencies)
        if args.only in (None, "hops"):
            results["hops"] = hops(env, work, n=args.questions)
    client.flushdb()
    save("chat", results)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
