"""No markup from documents, questions or the model reaches a chat platform live (issue 16).

The corpus (tests/resilience/markup.py) and arbitrary text from hypothesis go through every path that sends text:
Slack's answer blocks, fallback text, notices, partial answers, the `/ask` echo, source titles and links; Teams'
answer message, Adaptive Card, card summary, partial answers, source list and citation entities. Each result is
read the way the platform reads it: Slack's `<…>` tokens and entities, Teams' Markdown with a CommonMark parser.
Then the senders themselves post through the fake Slack Web API and the fake Bot Connector, and the requests the
fakes received are checked the same way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from botbuilder.core import TurnContext
from botbuilder.schema import Activity
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk import WebClient

from ragbot import texts
from ragbot.generation.citations import cite
from ragbot.models import Answer, Citation, ConversationRef, Outcome, Question
from ragbot.urls import safe_url
from slack_adapter import translate as slack
from slack_adapter.senders import SlackPartialSender, SlackReplySender
from teams_adapter import translate as teams
from teams_adapter.senders import TeamsPartialSender, TeamsReplySender
from tests.fakes.bot_connector import FakeBotFramework, message_activity
from tests.fakes.slack_api import FakeSlackApi
from tests.resilience.markup import (
    HOSTILE_TEXTS,
    HOSTILE_URLS,
    VALID_URLS,
    slack_live_markup,
    slack_texts,
    teams_live_markup,
    teams_markdown_texts,
)
from tests.unit.builders import chunk, passage

ALL_URLS = (*VALID_URLS, *HOSTILE_URLS)
# Text that is mostly the characters markup is made of, so hypothesis finds the combinations that matter.
MARKUP_ALPHABET = st.sampled_from(list("<>|&!@#^[]()*_`~\\:;/=\"' \n\u200bhtpsxU1C.-") + ["&lt;", "&amp;", "<!", "]("])
MARKUP_TEXT = st.one_of(st.lists(MARKUP_ALPHABET, max_size=60).map("".join), st.text(max_size=80))


def outcome(
    text: str, *, title: str = "Leave policy", url: str = "", heading: str = "", refused: bool = False
) -> Outcome:
    """An answer with `text`, citing two sources whose title, URL and heading are the given ones."""
    found = tuple(passage(n, f"Passage {n}.", doc_id=f"doc{n}.md") for n in (1, 2))
    citations = tuple(
        Citation(
            n=p.rank,
            doc_id=p.chunk.doc_id,
            chunk_id=p.chunk.chunk_id,
            title=title,
            url=url,
            heading_path=heading,
            snippet=text[:100],
        )
        for p in found
    )
    question = Question(question_id="q-markup", text="what is it?", conversation=ConversationRef(platform="slack"))
    answer = Answer(text=text, citations=citations, refused=refused, model="m")
    return Outcome(question=question, answer=answer, passages=found)


def slack_renderings(text: str, url: str) -> Iterator[tuple[str, str]]:
    """(path, mrkdwn) for every Slack path a hostile `text` (and a source `url`) can take."""
    for refused in (False, True):
        rendered = slack.render_answer(outcome(text, title=text, url=url, heading=text, refused=refused))
        for i, message in enumerate(rendered):
            for part in slack_texts(message):
                yield f"answer{' refused' if refused else ''} message {i}", part
    for part in slack_texts(slack.render_notice(text)):
        yield "notice", part
    yield "partial", slack.render_partial(text)
    yield "link", slack.link(url, text)


def teams_renderings(text: str, url: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, activity) for every Teams path a hostile `text` (and a source `url`) can take."""
    for refused in (False, True):
        for card in (False, True):
            activity = teams.render_answer(
                outcome(f"{text} [1]", title=text, url=url, heading=text, refused=refused), card=card
            )
            yield f"{'card' if card else 'message'}{' refused' if refused else ''}", activity
    yield "notice", teams.render_notice(text)
    yield "partial", {"type": "typing", "text": teams.render_partial(text)}


