"""A JSONL export as a source: one document a line, each bad line a `LoadFailure` while the rest carry on."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path, PurePosixPath

from pydantic import ValidationError

from ragbot.errors import DocumentError, InputError
from ragbot.ingestion.acl import AclResolver
from ragbot.ingestion.load import first_h1, normalize_text
from ragbot.ingestion.sources.base import (
    LoadFailure,
    PathNamedSource,
    check_url_base,
    join_url,
    url_refusal,
)
from ragbot.models import Document

__all__ = ["JsonlSource"]

_JSONL_KEYS = frozenset({"id", "title", "url", "text", "updated_at", "acl", "metadata"})


class JsonlSource(PathNamedSource):
    """A JSONL export, one document a line: `{"id", "text", "title", "url", "updated_at", "acl", "metadata"}`.

    `id` and `text` are required non-empty strings; the text is light Markdown. `title` defaults to the text's first
    `# ` heading, else a name derived from the id; `url` to `url_base` joined with the id; `updated_at` (ISO 8601
    date or datetime, naive means UTC) to the file's mtime; `acl` (non-empty list of principals) to what the
    sidecars at and above the file's folder say of the id as a path in that folder (`AclResolver`), else `acl`,
    else everyone; `metadata` is an object of strings.
    A URL that fails the URL policy (`ragbot.urls`) makes its line bad. Each bad line is yielded as a `LoadFailure`
    and the rest carry on; blank lines are skipped.
    """

    def __init__(
        self,
        path: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
    ) -> None:
        """Check the file and read the ACL sidecars at and above its folder.

        Args:
            path: The `.jsonl` file.
            name: Source name; default the file's stem and a hash of its path (`default_source_name`).
            acl: Principals for lines without `acl` that no sidecar rule matches.
            url_base: Lines without `url` get `url_base` joined with their id.

        Raises:
            InputError: The file does not exist, a sidecar is invalid, or `name` / `url_base` is malformed.
        """
        path = path.expanduser()
        if not path.is_file():
            raise InputError(f"no such file: {path}")
        self.path = path
        super().__init__(name, path=path, base=path.stem or "export")
        self.url_base = check_url_base(url_base)
        self.access = AclResolver(path.parent, acl=acl)

    def doc_ids(self) -> Iterator[str]:
        """The ids of the lines that have one, without building documents.

        Raises:
            InputError: The file can no longer be read.
        """
        try:
            with self.path.open("rb") as handle:
                for line_no, raw in enumerate(handle, start=1):
                    try:
                        doc_id = _parse_line(raw, first=line_no == 1).get("id") if raw.strip() else None
                    except ValueError:
                        continue
                    if isinstance(doc_id, str) and doc_id.strip():
                        yield doc_id.strip()
        except OSError as err:
            raise InputError(f"cannot read {self.path}: {err.strerror}") from err

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
        text = normalize_text(_required_str(record, "text"))
        title = _optional_str(record, "title")
        url = _optional_str(record, "url")
        updated_at = _iso_datetime(record["updated_at"]) if "updated_at" in record else default_updated_at
        try:
            acl = _principals(record["acl"]) if "acl" in record else self.access.principals_for(doc_id)
        except DocumentError as err:
            raise ValueError(str(err)) from err
        metadata = _metadata(record["metadata"]) if "metadata" in record else {}
        url = url or (join_url(self.url_base, doc_id) if self.url_base else "")
        refused = url_refusal(url)
        if refused:
            raise ValueError(refused)
        canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
        try:
            return Document(
                doc_id=doc_id,
                title=title or first_h1(text).strip() or _title_from_id(doc_id),
                url=url,
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
