"""Where documents come from: a folder, a Git work tree or a JSONL export, behind one streaming interface.

A `Source` yields `Document`s, and a `LoadFailure` for each item it could not load, so that one bad file or line
never stops an ingest. Every yielded `doc_id` (document or failure) counts as still present when pruning: a file
that exists but fails to load keeps its previous version. `open_source` picks the source type for a path.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath
from typing import Protocol
from urllib.parse import quote, urlsplit

from pydantic import ValidationError

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import AclRules, load_acl_rules
from ragbot.ingestion.load import SourceFile, _first_h1, _normalize, discover, load_document
from ragbot.models import Document

__all__ = ["FolderSource", "GitFolderSource", "JsonlSource", "LoadFailure", "Source", "open_source"]

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 120.0
"""How long one git command may run before the folder is read without git."""

# Variables that would point git at another repository than the folder's own.
_GIT_LOCATION_VARS = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE"})
_SCP_REMOTE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]{2,}):(?!//)(?P<path>[^\\].*)$")
_JSONL_KEYS = frozenset({"id", "title", "url", "text", "updated_at", "acl", "metadata"})


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """An item a source could not load: its id (or, without one, where it is) and why, in one line."""

    doc_id: str
    reason: str


class Source(Protocol):
    """A stream of documents with a name. `--prune` only removes documents of the same source name."""

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        ...

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield every document, or a failure in its place; each call reads the source afresh."""
        ...


def open_source(
    path: Path, *, name: str | None = None, acl: tuple[str, ...] | None = None, url_base: str | None = None
) -> Source:
    """Pick the source type for a path.

    A `.jsonl` file is a `JsonlSource`; a folder that is a Git work tree (has `.git`) is a `GitFolderSource`; any
    other folder or single file is a `FolderSource`.

    Args:
        path: The folder or file to ingest.
        name: Source name recorded on documents; default the folder's name (the file's stem for JSONL).
        acl: Principals for documents no sidecar rule matches (`--acl`).
        url_base: Documents without a URL of their own get `url_base` joined with their id.

    Raises:
        InputError: The path does not exist, or its ACL sidecar or the settings are invalid (before anything is
            yielded).
    """
    path = path.expanduser()
    if not path.exists():
        raise InputError(f"no such file or folder: {path}")
    if path.is_file() and path.suffix.lower() == ".jsonl":
        return JsonlSource(path, name=name, acl=acl, url_base=url_base)
    if path.is_dir() and (path / ".git").exists():
        return GitFolderSource(path, name=name, acl=acl, url_base=url_base)
    return FolderSource(path, name=name, acl=acl, url_base=url_base)


class FolderSource:
    """The supported files under a folder (or one file); a document's id is its POSIX path under the folder.

    Access comes from the folder's `.ragbot-acl.toml` sidecar, then `acl`, then everyone. A file that fails to load
    is yielded as a `LoadFailure`.
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
    ) -> None:
        """Check the folder and read its ACL sidecar.

        Args:
            root: A folder, or a single file (its id is its name; the sidecar is read from its folder).
            name: Source name; default the folder's name.
            acl: Principals for files no sidecar rule matches; default the sidecar's default, else everyone.
            url_base: Files without a front matter `url:` get `url_base` joined with their id.

        Raises:
            InputError: `root` does not exist, its sidecar is invalid, or `name` / `url_base` is malformed.
        """
        root = root.expanduser()
        if not root.exists():
            raise InputError(f"no such file or folder: {root}")
        self.root = root
        self.folder = root if root.is_dir() else root.parent
        self._name = _check_name(name, default=self.folder.resolve().name or "files")
        self.url_base = _check_url_base(url_base)
        self.rules: AclRules = load_acl_rules(self.folder, default=acl)

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        return self._name

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield each supported file as a `Document`, or a `LoadFailure` when it cannot be loaded."""
        return self._load(discover(self.root, acl=self.rules), url_base=self.url_base)

    def _load(self, files: Iterable[SourceFile], *, url_base: str | None) -> Iterator[Document | LoadFailure]:
        for file in files:
            try:
                document = load_document(file, source=self._name)
            except DocumentError as err:
                yield LoadFailure(doc_id=err.path, reason=str(err))
                continue
            if url_base and not document.url:
                document = document.model_copy(update={"url": _join_url(url_base, document.doc_id)})
            yield document

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.root)!r}, name={self._name!r})"


