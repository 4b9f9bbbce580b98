"""The worker-fault and burst scenarios, shared by tests/resilience/test_worker_faults.py (which asserts what each
promises) and bench/faults.py (which repeats them for the figures in docs/BENCHMARKS.md).

Every scenario runs real processes (`ragbot serve slack`, Celery workers through tests/e2e/harness.py) against a
Redis server of its own and the Slack Web API fake, and reports what the askers saw and how long it took.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import signal
import statistics
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
import requests

from ragbot import texts
from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.interactions.records import InteractionRecord
from ragbot.ports import Embedder
from slack_adapter.translate import PLACEHOLDER
from tests.conftest import HANDBOOK
from tests.e2e.harness import Service, WorkerProcess, base_env
from tests.fakes.slack_api import FakeSlackApi, app_mention_event, event_callback, sign_request
from tests.resilience.conftest import RedisServer

__all__ = [
    "ALL",
    "BurstOutcome",
    "Recovery",
    "ask",
    "burst",
    "copy_store",
    "index_handbook",
    "kill_child_mid_reply",
    "kill_main_mid_question",
    "redis_outage",
    "replace_a_child",
    "said_in",
    "seeded_slack",
    "slack_env",
    "wait_settled",
]

BOT_TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
ALL = "retrieve,generate,reply.slack,feedback"
QUESTION = "how many days of paid annual leave do I get?"
_TS = itertools.count(1)


@contextmanager
def seeded_slack() -> Iterator[FakeSlackApi]:
    """The Slack Web API fake with one asker in one public channel."""
    with FakeSlackApi(BOT_TOKEN) as api:
        api.add_user("U1", email="liam@kestrel.example", name="liam")
        api.add_channel("C1", kind="public", members=["U1", "UBOT"], name="general")
        yield api


def index_handbook(directory: Path, embedder: Embedder) -> Path:
    """The sample handbook indexed into `directory` with `embedder` (the one the workers will search with)."""
    index = EmbeddedIndex(directory)
    try:
        ingest([open_source(HANDBOOK)], index=index, embedder=embedder, chunker=Chunker())
    finally:
        index.close()
    return directory


def copy_store(store: Path, target: Path) -> Path:
    """A private copy of an indexed store (the interaction log and the probe files are written next to it)."""
    target.mkdir(parents=True, exist_ok=True)
    for item in store.iterdir():
        if item.is_file():
            (target / item.name).write_bytes(item.read_bytes())
    return target


def slack_env(*, data_dir: Path, redis_url: str, slack_url: str, **settings: str) -> dict[str, str]:
    """The environment of the adapter and the workers: Slack through the fake, per-user limits off."""
    return base_env(
        data_dir=data_dir,
        redis_url=redis_url,
        RAGBOT_SLACK__BOT_TOKEN=BOT_TOKEN,
        RAGBOT_SLACK__SIGNING_SECRET=SECRET,
        RAGBOT_SLACK__API_URL=slack_url,
        RAGBOT_LIMITS__USER_PER_MINUTE="0",
        RAGBOT_LIMITS__CHANNEL_PER_MINUTE="0",
        **settings,
    )


def ask(adapter: Service, event_id: str, *, text: str = QUESTION) -> dict[str, Any]:
    """A mention in #general, signed and posted as Slack does; the event (its ts is the thread's)."""
    event = app_mention_event(text, user="U1", channel="C1", ts=f"{int(time.time())}.{next(_TS):06d}")
    body = json.dumps(event_callback(event, event_id=event_id)).encode()
    headers = {"Content-Type": "application/json", **sign_request(body, signing_secret=SECRET)}
    response = requests.post(f"{adapter.url}/slack/events", data=body, headers=headers, timeout=10)
    assert response.status_code == 200, response.status_code
    return event


