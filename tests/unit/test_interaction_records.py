"""Interaction records: redacted and hashed when they are built (the logs that keep them: tests/contract)."""

from __future__ import annotations

import pytest

from ragbot.interactions.records import UserHasher, outcome_record
from tests.unit.builders import answered, asked

HASHER = UserHasher("test-key")


def test_records_carry_no_personal_data() -> None:
    record = outcome_record(answered(asked()), hasher=HASHER, timings_ms={"total": 12.0})
    dumped = record.model_dump_json()
    assert "ana@corp.example" not in dumped and "7946" not in dumped and "hr@corp.example" not in dumped
    assert "U1" not in dumped and record.user_hash == HASHER("slack", "U1")
    assert "group:hr" in record.principals and all(not p.endswith("corp.example") for p in record.principals)
    assert record.status == "answered" and record.citations == ("hr/leave.md#0",)
    assert record.retrieved[0].doc_id == "hr/leave.md"


def test_hashes_depend_on_the_key() -> None:
    assert UserHasher("a")("slack", "U1") != UserHasher("b")("slack", "U1")
    assert HASHER("slack", "U1") != HASHER("teams", "U1")
    with pytest.raises(ValueError, match="empty"):
        UserHasher("")
