"""The throttle between a streaming model and a chat platform: bounded rate, nothing empty, no retry after a failure."""

from __future__ import annotations

from ragbot.models import ConversationRef
from ragbot.settings import Settings
from ragbot.streaming import TYPING, Throttle, partial_sender

WHERE = ConversationRef(platform="slack", channel="C1", thread="1.0", message="2.0")


class Shown:
    """A platform that records what it was asked to show, and can start refusing."""

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.refuse = False

    def show(self, conversation: ConversationRef, text: str) -> None:
        if self.refuse:
            raise RuntimeError("ratelimited")
        assert conversation == WHERE
        self.texts.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_are_at_most_one_per_interval_and_marked_as_in_progress() -> None:
    shown, clock = Shown(), Clock()
    throttle = Throttle(shown, WHERE, interval_s=1.0, clock=clock)
    throttle("Staff")  # too little to be worth showing
    throttle("Staff get 25 days")
    clock.now += 0.5
    throttle("Staff get 25 days of annual")  # within the interval: skipped
    clock.now += 0.6
    throttle("Staff get 25 days of annual leave [1].  ")
    assert shown.texts == [f"Staff get 25 days{TYPING}", f"Staff get 25 days of annual leave [1].{TYPING}"]
    assert throttle.updates == 2


def test_after_a_refused_update_nothing_more_is_tried() -> None:
    shown, clock = Shown(), Clock()
    throttle = Throttle(shown, WHERE, interval_s=0.1, clock=clock)
    shown.refuse = True
    throttle("Staff get 25 days")
    shown.refuse = False
    clock.now += 5
    throttle("Staff get 25 days of annual leave")
    assert throttle.failed and shown.texts == []


def test_platforms_without_partials_show_only_the_final_answer() -> None:
    settings = Settings.model_validate({"slack": {"bot_token": "xoxb-1"}})
    assert partial_sender("teams", settings) is None
    assert partial_sender("slack", settings) is not None