def said_in(slack: FakeSlackApi, event: dict[str, Any]) -> list[str]:
    """What the bot's messages in the question's thread show now (a message with blocks: its blocks' text)."""
    shown = []
    for message in slack.messages("C1", thread_ts=event["ts"]):
        blocks = message.get("blocks") or []
        shown.append(json.dumps(blocks) if blocks else str(message.get("text", "")))
    return shown


def settled(shown: list[str]) -> bool:
    """The thread has its last word: something was said, and no placeholder is left waiting."""
    return len(shown) >= 1 and all(PLACEHOLDER not in s for s in shown)


def wait_settled(slack: FakeSlackApi, event: dict[str, Any], *, timeout: float) -> list[str]:
    deadline = time.monotonic() + timeout
    while not settled(shown := said_in(slack, event)):
        if time.monotonic() > deadline:
            raise AssertionError(f"the thread never got its answer or apology: {shown}")
        time.sleep(0.1)
    return shown


def answered(shown: list[str]) -> bool:
    """One message, an answer citing its sources (`[n]`)."""
    return len(shown) == 1 and re.search(r"\[\d+\]", shown[0]) is not None and "*Sources*" in shown[0]


def apologised(shown: list[str]) -> bool:
    return len(shown) == 1 and "went wrong" in shown[0]  # texts.APOLOGY


def told_busy(shown: list[str]) -> bool:
    return len(shown) == 1 and texts.busy(60).split(":")[0] in shown[0]


def record_of(data_dir: Path, question_id: str, *, timeout: float = 15) -> InteractionRecord:
    log = SqliteInteractionLog(data_dir)
    deadline = time.monotonic() + timeout
    while (record := log.get(question_id)) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"no interaction record for {question_id}")
        time.sleep(0.1)
    return record


@dataclass
class Recovery:
    """What the asker saw after a fault, the record of it, and how long after the fault (or the repair) it came."""

    shown: list[str]
    status: str
    seconds: float
    log: str = ""
    survived: bool = True


def kill_child_mid_reply(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], *, log_dir: Path, question_id: str
) -> Recovery:
    """SIGKILL the only pool process while it holds the question's reply claim and Slack is taking the answer."""
    broker = redis.Redis.from_url(env["RAGBOT_REDIS__URL"], decode_responses=True)
    slack.delay("chat.update", 3.0)  # Slack takes its time to accept the answer: the reply is in flight
    worker = WorkerProcess(env=env, queues=ALL, log_path=log_dir / f"worker-{question_id}.log")
    try:
        event = ask(adapter, question_id.removeprefix("slack-"))
        deadline = time.monotonic() + 30
        while not str(broker.get(f"ragbot:hop:reply:{question_id}") or "").startswith("working"):
            if time.monotonic() > deadline:
                raise AssertionError("the reply hop never started")
            time.sleep(0.02)
        [child] = worker.children()
        os.kill(child, signal.SIGKILL)  # holding the claim, mid-send
        killed = time.monotonic()
        wait_settled(slack, event, timeout=60)
        # The killed process's request may still have reached Slack; the delivery that finishes the job (after the
        # dead holder's lease runs out) writes the record.
        record = record_of(Path(env["RAGBOT_DATA_DIR"]), question_id, timeout=60)
        return Recovery(said_in(slack, event), record.status, time.monotonic() - killed, worker.log_text())
    finally:
        slack.delay("chat.update", 0)
        worker.stop()
        broker.close()


