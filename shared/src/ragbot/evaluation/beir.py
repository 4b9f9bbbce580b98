"""Readers for BEIR-format data: corpus and queries as JSONL, qrels as TSV. Errors name the file and line."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ragbot.errors import InputError

__all__ = ["CorpusDoc", "load_corpus", "load_qrels", "load_queries"]

CorpusDoc = tuple[str, str, str]
"""(id, title, text)"""


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as err:
        raise InputError(f"cannot read {path}: {err.strerror}") from err
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line)
            except json.JSONDecodeError as err:
                raise InputError(f"{path.name}:{number}: not valid JSON ({err.msg})") from err
            if not isinstance(value, dict):
                raise InputError(f"{path.name}:{number}: expected a JSON object")
            yield number, value


def _text_field(value: dict[str, Any], key: str, *, where: str, required: bool = True) -> str:
    field = value.get(key, None if required else "")
    if field is None and not required:
        return ""
    if not isinstance(field, str | int) or (required and not str(field).strip()):
        raise InputError(f"{where}: '{key}' must be a non-empty string")
    return str(field)


def load_corpus(path: Path) -> list[CorpusDoc]:
    """Read `{_id, title, text}` lines. Raises `InputError` on a malformed line or a duplicate id."""
    docs: list[CorpusDoc] = []
    seen: set[str] = set()
    for number, value in _jsonl(path):
        where = f"{path.name}:{number}"
        doc_id = _text_field(value, "_id", where=where)
        if doc_id in seen:
            raise InputError(f"{where}: duplicate _id {doc_id!r}")
        seen.add(doc_id)
        title = _text_field(value, "title", where=where, required=False)
        text = _text_field(value, "text", where=where, required=False)
        if not (title.strip() or text.strip()):
            raise InputError(f"{where}: document {doc_id!r} has neither title nor text")
        docs.append((doc_id, title, text))
    if not docs:
        raise InputError(f"{path.name}: no documents")
    return docs


def load_queries(path: Path) -> dict[str, str]:
    """Read `{_id, text}` lines into id → text."""
    queries: dict[str, str] = {}
    for number, value in _jsonl(path):
        where = f"{path.name}:{number}"
        queries[_text_field(value, "_id", where=where)] = _text_field(value, "text", where=where)
    if not queries:
        raise InputError(f"{path.name}: no queries")
    return queries


def load_qrels(path: Path) -> dict[str, dict[str, int]]:
    """Read a TSV with header `query-id corpus-id score` into query id → {doc id → grade}."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise InputError(f"cannot read {path}: {err}") from err
    if not lines or lines[0].split() != ["query-id", "corpus-id", "score"]:
        raise InputError(f"{path.name}:1: expected the header 'query-id<TAB>corpus-id<TAB>score'")
    qrels: dict[str, dict[str, int]] = {}
    for number, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        if len(fields) != 3:
            raise InputError(f"{path.name}:{number}: expected 3 tab-separated fields, got {len(fields)}")
        query_id, doc_id, score = (f.strip() for f in fields)
        try:
            grade = int(score)
        except ValueError as err:
            raise InputError(f"{path.name}:{number}: score {score!r} is not an integer") from err
        if not query_id or not doc_id:
            raise InputError(f"{path.name}:{number}: empty query-id or corpus-id")
        qrels.setdefault(query_id, {})[doc_id] = grade
    if not qrels:
        raise InputError(f"{path.name}: no judgments")
    return qrels
