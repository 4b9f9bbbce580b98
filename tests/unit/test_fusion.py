from datetime import UTC, datetime

import pytest

from ragbot.ports import LegResult
from ragbot.retrieval.fusion import drop_near_duplicates, reciprocal_rank_fusion
from tests.unit.builders import chunk


def test_rrf_adds_weighted_reciprocal_ranks() -> None:
    legs = {
        "bm25": LegResult(("a", "b", "c"), (9.0, 5.0, 1.0)),
        "dense": LegResult(("c", "a"), (0.9, 0.8)),
    }
    fused = reciprocal_rank_fusion(legs, weights={"bm25": 1.0, "dense": 2.0}, k=60)

    scores = {h.chunk_id: h.score for h in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 2 / 62)
    assert scores["b"] == pytest.approx(1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 2 / 61)
    assert [h.chunk_id for h in fused] == ["c", "a", "b"]
    assert fused[0].legs["bm25"].rank == 3 and fused[0].legs["dense"].rank == 1
    assert fused[0].legs["dense"].score == 0.9


def test_rrf_ties_keep_first_found_order_and_empty_legs_are_fine() -> None:
    legs = {"bm25": LegResult(("x",), (1.0,)), "dense": LegResult(("y",), (1.0,)), "none": LegResult((), ())}
    assert [h.chunk_id for h in reciprocal_rank_fusion(legs)] == ["x", "y"]
    assert reciprocal_rank_fusion({}) == []
    with pytest.raises(ValueError):
        reciprocal_rank_fusion(legs, k=0)


OLD = datetime(2024, 2, 1, tzinfo=UTC)
NEW = datetime(2026, 3, 14, tzinfo=UTC)


def test_exact_duplicates_collapse_to_the_newest_at_the_best_rank() -> None:
    text = "Reset your password at id.kestrel.example and confirm with your security key."
    ranked = [
        chunk("a.md#0", text, updated_at=OLD, title="A"),
        chunk("b.md#0", "Something else entirely about printers.", title="B"),
        chunk("c.md#0", text, updated_at=NEW, title="C"),
    ]
    kept = drop_near_duplicates(ranked)
    assert [c.chunk_id for c in kept] == ["c.md#0", "b.md#0"]


def test_near_duplicates_are_detected_by_shingle_overlap() -> None:
    base = " ".join(f"word{i}" for i in range(60))
    ranked = [chunk("a.md#0", base, title="A"), chunk("b.md#0", base + " extra", title="B")]
    assert len(drop_near_duplicates(ranked, threshold=0.9)) == 1
    assert len(drop_near_duplicates(ranked, threshold=0.999)) == 2


def test_an_older_version_of_a_document_is_dropped_entirely() -> None:
    ranked = [
        chunk(
            "archive/vpn.md#3",
            "Enter vpn.kestrel.example as the server.",
            title="VPN setup guide",
            heading_path="Connect",
            updated_at=OLD,
        ),
        chunk(
            "vpn.md#3",
            "Enter gp.kestrel.example as the portal.",
            title="VPN setup guide",
            heading_path="Connect",
            updated_at=NEW,
        ),
        chunk(
            "archive/vpn.md#5",
            "Full tunnelling sends all traffic through the VPN.",
            title="VPN setup guide",
            heading_path="Tunnelling",
            updated_at=OLD,
        ),
    ]
    assert [c.chunk_id for c in drop_near_duplicates(ranked)] == ["vpn.md#3"]


def test_same_heading_in_differently_titled_documents_is_not_a_version() -> None:
    ranked = [
        chunk("a.md#0", "Install with pip.", title="Tool A", heading_path="Installation", updated_at=OLD),
        chunk("b.md#0", "Install with npm.", title="Tool B", heading_path="Installation", updated_at=NEW),
    ]
    assert len(drop_near_duplicates(ranked)) == 2
