"""Erasure reaches the disk (issue 17): after `ragbot forget`, no byte of what was forgotten is left in the store.

Before, `forget --doc` took a document out of every search but left its text in `index.sqlite3`: in free pages, in
the old FTS5 segments (as lower-cased tokens) and in the write-ahead log; `forget --user` left the person's
questions in `interactions.sqlite3` the same way; on Elasticsearch a deleted document stays in its Lucene segment
until a merge. Each test plants a canary word in what it then forgets through the real command line, checks the
canary is on disk first (so the search for it works), and then reads every file of the store for it, byte by byte.

The canary is a plain word, so redaction keeps it; the FTS5 index stores terms prefix-compressed, so the files are
searched for a fragment from its middle, lower-cased, as well as for the word itself.
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

from elasticsearch import Elasticsearch

from ragbot.backends.elasticsearch import ElasticsearchIndex, ElasticsearchInteractionLog
from ragbot.backends.embedded_index import EmbeddedIndex
from ragbot.backends.sqlite_interactions import SqliteInteractionLog
from ragbot.ingestion import Chunker, ingest, open_source
from ragbot.interactions.records import UserHasher, outcome_record
from ragbot.models import ConversationRef, Question
from ragbot.ports import DocumentIndex
from tests.contract.backends import es_settings, fake_server
from tests.fakes.hash_embedder import HashEmbedder
from tests.unit.builders import answered

RAGBOT = Path(sys.executable).with_name("ragbot")
CANARY = "Quokkazephyr"
TRACES = (CANARY, "kkazephy")
EMBEDDER = HashEmbedder()
KEY = "erasure-test-key"
HASHER = UserHasher(KEY)
DOC_ID = "quokkazephyr-plan.md"


def ragbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RAGBOT_")}
    clean.update({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **env})
    return subprocess.run([str(RAGBOT), *args], capture_output=True, text=True, env=clean, timeout=300, check=False)


_GREP = """
import json, pathlib, sys
traces = [t.encode() for t in sys.argv[2:]]
found = {}
for path in sorted(p for p in pathlib.Path(sys.argv[1]).rglob("*") if p.is_file()):
    data = path.read_bytes().lower()
    found[path.name] = sum(data.count(t) for t in traces)
