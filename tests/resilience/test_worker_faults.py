"""Worker faults and load: whatever dies, every acknowledged question is answered or apologised for, exactly once.

Real processes on a private Redis (`private_redis`, which a test may stop): `ragbot serve slack` and Celery workers
(`tests/e2e/harness.py`), with Slack's Web API served by the local fake; the scenarios are in worker_scenarios.py
(bench/faults.py repeats them for docs/BENCHMARKS.md). The test worker embeds with the hashing embedder, slowed
down where a question must stay in flight long enough to be cut off; one test runs `ragbot worker` itself with the
real embedding model, to show its pool processes come up in time.

The queue's clocks are shortened here (expiry 60 s, visibility timeout 20 s, reply lease 5 s, refusal above an
estimated 10 s wait), which `queue.timing` checks like any deployment's; at the defaults the same holds, slower.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import Service, WorkerProcess, base_env
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.slack_api import FakeSlackApi
from tests.resilience.conftest import RedisServer
from tests.resilience.worker_scenarios import (
    ALL,
    BurstOutcome,
    answered,
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

CLOCKS = {
    "RAGBOT_QUEUE__EXPIRES_S": "60",
    "RAGBOT_QUEUE__VISIBILITY_TIMEOUT_S": "20",
    "RAGBOT_QUEUE__REPLY_LEASE_S": "5",
    "RAGBOT_QUEUE__RETRY_BACKOFF_MAX_S": "2",
    "RAGBOT_QUEUE__MAX_WAIT_S": "10",
}


@pytest.fixture(scope="module")
def handbook(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The sample handbook, indexed with the hashing embedder the test workers use."""
    return index_handbook(tmp_path_factory.mktemp("handbook"), HashEmbedder())


@pytest.fixture
def data_dir(handbook: Path, tmp_path: Path) -> Path:
    return copy_store(handbook, tmp_path / "data")


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with seeded_slack() as api:
        yield api


@pytest.fixture
def env(data_dir: Path, private_redis: RedisServer, slack: FakeSlackApi) -> dict[str, str]:
    return slack_env(data_dir=data_dir, redis_url=private_redis.url, slack_url=slack.url, **CLOCKS)


@pytest.fixture
def adapter(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    with Service("slack", env=env, log_path=tmp_path / "slack.log") as service:
        yield service  # type: ignore[misc]


def test_a_pool_child_killed_while_its_reply_is_sent_is_answered_once_with_a_record(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path
) -> None:
    recovery = kill_child_mid_reply(slack, adapter, env, log_dir=tmp_path, question_id="slack-EvKillReply")
    # One message in the thread: the answer, replacing the placeholder; and the record of it.
    assert answered(recovery.shown), recovery.shown
    assert recovery.status == "answered"
    assert "reply held by another delivery" in recovery.log  # the redelivery waited out the dead holder's lease
    print(f"killed mid-reply: answered and recorded {recovery.seconds:.1f} s after the kill")


@pytest.mark.slow  # bound by the visibility timeout (20 s here)
def test_the_worker_killed_whole_mid_question_is_answered_after_a_restart(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path
) -> None:
    recovery = kill_main_mid_question(slack, adapter, env, log_dir=tmp_path, question_id="slack-EvKillMain")
    # The visibility timeout (20 s) hands the message back before it expires (60 s): answered, not apologised for.
    assert answered(recovery.shown), recovery.shown
    assert recovery.status == "answered"
    print(f"worker killed whole: answered {recovery.seconds:.1f} s after the kill")


@pytest.mark.slow
def test_redis_stopped_for_25_s_then_started_the_worker_keeps_serving(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], private_redis: RedisServer, tmp_path: Path
) -> None:
    recovery = redis_outage(slack, adapter, env, private_redis, log_dir=tmp_path, question_id="slack-EvAfter")
    assert recovery.survived, "the worker gave up on Redis"
    assert answered(recovery.shown), recovery.shown
    assert recovery.status == "answered"
    assert "Trying to re-establish the connection" in recovery.log or "Cannot connect to redis" in recovery.log
    print(f"Redis back: the next question answered {recovery.seconds:.1f} s after it started again")


def test_pool_processes_with_the_real_model_are_warm_before_ready_and_replaced_in_time(
    private_redis: RedisServer, tmp_path: Path
) -> None:
    empty = tmp_path / "empty-store"
    empty.mkdir()
    env = base_env(data_dir=empty, redis_url=private_redis.url)  # the real embedding model, from settings
    started = replace_a_child(env, log_dir=tmp_path)
    # Ready only once every pool process said it was warm (model in memory, index open, one query embedded)...
    assert started.warm_before_ready
    # ...which the model, loaded once before the fork, makes quick; and a killed one's replacement comes up to stay.
    assert "embedding model loaded before the fork" in started.log
    assert len(started.warm_s) == 3 and started.stable
    assert "Timed out waiting for UP message" not in started.log
    print(
        f"real model: ready {started.ready_s:.1f} s after start; a pool process warms in {max(started.warm_s):.2f} s "
        f"at most; a killed one replaced and warm {started.replaced_s:.1f} s later"
    )


def check_burst(outcome: BurstOutcome, size: int) -> None:
    # Every question got exactly one message: its answer, a 'busy' told at once, or (not expected here) an apology.
    assert all(len(shown) == 1 for shown in outcome.final.values()), outcome.final
    assert len(outcome.busy) + len(outcome.answered) + len(outcome.apologised) == size
    # More arrived than the worker answers within RAGBOT_QUEUE__MAX_WAIT_S: the rest were told so, at once...
    assert outcome.busy and outcome.answered
    assert max(outcome.busy_s) < 5
    # ...and those taken were answered before they expired.
    assert not outcome.apologised
    print(f"burst: {outcome.summary()}")


def burst_of(size: int, slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path) -> BurstOutcome:
    with WorkerProcess(env=env, queues=ALL, log_path=tmp_path / "worker.log", embed_delay_s=0.25):
        return burst(slack, adapter, redis_url=env["RAGBOT_REDIS__URL"], size=size)


def test_a_burst_of_40_each_gets_one_message_answer_or_busy(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path
) -> None:
    check_burst(burst_of(40, slack, adapter, env, tmp_path), 40)


@pytest.mark.slow
def test_a_burst_of_200_each_gets_one_message_answer_or_busy(
    slack: FakeSlackApi, adapter: Service, env: dict[str, str], tmp_path: Path
) -> None:
    check_burst(burst_of(200, slack, adapter, env, tmp_path), 200)
