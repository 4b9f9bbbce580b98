"""The fake Elasticsearch server, driven only through the official `elasticsearch` client."""

from __future__ import annotations

import math
from collections.abc import Iterator
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
        "title": {"type": "text", "analyzer": "english", "fields": {"raw": {"type": "keyword"}}},
        "body": {"type": "text", "analyzer": "english"},
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


def test_info_and_ping_identify_elasticsearch_9(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    info = es.info()
    assert info["version"]["number"] == "9.1.0"
    assert info["version"]["build_flavor"] == "default"
    assert info["tagline"] == "You Know, for Search"
    assert info.meta.headers["x-elastic-product"] == "Elasticsearch"
    assert info.meta.headers["content-type"] == "application/vnd.elasticsearch+json;compatible-with=9"
    assert es.ping() is True
    assert [r.method for r in fake.requests] == ["GET", "HEAD"]
    assert "compatible-with=9" in fake.requests[0].headers["accept"]


def test_index_creation_validates_names_mappings_and_settings(es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS, settings={"index": {"number_of_shards": 1}})
    got = es.indices.get(index="docs-v1")["docs-v1"]
    assert got["mappings"]["dynamic"] == "strict"
    assert got["mappings"]["properties"]["embedding"]["index_options"]["type"] == "int8_hnsw"
    assert got["settings"]["index"]["number_of_shards"] == "1"
    assert got["settings"]["index"]["creation_date"].isdigit()

    bad_mappings = [
        ({"properties": {"title": {"type": "text", "analyser": "english"}}}, "unknown parameter [analyser]"),
        ({"properties": {"v": {"type": "dense_vector", "dims": 5000}}}, "range [1, 4096] but was [5000]"),
        ({"properties": {"v": {"type": "dense_vector", "dims": 3, "similarity": "euclid"}}}, "Unknown value [euclid]"),
        ({"properties": {"t": {"type": "txt"}}}, "No handler for type [txt]"),
        ({"dynamic": "strict", "colour": "blue"}, "Root mapping definition has unsupported parameters"),
    ]
    for mappings, reason in bad_mappings:
        with pytest.raises(BadRequestError) as excinfo:
            es.indices.create(index="bad", mappings=mappings)
        assert excinfo.value.error == "mapper_parsing_exception"
        assert reason in excinfo.value.body["error"]["reason"]
    assert not es.indices.exists(index="bad")

    with pytest.raises(BadRequestError) as excinfo:
        es.indices.create(index="Docs")
    assert excinfo.value.error == "invalid_index_name_exception"
    with pytest.raises(BadRequestError) as excinfo:
        es.indices.create(index="docs-v1")
    assert excinfo.value.error == "resource_already_exists_exception"
    with pytest.raises(BadRequestError, match="unknown setting"):
        es.indices.create(index="docs-v2", settings={"index.knn": True})


def test_alias_actions_apply_atomically(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    es.indices.create(index="docs-v2", mappings=MAPPINGS)
    es.indices.put_alias(index="docs-v1", name="docs")

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
    assert set(es.indices.get_alias(name="docs")) == {"docs-v1"}

    es.indices.update_aliases(
        actions=[{"add": {"index": "docs-v2", "alias": "docs"}}, {"remove_index": {"index": "docs-v1"}}]
    )
    assert set(es.indices.get_alias(name="docs")) == {"docs-v2"}
    assert not es.indices.exists(index="docs-v1")

    # Writes through a one-index alias land on that index.
    es.index(index="docs", id="a", document={"title": "hello"}, refresh=True)
    assert es.get(index="docs-v2", id="a")["found"] is True

    # An alias over two indices without a write index refuses writes, per item.
    es.indices.create(index="docs-v3", mappings=MAPPINGS)
    es.indices.put_alias(index="docs-v3", name="docs")
    response = es.bulk(operations=[{"index": {"_index": "docs", "_id": "b"}}, {"title": "x"}])
    assert response["errors"] is True
    error = response["items"][0]["index"]["error"]
    assert error["type"] == "illegal_argument_exception"
    assert "no write index is defined for alias [docs]" in error["reason"]

    assert es.indices.exists_alias(name="docs")
    assert not es.indices.exists_alias(name="nope")
    with pytest.raises(NotFoundError) as excinfo:
        es.indices.get_alias(name="nope")
    assert excinfo.value.body == {"error": "alias [nope] missing", "status": 404}


def test_streaming_bulk_reports_item_errors_while_other_items_succeed(es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    actions = [
        {"_index": "docs-v1", "_id": "1", "title": "Printer setup", "embedding": [1.0, 0.0, 0.0]},
        {"_index": "docs-v1", "_id": "2", "title": "Expenses", "department": "finance"},
        {"_index": "docs-v1", "_id": "3", "title": "Short vector", "embedding": [1.0, 0.0]},
        {"_op_type": "create", "_index": "docs-v1", "_id": "1", "title": "Printer setup again"},
        {"_op_type": "delete", "_index": "docs-v1", "_id": "missing"},
        {"_index": "docs-v1", "_id": "4", "title": "Leave policy"},
    ]
    results = list(helpers.streaming_bulk(es, actions, raise_on_error=False, raise_on_exception=False))
    outcome = {item[op]["_id"]: (ok, item[op]) for ok, item in results for op in item}

    assert outcome["1"][0] is False  # the later `create` of id 1 conflicts; the first index of id 1 succeeded
    assert outcome["4"] == (True, outcome["4"][1]) and outcome["4"][1]["result"] == "created"
    assert outcome["2"][1]["error"]["type"] == "strict_dynamic_mapping_exception"
    assert "dynamic introduction of [department] within [_doc] is not allowed" in outcome["2"][1]["error"]["reason"]
    assert outcome["3"][1]["error"]["type"] == "document_parsing_exception"
    assert "different number of dimensions [2] than defined in the mapping [3]" in outcome["3"][1]["error"]["reason"]
    statuses = [item[op]["status"] for _, item in results for op in item]
    assert statuses == [201, 400, 400, 409, 404, 201]
    assert results[3][1]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert results[4][1]["delete"]["result"] == "not_found"
    assert sorted(es.mget(index="docs-v1", ids=["1", "2", "3", "4"])["docs"], key=lambda d: d["_id"])[0]["found"]
    assert [d["found"] for d in es.mget(index="docs-v1", ids=["1", "2", "3", "4"])["docs"]] == [
        True,
        False,
        False,
        True,
    ]


def test_search_and_count_see_only_refreshed_documents(es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "VPN"}], refresh=False)
    assert es.search(index="docs-v1", query={"match_all": {}})["hits"]["total"]["value"] == 0
    assert es.count(index="docs-v1")["count"] == 0
    assert es.cat.indices(index="docs-v1", format="json")[0]["docs.count"] == "0"
    assert es.get(index="docs-v1", id="1")["_source"] == {"title": "VPN"}  # GET is realtime

    es.indices.refresh(index="docs-v1")
    assert es.search(index="docs-v1", query={"match": {"title": "vpn"}})["hits"]["total"]["value"] == 1
    assert es.count(index="docs-v1")["count"] == 1
    assert es.indices.stats(index="docs-v1")["indices"]["docs-v1"]["primaries"]["docs"]["count"] == 1

    es.bulk(operations=[{"index": {"_index": "docs-v1", "_id": "2"}}, {"title": "Wi-Fi"}], refresh="wait_for")
    assert es.count(index="docs-v1")["count"] == 2


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
    only_install = es.search(index="docs-v1", query={"match": {"title": "installing"}})["hits"]["hits"]
    assert [h["_id"] for h in only_install] == ["title-hit"]

    # Lucene BM25 for a single-term match on `title`: 3 docs have a title, one contains "instal" once.
    # title-hit analyses to [how, instal, vpn] ("to", "the" are stop words); average title length (3 + 2 + 1) / 3.
    idf = math.log(1 + (3 - 1 + 0.5) / (1 + 0.5))
    norm = 1.2 * (0.25 + 0.75 * 3 / 2)
    assert only_install[0]["_score"] == pytest.approx(idf * 1 / (1 + norm), rel=1e-6)

    connect = es.search(index="docs-v1", query={"match": {"body": "connection"}})["hits"]["hits"]
    assert [h["_id"] for h in connect] == ["body-hit"]


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

    # A query and a knn section are a disjunction: scores add up.
    both = es.search(index="docs-v1", query={"term": {"acl": "hr"}}, knn={**knn, "k": 3, "num_candidates": 3})
    scores = {h["_id"]: h["_score"] for h in both["hits"]["hits"]}
    term_only = es.search(index="docs-v1", query={"term": {"acl": "hr"}})["hits"]["hits"][0]["_score"]
    assert scores["far"] == pytest.approx(term_only + 0.5, rel=1e-6)


def test_rrf_retriever_is_licence_gated(es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "vpn", "embedding": [1.0, 0.0, 0.0]}])
    retriever = {
        "rrf": {
            "retrievers": [
                {"standard": {"query": {"match": {"title": "vpn"}}}},
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
        assert client.info()["cluster_name"] == "fake-cluster"
        assert len(fake.requests) == 3

    with Elasticsearch(fake.url, request_timeout=5, retry_on_status=(429,), max_retries=1) as client:
        fake.fail_next(2)
        with pytest.raises(ApiError) as excinfo:
            client.info()
        assert excinfo.value.meta.status == 429
        assert excinfo.value.error == "es_rejected_execution_exception"
        assert len(fake.requests) == 5


def test_api_key_is_required_when_configured() -> None:
    with FakeElasticsearch(api_key="c2VjcmV0") as server:
        with Elasticsearch(server.url, request_timeout=5) as anonymous:
            with pytest.raises(AuthenticationException) as excinfo:
                anonymous.info()
            assert excinfo.value.error == "security_exception"
            assert "ApiKey" in excinfo.value.meta.headers.get("WWW-Authenticate", "")
        with Elasticsearch(server.url, request_timeout=5, api_key="wrong") as wrong:
            with pytest.raises(AuthenticationException):
                wrong.info()
        with Elasticsearch(server.url, request_timeout=5, api_key="c2VjcmV0") as client:
            assert client.info()["version"]["number"] == "9.1.0"
        assert server.requests[-1].headers["authorization"] == "ApiKey c2VjcmV0"


def test_dense_vectors_never_appear_in_source(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "title": "vpn", "embedding": [0.0, 1.0, 0.0]}])
    hit = es.search(index="docs-v1", query={"match_all": {}})["hits"]["hits"][0]
    assert hit["_source"] == {"title": "vpn"}
    assert es.get(index="docs-v1", id="1")["_source"] == {"title": "vpn"}
    assert es.mget(index="docs-v1", ids=["1"])["docs"][0]["_source"] == {"title": "vpn"}
    assert fake.documents("docs-v1")["1"]["embedding"] == [0.0, 1.0, 0.0]  # stored, just not shown


def test_search_after_paginates_a_sorted_result(es: Elasticsearch) -> None:
    docs = [{"id": f"d{i}", "title": "x", "acl": f"k{i % 2}", "rank": i % 3} for i in range(7)]
    _index(es, "docs-v1", docs)
    sort = [{"rank": "desc"}, {"title.raw": "asc"}, {"acl": "asc"}, "_doc"]
    seen: list[str] = []
    after = None
    while True:
        page = es.search(index="docs-v1", sort=sort, size=3, search_after=after)["hits"]["hits"]
        if not page:
            break
        assert all(hit["_score"] is None for hit in page)
        seen += [hit["_id"] for hit in page]
        after = page[-1]["sort"]
    assert sorted(seen) == sorted(d["_id"] for d in [{"_id": f"d{i}"} for i in range(7)])
    assert len(seen) == len(set(seen)) == 7
    ranks = [int(es.get(index="docs-v1", id=i)["_source"]["rank"]) for i in seen]
    assert ranks == sorted(ranks, reverse=True)

    with pytest.raises(BadRequestError) as excinfo:
        es.search(index="docs-v1", sort=["_id"])
    assert "indices.id_field_data.enabled" in str(excinfo.value.body)
    with pytest.raises(BadRequestError, match="Fielddata is disabled"):
        es.search(index="docs-v1", sort=["title"])


def test_delete_by_query_with_refresh_is_visible_immediately(es: Elasticsearch) -> None:
    _index(es, "docs-v1", [{"id": "1", "acl": "hr"}, {"id": "2", "acl": "hr"}, {"id": "3", "acl": "all"}])
    response = es.delete_by_query(index="docs-v1", query={"term": {"acl": "hr"}}, refresh=True)
    assert (response["deleted"], response["total"], response["failures"]) == (2, 2, [])
    assert es.count(index="docs-v1")["count"] == 1
    assert [d["found"] for d in es.mget(index="docs-v1", ids=["1", "3"])["docs"]] == [False, True]


def test_requests_elasticsearch_would_reject_are_rejected(fake: FakeElasticsearch, es: Elasticsearch) -> None:
    es.indices.create(index="docs-v1", mappings=MAPPINGS)
    with pytest.raises(BadRequestError) as excinfo:
        es.search(index="docs-v1", body={"query": {"match_all": {}}, "colour": "blue"})
    assert excinfo.value.body["error"]["reason"] == "Unknown key for a VALUE_STRING in [colour]."
    with pytest.raises(BadRequestError, match="unknown query"):
        es.search(index="docs-v1", query={"matchh": {"title": "x"}})
    with pytest.raises(BadRequestError, match=r"\[match\] query does not support \[fuzzyness\]"):
        es.search(index="docs-v1", query={"match": {"title": {"query": "x", "fuzzyness": 1}}})
    with pytest.raises(NotFoundError) as excinfo:
        es.search(index="nope", query={"match_all": {}})
    assert excinfo.value.error == "index_not_found_exception"
    with pytest.raises(BadRequestError, match="contains unrecognized parameter"):
        es.perform_request("GET", "/docs-v1/_search", params={"colour": "blue"}, headers={"accept": "application/json"})
    with pytest.raises(ApiError) as excinfo:
        es.perform_request("GET", "/_bulk", headers={"accept": "application/json"})
    assert excinfo.value.meta.status == 405
    with pytest.raises(ApiError) as excinfo:
        es.search(index="docs-v1", aggs={"by_acl": {"terms": {"field": "acl"}}})
    assert excinfo.value.meta.status == 501  # valid Elasticsearch, deliberately not emulated
    assert fake.requests[-1].body == {"aggs": {"by_acl": {"terms": {"field": "acl"}}}}