@dataclass(frozen=True, slots=True)
class _GitState:
    tracked: frozenset[str]
    committed: dict[str, datetime]
    changed: frozenset[str]
    url_base: str | None


class GitFolderSource(FolderSource):
    """The files Git tracks in a work tree; untracked and ignored files (build output, scratch notes) are left out.

    A file's `updated_at` is the time of the last commit that touched it, or its mtime while it has uncommitted
    changes (a date in the file itself, such as front matter `updated:`, still wins). Without `url_base`, links
    point at the file on the `origin` remote's web UI (GitHub, GitLab or Bitbucket) at the checked-out branch or
    commit. If git is missing or the folder is not a usable repository, the folder is read like a `FolderSource`,
    with a warning.
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
    ) -> None:
        """Check the work tree and read its ACL sidecar.

        Args:
            root: The work tree (or a folder inside one).
            name: Source name; default the folder's name.
            acl: Principals for files no sidecar rule matches; default the sidecar's default, else everyone.
            url_base: Overrides the link base derived from the `origin` remote.

        Raises:
            InputError: `root` is not a folder, its sidecar is invalid, or `name` / `url_base` is malformed.
        """
        super().__init__(root, name=name, acl=acl, url_base=url_base)
        if not self.root.is_dir():
            raise InputError(f"not a folder: {self.root}")

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield each tracked, supported file as a `Document`, or a `LoadFailure` when it cannot be loaded."""
        try:
            state = self._git_state()
        except _GitUnavailable as err:
            log.warning("%s: %s; ingesting every file in the folder", self.root, err)
            yield from super().items()
            return
        files = (
            replace(file, modified=None if file.doc_id in state.changed else state.committed.get(file.doc_id))
            for file in discover(self.root, acl=self.rules)
            if file.doc_id in state.tracked
        )
        yield from self._load(files, url_base=self.url_base or state.url_base)

    def _git_state(self) -> _GitState:
        tracked = frozenset(_paths(self._git("ls-files", "-z")))
        # One pass over the history, newest first: the first commit listing a path is its last change.
        log_args = ["log", "--format=%x01%ct", "--name-only", "-z", "--no-renames", "--relative", "--", "."]
        history = self._git("-c", "log.showSignature=false", *log_args, allow_failure=True)
        committed: dict[str, datetime] = {}
        for record in history.split(b"\x01")[1:]:
            stamp, _, names = record.partition(b"\0")
            when = datetime.fromtimestamp(int(stamp), tz=UTC)
            for path in _paths(names.lstrip(b"\n")):
                committed.setdefault(path, when)
        changed = frozenset(
            _paths(self._git("diff", "HEAD", "--name-only", "-z", "--no-renames", "--relative", allow_failure=True))
        )
        return _GitState(tracked=tracked, committed=committed, changed=changed, url_base=self._remote_url_base())

    def _remote_url_base(self) -> str | None:
        if self.url_base:
            return None
        web = _web_url(os.fsdecode(self._git("remote", "get-url", "origin", allow_failure=True)).strip())
        ref = os.fsdecode(self._git("symbolic-ref", "-q", "--short", "HEAD", allow_failure=True)).strip()
        ref = ref or os.fsdecode(self._git("rev-parse", "--verify", "-q", "HEAD", allow_failure=True)).strip()
        if web is None or not ref:
            log.info("%s: no web link for the origin remote; documents have no url (set a url base)", self.root)
            return None
        base, kind = web
        prefix = os.fsdecode(self._git("rev-parse", "--show-prefix", allow_failure=True)).strip()
        route = {"gitlab": "-/blob", "bitbucket": "src"}.get(kind, "blob")
        return f"{base}/{route}/{quote(ref, safe='/')}/{quote(prefix, safe='/')}"

    def _git(self, *args: str, allow_failure: bool = False) -> bytes:
        """Run git in the folder; an empty result when `allow_failure` and git says no.

        Raises:
            _GitUnavailable: git is not installed, timed out, or (unless `allow_failure`) failed.
        """
        env = {key: value for key, value in os.environ.items() if key not in _GIT_LOCATION_VARS}
        try:
            done = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
                ["git", *args],  # noqa: S607 - git is looked up on PATH like any developer tool
                cwd=self.root,
                env=env,
                check=False,
                capture_output=True,
                timeout=GIT_TIMEOUT_S,
            )
        except FileNotFoundError as err:
            raise _GitUnavailable("git is not installed") from err
        except subprocess.TimeoutExpired as err:
            raise _GitUnavailable(f"'git {args[0]}' took longer than {GIT_TIMEOUT_S:g}s") from err
        except OSError as err:
            raise _GitUnavailable(f"cannot run git: {err}") from err
        if done.returncode != 0:
            if allow_failure:
                return b""
            message = os.fsdecode(done.stderr).strip().splitlines()
            raise _GitUnavailable(f"not a usable git repository ({message[0] if message else done.returncode})")
        return done.stdout


