"""Slack end to end: signed events into `ragbot serve slack`, real Celery workers on Redis, answers in the thread.

Slack's Web API is a local server speaking its protocol (tests/fakes/slack_api.py); everything else is real.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.chat.streaming import TYPING
from slack_adapter.translate import PLACEHOLDER
from tests.e2e.harness import Service, WorkerProcess, base_env
from tests.fakes.otlp import FakeCollector
from tests.fakes.slack_api import (
    FakeSlackApi,
    app_mention_event,
    block_actions_form,
    dm_message_event,
    event_callback,
    sign_request,
)
from tests.fakes.tgi import FakeTgi

BOT_TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"
ALL = "retrieve,generate,reply.slack,feedback"


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi(BOT_TOKEN) as api:
        api.add_user("U1", email="liam@kestrel.example", name="liam")
        api.add_user("UHR", email="ana@kestrel.example", name="ana")
        api.add_channel("C1", kind="public", members=["U1", "UHR", "UBOT"], name="general")
        api.add_channel("GHR", kind="private", members=["UHR", "UBOT"], name="hr-only")
        api.add_channel("D1", kind="im", members=["U1", "UBOT"])
        api.add_channel("DHR", kind="im", members=["UHR", "UBOT"])
        yield api


@pytest.fixture
def env(data_dir: Path, redis_url: str, slack: FakeSlackApi) -> dict[str, str]:
    return base_env(
        data_dir=data_dir,
        redis_url=redis_url,
        RAGBOT_SLACK__BOT_TOKEN=BOT_TOKEN,
        RAGBOT_SLACK__SIGNING_SECRET=SECRET,
        RAGBOT_SLACK__API_URL=slack.url,
        RAGBOT_DIRECTORY__PATH=str(Path(__file__).resolve().parents[2] / "examples" / "principals.json"),
    )


@pytest.fixture
def adapter(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    with Service("slack", env=env, log_path=tmp_path / "slack.log") as service:
        yield service  # type: ignore[misc]


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    with WorkerProcess(env=env, queues=ALL, log_path=tmp_path / "worker.log") as process:
        yield process  # type: ignore[misc]


def post_event(adapter: Service, payload: dict[str, Any], *, retry: int | None = None) -> requests.Response:
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json", **sign_request(body, signing_secret=SECRET)}
    if retry is not None:
        headers.update({"X-Slack-Retry-Num": str(retry), "X-Slack-Retry-Reason": "http_timeout"})
    return requests.post(f"{adapter.url}/slack/events", data=body, headers=headers, timeout=10)


def answer_in(slack: FakeSlackApi, channel: str, thread: str) -> dict[str, Any]:
    """The bot's message in the thread once the reply hop replaced the placeholder."""
    call = slack.wait_for(
        lambda c: c.method == "chat.update" and c.args.get("channel") == channel and "blocks" in c.args, timeout=30
    )
    [message] = [m for m in slack.messages(channel, thread_ts=thread) if m.get("ts") == call.args["ts"]]
    return message


def block_text(message: dict[str, Any]) -> str:
    return "\n".join(str((b.get("text") or {}).get("text", "")) for b in message.get("blocks") or [])


def test_a_mention_is_answered_in_its_thread_with_sources_and_feedback(
    slack: FakeSlackApi, adapter: Service, worker: WorkerProcess, data_dir: Path
) -> None:
    event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
    payload = event_callback(event, event_id="Ev1")
    started = time.perf_counter()
    response = post_event(adapter, payload)
    assert response.status_code == 200
    assert time.perf_counter() - started < 3  # Slack's deadline; measured properly in bench/

    message = answer_in(slack, "C1", event["ts"])
    text = block_text(message)
    assert "[1]" in text and "*Sources*" in text
    assert "leave-policy" in text or "Leave" in text
    actions = [b for b in message["blocks"] if b["type"] == "actions"]
    assert {e["action_id"] for e in actions[0]["elements"]} == {"ragbot_feedback_up", "ragbot_feedback_down"}
    assert actions[0]["elements"][0]["value"] == "slack-Ev1"

    # 👍 is recorded against the question, with the clicker's id hashed.
    form = block_actions_form(
        [{"action_id": "ragbot_feedback_up", "block_id": "ragbot_feedback", "value": "slack-Ev1", "type": "button"}],
        user_id="U1",
        channel_id="C1",
        message_ts=message["ts"],
        thread_ts=event["ts"],
    )
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign_request(form, signing_secret=SECRET)}
    assert requests.post(f"{adapter.url}/slack/events", data=form, headers=headers, timeout=10).status_code == 200
    slack.wait_for("chat.postEphemeral", timeout=10)
    log = SqliteInteractionLog(data_dir)
    deadline = time.monotonic() + 15
    while True:
        record = log.get("slack-Ev1")
        if record is not None and record.feedback:
            break
        assert time.monotonic() < deadline, f"no feedback recorded: {record}"
        time.sleep(0.1)
    assert record.status == "answered" and record.platform == "slack"
    assert record.feedback[0].value == "up"
    assert record.user_hash and "U1" not in record.model_dump_json()
    assert record.retrieved and record.citations
    assert {"retrieve", "generate", "reply", "total"} <= set(record.timings_ms)


