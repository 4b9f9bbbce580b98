"""Teams end to end: signed activities into `ragbot serve teams`, real Celery workers on Redis, proactive answers.

The Bot Framework (channel keys, Entra ID, the Bot Connector) is a local HTTPS server speaking its protocol
(tests/fakes/bot_connector.py); everything else is real. Both the adapter and the reply worker call it, so both
trust its throwaway CA through REQUESTS_CA_BUNDLE.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.interactions.records import InteractionRecord
from tests.e2e.harness import Service, WorkerProcess, base_env
from tests.fakes.bot_connector import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_TENANT,
    CHANNEL_METADATA_PATH,
    FORGERY_KEY,
    FakeBotFramework,
    RecordedActivity,
    invoke_feedback_activity,
    message_activity,
)
from tests.fakes.tgi import FakeTgi

APP_ID = "5f1c0d2e-0000-4000-8000-0000000e2e01"
APP_PASSWORD = "e2e~secret.value"
ALL = "retrieve,generate,reply.teams,feedback"
PERSONAL = "a:1personal-chat-e2e"


@pytest.fixture
def fake() -> Iterator[FakeBotFramework]:
    with FakeBotFramework(app_id=APP_ID, app_password=APP_PASSWORD) as server:
        yield server


@pytest.fixture
def env(data_dir: Path, redis_url: str, fake: FakeBotFramework) -> dict[str, str]:
    return base_env(
        data_dir=data_dir,
        redis_url=redis_url,
        RAGBOT_TEAMS__APP_ID=APP_ID,
        RAGBOT_TEAMS__APP_PASSWORD=APP_PASSWORD,
        RAGBOT_TEAMS__OPENID_METADATA_URL=f"{fake.url}{CHANNEL_METADATA_PATH}",
        RAGBOT_TEAMS__LOGIN_URL=fake.login_url(BOT_FRAMEWORK_TENANT),
        RAGBOT_TEAMS__TOKEN_ISSUER=BOT_FRAMEWORK_ISSUER,
        RAGBOT_TEAMS__ALLOWED_SERVICE_URLS=json.dumps([fake.service_url]),
        RAGBOT_DIRECTORY__PATH=str(Path(__file__).resolve().parents[2] / "examples" / "principals.json"),
        REQUESTS_CA_BUNDLE=fake.ca_bundle,
    )


@pytest.fixture
def adapter(env: dict[str, str], tmp_path: Path) -> Iterator[Service]:
    with Service("teams", env=env, log_path=tmp_path / "teams.log") as service:
        yield service  # type: ignore[misc]


@pytest.fixture
def worker(env: dict[str, str], tmp_path: Path) -> Iterator[WorkerProcess]:
    with WorkerProcess(env=env, queues=ALL, log_path=tmp_path / "worker.log") as process:
        yield process  # type: ignore[misc]


def post_activity(adapter: Service, activity: dict[str, Any], token: str | None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.post(f"{adapter.url}/api/messages", json=activity, headers=headers, timeout=15)


def question(fake: FakeBotFramework, text: str, conversation_id: str = PERSONAL, **kw: Any) -> dict[str, Any]:
    return message_activity(
        text=text, conversation_id=conversation_id, service_url=fake.service_url, app_id=APP_ID, **kw
    )


def is_answer_in(conversation_id: str) -> Callable[[RecordedActivity], bool]:
    def answer(activity: RecordedActivity) -> bool:
        return activity.conversation_id == conversation_id and activity.type == "message"

    return answer


def wait_for_record(
    log: SqliteInteractionLog, question_id: str, ready: Callable[[InteractionRecord], bool], timeout: float = 15
) -> InteractionRecord:
    deadline = time.monotonic() + timeout
    while True:
        record = log.get(question_id)
        if record is not None and ready(record):
            return record
        assert time.monotonic() < deadline, f"the interaction log never got there: {record}"
        time.sleep(0.1)


def test_a_personal_question_is_answered_with_citations_and_its_feedback_recorded(
    fake: FakeBotFramework, adapter: Service, worker: WorkerProcess, data_dir: Path
) -> None:
    activity = question(fake, "how many days of paid annual leave do I get?")
    response = post_activity(adapter, activity, fake.mint_channel_token())
    assert response.status_code == 201

    answer = fake.wait_for(is_answer_in(PERSONAL), timeout=30)
    typing, *_ = fake.activities_in(PERSONAL)
    assert typing.type == "typing" and typing.reply_to_id == activity["id"]  # at once, in the inbound turn
    assert answer.app_id == APP_ID and answer.operation == "reply"
    assert answer.body["recipient"]["id"] == activity["from"]["id"]
    assert answer.body["channelData"] == {"feedbackLoopEnabled": True}
    assert answer.body["textFormat"] == "markdown" and "[1]" in (answer.text or "")
    [entity] = answer.body["entities"]
    assert entity["type"] == "https://schema.org/Message" and entity["additionalType"] == ["AIGeneratedContent"]
    first = entity["citation"][0]
    assert (first["@type"], first["position"], first["appearance"]["@type"]) == ("Claim", 1, "DigitalDocument")
    assert first["appearance"]["name"] and len(first["appearance"]["abstract"]) <= 160

    # 👍 on the answer: Teams' feedback-loop invoke names only the rated message.
    log = SqliteInteractionLog(data_dir)
    question_id = f"teams-{activity['id']}"
    wait_for_record(log, question_id, lambda r: r.status == "answered")
    invoke = invoke_feedback_activity(
        reaction="like",
        reply_to_id=answer.activity_id,
        feedback_text="Clear, with the source",
        conversation_id=PERSONAL,
        service_url=fake.service_url,
        app_id=APP_ID,
    )
    response = post_activity(adapter, invoke, fake.mint_channel_token())
    assert response.status_code == 200
    record = wait_for_record(log, question_id, lambda r: bool(r.feedback))
    assert record.platform == "teams" and record.citations
    assert (record.feedback[0].value, record.feedback[0].comment) == ("up", "Clear, with the source")
    assert activity["from"]["id"] not in record.model_dump_json()  # the user id is stored hashed


def test_a_redelivered_activity_is_answered_once(
    fake: FakeBotFramework, adapter: Service, worker: WorkerProcess
) -> None:
    activity = question(fake, "what is the expense limit for a client dinner?")
    assert post_activity(adapter, activity, fake.mint_channel_token()).status_code == 201
    assert post_activity(adapter, activity, fake.mint_channel_token()).status_code == 201
    fake.wait_for(is_answer_in(PERSONAL), timeout=30)
    # A later question answered in another chat: a wrongly queued duplicate would have been answered before it.
    later = question(fake, "how do I book travel for a conference?", conversation_id="a:1another-chat")
    assert post_activity(adapter, later, fake.mint_channel_token()).status_code == 201
    fake.wait_for(is_answer_in("a:1another-chat"), timeout=30)
    assert [a.type for a in fake.activities_in(PERSONAL)] == ["typing", "message"]


@pytest.mark.parametrize(
    ("how", "token"),
    [
        ("no Authorization header", lambda fake: None),
        ("forged signature", lambda fake: fake.mint_channel_token(key=FORGERY_KEY)),
        ("expired beyond the clock tolerance", lambda fake: fake.mint_channel_token(expires_in=-600)),
        ("another bot's token", lambda fake: fake.mint_channel_token(audience="another-bot")),
    ],
)
def test_unauthenticated_requests_are_refused_with_401(
    fake: FakeBotFramework, adapter: Service, how: str, token: Callable[[FakeBotFramework], str | None]
) -> None:
    response = post_activity(adapter, question(fake, "how many days of leave do I get?"), token(fake))
    assert response.status_code == 401, how
    assert fake.activities == [] and fake.token_requests == []  # the bot never ran, not even a typing indicator
    assert requests.get(f"{adapter.url}/healthz", timeout=10).status_code == 200


def _stream_info(activity: RecordedActivity) -> dict[str, Any] | None:
    return next((e for e in activity.body.get("entities") or [] if e.get("type") == "streaminfo"), None)


def test_a_model_answer_streams_into_a_personal_chat_and_arrives_whole_elsewhere(
    fake: FakeBotFramework, env: dict[str, str], adapter: Service, tmp_path: Path
) -> None:
    group = "19:group-chat-e2e@thread.v2"
    fake.group_conversation(group)  # the fake refuses streaming there, as Teams does
    with FakeTgi() as tgi:
        tgi.token_delay(0.15)
        streaming = {**env, "RAGBOT_TGI__URL": tgi.url, "RAGBOT_TGI__STREAM_INTERVAL_S": "0.3"}
        with WorkerProcess(env=streaming, queues=ALL, log_path=tmp_path / "tgi-worker.log"):
            asked = "how many days of paid annual leave do I get?"
            post_activity(adapter, question(fake, asked), fake.mint_channel_token())
            final = fake.wait_for(is_answer_in(PERSONAL), timeout=30)
            post_activity(
                adapter, question(fake, asked, group, conversation_type="groupChat"), fake.mint_channel_token()
            )
            in_group = fake.wait_for(is_answer_in(group), timeout=30)

    updates = [a for a in fake.activities_in(PERSONAL) if a.type == "typing" and _stream_info(a)]
    assert len(updates) >= 2 and [_stream_info(a)["streamSequence"] for a in updates] == list(
        range(1, len(updates) + 1)
    )  # type: ignore[index]
    stream_id = updates[0].activity_id
    assert all(_stream_info(a).get("streamId") == stream_id for a in updates[1:])  # type: ignore[union-attr]
    assert len(updates[-1].text or "") > len(updates[0].text or "")
    assert _stream_info(final) == {"type": "streaminfo", "streamId": stream_id, "streamType": "final"}
    assert "[1]" in (final.text or "")
    # In a group chat Teams does not stream: one final message, no stream opened.
    assert not [a for a in fake.activities_in(group) if _stream_info(a)] and _stream_info(in_group) is None
