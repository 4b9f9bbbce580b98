"""What only the Elasticsearch backend does: versions behind an alias, the requests it sends, licences, retries, auth.

All of it through the real `elasticsearch` client against the validating fake server (tests/fakes/elasticsearch.py).
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ragbot.backends.elasticsearch import ElasticsearchIndex, connect
from ragbot.errors import ConfigurationError, IndexMismatchError, RetryableError
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.ports import Vectors
from ragbot.retrieval.retriever import Retriever
from ragbot.settings import ElasticsearchSettings, RetrievalSettings
from tests.contract.backends import es_settings
from tests.contract.test_document_index import EMBEDDER, INFO, seed
from tests.fakes.elasticsearch import FakeElasticsearch
from tests.fakes.hash_embedder import HashEmbedder


@pytest.fixture
def fake() -> Iterator[FakeElasticsearch]:
    with FakeElasticsearch() as server:
        yield server


def es_index(fake: FakeElasticsearch, tmp_path: Path, **overrides: object) -> ElasticsearchIndex:
    settings = es_settings(fake.url, tmp_path, **overrides)
    return ElasticsearchIndex(connect(settings), settings=settings)


def wiki(tmp_path: Path, pages: dict[str, str]) -> Path:
    root = tmp_path / "wiki"
    root.mkdir(exist_ok=True)
    for name, text in pages.items():
        (root / name).write_text(text)
    return root


def run(index: ElasticsearchIndex, root: Path, **options: Any):  # type: ignore[no-untyped-def]
    return ingest([open_source(root)], index=index, embedder=EMBEDDER, chunker=Chunker(), **options)


def searches(fake: FakeElasticsearch) -> list[dict[str, Any]]:
    return [r.body for r in fake.requests if r.path.endswith("/_search") and isinstance(r.body, dict)]


def test_first_bind_creates_version_1_behind_the_alias(fake: FakeElasticsearch, tmp_path: Path) -> None:
    index = es_index(fake, tmp_path)
    index.bind(INFO)
    alias = index.name
    (version,) = index.versions()
    assert (version.version, version.name, version.live) == (1, f"{alias}-v1", True)
    mapping = fake.indices()[f"{alias}-v1"].mappings
    assert mapping["dynamic"] == "strict"
    assert mapping["_meta"]["embedding_model"] == "hash-bow-64"
    embedding = mapping["properties"]["embedding"]
    assert (embedding["type"], embedding["dims"], embedding["similarity"]) == ("dense_vector", 64, "cosine")
    assert embedding["index_options"]["type"] == "int8_hnsw"
    assert mapping["properties"]["text"]["analyzer"] == "english"
    index.close()


def test_both_legs_carry_the_same_acl_filter_and_knn_explores_ten_times_k(
    fake: FakeElasticsearch, tmp_path: Path
) -> None:
    index = es_index(fake, tmp_path)
    index.bind(INFO)
    seed(index)
    Retriever(embedder=EMBEDDER, index=index, settings=RetrievalSettings(candidates=20)).retrieve(
        "salary band", principals=["group:hr", "*"]
    )
    bodies = searches(fake)[-2:]
    keyword = next(b for b in bodies if "query" in b)
    knn = next(b for b in bodies if "knn" in b)["knn"]
    assert knn["k"] == 20 and knn["num_candidates"] == 200
    assert knn["filter"] == keyword["query"]["bool"]["filter"]
    assert {"terms": {"acl": ["group:hr", "*"]}} in knn["filter"]
    assert "multi_match" not in repr(knn)  # the keyword query is never the kNN pre-filter
    assert keyword["query"]["bool"]["must"][0]["multi_match"]["fields"] == ["title^2", "heading_path^1.5", "text"]
    index.close()


def test_a_reindex_builds_the_next_version_and_switches_atomically(fake: FakeElasticsearch, tmp_path: Path) -> None:
    root = wiki(tmp_path, {"vpn.md": "# VPN\n\nUse GlobalProtect.\n", "leave.md": "# Leave\n\n25 days.\n"})
    index = es_index(fake, tmp_path, keep_versions=1)
    run(index, root)
    (root / "vpn.md").write_text("# VPN\n\nUse WireGuard now.\n")

    report = run(index, root, reindex=True)
    assert (report.version, report.activated, report.added) == (2, True, 2)
    assert [(v.version, v.live, v.documents) for v in index.versions()] == [(1, False, 2), (2, True, 2)]
    assert index.search_keyword("WireGuard", principals=["*"], k=5).chunk_ids == ("vpn.md#0",)
    settings = fake.indices()[f"{index.name}-v2"].settings
    assert "index.refresh_interval" not in settings  # the bulk-load setting was reset to the default
    assert settings["index.number_of_replicas"] == "0"  # the configured replicas (0 in tests)

    assert index.activate(1) == []  # rollback
    assert index.search_keyword("GlobalProtect", principals=["*"], k=5).chunk_ids == ("vpn.md#0",)
    assert index.activate(2) == []

    run(index, root, reindex=True)  # v3 goes live; of the old ones only the newest (v2) is kept
    assert [v.version for v in index.versions()] == [2, 3]
    index.close()


def test_a_reindex_with_failures_does_not_go_live(fake: FakeElasticsearch, tmp_path: Path) -> None:
    root = wiki(tmp_path, {"vpn.md": "# VPN\n\nUse GlobalProtect.\n"})
    index = es_index(fake, tmp_path)
    run(index, root)
    (root / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    report = run(index, root, reindex=True)
    assert (report.version, report.activated, len(report.failed)) == (2, False, 1)
    assert [v.live for v in index.versions()] == [True, False]
    index.close()


def test_a_reindex_warns_about_sources_it_does_not_carry_over(fake: FakeElasticsearch, tmp_path: Path) -> None:
    index = es_index(fake, tmp_path)
    carried = wiki(tmp_path, {"vpn.md": "# VPN\n\nUse GlobalProtect.\n"})
    run(index, carried)
    other = tmp_path / "drive"
    other.mkdir()
    (other / "a.md").write_text("# A\n\nText.\n")
    report = ingest([open_source(other)], index=index, embedder=EMBEDDER, chunker=Chunker(), reindex=True)
    assert report.not_carried == [open_source(carried).name]
    index.close()


def test_another_embedding_model_is_refused_until_a_reindex(fake: FakeElasticsearch, tmp_path: Path) -> None:
    root = wiki(tmp_path, {"vpn.md": "# VPN\n\nUse GlobalProtect.\n"})
    index = es_index(fake, tmp_path)
    run(index, root)
    wider = HashEmbedder(dimension=32, name="hash-bow-32")
    with pytest.raises(IndexMismatchError, match="ragbot ingest --reindex"):
        ingest([open_source(root)], index=index, embedder=wider, chunker=Chunker())
    report = ingest([open_source(root)], index=index, embedder=wider, chunker=Chunker(), reindex=True)
    assert report.activated
    info = index.info()
    assert info is not None and info.dimension == 32
    index.close()


def test_server_side_rrf_needs_a_licence_and_then_fuses_in_one_request(tmp_path: Path) -> None:
    with FakeElasticsearch(licence="basic") as basic:
        index = es_index(basic, tmp_path, server_side_rrf=True)
        index.bind(INFO)
        seed(index)
        retriever = Retriever(embedder=EMBEDDER, index=index, settings=RetrievalSettings())
        with pytest.raises(ConfigurationError, match="SERVER_SIDE_RRF"):
            retriever.retrieve("annual leave", principals=["*"])
        index.close()
    with FakeElasticsearch(licence="trial") as trial:
        index = es_index(trial, tmp_path, server_side_rrf=True)
        index.bind(INFO)
        seed(index)
        passages = Retriever(embedder=EMBEDDER, index=index, settings=RetrievalSettings()).retrieve(
            "annual leave", principals=["*"]
        )
        assert passages.passages[0].chunk.doc_id == "leave.md"
        assert set(passages.passages[0].legs) == {"rrf"}
        assert "retriever" in searches(trial)[-1]
        index.close()


def test_overload_is_retried_with_backoff_and_then_reported_as_retryable(
    fake: FakeElasticsearch, tmp_path: Path
) -> None:
    index = es_index(fake, tmp_path, max_retries=2)
    index.bind(INFO)
    seed(index)
    before = len(fake.requests)
    fake.fail_next(2, status=429)
    assert index.search_keyword("annual leave", principals=["*"], k=3).chunk_ids[0] == "leave.md#0"
    assert len(fake.requests) - before == 3  # two refusals, then the answer

    fake.fail_next(3, status=503)
    with pytest.raises(RetryableError, match="503"):
        index.search_keyword("annual leave", principals=["*"], k=3)
    index.close()


def test_credentials_are_sent_and_a_refusal_is_a_configuration_error(tmp_path: Path) -> None:
    with FakeElasticsearch(api_key="c2VjcmV0") as secured:
        good = es_index(secured, tmp_path, api_key="c2VjcmV0")
        good.bind(INFO)
        assert secured.requests[-1].headers.get("Authorization", secured.requests[-1].headers.get("authorization"))
        good.close()
        bad = es_index(secured, tmp_path, api_key="d3Jvbmc=")
        with pytest.raises(ConfigurationError, match="refused the credentials"):
            bad.info()
        bad.close()


def _certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throw-away CA and a certificate it signs for 127.0.0.1, made with the openssl command line."""

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    (folder / "san.cnf").write_text("subjectAltName=IP:127.0.0.1\n")
    openssl(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
        "-days",
        "2",
        "-subj",
        "/CN=ragbot test CA",
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "node.key", "-out", "node.csr", "-subj", "/CN=es")
    openssl(
        "x509",
        "-req",
        "-in",
        "node.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "node.pem",
        "-days",
        "2",
        "-extfile",
        "san.cnf",
    )
    return folder / "ca.pem", folder / "node.pem", folder / "node.key"


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command line")
def test_tls_is_verified_against_the_configured_ca(tmp_path: Path) -> None:
    ca, cert, key = _certificates(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    with FakeElasticsearch(tls=context) as cluster:
        assert cluster.url.startswith("https://")
        trusted = es_index(cluster, tmp_path, ca_file=str(ca))
        trusted.bind(INFO)
        assert trusted.versions()[0].live
        trusted.close()
        untrusted = es_index(cluster, tmp_path, max_retries=0)
        with pytest.raises(ConfigurationError, match="CA_FILE"):
            untrusted.info()
        untrusted.close()


def test_an_unreachable_cluster_is_a_retryable_error(tmp_path: Path) -> None:
    index = es_index_at("http://127.0.0.1:9", tmp_path)
    with pytest.raises(RetryableError, match="cannot reach Elasticsearch"):
        index.stats()
    index.close()


def es_index_at(url: str, tmp_path: Path) -> ElasticsearchIndex:
    settings = es_settings(url, tmp_path, max_retries=0, request_timeout_s=2)
    return ElasticsearchIndex(Elasticsearch(url, max_retries=0, request_timeout=2), settings=settings)


def test_settings_are_validated() -> None:
    with pytest.raises(ValueError, match="http"):
        ElasticsearchSettings(url="es.internal:9200")
    with pytest.raises(ValueError, match="not both"):
        ElasticsearchSettings.model_validate({"url": "http://x", "api_key": "k", "username": "u", "password": "p"})
    with pytest.raises(ValueError, match="lowercase"):
        ElasticsearchSettings(alias="Ragbot")
    with pytest.raises(ConfigurationError, match="CA_FILE"):
        connect(ElasticsearchSettings.model_validate({"url": "https://x:9200", "ca_file": "/nonexistent/ca.pem"}))


class ZeroForMarkedTexts(HashEmbedder):
    """A model that yields a zero vector for one text, which Elasticsearch's cosine field refuses per document."""

    def embed_documents(self, texts: Sequence[str]) -> Vectors:
        vectors = super().embed_documents(texts)
        vectors[[i for i, text in enumerate(texts) if "UNEMBEDDABLE" in text]] = 0.0
        return vectors


def test_a_document_the_cluster_refuses_is_reported_and_retried_next_time(
    fake: FakeElasticsearch, tmp_path: Path
) -> None:
    root = wiki(tmp_path, {"good.md": "# Good\n\nFine text.\n", "bad.md": "# Bad\n\nUNEMBEDDABLE text.\n"})
    index = es_index(fake, tmp_path, bulk_chunks=1)  # one action per bulk request: failures stay per document
    embedder = ZeroForMarkedTexts()
    report = ingest([open_source(root)], index=index, embedder=embedder, chunker=Chunker())
    assert [doc_id for doc_id, _ in report.failed] == ["bad.md"]
    assert "zero magnitude" in report.failed[0][1]
    stored = index.documents()
    assert stored["good.md"].fingerprint and stored["bad.md"].fingerprint == ""  # not mistaken for unchanged
    again = ingest([open_source(root)], index=index, embedder=embedder, chunker=Chunker())
    assert (again.unchanged, again.updated, [d for d, _ in again.failed]) == (1, 1, ["bad.md"])
    index.close()
