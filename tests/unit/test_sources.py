"""Folder sources and `open_source`: what each source type yields, and the checks shared by all of them."""

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import load_acl_rules
from ragbot.ingestion.load import discover, load_document
from ragbot.ingestion.sources import FolderSource, GitFolderSource, JsonlSource, LoadFailure, Source, open_source
from ragbot.models import Document
from tests.fakes.pdf import make_pdf


def documents(source: Source) -> dict[str, Document]:
    return {item.doc_id: item for item in source.items() if isinstance(item, Document)}


def failures(source: Source) -> dict[str, str]:
    return {item.doc_id: item.reason for item in source.items() if isinstance(item, LoadFailure)}


@pytest.fixture
def handbook(tmp_path: Path) -> Path:
    root = tmp_path / "handbook"
    (root / "hr" / "pay").mkdir(parents=True)
    (root / "hr" / "leave.md").write_text("# Leave\n\n25 days a year.\n")
    (root / "hr" / "pay" / "bands.md").write_text("# Pay bands\n\nBand A.\n")
    (root / "it help.txt").write_text("IT\n\nCall the help desk on 4357.\n")
    (root / "policy.pdf").write_bytes(make_pdf(["Claims within 30 days."], title="Expenses"))
    (root / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    (root / "wiki.md").write_text("---\nurl: https://wiki.example/own\n---\n# Wiki\n\nText.\n")
    (root / ".ragbot-acl.toml").write_text(
        'default = ["group:staff"]\n'
        '[[rule]]\npattern = "hr/pay/*"\nprincipals = ["group:hr"]\n'
        '[[rule]]\npattern = "hr/*"\nprincipals = ["group:people"]\n'
    )
    return root


# --- FolderSource ---------------------------------------------------------------------------------------------------


def test_folder_source_reproduces_the_folder_ingest_of_before(handbook: Path) -> None:
    # What pipeline.ingest did per root: sidecar rules, discover, load_document, a failure per DocumentError.
    source = FolderSource(handbook)
    # Named after the folder, with a hash of its path: two folders called "handbook" are two sources.
    assert re.fullmatch(r"handbook-[0-9a-f]{8}", source.name) and source.legacy_name == "handbook"
    expected: list[Document | LoadFailure] = []
    for file in discover(handbook, acl=load_acl_rules(handbook)):
        try:
            expected.append(load_document(file, source=source.name))
        except DocumentError as err:
            expected.append(LoadFailure(err.path, str(err)))
    assert list(source.items()) == expected
    assert [item.doc_id for item in expected] == [
        "broken.pdf",
        "hr/leave.md",
        "hr/pay/bands.md",
        "it help.txt",
        "policy.pdf",
        "wiki.md",
    ]


def test_folder_source_applies_the_sidecar_and_reports_failures(handbook: Path) -> None:
    source = FolderSource(handbook, name="staff-handbook")
    docs = documents(source)
    assert {doc_id: doc.acl for doc_id, doc in docs.items()} == {
        "hr/leave.md": ("group:people",),
        "hr/pay/bands.md": ("group:hr",),
        "it help.txt": ("group:staff",),
        "policy.pdf": ("group:staff",),
        "wiki.md": ("group:staff",),
    }
    assert {doc.source for doc in docs.values()} == {"staff-handbook"}
    assert list(failures(source)) == ["broken.pdf"]
    assert "unreadable PDF" in failures(source)["broken.pdf"]
    # --acl replaces the sidecar's default, not its rules.
    overridden = documents(FolderSource(handbook, acl=("group:eng",)))
    assert (overridden["wiki.md"].acl, overridden["hr/leave.md"].acl) == (("group:eng",), ("group:people",))


def test_folder_source_items_are_streamed_and_read_afresh(handbook: Path) -> None:
    source = FolderSource(handbook)
    assert isinstance(source.items(), Iterator)
    (handbook / "new.md").write_text("# New\n\nFresh.\n")
    assert "new.md" in documents(source)


def test_a_single_file_is_named_after_its_folder_and_uses_the_folders_sidecar(handbook: Path) -> None:
    source = open_source(handbook / "hr" / "leave.md")
    assert isinstance(source, FolderSource) and source.name == FolderSource(handbook / "hr").name
    assert source.name.startswith("hr-")
    assert list(documents(source)) == ["leave.md"]
    wiki = FolderSource(handbook / "wiki.md")
    assert (wiki.name, documents(wiki)["wiki.md"].acl) == (FolderSource(handbook).name, ("group:staff",))
    # The sidecar above governs a file ingested on its own as it does in its folder (hr/* → group:people).
    assert documents(source)["leave.md"].acl == ("group:people",)


@pytest.mark.parametrize("base", ["https://files.example/handbook", "https://files.example/handbook/"])
def test_url_base_is_joined_with_the_quoted_doc_id(handbook: Path, base: str) -> None:
    docs = documents(FolderSource(handbook, url_base=base))
    assert docs["it help.txt"].url == "https://files.example/handbook/it%20help.txt"
    assert docs["hr/leave.md"].url == "https://files.example/handbook/hr/leave.md"
    assert docs["wiki.md"].url == "https://wiki.example/own"  # front matter wins
    assert documents(FolderSource(handbook))["hr/leave.md"].url == ""


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"name": "  "}, "source name must not be empty"),
        ({"url_base": "files.example/handbook"}, "url base must be an http"),
        ({"url_base": "ftp://files.example/"}, "url base must be an http"),
    ],
)
def test_bad_settings_are_input_errors_before_anything_is_read(
    handbook: Path, options: dict[str, str], message: str
) -> None:
    with pytest.raises(InputError, match=message):
        FolderSource(handbook, **options)  # type: ignore[arg-type]


def test_missing_paths_and_bad_sidecars_fail_when_the_source_is_opened(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        open_source(tmp_path / "missing")
    with pytest.raises(InputError, match="no such file or folder"):
        FolderSource(tmp_path / "missing")
    (tmp_path / ".ragbot-acl.toml").write_text("default = [")
    with pytest.raises(InputError, match="cannot read ACL sidecar"):
        open_source(tmp_path)
    (tmp_path / "export.jsonl").write_text("")
    with pytest.raises(InputError, match="cannot read ACL sidecar"):
        open_source(tmp_path / "export.jsonl")


def test_open_source_picks_the_source_type(tmp_path: Path) -> None:
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "a.md").write_text("x")
    (tmp_path / "repo" / ".git").mkdir(parents=True)
    (tmp_path / "export.jsonl").write_text("")
    (tmp_path / "export.json").write_text("{}")
    assert type(open_source(tmp_path / "plain")) is FolderSource
    assert type(open_source(tmp_path / "plain" / "a.md")) is FolderSource
    assert type(open_source(tmp_path / "repo")) is GitFolderSource
    assert type(open_source(tmp_path / "export.jsonl")) is JsonlSource
    assert type(open_source(tmp_path / "export.json")) is FolderSource
