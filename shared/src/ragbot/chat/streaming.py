"""Showing an answer while the model writes it: a platform's partial sender behind a throttle.

The generate hop streams from the model; each platform decides whether and how the growing text is shown (the
`PartialSender` its service supplies, `ragbot.ports`): it opens a `PartialStream` for a conversation, or declines
(Slack edits the progress message; Teams streams in 1:1 chats only; a platform without an entry shows only the
final answer). `Throttle` bounds the rate (chat platforms rate-limit edits), shows nothing before the first
words, and gives up on the first failure: the reply hop's final answer replaces whatever was shown, so a partial
update is never worth a retry or an error. A stream's `handle` travels to the reply hop (`Outcome.stream_id`)
for platforms whose final message must close the stream (Teams).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from ragbot.ports import PartialStream

__all__ = ["TYPING", "Throttle"]

log = logging.getLogger(__name__)

TYPING = " ▍"
"""Appended to a partial answer: it is still being written."""

_MIN_CHARS = 12


class Throttle:
    """`on_text` for a streaming generator: at most one update per `interval_s`, none after a failure.

    Args:
        stream: Where the partial answers go.
        interval_s: The least time between two updates.
        clock: Seconds, monotonic (tests pass their own).
    """

    def __init__(
        self, stream: PartialStream, *, interval_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.stream = stream
        self._interval, self._clock = interval_s, clock
        self._last = float("-inf")
        self.updates = 0
        self.failed = False

    def __call__(self, text: str) -> None:
        if self.failed or len(text.strip()) < _MIN_CHARS:
            return
        now = self._clock()
        if now - self._last < self._interval:
            return
        self._last = now
        try:
            self.stream.show(text.rstrip() + TYPING)
        except Exception:  # the final answer replaces it anyway: stop showing partials for this answer
            self.failed = True
            log.warning("partial answer not shown; the final one will be", exc_info=True)
            return
        self.updates += 1

    @property
    def handle(self) -> str:
        """The stream's handle once something was shown ("" otherwise)."""
        return self.stream.handle if self.updates else ""
