"""The model server down, slow, or failing mid-stream: every question still gets one message, with its sources.

Real adapter and worker processes on real Redis, Slack's Web API and TGI as local servers speaking their protocols
(the same set-up as tests/e2e/test_slack.py). The worker asks the model with a short deadline; whatever the server
does, the thread ends with one answer quoted from the documents and marked as such, never an apology or silence.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from ragbot.texts import APOLOGY, DEGRADED_NOTE
from slack_adapter.translate import PLACEHOLDER
from tests.e2e.conftest import data_dir, handbook_store, redis_url  # noqa: F401 - fixtures
from tests.e2e.harness import Service, WorkerProcess
from tests.e2e.test_slack import ALL, adapter, block_text, env, post_event, slack  # noqa: F401 - fixtures
from tests.fakes.slack_api import FakeSlackApi, app_mention_event, event_callback
from tests.fakes.tgi import FakeTgi


def final_in(api: FakeSlackApi, channel: str, thread: str, *, timeout: float = 40) -> list[dict[str, Any]]:
    """The bot's messages in the thread once one of them carries the answer's blocks."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        messages = api.messages(channel, thread_ts=thread)
        if any(m.get("blocks") for m in messages):
            return messages
        time.sleep(0.1)
    raise AssertionError(f"no answer in thread {thread}: {api.messages(channel, thread_ts=thread)}")


def ask(api: FakeSlackApi, service: Service, event_id: str) -> list[dict[str, Any]]:
    event = app_mention_event("how many days of paid annual leave do I get?", user="U1", channel="C1")
    assert post_event(service, event_callback(event, event_id=event_id)).status_code == 200
    return final_in(api, "C1", event["ts"])


def assert_one_degraded_answer(messages: list[dict[str, Any]]) -> None:
    bot = [m for m in messages if m.get("user") == "UBOT" or m.get("bot_id")]
    answers = [m for m in bot if m.get("blocks")]
    assert len(answers) == 1, messages
    text = block_text(answers[0])
    assert DEGRADED_NOTE in text and "[1]" in text and "*Sources*" in text
    assert not any(APOLOGY in str(m.get("text", "")) for m in bot)
    assert not any(str(m.get("text", "")) == PLACEHOLDER for m in bot)  # the placeholder was replaced


def test_a_slow_a_stalled_and_a_vanished_model_server_each_still_answer_once_from_the_documents(
    slack: FakeSlackApi,  # noqa: F811 - the fixture
    env: dict[str, str],  # noqa: F811 - the fixture
    adapter: Service,  # noqa: F811 - the fixture
    tmp_path: Path,
) -> None:
    with FakeTgi() as tgi:
        faulty = {
            **env,
            "RAGBOT_TGI__URL": tgi.url,
            "RAGBOT_TGI__DEADLINE_S": "2",
            "RAGBOT_TGI__TIMEOUT_S": "1.5",
            "RAGBOT_TGI__STREAM_INTERVAL_S": "0.2",
        }
        with WorkerProcess(env=faulty, queues=ALL, log_path=tmp_path / "worker.log"):
            tgi.delay(5)  # slower than the deadline
            assert_one_degraded_answer(ask(slack, adapter, "EvSlow"))

            tgi.delay(0)
            tgi.token_delay(0.05)
            tgi.stall_stream(after_tokens=3, seconds=10)  # starts writing, then hangs mid-answer
            assert_one_degraded_answer(ask(slack, adapter, "EvStalled"))

            tgi.stop()  # the server is gone
            assert_one_degraded_answer(ask(slack, adapter, "EvDown"))