print(json.dumps({name: n for name, n in found.items() if n}))
"""


def traces(folder: Path) -> dict[str, int]:
    """How often each file under `folder` holds a trace of the canary, in any case (files without one left out).

    Read by another process: closing a file descriptor drops every POSIX lock this process holds on that file,
    SQLite's included, which would let the command line take an open store for closed and delete its log.
    """
    grep = [sys.executable, "-c", _GREP, str(folder), *(t.lower() for t in TRACES)]
    return dict(json.loads(subprocess.run(grep, capture_output=True, text=True, check=True).stdout))


def corpus(root: Path, *, version: int = 1) -> Path:
    """30 ordinary documents and one whose file name, title, heading and text carry the canary."""
    root.mkdir(exist_ok=True)
    for n in range(30):
        (root / f"note-{n:02d}.md").write_text(f"# Note {n}\n\nThe canteen serves soup number {n} on weekdays.\n")
    (root / DOC_ID).write_text(
        f"# {CANARY} plan\n\n## {CANARY} budget\n\nThe {CANARY} project (revision {version}) costs 40k. "
        f"Ask the {CANARY} team before spending.\n"
    )
    return root


def load(index: DocumentIndex, root: Path) -> None:
    report = ingest([open_source(root)], index=index, embedder=EMBEDDER, chunker=Chunker())
    assert report.failed == []


def test_forget_doc_leaves_no_byte_of_the_document_in_any_file_of_the_data_dir(tmp_path: Path) -> None:
    data_dir, docs = tmp_path / "data", tmp_path / "docs"
    index = EmbeddedIndex(data_dir)
    load(index, corpus(docs))
    load(index, corpus(docs, version=2))  # an update: the first version's rows and FTS terms are deleted too
    assert traces(data_dir)  # in the file or its write-ahead log
    # A chat session keeps the index open meanwhile, so the write-ahead log outlives the command.
    assert index.search_keyword("canteen soup", principals=["*"], k=3).chunk_ids

    done = ragbot("forget", "--doc", DOC_ID, "--json", env={"RAGBOT_DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"] == [DOC_ID]

    assert traces(data_dir) == {}
    assert {p.name for p in data_dir.iterdir()} >= {"index.sqlite3", "index.sqlite3-wal"}  # the log was read too
    # Nothing else was lost, and the open session still searches.
    assert index.stats().documents == 30
    assert index.search_keyword("canteen soup", principals=["*"], k=3).chunk_ids
    assert not index.search_keyword(CANARY, principals=["*"], k=3).chunk_ids
    index.close()


def test_a_wipe_a_reader_held_up_is_finished_by_the_next_forget(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    index = EmbeddedIndex(data_dir)
    load(index, corpus(tmp_path / "docs"))
    index.close()
    # Another process reads in a transaction that outlasts the busy timeout: the log cannot be emptied.
    reader = sqlite3.connect(data_dir / "index.sqlite3", isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM chunks").fetchone()
    env = {"RAGBOT_DATA_DIR": str(data_dir)}

    held = ragbot("forget", "--doc", DOC_ID, env=env)
    assert held.returncode == 1
    assert held.stderr.count("\n") == 1 and "Traceback" not in held.stderr
    assert "removed from the index" in held.stderr and "run the same 'ragbot forget' again" in held.stderr

    reader.execute("COMMIT")
    again = ragbot("forget", "--doc", DOC_ID, env=env)
    assert again.returncode == 1 and "not in the index" in again.stderr  # said so, and finished the wipe
    reader.close()
    assert traces(data_dir) == {}
    assert EmbeddedIndex(data_dir).stats().documents == 30


def test_forget_doc_also_wipes_what_an_older_release_left_in_free_space(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    index = EmbeddedIndex(data_dir)
    load(index, corpus(tmp_path / "docs"))
    index.close()
    # A release before this one, on a SQLite built without SECURE_DELETE, rewrote the document's chunks: their
    # earlier text is left in free space, where no row points any more.
    older = sqlite3.connect(data_dir / "index.sqlite3", isolation_level=None)
    older.execute("PRAGMA secure_delete = OFF")
    rows = "SELECT id FROM chunks WHERE doc_id = ?"
    older.execute(f"UPDATE chunks_fts SET text = 'rewritten' WHERE rowid IN ({rows})", (DOC_ID,))
    older.execute("UPDATE chunks SET text = 'rewritten' WHERE doc_id = ?", (DOC_ID,))
    older.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    older.close()

    done = ragbot("forget", "--doc", DOC_ID, env={"RAGBOT_DATA_DIR": str(data_dir)})
    assert done.returncode == 0, done.stderr
    assert traces(data_dir) == {}


def _question(qid: str, user: str, text: str) -> Question:
    return Question(
        question_id=qid,
        text=text,
        asker=user,
        conversation=ConversationRef(platform="slack", channel="C1", thread="1.0", message="2.0"),
    )


def _record(log: SqliteInteractionLog | ElasticsearchInteractionLog, qid: str, user: str, text: str) -> None:
    log.record(outcome_record(answered(_question(qid, user, text)), hasher=HASHER, timings_ms={}))


def test_forget_user_leaves_no_byte_of_their_questions_in_the_interaction_log(tmp_path: Path) -> None:
    log = SqliteInteractionLog(tmp_path)
    for n in range(20):
        _record(log, f"q-u1-{n}", "U1", f"Who approves the {CANARY} budget, part {n}?")
        _record(log, f"q-u2-{n}", "U2", f"When does the canteen open on day {n}?")
    assert traces(tmp_path)  # the redacted question text keeps the canary

    env = {"RAGBOT_DATA_DIR": str(tmp_path), "RAGBOT_INTERACTIONS__USER_HASH_KEY": KEY}
    done = ragbot("forget", "--user", "slack:U1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"users": {"slack:U1": 20}}

    assert traces(tmp_path) == {}
    assert sorted(r.question_id for r in log.records()) == sorted(f"q-u2-{n}" for n in range(20))
    log.close()


def test_forget_on_elasticsearch_merges_the_deleted_documents_away(tmp_path: Path) -> None:
    fake = fake_server()
    settings = es_settings(fake.url, tmp_path)
    index = ElasticsearchIndex(Elasticsearch(fake.url, request_timeout=30), settings=settings)
    load(index, corpus(tmp_path / "docs"))
    load(index, corpus(tmp_path / "docs", version=2))
    (version,) = [name for name, info in fake.indices().items() if settings.alias in info.aliases]
    records = f"{settings.alias}-interactions"
    log = ElasticsearchInteractionLog(Elasticsearch(fake.url, request_timeout=30), index=records, replicas=0)
    for n in range(20):
        _record(log, f"q-u1-{n}", "U1", f"Who approves the {CANARY} budget, part {n}?")
        _record(log, f"q-u2-{n}", "U2", f"When does the canteen open on day {n}?")

    def held(name: str) -> bool:
        stored = json.dumps([fake.documents(name), fake.deleted_documents(name)]).lower()
        return CANARY.lower() in stored

    assert held(version) and held(records)
    env = {
        "RAGBOT_ELASTICSEARCH__URL": fake.url,
        "RAGBOT_ELASTICSEARCH__ALIAS": settings.alias,
        "RAGBOT_ELASTICSEARCH__REPLICAS": "0",
        "RAGBOT_INTERACTIONS__INDEX": records,
        "RAGBOT_INTERACTIONS__USER_HASH_KEY": KEY,
        "RAGBOT_DATA_DIR": str(tmp_path / "unused"),
    }
    done = ragbot("forget", "--doc", DOC_ID, "--user", "slack:U1", "--json", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["removed"] == [DOC_ID]

    # A share of deletions far under Elasticsearch's 10% default: merged away because the threshold is set to 0.
    assert not held(version) and not held(records) and not held(f"{records}-feedback")
    assert len(fake.documents(version)) == 2 * 30  # a document record and one chunk each
    assert len([r for r in fake.documents(records).values() if r["user_hash"] == HASHER("slack", "U2")]) == 20
    log.close()
    index.close()
