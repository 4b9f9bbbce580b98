"""Per-file access control from `.ragbot-acl.toml` sidecars, whatever folder an ingest starts from.

    default = ["*"]                       # files that match no rule ("*" = everyone)

    [[rule]]                              # rules are tried in order; the first match wins
    pattern = "hr/compensation/*"         # fnmatch glob on the POSIX path under the sidecar's folder; * crosses "/"
    principals = ["group:hr", "group:people-leads"]

Principals are opaque strings: "*", "group:NAME", "user:EMAIL". A query sees a document iff they intersect.

A sidecar governs every file below its folder, however deep, and however the ingest reached the file: ingesting
the folder, a sub-folder of it or one file in it gives that file the same readers (`AclResolver`). A file is
governed by the sidecar in each folder above it up to the filesystem root, found by walking up from the file (its
path as given, and its real path when a link leads there). Each governing sidecar has a say: the principals of its
first rule that matches the file's path relative to the sidecar's folder, else its `default` if it declares one.
The file's readers are those every say admits (the intersection, "*" admitting anyone), so a sidecar deeper down
can narrow what one above allows but never widen it; a file no sidecar has a say on is readable by `--acl`, else
everyone. `--acl` replaces the `default` a sidecar declares, never its rules. When the says leave nobody (say
`group:hr` above and `group:eng` below), the file is not ingested and is reported.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ragbot.errors import DocumentError, InputError
from ragbot.models import EVERYONE

__all__ = ["ACL_SIDECAR", "AclResolver", "AclRules", "Sidecar", "load_acl_rules", "read_sidecar"]

ACL_SIDECAR = ".ragbot-acl.toml"

Rules = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True)
class AclRules:
    """One folder's rules on their own (`load_acl_rules`): the first matching rule, else `default`."""

    default: tuple[str, ...] = (EVERYONE,)
    rules: Rules = ()

    def principals_for(self, relative_path: str) -> tuple[str, ...]:
        """The ACL of the file at `relative_path` (POSIX, relative to the sidecar's folder)."""
        for pattern, principals in self.rules:
            if fnmatchcase(relative_path, pattern):
                return principals
        return self.default


@dataclass(frozen=True, slots=True)
class Sidecar:
    """One `.ragbot-acl.toml`: where it is, the default it declares (None: it declares none) and its rules."""

    path: Path
    default: tuple[str, ...] | None
    rules: Rules

    def say(self, relative_path: str, *, acl: tuple[str, ...] | None = None) -> tuple[str, ...] | None:
        """Its say on the file at `relative_path` (POSIX, under the sidecar's folder), or None when it has none.

        Args:
            relative_path: The file's path relative to the folder holding the sidecar.
            acl: `--acl`, which replaces the default the sidecar declares (not its rules).
        """
        for pattern, principals in self.rules:
            if fnmatchcase(relative_path, pattern):
                return principals
        if self.default is None:
            return None
        return acl or self.default


def _principals(value: object, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p.strip() for p in value):
        raise InputError(f"{where}: principals must be a non-empty list of strings")
    return tuple(p.strip() for p in value)


def read_sidecar(path: Path, *, name: str | None = None) -> Sidecar:
    """Read and check one sidecar file.

    Args:
        path: The `.ragbot-acl.toml` file.
        name: How errors name it (default: its file name).

    Raises:
        InputError: It is not valid TOML or does not follow the schema above.
    """
    label = name or path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"{label}: cannot read ACL sidecar: {err}") from err
    unknown = set(data) - {"default", "rule"}
    if unknown:
        raise InputError(f"{label}: unknown keys {sorted(unknown)}; expected 'default' and [[rule]]")
    default = _principals(data["default"], where=f"{label} default") if "default" in data else None
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise InputError(f"{label}: 'rule' must be an array of tables ([[rule]])")
    rules = []
    for i, rule in enumerate(raw_rules, start=1):
        if not isinstance(rule, dict) or not isinstance(rule.get("pattern"), str) or not rule["pattern"].strip():
            raise InputError(f"{label}: rule {i} needs a non-empty 'pattern' string")
        rules.append((rule["pattern"].strip(), _principals(rule.get("principals"), where=f"{label} rule {i}")))
    return Sidecar(path=path, default=default, rules=tuple(rules))


def load_acl_rules(folder: Path, *, default: tuple[str, ...] | None = None) -> AclRules:
    """Read `folder/.ragbot-acl.toml` if present, on its own (`AclResolver` combines every sidecar above a file).

    Args:
        folder: The folder holding the sidecar.
        default: Principals given on the command line (`--acl`); they replace the sidecar's `default`.

    Raises:
        InputError: The sidecar is not valid TOML or does not follow the schema above.
    """
    path = folder / ACL_SIDECAR
    if not path.is_file():
        return AclRules(default=default or (EVERYONE,))
    sidecar = read_sidecar(path)
    return AclRules(default=default or sidecar.default or (EVERYONE,), rules=sidecar.rules)