def kill_main_mid_question(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], *, log_dir: Path, question_id: str
) -> Recovery:
    """SIGKILL the worker's main process (its pool processes die with it) while it holds the question; restart it."""
    broker = redis.Redis.from_url(env["RAGBOT_REDIS__URL"])
    worker = WorkerProcess(env=env, queues=ALL, log_path=log_dir / f"worker-{question_id}.log", embed_delay_s=4.0)
    try:
        event = ask(adapter, question_id.removeprefix("slack-"))
        deadline = time.monotonic() + 30
        while not broker.hlen("unacked"):  # the worker holds the question's message
            if time.monotonic() > deadline:
                raise AssertionError("no worker took the question")
            time.sleep(0.05)
        time.sleep(0.5)
    finally:
        worker.stop(sig=signal.SIGKILL)  # nothing acknowledged, nothing handed back
        broker.close()
    killed = time.monotonic()
    (Path(env["RAGBOT_DATA_DIR"]) / "probes" / "ready").unlink(missing_ok=True)  # a new pod has no stale probe
    with WorkerProcess(env=env, queues=ALL, log_path=log_dir / f"worker-{question_id}-restarted.log") as restarted:
        shown = wait_settled(slack, event, timeout=180)
        record = record_of(Path(env["RAGBOT_DATA_DIR"]), question_id)
        return Recovery(shown, record.status, time.monotonic() - killed, restarted.log_text())


def redis_outage(
    slack: FakeSlackApi,
    adapter: Service,
    env: dict[str, str],
    server: RedisServer,
    *,
    log_dir: Path,
    question_id: str,
    outage_s: float = 25,
) -> Recovery:
    """Answer one question, stop Redis for `outage_s`, start it again (empty) and ask again: seconds from the start."""
    worker = WorkerProcess(env=env, queues=ALL, log_path=log_dir / f"worker-{question_id}.log")
    try:
        before = wait_settled(slack, ask(adapter, f"{question_id.removeprefix('slack-')}-before"), timeout=30)
        if not answered(before):
            raise AssertionError(f"not answered before the outage: {before}")
        server.stop()
        time.sleep(outage_s)
        survived = worker.proc.poll() is None
        server.start()  # an empty Redis: what was queued is gone, the next question is not
        started = time.monotonic()
        shown = wait_settled(slack, ask(adapter, question_id.removeprefix("slack-")), timeout=90)
        seconds = time.monotonic() - started
        record = record_of(Path(env["RAGBOT_DATA_DIR"]), question_id)
        survived = survived and worker.proc.poll() is None
        return Recovery(shown, record.status, seconds, worker.log_text(), survived)
    finally:
        worker.stop()


@dataclass
class Replacement:
    """`ragbot worker` with the real model: when it said ready, how long each pool process took, the replacement."""

    ready_s: float
    warm_before_ready: bool
    warm_s: list[float]
    replaced_s: float
    stable: bool
    log: str


def replace_a_child(env: dict[str, str], *, log_dir: Path, concurrency: int = 2) -> Replacement:
    """Start the real worker, check readiness waited for warm processes, SIGKILL one, time its warm replacement."""
    started = time.monotonic()
    worker = WorkerProcess(
        env=env,
        queues="retrieve",
        concurrency=concurrency,
        log_path=log_dir / "worker-real-model.log",
        entry_point=True,
        timeout=300,
    )
    try:
        ready_s = time.monotonic() - started
        marks_dir, ready = worker.probe_dir / "children", worker.probe_dir / "ready"
        children = set(worker.children())
        ready_at = ready.stat().st_mtime
        warm_before_ready = len(children) == concurrency and all(
            (marks_dir / str(pid)).exists() and (marks_dir / str(pid)).stat().st_mtime <= ready_at for pid in children
        )
        victim = min(children)
        os.kill(victim, signal.SIGKILL)
        killed = time.monotonic()
        deadline = killed + 120
        while True:
            now = set(worker.children())
            marks = {int(p.name) for p in marks_dir.iterdir() if p.name.isdigit()}
            if victim not in now and len(now) == concurrency and now <= marks and ready.exists():
                break
            if time.monotonic() > deadline:
                raise AssertionError(f"no warm replacement: children {now}, warm {marks}")
            time.sleep(0.05)
        replaced_s = time.monotonic() - killed
        time.sleep(2)  # a replacement killed for being slow would show by now
        stable = set(worker.children()) == now
        log = worker.log_text()
    finally:
        worker.stop()
    warm = [float(line.split(" warm in ")[1].split(" s")[0]) for line in log.splitlines() if " warm in " in line]
    return Replacement(ready_s, warm_before_ready, warm, replaced_s, stable, log)


