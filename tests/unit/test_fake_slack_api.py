"""The fake Slack Web API, driven through the real slack_sdk clients and a real slack_bolt App.

These tests pin the fake to Slack's wire protocol (how the SDK joins base_url, where the token travels, how errors
and rate limits look) so that adapter tests built on it exercise the same code paths production does.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from slack_bolt import App, BoltRequest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack_api import (
    FakeSlackApi,
    app_mention_event,
    block_actions_form,
    dm_message_event,
    event_callback,
    sign_request,
    slash_command_form,
)

TOKEN = "xoxb-test-token"
SECRET = "test-signing-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlackApi]:
    with FakeSlackApi(TOKEN) as fake:
        fake.add_user("U1", email="ada@example.com", name="ada")
        fake.add_channel("C1", kind="public", members=["U1", "UBOT"], name="general")
        fake.add_channel("D1", kind="im", members=["U1", "UBOT"])
        yield fake


@pytest.fixture
def client(slack: FakeSlackApi) -> WebClient:
    return WebClient(token=TOKEN, base_url=slack.url)


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def test_url_is_what_the_sdk_joins_method_names_onto(slack: FakeSlackApi, client: WebClient) -> None:
    assert slack.url.endswith("/api/")
    response = client.auth_test()
    assert response.api_url == slack.url + "auth.test"
    assert response["user_id"] == "UBOT" and response["bot_id"] == "BBOT" and response["team_id"] == "T1"
    assert "chat:write" in response.headers["X-OAuth-Scopes"]
    assert slack.calls_to("auth.test")[0].token == TOKEN
    # A base_url without the trailing slash works too: the SDK appends it.
    assert WebClient(token=TOKEN, base_url=slack.url.rstrip("/")).auth_test()["ok"] is True


def test_bad_missing_or_form_token(slack: FakeSlackApi) -> None:
    with pytest.raises(SlackApiError) as wrong:
        WebClient(token="xoxb-wrong", base_url=slack.url).auth_test()
    assert wrong.value.response["error"] == "invalid_auth" and wrong.value.response.status_code == 200
    with pytest.raises(SlackApiError) as missing:
        WebClient(base_url=slack.url).auth_test()
    assert missing.value.response["error"] == "not_authed"
    # Slack also takes the token as a form field (never inside a JSON body).
    form = urllib.request.Request(slack.url + "auth.test", data=f"token={TOKEN}".encode(), method="POST")
    with urllib.request.urlopen(form, timeout=5) as reply:
        assert json.load(reply)["ok"] is True
    as_json = urllib.request.Request(
        slack.url + "auth.test",
        data=json.dumps({"token": TOKEN}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(as_json, timeout=5) as reply:
        assert json.load(reply)["error"] == "not_authed"


def test_unknown_method(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as failure:
        client.api_call("chat.nonsense")
    assert failure.value.response["error"] == "unknown_method"


def test_post_update_and_delete_are_reflected_in_messages(slack: FakeSlackApi, client: WebClient) -> None:
    first = client.chat_postMessage(channel="C1", text="thinking…", blocks=[section("thinking…")])
    second = client.chat_postMessage(channel="C1", text="another")
    assert first["channel"] == "C1" and first["message"]["bot_id"] == "BBOT"
    assert float(second["ts"]) > float(first["ts"]) and len(first["ts"].split(".")[1]) == 6

    updated = client.chat_update(channel="C1", ts=first["ts"], text="the answer", blocks=[section("*the answer*")])
    assert updated["ts"] == first["ts"] and updated["message"]["text"] == "the answer"
    stored = slack.messages("C1")
    assert [m["text"] for m in stored] == ["the answer", "another"]
    assert stored[0]["blocks"] == [section("*the answer*")] and "edited" in stored[0]
    assert slack.calls_to("chat.update")[0].args["blocks"] == [section("*the answer*")]

    client.chat_delete(channel="C1", ts=second["ts"])
    assert [m["ts"] for m in slack.messages("C1")] == [first["ts"]]
    with pytest.raises(SlackApiError, match="message_not_found"):
        client.chat_update(channel="C1", ts="1600000000.000001", text="x")
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.chat_postMessage(channel="C404", text="x")


def test_form_encoded_and_multipart_arguments_are_decoded(slack: FakeSlackApi, client: WebClient) -> None:
    blocks = [section("from a form")]
    client.api_call("chat.postMessage", params={"channel": "C1", "text": "form", "blocks": json.dumps(blocks)})
    client.api_call("chat.postMessage", data={"channel": "C1", "text": "multipart"})
    form_call, multipart_call = slack.calls_to("chat.postMessage")
    assert form_call.args["blocks"] == blocks
    assert multipart_call.args == {"channel": "C1", "text": "multipart"}
    assert [m["text"] for m in slack.messages("C1")] == ["form", "multipart"]


def test_thread_replies_parent_first(slack: FakeSlackApi, client: WebClient) -> None:
    parent = slack.add_message("C1", user="U1", text="<@UBOT> what is the leave policy?")
    slack.add_message("C1", user="U1", text="unrelated")
    reply = client.chat_postMessage(channel="C1", thread_ts=parent, text="25 days")
    assert reply["message"]["thread_ts"] == parent and reply["message"]["parent_user_id"] == "U1"

    replies = client.conversations_replies(channel="C1", ts=parent)["messages"]
    assert [m["ts"] for m in replies] == [parent, reply["ts"]]
    assert replies[0]["reply_count"] == 1 and replies[0]["thread_ts"] == parent
    assert replies[1]["bot_id"] == "BBOT" and replies[1]["text"] == "25 days"
    assert [m["text"] for m in slack.messages("C1", thread_ts=parent)] == [
        "<@UBOT> what is the leave policy?",
        "25 days",
    ]
    with pytest.raises(SlackApiError, match="thread_not_found"):
        client.conversations_replies(channel="C1", ts="1600000000.000001")


def test_users_and_conversations_info(client: WebClient) -> None:
    user = client.users_info(user="U1")["user"]
    assert user["id"] == "U1" and user["is_bot"] is False and user["profile"]["email"] == "ada@example.com"
    assert client.users_info(user="UBOT")["user"]["is_bot"] is True
    with pytest.raises(SlackApiError, match="user_not_found"):
        client.users_info(user="U404")

    channel = client.conversations_info(channel="C1")["channel"]
    assert (channel["name"], channel["is_channel"], channel["is_private"], channel["is_im"]) == (
        "general",
        True,
        False,
        False,
    )
    dm = client.conversations_info(channel="D1")["channel"]
    assert dm["is_im"] is True and dm["user"] == "U1" and "name" not in dm
    with pytest.raises(SlackApiError, match="channel_not_found"):
        client.conversations_info(channel="C404")


def test_members_pagination_through_the_sdk_paginator(slack: FakeSlackApi, client: WebClient) -> None:
    everyone = [f"U{i}" for i in range(5)]
    slack.add_channel("G1", kind="private", members=everyone)
    pages = [page["members"] for page in client.conversations_members(channel="G1", limit=2)]
    assert pages == [["U0", "U1"], ["U2", "U3"], ["U4"]]
    assert [call.args.get("cursor") is None for call in slack.calls_to("conversations.members")] == [True, False, False]


def test_message_limits_rejected_like_slack(client: WebClient) -> None:
    with pytest.raises(SlackApiError) as too_many:
        client.chat_postMessage(channel="C1", text="x", blocks=[section("b")] * 51)
    assert too_many.value.response["error"] == "invalid_blocks"
    with pytest.raises(SlackApiError) as too_long:
        client.chat_postMessage(channel="C1", text="x", blocks=[section("a" * 3001)])
    assert too_long.value.response["errors"] == ["must be less than 3001 characters [json-pointer:/blocks/0/text/text]"]
    client.chat_postMessage(channel="C1", text="x", blocks=[section("a" * 3000)] * 50)  # the limits themselves pass
    with pytest.raises(SlackApiError, match="msg_too_long"):
        client.chat_postMessage(channel="C1", text="a" * 40_001)
    with pytest.raises(SlackApiError, match="no_text"):
        client.api_call("chat.postMessage", json={"channel": "C1"})
    with pytest.raises(SlackApiError, match="user_not_in_channel"):
        client.chat_postEphemeral(channel="C1", user="U9", text="psst")
    assert client.chat_postEphemeral(channel="C1", user="U1", text="psst")["message_ts"]


def test_rate_limit_surfaces_as_429_with_retry_after(slack: FakeSlackApi, client: WebClient) -> None:
    slack.fail_next("chat.postMessage", retry_after=7)
    with pytest.raises(SlackApiError) as limited:
        client.chat_postMessage(channel="C1", text="hi")
    response = limited.value.response
    assert (response.status_code, response["error"], response.headers["Retry-After"]) == (429, "ratelimited", "7")
    assert client.chat_postMessage(channel="C1", text="hi")["ok"] is True  # only the next call fails

    slack.fail_next("chat.postMessage", retry_after=0)
    retrying = WebClient(
        token=TOKEN, base_url=slack.url, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)]
    )
    assert retrying.chat_postMessage(channel="C1", text="again")["ok"] is True
    assert [call.status for call in slack.calls_to("chat.postMessage")] == [429, 200, 429, 200]


def test_fail_next_with_a_plain_error_and_delay(slack: FakeSlackApi, client: WebClient) -> None:
    slack.fail_next("users.info", error="fatal_error", status=200)
    with pytest.raises(SlackApiError) as failure:
        client.users_info(user="U1")
    assert failure.value.response.status_code == 200 and "Retry-After" not in failure.value.response.headers
    slack.delay("auth.test", 0.2)
    started = time.monotonic()
    client.auth_test()
    assert time.monotonic() - started >= 0.2


def test_wait_for_sees_calls_from_other_threads(slack: FakeSlackApi, client: WebClient) -> None:
    worker = threading.Timer(0.05, lambda: client.chat_postMessage(channel="D1", text="from a worker"))
    worker.start()
    try:
        call = slack.wait_for("chat.postMessage", timeout=5)
        assert call.args["text"] == "from a worker" and call.response["ok"] is True
        assert slack.wait_for(lambda c: c.args["channel"] == "D1", timeout=1) == call
    finally:
        worker.join()
    with pytest.raises(AssertionError, match=r"within 0.1s; calls seen: .*chat.postMessage\(channel='D1'"):
        slack.wait_for("chat.update", timeout=0.1)


def test_async_client(slack: FakeSlackApi) -> None:
    slack.add_channel("C2", members=[f"U{i}" for i in range(3)])

    async def scenario() -> tuple[str, list[str], str]:
        client = AsyncWebClient(token=TOKEN, base_url=slack.url)
        posted = await client.chat_postMessage(channel="C1", text="async hello")
        members = [
            m async for page in await client.conversations_members(channel="C2", limit=2) for m in page["members"]
        ]
        user = await client.users_info(user="U1")  # the async client sends this one as GET with a query string
        return posted["ts"], members, user["user"]["profile"]["email"]

    ts, members, email = asyncio.run(scenario())
    assert slack.messages("C1")[0]["ts"] == ts
    assert members == ["U0", "U1", "U2"] and email == "ada@example.com"


def test_sign_request_verifies_with_the_sdk() -> None:
    body = slash_command_form(text="how many holidays?")
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, sign_request(body, signing_secret=SECRET))
    assert not verifier.is_valid_request(body + b"x", sign_request(body, signing_secret=SECRET))
    assert not verifier.is_valid_request(body, sign_request(body, signing_secret="other"))
    assert not verifier.is_valid_request(
        body, sign_request(body, signing_secret=SECRET, timestamp=int(time.time()) - 600)
    )


def test_payload_builders_have_slack_shapes() -> None:
    envelope = event_callback(app_mention_event("what is our VPN?", ts="1700000001.000100"))
    assert envelope["type"] == "event_callback" and envelope["event_id"].startswith("Ev")
    assert envelope["event_time"] == 1700000001 and envelope["authorizations"][0]["user_id"] == "UBOT"
    event = envelope["event"]
    assert event["text"] == "<@UBOT> what is our VPN?" and event["event_ts"] == event["ts"]
    assert event["blocks"][0]["elements"][0]["elements"][0] == {"type": "user", "user_id": "UBOT"}
    dm = dm_message_event("hi", thread_ts="1700000000.000100")
    assert (dm["type"], dm["channel_type"], dm["channel"], dm["thread_ts"]) == (
        "message",
        "im",
        "D1",
        "1700000000.000100",
    )


def test_a_bolt_app_handles_built_requests_against_the_fake(slack: FakeSlackApi) -> None:
    app = App(client=WebClient(token=TOKEN, base_url=slack.url), signing_secret=SECRET)
    seen: dict[str, Any] = {}

    @app.event("app_mention")
    def on_mention(event: dict[str, Any], say: Any) -> None:
        say(text="on it", thread_ts=event["ts"])

    @app.command("/ask")
    def on_ask(ack: Any, command: dict[str, Any], respond: Any) -> None:
        ack()
        respond(text=f"answer to {command['text']}")

    @app.action("helpful")
    def on_click(ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        seen.update(value=action["value"], channel=body["channel"]["id"], ts=body["container"]["message_ts"])
        ack()

    def dispatch(body: bytes, content_type: str) -> int:
        headers: dict[str, Any] = {**sign_request(body, signing_secret=SECRET), "Content-Type": content_type}
        return app.dispatch(BoltRequest(body=body.decode(), headers=headers)).status

    mention = json.dumps(event_callback(app_mention_event("leave policy?", ts="1700000005.000100"))).encode()
    assert dispatch(mention, "application/json") == 200
    said = slack.wait_for("chat.postMessage", timeout=5)
    assert said.args["thread_ts"] == "1700000005.000100" and said.args["channel"] == "C1"

    command = slash_command_form(text="vpn", response_url=slack.response_url("cmd"))
    assert dispatch(command, "application/x-www-form-urlencoded") == 200
    assert slack.wait_for("response_url", timeout=5).args["text"] == "answer to vpn"

    click = block_actions_form([{"action_id": "helpful", "value": "yes"}], message_ts="1700000006.000100")
    assert dispatch(click, "application/x-www-form-urlencoded") == 200
    assert seen == {"value": "yes", "channel": "C1", "ts": "1700000006.000100"}
    forged_headers: dict[str, Any] = {**sign_request(click, signing_secret="not-the-secret")}
    forged = BoltRequest(body=click.decode(), headers=forged_headers)
    assert app.dispatch(forged).status == 401