class AclResolver:
    """Who may read a file under `folder`: every sidecar above it, wherever the ingest started (module docstring).

    Sidecars are read once per folder. Those at and above `folder` are read when the resolver is made, so an
    invalid one stops the ingest before anything is read; one found deeper makes the files it governs fail, one by
    one, and the rest are still ingested.
    """

    def __init__(self, folder: Path, *, acl: tuple[str, ...] | None = None) -> None:
        """Find and check the sidecars at and above `folder`.

        Args:
            folder: The ingested folder (a single file's folder, a JSONL export's folder).
            acl: `--acl`: principals for files no sidecar has a say on; it replaces the defaults sidecars declare.

        Raises:
            InputError: A sidecar at or above `folder` is invalid or cannot be read.
        """
        self._acl = acl
        self._found: dict[Path, Sidecar | InputError | None] = {}
        self.folder = _absolute(folder)
        self._real_folder = folder.resolve()
        for anchor in (self.folder, *self.folder.parents, self._real_folder, *self._real_folder.parents):
            found = self._sidecar(anchor)
            if isinstance(found, InputError):
                raise InputError(f"{found}; fix or remove it, it governs {self.folder}") from found

    @property
    def governing(self) -> list[Path]:
        """The sidecars found at and above the folder, outermost first."""
        found = [s.path for s in self._found.values() if isinstance(s, Sidecar)]
        return sorted(set(found), key=lambda p: (len(p.parts), str(p)))

    def principals_for(self, relative: str, *, path: Path | None = None) -> tuple[str, ...]:
        """The readers of a file, or of a record whose id is `relative`.

        Args:
            relative: Its POSIX path under the folder (a JSONL record: its id).
            path: The file, for files: sidecars in folders between `folder` and the file count too, and so do those
                above its real location when a link leads there. Without it, `relative` is a name under the folder.

        Raises:
            DocumentError: A sidecar governing it below the folder is invalid, or the sidecars leave nobody.
        """
        says: list[tuple[Path, tuple[str, ...]]] = []
        if path is None:
            for anchor in (self.folder, *self.folder.parents):
                prefix = self.folder.relative_to(anchor).as_posix()
                says += self._say(anchor, relative if prefix == "." else f"{prefix}/{relative}", doc_id=relative)
        else:
            lexical = _absolute(path)
            for where in dict.fromkeys((lexical, path.resolve())):
                for anchor in where.parents:
                    says += self._say(anchor, where.relative_to(anchor).as_posix(), doc_id=relative)
        if not says:
            return self._acl or (EVERYONE,)
        readers = says[0][1]
        for _, principals in says[1:]:
            readers = _narrowed(readers, principals)
        if not readers:
            names = ", ".join(dict.fromkeys(str(sidecar) for sidecar, _ in says))
            raise DocumentError(
                f"its ACL sidecars leave nobody who may read it ({names}): not ingested; make them agree",
                path=relative,
            )
        return readers

    def _say(self, anchor: Path, relative: str, *, doc_id: str) -> list[tuple[Path, tuple[str, ...]]]:
        found = self._sidecar(anchor)
        if isinstance(found, InputError):
            raise DocumentError(f"{found}; fix or remove it", path=doc_id)
        say = found.say(relative, acl=self._acl) if found is not None else None
        return [(found.path, say)] if found is not None and say is not None else []

    def _sidecar(self, folder: Path) -> Sidecar | InputError | None:
        if folder not in self._found:
            path = folder / ACL_SIDECAR
            try:
                os.stat(path)
                found: Sidecar | InputError | None = read_sidecar(path, name=str(path))
            except (FileNotFoundError, NotADirectoryError):
                found = None
            except InputError as err:
                found = err
            except OSError as err:
                found = InputError(f"{path}: cannot tell whether this ACL sidecar exists: {err.strerror}")
            self._found[folder] = found
        return self._found[folder]


def _absolute(path: Path) -> Path:
    """`path` made absolute and `..`-free as written, links not resolved (the way an operator reads it)."""
    return Path(os.path.abspath(path))


def _narrowed(readers: Iterable[str], principals: tuple[str, ...]) -> tuple[str, ...]:
    """The readers both admit: "*" admits anyone, so it yields to the other side."""
    readers = tuple(readers)
    if EVERYONE in readers:
        return principals
    if EVERYONE in principals:
        return readers
    return tuple(p for p in readers if p in principals)
