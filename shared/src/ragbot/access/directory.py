"""Who may read what: map a platform user's email to the principals the index filters on (DESIGN: permissions).

Principals are opaque strings: `*` (everyone), `user:EMAIL` and `group:NAME`. The directory is a file exported from
the identity provider, in one of three shapes:

    {"users": {"ana@kestrel.example": ["group:hr", "group:people-leads"]}}          # JSON, email → groups

    {"Resources": [{"userName": "ana@kestrel.example",                             # JSON, SCIM-like export
                    "emails": [{"value": "ana@kestrel.example"}],
                    "groups": [{"display": "hr"}, {"value": "people-leads"}]}]}

    email,groups                                                                   # CSV, groups `;`-separated
    ana@kestrel.example,group:hr;group:people-leads

Group names without a `group:` (or `user:`) prefix get `group:`. Emails match case-insensitively. A SCIM user
marked `"active": false` keeps no groups.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from ragbot.errors import InputError
from ragbot.models import EVERYONE

__all__ = ["PrincipalsDirectory"]

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
_PREFIXES = ("group:", "user:")


class PrincipalsDirectory:
    """Email → group principals, from a directory export. Unknown users get only `*` and their own `user:EMAIL`."""

    def __init__(self, groups_by_email: Mapping[str, Sequence[str]]) -> None:
        """Build a directory from already-normalised entries.

        Args:
            groups_by_email: Email → principals (`group:NAME`, `user:EMAIL`); emails are lower-cased here.
        """
        self._groups = {
            email.strip().lower(): tuple(dict.fromkeys(groups)) for email, groups in groups_by_email.items()
        }

    @classmethod
    def from_file(cls, path: Path) -> PrincipalsDirectory:
        """Read a `.json` (users map or SCIM-like export) or `.csv` (`email,groups`) directory file.

        Raises:
            InputError: The file is missing, unreadable, or not in one of the shapes above; the message says where.
        """
        path = path.expanduser()
        try:
            text = path.read_bytes().decode("utf-8-sig")
        except FileNotFoundError as err:
            raise InputError(f"no such principals directory file: {path}") from err
        except OSError as err:
            raise InputError(f"cannot read principals directory {path}: {err.strerror}") from err
        except UnicodeDecodeError as err:
            raise InputError(f"{path.name}: not UTF-8 text") from err
        suffix = path.suffix.lower()
        if suffix == ".csv":
            entries = _from_csv(text, where=path.name)
        elif suffix == ".json":
            entries = _from_json(text, where=path.name)
        else:
            raise InputError(f"{path.name}: principals directory must be a .json or .csv file")
        groups: dict[str, tuple[str, ...]] = {}
        for where, emails, names in entries:
            principals = tuple(_principal(name, where=where) for name in names)
            for email in emails:
                key = _email(email, where=where)
                if key in groups:
                    raise InputError(f"{where}: {key} is listed more than once")
                groups[key] = principals
        return cls(groups)

    def principals_for(self, email: str) -> tuple[str, ...]:
        """The principals of the user with this email: `*`, `user:EMAIL`, then their groups in file order.

        An unknown user gets `("*", "user:EMAIL")`; an empty email only `("*",)`.
        """
        key = email.strip().lower()
        if not key:
            return (EVERYONE,)
        return tuple(dict.fromkeys((EVERYONE, f"user:{key}", *self._groups.get(key, ()))))

    def __contains__(self, email: object) -> bool:
        return isinstance(email, str) and email.strip().lower() in self._groups

    def __len__(self) -> int:
        """How many email addresses the directory maps."""
        return len(self._groups)

    def __repr__(self) -> str:
        return f"PrincipalsDirectory({len(self)} emails)"


# (where, emails, group names) per user, before validation of each email and group.
_Entry = tuple[str, list[str], list[object]]


def _from_json(text: str, *, where: str) -> list[_Entry]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"{where}: invalid JSON: {err.msg} at line {err.lineno} column {err.colno}") from err
    if not isinstance(data, dict) or not ({"users", "Resources"} & set(data)):
        raise InputError(f"{where}: expected an object with a 'users' map or a SCIM 'Resources' list")
    if "users" in data:
        users = data["users"]
        if not isinstance(users, dict):
            raise InputError(f"{where}: 'users' must map emails to lists of groups")
        entries: list[_Entry] = []
        for email, names in users.items():
            if not isinstance(names, list):
                raise InputError(f"{where}: users[{email!r}] must be a list of groups")
            entries.append((f"{where} users[{email!r}]", [email], names))
        return entries
    return _from_scim(data["Resources"], where=where)


def _from_scim(resources: object, *, where: str) -> list[_Entry]:
    if not isinstance(resources, list):
        raise InputError(f"{where}: 'Resources' must be a list of users")
    entries: list[_Entry] = []
    for i, user in enumerate(resources):
        at = f"{where} Resources[{i}]"
        if not isinstance(user, dict):
            raise InputError(f"{at}: must be an object")
        emails = _scim_emails(user, where=at)
        raw_groups = user.get("groups", [])
        if not isinstance(raw_groups, list):
            raise InputError(f"{at}: 'groups' must be a list")
        names: list[object] = []
        for group in raw_groups:
            name = group.get("display") or group.get("value") if isinstance(group, dict) else group
            names.append(name)
        if user.get("active", True) is False:
            names = []
        entries.append((at, emails, names))
    return entries


def _scim_emails(user: dict[str, object], *, where: str) -> list[str]:
    candidates: list[object] = []
    user_name = user.get("userName")
    if isinstance(user_name, str) and _EMAIL.match(user_name.strip()):
        candidates.append(user_name)
    raw_emails = user.get("emails", [])
    if not isinstance(raw_emails, list):
        raise InputError(f"{where}: 'emails' must be a list of {{\"value\": EMAIL}} objects")
    for entry in raw_emails:
        candidates.append(entry.get("value") if isinstance(entry, dict) else entry)
    if not candidates:
        raise InputError(f"{where}: no email (an email 'userName' or 'emails' with a 'value')")
    # userName and the primary email are usually the same address.
    return list(dict.fromkeys(_email(c, where=where) for c in candidates))


def _from_csv(text: str, *, where: str) -> list[_Entry]:
    reader = csv.reader(io.StringIO(text))
    try:
        header = [cell.strip().lower() for cell in next(reader)]
    except StopIteration:
        raise InputError(f"{where}: empty file; expected a header 'email,groups'") from None
    except csv.Error as err:
        raise InputError(f"{where}: invalid CSV: {err}") from err
    if "email" not in header or "groups" not in header:
        raise InputError(f"{where}: the header must name the columns 'email' and 'groups', got {','.join(header)!r}")
    email_col, groups_col = header.index("email"), header.index("groups")
    entries: list[_Entry] = []
    try:
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            at = f"{where} line {reader.line_num}"
            if len(row) != len(header):
                raise InputError(f"{at}: expected {len(header)} columns, got {len(row)}")
            names: list[object] = [g for g in (part.strip() for part in row[groups_col].split(";")) if g]
            entries.append((at, [row[email_col]], names))
    except csv.Error as err:
        raise InputError(f"{where} line {reader.line_num}: invalid CSV: {err}") from err
    return entries


def _email(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not _EMAIL.match(value.strip()):
        raise InputError(f"{where}: {json.dumps(value)} is not an email address")
    return value.strip().lower()


def _principal(value: object, *, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(f"{where}: groups must be non-empty strings, got {json.dumps(value)}")
    name = value.strip()
    if name == EVERYONE:
        return name
    if name.startswith(_PREFIXES):
        if not name.split(":", 1)[1].strip():
            raise InputError(f"{where}: {name!r} has no name after the prefix")
        return name
    return f"group:{name}"
