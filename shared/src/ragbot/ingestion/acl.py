"""Per-file access control from a sidecar file, `.ragbot-acl.toml`, at the root of an ingested folder.

    default = ["*"]                       # files that match no rule ("*" = everyone)

    [[rule]]                              # rules are tried in order; the first match wins
    pattern = "hr/compensation/*"         # fnmatch glob on the POSIX path under the folder; * crosses "/"
    principals = ["group:hr", "group:people-leads"]

Principals are opaque strings: "*", "group:NAME", "user:EMAIL". A query sees a document iff they intersect.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from pathlib import Path

from ragbot.errors import InputError
from ragbot.models import EVERYONE

__all__ = ["ACL_SIDECAR", "AclRules", "load_acl_rules"]

ACL_SIDECAR = ".ragbot-acl.toml"


@dataclass(frozen=True, slots=True)
class AclRules:
    default: tuple[str, ...] = (EVERYONE,)
    rules: tuple[tuple[str, tuple[str, ...]], ...] = ()

    def principals_for(self, relative_path: str) -> tuple[str, ...]:
        """The ACL of the file at `relative_path` (POSIX, relative to the sidecar's folder)."""
        for pattern, principals in self.rules:
            if fnmatchcase(relative_path, pattern):
                return principals
        return self.default


def _principals(value: object, *, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(p, str) and p.strip() for p in value):
        raise InputError(f"{where}: principals must be a non-empty list of strings")
    return tuple(p.strip() for p in value)


def load_acl_rules(folder: Path, *, default: tuple[str, ...] | None = None) -> AclRules:
    """Read `folder/.ragbot-acl.toml` if present.

    Args:
        folder: The ingested root.
        default: Principals given on the command line (`--acl`); they replace the sidecar's `default`.

    Raises:
        InputError: The sidecar is not valid TOML or does not follow the schema above.
    """
    path = folder / ACL_SIDECAR
    if not path.is_file():
        return AclRules(default=default or (EVERYONE,))
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as err:
        raise InputError(f"{path.name}: cannot read ACL sidecar: {err}") from err
    unknown = set(data) - {"default", "rule"}
    if unknown:
        raise InputError(f"{path.name}: unknown keys {sorted(unknown)}; expected 'default' and [[rule]]")
    sidecar_default = _principals(data["default"], where=f"{path.name} default") if "default" in data else None
    raw_rules = data.get("rule", [])
    if not isinstance(raw_rules, list):
        raise InputError(f"{path.name}: 'rule' must be an array of tables ([[rule]])")
    rules = []
    for i, rule in enumerate(raw_rules, start=1):
        if not isinstance(rule, dict) or not isinstance(rule.get("pattern"), str) or not rule["pattern"].strip():
            raise InputError(f"{path.name}: rule {i} needs a non-empty 'pattern' string")
        rules.append((rule["pattern"].strip(), _principals(rule.get("principals"), where=f"{path.name} rule {i}")))
    return AclRules(default=default or sidecar_default or (EVERYONE,), rules=tuple(rules))
