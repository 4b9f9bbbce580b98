"""Who may read an ingested file does not depend on where the ingest started (issue 17: restricted documents that
became public when a sub-folder or a single file was ingested without the sidecar above it).

The sidecar at `corpus/` says `hr/* → group:hr`. Ingesting `corpus/hr` or `corpus/hr/salary-bands.md` used to read
no sidecar at all (exit 0, the HR documents answered everyone). Now every sidecar in every folder above a file
governs it; a deeper one narrows, never widens; doc_ids stay relative to the folder given (stable for an operator
who re-ingests the same folder).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.cli import main
from ragbot.errors import InputError
from ragbot.ingestion import Chunker, LoadFailure, Source, ingest, open_source
from ragbot.models import Document
from tests.fakes.hash_embedder import HashEmbedder

HR_RULE = '[[rule]]\npattern = "hr/*"\nprincipals = ["group:hr"]\n'


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    (root / "hr" / "pay").mkdir(parents=True)
    (root / "pub").mkdir()
    (root / ".ragbot-acl.toml").write_text('default = ["*"]\n' + HR_RULE)
    (root / "hr" / "salary-bands.md").write_text("# Salary bands\n\nBand 4 pays 95 thousand.\n")
    (root / "hr" / "pay" / "bonus.md").write_text("# Bonus\n\nThe bonus pool is 4.5 percent.\n")
    (root / "pub" / "welcome.md").write_text("# Welcome\n\nCoffee is on the second floor.\n")
    return root


def acls(source: Source) -> dict[str, tuple[str, ...]]:
    return {item.doc_id: item.acl for item in source.items() if isinstance(item, Document)}


def failures(source: Source) -> dict[str, str]:
    return {item.doc_id: item.reason for item in source.items() if isinstance(item, LoadFailure)}


def test_a_sub_folder_or_a_single_file_is_governed_by_the_sidecar_above(corpus: Path) -> None:
    assert acls(open_source(corpus)) == {
        "hr/pay/bonus.md": ("group:hr",),
        "hr/salary-bands.md": ("group:hr",),
        "pub/welcome.md": ("*",),
    }
    # doc_ids stay relative to the folder given; the readers are the same as from the corpus root.
    assert acls(open_source(corpus / "hr")) == {"pay/bonus.md": ("group:hr",), "salary-bands.md": ("group:hr",)}
    assert acls(open_source(corpus / "hr" / "pay")) == {"bonus.md": ("group:hr",)}
    assert acls(open_source(corpus / "hr" / "salary-bands.md")) == {"salary-bands.md": ("group:hr",)}
    # --acl is for files no sidecar has a say on: it never overrides a rule above.
    assert acls(open_source(corpus / "hr", acl=("*",))) == {
        "pay/bonus.md": ("group:hr",),
        "salary-bands.md": ("group:hr",),
    }


def test_a_jsonl_export_below_a_sidecar_is_governed_by_it(corpus: Path) -> None:
    export = corpus / "hr" / "export.jsonl"
    export.write_text(json.dumps({"id": "kb-1", "text": "Band 5 pays 110 thousand."}) + "\n")
    (doc,) = open_source(export).items()
    assert isinstance(doc, Document) and doc.acl == ("group:hr",)


def test_re_ingesting_the_same_sub_folder_is_a_no_op_with_the_same_ids_and_name(corpus: Path, tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "store")
    try:
        first = ingest([open_source(corpus / "hr")], index=index, embedder=HashEmbedder(), chunker=Chunker())
        again = ingest([open_source(corpus / "hr")], index=index, embedder=HashEmbedder(), chunker=Chunker())
        assert (first.added, first.failed, again.unchanged, again.added, again.updated) == (2, [], 2, 0, 0)
        stored = index.documents()
        assert set(stored) == {"pay/bonus.md", "salary-bands.md"}
        assert {d.source for d in stored.values()} == {open_source(corpus / "hr").name}
        assert index.search_keyword("band pays thousand", principals=["*"], k=5).chunk_ids == ()
        assert index.search_keyword("band pays thousand", principals=["group:hr"], k=5).chunk_ids
    finally:
        index.close()


def test_a_deeper_sidecar_narrows_what_one_above_allows_but_never_widens_it(corpus: Path) -> None:
    # hr/ tries to open itself up; pub/ closes one file.
    (corpus / "hr" / ".ragbot-acl.toml").write_text('default = ["*"]\n[[rule]]\npattern = "*"\nprincipals = ["*"]\n')
    (corpus / "pub" / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "legal.md"\nprincipals = ["group:legal"]\n')
    (corpus / "pub" / "legal.md").write_text("# Legal\n\nThe settlement is confidential.\n")
    assert set(acls(open_source(corpus / "hr")).values()) == {("group:hr",)}
    assert acls(open_source(corpus / "hr" / "salary-bands.md")) == {"salary-bands.md": ("group:hr",)}
    assert acls(open_source(corpus)) == {
        "hr/pay/bonus.md": ("group:hr",),
        "hr/salary-bands.md": ("group:hr",),
        "pub/legal.md": ("group:legal",),
        "pub/welcome.md": ("*",),
    }
    assert acls(open_source(corpus / "pub"))["legal.md"] == ("group:legal",)


def test_sidecars_that_leave_nobody_fail_that_file_and_the_rest_is_ingested(corpus: Path) -> None:
    (corpus / "hr" / "pay" / ".ragbot-acl.toml").write_text('default = ["group:eng"]\n')
    source = open_source(corpus)
    assert "pay/bonus.md" not in acls(source) and "hr/salary-bands.md" in acls(source)
    reason = failures(source)["hr/pay/bonus.md"]
    assert "leave nobody who may read it" in reason and str(corpus / ".ragbot-acl.toml") in reason


def test_an_invalid_sidecar_below_fails_the_files_it_governs_only(corpus: Path) -> None:
    (corpus / "hr" / "pay" / ".ragbot-acl.toml").write_text("default = [")
    source = open_source(corpus)
    assert set(acls(source)) == {"hr/salary-bands.md", "pub/welcome.md"}
    (reason,) = failures(source).values()
    assert "cannot read ACL sidecar" in reason and "fix or remove it" in reason and "\n" not in reason


def test_an_invalid_sidecar_above_stops_the_ingest_with_one_line_naming_it(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    (corpus / ".ragbot-acl.toml").write_text('owners = ["x"]\n')
    with pytest.raises(InputError, match="unknown keys"):
        open_source(corpus / "hr" / "salary-bands.md")
    assert main(["ingest", str(corpus / "hr")]) == 1
    (line,) = capsys.readouterr().err.strip().splitlines()
    assert line.startswith("ragbot: error: ") and str(corpus / ".ragbot-acl.toml") in line
    assert "fix or remove it" in line and str(corpus / "hr") in line
