"""The command line on a damaged store and on an over-long question: one line, never a traceback (issue 17).

Before, `ask`, `chat` and `ingest` on an `index.sqlite3` of garbage bytes or cut off mid-file died with SQLite's
traceback, and a 100k-character question in `chat` printed pydantic's four-line dump. DESIGN §8: one line that
names the file and says what to do; for the question, what is wrong with it.
"""

from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.ingestion import Chunker, ingest, open_source
from tests.fakes.hash_embedder import HashEmbedder

RAGBOT = Path(sys.executable).with_name("ragbot")


def ragbot(*args: str, data_dir: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    env.update({"RAGBOT_DATA_DIR": str(data_dir), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})
    return subprocess.run(
        [str(RAGBOT), *args], input=stdin, capture_output=True, text=True, env=env, timeout=300, check=False
    )


def one_line(done: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in done.stderr + done.stdout
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("docs")
    for n in range(12):
        (root / f"policy-{n}.md").write_text(f"# Policy {n}\n\nRule {n}: badges are worn at all times in zone {n}.\n")
    return root


@pytest.fixture(scope="module")
def index_bytes(tmp_path_factory: pytest.TempPathFactory, docs: Path) -> bytes:
    """A healthy index.sqlite3 as the pipeline writes it, closed (so the file holds everything)."""
    data_dir = tmp_path_factory.mktemp("healthy")
    index = EmbeddedIndex(data_dir)
    ingest([open_source(docs)], index=index, embedder=HashEmbedder(), chunker=Chunker())
    index.close()
    return (data_dir / "index.sqlite3").read_bytes()


def damaged(kind: str, healthy: bytes) -> bytes:
    if kind == "garbage":
        return random.Random(17).randbytes(len(healthy))
    return healthy[: len(healthy) // 2]  # cut off mid-file: a full disk, a copy interrupted


@pytest.mark.parametrize("kind", ["garbage", "truncated"])
@pytest.mark.parametrize("command", ["ask", "chat", "ingest"])
def test_a_damaged_index_is_one_line_naming_the_file_and_what_to_do(
    tmp_path: Path, docs: Path, index_bytes: bytes, kind: str, command: str
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    path = data_dir / "index.sqlite3"
    path.write_bytes(damaged(kind, index_bytes))
    args = {"ask": ["ask", "Where are badges worn?"], "chat": ["chat"], "ingest": ["ingest", str(docs)]}[command]

    done = ragbot(*args, data_dir=data_dir, stdin="Where are badges worn?\n")
    assert done.returncode == 1
    line = one_line(done)
    assert line.startswith(f"ragbot: error: the index {path} is damaged (")
    assert "restore it from a backup, or delete it" in line and "run 'ragbot ingest' again" in line
    assert path.read_bytes() == damaged(kind, index_bytes)  # nothing written over what an operator may recover


def test_a_damaged_interaction_log_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "interactions.sqlite3").write_bytes(random.Random(3).randbytes(64 * 1024))
    done = ragbot("forget", "--user", "slack:U1", data_dir=tmp_path)
    assert done.returncode == 1
    line = one_line(done)
    assert "is damaged or unusable (file is not a database)" in line and "restore it from a backup" in line


LONG = "How many days of leave do I get " * 3200  # about 100k characters, pasted by mistake


def test_an_over_long_question_in_chat_is_one_line_and_the_chat_goes_on(tmp_path: Path) -> None:
    done = ragbot("chat", data_dir=tmp_path, stdin=f"{LONG}\n\n")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    said = [line.removeprefix("you> ") for line in done.stdout.splitlines() if "ragbot" in line]
    assert said == ["ragbot: the question is longer than 4000 characters"]
    assert "validation error" not in done.stdout and "days of leave" not in done.stdout  # no dump, no echo


def test_an_over_long_question_in_ask_is_one_line(tmp_path: Path) -> None:
    done = ragbot("ask", LONG, data_dir=tmp_path)
    assert done.returncode == 1
    assert one_line(done) == "ragbot: error: the question is longer than 4000 characters"
