"""Slack rendering: answers become Block Kit within Slack's limits; events become plain questions and history."""

from __future__ import annotations

from ragbot.models import Answer, Citation, ConversationRef, Outcome, Question
from slack_adapter.translate import (
    MAX_BLOCKS,
    MAX_SECTION_CHARS,
    PLACEHOLDER,
    history_turns,
    question_text,
    render_answer,
)
from tests.unit.builders import passage


def outcome(text: str, *, refused: bool = False, citations: int = 2) -> Outcome:
    found = tuple(passage(n, f"Passage {n}.", doc_id=f"hr/doc{n}.md") for n in range(1, citations + 1))
    cites = tuple(
        Citation(
            n=p.rank,
            doc_id=p.chunk.doc_id,
            chunk_id=p.chunk.chunk_id,
            title=f"Doc <{p.rank}> | x",
            url=f"https://wiki.example/{p.rank}",
            heading_path="Leave › Annual",
            snippet="…",
        )
        for p in found
    )
    question = Question(question_id="slack-Ev9", text="q?", conversation=ConversationRef(platform="slack"))
    answer = Answer(text=text, citations=cites, refused=refused, model="m")
    return Outcome(question=question, answer=answer, passages=found)


def test_an_answer_has_text_sources_and_feedback_buttons() -> None:
    [message] = render_answer(outcome("You get 25 days [1] & more [2]."))
    blocks = message["blocks"]
    # The fallback text is mrkdwn too (notifications, clients without blocks): escaped like the blocks.
    assert message["text"] == "You get 25 days [1] &amp; more [2]."
    assert blocks[0]["text"]["text"] == "You get 25 days [1] &amp; more [2]."
    sources = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "[1] <https://wiki.example/1|Doc &lt;1&gt; ¦ x> · Leave › Annual · updated 2026-01-01" in sources
    assert blocks[-1]["type"] == "actions"
    assert [e["value"] for e in blocks[-1]["elements"]] == ["slack-Ev9", "slack-Ev9"]


def test_a_refusal_lists_the_closest_sources() -> None:
    [message] = render_answer(outcome("I couldn't find that.", refused=True))
    assert any("Closest sources" in str(b.get("text")) for b in message["blocks"])


def test_long_answers_stay_within_slack_limits() -> None:
    long_text = " ".join(f"Sentence number {i} says something [1]." for i in range(8000))
    messages = render_answer(outcome(long_text))
    assert len(messages) > 1
    for message in messages:
        assert len(message["blocks"]) <= MAX_BLOCKS
        for block in message["blocks"]:
            if block["type"] == "section":
                assert len(block["text"]["text"]) <= MAX_SECTION_CHARS
    rendered = " ".join(b["text"]["text"] for m in messages for b in m["blocks"] if b["type"] == "section")
    assert "Sentence number 7999 says something [1]." in rendered
    assert messages[-1]["blocks"][-1]["type"] == "actions"


def test_question_text_drops_the_bot_mention_and_unwraps_links() -> None:
    text = "<@UBOT> what does <https://wiki.example/vpn|the VPN page> say &amp; <@U2> agree?"
    assert question_text(text, bot_user_id="UBOT") == "what does the VPN page say & someone agree?"


def test_history_keeps_earlier_turns_of_the_thread() -> None:
    messages = [
        {"ts": "1.0", "user": "U1", "text": "<@UBOT> how many leave days?"},
        {"ts": "2.0", "bot_id": "BBOT", "text": "25 days [1]"},
        {"ts": "2.5", "bot_id": "BOTHER", "text": "another bot"},
        {"ts": "2.6", "bot_id": "BBOT", "text": PLACEHOLDER},
        {"ts": "3.0", "user": "U1", "text": "and for part-timers?"},
    ]
    turns = history_turns(messages, before_ts="3.0", bot_user_id="UBOT", bot_id="BBOT", limit=6)
    assert [(t.role, t.text) for t in turns] == [("user", "how many leave days?"), ("assistant", "25 days [1]")]
    assert history_turns(messages, before_ts="3.0", bot_user_id="UBOT", bot_id="BBOT", limit=1)[0].role == "assistant"
