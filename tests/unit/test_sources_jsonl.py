"""JSONL export sources: every field, the defaults, the content hash, and each bad line reported on its own."""

import hashlib
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest

from ragbot.errors import InputError
from ragbot.ingestion.sources import JsonlSource, open_source
from ragbot.models import Document
from tests.unit.test_sources import documents, failures


def write_jsonl(path: Path, *records: object) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records), encoding="utf-8")
    return path


def test_jsonl_source_reads_every_field(tmp_path: Path) -> None:
    record = {
        "id": "KB-1042",
        "title": "Reset your password",
        "url": "https://kb.example/1042",
        "text": "Open **Settings**.  \r\n\r\n\r\n\r\nChoose Reset.",
        "updated_at": "2026-03-01T09:30:00+01:00",
        "acl": ["group:it", "group:it", "user:ana@kestrel.example"],
        "metadata": {"owner": "it"},
    }
    source = open_source(write_jsonl(tmp_path / "kb-export.jsonl", record))
    assert isinstance(source, JsonlSource) and source.name.startswith("kb-export-")
    [doc] = source.items()
    assert isinstance(doc, Document)
    assert (doc.doc_id, doc.title, doc.url, doc.source) == (
        "KB-1042",
        "Reset your password",
        "https://kb.example/1042",
        source.name,
    )
    assert doc.text == "Open **Settings**.\n\nChoose Reset.\n"
    assert doc.updated_at == datetime(2026, 3, 1, 8, 30, tzinfo=UTC)
    assert doc.acl == ("group:it", "user:ana@kestrel.example")
    assert doc.metadata == {"owner": "it"}
    canonical = json.dumps(record, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert doc.content_hash == hashlib.sha256(canonical.encode()).hexdigest()


def test_jsonl_defaults_come_from_the_text_the_id_the_file_and_the_sidecar(tmp_path: Path) -> None:
    (tmp_path / ".ragbot-acl.toml").write_text('[[rule]]\npattern = "hr/*"\nprincipals = ["group:hr"]\n')
    path = write_jsonl(
        tmp_path / "export.jsonl",
        {"id": "hr/parental-leave_policy.html", "text": "Twenty weeks."},
        {"id": "KB-7", "text": "Intro.\n\n# Printing\n\nFloor 2.", "title": None},
        {"id": "it/vpn", "text": "x", "updated_at": "2026-01-05"},
        {"id": "it/wifi", "text": "x", "updated_at": "2026-01-05T10:00:00"},
    )
    os.utime(path, (1_770_000_000, 1_770_000_000))
    docs = documents(JsonlSource(path, name="intranet", url_base="https://intranet.example/pages/"))
    leave, kb = docs["hr/parental-leave_policy.html"], docs["KB-7"]
    assert (leave.title, kb.title) == ("Parental leave policy", "Printing")
    assert leave.url == "https://intranet.example/pages/hr/parental-leave_policy.html"
    assert leave.updated_at == datetime.fromtimestamp(1_770_000_000, tz=UTC)
    assert (leave.acl, kb.acl) == (("group:hr",), ("*",))
    assert {doc.source for doc in docs.values()} == {"intranet"}
    assert docs["it/vpn"].updated_at == datetime(2026, 1, 5, tzinfo=UTC)
    assert docs["it/wifi"].updated_at == datetime(2026, 1, 5, 10, tzinfo=UTC)
    assert documents(JsonlSource(path, acl=("group:staff",)))["KB-7"].acl == ("group:staff",)
    assert documents(JsonlSource(path))["KB-7"].url == ""


def test_jsonl_content_hash_changes_with_any_field(tmp_path: Path) -> None:
    def hash_of(record: dict[str, object]) -> str:
        [doc] = documents(JsonlSource(write_jsonl(tmp_path / "e.jsonl", record))).values()
        return doc.content_hash

    base = {"id": "a", "text": "Same text."}
    assert hash_of(base) == hash_of(dict(base))
    assert hash_of(base) != hash_of({**base, "title": "New title"})
    assert hash_of(base) != hash_of({**base, "metadata": {"team": "it"}})


def test_bad_jsonl_lines_are_reported_and_the_rest_carry_on(tmp_path: Path) -> None:
    path = tmp_path / "export.jsonl"
    lines = [
        json.dumps({"id": "ok-1", "text": "Fine."}),
        "{not json",
        "",
        "   ",
        json.dumps(["id", "text"]),
        json.dumps({"text": "No id."}),
        json.dumps({"id": "  ", "text": "Blank id."}),
        json.dumps({"id": "no-text"}),
        json.dumps({"id": "num-text", "text": 42}),
        json.dumps({"id": "bad-title", "text": "x", "title": ["a"]}),
        json.dumps({"id": "bad-date", "text": "x", "updated_at": "yesterday"}),
        json.dumps({"id": "epoch", "text": "x", "updated_at": 1700000000}),
        json.dumps({"id": "empty-acl", "text": "x", "acl": []}),
        json.dumps({"id": "str-acl", "text": "x", "acl": "group:hr"}),
        json.dumps({"id": "meta", "text": "x", "metadata": {"n": 1}}),
        json.dumps({"id": "extra", "text": "x", "body": "y"}),
        json.dumps({"id": "ok-1", "text": "Again."}),
        json.dumps({"id": "ok-2", "text": "Also fine."}),
    ]
    path.write_bytes(("\n".join(lines) + "\n").encode() + b'{"id": "latin", "text": "caf\xe9"}\n')
    source = JsonlSource(path)
    assert [doc.doc_id for doc in documents(source).values()] == ["ok-1", "ok-2"]
    assert documents(source)["ok-1"].text == "Fine.\n"
    reasons = failures(source)
    assert reasons == {
        "export.jsonl:2": reasons["export.jsonl:2"],
        "export.jsonl:5": "line 5: expected a JSON object, got list",
        "export.jsonl:6": "line 6: missing 'id'",
        "export.jsonl:7": "line 7: 'id' must be a non-empty string",
        "no-text": "line 8: missing 'text'",
        "num-text": "line 9: 'text' must be a non-empty string",
        "bad-title": "line 10: 'title' must be a string",
        "bad-date": "line 11: 'updated_at' must be an ISO 8601 date or datetime, got \"yesterday\"",
        "epoch": "line 12: 'updated_at' must be an ISO 8601 date or datetime, got 1700000000",
        "empty-acl": "line 13: 'acl' must be a non-empty list of non-empty strings",
        "str-acl": "line 14: 'acl' must be a non-empty list of non-empty strings",
        "meta": "line 15: 'metadata' must be an object of string values",
        "extra": reasons["extra"],
        "ok-1": "line 17: duplicate id, first seen on line 1",
        "export.jsonl:19": "line 19: not UTF-8",
    }
    assert reasons["export.jsonl:2"].startswith("line 2: invalid JSON: ")
    assert reasons["extra"].startswith("line 16: unknown key 'body'; expected ")
    assert all("\n" not in reason for reason in reasons.values())


def test_jsonl_source_with_a_bom_and_a_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "bom.jsonl"
    path.write_bytes(b"\xef\xbb\xbf" + json.dumps({"id": "a", "text": "x"}).encode() + b"\n")
    assert list(documents(JsonlSource(path))) == ["a"]
    with pytest.raises(InputError, match="no such file"):
        JsonlSource(tmp_path / "missing.jsonl")
    with pytest.raises(InputError, match="url base must be an http"):
        JsonlSource(path, url_base="kb/")
    source = JsonlSource(path)
    path.unlink()
    with pytest.raises(InputError, match="cannot read"):
        list(source.items())
