"""Markup end to end: hostile documents and a hostile model, through real adapters and workers, into the fake platforms.

An index as an older ragbot wrote it (before the URL policy) holds documents whose titles, text and URLs carry
Slack specials, Markdown and HTML links; the model server (the TGI fake) quotes them and adds markup of its own,
streamed. Every message the fake Slack Web API and the fake Bot Connector received is then read as the platform
reads it: nothing pings, links or tags but the link we built from the one valid URL.

Redis: database 8 of the local server (this suite's own), flushed before each test.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import redis
import requests

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.ingestion import Chunker, ingest
from ragbot.ingestion.sources import LoadFailure
from ragbot.models import Document
from tests.e2e.harness import Service, WorkerProcess, base_env
from tests.fakes.bot_connector import (
    BOT_FRAMEWORK_ISSUER,
    BOT_FRAMEWORK_TENANT,
    CHANNEL_METADATA_PATH,
    FakeBotFramework,
    message_activity,
)
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.slack_api import FakeSlackApi, app_mention_event, event_callback, sign_request, slash_command_form
from tests.fakes.tgi import FakeTgi, Json, quote_first_source
from tests.resilience.markup import slack_live_markup, slack_texts, teams_live_markup, teams_markdown_texts

REDIS_URL = "redis://127.0.0.1:6379/8"
GOOD_URL = "https://wiki.example/zebra?a=1&b=(2)"
QUESTION = "what is the zebra allowance?"

STORED = (
    (
        "hostile.md",
        "Zebra allowance <!channel> [the form](https://evil.example/t)",
        "https://evil.example/x|<!everyone> <https://evil.example|click here>",
        "# Zebra allowance\n\nThe zebra allowance is 40 euros a day <!channel> <@U123> <!here>, claimed with "
        "[the form](https://evil.example/phish) or <https://evil.example/phish|the official form>.\n\n"
        'Ask <a href="https://evil.example">payroll</a> ![x](https://evil.example/p.png) &lt;!everyone&gt; '
        "about the zebra allowance.\n",
    ),
    (
        "script.md",
        "Zebra rules <a href=x>",
        "javascript:alert(document.cookie)",
        "# Zebra rules\n\nZebra allowance claims need a receipt **now** `<!channel>` <#C1|general>.\n",
    ),
    ("good.md", "Zebra FAQ", GOOD_URL, "# Zebra FAQ\n\nThe zebra allowance is paid monthly with the salary.\n"),
)


class OlderIndex:
    """A source as ragbot read it before the URL policy: its documents' URLs are stored as given."""

    name = "hostile"

    def items(self) -> Iterator[Document | LoadFailure]:
        for doc_id, title, url, text in STORED:
            yield Document(
                doc_id=doc_id,
                title=title,
                url=url,
                source=self.name,
                text=text,
                updated_at=datetime(2026, 1, 1, tzinfo=UTC),
                content_hash=hashlib.sha256(text.encode()).hexdigest(),
            )


def hostile_model(request: Json) -> str:
    """The TGI fake's answer: the first source's first sentence, then markup of the model's own, citing all three."""
    return (
        f"{quote_first_source(request)} <!channel> see [the form](https://evil.example/m) or "
        '<https://evil.example/m|the form>, ask <@U999> <a href="https://evil.example">here</a> &lt;!here&gt; [2] [3]'
    )


@pytest.fixture
def redis_url() -> Iterator[str]:
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.flushdb()
    except redis.ConnectionError:
        pytest.fail("these tests need Redis on 127.0.0.1:6379 (.ci/run starts one)")
    yield REDIS_URL
    client.flushdb()
    client.close()


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    target = tmp_path / "data"
    index = EmbeddedIndex(target)
    try:
        ingest([OlderIndex()], index=index, embedder=HashEmbedder(), chunker=Chunker())
    finally:
        index.close()
    return target


@pytest.fixture
def tgi() -> Iterator[FakeTgi]:
    with FakeTgi(responder=hostile_model) as server:
        server.token_delay(0.05)
        yield server


