"""Nothing outside the ingested folder is read by default (issue 17: a link to `/etc/passwd` inside the folder was
followed and indexed, in plain folders and Git work trees alike).

A link that leads out of the folder is skipped with a report line (a failure: exit 1, listed in `failed`) and does
not count as still there, so `--prune` removes what an older ingest read through it. `--follow-symlinks` reads it;
a file read through a link is still governed by the sidecars above where it really is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.cli import main
from ragbot.ingestion import Chunker, LoadFailure, Source, ingest, open_source
from ragbot.models import Document
from tests.fakes.hash_embedder import HashEmbedder

SECRET = "rootpasswordcanary"
LINK_OUT = "a link to a file outside the ingested folder: not read (--follow-symlinks to read it)"


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    outside = tmp_path / "outside"
    (outside / "private").mkdir(parents=True)
    (outside / "passwd.md").write_text(f"root:x:0:0:{SECRET}:/root:/bin/bash\n")
    (outside / "private" / "keys.md").write_text(f"# Keys\n\nThe signing key is {SECRET}.\n")
    docs = tmp_path / "docs"
    (docs / "guides").mkdir(parents=True)
    (docs / "guides" / "vpn.md").write_text("# VPN\n\nUse gp.example.\n")
    (docs / "passwd.md").symlink_to(outside / "passwd.md")
    (docs / "private").symlink_to(outside / "private", target_is_directory=True)
    (docs / "vpn-latest.md").symlink_to(Path("guides") / "vpn.md")  # inside the folder: read as before
    (docs / ".settings").mkdir()
    (docs / ".settings" / "remote.md").write_text(f"url = https://x:{SECRET}@git.example/repo\n")
    (docs / "config.md").symlink_to(Path(".settings") / "remote.md")  # inside, but hidden files are never read
    return docs


def items(source: Source) -> tuple[dict[str, Document], dict[str, LoadFailure]]:
    docs, failed = {}, {}
    for item in source.items():
        if isinstance(item, Document):
            docs[item.doc_id] = item
        else:
            failed[item.doc_id] = item
    return docs, failed


def test_links_out_of_the_folder_are_not_read_and_are_reported(tree: Path) -> None:
    docs, failed = items(open_source(tree))
    assert sorted(docs) == ["guides/vpn.md", "vpn-latest.md"]
    assert all(SECRET not in doc.text for doc in docs.values())
    assert failed["passwd.md"].reason == LINK_OUT and not failed["passwd.md"].present
    assert failed["config.md"].reason.startswith("a link to a hidden file")
    assert "not entered (--follow-symlinks)" in failed["private/"].reason
    # A single file given on the command line is held to its folder the same way.
    (single,) = open_source(tree / "passwd.md").items()
    assert isinstance(single, LoadFailure) and single.reason == LINK_OUT


def test_follow_symlinks_reads_them_and_each_real_folder_once(tree: Path) -> None:
    (tree / "guides" / "loop").symlink_to(tree, target_is_directory=True)
    docs, failed = items(open_source(tree, follow_symlinks=True))
    assert sorted(docs) == ["config.md", "guides/vpn.md", "passwd.md", "private/keys.md", "vpn-latest.md"]
    assert failed == {}


def test_a_followed_link_keeps_the_readers_of_where_it_leads(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "outside" / ".ragbot-acl.toml").write_text(
        '[[rule]]\npattern = "private/*"\nprincipals = ["group:security"]\n'
    )
    docs, _ = items(open_source(tree, follow_symlinks=True))
    assert docs["private/keys.md"].acl == ("group:security",)
    assert docs["guides/vpn.md"].acl == ("*",)


def test_prune_removes_what_was_read_through_a_link_before(tree: Path, tmp_path: Path) -> None:
    index = EmbeddedIndex(tmp_path / "store")
    try:
        # An index written when links were followed (or with --follow-symlinks).
        ingest([open_source(tree, follow_symlinks=True)], index=index, embedder=HashEmbedder(), chunker=Chunker())
        assert "passwd.md" in index.documents()
        report = ingest([open_source(tree)], index=index, embedder=HashEmbedder(), chunker=Chunker(), prune=True)
        assert {doc_id for doc_id, _ in report.failed} == {"config.md", "passwd.md", "private/"}
        assert set(index.documents()) == {"guides/vpn.md", "vpn-latest.md"}
        assert index.search_keyword(SECRET, principals=["*"], k=5).chunk_ids == ()
    finally:
        index.close()


needs_git = pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")


@needs_git
def test_a_git_work_tree_does_not_read_a_tracked_link_out_of_it(tree: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    commit = ["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "x"]
    for args in (["init", "-q"], ["add", "."], commit):
        subprocess.run(["git", *args], cwd=tree, env=env, check=True, capture_output=True)
    source = open_source(tree)
    assert type(source).__name__ == "GitFolderSource"
    docs, failed = items(source)
    assert sorted(docs) == ["guides/vpn.md", "vpn-latest.md"]
    assert failed["passwd.md"].reason == LINK_OUT


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    yield tmp_path / "data"


@pytest.mark.model
def test_the_command_line_reports_each_link_on_one_line_and_opts_in_with_a_flag(
    tree: Path, data_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", str(tree)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert f"  skipped passwd.md: {LINK_OUT}" in err
    assert err[-1] == "ragbot: error: 3 document(s) could not be ingested; the rest were"
    assert main(["ingest", str(tree), "--follow-symlinks", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["added"], report["failed"]) == (3, [])
