"""The Slack and Teams app manifests shipped in deploy/apps match what the adapters listen to and call."""

from __future__ import annotations

import json

import yaml

from tests.conftest import REPO

APPS = REPO / "deploy" / "apps"


def test_the_slack_manifest_subscribes_to_what_the_adapter_handles() -> None:
    manifest = yaml.safe_load((APPS / "slack-manifest.yaml").read_text())
    settings = manifest["settings"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {"app_mention", "message.im"}
    assert settings["interactivity"]["is_enabled"] is True  # the 👍/👎 buttons
    [command] = manifest["features"]["slash_commands"]
    assert command["command"] == "/ask"
    urls = [settings["event_subscriptions"]["request_url"], settings["interactivity"]["request_url"], command["url"]]
    assert all(url.endswith("/slack/events") for url in urls)
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    # users.info with the email (principals), conversations.* (permissions, thread history), chat.* (answers).
    assert {"users:read", "users:read.email", "chat:write", "commands", "app_mentions:read", "im:history"} <= scopes
    assert {"channels:read", "groups:read", "channels:history", "groups:history"} <= scopes


def test_the_teams_manifest_installs_a_bot_for_chats_and_channels() -> None:
    manifest = json.loads((APPS / "teams-manifest.json").read_text())
    [bot] = manifest["bots"]
    assert set(bot["scopes"]) == {"personal", "team", "groupChat"} and bot["botId"] == manifest["id"]
    assert manifest["manifestVersion"] == "1.17" and manifest["icons"] == {
        "outline": "outline.png",
        "color": "color.png",
    }