def test_slack_shows_hostile_documents_questions_and_model_text_as_text(
    data_dir: Path, redis_url: str, tgi: FakeTgi, tmp_path: Path
) -> None:
    secret = "markup-signing-secret"
    with FakeSlackApi("xoxb-markup") as slack:
        slack.add_user("U1", email="liam@kestrel.example", name="liam")
        slack.add_channel("C1", kind="public", members=["U1", "UBOT"], name="general")
        env = base_env(
            data_dir=data_dir,
            redis_url=redis_url,
            RAGBOT_SLACK__BOT_TOKEN="xoxb-markup",
            RAGBOT_SLACK__SIGNING_SECRET=secret,
            RAGBOT_SLACK__API_URL=slack.url,
            RAGBOT_TGI__URL=tgi.url,
            RAGBOT_TGI__STREAM_INTERVAL_S="0.2",
        )
        queues = "retrieve,generate,reply.slack,feedback"
        with (
            Service("slack", env=env, log_path=tmp_path / "slack.log") as adapter,
            WorkerProcess(env=env, queues=queues, log_path=tmp_path / "worker.log"),
        ):

            def post(body: bytes, content_type: str) -> None:
                headers = {"Content-Type": content_type, **sign_request(body, signing_secret=secret)}
                response = requests.post(f"{adapter.url}/slack/events", data=body, headers=headers, timeout=10)
                assert response.status_code == 200

            event = app_mention_event(f"<!channel> {QUESTION} <https://evil.example|x>", user="U1", channel="C1")
            post(json.dumps(event_callback(event, event_id="EvMarkup")).encode(), "application/json")
            slack.wait_for(lambda c: c.method == "chat.update" and "blocks" in c.args, timeout=60)
            command = f"<!channel> {QUESTION} <https://evil.example|x> &lt;!here&gt; <@U123>"
            form = slash_command_form("/ask", command, user_id="U1", channel_id="C1")
            post(form, "application/x-www-form-urlencoded")
            slack.wait_for(lambda c: c.method == "chat.update" and "blocks" in c.args, timeout=60, count=2)
        calls = [c for c in slack.calls if c.method in ("chat.postMessage", "chat.update", "chat.postEphemeral")]

    partials = [c for c in calls if c.method == "chat.update" and "blocks" not in c.args]
    answers = [c for c in calls if c.method == "chat.update" and "blocks" in c.args]
    [echo] = [c for c in calls if "asked:" in str(c.args.get("text"))]
    assert partials and len(answers) == 2
    assert echo.args["text"].startswith("<@U1> asked: &lt;!channel&gt; what is the zebra allowance?")
    for call in calls:
        for text in slack_texts(call.args):
            assert not slack_live_markup(text, links={GOOD_URL}, tokens={"<@U1>"}), (call.method, text[:300])
    shown = json.dumps([c.args for c in calls])
    assert "evil.example/x|" not in shown and "<javascript:" not in shown
    # The answer quotes the hostile document, visibly, and links the one valid source.
    final = "\n".join(slack_texts(answers[0].args))
    assert "&lt;!channel&gt; see [the form](https://evil.example/m)" in final and "zebra" in final.lower()
    assert "<https://wiki.example/zebra?a=1&amp;b=(2)|Zebra FAQ>" in final


def test_teams_shows_hostile_documents_and_model_text_as_text(
    data_dir: Path, redis_url: str, tgi: FakeTgi, tmp_path: Path
) -> None:
    app_id, password, chat = "5f1c0d2e-0000-4000-8000-00000000ma4k", "markup~secret", "a:1personal-markup"
    with FakeBotFramework(app_id=app_id, app_password=password) as fake:
        env = base_env(
            data_dir=data_dir,
            redis_url=redis_url,
            RAGBOT_TEAMS__APP_ID=app_id,
            RAGBOT_TEAMS__APP_PASSWORD=password,
            RAGBOT_TEAMS__OPENID_METADATA_URL=f"{fake.url}{CHANNEL_METADATA_PATH}",
            RAGBOT_TEAMS__LOGIN_URL=fake.login_url(BOT_FRAMEWORK_TENANT),
            RAGBOT_TEAMS__TOKEN_ISSUER=BOT_FRAMEWORK_ISSUER,
            RAGBOT_TEAMS__ALLOWED_SERVICE_URLS=json.dumps([fake.service_url]),
            REQUESTS_CA_BUNDLE=fake.ca_bundle,
            RAGBOT_TGI__URL=tgi.url,
            RAGBOT_TGI__STREAM_INTERVAL_S="0.2",
        )
        queues = "retrieve,generate,reply.teams,feedback"
        with (
            Service("teams", env=env, log_path=tmp_path / "teams.log") as adapter,
            WorkerProcess(env=env, queues=queues, log_path=tmp_path / "worker.log"),
        ):
            activity = message_activity(
                text=f"[x](https://evil.example) {QUESTION} <b>now</b>",
                conversation_id=chat,
                service_url=fake.service_url,
                app_id=app_id,
            )
            headers = {"Authorization": f"Bearer {fake.mint_channel_token()}"}
            response = requests.post(f"{adapter.url}/api/messages", json=activity, headers=headers, timeout=15)
            assert response.status_code == 201
            final = fake.wait_for(lambda a: a.conversation_id == chat and a.type == "message", timeout=60)
            deadline = time.monotonic() + 5  # nothing should follow the final message, but wait for stragglers
            while time.monotonic() < deadline and len(fake.activities_in(chat)) < 2:
                time.sleep(0.1)
        sent = fake.activities_in(chat)

    streamed = [a for a in sent if a.type == "typing" and a.text]
    assert streamed, [a.summary() for a in sent]
    for item in sent:
        for text in teams_markdown_texts(item.body):
            # Bold is ours only in a final message ("**Sources**"); content's asterisks are escaped.
            assert not teams_live_markup(text, links={GOOD_URL}, bold=item.type == "message"), (item.type, text[:300])
    entities: list[dict[str, Any]] = final.body.get("entities") or []
    claims = [c for e in entities for c in e.get("citation") or []]
    assert claims and {c["appearance"].get("url") for c in claims} <= {GOOD_URL, None}
    assert GOOD_URL in {c["appearance"].get("url") for c in claims}
    assert "evil.example/x|" not in json.dumps(entities) and "javascript:" not in json.dumps(entities)
    assert "&lt;!channel&gt; see \\[the form\\](https://evil.example/m)" in (final.text or "")