class _GitUnavailable(Exception):
    """Git cannot tell which files are tracked; the folder is read without it."""


def _paths(output: bytes) -> Iterator[str]:
    for raw in output.split(b"\0"):
        if raw:
            yield os.fsdecode(raw)


def _web_url(remote: str) -> tuple[str, str] | None:
    """`(https://host/org/repo, kind)` for a GitHub, GitLab or Bitbucket remote URL, else None."""
    scp = _SCP_REMOTE.match(remote) if "://" not in remote else None
    if scp:
        host, path, scheme = scp.group("host"), scp.group("path"), "https"
    else:
        parts = urlsplit(remote)
        if parts.scheme not in {"https", "http", "ssh", "git"} or not parts.hostname:
            return None
        host, path = parts.hostname, parts.path
        # Keep an explicit port of a web URL; ssh and git ports are not where the web UI lives.
        scheme = parts.scheme if parts.scheme in {"https", "http"} else "https"
        if parts.port and scheme == parts.scheme:
            host = f"{host}:{parts.port}"
    kind = next((k for k in ("github", "gitlab", "bitbucket") if k in host.lower()), None)
    path = path.strip("/").removesuffix(".git").strip("/")
    if kind is None or path.count("/") < 1:
        return None
    return f"{scheme}://{host}/{path}", kind


class JsonlSource:
    """A JSONL export, one document a line: `{"id", "text", "title", "url", "updated_at", "acl", "metadata"}`.

    `id` and `text` are required non-empty strings; the text is light Markdown. `title` defaults to the text's first
    `# ` heading, else a name derived from the id; `url` to `url_base` joined with the id; `updated_at` (ISO 8601
    date or datetime, naive means UTC) to the file's mtime; `acl` (non-empty list of principals) to the sidecar
    rules in the file's folder matched on the id, else `acl`, else everyone; `metadata` is an object of strings.
    Each bad line is yielded as a `LoadFailure` and the rest carry on; blank lines are skipped.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
    ) -> None:
        """Check the file and read the ACL sidecar next to it.

        Args:
            path: The `.jsonl` file.
            name: Source name; default the file's stem.
            acl: Principals for lines without `acl` that no sidecar rule matches.
            url_base: Lines without `url` get `url_base` joined with their id.

        Raises:
            InputError: The file does not exist, the sidecar is invalid, or `name` / `url_base` is malformed.
        """
        path = path.expanduser()
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        self.path = path
        self._name = _check_name(name, default=path.stem or "export")
        self.url_base = _check_url_base(url_base)
        self.rules: AclRules = load_acl_rules(path.parent, default=acl)

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        return self._name

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield each line as a `Document`, or a `LoadFailure` naming its id (else `file:line`) and the problem.

        Raises:
            InputError: The file can no longer be read.
        """
        try:
            handle = self.path.open("rb")
            mtime = datetime.fromtimestamp(self.path.stat().st_mtime, tz=UTC).replace(microsecond=0)
        except OSError as err:
            raise InputError(f"cannot read {self.path}: {err.strerror}") from err
        first_line: dict[str, int] = {}
        with handle:
            for line_no, raw in enumerate(handle, start=1):
                if not raw.strip():
                    continue
                where = f"{self.path.name}:{line_no}"
                try:
                    record = _parse_line(raw, first=line_no == 1)
                except ValueError as err:
                    yield LoadFailure(doc_id=where, reason=f"line {line_no}: {err}")
                    continue
                doc_id = record.get("id")
                known = doc_id.strip() if isinstance(doc_id, str) and doc_id.strip() else None
                if known is not None and known in first_line:
                    yield LoadFailure(known, f"line {line_no}: duplicate id, first seen on line {first_line[known]}")
                    continue
                if known is not None:
                    first_line[known] = line_no
                try:
                    yield self._document(record, default_updated_at=mtime)
                except ValueError as err:  # pydantic's ValidationError is a ValueError too
                    yield LoadFailure(known or where, f"line {line_no}: {_one_line(err)}")

    def _document(self, record: dict[str, object], *, default_updated_at: datetime) -> Document:
        unknown = sorted(set(record) - _JSONL_KEYS)
        if unknown:
            raise ValueError(f"unknown key {unknown[0]!r}; expected {', '.join(sorted(_JSONL_KEYS))}")
        # null means absent: exports often write every column.
        record = {key: value for key, value in record.items() if value is not None}
        doc_id = _required_str(record, "id")
        text = _normalize(_required_str(record, "text"))
        title = _optional_str(record, "title")
        url = _optional_str(record, "url")
        updated_at = _iso_datetime(record["updated_at"]) if "updated_at" in record else default_updated_at
        acl = _principals(record["acl"]) if "acl" in record else self.rules.principals_for(doc_id)
        metadata = _metadata(record["metadata"]) if "metadata" in record else {}
        canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        try:
            return Document(
                doc_id=doc_id,
                title=title or _first_h1(text).strip() or _title_from_id(doc_id),
                url=url or (_join_url(self.url_base, doc_id) if self.url_base else ""),
                source=self._name,
                text=text,
                updated_at=updated_at,
                acl=acl,
                content_hash=hashlib.sha256(canonical.encode()).hexdigest(),
                metadata=metadata,
            )
        except ValidationError as err:
            raise ValueError(_one_line(err)) from err

    def __repr__(self) -> str:
        return f"JsonlSource({str(self.path)!r}, name={self._name!r})"