def assert_slack_safe(text: str, url: str) -> None:
    links = {url} if safe_url(url) else set()
    for path, rendered in slack_renderings(text, url):
        assert not slack_live_markup(rendered, links=links), (path, rendered)
    echo = slack.render_echo("U1", text)
    assert echo.startswith("<@U1> asked: ") and not slack_live_markup(echo, tokens={"<@U1>"}), echo


def assert_teams_safe(text: str, url: str) -> None:
    links = {url} if safe_url(url) else set()
    for path, activity in teams_renderings(text, url):
        if activity.get("textFormat") == "plain":
            assert path == "notice"  # Teams parses no markup in a plain message
        for rendered in teams_markdown_texts(activity):
            # Bold is ours in an answer (headings, link-less titles); content's `*` are escaped (partial, below).
            assert not teams_live_markup(rendered, links=links, bold=path != "partial"), (path, rendered)
        for entity in activity.get("entities") or []:
            for claim in entity.get("citation") or []:
                # A citation links its source only by a URL the policy accepts, and exactly that URL.
                assert claim["appearance"].get("url") == (safe_url(url) or None), (path, claim)


# -- the corpus through every render path -------------------------------------------------------------------------


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text_reaches_slack_as_text_on_every_path(text: str) -> None:
    for url in ("", VALID_URLS[1], HOSTILE_URLS[0]):
        assert_slack_safe(text, url)


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_hostile_text_reaches_teams_as_text_on_every_path(text: str) -> None:
    for url in ("", VALID_URLS[1], HOSTILE_URLS[0]):
        assert_teams_safe(text, url)


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_a_url_the_policy_refuses_is_never_a_link(url: str) -> None:
    assert safe_url(url) == ""
    assert slack.link(url, "Leave policy") == "Leave policy"
    for path, rendered in slack_renderings("You get 25 days [1].", url):
        assert not slack_live_markup(rendered), (path, rendered)
    for path, activity in teams_renderings("You get 25 days", url):
        for rendered in teams_markdown_texts(activity):
            assert not teams_live_markup(rendered, bold=True), (path, rendered)
        assert "evil.example" not in json.dumps(activity) and "script:" not in json.dumps(activity).lower(), path
        assert "data:" not in json.dumps(activity) and "file:" not in json.dumps(activity), path


@pytest.mark.parametrize("url", VALID_URLS)
def test_a_url_the_policy_accepts_is_linked_exactly(url: str) -> None:
    assert slack.link(url, "Pay | <b>") == f"<{url.replace('&', '&amp;')}|Pay ¦ &lt;b&gt;>"
    [message] = slack.render_answer(outcome("Yes [1].", url=url))
    assert any(f"<{url.replace('&', '&amp;')}|Leave policy>" in part for part in slack_texts(message))
    activity = teams.render_answer(outcome("Yes [1].", url=url))
    assert activity["entities"][0]["citation"][0]["appearance"]["url"] == url
    refused = teams.render_answer(outcome("No.", url=url, refused=True))
    assert f"[Leave policy]({url.replace('(', '%28').replace(')', '%29')})" in refused["text"]
    assert not teams_live_markup(refused["text"], links={url}, bold=True)


def test_slack_turns_no_plain_word_of_ours_into_a_link_or_mention() -> None:
    # verbatim: Slack's automatic parsing (channel names, bare mentions) is off for every mrkdwn object we send.
    answer = slack.render_answer(outcome("See #general, @here [1].", url=VALID_URLS[0]))
    for message in [*answer, slack.render_notice("x")]:
        objects = [b["text"] for b in message["blocks"] if b["type"] == "section"]
        objects += [e for b in message["blocks"] if b["type"] == "context" for e in b["elements"]]
        assert objects and all(o["type"] == "mrkdwn" and o["verbatim"] is True for o in objects)


