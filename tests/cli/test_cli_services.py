"""`ragbot serve` and `ragbot worker` refuse bad input and missing settings with one line, before starting."""

from __future__ import annotations

from pathlib import Path

import pytest

from ragbot.settings import Settings
from tests.cli.test_cli import ragbot
from tests.fakes.tgi import FakeTgi


def test_worker_names_the_unknown_queue(tmp_path: Path) -> None:
    done = ragbot("worker", "--queues", "retrieve,bogus", data_dir=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == (
        "ragbot: error: unknown queue(s) bogus; choose from retrieve,generate,reply.slack,reply.teams,feedback"
    )


def test_serve_slack_says_which_setting_is_missing(tmp_path: Path) -> None:
    done = ragbot("serve", "slack", data_dir=tmp_path)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines()[-1] == "ragbot: error: set RAGBOT_SLACK__BOT_TOKEN (the bot's xoxb- token)"
    done = ragbot("serve", "slack", data_dir=tmp_path, settings={"RAGBOT_SLACK__BOT_TOKEN": "xoxb-1"})
    assert "RAGBOT_SLACK__SIGNING_SECRET" in done.stderr.strip().splitlines()[-1]


def test_serve_rejects_a_bad_port_and_platform(tmp_path: Path) -> None:
    assert ragbot("serve", "slack", "--port", "70000", data_dir=tmp_path).returncode == 2
    done = ragbot("serve", "discord", data_dir=tmp_path)
    assert done.returncode == 2 and "invalid choice" in done.stderr


def test_secrets_can_come_from_mounted_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "RAGBOT_SLACK__BOT_TOKEN").write_text("xoxb-from-file")
    (tmp_path / "RAGBOT_REDIS__URL").write_text("redis://redis:6379/0")
    settings = Settings(_secrets_dir=tmp_path)  # type: ignore[call-arg]
    assert settings.slack.bot_token is not None and settings.slack.bot_token.get_secret_value() == "xoxb-from-file"
    assert settings.redis.url == "redis://redis:6379/0"
    monkeypatch.setenv("RAGBOT_SLACK__BOT_TOKEN", "xoxb-from-env")
    assert Settings(_secrets_dir=tmp_path).slack.bot_token.get_secret_value() == "xoxb-from-env"  # type: ignore[call-arg,union-attr]


def test_chat_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="tenant_id is required"):
        Settings(teams={"app_id": "a", "app_type": "SingleTenant"})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="redis://"):
        Settings(redis={"url": "http://localhost:6379"})  # type: ignore[arg-type]
    assert Settings(slack={"api_url": "http://proxy.internal/api"}).slack.api_url == "http://proxy.internal/api/"  # type: ignore[arg-type]


def test_a_generate_worker_refuses_an_adapter_the_model_server_does_not_serve(tmp_path: Path) -> None:
    with FakeTgi(adapters=("handbook-v3",)) as tgi:
        settings = {"RAGBOT_TGI__URL": tgi.url, "RAGBOT_TGI__ADAPTER": "handbook-v9"}
        done = ragbot("worker", "--queues", "generate", data_dir=tmp_path, settings=settings)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ragbot: error: the model server does not serve adapter 'handbook-v9'")
