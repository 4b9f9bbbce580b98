"""What every source shares: the `Source` protocol, `LoadFailure`, and the checks on a source's name and URLs.

A `Source` yields `Document`s, and a `LoadFailure` for each item it could not load, so that one bad file or line
never stops an ingest. Every yielded `doc_id` (document or failure) counts as still present when pruning: a file
that exists but fails to load keeps its previous version (a failure whose id ends in "/" keeps everything under
that folder); only a failure marked not `present` (a link out of the ingested folder) does not.

Default source names carry a hash of the path they come from (`default_source_name`), so two folders with the same
name never share one; a source named by default also knows the name it had before (`NamedByPath`), which the
pipeline keeps for an index that already holds documents under it (`ingestion.pipeline.settle_source_names`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable
from urllib.parse import quote

from ragbot.errors import InputError
from ragbot.models import Document
from ragbot.urls import shown, url_problem

__all__ = [
    "LoadFailure",
    "NamedByPath",
    "PathNamedSource",
    "Source",
    "check_source_name",
    "check_url_base",
    "default_source_name",
    "join_url",
    "url_refusal",
]


@dataclass(frozen=True, slots=True)
class LoadFailure:
    """An item a source could not load: its id (or, without one, where it is) and why, in one line.

    `present` False: the item must not count as still there when pruning (a link out of the ingested folder).
    """

    doc_id: str
    reason: str
    present: bool = True


class Source(Protocol):
    """A stream of documents with a name. `--prune` only removes documents of the same source name."""

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        ...

    def items(self) -> Iterator[Document | LoadFailure]:
        """Yield every document, or a failure in its place; each call reads the source afresh."""
        ...


@runtime_checkable
class NamedByPath(Protocol):
    """A source named by default: it can list its ids without loading them and take the name it used to have."""

    @property
    def legacy_name(self) -> str | None:
        """The default name before names carried a hash of the path; None when the name was given."""
        ...

    def doc_ids(self) -> Iterator[str]:
        """The ids `items` would yield (documents and failures), without loading anything."""
        ...

    def rename(self, name: str) -> None:
        """Record `name` on every document from now on."""
        ...


class PathNamedSource:
    """The name bookkeeping of a source read from a path: its name, the default it had before, and renaming.

    Args:
        name: The name given, or None for the default (`default_source_name` of `path`, from `base`).
        path: What the default name's hash is taken of.
        base: The readable part of the default name.
    """

    def __init__(self, name: str | None, *, path: Path, base: str) -> None:
        default, legacy = default_source_name(path, base=base)
        self._name = check_source_name(name, default=default)
        self._legacy_name = legacy if name is None else None

    @property
    def name(self) -> str:
        """Recorded on every `Document.source`; pruning is scoped to it."""
        return self._name

    @property
    def legacy_name(self) -> str | None:
        """The default name before names carried a hash of the path; None when the name was given."""
        return self._legacy_name

    def rename(self, name: str) -> None:
        """Record `name` on every document from now on (the pipeline keeps a name an index already holds)."""
        self._name = name


def default_source_name(path: Path, *, base: str) -> tuple[str, str]:
    """The default name of a source at `path`, and the one it had before.

    Args:
        path: The folder (or JSONL file) the source reads.
        base: What the name used to be: the folder's name, the export's stem.

    Returns:
        `(f"{base}-{hash}", base)`: 8 hex digits of the SHA-256 of the resolved path make two folders with the same
        name (`team-a/docs`, `team-b/docs`) two sources; the same folder gets the same name every time.
    """
    base = os.fsencode(base).decode("utf-8", "backslashreplace")
    digest = hashlib.sha256(os.fsencode(path.resolve())).hexdigest()[:8]
    return f"{base}-{digest}", base


def check_source_name(name: str | None, *, default: str) -> str:
    """Check a source name given on the command line.

    Args:
        name: The name asked for, or None for the default.
        default: The name a source derives from its path.

    Returns:
        The name, stripped.

    Raises:
        InputError: `name` is blank.
    """
    if name is None:
        return default
    if not name.strip():
        raise InputError("the source name must not be empty")
    return name.strip()


def check_url_base(url_base: str | None) -> str | None:
    """Check the base that documents without a URL of their own are linked under.

    Args:
        url_base: An http(s) URL, or None / "" for no links.

    Returns:
        The URL, stripped, or None.

    Raises:
        InputError: `url_base` fails the URL policy (`ragbot.urls`: http or https, a host, no markup, whitespace
            or control characters, bounded length).
    """
    if not url_base:
        return None
    problem = url_problem(url_base.strip())
    if problem:
        raise InputError(f"the url base must be an http(s) URL the URL policy accepts: {problem}: {shown(url_base)}")
    return url_base.strip()


def url_refusal(url: str) -> str | None:
    """Why a document's final URL (its own, or joined under a base) is refused, in one line; None if it passes.

    Every source checks each document's URL with this before yielding it, so a bad one is that document's
    `LoadFailure` and the other documents are still ingested.
    """
    problem = url_problem(url) if url else None
    return f"url refused: {problem}: {shown(url)}" if problem else None


def join_url(base: str, doc_id: str) -> str:
    """Link a document under a URL base.

    Args:
        base: A URL base `check_url_base` accepted.
        doc_id: The document's id, a POSIX path or any other string.

    Returns:
        `base` and the id, percent-quoted but for its slashes, joined by exactly one slash.
    """
    return base.rstrip("/") + "/" + quote(doc_id.lstrip("/"), safe="/")
