"""The embedded `DocumentIndex`: SQLite FTS5 for the BM25 leg, exact cosine over a NumPy matrix for the dense leg.

One SQLite file holds everything (WAL mode, so a chat session can read while an ingest writes). Vectors are
stored as float32 blobs and loaded into one contiguous matrix on the first vector search after a change;
`PRAGMA data_version` tells this connection when another process committed, so a long-lived reader never serves
stale results. ACLs are rows of `doc_acl(principal, doc_id)`: the keyword leg filters with a join, the dense
leg with a boolean row mask cached per principal. Documents linked to a canonical copy (`duplicate_of`) have no
`doc_acl` rows while linked, so neither leg ever returns them.

Exact search is the right tool at this scale: 100k chunks × 384 dims is one 150 MB matrix-vector product
(see docs/BENCHMARKS.md). Elasticsearch takes over beyond one machine.

Erasure reaches the disk. Every connection runs with `PRAGMA secure_delete`, so a deleted row's bytes are zeroed,
not left in a free page; a `delete` that removed something then merges the FTS5 segments ('optimize': a deleted
row's tokens otherwise stay in the old segments), rewrites the file (`VACUUM`: whatever an older release or an
interrupted wipe left behind) and truncates the write-ahead log. A wipe that could not finish is recorded in `meta`
and finished by the next `delete`, even one that removes nothing.

Errors. SQLite's exceptions leave this module as ragbot's: a damaged file (`SQLITE_CORRUPT`, `SQLITE_NOTADB`)
becomes a `PermanentError` that names the file and what to do, a busy one a `RetryableError`.
"""

from __future__ import annotations

import functools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

import numpy as np
import numpy.typing as npt
from threadpoolctl import threadpool_limits

from ragbot.errors import IndexMismatchError, InputError, PermanentError, RagbotError, RetryableError
from ragbot.language.stopwords import STOPWORDS
from ragbot.models import Chunk
from ragbot.ports import IndexedDocument, IndexInfo, IndexStats, LegResult, StoredDocument, Vectors

__all__ = ["EmbeddedIndex"]

_P = ParamSpec("_P")
_R = TypeVar("_R")
_EXPUNGE_PENDING = "expunge_pending"  # a meta key: a delete's wipe of the disk has not finished yet

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    doc_id TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    title TEXT NOT NULL,
    url TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    acl TEXT NOT NULL,
    content_key TEXT NOT NULL DEFAULT '',
    duplicate_of TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS documents_source ON documents (source);