def test_a_retried_event_is_answered_once(slack: FakeSlackApi, adapter: Service, worker: WorkerProcess) -> None:
    event = app_mention_event("what is the expense limit for a client dinner?", user="U1", channel="C1")
    payload = event_callback(event, event_id="EvRetry")
    assert post_event(adapter, payload).status_code == 200
    assert post_event(adapter, payload, retry=1).status_code == 200
    assert post_event(adapter, payload, retry=2).status_code == 200
    answer_in(slack, "C1", event["ts"])
    time.sleep(1.0)  # room for a wrongly queued second answer to arrive
    placeholders = [c for c in slack.calls_to("chat.postMessage") if c.args.get("thread_ts") == event["ts"]]
    updates = [c for c in slack.calls_to("chat.update") if c.args.get("channel") == "C1"]
    assert len(placeholders) == 1 and len(updates) == 1


def test_a_rate_limited_placeholder_is_waited_out(slack: FakeSlackApi, adapter: Service, worker: WorkerProcess) -> None:
    # Slack allows about one message a second per channel; its 429 says when to come back, and the adapter does.
    slack.fail_next("chat.postMessage", retry_after=1)
    event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
    post_event(adapter, event_callback(event, event_id="EvLimited"))
    assert "[1]" in block_text(answer_in(slack, "C1", event["ts"]))


def test_a_failed_placeholder_does_not_lose_the_question(
    slack: FakeSlackApi, adapter: Service, worker: WorkerProcess
) -> None:
    for _ in range(3):  # the first try and both retries
        slack.fail_next("chat.postMessage", error="service_unavailable", status=503)
    event = app_mention_event("what is the expense limit for a client dinner?", user="U1", channel="C1")
    post_event(adapter, event_callback(event, event_id="EvNoPlaceholder"))
    # No progress message to replace: the answer is posted in the thread instead.
    call = slack.wait_for(
        lambda c: c.method == "chat.postMessage" and c.args.get("thread_ts") == event["ts"] and "blocks" in c.args,
        timeout=30,
    )
    assert "*Sources*" in json.dumps(call.args["blocks"]) and call.args["thread_ts"] == event["ts"]


def test_an_unresolvable_asker_is_told_rather_than_searched_for(slack: FakeSlackApi, adapter: Service) -> None:
    # Without the asker's principals a DM cannot be searched safely: say so instead of guessing.
    slack.fail_next("users.info", error="fatal_error", status=200)
    event = dm_message_event("what are the salary bands?", user="UHR", channel="DHR")
    post_event(adapter, event_callback(event, event_id="EvWho"))
    call = slack.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == "DHR")
    assert "couldn't check which documents" in str(call.args.get("text"))
    assert not [c for c in slack.calls_to("chat.postMessage") if c.args.get("text") == PLACEHOLDER]