def test_escaped_text_shows_exactly_what_was_written() -> None:
    for text in HOSTILE_TEXTS:
        shown = slack.escape(text).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
        assert shown == text  # Slack decodes its three entities and nothing else
    rendered = teams.escape("[the form](https://evil.example) &lt;b&gt; *x* [1]")
    assert rendered == "\\[the form\\](https://evil.example) &amp;lt;b&amp;gt; \\*x\\* [1]"


def test_citation_markers_stay_live_in_teams_but_cannot_become_links() -> None:
    assert teams.escape("25 days [1], carried over [2][3].") == "25 days [1], carried over [2][3]."
    assert teams.escape("[1](https://evil.example) [2]: x") == "[1]\\(https://evil.example) [2]\\: x"
    assert teams.escape("[1]", markers=False) == "\\[1\\]"  # a title is not an answer


def test_long_hostile_answers_split_into_sections_and_messages_without_breaking_an_escape() -> None:
    text = "<!channel> & <@U1> [x](https://evil.example) " * 2500
    messages = slack.render_answer(outcome(text, url=VALID_URLS[1]))
    assert len(messages) > 1
    for message in messages:
        for part in slack_texts(message):
            assert not slack_live_markup(part, links={VALID_URLS[1]}), part[-80:]
    assert not slack_live_markup(slack.render_partial(text))
    for card in (False, True):
        activity = teams.render_answer(outcome(text + " [1]", url=VALID_URLS[1]), card=card)
        for rendered in teams_markdown_texts(activity):
            assert not teams_live_markup(rendered, links={VALID_URLS[1]}, bold=True)
        size = len(json.dumps(activity, ensure_ascii=False).encode())
        assert teams.MAX_MESSAGE_BYTES - 2000 < size <= teams.MAX_MESSAGE_BYTES  # clipped, not gutted


def test_notices_and_the_progress_message_carry_no_markup_of_their_own() -> None:
    # The adapters say these as they are (texts.py); none has a character Slack or Markdown would act on.
    sentences = [getattr(texts, name) for name in texts.__all__ if isinstance(getattr(texts, name), str)]
    sentences += [texts.rate_limited(30), texts.feedback_thanks("up"), texts.feedback_thanks("down")]
    for sentence in sentences:
        assert not {"<", ">", "&", "[", "*", "_", "`"} & set(sentence), sentence
    assert not slack_live_markup(slack.PLACEHOLDER)  # an emoji code and the progress sentence


def test_an_echoed_question_mentions_only_a_real_user_id() -> None:
    assert slack.render_echo("U1", "what about <!channel>?") == "<@U1> asked: what about &lt;!channel&gt;?"
    # Mentions and links in the command text are shown readable, as they are searched.
    assert slack.render_echo("U1", "is <@U2> on <https://x.example|leave>?") == "<@U1> asked: is someone on leave?"
    for user in ("U1> <!channel", "", "<!here>", "u1"):
        echo = slack.render_echo(user, "hi")
        assert echo == "Someone asked: hi" and not slack_live_markup(echo)


def test_a_stored_url_the_policy_refuses_never_becomes_a_citation() -> None:
    for url in HOSTILE_URLS:
        found = passage(1, "Text.")
        stored = found.model_copy(update={"chunk": chunk("doc1.md#0", "Text.", url=url)})
        assert cite(stored).url == ""
    for url in VALID_URLS:
        stored = passage(1, "Text.").model_copy(update={"chunk": chunk("doc1.md#0", "Text.", url=url)})
        assert cite(stored).url == url


# -- arbitrary text ---------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=MARKUP_TEXT, url=st.one_of(st.sampled_from(ALL_URLS), MARKUP_TEXT, st.text(max_size=40)))
def test_arbitrary_text_and_urls_never_become_live_markup(text: str, url: str) -> None:
    assert_slack_safe(text, url)
    assert_teams_safe(text, url)
    if safe_url(url):
        assert not set(url) & set('<>"\\^`{}| \n\t')


