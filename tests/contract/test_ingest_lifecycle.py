"""Ingestion over any `DocumentIndex`: copies linked to one canonical document, and the deletion guarantee."""

from __future__ import annotations

from pathlib import Path

from ragbot.ingestion import Chunker, forget, ingest, open_source
from ragbot.ports import DocumentIndex
from tests.contract.test_document_index import EMBEDDER

VPN = "# VPN\n\nInstall GlobalProtect and connect to gp.kestrel.example before using Jira.\n"


def run(index: DocumentIndex, root: Path, **options: object):  # type: ignore[no-untyped-def]
    return ingest([open_source(root)], index=index, embedder=EMBEDDER, chunker=Chunker(), **options)  # type: ignore[arg-type]


def visible(index: DocumentIndex, text: str = "GlobalProtect") -> set[str]:
    keyword = index.search_keyword(text, principals=["*"], k=10).chunk_ids
    dense = index.search_vector(EMBEDDER.embed_query(text), principals=["*"], k=10).chunk_ids
    return {c.split("#")[0] for c in keyword} | {c.split("#")[0] for c in dense if "vpn" in c}


def test_copies_are_linked_to_one_canonical_document(index: DocumentIndex, tmp_path: Path) -> None:
    root = tmp_path / "wiki"
    (root / "archive").mkdir(parents=True)
    (root / "vpn.md").write_text(VPN)
    (root / "archive" / "vpn-copy.md").write_text(VPN.replace("Install", "install  "))  # case and spacing differ
    (root / "leave.md").write_text("# Leave\n\n25 days.\n")

    report = run(index, root)
    canonical = "archive/vpn-copy.md"  # the smallest doc_id when none was canonical before
    assert report.duplicates == [("vpn.md", canonical)]
    assert visible(index) == {canonical}
    assert index.documents()["vpn.md"].duplicate_of == canonical

    # Re-ingesting changes nothing, and reports no new link.
    again = run(index, root)
    assert (again.unchanged, again.duplicates) == (3, [])


def test_a_copy_with_other_readers_is_not_linked(index: DocumentIndex, tmp_path: Path) -> None:
    root = tmp_path / "wiki"
    (root / "hr").mkdir(parents=True)
    (root / "vpn.md").write_text(VPN)
    (root / "hr" / "vpn.md").write_text(VPN)
    (root / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/*"\nprincipals = ["group:hr"]\n')
    report = run(index, root)
    assert report.duplicates == []
    assert {d.duplicate_of for d in index.documents().values()} == {""}


def test_a_changed_canonical_unlinks_its_copy(index: DocumentIndex, tmp_path: Path) -> None:
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "a.md").write_text(VPN)
    (root / "b.md").write_text(VPN)
    run(index, root)
    assert visible(index) == {"a.md"}
    (root / "a.md").write_text("# VPN\n\nThe VPN is retired; use GlobalProtect Zero Trust instead.\n")
    run(index, root)
    assert visible(index) == {"a.md", "b.md"}
    assert {d.duplicate_of for d in index.documents().values()} == {""}


def test_forget_removes_a_document_everywhere_at_once_and_promotes_its_copy(
    index: DocumentIndex, tmp_path: Path
) -> None:
    root = tmp_path / "wiki"
    root.mkdir()
    (root / "a.md").write_text(VPN)
    (root / "b.md").write_text(VPN)
    (root / "leave.md").write_text("# Leave\n\n25 days of GlobalProtect-free holiday.\n")
    run(index, root)

    report = forget(["a.md", "nope.md"], index=index)
    assert (report.removed, report.missing, report.promoted) == (["a.md"], ["nope.md"], ["b.md"])
    # The deletion guarantee: no leg, no fetch, no bookkeeping still knows a.md the moment forget returns.
    assert not any(
        c.startswith("a.md#") for c in index.search_keyword("GlobalProtect", principals=["*"], k=50).chunk_ids
    )
    dense = index.search_vector(EMBEDDER.embed_query(VPN), principals=["*"], k=50).chunk_ids
    assert not any(c.startswith("a.md#") for c in dense)
    assert index.chunks(["a.md#0"]) == {}
    assert "a.md" not in index.documents()
    assert visible(index) >= {"b.md"}  # the copy answers now

    report = forget(["leave.md"], index=index)
    assert report.promoted == []
    assert index.search_keyword("holiday", principals=["*"], k=5).chunk_ids == ()
