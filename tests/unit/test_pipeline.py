from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.errors import InputError
from ragbot.ingestion import Chunker, ingest, open_source
from tests.fakes.hash_embedder import HashEmbedder
from tests.fakes.pdf import make_pdf


def run(root: Path, store: Path, **options: object):  # type: ignore[no-untyped-def]
    index = EmbeddedIndex(store)
    try:
        source = open_source(root, name=options.pop("source", None), acl=options.pop("acl", None))  # type: ignore[arg-type]
        report = ingest([source], index=index, embedder=HashEmbedder(), chunker=Chunker(), **options)  # type: ignore[arg-type]
        return report, index.documents(), index.stats()
    finally:
        index.close()


@pytest.fixture
def docs(tmp_path: Path) -> Path:
    root = tmp_path / "handbook"
    (root / "hr").mkdir(parents=True)
    (root / "hr" / "leave.md").write_text("# Leave\n\n25 days a year.\n")
    (root / "it.txt").write_text("IT\n\nCall the help desk on 4357.\n")
    (root / "policy.pdf").write_bytes(make_pdf(["Claims within 30 days."], title="Expenses"))
    (root / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/*"\nprincipals = ["group:hr"]\n')
    return root


def test_first_ingest_adds_everything_with_acls_and_source(docs: Path, tmp_path: Path) -> None:
    report, stored, stats = run(docs, tmp_path / "store")
    assert (report.added, report.updated, report.unchanged, report.failed) == (3, 0, 0, [])
    assert set(stored) == {"hr/leave.md", "it.txt", "policy.pdf"}
    assert {d.source for d in stored.values()} == {open_source(docs).name}
    assert stats.chunks == report.chunks == 3
    index = EmbeddedIndex(tmp_path / "store")
    assert index.chunks(["hr/leave.md#0"])["hr/leave.md#0"].acl == ("group:hr",)
    index.close()


def test_reingesting_unchanged_files_is_a_no_op(docs: Path, tmp_path: Path) -> None:
    run(docs, tmp_path / "store")
    report, _, _ = run(docs, tmp_path / "store")
    assert (report.added, report.updated, report.unchanged, report.chunks) == (0, 0, 3, 0)


def test_changed_content_or_acl_is_reindexed(docs: Path, tmp_path: Path) -> None:
    run(docs, tmp_path / "store")
    (docs / "it.txt").write_text("IT\n\nCall the help desk on 4358.\n")
    report, _, _ = run(docs, tmp_path / "store")
    assert (report.updated, report.unchanged) == (1, 2)
    report, _, _ = run(docs, tmp_path / "store", acl=("group:staff",))
    assert report.updated == 2  # it.txt and policy.pdf take the new default; hr/ keeps its rule


def test_prune_removes_documents_whose_files_are_gone(docs: Path, tmp_path: Path) -> None:
    run(docs, tmp_path / "store")
    (docs / "it.txt").unlink()
    report, stored, _ = run(docs, tmp_path / "store")
    assert report.removed == 0 and "it.txt" in stored  # only with --prune
    report, stored, stats = run(docs, tmp_path / "store", prune=True)
    assert report.removed == 1
    assert set(stored) == {"hr/leave.md", "policy.pdf"}
    assert stats.chunks == 2


def test_a_bad_file_is_reported_and_skipped_and_keeps_its_previous_version(docs: Path, tmp_path: Path) -> None:
    run(docs, tmp_path / "store")
    (docs / "policy.pdf").write_bytes(b"%PDF-1.4 truncated")
    (docs / "new.md").write_text("# New\n\nBrand new page.\n")
    report, stored, _ = run(docs, tmp_path / "store", prune=True)
    assert [doc_id for doc_id, _ in report.failed] == ["policy.pdf"]
    assert "unreadable PDF" in report.failed[0][1]
    assert report.added == 1
    assert "policy.pdf" in stored  # not pruned: the file exists, it just failed to load this time


def test_the_same_doc_id_from_another_source_is_refused(docs: Path, tmp_path: Path) -> None:
    run(docs, tmp_path / "store")
    report, stored, _ = run(docs, tmp_path / "store", source="other")
    assert len(report.failed) == 3
    assert f"already ingested from source '{open_source(docs).name}'" in report.failed[0][1]
    assert {d.source for d in stored.values()} == {open_source(docs).name}


def test_a_missing_root_or_bad_sidecar_fails_before_anything_is_written(docs: Path, tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        run(tmp_path / "nope", tmp_path / "store")
    (docs / ".ragbot-acl.toml").write_text("default = 'everyone'\n")
    with pytest.raises(InputError, match="non-empty list"):
        run(docs, tmp_path / "store")
    index = EmbeddedIndex(tmp_path / "store")
    assert index.documents() == {}
    index.close()


def test_a_single_file_can_be_ingested(docs: Path, tmp_path: Path) -> None:
    report, stored, _ = run(docs / "it.txt", tmp_path / "store")
    assert report.added == 1
    assert list(stored) == ["it.txt"]