def test_socket_mode_answers_without_a_public_endpoint(
    slack: FakeSlackApi, env: dict[str, str], worker: WorkerProcess, tmp_path: Path
) -> None:
    # With an app-level token the adapter dials out to Slack over a WebSocket instead of receiving HTTP requests.
    socket = slack.enable_socket_mode("xapp-1-test")
    socket_env = {k: v for k, v in env.items() if k != "RAGBOT_SLACK__SIGNING_SECRET"}
    socket_env["RAGBOT_SLACK__APP_TOKEN"] = "xapp-1-test"
    with Service("slack", env=socket_env, log_path=tmp_path / "slack-socket.log"):
        socket.wait_connected()
        event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
        envelope = socket.push("events_api", event_callback(event, event_id="EvSocket"))
        assert socket.wait_ack(envelope)["envelope_id"] == envelope
        assert "[1]" in block_text(answer_in(slack, "C1", event["ts"]))
    assert [c.token for c in slack.calls_to("apps.connections.open")] == ["xapp-1-test"]


def test_a_model_answer_is_shown_while_it_is_written_then_replaced_by_the_final_one(
    slack: FakeSlackApi, env: dict[str, str], adapter: Service, tmp_path: Path
) -> None:
    with FakeTgi() as tgi:
        tgi.token_delay(0.15)
        streaming = {**env, "RAGBOT_TGI__URL": tgi.url, "RAGBOT_TGI__STREAM_INTERVAL_S": "0.3"}
        with WorkerProcess(env=streaming, queues=ALL, log_path=tmp_path / "tgi-worker.log"):
            event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
            post_event(adapter, event_callback(event, event_id="EvStream"))
            final = answer_in(slack, "C1", event["ts"])
        assert tgi.chat_requests()[-1]["stream"] is True
    edits = [c for c in slack.calls_to("chat.update") if c.args.get("channel") == "C1"]
    partials = [str(c.args["text"]) for c in edits if "blocks" not in c.args]
    assert len(partials) >= 2 and all(p.endswith(TYPING) for p in partials)
    assert all(len(a) < len(b) for a, b in zip(partials, partials[1:], strict=False))  # the text grows
    assert edits[-1].args.get("blocks") and "[1]" in block_text(final) and TYPING not in block_text(final)


def test_one_question_is_one_trace_across_the_adapter_and_every_hop(
    slack: FakeSlackApi, env: dict[str, str], tmp_path: Path
) -> None:
    with FakeCollector() as collector:
        traced = {
            **env,
            "RAGBOT_TRACING__ENABLED": "true",
            "RAGBOT_TRACING__ENDPOINT": collector.url,
            "OTEL_BSP_SCHEDULE_DELAY": "100",  # export within 0.1 s instead of 5 s
        }
        with (
            Service("slack", env=traced, log_path=tmp_path / "slack-traced.log") as adapter,
            WorkerProcess(env=traced, queues=ALL, log_path=tmp_path / "worker-traced.log"),
        ):
            event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
            post_event(adapter, event_callback(event, event_id="EvTraced"))
            answer_in(slack, "C1", event["ts"])
            [enqueue] = collector.wait_for("ragbot.enqueue")
            collector.wait_for("run/ragbot.reply.slack")
    assert enqueue.service == "ragbot-slack" and enqueue.attributes["ragbot.question_id"] == "slack-EvTraced"
    in_trace = [s for s in collector.spans() if s.trace_id == enqueue.trace_id]
    runs = {s.name for s in in_trace if s.name.startswith("run/")}
    assert runs == {"run/ragbot.retrieve", "run/ragbot.generate", "run/ragbot.reply.slack"}
    assert {s.service for s in in_trace} == {"ragbot-slack", "ragbot-worker"}
    # Spans hold ids and timings only: the question's text is nowhere in them.
    assert not [s for s in in_trace if any("annual leave" in v for v in s.attributes.values())]


def test_a_bad_signature_is_refused(slack: FakeSlackApi, adapter: Service) -> None:
    body = json.dumps(event_callback(app_mention_event("hi", user="U1", channel="C1"), event_id="EvBad")).encode()
    headers = {"Content-Type": "application/json", **sign_request(body, signing_secret="not-the-secret")}
    response = requests.post(f"{adapter.url}/slack/events", data=body, headers=headers, timeout=10)
    assert response.status_code == 401
    assert not slack.calls_to("chat.postMessage")


