"""The `DocumentIndex` contract. Every backend must pass it; add a backend to `backends.BACKENDS` to run it there."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from ragbot.errors import IndexMismatchError
from ragbot.ingestion.chunk import Chunker
from ragbot.ingestion.pipeline import content_key
from ragbot.ports import DocumentIndex, IndexedDocument, IndexInfo, IndexStats
from tests.contract.backends import BACKENDS
from tests.fakes.hash_embedder import HashEmbedder
from tests.unit.builders import document

EMBEDDER = HashEmbedder()
INFO = IndexInfo("hash-bow-64", 64, "md-blocks-1", datetime(2026, 1, 1, tzinfo=UTC))


def put(index: DocumentIndex, doc_id: str, text: str, acl: tuple[str, ...] = ("*",), **fields: object) -> None:
    doc = document(doc_id, text, acl=acl, **fields)
    chunks = Chunker(target_tokens=64, overlap_tokens=8).chunk(doc)
    vectors = EMBEDDER.embed_documents([c.embedding_text() for c in chunks])
    index.upsert(IndexedDocument(doc, f"fp-{doc_id}-{len(text)}", chunks, vectors, content_key(doc)))
    index.refresh()


def seed(index: DocumentIndex) -> None:
    put(index, "vpn.md", "# VPN\n\nInstall GlobalProtect and connect to gp.kestrel.example before using Jira.")
    put(index, "leave.md", "# Leave\n\nEvery employee receives 25 days of annual leave per year.")
    put(index, "bands.md", "# Salary bands\n\nEngineer band E3 pays between 60000 and 80000 euros.", acl=("group:hr",))


def test_keyword_leg_ranks_matching_chunks(index: DocumentIndex) -> None:
    seed(index)
    result = index.search_keyword("How many days of annual leave?", principals=["*"], k=5)
    assert result.chunk_ids[0] == "leave.md#0"
    assert list(result.scores) == sorted(result.scores, reverse=True)
    assert index.search_keyword("the of and", principals=["*"], k=5).chunk_ids == ()  # stopwords only


def test_keyword_leg_stems_and_tolerates_query_syntax(index: DocumentIndex) -> None:
    seed(index)
    assert index.search_keyword('install* "globalprotect" OR (AND)', principals=["*"], k=5).chunk_ids == ("vpn.md#0",)
    assert index.search_keyword("installing", principals=["*"], k=5).chunk_ids == ("vpn.md#0",)


def test_vector_leg_returns_nearest_first(index: DocumentIndex) -> None:
    seed(index)
    result = index.search_vector(EMBEDDER.embed_query("VPN GlobalProtect"), principals=["*"], k=2)
    assert result.chunk_ids[0] == "vpn.md#0"
    assert len(result.chunk_ids) == 2
    assert result.scores[0] >= result.scores[1]


@pytest.mark.parametrize("leg", ["keyword", "vector"])
def test_both_legs_filter_by_principals(index: DocumentIndex, leg: str) -> None:
    seed(index)

    def search(principals: list[str]) -> tuple[str, ...]:
        if leg == "keyword":
            return index.search_keyword("salary band engineer euros", principals=principals, k=10).chunk_ids
        return index.search_vector(EMBEDDER.embed_query("salary band"), principals=principals, k=10).chunk_ids

    assert "bands.md#0" not in search(["*"])
    assert "bands.md#0" not in search(["group:finance", "user:bob@example.com"])
    assert "bands.md#0" in search(["*", "group:hr"])
    assert search(["group:hr"]) == ("bands.md#0",)
    assert search([]) == ()


def test_chunks_are_fetched_with_their_document_fields(index: DocumentIndex) -> None:
    put(index, "vpn.md", "# VPN\n\nConnect.", title="VPN guide", url="https://wiki/vpn", acl=("group:it",))
    chunk = index.chunks(["vpn.md#0", "missing#9"])["vpn.md#0"]
    assert (chunk.title, chunk.url, chunk.acl, chunk.heading_path, chunk.source) == (
        "VPN guide",
        "https://wiki/vpn",
        ("group:it",),
        "VPN",
        "test",
    )
    assert chunk.updated_at == datetime(2026, 1, 1, tzinfo=UTC)
    assert index.chunks([]) == {}


def test_upsert_replaces_every_chunk_of_a_document(index: DocumentIndex) -> None:
    put(index, "doc.md", "\n\n".join(f"## Part {i}\n\nParagraph {i} about zebras." for i in range(5)))
    assert index.stats().chunks == 5
    put(index, "doc.md", "# Short\n\nNow only about giraffes.")
    assert index.stats().chunks == 1
    assert index.search_keyword("zebras", principals=["*"], k=10).chunk_ids == ()
    assert index.search_vector(EMBEDDER.embed_query("zebras paragraph"), principals=["*"], k=10).chunk_ids == (
        "doc.md#0",
    )


def test_delete_removes_documents_from_both_legs_at_once(index: DocumentIndex) -> None:
    seed(index)
    assert index.delete(["vpn.md", "never-existed.md"]) == 1
    assert index.search_keyword("GlobalProtect", principals=["*"], k=10).chunk_ids == ()
    assert "vpn.md#0" not in index.search_vector(EMBEDDER.embed_query("VPN"), principals=["*"], k=10).chunk_ids
    assert set(index.documents()) == {"leave.md", "bands.md"}
    assert index.stats().documents == 2


def test_documents_report_fingerprints_by_source(index: DocumentIndex) -> None:
    put(index, "a.md", "alpha", source="wiki")
    put(index, "b.md", "beta", source="drive")
    assert set(index.documents(source="wiki")) == {"a.md"}
    stored = index.documents()["b.md"]
    assert (stored.source, stored.fingerprint, stored.chunks) == ("drive", "fp-b.md-4", 1)


def test_binding_to_another_model_is_refused(index: DocumentIndex) -> None:
    index.bind(INFO)  # same model: fine
    with pytest.raises(IndexMismatchError, match="hash-bow-64"):
        index.bind(IndexInfo("all-MiniLM-L6-v2", 384, "md-blocks-1", datetime.now(tz=UTC)))
    assert index.info() == INFO


def test_vectors_of_the_wrong_shape_are_rejected(index: DocumentIndex) -> None:
    doc = document("x.md", "text")
    chunks = Chunker().chunk(doc)
    with pytest.raises(ValueError, match="shape"):
        index.upsert(IndexedDocument(doc, "fp", chunks, np.zeros((len(chunks), 3), dtype=np.float32)))
    with pytest.raises(IndexMismatchError):
        seed(index)
        index.search_vector(np.zeros(3, dtype=np.float32), principals=["*"], k=1)


@pytest.mark.parametrize("backend", sorted(BACKENDS))
def test_data_persists_and_writes_from_another_connection_are_seen(backend: str, tmp_path: Path) -> None:
    reader = BACKENDS[backend](tmp_path)
    writer = BACKENDS[backend](tmp_path)
    writer.bind(INFO)
    seed(writer)
    assert reader.search_vector(EMBEDDER.embed_query("VPN"), principals=["*"], k=1).chunk_ids == ("vpn.md#0",)
    writer.delete(["vpn.md"])
    assert "vpn.md#0" not in reader.search_vector(EMBEDDER.embed_query("VPN"), principals=["*"], k=5).chunk_ids
    writer.close()
    reader.close()
    reopened = BACKENDS[backend](tmp_path)
    assert reopened.info() == INFO
    assert reopened.stats().documents == 2
    reopened.close()


def test_linked_copies_are_hidden_from_both_legs_until_unlinked(index: DocumentIndex) -> None:
    seed(index)
    put(index, "copy/vpn.md", "# VPN\n\nInstall GlobalProtect and connect to gp.kestrel.example before using Jira.")
    assert "copy/vpn.md#0" in index.search_keyword("GlobalProtect", principals=["*"], k=5).chunk_ids

    index.link({"copy/vpn.md": "vpn.md"})
    assert index.search_keyword("GlobalProtect", principals=["*"], k=5).chunk_ids == ("vpn.md#0",)
    assert "copy/vpn.md#0" not in index.search_vector(EMBEDDER.embed_query("VPN"), principals=["*"], k=5).chunk_ids
    stored = index.documents()
    assert (stored["copy/vpn.md"].duplicate_of, stored["vpn.md"].duplicate_of) == ("vpn.md", "")
    assert stored["copy/vpn.md"].content_key == stored["vpn.md"].content_key != ""

    index.link({"copy/vpn.md": ""})
    assert "copy/vpn.md#0" in index.search_keyword("GlobalProtect", principals=["*"], k=5).chunk_ids
    assert index.documents()["copy/vpn.md"].duplicate_of == ""


def test_upsert_many_stores_a_batch_and_a_rewrite_drops_stale_chunks(index: DocumentIndex) -> None:
    def item(doc_id: str, text: str) -> IndexedDocument:
        doc = document(doc_id, text)
        chunks = Chunker(target_tokens=64, overlap_tokens=8).chunk(doc)
        vectors = EMBEDDER.embed_documents([c.embedding_text() for c in chunks])
        return IndexedDocument(doc, f"fp-{len(text)}", chunks, vectors, content_key(doc))

    long = "\n\n".join(f"## Part {i}\n\nParagraph {i} about zebras." for i in range(4))
    assert index.upsert_many([item("a.md", long), item("b.md", "# B\n\nOkapis.")]) == {}
    index.refresh()
    assert index.stats() == IndexStats(documents=2, chunks=5)
    assert index.upsert_many([item("a.md", "# A\n\nOnly giraffes now.")]) == {}
    index.refresh()
    assert index.stats() == IndexStats(documents=2, chunks=2)
    assert index.chunks(["a.md#1", "a.md#0"]).keys() == {"a.md#0"}
    assert index.search_keyword("zebras", principals=["*"], k=10).chunk_ids == ()
