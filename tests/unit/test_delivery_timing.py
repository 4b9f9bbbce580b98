"""The queue's clocks are derived from each other in one place, and contradicting settings stop a process at start."""

from __future__ import annotations

import pytest

from ragbot.errors import ConfigurationError
from ragbot.queue.celery_app import create_celery_app
from ragbot.queue.timing import delivery_timing
from ragbot.settings import Settings


def settings(**queue: object) -> Settings:
    return Settings.model_validate({"queue": queue, "tgi": {"url": "http://tgi:80", "deadline_s": 45}})


def test_the_defaults_hold_together_and_are_what_the_broker_and_the_reply_hop_use() -> None:
    timing = delivery_timing(settings())
    # A live worker holds a message at most for a model answer, the rest of the hop, and a retry's wait...
    assert timing.longest_hold_s < timing.visibility_timeout_s
    # ...and what a crashed worker held comes back while it may still be answered.
    assert timing.visibility_timeout_s < timing.expires_s
    assert timing.restore_every_s < timing.visibility_timeout_s
    # A reply cut off by a crash is free within one lease; a busy reply retries for longer than its message lives.
    assert timing.renew_every_s < timing.reply_lease_s
    assert timing.busy_retries * timing.renew_every_s >= timing.expires_s
    assert timing.max_wait_s < timing.expires_s

    app = create_celery_app(settings())
    options = app.conf.broker_transport_options
    assert options["visibility_timeout"] == timing.visibility_timeout_s
    assert options["unacked_restore_interval"] == timing.restore_every_s
    assert app.conf.broker_connection_max_retries is None  # a worker reconnects to Redis for as long as it takes
    assert app.conf.worker_proc_alive_timeout == Settings().worker.child_start_timeout_s


@pytest.mark.parametrize(
    ("queue", "names"),
    [
        ({"visibility_timeout_s": 300}, ("VISIBILITY_TIMEOUT_S", "EXPIRES_S")),  # the 5-minute default of before
        ({"visibility_timeout_s": 60}, ("VISIBILITY_TIMEOUT_S", "TGI__DEADLINE_S")),  # a model answer outlasts it
        ({"reply_lease_s": 90}, ("VISIBILITY_TIMEOUT_S", "REPLY_LEASE_S")),
        ({"max_wait_s": 120}, ("MAX_WAIT_S", "EXPIRES_S")),
    ],
)
def test_contradicting_settings_are_one_line_naming_both(queue: dict[str, object], names: tuple[str, ...]) -> None:
    with pytest.raises(ConfigurationError) as refused:
        delivery_timing(settings(**queue))
    message = str(refused.value)
    assert "\n" not in message and all(name in message for name in names)
    with pytest.raises(ConfigurationError):
        create_celery_app(settings(**queue))  # adapters and workers alike refuse to start


def test_without_a_model_server_a_shorter_visibility_timeout_holds() -> None:
    plain = Settings.model_validate({"queue": {"visibility_timeout_s": 40, "expires_s": 60, "max_wait_s": 30}})
    assert delivery_timing(plain).visibility_timeout_s == 40
