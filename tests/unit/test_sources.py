import hashlib
import json
import logging
import os
import shutil
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import load_acl_rules
from ragbot.ingestion.load import discover, load_document
from ragbot.ingestion.sources import FolderSource, GitFolderSource, JsonlSource, LoadFailure, Source, open_source
from ragbot.models import Document
from tests.fakes.pdf import make_pdf

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


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
    expected: list[Document | LoadFailure] = []
    for file in discover(handbook, acl=load_acl_rules(handbook)):
        try:
            expected.append(load_document(file, source="handbook"))
        except DocumentError as err:
            expected.append(LoadFailure(err.path, str(err)))
    source = FolderSource(handbook)
    assert source.name == "handbook"
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
    assert isinstance(source, FolderSource) and source.name == "hr"
    assert list(documents(source)) == ["leave.md"]
    wiki = FolderSource(handbook / "wiki.md")
    assert (wiki.name, documents(wiki)["wiki.md"].acl) == ("handbook", ("group:staff",))


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


# --- GitFolderSource ------------------------------------------------------------------------------------------------


def git(repo: Path, *args: str, when: str | None = None) -> str:
    env = dict(os.environ)
    if when:
        env.update(GIT_AUTHOR_DATE=when, GIT_COMMITTER_DATE=when)
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", *args],
        cwd=repo,
        env=env,
        check=True,
        capture_output=True,
    )
    return done.stdout.decode().strip()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    root = tmp_path / "docs-repo"
    (root / "guides").mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    (root / "guides" / "vpn.md").write_text("# VPN\n\nUse gp.example.\n")
    (root / "guides" / "wifi.md").write_text("# Wi-Fi\n\nJoin staff.\n")
    (root / "dated.md").write_text("---\nupdated: 2020-05-06\n---\n# Dated\n\nText.\n")
    (root / ".gitignore").write_text("build/\n")
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", "first", when="2024-01-02T03:04:05+00:00")
    (root / "guides" / "vpn.md").write_text("# VPN\n\nUse gp2.example.\n")
    git(root, "commit", "-q", "-am", "second", when="2025-06-07T08:09:10+00:00")
    return root


@needs_git
def test_git_source_ingests_tracked_files_dated_by_their_last_commit(repo: Path) -> None:
    (repo / "build").mkdir()
    (repo / "build" / "out.md").write_text("# Generated\n\nIgnored by git.\n")
    (repo / "scratch.md").write_text("# Scratch\n\nNever added.\n")
    source = open_source(repo)
    assert isinstance(source, GitFolderSource) and source.name == "docs-repo"
    docs = documents(source)
    assert sorted(docs) == ["dated.md", "guides/vpn.md", "guides/wifi.md"]
    assert docs["guides/vpn.md"].updated_at == datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)
    assert docs["guides/wifi.md"].updated_at == datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert docs["dated.md"].updated_at == datetime(2020, 5, 6, tzinfo=UTC)  # a date in the file itself wins
    assert docs["guides/vpn.md"].url == ""  # no remote, no links


@needs_git
def test_git_source_dates_uncommitted_and_never_committed_files_by_mtime(repo: Path) -> None:
    (repo / "guides" / "wifi.md").write_text("# Wi-Fi\n\nJoin staff-5G.\n")
    (repo / "new.md").write_text("# New\n\nStaged only.\n")
    git(repo, "add", "new.md")
    for name in ("guides/wifi.md", "new.md"):
        os.utime(repo / name, (1_760_000_000, 1_760_000_000))
    docs = documents(GitFolderSource(repo))
    mtime = datetime.fromtimestamp(1_760_000_000, tz=UTC)
    assert (docs["guides/wifi.md"].updated_at, docs["new.md"].updated_at) == (mtime, mtime)
    assert docs["guides/vpn.md"].updated_at == datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)


@needs_git
def test_git_source_in_a_repository_without_commits_uses_mtimes(tmp_path: Path) -> None:
    git(tmp_path, "init", "-q", "-b", "main")
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    (tmp_path / "untracked.md").write_text("# U\n\nText.\n")
    git(tmp_path, "add", "a.md")
    os.utime(tmp_path / "a.md", (1_750_000_000, 1_750_000_000))
    docs = documents(GitFolderSource(tmp_path))
    assert list(docs) == ["a.md"]
    assert docs["a.md"].updated_at == datetime.fromtimestamp(1_750_000_000, tz=UTC)


@needs_git
@pytest.mark.parametrize(
    ("remote", "base"),
    [
        ("https://github.com/kestrel/handbook.git", "https://github.com/kestrel/handbook/blob/main/"),
        ("https://x-token:s3cret@github.com/kestrel/handbook", "https://github.com/kestrel/handbook/blob/main/"),
        ("git@github.com:kestrel/handbook.git", "https://github.com/kestrel/handbook/blob/main/"),
        ("ssh://git@github.example.com:2222/kestrel/handbook.git", "https://github.example.com/kestrel/handbook/blob/main/"),
        ("git@gitlab.com:kestrel/docs/handbook.git", "https://gitlab.com/kestrel/docs/handbook/-/blob/main/"),
        ("https://gitlab.kestrel.example:8443/it/handbook", "https://gitlab.kestrel.example:8443/it/handbook/-/blob/main/"),
        ("git@bitbucket.org:kestrel/handbook.git", "https://bitbucket.org/kestrel/handbook/src/main/"),
    ],
)  # fmt: skip
def test_git_source_links_to_the_origin_remotes_web_ui(repo: Path, remote: str, base: str) -> None:
    git(repo, "remote", "add", "origin", remote)
    docs = documents(GitFolderSource(repo))
    assert docs["guides/vpn.md"].url == base + "guides/vpn.md"
    assert "s3cret" not in docs["guides/vpn.md"].url


