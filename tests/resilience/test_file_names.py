"""A file name that is not valid UTF-8 fails that file, not the ingest (issue 17: exit 1 with a pydantic message
and nothing ingested).

Such a name cannot be a doc_id (ids are text in every store, every report and every chat message), and decoding it
with replacement characters would let two files share an id, so the file is reported, its name spelled with `\\xNN`
escapes, and the rest is ingested. Names holding a control character (a newline breaks the one-line reports) are
treated the same way.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.cli import main
from ragbot.ingestion import Chunker, LoadFailure, ingest, open_source
from ragbot.models import Document
from tests.fakes.hash_embedder import HashEmbedder

BAD_NAME = "the file name is not valid UTF-8 or holds a control character: rename the file to ingest it"

needs_bytes_names = pytest.mark.skipif(os.name != "posix", reason="file names are bytes on POSIX only")


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "docs"
    (root / "sub").mkdir(parents=True)
    (root / "ok.md").write_text("# OK\n\nFine.\n")
    (Path(os.fsdecode(bytes(root) + b"/sub/caf\xe9-latin1.md"))).write_text("# Menu\n\nSoup.\n")
    (root / "two\nlines.md").write_text("# Two\n\nLines.\n")
    return root


@needs_bytes_names
def test_each_bad_name_is_its_own_failure_and_the_rest_is_ingested(folder: Path, tmp_path: Path) -> None:
    items = list(open_source(folder).items())
    assert [i.doc_id for i in items if isinstance(i, Document)] == ["ok.md"]
    failed = {i.doc_id: i.reason for i in items if isinstance(i, LoadFailure)}
    assert failed == {"sub/caf\\xe9-latin1.md": BAD_NAME, "two\\nlines.md": BAD_NAME}
    index = EmbeddedIndex(tmp_path / "store")
    try:
        report = ingest([open_source(folder)], index=index, embedder=HashEmbedder(), chunker=Chunker())
        assert (report.added, sorted(d for d, _ in report.failed)) == (1, ["sub/caf\\xe9-latin1.md", "two\\nlines.md"])
        assert set(index.documents()) == {"ok.md"}
    finally:
        index.close()


@needs_bytes_names
def test_a_single_file_with_a_bad_name_is_reported(folder: Path) -> None:
    (item,) = open_source(Path(os.fsdecode(bytes(folder) + b"/sub/caf\xe9-latin1.md"))).items()
    assert isinstance(item, LoadFailure) and (item.doc_id, item.reason) == ("caf\\xe9-latin1.md", BAD_NAME)


@needs_bytes_names
@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_a_git_work_tree_reports_a_tracked_bad_name(folder: Path) -> None:
    env = {**os.environ, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}
    commit = ["-c", "user.name=t", "-c", "user.email=t@x.invalid", "commit", "-qm", "x"]
    for args in (["init", "-q"], ["add", "."], commit):
        subprocess.run(["git", *args], cwd=folder, env=env, check=True, capture_output=True)
    items = list(open_source(folder).items())
    assert [i.doc_id for i in items if isinstance(i, Document)] == ["ok.md"]
    assert {i.doc_id for i in items if isinstance(i, LoadFailure)} == {"sub/caf\\xe9-latin1.md", "two\\nlines.md"}


@needs_bytes_names
@pytest.mark.model
def test_the_command_line_exits_1_with_one_line_per_file(
    folder: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RAGBOT_DATA_DIR", str(tmp_path / "data"))
    assert main(["ingest", str(folder), "--json"]) == 1
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    assert report["added"] == 1
    assert {f["doc_id"] for f in report["failed"]} == {"sub/caf\\xe9-latin1.md", "two\\nlines.md"}
    assert captured.err.strip().splitlines()[-1] == (
        "ragbot: error: 2 document(s) could not be ingested; the rest were"
    )
    assert "pydantic" not in captured.err and "Traceback" not in captured.err
