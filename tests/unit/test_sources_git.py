"""Git work tree sources: tracked files only, commit dates, links to the origin's web UI, and reading without git."""

import logging
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragbot.errors import InputError
from ragbot.ingestion.sources import GitFolderSource, open_source
from tests.unit.test_sources import documents, failures

needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


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
    assert isinstance(source, GitFolderSource) and source.name.startswith("docs-repo-")
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
    with caplog.at_level(logging.WARNING, logger="ragbot.ingestion.sources.git"):
        docs = documents(open_source(tmp_path))
    assert list(docs) == ["a.md"]
    assert "git is not installed; ingesting every file in the folder" in caplog.text


@needs_git
def test_git_source_in_a_broken_repository_reads_the_folder_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / ".git").write_text(f"gitdir: {tmp_path / 'nowhere'}\n")
    (tmp_path / "a.md").write_text("# A\n\nText.\n")
    with caplog.at_level(logging.WARNING, logger="ragbot.ingestion.sources.git"):
        docs = documents(open_source(tmp_path))
    assert list(docs) == ["a.md"]
    assert "not a usable git repository" in caplog.text


def test_git_source_needs_a_folder(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text("x")
    with pytest.raises(InputError, match="not a folder"):
        GitFolderSource(tmp_path / "a.md")