@needs_git
@pytest.mark.parametrize(
    "remote", ["https://git.kestrel.example/it/handbook.git", "/srv/git/handbook.git", "git@github.com:handbook.git"]
)
def test_git_source_leaves_urls_empty_when_no_web_link_can_be_derived(repo: Path, remote: str) -> None:
    git(repo, "remote", "add", "origin", remote)
    assert {doc.url for doc in documents(GitFolderSource(repo)).values()} == {""}


@needs_git
def test_git_source_links_a_detached_head_to_its_commit_and_honours_an_explicit_url_base(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "git@github.com:kestrel/handbook.git")
    git(repo, "checkout", "-q", "--detach")
    commit = git(repo, "rev-parse", "HEAD")
    docs = documents(GitFolderSource(repo))
    assert docs["guides/wifi.md"].url == f"https://github.com/kestrel/handbook/blob/{commit}/guides/wifi.md"
    explicit = documents(GitFolderSource(repo, url_base="https://docs.kestrel.example"))
    assert explicit["guides/wifi.md"].url == "https://docs.kestrel.example/guides/wifi.md"


@needs_git
def test_git_source_on_a_subfolder_uses_paths_and_links_relative_to_it(repo: Path) -> None:
    git(repo, "remote", "add", "origin", "https://github.com/kestrel/handbook")
    (repo / "guides" / "draft.md").write_text("# Draft\n\nUntracked.\n")
    docs = documents(GitFolderSource(repo / "guides"))
    assert sorted(docs) == ["vpn.md", "wifi.md"]
    assert docs["vpn.md"].url == "https://github.com/kestrel/handbook/blob/main/guides/vpn.md"
    assert docs["vpn.md"].updated_at == datetime(2025, 6, 7, 8, 9, 10, tzinfo=UTC)


@needs_git
def test_git_source_reports_broken_tracked_files(repo: Path) -> None:
    (repo / "broken.pdf").write_bytes(b"%PDF-1.4\nnot really")
    git(repo, "add", "broken.pdf")
    git(repo, "commit", "-q", "-m", "pdf", when="2025-07-01T00:00:00+00:00")
    source = GitFolderSource(repo)
    assert list(failures(source)) == ["broken.pdf"]
    assert len(documents(source)) == 3


def test_git_source_without_git_reads_the_folder_with_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    monkeypatch.setenv("PATH", str(tmp_path / "no-bin"))
    with caplog.at_level(logging.WARNING, logger="ragbot.ingestion.sources"):
        docs = documents(open_source(tmp_path))
    assert list(docs) == ["a.md"]
    assert "git is not installed; ingesting every file in the folder" in caplog.text


@needs_git
def test_git_source_in_a_broken_repository_reads_the_folder_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".git").write_text(f"gitdir: {tmp_path / 'nowhere'}\n")
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    with caplog.at_level(logging.WARNING, logger="ragbot.ingestion.sources"):
        docs = documents(open_source(tmp_path))
    assert list(docs) == ["a.md"]
    assert "not a usable git repository" in caplog.text


def test_git_source_needs_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        GitFolderSource(tmp_path / "a.md")