@dataclass
class BurstOutcome:
    """What each asker of a burst saw (thread by thread), and when."""

    final: dict[int, list[str]]
    acked_s: float
    settled_s: float
    answer_s: list[float] = field(default_factory=list)  # post → answer, for the answered
    busy_s: list[float] = field(default_factory=list)  # post → the busy notice, for the refused
    apology_s: list[float] = field(default_factory=list)  # post → the apology, for those that expired

    @property
    def answered(self) -> list[int]:
        return [i for i, shown in self.final.items() if answered(shown)]

    @property
    def busy(self) -> list[int]:
        return [i for i, shown in self.final.items() if told_busy(shown)]

    @property
    def apologised(self) -> list[int]:
        return [i for i, shown in self.final.items() if apologised(shown)]

    def summary(self) -> dict[str, Any]:
        def median(values: list[float]) -> float | None:
            return round(statistics.median(values), 2) if values else None

        return {
            "questions": len(self.final),
            "answered": len(self.answered),
            "told_busy": len(self.busy),
            "apologised": len(self.apologised),
            "one_message_each": all(len(shown) == 1 for shown in self.final.values()),
            "acked_s": round(self.acked_s, 2),
            "answer_s_median": median(self.answer_s),
            "answer_s_max": round(max(self.answer_s), 2) if self.answer_s else None,
            "busy_s_median": median(self.busy_s),
            "busy_s_max": round(max(self.busy_s), 2) if self.busy_s else None,
            "apology_s_median": median(self.apology_s),
            "settled_s": round(self.settled_s, 2),
        }


def burst(
    slack: FakeSlackApi, adapter: Service, *, redis_url: str, size: int, warm_up: int = 3, timeout: float = 600
) -> BurstOutcome:
    """With a worker running: warm up (so its speed is measured and registered), then `size` questions at once."""
    broker = redis.Redis.from_url(redis_url)
    for i in range(warm_up):
        shown = wait_settled(slack, ask(adapter, f"EvWarm{i}-{time.monotonic_ns()}"), timeout=120)
        if not answered(shown):
            raise AssertionError(f"warm-up question not answered: {shown}")
    deadline = time.monotonic() + 15
    while not broker.hlen("ragbot:workers"):  # the worker registers its warm processes every few seconds
        if time.monotonic() > deadline:
            raise AssertionError("the worker never registered its capacity")
        time.sleep(0.2)
    broker.close()

    run = time.monotonic_ns()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=min(size, 50)) as pool:
        events = list(pool.map(lambda i: (ask(adapter, f"EvBurst{i}-{run}"), time.monotonic()), range(size)))
    acked_s = time.monotonic() - started
    seen: dict[int, list[str]] = {}
    outcome = BurstOutcome(final={}, acked_s=acked_s, settled_s=0.0)
    deadline = time.monotonic() + timeout
    while len(seen) < size:
        for i, (event, posted) in enumerate(events):
            if i not in seen and settled(shown := said_in(slack, event)):
                seen[i] = shown
                took = time.monotonic() - posted
                if told_busy(shown):
                    outcome.busy_s.append(took)
                elif answered(shown):
                    outcome.answer_s.append(took)
                elif apologised(shown):
                    outcome.apology_s.append(took)
        if time.monotonic() > deadline:
            raise AssertionError(f"{size - len(seen)} questions still waiting after {timeout} s")
        time.sleep(0.1)
    outcome.settled_s = time.monotonic() - started
    time.sleep(2)  # room for a second message to a thread that already had its one
    outcome.final = {i: said_in(slack, event) for i, (event, _) in enumerate(events)}
    return outcome
