"""The embedded interaction log: one SQLite file in the data directory, shared safely by several processes.

Each call opens its own short transaction (WAL mode, a busy timeout), so reply workers in separate processes can
write side by side. A record is stored as its JSON next to the columns the log is queried by.

Erasure reaches the disk: every connection runs with `PRAGMA secure_delete`, so a deleted or rewritten record's
bytes are zeroed in the file, and `forget_user` and `purge` then empty the write-ahead log (a TRUNCATE checkpoint),
which would otherwise keep earlier page images. No VACUUM: it would hold every worker's writes for as long as it
runs; a log written by a release before secure_delete is wiped once by hand (docs/RUNBOOK.md).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

from ragbot.errors import RetryableError
from ragbot.interactions.records import FeedbackEntry, InteractionRecord

__all__ = ["SqliteInteractionLog"]

log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS interactions (
    question_id TEXT PRIMARY KEY,
    asked_at    TEXT NOT NULL,
    user_hash   TEXT NOT NULL,
    status      TEXT NOT NULL,
    record      TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS interactions_asked ON interactions (asked_at);
CREATE INDEX IF NOT EXISTS interactions_user ON interactions (user_hash);
CREATE TABLE IF NOT EXISTS feedback (
    question_id TEXT NOT NULL,
    user_hash   TEXT NOT NULL,
    given_at    TEXT NOT NULL,
    entry       TEXT NOT NULL,
    PRIMARY KEY (question_id, user_hash)
);
CREATE INDEX IF NOT EXISTS feedback_user ON feedback (user_hash);
"""


class SqliteInteractionLog:
    """`InteractionLog` in `directory/interactions.sqlite3`.

    Args:
        directory: The data directory (created if missing).
    """

    def __init__(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / "interactions.sqlite3"
        self._local = threading.local()
        self._connection().executescript(_SCHEMA)

    def record(self, record: InteractionRecord) -> None:
        stored = record.model_copy(update={"feedback": ()})
        with self._tx() as db:
            db.execute(
                "INSERT INTO interactions (question_id, asked_at, user_hash, status, record) VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (question_id) DO UPDATE SET asked_at = excluded.asked_at,"
                " user_hash = excluded.user_hash, status = excluded.status, record = excluded.record",
                (record.question_id, _iso(record.asked_at), record.user_hash, record.status, stored.model_dump_json()),
            )

    def add_feedback(self, question_id: str, entry: FeedbackEntry) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO feedback (question_id, user_hash, given_at, entry) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (question_id, user_hash) DO UPDATE SET given_at = excluded.given_at,"
                " entry = excluded.entry",
                (question_id, entry.user_hash, _iso(entry.given_at), entry.model_dump_json()),
            )

    def get(self, question_id: str) -> InteractionRecord | None:
        db = self._connection()
        row = db.execute("SELECT record FROM interactions WHERE question_id = ?", (question_id,)).fetchone()
        return self._with_feedback(db, row[0]) if row else None

    def records(self, *, since: datetime | None = None) -> Iterator[InteractionRecord]:
        db = self._connection()
        rows = db.execute(
            "SELECT record FROM interactions WHERE asked_at >= ? ORDER BY asked_at, question_id",
            (_iso(since) if since else "",),
        ).fetchall()
        for (raw,) in rows:
            yield self._with_feedback(db, raw)

    def purge(self, *, older_than: datetime) -> int:
        cutoff = _iso(older_than)
        with self._tx() as db:
            db.execute(
                "DELETE FROM feedback WHERE question_id IN (SELECT question_id FROM interactions WHERE asked_at < ?)",
                (cutoff,),
            )
            db.execute("DELETE FROM feedback WHERE given_at < ?", (cutoff,))
            purged = int(db.execute("DELETE FROM interactions WHERE asked_at < ?", (cutoff,)).rowcount)
        if not self._truncate_log():
            log.warning("purged, but a reader kept %s-wal busy: the next purge or forget empties it", self.path.name)
        return purged

    def forget_user(self, user_hash: str) -> int:
        with self._tx() as db:
            db.execute(
                "DELETE FROM feedback WHERE question_id IN (SELECT question_id FROM interactions WHERE user_hash = ?)",
                (user_hash,),
            )
            given = db.execute("DELETE FROM feedback WHERE user_hash = ?", (user_hash,)).rowcount
            asked = db.execute("DELETE FROM interactions WHERE user_hash = ?", (user_hash,)).rowcount
        removed = int(asked + given)
        if not self._truncate_log():
            raise RetryableError(
                f"removed {removed} questions and votes, but a reader kept {self.path.name}-wal busy, so their text "
                "may still be on disk: run the same 'ragbot forget --user' again to finish the wipe"
            )
        return removed

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    def _truncate_log(self) -> bool:
        """Copy the write-ahead log into the file and empty it (earlier images of the deleted rows' pages go too).

        Returns:
            False when another process's read outlasted the busy timeout and the log could not be emptied.
        """
        (busy, _, _) = self._connection().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        return not busy

    def _with_feedback(self, db: sqlite3.Connection, raw: str) -> InteractionRecord:
        record = InteractionRecord.model_validate_json(raw)
        rows = db.execute(
            "SELECT entry FROM feedback WHERE question_id = ? ORDER BY given_at", (record.question_id,)
        ).fetchall()
        if not rows:
            return record
        return record.model_copy(update={"feedback": tuple(FeedbackEntry.model_validate_json(r[0]) for r in rows)})

    def _connection(self) -> sqlite3.Connection:
        # One connection per thread and process: a connection must not cross threads mid-transaction, nor a fork.
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None or self._local.pid != os.getpid():
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            db.execute("PRAGMA secure_delete = ON")  # per connection: every process zeroes what it deletes
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            self._local.db = db
            self._local.pid = os.getpid()
        return db

    def _tx(self) -> _Transaction:
        return _Transaction(self._connection())


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (or ROLLBACK): writers queue on the file lock instead of failing mid-way."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> sqlite3.Connection:
        self._db.execute("BEGIN IMMEDIATE")
        return self._db

    def __exit__(self, exc_type: object, *_: object) -> None:
        self._db.execute("COMMIT" if exc_type is None else "ROLLBACK")


def _iso(moment: datetime) -> str:
    """Fixed-width UTC text, which sorts like the instants it names. A naive datetime is taken as UTC."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")
