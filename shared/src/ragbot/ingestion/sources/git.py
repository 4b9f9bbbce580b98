"""A Git work tree as a source: the tracked files, dated by their last commit, linked to the origin's web UI."""

from __future__ import annotations

import logging
import os
import re
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlsplit

from ragbot.errors import InputError
from ragbot.ingestion.load import SourceFile
from ragbot.ingestion.sources.base import LoadFailure
from ragbot.ingestion.sources.folder import FolderSource
from ragbot.models import Document
from ragbot.urls import url_problem

__all__ = ["GIT_TIMEOUT_S", "GitFolderSource"]

log = logging.getLogger(__name__)

GIT_TIMEOUT_S = 120.0
"""How long one git command may run before the folder is read without git."""

# Variables that would point git at another repository than the folder's own.
_GIT_LOCATION_VARS = frozenset({"GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_NAMESPACE"})
_SCP_REMOTE = re.compile(r"^(?:[^@/]+@)?(?P<host>[^:/]{2,}):(?!//)(?P<path>[^\\].*)$")


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
    commit; a link derived from a remote that fails the URL policy (`ragbot.urls`) is not made. If git is missing
    or the folder is not a usable repository, the folder is read like a `FolderSource`, with a warning.
    """

    def __init__(
        self,
        root: Path,
        *,
        name: str | None = None,
        acl: tuple[str, ...] | None = None,
        url_base: str | None = None,
        follow_symlinks: bool = False,
    ) -> None:
        """Check the work tree and read the ACL sidecars at and above it.

        Args:
            root: The work tree (or a folder inside one).
            name: Source name; default the folder's name and a hash of its path.
            acl: Principals for files no sidecar rule matches; they replace the defaults sidecars declare.
            url_base: Overrides the link base derived from the `origin` remote.
            follow_symlinks: Read what tracked links lead to even outside the folder.

        Raises:
            InputError: `root` is not a folder, a sidecar at or above it is invalid, or `name` / `url_base` is
                malformed.
        """
        super().__init__(root, name=name, acl=acl, url_base=url_base, follow_symlinks=follow_symlinks)
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
            for file in self._files()
            if self._tracked(file, state.tracked)
        )
        yield from self._load(files, url_base=self.url_base or state.url_base)

    def doc_ids(self) -> Iterator[str]:
        """The ids `items` would yield, without loading anything."""
        try:
            tracked = frozenset(_paths(self._git("ls-files", "-z")))
        except _GitUnavailable:
            yield from super().doc_ids()
            return
        yield from (file.doc_id for file in self._files() if self._tracked(file, tracked))

    def _tracked(self, file: SourceFile, tracked: frozenset[str]) -> bool:
        # By the path as Git lists it: a refused name's id is spelled with escapes; a folder that cannot be
        # listed is reported whatever Git tracks in it.
        return file.doc_id.endswith("/") or file.path.relative_to(self.root).as_posix() in tracked

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
        derived = f"{base}/{route}/{quote(ref, safe='/')}/{quote(prefix, safe='/')}"
        problem = url_problem(derived)
        if problem:  # the remote's URL is the repository's to choose: links from it must pass the URL policy too
            log.warning("%s: no web link for the origin remote (%s); documents have no url", self.root, problem)
            return None
        return derived

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
