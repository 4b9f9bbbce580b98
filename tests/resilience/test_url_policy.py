"""The one URL policy (ragbot.urls) at ingest, per document, and on what an older index still holds (issues 16, 17).

A front matter `url:`, a JSONL line's `url`, a link joined under `--url-base` or derived from a Git remote: a URL
the policy refuses fails that document alone, with a one-line reason, and the rest are ingested. A bad URL already
stored (written before the policy) is never shown: `ragbot ask --json` and the text output leave it out.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from ragbot.errors import InputError
from ragbot.ingestion.sources import FolderSource, GitFolderSource, JsonlSource, LoadFailure, Source
from ragbot.models import Document
from ragbot.urls import MAX_URL_CHARS, safe_url, url_problem
from tests.resilience.markup import HOSTILE_URLS, VALID_URLS

RAGBOT = Path(sys.executable).with_name("ragbot")

# Front matter strips surrounding blanks and quotes and holds one line, so those URLs cannot be written there.
FRONT_MATTER_URLS = [u for u in HOSTILE_URLS if u == u.strip() and "\n" not in u and '"' not in u]


def items(source: Source) -> tuple[dict[str, Document], dict[str, str]]:
    documents, failures = {}, {}
    for item in source.items():
        if isinstance(item, LoadFailure):
            failures[item.doc_id] = item.reason
        else:
            documents[item.doc_id] = item
    return documents, failures


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_the_policy_refuses_each_hostile_url_in_one_line(url: str) -> None:
    problem = url_problem(url)
    assert problem and "\n" not in problem and len(problem) < 120
    assert safe_url(url) == ""


@pytest.mark.parametrize("url", VALID_URLS)
def test_the_policy_accepts_links_to_web_pages(url: str) -> None:
    assert url_problem(url) is None and safe_url(url) == url


def test_mailto_and_overlong_links_are_refused() -> None:
    assert url_problem("mailto:hr@kestrel.example") == "only http and https links are allowed"
    assert url_problem("https://wiki.example/" + "a" * (MAX_URL_CHARS - 21)) is None
    assert "longer than" in str(url_problem("https://wiki.example/" + "a" * (MAX_URL_CHARS - 20)))


def test_a_folder_ingest_fails_only_the_files_whose_url_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "good.md").write_text(f"---\nurl: {VALID_URLS[1]}\n---\n# Good\n\nText.\n")
    (root / "plain.md").write_text("# Plain\n\nNo link of its own.\n")
    for i, url in enumerate(FRONT_MATTER_URLS):
        (root / f"bad{i:02}.md").write_text(f"---\nurl: {url}\n---\n# Bad\n\nText.\n")
    documents, failures = items(FolderSource(root))
    assert set(documents) == {"good.md", "plain.md"}
    assert documents["good.md"].url == VALID_URLS[1] and documents["plain.md"].url == ""
    assert set(failures) == {f"bad{i:02}.md" for i in range(len(FRONT_MATTER_URLS))}
    for reason in failures.values():
        assert reason.startswith("front matter url refused: ") and "\n" not in reason and len(reason) < 250
    # The value is quoted safely: control characters escaped, a long one clipped.
    invisible = FRONT_MATTER_URLS.index("https://evil.example/\u200bx")
    assert "\\u200b" in failures[f"bad{invisible:02}.md"]


def test_the_url_base_is_checked_by_the_policy_and_a_joined_link_too(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    root.mkdir()
    (root / "short.md").write_text("# Short\n\nText.\n")
    (root / ("long-" + "x" * 200 + ".md")).write_text("# Long\n\nText.\n")
    for bad in ("https://files.example/a|b", "javascript:alert(1)", "https://files.example/<!here>"):
        with pytest.raises(InputError, match="url base must be an http") as refused:
            FolderSource(root, url_base=bad)
        assert "\n" not in str(refused.value)
    base = "https://files.example/" + "d" * (MAX_URL_CHARS - 150)
    documents, failures = items(FolderSource(root, url_base=base))
    assert documents["short.md"].url == base + "/short.md"
    [(doc_id, reason)] = failures.items()
    assert doc_id.startswith("long-") and reason.startswith("url refused: the URL is longer than")


def test_a_jsonl_export_fails_only_the_lines_whose_url_is_refused(tmp_path: Path) -> None:
    lines = [{"id": "good", "text": "Fine.", "url": VALID_URLS[0]}, {"id": "none", "text": "No link."}]
    lines += [{"id": f"bad{i:02}", "text": "Text.", "url": url} for i, url in enumerate(HOSTILE_URLS)]
    path = tmp_path / "export.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    documents, failures = items(JsonlSource(path))
    # Blank around the URL is trimmed like every JSONL string; all else is refused.
    trimmed = {f"bad{i:02}" for i, u in enumerate(HOSTILE_URLS) if u != u.strip() and not url_problem(u.strip())}
    assert set(documents) == {"good", "none", *trimmed} and documents["good"].url == VALID_URLS[0]
    assert set(failures) == {f"bad{i:02}" for i in range(len(HOSTILE_URLS))} - trimmed
    assert all("url refused: " in reason and "\n" not in reason for reason in failures.values())


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_remote_that_would_make_a_bad_link_makes_none(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "vpn.md").write_text("# VPN\n\nUse the client.\n")
    remote = "https://github.com/kestrel/handbook|<!everyone>.git"
    steps = (["init", "-q", "-b", "main"], ["remote", "add", "origin", remote], ["add", "."], ["commit", "-qm", "x"])
    for args in steps:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-c", "commit.gpgsign=false", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    documents, failures = items(GitFolderSource(repo))
    assert failures == {} and documents["vpn.md"].url == ""
    assert "no web link for the origin remote" in caplog.text


# -- what an older index still holds ----------------------------------------------------------------------------


def ragbot(*args: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    env.update({"RAGBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return subprocess.run([str(RAGBOT), *args], capture_output=True, text=True, env=env, timeout=300, check=False)


@pytest.mark.slow  # three runs of the command line, each loading the embedding model (about 30-50 s)
def test_the_command_line_ingests_the_rest_and_never_shows_a_stored_bad_url(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "parking.md").write_text(
        "---\nurl: https://wiki.example/parking\n---\n# Parking\n\nStaff park in the north garage, level 2.\n"
    )
    (corpus / "phish.md").write_text(
        "---\nurl: javascript:alert(document.cookie)\n---\n# Parking permits\n\nPermits are free.\n"
    )
    data_dir = tmp_path / "data"
    done = ragbot("ingest", str(corpus), "--json", data_dir=data_dir)
    assert done.returncode == 1, done.stderr  # one document failed; the rest is in
    report = json.loads(done.stdout)
    assert report["added"] == 1
    assert [f["doc_id"] for f in report["failed"]] == ["phish.md"]
    assert "only http and https links are allowed" in report["failed"][0]["error"]

    # An index written before the policy: the stored link is a hostile one.
    with sqlite3.connect(data_dir / "index.sqlite3") as db:
        db.execute("UPDATE documents SET url = ? WHERE doc_id = 'parking.md'", ("javascript:alert(document.cookie)",))
    asked = ragbot("ask", "where do staff park?", "--json", data_dir=data_dir)
    assert asked.returncode == 0, asked.stderr
    body = json.loads(asked.stdout)
    assert body["citations"] and all(c["url"] == "" for c in body["citations"])
    assert "javascript:" not in asked.stdout
    text = ragbot("ask", "where do staff park?", data_dir=data_dir)
    assert text.returncode == 0 and "north garage" in text.stdout and "javascript:" not in text.stdout
