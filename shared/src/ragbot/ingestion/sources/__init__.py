"""Where documents come from: a folder, a Git work tree or a JSONL export, behind one streaming interface.

    base        the `Source` protocol, `LoadFailure`, and the checks on a source's name and URL base
    folder      `FolderSource`: the supported files under a folder, or one file
    git         `GitFolderSource`: the files Git tracks, dated by their last commit, linked to the origin's web UI
    jsonl       `JsonlSource`: one document a line of a JSONL export

`open_source` picks the source type for a path.
"""

from __future__ import annotations

from pathlib import Path

from ragbot.errors import InputError
from ragbot.ingestion.sources.base import LoadFailure, NamedByPath, Source
from ragbot.ingestion.sources.folder import FolderSource
from ragbot.ingestion.sources.git import GitFolderSource
from ragbot.ingestion.sources.jsonl import JsonlSource

__all__ = ["FolderSource", "GitFolderSource", "JsonlSource", "LoadFailure", "NamedByPath", "Source", "open_source"]


def open_source(
    path: Path,
    *,
    name: str | None = None,
    acl: tuple[str, ...] | None = None,
    url_base: str | None = None,
    follow_symlinks: bool = False,
) -> Source:
    """Pick the source type for a path.

    A `.jsonl` file is a `JsonlSource`; a folder that is a Git work tree (has `.git`) is a `GitFolderSource`; any
    other folder or single file is a `FolderSource`.

    Args:
        path: The folder or file to ingest.
        name: Source name recorded on documents; default the folder's name (the file's stem for JSONL) and a hash
            of its path (`default_source_name`).
        acl: Principals for documents no sidecar rule matches (`--acl`).
        url_base: Documents without a URL of their own get `url_base` joined with their id.
        follow_symlinks: Read what links in a folder lead to even outside it (`--follow-symlinks`).

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
        return GitFolderSource(path, name=name, acl=acl, url_base=url_base, follow_symlinks=follow_symlinks)
    return FolderSource(path, name=name, acl=acl, url_base=url_base, follow_symlinks=follow_symlinks)
