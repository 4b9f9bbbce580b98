"""Choosing training targets from the interaction log: liked answers and reviewers' corrections, one per question.

    👍 outweighs 👎       an answered question whose answer people liked: the answer, as given, is the target
    a correction          a reviewer's corrected answer (`ragbot review correct`) is the target, whatever the
                          original said; a correction that says "I don't know" teaches a refusal
    everything else       skipped, and counted by reason (`Tally`) for the card

Questions are de-duplicated by their normalized text: a correction wins, then the newest.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from ragbot.generation.citations import is_model_refusal
from ragbot.interactions.records import InteractionRecord

__all__ = ["Kind", "Tally", "Target", "choose_target", "deduplicated"]

Kind = Literal["answer", "correction", "refusal"]


@dataclass(frozen=True)
class Target:
    """A logged question and the answer it teaches: the liked answer, a reviewer's correction, or a refusal."""

    record: InteractionRecord
    kind: Kind
    text: str


@dataclass
class Tally:
    """Why records were skipped, counted by reason: the card lists them, and so does a refusal to build."""

    skipped: Counter[str] = field(default_factory=Counter)

    def skip(self, reason: str) -> None:
        self.skipped[reason] += 1


def choose_target(record: InteractionRecord, tally: Tally) -> Target | None:
    """The target `record` teaches, or None (and the reason tallied) when it teaches nothing."""
    corrections = sorted((f for f in record.feedback if f.correction), key=lambda f: f.given_at)
    if record.history_turns:
        tally.skip("a follow-up (its thread is not logged)")
        return None
    if corrections:
        text = " ".join(corrections[-1].correction.split())
        return Target(record, "refusal" if is_model_refusal(text) else "correction", text)
    if record.status != "answered":
        tally.skip(f"{record.status}, not corrected")
        return None
    ups = sum(f.value == "up" for f in record.feedback)
    downs = sum(f.value == "down" for f in record.feedback)
    if ups <= downs:
        tally.skip("no feedback" if not record.feedback else "👎 outweigh 👍, not corrected")
        return None
    if record.usage.get("invalid_citations", 0):
        tally.skip("cited passages it was not given")
        return None
    return Target(record, "answer", " ".join(record.answer.split()))


def deduplicated(targets: list[Target], tally: Tally) -> list[Target]:
    """One target per normalized question: a correction wins, then the newest; the others are tallied."""
    best: dict[str, Target] = {}
    for target in targets:
        key = _normalized(target.record.question)
        kept = best.get(key)
        if kept is None or _preference(target) > _preference(kept):
            best[key] = target
    if len(best) < len(targets):
        tally.skipped["duplicate question"] += len(targets) - len(best)
    return list(best.values())


def _normalized(question: str) -> str:
    return " ".join(re.findall(r"\w+", question.casefold()))


def _preference(target: Target) -> tuple[bool, datetime]:
    return target.kind != "answer", target.record.asked_at
