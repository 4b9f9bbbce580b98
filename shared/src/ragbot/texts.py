"""Every sentence ragbot says to a person in chat, in one place (wording, tone and limits are reviewed here).

A leaf module: the flow, the generators and every chat adapter use these, so Slack and Teams say the same thing.
Platform-specific decoration (an emoji, a mention) is added by the adapter, never baked in here.
"""

from __future__ import annotations

from ragbot.models import MAX_QUESTION_CHARS

__all__ = [
    "APOLOGY",
    "DEGRADED_NOTE",
    "EMPTY",
    "FEEDBACK_FAILED",
    "MODEL_REFUSAL",
    "NOT_HERE",
    "NO_ACCESS_CHECK",
    "PROGRESS",
    "REFUSAL",
    "TOO_LONG",
    "UNAVAILABLE",
    "busy",
    "feedback_thanks",
    "rate_limited",
]

# -- admission: said at once, before anything is queued -------------------------------------------------------------
UNAVAILABLE = "Sorry, I can't take questions right now: the answering service is unavailable. Please try again soon."
"""A question could not be queued (the broker or the admission state is unreachable)."""

NOT_HERE = "I'm not enabled in this channel. Ask me in a direct message, or ask an admin to add this channel."
EMPTY = "Ask me a question after the mention, e.g. “@ragbot how many vacation days do I get?”"
TOO_LONG = f"That question is too long for me (over {MAX_QUESTION_CHARS} characters). Could you shorten it?"
NO_ACCESS_CHECK = (
    "Sorry, I couldn't check which documents you may read (Slack didn't answer in time), so I haven't searched. "
    "Please ask again in a minute."
)
PROGRESS = "Looking through the documents…"
"""The placeholder a reply later replaces."""


def rate_limited(wait_s: int) -> str:
    """The asker went over a rate limit; `wait_s` is when the window ends."""
    return f"You're asking faster than I can answer. Please try again in {wait_s} seconds."


def busy(wait_s: int) -> str:
    """More questions are waiting than the workers can answer in time; `wait_s` is the wait this one would have had."""
    wait = f"{max(round(wait_s / 60), 1)} minutes" if wait_s >= 90 else f"{max(wait_s, 1)} seconds"
    return (
        "Sorry, I'm getting more questions than I can answer right now, so I haven't taken yours: it would wait "
        f"about {wait}. Please ask again in a few minutes."
    )


# -- answers --------------------------------------------------------------------------------------------------------
REFUSAL = "I couldn't find that in the documents I can see."
"""The answer when the sources do not answer; the closest sources follow it."""

MODEL_REFUSAL = "I don't know: none of the sources answers this question."
"""How the model is told to decline (the prompt), and how a decline is recognised."""

DEGRADED_NOTE = "The answering model is unavailable right now, so here is what the documents say:"
"""Heads a degraded answer, so the reader knows it was quoted, not written."""

APOLOGY = "Sorry, something went wrong while answering this question. Please try again in a minute."
"""A question failed for good after it was queued."""

# -- feedback -------------------------------------------------------------------------------------------------------
FEEDBACK_FAILED = "Sorry, I couldn't record your feedback just now."


def feedback_thanks(value: str) -> str:
    """The acknowledgement of a 👍 ("up") or 👎 ("down")."""
    return "Thanks, glad it helped." if value == "up" else "Thanks for telling me; this helps improve answers."
