"""The canary compared with the current adapter from the interaction log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ragbot.generation.prompting import PROMPT_VERSION
from ragbot.interactions.records import FeedbackEntry, InteractionRecord, UserHasher, outcome_record
from ragbot.learning.registry import MIN_COMPARED, RoutingState, compare_canary
from tests.unit.builders import answered, asked


def logged(qid: str, adapter: str, *, status: str = "answered", down: bool = False, at: datetime) -> InteractionRecord:
    record = outcome_record(answered(asked(qid, at=at)), hasher=UserHasher("k"), timings_ms={})
    votes = (FeedbackEntry(user_hash="u", value="down" if down else "up", given_at=at),)
    return record.model_copy(
        update={"adapter": adapter, "prompt_version": PROMPT_VERSION, "status": status, "feedback": votes}
    )


def test_the_canary_is_compared_with_the_current_adapter_from_the_log() -> None:
    since = datetime.now(UTC) - timedelta(days=1)
    routing = RoutingState(current="handbook-a", canary="handbook-b", fraction=0.5, canary_since=since)
    later = since + timedelta(hours=1)
    current = [logged(f"a{i}", "handbook-a", down=i % 10 == 0, at=later) for i in range(60)]
    assert compare_canary(current[:40], routing)["verdict"] == "too early"  # no canary answers yet

    disliked = [logged(f"b{i}", "handbook-b", down=i % 2 == 0, at=later) for i in range(MIN_COMPARED + 10)]
    before = [logged(f"old{i}", "handbook-b", down=False, at=since - timedelta(hours=1)) for i in range(50)]
    worse = compare_canary([*current, *disliked, *before], routing)
    assert worse["verdict"] == "worse" and worse["worse_on"] == ["down_rate"]
    assert worse["sides"]["canary"]["answers"] == MIN_COMPARED + 10  # answers before the canary started don't count
    assert worse["sides"]["canary"]["down_rate"] == 0.5 and worse["sides"]["current"]["down_rate"] == 0.1

    alike = [logged(f"c{i}", "handbook-b", down=i % 10 == 0, at=later) for i in range(60)]
    assert compare_canary([*current, *alike], routing)["verdict"] == "no worse"
    assert compare_canary([], RoutingState())["verdict"] == "no canary"