@settings(max_examples=200, deadline=None)
@given(url=st.one_of(st.sampled_from(ALL_URLS), MARKUP_TEXT, st.text(max_size=40)))
def test_a_url_passes_the_policy_only_as_an_http_link_without_markup(url: str) -> None:
    if safe_url(url):
        assert url.lower().startswith(("http://", "https://")) and len(url) <= 2048
        assert not any(c.isspace() or c in '<>"\\^`{}|' for c in url)


# -- the senders, through the fake platforms ------------------------------------------------------------------------


@pytest.fixture
def slack_api() -> Iterator[FakeSlackApi]:
    with FakeSlackApi("xoxb-markup") as api:
        api.add_channel("C1", kind="public", members=["U1", "UBOT"], name="general")
        yield api


def test_slack_senders_post_only_escaped_text(slack_api: FakeSlackApi) -> None:
    client = WebClient(token="xoxb-markup", base_url=slack_api.url, timeout=5)
    progress = client.chat_postMessage(channel="C1", text=slack.PLACEHOLDER)["ts"]
    conversation = ConversationRef(platform="slack", channel="C1", thread=progress, message=progress)
    hostile = " ".join(HOSTILE_TEXTS)
    stream = SlackPartialSender(client).open(conversation)
    assert stream is not None
    stream.show(hostile)
    answer = outcome(hostile, title=HOSTILE_TEXTS[3], url=HOSTILE_URLS[0])
    SlackReplySender(client).send_answer(answer.model_copy(update={"question": _asked_in(conversation)}))
    SlackReplySender(client).send_notice(conversation, hostile)
    calls = [c for c in slack_api.calls if c.method in ("chat.update", "chat.postMessage")][1:]
    assert {c.method for c in calls} == {"chat.update"} and len(calls) >= 3
    for call in calls:
        for part in slack_texts(call.args):
            assert not slack_live_markup(part), (call.method, part[:200])
    assert "<!channel>" not in json.dumps([c.args for c in calls])


def test_teams_senders_send_only_escaped_markdown(monkeypatch: pytest.MonkeyPatch) -> None:
    with FakeBotFramework(app_id="markup-app", app_password="markup-secret") as fake:
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", fake.ca_bundle)
        inbound = message_activity(
            text="hi", conversation_id="a:1markup", service_url=fake.service_url, app_id="markup-app"
        )
        reference = TurnContext.get_conversation_reference(Activity().deserialize(inbound))
        conversation = ConversationRef(
            platform="teams", channel="a:1markup", reference=json.loads(json.dumps(reference.serialize()))
        )
        reply = TeamsReplySender(config=fake.sdk_config(), allowed_service_urls=(fake.service_url,))
        hostile = " ".join(HOSTILE_TEXTS)
        stream = TeamsPartialSender(reply).open(conversation)
        assert stream is not None
        stream.show(hostile)
        answer = outcome(f"{hostile} [1]", title=HOSTILE_TEXTS[8], url=HOSTILE_URLS[4])
        reply.send_answer(answer.model_copy(update={"question": _asked_in(conversation), "stream_id": stream.handle}))
        reply.send_notice(conversation, hostile)
        sent = fake.activities_in("a:1markup")
    assert [a.type for a in sent] == ["typing", "message", "message"]
    for activity in sent:
        for rendered in teams_markdown_texts(activity.body):
            assert not teams_live_markup(rendered), (activity.type, rendered[:200])
    assert sent[-1].body["textFormat"] == "plain"  # the notice: Teams reads no markup in it
    claims = [c for a in sent for e in a.body.get("entities") or [] for c in e.get("citation") or []]
    assert claims and all("url" not in c["appearance"] for c in claims)  # javascript: was not carried


def _asked_in(conversation: ConversationRef) -> Question:
    return Question(question_id="q-markup", text="what is it?", conversation=conversation)