def _parse_line(raw: bytes, *, first: bool) -> dict[str, object]:
    try:
        line = raw.decode("utf-8-sig" if first else "utf-8")
    except UnicodeDecodeError as err:
        raise ValueError("not UTF-8") from err
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise ValueError(f"invalid JSON: {err.msg} at column {err.colno}") from err
    if not isinstance(record, dict):
        raise ValueError(f"expected a JSON object, got {type(record).__name__}")
    return record


def _required_str(record: dict[str, object], key: str) -> str:
    if key not in record:
        raise ValueError(f"missing {key!r}")
    value = record[key]
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{key!r} must be a non-empty string")
    return value.strip()


def _optional_str(record: dict[str, object], key: str) -> str:
    value = record.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValueError(f"{key!r} must be a string")
    return value.strip()


def _iso_datetime(value: object) -> datetime:
    if isinstance(value, str) and value.strip():
        text = value.strip()
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            try:
                parsed = datetime.combine(date.fromisoformat(text), datetime.min.time())
            except ValueError:
                parsed = None
        if parsed is not None:
            return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise ValueError(f"'updated_at' must be an ISO 8601 date or datetime, got {json.dumps(value)}")


def _principals(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p.strip() for p in value):
        raise ValueError("'acl' must be a non-empty list of non-empty strings")
    return tuple(dict.fromkeys(p.strip() for p in value))


def _metadata(value: object) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ValueError("'metadata' must be an object of string values")
    return dict(value)


def _title_from_id(doc_id: str) -> str:
    stem = PurePosixPath(doc_id.rstrip("/")).name or doc_id
    if "." in stem.strip("."):
        stem = PurePosixPath(stem).stem
    words = " ".join(re.sub(r"[-_]+", " ", stem).split())
    return (words[:1].upper() + words[1:]) or doc_id


def _one_line(err: Exception) -> str:
    if isinstance(err, ValidationError):
        first = err.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        return f"{field}: {first['msg']}" if field else str(first["msg"])
    return " ".join(str(err).split())


def _check_name(name: str | None, *, default: str) -> str:
    if name is None:
        return default
    if not name.strip():
        raise InputError("the source name must not be empty")
    return name.strip()


def _check_url_base(url_base: str | None) -> str | None:
    if not url_base:
        return None
    parts = urlsplit(url_base.strip())
    if parts.scheme not in {"http", "https"} or not parts.netloc or any(c.isspace() for c in url_base.strip()):
        raise InputError(f"the url base must be an http(s) URL, got {url_base!r}")
    return url_base.strip()


def _join_url(base: str, doc_id: str) -> str:
    return base.rstrip("/") + "/" + quote(doc_id.lstrip("/"), safe="/")
