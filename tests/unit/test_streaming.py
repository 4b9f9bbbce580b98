"""The throttle between a streaming model and a chat platform: bounded rate, nothing empty, no retry after a failure."""

from __future__ import annotations

from ragbot.bootstrap import platform_senders
from ragbot.chat.streaming import TYPING, Throttle
from ragbot.models import ConversationRef
from ragbot.ports import PartialSender
from ragbot.settings import Settings

WHERE = ConversationRef(platform="slack", channel="C1", thread="1.0", message="2.0")


class Shown:
    """A platform stream that records what it was asked to show, and can start refusing."""

    handle = "stream-1"

    def __init__(self) -> None:
        self.texts: list[str] = []
        self.refuse = False

    def show(self, text: str) -> None:
        if self.refuse:
            raise RuntimeError("ratelimited")
        self.texts.append(text)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_updates_are_at_most_one_per_interval_and_marked_as_in_progress() -> None:
    shown, clock = Shown(), Clock()
    throttle = Throttle(shown, interval_s=1.0, clock=clock)
    throttle("Staff")  # too little to be worth showing
    assert throttle.handle == ""  # nothing shown yet: nothing for the final message to close
    throttle("Staff get 25 days")
    clock.now += 0.5
    throttle("Staff get 25 days of annual")  # within the interval: skipped
    clock.now += 0.6
    throttle("Staff get 25 days of annual leave [1].  ")
    assert shown.texts == [f"Staff get 25 days{TYPING}", f"Staff get 25 days of annual leave [1].{TYPING}"]
    assert throttle.updates == 2 and throttle.handle == "stream-1"


def test_after_a_refused_update_nothing_more_is_tried() -> None:
    shown, clock = Shown(), Clock()
    throttle = Throttle(shown, interval_s=0.1, clock=clock)
    shown.refuse = True
    throttle("Staff get 25 days")
    shown.refuse = False
    clock.now += 5
    throttle("Staff get 25 days of annual leave")
    assert throttle.failed and shown.texts == []


def partial_sender(platform: str, settings: Settings) -> PartialSender | None:
    """What a worker's composition root finds for `platform` (its `ragbot.platforms` entry point)."""
    factory = platform_senders([platform]).get(platform)
    return factory(settings).partials if factory is not None else None


def test_each_platform_decides_where_partial_answers_are_shown() -> None:
    settings = Settings.model_validate(
        {"slack": {"bot_token": "xoxb-1"}, "teams": {"app_id": "app", "app_password": "pw"}}
    )
    assert partial_sender("cli", settings) is None  # no entry point: only the final answer
    teams = partial_sender("teams", settings)
    personal = ConversationRef(platform="teams", reference={"conversation": {"conversationType": "personal"}})
    assert teams is not None and teams.open(personal) is not None
    group = personal.model_copy(update={"reference": {"conversation": {"conversationType": "groupChat"}}})
    assert teams.open(group) is None  # Teams streams in 1:1 chats only
    slack = partial_sender("slack", settings)
    assert slack is not None and slack.open(WHERE) is not None
    assert slack.open(WHERE.model_copy(update={"message": ""})) is None  # no progress message to edit
