"""Teams rendering: answers become messages with AI-label and citation entities (or an Adaptive Card) within Teams'
limits; Teams text and feedback payloads become plain questions and 👍/👎."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ragbot.models import Answer, Citation, ConversationRef, Outcome, Question
from teams_adapter.translate import (
    AI_LABEL_TYPE,
    MAX_ABSTRACT_CHARS,
    MAX_CITATIONS,
    MAX_MESSAGE_BYTES,
    MAX_NAME_CHARS,
    card_feedback,
    invoke_feedback,
    question_text,
    render_answer,
    render_notice,
)
from tests.fakes.bot_connector import invoke_feedback_activity, message_activity


def citation(n: int, **fields: str) -> Citation:
    values = {
        "doc_id": f"hr/doc{n}.md",
        "chunk_id": f"hr/doc{n}.md#0",
        "title": f"Leave policy {n}",
        "url": f"https://wiki.example/leave/{n}",
        "heading_path": "Leave › Annual",
        "snippet": f"Full-time staff get 25 days of paid annual leave ({n}).",
    }
    values.update(fields)
    return Citation(n=n, **values)


def outcome(text: str, *, citations: tuple[Citation, ...] = (), refused: bool = False) -> Outcome:
    question = Question(question_id="teams-1718", text="q?", conversation=ConversationRef(platform="teams"))
    return Outcome(question=question, answer=Answer(text=text, citations=citations, refused=refused, model="m"))


def message_entity(activity: dict[str, Any]) -> dict[str, Any]:
    [entity] = activity["entities"]
    return entity


# -- answers as messages with citations ---------------------------------------------------------------------------


def test_an_answer_is_markdown_with_the_ai_label_citations_and_the_feedback_loop() -> None:
    activity = render_answer(
        outcome("You get 25 days [1], and carry over 5 [2].", citations=(citation(1), citation(2)))
    )
    assert activity["type"] == "message" and activity["textFormat"] == "markdown"
    assert activity["text"] == "You get 25 days [1], and carry over 5 [2]."
    assert activity["channelData"] == {"feedbackLoopEnabled": True}
    entity = message_entity(activity)
    assert entity["type"] == "https://schema.org/Message"
    assert (entity["@type"], entity["@context"]) == ("Message", "https://schema.org")
    assert entity["additionalType"] == [AI_LABEL_TYPE]
    assert entity["citation"] == [
        {
            "@type": "Claim",
            "position": n,
            "appearance": {
                "@type": "DigitalDocument",
                "name": f"Leave policy {n}",
                "abstract": f"Full-time staff get 25 days of paid annual leave ({n}).",
                "url": f"https://wiki.example/leave/{n}",
                "keywords": ["Leave", "Annual"],
            },
        }
        for n in (1, 2)
    ]


def test_citation_titles_abstracts_and_keywords_are_clipped_to_teams_limits() -> None:
    long = citation(
        1,
        title="A very long handbook title " * 10,
        snippet="word " * 100,
        heading_path="One › Two › Three › A heading far longer than twenty-eight characters",
    )
    appearance = message_entity(render_answer(outcome("Yes [1].", citations=(long,))))["citation"][0]["appearance"]
    assert len(appearance["name"]) <= MAX_NAME_CHARS and appearance["name"].endswith("…")
    assert appearance["name"].startswith("A very long handbook title")
    assert len(appearance["abstract"]) <= MAX_ABSTRACT_CHARS and appearance["abstract"].endswith("…")
    assert len(appearance["keywords"]) == 3
    assert appearance["keywords"][:2] == ["Two", "Three"]
    assert all(len(k) <= 28 for k in appearance["keywords"])


def test_only_sources_cited_in_the_text_become_claims_and_at_most_twenty() -> None:
    citations = tuple(citation(n) for n in range(1, 26))
    text = " ".join(f"Fact [{n}]." for n in range(1, 26) if n != 3)
    claims = message_entity(render_answer(outcome(text, citations=citations)))["citation"]
    positions = [c["position"] for c in claims]
    assert len(positions) == MAX_CITATIONS
    assert 3 not in positions and positions[:3] == [1, 2, 4]


def test_a_refusal_lists_the_closest_sources_instead_of_claiming_them() -> None:
    activity = render_answer(
        outcome("I couldn't find that in the documents.", citations=(citation(1), citation(2)), refused=True)
    )
    assert "citation" not in message_entity(activity)
    assert message_entity(activity)["additionalType"] == [AI_LABEL_TYPE]
    text = str(activity["text"])
    assert text.startswith("I couldn't find that in the documents.")
    assert "**Closest sources**" in text
    assert "- [1] [Leave policy 1](https://wiki.example/leave/1) · Leave › Annual" in text
    assert "- [2] [Leave policy 2](https://wiki.example/leave/2)" in text


def test_source_titles_cannot_break_the_markdown_links() -> None:
    odd = citation(1, title="Pay [2026] *draft*", url="https://wiki.example/pay_(v2)")
    text = str(render_answer(outcome("Not found.", citations=(odd,), refused=True))["text"])
    assert r"[Pay \[2026\] \*draft\*](https://wiki.example/pay_%28v2%29)" in text


def test_a_huge_answer_is_clipped_to_teams_message_size_keeping_its_surviving_citations() -> None:
    text = " ".join(f"Sentence {i} says something long enough about leave [1]." for i in range(3000)) + " End [2]."
    activity = render_answer(outcome(text, citations=(citation(1), citation(2))))
    size = len(json.dumps(activity, ensure_ascii=False).encode("utf-8"))
    assert len(text.encode()) > MAX_MESSAGE_BYTES >= size > MAX_MESSAGE_BYTES - 1000  # clipped, not gutted
    assert str(activity["text"]).endswith("…") and str(activity["text"]).startswith("Sentence 0 says")
    # [2] was in the part cut off, so claiming it would point at nothing.
    assert [c["position"] for c in message_entity(activity)["citation"]] == [1]


def test_multibyte_text_is_measured_in_bytes() -> None:
    text = "休暇は年間二十五日です。[1] " * 4000
    activity = render_answer(outcome(text, citations=(citation(1),)))
    assert len(json.dumps(activity, ensure_ascii=False).encode("utf-8")) <= MAX_MESSAGE_BYTES


# -- the Adaptive Card fallback -----------------------------------------------------------------------------------


def test_the_card_fallback_has_text_sources_and_feedback_buttons_carrying_the_question_id() -> None:
    activity = render_answer(outcome("You get 25 days [1].", citations=(citation(1),)), card=True)
    [attachment] = activity["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.5"
    texts = [block["text"] for block in card["body"]]
    assert texts[0] == "You get 25 days [1]."
    assert "Sources" in texts and any("[1] [Leave policy 1](https://wiki.example/leave/1)" in t for t in texts)
    assert "channelData" not in activity  # the card's own buttons replace Teams' feedback loop
    assert message_entity(activity)["additionalType"] == [AI_LABEL_TYPE]
    buttons = card["actions"]
    assert [b["type"] for b in buttons] == ["Action.Submit", "Action.Submit"]
    # Pressing a button posts its data back as the message's value: it parses back to the rating and question.
    assert [card_feedback(b["data"]) for b in buttons] == [("up", "teams-1718"), ("down", "teams-1718")]


def test_the_card_fallback_of_a_refusal_shows_the_closest_sources() -> None:
    activity = render_answer(outcome("I couldn't find that.", citations=(citation(1),), refused=True), card=True)
    texts = [block["text"] for block in activity["attachments"][0]["content"]["body"]]
    assert "Closest sources" in texts
    assert any(t.startswith("Not found in the documents") for t in texts)


def test_a_huge_card_is_clipped_too() -> None:
    activity = render_answer(outcome("word " * 20_000, citations=(citation(1),)), card=True)
    assert len(json.dumps(activity, ensure_ascii=False).encode("utf-8")) <= MAX_MESSAGE_BYTES
    assert activity["attachments"][0]["content"]["body"][0]["text"].endswith("…")


def test_a_notice_is_plain_text() -> None:
    assert render_notice("Sorry, something went wrong.") == {
        "type": "message",
        "text": "Sorry, something went wrong.",
        "textFormat": "plain",
    }


# -- inbound text and feedback ------------------------------------------------------------------------------------


def test_the_bots_mention_is_removed_and_other_mentions_keep_their_names() -> None:
    activity = message_activity(
        text="what does <at>Ana Lima</at> approve?&nbsp;leave",
        conversation_id="19:general@thread.tacv2;messageid=1",
        service_url="https://smba.example/amer/",
        app_id="app",
        conversation_type="channel",
    )
    bot = activity["recipient"]["id"]
    assert activity["text"].startswith("<at>ragbot</at>")
    assert (
        question_text(activity["text"], entities=activity["entities"], bot_id=bot)
        == "what does Ana Lima approve? leave"
    )
    # Without knowing which mention is the bot's, nothing is silently dropped.
    assert question_text("<at>ragbot</at> hi", entities=[], bot_id=None) == "ragbot hi"
    assert question_text("<at>ragbot</at>", entities=activity["entities"], bot_id=bot) == ""


def test_a_feedback_loop_invoke_gives_the_rating_and_the_comment() -> None:
    invoke = invoke_feedback_activity(
        reaction="dislike",
        reply_to_id="1",
        feedback_text="It cited the old policy",
        conversation_id="a:1",
        service_url="https://smba.example/amer/",
        app_id="app",
    )
    assert invoke_feedback(invoke["value"]) == ("down", "It cited the old policy")
    liked = {"actionName": "feedback", "actionValue": {"reaction": "like", "feedback": "not json"}}
    assert invoke_feedback(liked) == ("up", "not json")


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"actionName": "other", "actionValue": {"reaction": "like"}},
        {"actionName": "feedback", "actionValue": {"reaction": "love"}},
        {"actionName": "feedback"},
    ],
)
def test_other_submit_actions_are_not_feedback(value: object) -> None:
    assert invoke_feedback(value) is None


def test_card_values_that_are_not_ours_are_not_feedback() -> None:
    assert card_feedback({"action": "something.else", "value": "up", "question_id": "q"}) is None
    assert card_feedback({"action": "ragbot.feedback", "value": "meh", "question_id": "q"}) is None
    assert card_feedback({"action": "ragbot.feedback", "value": "up"}) is None
    assert card_feedback("text") is None
