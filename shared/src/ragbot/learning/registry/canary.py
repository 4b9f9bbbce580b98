"""The canary against the current adapter: answer statistics from the interaction log, and a two-proportion z-test.

`ragbot finetune status` shows the comparison, and `ragbot finetune promote` refuses a canary that is worse
(unless forced).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from ragbot.interactions.records import InteractionRecord
from ragbot.learning.registry.store import RoutingState

__all__ = ["MIN_COMPARED", "compare_canary"]

MIN_COMPARED = 30
"""Answers each side needs before the canary comparison judges."""
_Z = 1.96  # two-sided 95%


def compare_canary(records: Iterable[InteractionRecord], routing: RoutingState) -> dict[str, Any]:
    """The canary's answers against the current adapter's since the canary started, from the interaction log.

    Per side: answers, the share with feedback, the 👎 share of votes, refusals, citation failures. The canary is
    "worse" on a rate that is higher with 95% confidence (two-proportion z-test), judged once both sides have
    `MIN_COMPARED` answers.

    Args:
        records: Interaction records; those before the canary started, failed ones and extractive answers are
            skipped.
        routing: The routing now.

    Returns:
        The comparison: the two adapters, per-side statistics, `verdict` ("no canary", "too early", "worse" or
        "no worse") and the rates it is `worse_on`.
    """
    if not routing.canary or routing.canary_since is None:
        return {"canary": None, "verdict": "no canary"}
    sides = {"canary": routing.canary, "current": routing.current or ""}
    rows: dict[str, list[InteractionRecord]] = {"canary": [], "current": []}
    for record in records:
        # Only answers the model wrote count (the extractive fallback records no prompt version).
        if record.asked_at < routing.canary_since or not record.prompt_version or record.status == "failed":
            continue
        for side, adapter in sides.items():
            if record.adapter == adapter:
                rows[side].append(record)
    stats = {side: _side_stats(found) for side, found in rows.items()}
    enough = all(s["answers"] >= MIN_COMPARED for s in stats.values())
    worse = []
    if enough:
        for rate, base in (("down_rate", "votes"), ("refusal_rate", "answers"), ("citation_failure_rate", "answers")):
            if _significantly_higher(stats["canary"], stats["current"], rate=rate, base=base):
                worse.append(rate)
    verdict = "too early" if not enough else "worse" if worse else "no worse"
    return {
        "canary": routing.canary,
        "current": routing.current or "base",
        "since": routing.canary_since.isoformat(),
        "fraction": routing.fraction,
        "sides": stats,
        "verdict": verdict,
        "worse_on": worse,
        "min_answers": MIN_COMPARED,
    }


def _side_stats(records: list[InteractionRecord]) -> dict[str, Any]:
    answers = len(records)
    votes = [f for r in records for f in r.feedback if not f.correction]
    downs = sum(f.value == "down" for f in votes)
    refused = sum(r.status == "refused" for r in records)
    citation_failures = sum(r.usage.get("invalid_citations", 0) > 0 or r.reason == "no valid citation" for r in records)

    def rate(hits: int, total: int) -> float | None:
        return round(hits / total, 4) if total else None

    return {
        "answers": answers,
        "votes": len(votes),
        "downs": downs,
        "refused": refused,
        "citation_failures": citation_failures,
        "feedback_rate": rate(sum(bool(r.feedback) for r in records), answers),
        "down_rate": rate(downs, len(votes)),
        "refusal_rate": rate(refused, answers),
        "citation_failure_rate": rate(citation_failures, answers),
    }


_COUNTS = {"down_rate": "downs", "refusal_rate": "refused", "citation_failure_rate": "citation_failures"}


def _significantly_higher(canary: dict[str, Any], current: dict[str, Any], *, rate: str, base: str) -> bool:
    n1, n2 = canary[base], current[base]
    if not n1 or not n2:
        return False
    x1, x2 = canary[_COUNTS[rate]], current[_COUNTS[rate]]
    pooled = (x1 + x2) / (n1 + n2)
    spread = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if spread == 0:
        return False
    return bool((x1 / n1 - x2 / n2) / spread > _Z)