# --- JsonlSource ----------------------------------------------------------------------------------------------------


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_source_reads_every_field(tmp_path: Path) -> None:
    record = {
        "id": "KB-1042",
        "title": "Reset your password",
        "url": "https://kb.example/1042",
        "text": "Open **Settings**.  \r\n\r\n\r\n\r\nChoose Reset.",
        "updated_at": "2026-03-01T09:30:00+01:00",
        "acl": ["group:it", "group:it", "user:ana@kestrel.example"],
        "metadata": {"owner": "it"},
    }
    source = open_source(write_jsonl(tmp_path / "kb-export.jsonl", record))
    assert isinstance(source, JsonlSource) and source.name == "kb-export"
    [doc] = source.items()
    assert isinstance(doc, Document)
    assert (doc.doc_id, doc.title, doc.url, doc.source) == (
        "KB-1042",
        "Reset your password",
        "https://kb.example/1042",
        "kb-export",
    )
    assert doc.text == "Open **Settings**.\n\nChoose Reset.\n"
    assert doc.updated_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert doc.acl == ("group:it", "user:ana@kestrel.example")
    assert doc.metadata == {"owner": "it"}
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert doc.content_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_jsonl_defaults_come_from_the_text_the_id_the_file_and_the_sidecar(tmp_path: Path) -> None:
    (tmp_path / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/*"\nprincipals = ["group:hr"]\n')
    path = write_jsonl(
        tmp_path / "export.jsonl",
        {"id": "hr/parental-leave_policy.html", "text": "Twenty weeks."},
        {"id": "KB-7", "text": "Intro.\n\n# Printing\n\nFloor 2.", "title": None},
        {"id": "it/vpn", "text": "x", "updated_at": "2026-01-05"},
        {"id": "it/wifi", "text": "x", "updated_at": "2026-01-05T10:00:00"},
    )
    os.utime(path, (1_770_000_000, 1_770_000_000))
    docs = documents(JsonlSource(path, name="intranet", url_base="https://intranet.example/pages/"))
    leave, kb = docs["hr/parental-leave_policy.html"], docs["KB-7"]
    assert (leave.title, kb.title) == ("Parental leave policy", "Printing")
    assert leave.url == "https://intranet.example/pages/hr/parental-leave_policy.html"
    assert leave.updated_at == datetime.fromtimestamp(1_770_000_000, tz=UTC)
    assert (leave.acl, kb.acl) == (("group:hr",), ("*",))
    assert {doc.source for doc in docs.values()} == {"intranet"}
    assert docs["it/vpn"].updated_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert docs["it/wifi"].updated_at == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert documents(JsonlSource(path, acl=("group:staff",)))["KB-7"].acl == ("group:staff",)
    assert documents(JsonlSource(path))["KB-7"].url == ""


def test_jsonl_content_hash_changes_with_any_field(tmp_path: Path) -> None:
    def hash_of(record: dict[str, object]) -> str:
        [doc] = documents(JsonlSource(write_jsonl(tmp_path / "e.jsonl", record))).values()
        return doc.content_hash

    base = {"id": "a", "text": "Same text."}
    assert hash_of(base) == hash_of(dict(base))
    assert hash_of(base) != hash_of({**base, "title": "New title"})
    assert hash_of(base) != hash_of({**base, "metadata": {"team": "it"}})


def test_bad_jsonl_lines_are_reported_and_the_rest_carry_on(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps({"id": "ok-1", "text": "Fine."}),
        "{not json",
        "",
        "   ",
        json.dumps(["id", "text"]),
        json.dumps({"text": "No id."}),
        json.dumps({"id": "  ", "text": "Blank id."}),
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "num-text", "text": 42}),
        json.dumps({"id": "bad-title", "text": "x", "title": ["a"]}),
        json.dumps({"id": "bad-date", "text": "x", "updated_at": "yesterday"}),
        json.dumps({"id": "epoch", "text": "x", "updated_at": 1700000000}),
        json.dumps({"id": "empty-acl", "text": "x", "acl": []}),
        json.dumps({"id": "str-acl", "text": "x", "acl": "group:hr"}),
        json.dumps({"id": "meta", "text": "x", "metadata": {"n": 1}}),
        json.dumps({"id": "extra", "text": "x", "body": "y"}),
        json.dumps({"id": "ok-1", "text": "Again."}),
        json.dumps({"id": "ok-2", "text": "Also fine."}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "latin", "text": "caf\xe9"}\n')
    source = JsonlSource(path)
    assert [doc.doc_id for doc in documents(source).values()] == ["ok-1", "ok-2"]
    assert documents(source)["ok-1"].text == "Fine.\n"
    reasons = failures(source)
    assert reasons == {
        "export.jsonl:2": reasons["export.jsonl:2"],
        "export.jsonl:5": "line 5: expected a JSON object, got list",
        "export.jsonl:6": "line 6: missing 'id'",
        "export.jsonl:7": "line 7: 'id' must be a non-empty string",
        "no-text": "line 8: missing 'text'",
        "num-text": "line 9: 'text' must be a non-empty string",
        "bad-title": "line 10: 'title' must be a string",
        "bad-date": "line 11: 'updated_at' must be an ISO 8601 date or datetime, got \"yesterday\"",
        "epoch": "line 12: 'updated_at' must be an ISO 8601 date or datetime, got 1700000000",
        "empty-acl": "line 13: 'acl' must be a non-empty list of non-empty strings",
        "str-acl": "line 14: 'acl' must be a non-empty list of non-empty strings",
        "meta": "line 15: 'metadata' must be an object of string values",
        "extra": reasons["extra"],
        "ok-1": "line 17: duplicate id, first seen on line 1",
        "export.jsonl:19": "line 19: not UTF-8",
    }
    assert reasons["export.jsonl:2"].startswith("line 2: invalid JSON: ")
    assert reasons["extra"].startswith("line 16: unknown key 'body'; expected ")
    assert all("\n" not in reason for reason in reasons.values())


def test_jsonl_source_with_a_bom_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "x"}).encode() + b"\n")
    assert list(documents(JsonlSource(path))) == ["a"]
    with pytest.raises(InputError, match="no such file"):
        JsonlSource(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="url base must be an http"):
        JsonlSource(path, url_base="kb/")
    source = JsonlSource(path)
    path.unlink()
    with pytest.raises(InputError, match="cannot read"):
        list(source.items())
