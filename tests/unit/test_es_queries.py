"""The Elasticsearch request bodies, built by pure functions and checked without a server.

The contract suite (tests/contract/test_elasticsearch.py) checks what a cluster does with them; these tests pin
the properties a reviewer would otherwise have to read out of a request log: the ACL filter on every leg, the
keyword query kept out of the kNN pre-filter, the candidate budget, the field boosts, and records that read back
as they were written.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest

from ragbot.backends.elasticsearch.mapping import index_settings, info_of, mappings, meta_of, serving_settings
from ragbot.backends.elasticsearch.queries import (
    CHUNK,
    DOCUMENT,
    MAX_KNN_CANDIDATES,
    bulk_failure,
    chunk_actions,
    chunk_from_source,
    chunk_source,
    doc_id_of,
    document_action,
    documents_query,
    hybrid_retriever,
    keyword_query,
    knn_clause,
    leg_result,
    link_actions,
    record_id,
    stored_document,
    visible,
)
from ragbot.ports import IndexedDocument, IndexInfo, LegResult
from ragbot.settings import ElasticsearchSettings
from tests.unit.builders import chunk, document

PRINCIPALS = ["user:ada", "group:hr"]
VECTOR = np.array([0.6, 0.8, 0.0], dtype=np.float32)
ACL_FILTER = {"terms": {"acl": PRINCIPALS}}


def clauses(body: Any) -> Iterator[dict[str, Any]]:
    """Every object nested anywhere in a request body."""
    if isinstance(body, dict):
        yield body
        for value in body.values():
            yield from clauses(value)
    elif isinstance(body, list):
        for value in body:
            yield from clauses(value)


def test_visibility_filter_keeps_chunks_the_principals_may_read_and_leaves_copies_out() -> None:
    assert visible(PRINCIPALS) == [
        {"term": {"kind": CHUNK}},
        ACL_FILTER,
        {"bool": {"must_not": [{"exists": {"field": "duplicate_of"}}]}},
    ]


def test_acl_filter_is_on_the_keyword_leg() -> None:
    query = keyword_query("vpn client", PRINCIPALS)
    assert query["bool"]["filter"] == visible(PRINCIPALS)
    assert ACL_FILTER in query["bool"]["filter"]


def test_acl_filter_is_on_the_knn_leg() -> None:
    knn = knn_clause(VECTOR, PRINCIPALS, k=5, num_candidates_factor=10)
    assert knn["filter"] == visible(PRINCIPALS)
    assert ACL_FILTER in knn["filter"]


def test_acl_filter_is_on_both_legs_of_the_rrf_retriever() -> None:
    body = hybrid_retriever("vpn client", VECTOR, PRINCIPALS, k=5, num_candidates_factor=10, rank_constant=60)
    standard, knn = body["rrf"]["retrievers"]
    assert standard["standard"]["query"]["bool"]["filter"] == visible(PRINCIPALS)
    assert knn["knn"]["filter"] == visible(PRINCIPALS)


def test_keyword_query_is_never_the_knn_prefilter() -> None:
    knn = knn_clause(VECTOR, PRINCIPALS, k=5, num_candidates_factor=10)
    assert not [c for c in clauses(knn) if "multi_match" in c or "match" in c]
    hybrid = hybrid_retriever("vpn client", VECTOR, PRINCIPALS, k=5, num_candidates_factor=10, rank_constant=60)
    hybrid_knn = hybrid["rrf"]["retrievers"][1]["knn"]
    assert hybrid_knn == knn
    assert "vpn client" not in repr(hybrid_knn)


def test_knn_clause_searches_the_embedding_with_the_query_vector_as_floats() -> None:
    knn = knn_clause(VECTOR, PRINCIPALS, k=7, num_candidates_factor=10)
    assert knn["field"] == "embedding"
    assert knn["k"] == 7
    assert knn["query_vector"] == pytest.approx([0.6, 0.8, 0.0])
    assert all(type(x) is float for x in knn["query_vector"])  # numpy floats do not serialise to JSON


@pytest.mark.parametrize("k", [1, 5, 10, 100, 999, 1000, 1001, 5000, MAX_KNN_CANDIDATES])
@pytest.mark.parametrize("factor", [10, 25, 1000])
def test_num_candidates_is_at_least_ten_times_k_and_capped(k: int, factor: int) -> None:
    candidates = knn_clause(VECTOR, PRINCIPALS, k=k, num_candidates_factor=factor)["num_candidates"]
    assert candidates == min(k * factor, MAX_KNN_CANDIDATES)
    assert candidates <= MAX_KNN_CANDIDATES
    assert candidates >= k
    if 10 * k <= MAX_KNN_CANDIDATES:
        assert candidates >= 10 * k


def test_num_candidates_never_falls_below_k() -> None:
    # The settings refuse a factor under 10, but the builder still keeps Elasticsearch's num_candidates ≥ k rule.
    assert knn_clause(VECTOR, PRINCIPALS, k=50, num_candidates_factor=0)["num_candidates"] == 50


def test_keyword_query_boosts_title_over_heading_path_over_text() -> None:
    (must,) = keyword_query("vpn client", PRINCIPALS)["bool"]["must"]
    assert must == {
        "multi_match": {
            "query": "vpn client",
            "fields": ["title^2", "heading_path^1.5", "text"],
            "type": "best_fields",
            "tie_breaker": 0.3,
        }
    }


def test_rrf_retriever_window_and_rank_constant() -> None:
    body = hybrid_retriever("vpn", VECTOR, PRINCIPALS, k=8, num_candidates_factor=10, rank_constant=42)
    assert body["rrf"]["rank_window_size"] == 8
    assert body["rrf"]["rank_constant"] == 42
    assert body["rrf"]["retrievers"][1]["knn"]["num_candidates"] == 80


def test_chunk_source_round_trip() -> None:
    original = chunk(
        "guide/vpn.md#3",
        "Install the client, then sign in.",
        title="VPN",
        url="https://wiki.example/vpn",
        heading_path="Setup › Windows",
        acl=("group:it", "user:ada"),
        char_start=120,
        char_end=154,
    )
    source = chunk_source(original, [0.1, 0.2])
    assert source["kind"] == CHUNK
    assert source["embedding"] == [0.1, 0.2]
    assert source["duplicate_of"] is None
    assert chunk_from_source(source) == original


def test_chunk_from_source_takes_a_naive_timestamp_as_utc_and_fills_absent_optional_fields() -> None:
    source = chunk_source(chunk("a.md#0"), [0.0])
    source["updated_at"] = "2026-01-01T00:00:00"
    for optional in ("title", "url", "heading_path", "char_start", "char_end", "content_hash"):
        del source[optional]
    read = chunk_from_source(source)
    assert read.updated_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert (read.title, read.url, read.heading_path, read.char_start, read.char_end, read.content_hash) == (
        "",
        "",
        "",
        0,
        0,
        "",
    )


def test_document_record_round_trip() -> None:
    doc = document("guide/vpn.md", title="VPN", url="https://wiki.example/vpn", acl=("group:it",))
    chunks = [chunk("guide/vpn.md#0"), chunk("guide/vpn.md#1")]
    item = IndexedDocument(doc, "fp1", chunks, np.zeros((2, 3), dtype=np.float32), "ck")
    action = document_action("ragbot-v2", item, fingerprint="fp1")
    assert (action["_op_type"], action["_index"], action["_id"]) == ("index", "ragbot-v2", "document:guide/vpn.md")
    assert action["_source"]["kind"] == DOCUMENT
    assert action["_source"]["acl"] == ["group:it"]
    stored = stored_document(action["_source"])
    assert (stored.doc_id, stored.source, stored.fingerprint, stored.chunks) == ("guide/vpn.md", "test", "fp1", 2)
    assert (stored.content_key, stored.duplicate_of) == ("ck", "")


def test_documents_query_selects_document_records_of_one_source_or_all() -> None:
    assert documents_query(None) == {"bool": {"filter": [{"term": {"kind": DOCUMENT}}]}}
    assert documents_query("wiki")["bool"]["filter"] == [{"term": {"kind": DOCUMENT}}, {"term": {"source": "wiki"}}]


def test_chunk_actions_write_every_chunk_and_delete_the_ones_a_longer_version_left() -> None:
    doc = document("a.md")
    item = IndexedDocument(doc, "fp", [chunk("a.md#0")], np.ones((1, 2), dtype=np.float32))
    actions = list(chunk_actions("idx", [item], {"a.md": 3}))
    assert [(a["_op_type"], a["_id"]) for a in actions] == [
        ("index", "chunk:a.md#0"),
        ("delete", "chunk:a.md#1"),
        ("delete", "chunk:a.md#2"),
    ]
    assert actions[0]["_source"]["embedding"] == [1.0, 1.0]


def test_link_actions_mark_the_document_and_each_chunk_and_skip_unstored_documents() -> None:
    duplicates = {"copy.md": "orig.md", "gone.md": "orig.md", "back.md": ""}
    actions = list(link_actions("idx", duplicates, {"copy.md": 2, "back.md": 0}))
    assert [(a["_id"], a["doc"]) for a in actions] == [
        ("document:copy.md", {"duplicate_of": "orig.md"}),
        ("chunk:copy.md#0", {"duplicate_of": "orig.md"}),
        ("chunk:copy.md#1", {"duplicate_of": "orig.md"}),
        ("document:back.md", {"duplicate_of": None}),
    ]
    assert {a["_op_type"] for a in actions} == {"update"}


def test_record_ids_are_hashed_past_elasticsearchs_512_byte_limit() -> None:
    assert record_id(CHUNK, "a.md#0") == "chunk:a.md#0"
    long_id = record_id(DOCUMENT, "x" * 600)
    assert long_id.startswith("document:sha256:")
    assert len(long_id.encode()) <= 512
    assert long_id == record_id(DOCUMENT, "x" * 600)


def test_failed_bulk_items_name_their_document() -> None:
    assert doc_id_of({"_id": "chunk:guide/a.md#4"}) == "guide/a.md"
    assert doc_id_of({"_id": "document:guide/a.md"}) == "guide/a.md"
    failure = bulk_failure({"index": {"_id": "chunk:a.md#1", "status": 429, "error": {"reason": "too many"}}})
    assert failure == ("a.md", "index failed (429): too many")
    assert bulk_failure({"delete": {"_id": "chunk:a.md#1", "status": 404}}) is None  # already gone: harmless


def test_leg_result_reads_ids_and_scores_best_first() -> None:
    hits = [{"_source": {"chunk_id": "a#0"}, "_score": 2.5}, {"_source": {"chunk_id": "b#1"}, "_score": None}]
    body = {"hits": {"hits": hits}}
    assert leg_result(body) == LegResult(("a#0", "b#1"), (2.5, 0.0))
    assert leg_result({"hits": {"hits": []}}) == LegResult((), ())


# -- mapping ------------------------------------------------------------------------------------------------------

INFO = IndexInfo(embedding_model="m", dimension=3, chunker_version="c2", created_at=datetime(2026, 1, 1, tzinfo=UTC))


def test_meta_round_trip_and_foreign_indexes() -> None:
    assert info_of(meta_of(INFO)) == INFO
    assert meta_of(INFO)["created_by"] == "ragbot"
    assert info_of({}) is None


def test_strict_mapping_holds_every_field_the_records_write() -> None:
    settings = ElasticsearchSettings()
    body = mappings(INFO, settings)
    assert body["dynamic"] == "strict"
    assert body["_meta"] == meta_of(INFO)
    assert body["properties"]["embedding"]["dims"] == 3
    item = IndexedDocument(document("a.md"), "fp", [chunk("a.md#0")], np.zeros((1, 3), dtype=np.float32))
    written = set(chunk_source(chunk("a.md#0"), [0.0])) | set(document_action("i", item, fingerprint="fp")["_source"])
    assert written <= set(body["properties"])


def test_bulk_load_settings_and_serving_settings() -> None:
    settings = ElasticsearchSettings(shards=2, replicas=1)
    assert index_settings(settings, bulk_load=True) == {
        "index": {"number_of_shards": 2, "number_of_replicas": 0, "refresh_interval": "-1"}
    }
    assert index_settings(settings, bulk_load=False) == {"index": {"number_of_shards": 2, "number_of_replicas": 1}}
    assert serving_settings(settings) == {"index": {"number_of_replicas": 1, "refresh_interval": None}}