CREATE TABLE IF NOT EXISTS doc_acl (
    principal TEXT NOT NULL,
    doc_id TEXT NOT NULL,
    PRIMARY KEY (principal, doc_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    chunk_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    heading_path TEXT NOT NULL,
    text TEXT NOT NULL,
    char_start INTEGER NOT NULL,
    char_end INTEGER NOT NULL,
    content_hash TEXT NOT NULL,
    embedding BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks (doc_id);
CREATE VIRTUAL TABLE IF NOT EXISTS chunks_fts USING fts5 (
    title, heading_path, text,
    tokenize = 'porter unicode61 remove_diacritics 2'
);
"""

_WORD = re.compile(r"\w+", re.UNICODE)
_SELECT_CHUNK = """
SELECT c.chunk_id, c.doc_id, c.ordinal, c.heading_path, c.text, c.char_start, c.char_end, c.content_hash,
       d.title, d.url, d.source, d.updated_at, d.acl
FROM chunks c JOIN documents d ON d.doc_id = c.doc_id
"""


def _sqlite_errors(
    method: Callable[Concatenate[EmbeddedIndex, _P], _R],
) -> Callable[Concatenate[EmbeddedIndex, _P], _R]:
    """Turn SQLite's exceptions into ragbot's tree at the boundary (see `_translated`)."""

    @functools.wraps(method)
    def wrapper(self: EmbeddedIndex, /, *args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.Error as err:
            raise _translated(err, self.path) from err

    return wrapper


def _translated(err: sqlite3.Error, path: Path) -> RagbotError:
    """One line an operator can act on: which file, what is wrong with it, what to do."""
    code = getattr(err, "sqlite_errorname", "")
    if code in ("SQLITE_CORRUPT", "SQLITE_NOTADB") or code.startswith(("SQLITE_CORRUPT_", "SQLITE_NOTADB_")):
        return PermanentError(
            f"the index {path} is damaged ({err}): restore it from a backup, or delete it (with its -wal and -shm "
            "files) and run 'ragbot ingest' again"
        )
    if code.startswith(("SQLITE_BUSY", "SQLITE_LOCKED")):
        return RetryableError(f"the index {path} is busy (another process is writing it): try again")
    if code.startswith("SQLITE_FULL"):
        return PermanentError(f"the disk holding the index {path} is full: free some space and try again")
    return PermanentError(f"cannot use the index {path}: {err}")


class EmbeddedIndex:
    """A `DocumentIndex` in one SQLite file under `directory`.

    Args:
        directory: Created if missing. Holds `index.sqlite3`.
        field_weights: BM25 weights of title, heading path and text.

    Example:
        >>> index = EmbeddedIndex(Path(".ragbot"))
        >>> index.search_keyword("vpn client", principals=["*"], k=5).chunk_ids
    """

    def __init__(self, directory: Path, *, field_weights: tuple[float, float, float] = (2.0, 1.5, 1.0)) -> None:
        self.path = directory / "index.sqlite3"
        try:
            directory.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        except (OSError, sqlite3.Error) as err:
            raise InputError(f"cannot open the index in {directory}: {err}") from err
        try:
            # Per connection, so on in every process that writes: deleted rows are zeroed, not left in free pages.
            self._db.execute("PRAGMA secure_delete = ON")
            self._db.execute("PRAGMA journal_mode = WAL")
            self._db.execute("PRAGMA synchronous = NORMAL")
            self._db.executescript(_SCHEMA)
            self._migrate()
        except sqlite3.Error as err:
            self._db.close()
            raise _translated(err, self.path) from err
        self._weights = field_weights
        self._lock = threading.RLock()
        self._seen_version = -1
        self._matrix: Vectors | None = None
        self._row_ids: npt.NDArray[np.int64] | None = None
        self._masks: dict[str, npt.NDArray[np.bool_]] = {}
        # Our own commits do not move PRAGMA data_version (only other connections' do), so writes flag it here.
        self._dirty = False

    # -- lifecycle and metadata ---------------------------------------------------------------------------------

    @_sqlite_errors
    def info(self) -> IndexInfo | None:
        meta = dict(self._db.execute("SELECT key, value FROM meta").fetchall())
        if "embedding_model" not in meta:
            return None
        return IndexInfo(
            embedding_model=meta["embedding_model"],
            dimension=int(meta["dimension"]),
            chunker_version=meta["chunker_version"],
            created_at=datetime.fromisoformat(meta["created_at"]),
        )

    @_sqlite_errors
    def bind(self, info: IndexInfo) -> None:
        with self._lock:
            current = self.info()
            if current is not None:
                if (current.embedding_model, current.dimension) != (info.embedding_model, info.dimension):
                    raise IndexMismatchError(
                        f"this index was built with {current.embedding_model} ({current.dimension}-d), not "
                        f"{info.embedding_model} ({info.dimension}-d): set RAGBOT_EMBEDDING__MODEL back, or use "
                        "a new RAGBOT_DATA_DIR and re-ingest"
                    )
                if current.chunker_version == info.chunker_version:
                    return
            rows = {
                "embedding_model": info.embedding_model,
                "dimension": str(info.dimension),
                "chunker_version": info.chunker_version,
                "created_at": (current or info).created_at.isoformat(),
            }
            with self._transaction():
                self._db.executemany("INSERT OR REPLACE INTO meta (key, value) VALUES (?, ?)", rows.items())

    @_sqlite_errors
    def close(self) -> None:
        with self._lock:
            self._db.close()

    @_sqlite_errors
    def stats(self) -> IndexStats:
        (documents,) = self._db.execute("SELECT count(*) FROM documents").fetchone()
        (chunks,) = self._db.execute("SELECT count(*) FROM chunks").fetchone()
        return IndexStats(documents=documents, chunks=chunks)

    # -- writes ---------------------------------------------------------------------------------------------------

    @_sqlite_errors
    def documents(self, *, source: str | None = None) -> dict[str, StoredDocument]:
        query = (
            "SELECT d.doc_id, d.source, d.fingerprint, (SELECT count(*) FROM chunks c WHERE c.doc_id = d.doc_id),"
            " d.content_key, d.duplicate_of FROM documents d"
        )
        rows = (
            self._db.execute(query + " WHERE d.source = ?", (source,)) if source else self._db.execute(query)
        ).fetchall()
        return {
            r[0]: StoredDocument(
                doc_id=r[0], source=r[1], fingerprint=r[2], chunks=r[3], content_key=r[4], duplicate_of=r[5]
            )
            for r in rows
        }

    @_sqlite_errors
    def upsert(self, item: IndexedDocument) -> None:
        info = self.info()
        if info is None:
            raise IndexMismatchError("bind the index to an embedding model before writing to it")
        with self._lock, self._transaction():
            self._write(item, info.dimension)

    @_sqlite_errors
    def upsert_many(self, items: Sequence[IndexedDocument]) -> dict[str, str]:
        info = self.info()
        if info is None:
            raise IndexMismatchError("bind the index to an embedding model before writing to it")
        with self._lock, self._transaction():
            for item in items:
                self._write(item, info.dimension)
        return {}  # one transaction: every document is stored, or an exception says why none was

    @_sqlite_errors
    def link(self, duplicates: Mapping[str, str]) -> None:
        with self._lock, self._transaction():
            self._dirty = True
            for doc_id, canonical in duplicates.items():
                row = self._db.execute("SELECT acl FROM documents WHERE doc_id = ?", (doc_id,)).fetchone()
                if row is None:
                    continue
                self._db.execute("UPDATE documents SET duplicate_of = ? WHERE doc_id = ?", (canonical, doc_id))
                self._db.execute("DELETE FROM doc_acl WHERE doc_id = ?", (doc_id,))
                if not canonical:
                    self._db.executemany(
                        "INSERT INTO doc_acl (principal, doc_id) VALUES (?, ?)",
                        [(p, doc_id) for p in json.loads(row[0])],
                    )

    def refresh(self) -> None:
        """Writes are visible when they commit; nothing to do."""

    def _write(self, item: IndexedDocument, dimension: int) -> None:
        document, chunks, vectors = item.document, item.chunks, item.vectors
        if vectors.shape != (len(chunks), dimension):
            raise ValueError(f"expected vectors of shape ({len(chunks)}, {dimension}), got {vectors.shape}")
        blobs = np.ascontiguousarray(vectors, dtype=np.float32)
        self._dirty = True
        self._delete_one(document.doc_id)
        self._db.execute(
            "INSERT INTO documents (doc_id, source, fingerprint, title, url, updated_at, acl, content_key,"
            " duplicate_of) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                document.doc_id,
                document.source,
                item.fingerprint,
                document.title,
                document.url,
                document.updated_at.isoformat(),
                json.dumps(list(document.acl)),
                item.content_key,
                "",
            ),
        )
        self._db.executemany(
            "INSERT INTO doc_acl (principal, doc_id) VALUES (?, ?)", [(p, document.doc_id) for p in document.acl]
        )
        for chunk, vector in zip(chunks, blobs, strict=True):
            cursor = self._db.execute(
                "INSERT INTO chunks (chunk_id, doc_id, ordinal, heading_path, text, char_start, char_end,"
                " content_hash, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    chunk.chunk_id,
                    chunk.doc_id,
                    chunk.ordinal,
                    chunk.heading_path,
                    chunk.text,
                    chunk.char_start,
                    chunk.char_end,
                    chunk.content_hash,
                    vector.tobytes(),
                ),
            )
            self._db.execute(
                "INSERT INTO chunks_fts (rowid, title, heading_path, text) VALUES (?, ?, ?, ?)",
                (cursor.lastrowid, chunk.title, chunk.heading_path, chunk.text),
            )

    @_sqlite_errors
    def delete(self, doc_ids: Iterable[str]) -> int:
        """Remove documents and their chunks, then wipe their bytes from the disk (see the module docstring).

        Raises:
            RetryableError: the documents are gone from every search, but another process kept the file busy
                until the wipe gave up; the next `delete` (a repeated `ragbot forget`) finishes it.
            PermanentError: likewise gone from every search, but the wipe failed (a full disk, say).
        """
        removed = 0
        with self._lock:
            with self._transaction():
                self._dirty = True
                for doc_id in doc_ids:
                    removed += self._delete_one(doc_id)
                if removed:
                    self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (_EXPUNGE_PENDING,))
            if removed or self._expunge_pending():
                try:
                    self._expunge()
                except sqlite3.Error as err:  # the flag stays set: the next delete finishes the wipe
                    raise PermanentError(
                        f"removed from the index, but wiping it from {self.path} did not finish ({err}): free disk "
                        "space if it is full, then run the same 'ragbot forget' again"
                    ) from err
        return removed

    def _delete_one(self, doc_id: str) -> int:
        self._db.execute("DELETE FROM chunks_fts WHERE rowid IN (SELECT id FROM chunks WHERE doc_id = ?)", (doc_id,))
        self._db.execute("DELETE FROM chunks WHERE doc_id = ?", (doc_id,))
        self._db.execute("DELETE FROM doc_acl WHERE doc_id = ?", (doc_id,))
        return self._db.execute("DELETE FROM documents WHERE doc_id = ?", (doc_id,)).rowcount

    # -- reads ----------------------------------------------------------------------------------------------------

    @_sqlite_errors
    def search_keyword(self, text: str, *, principals: Sequence[str], k: int) -> LegResult:
        terms = [t for t in dict.fromkeys(w.lower() for w in _WORD.findall(text)) if t not in STOPWORDS]
        if not terms or not principals or k <= 0:
            return LegResult((), ())
        match = " OR ".join(f'"{t}"' for t in terms)
        marks = ",".join("?" * len(principals))
        sql = (
            f"SELECT c.chunk_id, -bm25(chunks_fts, ?, ?, ?) AS score FROM chunks_fts"  # noqa: S608 (only ? marks)
            f" JOIN chunks c ON c.id = chunks_fts.rowid"
            f" WHERE chunks_fts MATCH ?"
            f" AND c.doc_id IN (SELECT doc_id FROM doc_acl WHERE principal IN ({marks}))"
            f" ORDER BY score DESC LIMIT ?"
        )
        with self._lock:
            rows = self._db.execute(sql, (*self._weights, match, *principals, k)).fetchall()
        return LegResult(tuple(r[0] for r in rows), tuple(float(r[1]) for r in rows))

    @_sqlite_errors
    def search_vector(self, vector: Vectors, *, principals: Sequence[str], k: int) -> LegResult:
        with self._lock:
            matrix, row_ids = self._load_matrix()
            if matrix.shape[0] == 0 or not principals or k <= 0:
                return LegResult((), ())
            if vector.shape != (matrix.shape[1],):
                raise IndexMismatchError(f"query vector has shape {vector.shape}, the index holds {matrix.shape[1]}-d")
            mask = self._mask(principals, row_ids)
            # BLAS would spread this product over every core and fight torch for them; one thread is faster here.
            with threadpool_limits(limits=1, user_api="blas"):
                scores = matrix @ vector.astype(np.float32, copy=False)
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            k = min(k, scores.shape[0])
            top = np.argpartition(-scores, k - 1)[:k]
            top = top[np.argsort(-scores[top], kind="stable")]
            top = top[np.isfinite(scores[top])]
            ids = row_ids[top].tolist()
            by_row = dict(
                self._db.execute(
                    f"SELECT id, chunk_id FROM chunks WHERE id IN ({','.join('?' * len(ids))})",  # noqa: S608
                    ids,
                ).fetchall()
            )
        return LegResult(tuple(by_row[i] for i in ids), tuple(float(s) for s in scores[top]))

    @_sqlite_errors
    def chunks(self, chunk_ids: Sequence[str]) -> dict[str, Chunk]:
        if not chunk_ids:
            return {}
        with self._lock:
            rows = self._db.execute(
                _SELECT_CHUNK + f" WHERE c.chunk_id IN ({','.join('?' * len(chunk_ids))})",
                list(chunk_ids),
            ).fetchall()
        return {row[0]: _chunk_from_row(row) for row in rows}

    # -- internals ------------------------------------------------------------------------------------------------

    def _transaction(self) -> _Transaction:
        return _Transaction(self._db)

    def _expunge_pending(self) -> bool:
        row = self._db.execute("SELECT 1 FROM meta WHERE key = ?", (_EXPUNGE_PENDING,)).fetchone()
        return row is not None

    def _expunge(self) -> None:
        """Leave no byte of deleted rows in the database file, its write-ahead log or the FTS5 segments.

        secure_delete has zeroed the rows themselves; 'optimize' merges every FTS5 segment into one, dropping the
        deleted rows' tokens; VACUUM rewrites every page (what was deleted before secure_delete was on, by an older
        release, is gone too); the TRUNCATE checkpoint copies the log into the file and empties it. About 6 s per
        100k chunks; the file needs its own size free twice over (a temporary copy and the log) while it runs.
        """
        with self._transaction():
            self._db.execute("INSERT INTO chunks_fts (chunks_fts) VALUES ('optimize')")
        self._db.execute("VACUUM")
        self._db.execute("DELETE FROM meta WHERE key = ?", (_EXPUNGE_PENDING,))
        (busy, _, _) = self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        if busy:
            # A reader kept a snapshot open past the busy timeout: old page images may still be in the log.
            self._db.execute("INSERT OR REPLACE INTO meta (key, value) VALUES (?, '1')", (_EXPUNGE_PENDING,))
            raise RetryableError(
                f"removed from the index, but a reader kept {self.path.name}-wal busy, so the deleted text may "
                "still be on disk: run the same 'ragbot forget' again to finish the wipe"
            )

    def _migrate(self) -> None:
        """Add the columns later releases introduced to a store an older release created."""
        columns = {row[1] for row in self._db.execute("PRAGMA table_info(documents)")}
        for column in ("content_key", "duplicate_of"):
            if column not in columns:
                self._db.execute(f"ALTER TABLE documents ADD COLUMN {column} TEXT NOT NULL DEFAULT ''")

    def _load_matrix(self) -> tuple[Vectors, npt.NDArray[np.int64]]:
        (version,) = self._db.execute("PRAGMA data_version").fetchone()
        if self._matrix is None or self._row_ids is None or version != self._seen_version or self._dirty:
            info = self.info()
            dim = info.dimension if info else 0
            rows = self._db.execute("SELECT id, embedding FROM chunks ORDER BY id").fetchall()
            self._row_ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
            matrix = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
            self._matrix = matrix.reshape(len(rows), dim) if rows else np.zeros((0, dim), dtype=np.float32)
            self._masks = {}
            self._seen_version = version
            self._dirty = False
        return self._matrix, self._row_ids

    def _mask(self, principals: Sequence[str], row_ids: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_] | None:
        """Rows visible to any of `principals`, or None when every row is."""
        mask = np.zeros(row_ids.shape[0], dtype=bool)
        for principal in principals:
            cached = self._masks.get(principal)
            if cached is None:
                ids = np.fromiter(
                    (
                        r[0]
                        for r in self._db.execute(
                            "SELECT c.id FROM doc_acl a JOIN chunks c ON c.doc_id = a.doc_id WHERE a.principal = ?",
                            (principal,),
                        )
                    ),
                    dtype=np.int64,
                )
                cached = np.zeros(row_ids.shape[0], dtype=bool)
                cached[np.searchsorted(row_ids, ids)] = True
                self._masks[principal] = cached
            mask |= cached
        return None if mask.all() else mask


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT, or ROLLBACK on error (the connection runs in autocommit mode)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type: object, exc: object, tb: object) -> None:
        if exc_type is None:
            self._db.execute("COMMIT")
        elif self._db.in_transaction:  # SQLite may have rolled back already (a damaged file, a full disk)
            self._db.execute("ROLLBACK")


def _chunk_from_row(row: tuple[object, ...]) -> Chunk:
    (chunk_id, doc_id, ordinal, heading_path, text, start, end, content_hash, title, url, source, updated, acl) = row
    return Chunk(
        chunk_id=str(chunk_id),
        doc_id=str(doc_id),
        ordinal=int(str(ordinal)),
        title=str(title),
        url=str(url),
        source=str(source),
        text=str(text),
        heading_path=str(heading_path),
        char_start=int(str(start)),
        char_end=int(str(end)),
        acl=tuple(json.loads(str(acl))),
        updated_at=datetime.fromisoformat(str(updated)),
        content_hash=str(content_hash),
    )