def test_a_restricted_document_never_reaches_a_channel_answer(
    slack: FakeSlackApi, adapter: Service, worker: WorkerProcess, data_dir: Path
) -> None:
    question = "what are the salary bands and pay ranges for engineers?"
    # Asked by an HR member in a public channel: public documents only.
    public = app_mention_event(question, user="UHR", channel="C1")
    post_event(adapter, event_callback(public, event_id="EvPublic"))
    in_channel = answer_in(slack, "C1", public["ts"])
    assert "compensation" not in json.dumps(in_channel)
    # The same person in a DM: their own principals, so the HR-only band document is found.
    private = dm_message_event(question, user="UHR", channel="DHR")
    post_event(adapter, event_callback(private, event_id="EvDm"))
    in_dm = answer_in(slack, "DHR", private["ts"])
    assert "salary-bands" in json.dumps(in_dm) or "Salary" in block_text(in_dm)
    record = SqliteInteractionLog(data_dir).get("slack-EvPublic")
    assert record is not None
    assert all(not ref.doc_id.startswith("hr/compensation/") for ref in record.retrieved)


def test_a_worker_killed_mid_question_still_answers(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path
) -> None:
    with WorkerProcess(
        env=env, queues=ALL, log_path=tmp_path / "slow-worker.log", embed_delay_s=3.0, concurrency=1
    ) as slow:
        event = app_mention_event("how do I book travel for a conference?", user="U1", channel="C1")
        post_event(adapter, event_callback(event, event_id="EvKill"))
        slack.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("thread_ts") == event["ts"])
        time.sleep(1.0)  # the question is now inside the slow embedder
        [child] = slow.children()
        os.kill(child, signal.SIGKILL)
        message = answer_in(slack, "C1", event["ts"])
    assert "[1]" in block_text(message) or "couldn" in block_text(message).lower()


def test_redis_unreachable_at_enqueue_tells_the_asker(slack: FakeSlackApi, data_dir: Path, tmp_path: Path) -> None:
    env = base_env(
        data_dir=data_dir,
        redis_url="redis://127.0.0.1:1/0",  # nothing listens on port 1
        RAGBOT_SLACK__BOT_TOKEN=BOT_TOKEN,
        RAGBOT_SLACK__SIGNING_SECRET=SECRET,
        RAGBOT_SLACK__API_URL=slack.url,
    )
    with Service("slack", env=env, log_path=tmp_path / "slack.log") as adapter:
        event = app_mention_event("how many days of leave do I get?", user="U1", channel="C1")
        assert post_event(adapter, event_callback(event, event_id="EvDown")).status_code == 200
        told = slack.wait_for(
            lambda c: c.method in ("chat.postMessage", "chat.update") and "can't take questions" in str(c.args),
            timeout=20,
        )
        assert told.args["channel"] == "C1"
        assert requests.get(f"{adapter.url}/readyz", timeout=10).status_code == 503
        assert requests.get(f"{adapter.url}/healthz", timeout=10).status_code == 200


def test_a_question_that_expired_in_the_queue_is_apologised_for(
    slack: FakeSlackApi, env: dict[str, str], tmp_path: Path
) -> None:
    # The shortest expiry the queue's other clocks allow (queue.timing checks them against each other).
    clocks = {"EXPIRES_S": "15", "VISIBILITY_TIMEOUT_S": "14", "RETRY_BACKOFF_MAX_S": "2", "REPLY_LEASE_S": "3"}
    env = {**env, **{f"RAGBOT_QUEUE__{name}": value for name, value in clocks.items()}}
    env["RAGBOT_QUEUE__MAX_WAIT_S"] = "10"
    with Service("slack", env=env, log_path=tmp_path / "slack.log") as adapter:
        event = app_mention_event("how many days of leave do I get?", user="U1", channel="C1")
        post_event(adapter, event_callback(event, event_id="EvLate"))
        slack.wait_for(lambda c: c.method == "chat.postMessage" and c.args.get("thread_ts") == event["ts"])
        time.sleep(16)  # no worker is running: the question outlives its expiry in the queue
        with WorkerProcess(env=env, queues=ALL, log_path=tmp_path / "worker.log"):
            told = slack.wait_for(lambda c: c.method == "chat.update" and "went wrong" in str(c.args), timeout=20)
    assert told.args["channel"] == "C1"
    assert not [c for c in slack.calls_to("chat.update") if "[1]" in str(c.args)]
