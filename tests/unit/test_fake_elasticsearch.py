"""The fake Elasticsearch server, driven only through the official `elasticsearch` client."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from elasticsearch import (
    ApiError,
    AuthenticationException,
    AuthorizationException,
    BadRequestError,
    Elasticsearch,
    NotFoundError,
    helpers,
)

from tests.fakes.elasticsearch import FakeElasticsearch

MAPPINGS: dict[str, Any] = {
    "dynamic": "strict",
    "_meta": {"embedding_model": "hash-bow-3"},
    "properties": {
        "title": {"type": "text", "analyzer": "english"},
        "body": {"type": "text", "analyzer": "english"},
        "ref": {"type": "keyword"},
        "acl": {"type": "keyword"},
        "updated": {"type": "date"},
        "rank": {"type": "integer"},
        "embedding": {"type": "dense_vector", "dims": 3, "similarity": "cosine"},
    },
}


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


@pytest.fixture
def es(fake: FakeElasticsearch) -> Iterator[Elasticsearch]:
    client = Elasticsearch(fake.url, request_timeout=5)
    yield client
    client.close()


def _index(es: Elasticsearch, name: str, docs: list[dict[str, Any]], *, refresh: bool = True) -> None:
    es.indices.create(index=name, mappings=MAPPINGS)
    actions = [{"_index": name, "_id": doc.pop("id"), **doc} for doc in docs]
    _, errors = helpers.bulk(es, actions, refresh=refresh)
    assert errors == []


def _outside_scope(excinfo: pytest.ExceptionInfo[ApiError], what: str) -> None:
    assert excinfo.value.meta.status == 501
    assert excinfo.value.error == "fake_not_implemented_exception"
    reason = excinfo.value.body["error"]["reason"]
    assert what in reason and "outside the fake's frozen scope" in reason


def test_answers_identify_elasticsearch_9(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    created = es.indices.create(index="docs-v1", mappings=MAPPINGS)
    assert created.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert created.meta.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=9"
    assert es.indices.exists(index="docs-v1")
    assert not es.indices.exists(index="docs-v2")
    assert [r.method for r in fake.requests] == ["PUT", "HEAD", "HEAD"]
    assert "compatible-with=9" in fake.requests[0].headers["accept"]


def test_index_creation_validates_names_mappings_and_settings(es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS, settings={"index": {"number_of_shards": 1}})
    got = es.indices.get(index="docs-v1")["docs-v1"]
    assert got["mappings"]["dynamic"] == "strict"
    assert got["mappings"]["properties"]["embedding"] == {"type": "dense_vector", "dims": 3, "similarity": "cosine"}
    assert got["settings"]["index"]["number_of_shards"] == "1"
    assert got["settings"]["index"]["creation_date"].isdigit()

    refused: list[tuple[dict[str, Any], str]] = [
        ({"properties": {"v": {"type": "dense_vector", "dims": 5000}}}, "range [1, 4096] but was [5000]"),
        ({"properties": {"v": {"type": "dense_vector", "dims": 3, "similarity": "euclid"}}}, "Unknown value [euclid]"),
    ]
    for mappings, reason in refused:
        with pytest.raises(BadRequestError) as excinfo:
            es.indices.create(index="bad", mappings=mappings)
        assert excinfo.value.error == "mapper_parsing_exception"
        assert reason in excinfo.value.body["error"]["reason"]
    outside: list[tuple[dict[str, Any], str]] = [
        ({"properties": {"title": {"type": "text", "analyser": "english"}}}, "[analyser]"),
        ({"properties": {"t": {"type": "txt"}}}, "type [txt]"),
        ({"dynamic": "strict", "colour": "blue"}, "[colour]"),
        ({"dynamic": "true"}, "dynamic: true"),
        ({"properties": {"title": {"type": "text"}}}, "analyzer [standard]"),
    ]
    for mappings, what in outside:
        with pytest.raises(ApiError) as outside_info:
            es.indices.create(index="bad", mappings=mappings)
        _outside_scope(outside_info, what)
    assert not es.indices.exists(index="bad")

    with pytest.raises(BadRequestError) as excinfo:
        es.indices.create(index="Docs")
    assert excinfo.value.error == "invalid_index_name_exception"
    with pytest.raises(BadRequestError) as excinfo:
        es.indices.create(index="docs-v1")
    assert excinfo.value.error == "resource_already_exists_exception"
    with pytest.raises(ApiError) as outside_info:
        es.indices.create(index="docs-v2", settings={"index.knn": True})
    _outside_scope(outside_info, "[index.knn]")


def test_settings_updates_and_resets(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", settings={"index": {"number_of_replicas": 0, "refresh_interval": "-1"}})
    assert fake.indices()["docs-v1"].settings["index.refresh_interval"] == "-1"
    es.indices.put_settings(index="docs-v1", settings={"index": {"number_of_replicas": 2, "refresh_interval": None}})
    settings = fake.indices()["docs-v1"].settings
    assert settings["index.number_of_replicas"] == "2"
    assert "index.refresh_interval" not in settings


def test_mappings_grow_by_new_fields_and_keep_the_old_ones(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    es.indices.put_mapping(index="docs-v1", meta={"embedding_model": "other"})
    es.indices.put_mapping(index="docs-v1", properties={"ref": {"type": "keyword"}, "extra": {"type": "keyword"}})
    mapping = es.indices.get_mapping(index="docs-v1")["docs-v1"]["mappings"]
    assert mapping["_meta"] == {"embedding_model": "other"}
    assert mapping["dynamic"] == "strict"
    assert set(mapping["properties"]) == set(MAPPINGS["properties"]) | {"extra"}
    with pytest.raises(BadRequestError, match=r"cannot be changed from type \[keyword\] to \[text\]"):
        es.indices.put_mapping(index="docs-v1", properties={"ref": {"type": "text", "analyzer": "english"}})
    with pytest.raises(NotFoundError):
        es.indices.get_mapping(index="nope")


def test_alias_actions_apply_atomically(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    es.indices.create(index="docs-v2", mappings=MAPPINGS)
    es.indices.update_aliases(actions=[{"add": {"index": "docs-v1", "alias": "docs"}}])

    # The second action fails (no such alias on docs-v2), so the first must not have happened either.
    with pytest.raises(NotFoundError) as excinfo:
        es.indices.update_aliases(
            actions=[
                {"add": {"index": "docs-v2", "alias": "docs"}},
                {"remove": {"index": "docs-v2", "alias": "other"}},
            ]
        )
    assert excinfo.value.error == "aliases_not_found_exception"
    assert fake.indices()["docs-v2"].aliases == {}
    assert set(es.indices.get_mapping(index="docs")) == {"docs-v1"}

    es.indices.update_aliases(
        actions=[{"add": {"index": "docs-v2", "alias": "docs"}}, {"remove": {"index": "docs-v1", "alias": "docs"}}]
    )
    assert set(es.indices.get_mapping(index="docs")) == {"docs-v2"}
    assert es.indices.get(index="docs-*")["docs-v2"]["aliases"] == {"docs": {}}

    # Writes through a one-index alias land on that index.
    es.index(index="docs", id="a", document={"title": "hello"}, refresh=True)
    assert es.get(index="docs-v2", id="a")["found"] is True

    # An alias over two indices without a write index refuses writes, per item.
    es.indices.update_aliases(actions=[{"add": {"index": "docs-v1", "alias": "docs"}}])
    response = es.bulk(operations=[{"index": {"_index": "docs", "_id": "b"}}, {"title": "x"}])
    assert response["errors"] is True
    error = response["items"][0]["index"]["error"]
    assert error["type"] == "illegal_argument_exception"
    assert "no write index is defined for alias [docs]" in error["reason"]

    # Indices are deleted by their own names only.
    with pytest.raises(BadRequestError, match="matches an alias"):
        es.indices.delete(index="docs")
    with pytest.raises(BadRequestError, match="Wildcard expressions"):
        es.indices.delete(index="docs-*")
    es.indices.delete(index="docs-v1,docs-v2")
    assert fake.indices() == {}


def test_bulk_reports_item_errors_while_other_items_succeed(es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    actions: list[dict[str, Any]] = [
        {"_index": "docs-v1", "_id": "1", "title": "Printer setup", "embedding": [1.0, 0.0, 0.0]},
        {"_index": "docs-v1", "_id": "2", "title": "Expenses", "department": "finance"},
        {"_index": "docs-v1", "_id": "3", "title": "Short vector", "embedding": [1.0, 0.0]},
        {"_index": "docs-v1", "_id": "5", "title": "Zero vector", "embedding": [0.0, 0.0, 0.0]},
        {"_op_type": "update", "_index": "docs-v1", "_id": "missing", "doc": {"title": "x"}},
        {"_op_type": "delete", "_index": "docs-v1", "_id": "missing"},
        {"_index": "docs-v1", "_id": "4", "title": "Leave policy"},
        {"_op_type": "update", "_index": "docs-v1", "_id": "1", "doc": {"title": "Printer setup"}},
        {"_op_type": "update", "_index": "docs-v1", "_id": "4", "doc": {"acl": "hr"}},
    ]
    results = list(helpers.streaming_bulk(es, actions, raise_on_error=False, raise_on_exception=False))
    items = [item[op] for _, item in results for op in item]

    assert [item["status"] for item in items] == [201, 400, 400, 400, 404, 404, 201, 200, 200]
    assert [ok for ok, _ in results] == [True, False, False, False, False, False, True, True, True]
    assert items[1]["error"]["type"] == "strict_dynamic_mapping_exception"
    assert "dynamic introduction of [department] within [_doc] is not allowed" in items[1]["error"]["reason"]
    assert items[2]["error"]["type"] == "document_parsing_exception"
    assert "different number of dimensions [2] than defined in the mapping [3]" in items[2]["error"]["reason"]
    assert "does not support vectors with zero magnitude" in items[3]["error"]["reason"]
    assert items[4]["error"]["type"] == "document_missing_exception"
    assert items[5]["result"] == "not_found"
    assert (items[7]["result"], items[7]["_version"]) == ("noop", 1)
    assert (items[8]["result"], items[8]["_version"]) == ("updated", 2)
    assert es.get(index="docs-v1", id="4")["_source"] == {"title": "Leave policy", "acl": "hr"}
    assert [d["found"] for d in es.mget(index="docs-v1", ids=["1", "2", "3", "4", "5"])["docs"]] == [
        True,
        False,
        False,
        True,
        False,
    ]


def test_search_and_count_see_only_refreshed_documents(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "VPN"}], refresh=False)
    assert es.search(index="docs-v1", query={"match_all": {}})["hits"]["total"]["value"] == 0
    assert es.count(index="docs-v1", query={"match_all": {}})["count"] == 0
    assert fake.indices()["docs-v1"].searchable_doc_count == 0
    assert es.get(index="docs-v1", id="1")["_source"] == {"title": "VPN"}  # GET is realtime

    es.indices.refresh(index="docs-v1")
    vpn = {"multi_match": {"query": "vpn", "fields": ["title"]}}
    assert es.search(index="docs-v1", query=vpn)["hits"]["total"]["value"] == 1
    assert es.count(index="docs-v1", query={"match_all": {}})["count"] == 1
    assert fake.indices()["docs-v1"].searchable_doc_count == 1

    es.bulk(operations=[{"index": {"_index": "docs-v1", "_id": "2"}}, {"title": "Wi-Fi"}], refresh="wait_for")
    assert es.count(index="docs-v1", query={"match_all": {}})["count"] == 2
    es.index(index="docs-v1", id="3", document={"title": "Printers"}, refresh="wait_for")
    assert es.count(index="docs-v1", query={"term": {"acl": "none"}})["count"] == 0
    assert fake.indices()["docs-v1"].searchable_doc_count == 3


def test_bm25_uses_the_english_analyzer_and_field_boosts(es: Elasticsearch) -> None:
    _index(
        es,
        "docs-v1",
        [
            {"id": "title-hit", "title": "How to install the VPN", "body": "Steps for the client."},
            {"id": "body-hit", "title": "Remote access", "body": "Installation of the VPN client is connected."},
            {"id": "miss", "title": "Expenses", "body": "Claim travel costs."},
        ],
    )
    response = es.search(
        index="docs-v1",
        query={"multi_match": {"query": "Installing (VPN) OR *", "fields": ["title^2", "body"]}},
    )
    hits = response["hits"]["hits"]
    assert [h["_id"] for h in hits] == ["title-hit", "body-hit"]

    # "installing" and "install" both stem to "instal"; "installation" stems to "instal" too.
    in_title = {"multi_match": {"query": "installing", "fields": ["title"]}}
    only_install = es.search(index="docs-v1", query=in_title)["hits"]["hits"]
    assert [h["_id"] for h in only_install] == ["title-hit"]

    # Lucene BM25 for a single-term match on `title`: 3 docs have a title, one contains "instal" once.
    # title-hit analyses to [how, instal, vpn] ("to", "the" are stop words); average title length (3 + 2 + 1) / 3.
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    norm = 1.2 * (0.25 + 0.75 * 3 / 2)
    assert only_install[0]["_score"] == pytest.approx(idf * 1 / (1 + norm), rel=1e-6)

    in_body = {"multi_match": {"query": "connection", "fields": ["body"]}}
    assert [h["_id"] for h in es.search(index="docs-v1", query=in_body)["hits"]["hits"]] == ["body-hit"]
    stop_words_only = {"multi_match": {"query": "the of and", "fields": ["title", "body"]}}
    assert es.search(index="docs-v1", query=stop_words_only)["hits"]["hits"] == []


def test_bool_filters_match_keywords_dates_and_missing_fields(es: Elasticsearch) -> None:
    _index(
        es,
        "docs-v1",
        [
            {"id": "old", "acl": ["hr", "all"], "updated": "2025-01-01T00:00:00+00:00", "ref": "x"},
            {"id": "new", "acl": "all", "updated": "2026-01-01T12:00:00.123456+00:00"},
            {"id": "none", "acl": "eng"},
        ],
    )

    def ids(query: dict[str, Any]) -> list[str]:
        return sorted(h["_id"] for h in es.search(index="docs-v1", query=query)["hits"]["hits"])

    assert ids({"terms": {"acl": ["hr", "eng"]}}) == ["none", "old"]
    assert ids({"range": {"updated": {"gte": "2026-01-01T12:00:00.123+00:00"}}}) == ["new"]
    assert ids({"range": {"updated": {"lt": "2026-01-01T00:00:00+00:00"}}}) == ["old"]
    assert ids({"bool": {"filter": [{"term": {"acl": "all"}}], "must_not": [{"exists": {"field": "ref"}}]}}) == ["new"]
    assert ids({"bool": {"must_not": [{"exists": {"field": "updated"}}]}}) == ["none"]
    assert ids({"term": {"acl": "nobody"}}) == []
    assert ids({"term": {"unmapped": "x"}}) == []


def test_knn_filter_runs_before_the_neighbour_search(es: Elasticsearch) -> None:
    _index(
        es,
        "docs-v1",
        [
            {"id": "near", "title": "a", "acl": "all", "embedding": [1.0, 0.0, 0.0]},
            {"id": "mid", "title": "b", "acl": "all", "embedding": [0.7, 0.7, 0.0]},
            {"id": "far", "title": "c", "acl": "hr", "embedding": [0.0, 0.0, 1.0]},
        ],
    )
    knn = {"field": "embedding", "query_vector": [1.0, 0.0, 0.0], "k": 1, "num_candidates": 10}
    unfiltered = es.search(index="docs-v1", knn=knn)["hits"]["hits"]
    assert [(h["_id"], h["_score"]) for h in unfiltered] == [("near", 1.0)]

    filtered = es.search(index="docs-v1", knn={**knn, "filter": {"term": {"acl": "hr"}}})["hits"]["hits"]
    assert [h["_id"] for h in filtered] == ["far"]  # a post-filter on the top-1 would have returned nothing
    assert filtered[0]["_score"] == pytest.approx(0.5)  # (1 + cos 90°) / 2

    with pytest.raises(BadRequestError, match=r"\[num_candidates\] cannot be less than \[k\]"):
        es.search(index="docs-v1", knn={**knn, "k": 5, "num_candidates": 2})
    with pytest.raises(BadRequestError, match=r"\[num_candidates\] cannot exceed \[10000\]"):
        es.search(index="docs-v1", knn={**knn, "num_candidates": 10_001})
    with pytest.raises(BadRequestError) as excinfo:
        es.search(index="docs-v1", knn={**knn, "query_vector": [1.0, 0.0]})
    assert excinfo.value.error == "search_phase_execution_exception"
    assert "different number of dimensions [2]" in str(excinfo.value.body)
    with pytest.raises(BadRequestError, match="zero magnitude"):
        es.search(index="docs-v1", knn={**knn, "query_vector": [0.0, 0.0, 0.0]})

    # A query and a knn section together are valid Elasticsearch, but nothing sends them.
    with pytest.raises(ApiError) as outside:
        es.search(index="docs-v1", query={"term": {"acl": "hr"}}, knn=knn)
    _outside_scope(outside, "a query and a knn")


def test_rrf_retriever_is_licence_gated(es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "vpn", "embedding": [1.0, 0.0, 0.0]}])
    retriever = {
        "rrf": {
            "retrievers": [
                {"standard": {"query": {"multi_match": {"query": "vpn", "fields": ["title"]}}}},
                {"knn": {"field": "embedding", "query_vector": [1.0, 0.0, 0.0], "k": 1, "num_candidates": 5}},
            ],
            "rank_constant": 60,
        }
    }
    with pytest.raises(AuthorizationException) as excinfo:
        es.search(index="docs-v1", retriever=retriever)
    assert excinfo.value.body["error"]["reason"] == (
        "current license is non-compliant for [Reciprocal Rank Fusion (RRF)]"
    )

    with FakeElasticsearch(licence="trial") as trial, Elasticsearch(trial.url, request_timeout=5) as client:
        _index(client, "docs-v1", [{"id": "1", "title": "vpn", "embedding": [1.0, 0.0, 0.0]}])
        hits = client.search(index="docs-v1", retriever=retriever)["hits"]["hits"]
        assert [h["_id"] for h in hits] == ["1"]
        assert hits[0]["_score"] == pytest.approx(2 / 61, rel=1e-6)
        with pytest.raises(BadRequestError, match=r"cannot specify \[retriever\] and \[query\]"):
            client.search(index="docs-v1", retriever=retriever, query={"match_all": {}})


def test_injected_429s_are_retried_by_the_client(fake: FakeElasticsearch) -> None:
    with Elasticsearch(fake.url, request_timeout=5, retry_on_status=(429,), max_retries=3) as client:
        fake.fail_next(2)
        assert client.indices.get(index="*").body == {}
        assert len(fake.requests) == 3

    with Elasticsearch(fake.url, request_timeout=5, retry_on_status=(429,), max_retries=1) as client:
        fake.fail_next(2)
        with pytest.raises(ApiError) as excinfo:
            client.indices.get(index="*")
        assert excinfo.value.meta.status == 429
        assert excinfo.value.error == "es_rejected_execution_exception"
        assert len(fake.requests) == 5


def test_api_key_is_required_when_configured() -> None:
    with FakeElasticsearch(api_key="c2VjcmV0") as server:
        with Elasticsearch(server.url, request_timeout=5) as anonymous:
            with pytest.raises(AuthenticationException) as excinfo:
                anonymous.indices.get(index="*")
            assert excinfo.value.error == "security_exception"
            assert "ApiKey" in str(excinfo.value.meta.headers.get("WWW-Authenticate"))
        with Elasticsearch(server.url, request_timeout=5, api_key="wrong") as wrong:
            with pytest.raises(AuthenticationException):
                wrong.indices.get(index="*")
        with Elasticsearch(server.url, request_timeout=5, api_key="c2VjcmV0") as client:
            assert client.indices.get(index="*").body == {}
        assert server.requests[-1].headers["authorization"] == "ApiKey c2VjcmV0"


def test_dense_vectors_never_appear_in_source(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "vpn", "acl": "all", "embedding": [0.0, 1.0, 0.0]}])
    hit = es.search(index="docs-v1", query={"match_all": {}})["hits"]["hits"][0]
    assert hit["_source"] == {"title": "vpn", "acl": "all"}
    assert es.get(index="docs-v1", id="1")["_source"] == {"title": "vpn", "acl": "all"}
    assert es.mget(index="docs-v1", ids=["1"])["docs"][0]["_source"] == {"title": "vpn", "acl": "all"}
    assert fake.documents("docs-v1")["1"]["embedding"] == [0.0, 1.0, 0.0]  # stored, just not shown

    # And the other _source filters in scope.
    assert es.get(index="docs-v1", id="1", source_includes=["acl"])["_source"] == {"acl": "all"}
    assert es.mget(index="docs-v1", ids=["1"], source_excludes=["acl"])["docs"][0]["_source"] == {"title": "vpn"}
    hit = es.search(index="docs-v1", source={"includes": ["title"]})["hits"]["hits"][0]
    assert hit["_source"] == {"title": "vpn"}
    assert "_source" not in es.search(index="docs-v1", source=False)["hits"]["hits"][0]


def test_search_after_paginates_a_sorted_result(es: Elasticsearch) -> None:
    docs = [{"id": f"d{i}", "ref": f"r{i}", "acl": f"k{i % 2}", "updated": f"2026-01-0{1 + i % 3}"} for i in range(7)]
    _index(es, "docs-v1", docs)
    sort = [{"updated": "asc"}, {"acl": "asc"}, {"ref": "asc"}]
    seen: list[str] = []
    after = None
    while True:
        page = es.search(index="docs-v1", sort=sort, size=3, search_after=after)["hits"]["hits"]
        if not page:
            break
        assert all(hit["_score"] is None for hit in page)
        seen += [hit["_id"] for hit in page]
        after = page[-1]["sort"]
    assert len(seen) == len(set(seen)) == 7
    dates = [es.get(index="docs-v1", id=i)["_source"]["updated"] for i in seen]
    assert dates == sorted(dates)
    assert after is not None and after[0] == datetime(2026, 1, 3, tzinfo=UTC).timestamp() * 1000  # epoch millis

    for outside, what in (([{"title": "asc"}], "text field [title]"), ([{"ref": "desc"}], "sort order [desc]")):
        with pytest.raises(ApiError) as excinfo:
            es.search(index="docs-v1", sort=outside)
        _outside_scope(excinfo, what)


def test_delete_by_query_with_refresh_is_visible_immediately(es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "acl": "hr"}, {"id": "2", "acl": "hr"}, {"id": "3", "acl": "all"}])
    response = es.delete_by_query(index="docs-v1", query={"term": {"acl": "hr"}}, refresh=True, conflicts="proceed")
    assert (response["deleted"], response["total"], response["failures"]) == (2, 2, [])
    assert es.count(index="docs-v1", query={"match_all": {}})["count"] == 1
    assert [d["found"] for d in es.mget(index="docs-v1", ids=["1", "3"])["docs"]] == [False, True]

    # A document rewritten since the last refresh is a version conflict, which conflicts=proceed skips.
    es.index(index="docs-v1", id="3", document={"acl": "all", "ref": "new"})
    response = es.delete_by_query(index="docs-v1", query={"term": {"acl": "all"}}, refresh=True, conflicts="proceed")
    assert (response["deleted"], response["version_conflicts"]) == (0, 1)
    assert es.get(index="docs-v1", id="3")["_source"]["ref"] == "new"


def test_deleted_versions_stay_until_a_forced_merge_expunges_them(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": str(n), "ref": f"r{n}"} for n in range(20)])
    es.index(index="docs-v1", id="0", document={"ref": "r0, rewritten"}, refresh=True)
    es.delete_by_query(index="docs-v1", query={"term": {"ref": "r1"}}, refresh=True, conflicts="proceed")
    assert fake.deleted_documents("docs-v1") == [{"ref": "r0"}, {"ref": "r1"}]  # what Lucene keeps in the segment
    # 2 deleted of 21 versions is under the default 10% threshold: an expunge leaves them.
    es.indices.forcemerge(index="docs-v1", only_expunge_deletes=True)
    assert len(fake.deleted_documents("docs-v1")) == 2
    es.indices.put_settings(index="docs-v1", settings={"index": {"merge": {"policy": {"expunge_deletes_allowed": 0}}}})
    es.indices.forcemerge(index="docs-v1", only_expunge_deletes=True)
    assert fake.deleted_documents("docs-v1") == []
    assert len(fake.documents("docs-v1")) == 19
    with pytest.raises(ApiError) as excinfo:
        es.indices.forcemerge(index="docs-v1", max_num_segments=1)
    _outside_scope(excinfo, "max_num_segments")


def test_requests_elasticsearch_would_reject_are_rejected(es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    with pytest.raises(NotFoundError) as excinfo:
        es.search(index="nope", query={"match_all": {}})
    assert excinfo.value.error == "index_not_found_exception"
    with pytest.raises(NotFoundError):
        es.get(index="docs-v1", id="missing")
    with pytest.raises(ApiError) as wrong_method:
        es.perform_request("GET", "/_bulk", headers={"accept": "application/json"})
    assert wrong_method.value.meta.status == 405


def test_requests_outside_the_frozen_scope_get_501(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    title = {"multi_match": {"query": "x", "fields": ["title"]}}
    cases: list[tuple[dict[str, Any], str]] = [
        ({"query": {"match_all": {}}, "colour": "blue"}, "[colour]"),
        ({"query": {"matchh": {"title": "x"}}}, "query [matchh]"),
        ({"query": {"multi_match": {**title["multi_match"], "fuzzyness": 1}}}, "[fuzzyness]"),
        ({"query": {"match": {"title": "x"}}}, "query [match]"),
        ({"aggs": {"by_acl": {"terms": {"field": "acl"}}}}, "[aggs]"),
    ]
    for body, what in cases:
        with pytest.raises(ApiError) as excinfo:
            es.search(index="docs-v1", body=body)
        _outside_scope(excinfo, what)
    assert fake.requests[-1].body == {"aggs": {"by_acl": {"terms": {"field": "acl"}}}}

    with pytest.raises(ApiError) as excinfo:
        es.perform_request("GET", "/docs-v1/_search", params={"colour": "blue"}, headers={"accept": "application/json"})
    _outside_scope(excinfo, "[colour]")
    with pytest.raises(ApiError) as excinfo:
        es.perform_request("GET", "/_cat/indices", headers={"accept": "application/json"})
    _outside_scope(excinfo, "[GET /_cat/indices]")
    with pytest.raises(ApiError) as excinfo:
        es.index(index="docs-v9", id="1", document={"title": "x"})
    _outside_scope(excinfo, "auto-creating indices")
