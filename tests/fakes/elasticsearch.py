"""A fake Elasticsearch 9 for tests: the real `elasticsearch` client talks HTTP to it on 127.0.0.1.

Its scope is frozen to what ragbot's Elasticsearch backends send (`ragbot.backends.elasticsearch`). Anything else,
valid Elasticsearch or not, gets HTTP 501 `fake_not_implemented_exception` (in `_bulk`, the whole request rather
than one item), so no test passes on a silently ignored feature. Widen the scope only together with the backend
request that needs it.

- APIs (`ROUTES`): create, check, get and delete an index; get and put its mapping; put its settings (replicas,
  refresh interval, `merge.policy.expunge_deletes_allowed`); `POST _aliases` (add, remove; atomic); `_refresh`;
  `_bulk` (index, delete, and update with a partial `doc`); index and get one document; `_mget` by ids; `_search`;
  `_count`; `_delete_by_query` with `conflicts=proceed`; `_forcemerge?only_expunge_deletes=true`.
- Deletions as Lucene keeps them: a deleted or replaced version stays in the index (`deleted_documents()`) until a
  forced merge expunges it, which happens only when the share of deleted versions is above the index's
  `expunge_deletes_allowed` (10% unless set; the fake's one shard is one segment).
- Mappings: `dynamic: strict` and `_meta`; fields of type text (english analyzer), keyword, date, integer, float,
  dense_vector (cosine) and object (`enabled: false`).
- Queries (es_search.py): bool (must, filter, must_not), multi_match (best_fields), term, terms, exists, range on
  dates, match_all; a top-level `knn`; the `rrf` retriever over one standard and one knn retriever; ascending sort
  on keyword and date fields with `search_after`; `_source` includes. Vectors never appear in `_source`.
- Elasticsearch's own refusals of these requests, where tests check them: fields a strict mapping lacks, vectors
  of the wrong dimension or of zero magnitude, kNN limits, `dims` out of range and unknown similarities, index
  names not in lowercase, an index that exists already, removing a missing alias, an update of a missing
  document, writing through an alias over several indices, deleting through an alias or a pattern, missing
  indices (404), the licence of `rrf` (403), a missing or wrong API key (401).

Searches, counts and deletes by query see the last refresh (`_refresh`, or `refresh=true|wait_for` on a write);
gets are realtime. Not emulated: shards and replicas (one shard per index), HNSW (kNN is exact), dynamic mapping.
Tests inject failures with `fail_next` and inspect `requests`, `indices()` and `documents()`.
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import threading
import time
import traceback
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import numpy as np

from tests.fakes.es_search import (
    Doc,
    EsError,
    OutOfScope,
    Snapshot,
    Text,
    date_ms,
    english,
    illegal_argument,
    matches,
    one,
    only,
    render_source,
    search,
    source_params,
    zero_magnitude,
)
from tests.fakes.local_server import LocalHttpServer

__all__ = ["FakeElasticsearch", "IndexInfo", "RecordedRequest"]

_JSON = "application/vnd.elasticsearch+json;compatible-with=9"
_CHALLENGE = ('Basic realm="security", charset="UTF-8"', "ApiKey")


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it: `body` is parsed JSON, a list of lines for ndjson (`_bulk`)."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class IndexInfo:
    """What `FakeElasticsearch.indices()` reports of one index."""

    name: str
    aliases: dict[str, dict[str, Any]]
    doc_count: int  # live documents (what GET _doc sees)
    searchable_doc_count: int  # refreshed documents (what _search and _count see)
    mappings: dict[str, Any]
    settings: dict[str, str]


@dataclass
class _Index:
    name: str
    uuid: str
    settings: dict[str, str]
    mapping: dict[str, Any]
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: dict[str, Doc] = field(default_factory=dict)
    deleted: list[Doc] = field(default_factory=list)  # deleted or replaced versions not merged away yet
    seq_no: int = -1

    def __post_init__(self) -> None:
        self.refresh()

    @property
    def fields(self) -> dict[str, dict[str, Any]]:
        return dict(self.mapping.get("properties", {}))

    def refresh(self) -> None:
        self.snapshot = Snapshot(self.name, self.fields, list(self.live.values()))


# --- mappings and documents -------------------------------------------------------------------------------------

_FIELD_PARAMS = {
    "text": ("type", "analyzer"),
    "keyword": ("type", "index", "doc_values"),
    "date": ("type",),
    "integer": ("type", "index"),
    "float": ("type",),
    "dense_vector": ("type", "dims", "index", "similarity", "index_options"),
    "object": ("type", "enabled"),
}
_SCALARS: dict[str, type | tuple[type, ...]] = {
    "text": str,
    "keyword": str,
    "date": str,
    "integer": int,
    "float": (int, float),
}
_SIMILARITIES = ("l2_norm", "dot_product", "cosine", "max_inner_product")
_VECTOR_INDEXES = ("hnsw", "int8_hnsw", "int4_hnsw", "bbq_hnsw", "flat", "int8_flat")


def _mapping_error(reason: str) -> EsError:
    cause = EsError(400, "mapper_parsing_exception", reason)
    return EsError(400, "mapper_parsing_exception", f"Failed to parse mapping: {reason}", caused_by=cause)


def _check_mapping(body: Any) -> dict[str, Any]:
    """A mapping in scope, checked as Elasticsearch checks it; kept as given."""
    only("mappings", body, ("dynamic", "_meta", "properties"))
    if body.get("dynamic", "strict") != "strict":
        raise OutOfScope(f"dynamic: {body['dynamic']}")
    for name, spec in body.get("properties", {}).items():
        kind = spec.get("type") if isinstance(spec, dict) else None
        if kind not in _FIELD_PARAMS or "." in name:
            raise OutOfScope(f"field [{name}] of type [{kind}]")
        only(f"field [{name}]", spec, _FIELD_PARAMS[kind])
        if kind == "text" and spec.get("analyzer") != "english":
            raise OutOfScope(f"analyzer [{spec.get('analyzer', 'standard')}] on [{name}]")
        if kind == "object" and spec.get("enabled") is not False:
            raise OutOfScope(f"object field [{name}] other than enabled: false")
        if kind == "dense_vector":
            dims, similarity = spec.get("dims"), spec.get("similarity", "cosine")
            if not isinstance(dims, int) or spec.get("index", True) is not True:
                raise OutOfScope(f"dense_vector [{name}] without dims, or not indexed")
            if not 1 <= dims <= 4096:
                raise _mapping_error(f"The number of dimensions should be in the range [1, 4096] but was [{dims}]")
            if similarity not in _SIMILARITIES:
                raise _mapping_error(
                    f"Unknown value [{similarity}] for field [similarity] - accepted values are "
                    f"[{', '.join(_SIMILARITIES)}]"
                )
            if similarity != "cosine":
                raise OutOfScope(f"similarity [{similarity}]")
            options = only(
                f"index_options of [{name}]", spec.get("index_options", {}), ("type", "m", "ef_construction")
            )
            hnsw_only = {"m", "ef_construction"} & options.keys()
            if options and (options.get("type") not in _VECTOR_INDEXES or ("flat" in options["type"] and hnsw_only)):
                raise OutOfScope(f"index_options {options}")
    return copy.deepcopy(body)


def _doc_error(reason: str) -> EsError:
    cause = EsError(400, "illegal_argument_exception", reason)
    return EsError(400, "document_parsing_exception", f"[1:2] failed to parse: {reason}", caused_by=cause)


def _indexed(index: _Index, doc_id: str, source: Any) -> dict[str, Any]:
    """What a document indexes, field by field (see `Doc.fields`), or Elasticsearch's refusal of it."""
    if not isinstance(source, dict):
        raise OutOfScope("a document other than an object")
    fields = index.fields
    out: dict[str, Any] = {}
    for name, value in source.items():
        spec = fields.get(name)
        if spec is None:
            if value is None:
                continue
            if index.mapping.get("dynamic") != "strict":
                raise OutOfScope(f"dynamic mapping (the new field [{name}])")
            raise EsError(
                400,
                "strict_dynamic_mapping_exception",
                f"[1:2] mapping set to strict, dynamic introduction of [{name}] within [_doc] is not allowed",
            )
        kind = spec["type"]
        if kind == "object" or value is None:
            continue
        if kind == "dense_vector":
            out[name] = _vector(name, spec["dims"], doc_id, value)
            continue
        values = [v for v in (value if isinstance(value, list) else [value]) if v is not None]
        if any(isinstance(v, bool) or not isinstance(v, _SCALARS[kind]) for v in values):
            raise EsError(
                400,
                "document_parsing_exception",
                f"[1:2] failed to parse field [{name}] of type [{kind}] in document with id '{doc_id}'. "
                f"Preview of field's value: '{value}'",
            )
        if kind == "text":
            terms = [term for v in values for term in english(v)]
            out[name] = Text(Counter(terms), len(terms))
        elif values:
            out[name] = [date_ms(v) for v in values] if kind == "date" else values
    return out


def _vector(name: str, dims: int, doc_id: str, value: Any) -> np.ndarray:
    if not isinstance(value, list) or not all(isinstance(v, (int, float)) for v in value):
        raise _doc_error(f"the [dense_vector] field [{name}] takes an array of numbers")
    if len(value) != dims:
        what = (
            f"has more dimensions than defined in the mapping [{dims}]"
            if len(value) > dims
            else f"has a different number of dimensions [{len(value)}] than defined in the mapping [{dims}]"
        )
        raise _doc_error(f"The [dense_vector] field [{name}] in doc [document with id '{doc_id}'] {what}")
    vector = np.asarray(value, dtype=np.float32)
    if not np.dot(vector, vector):
        raise _doc_error(zero_magnitude(vector))
    return vector


def _settings(body: Any, allowed: tuple[str, ...]) -> dict[str, str | None]:
    """Settings as Elasticsearch keeps them: flat `index.*` keys, string values (None: back to the default)."""
    flat: dict[str, Any] = {}
    todo = [("", body)]
    while todo:
        prefix, node = todo.pop()
        if not isinstance(node, dict):
            raise OutOfScope("settings other than an object")
        for key, value in node.items():
            if isinstance(value, dict):
                todo.append((f"{prefix}{key}.", value))
            else:
                flat[f"{prefix}{key}"] = value
    out: dict[str, str | None] = {}
    for key, value in flat.items():
        key = key if key.startswith("index.") else f"index.{key}"
        if key not in allowed:
            raise OutOfScope(f"the index setting [{key}]")
        out[key] = None if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    return out


def _index_not_found(name: str) -> EsError:
    extra: dict[str, Any] = {"resource.type": "index_or_alias", "resource.id": name}
    extra.update(index_uuid="_na_", index=name)
    return EsError(404, "index_not_found_exception", f"no such index [{name}]", **extra)


def _refresh_asked(params: dict[str, str]) -> bool:
    value = params.get("refresh", "false")
    if value not in ("", "true", "wait_for", "false"):
        raise OutOfScope(f"refresh={value}")
    return value != "false"


# --- HTTP -------------------------------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out as separate writes: no 40 ms delayed-ACK stall

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionResetError, BrokenPipeError):
            pass  # the client dropped a kept-alive connection, as HTTP clients do when they close

    def _serve(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.server.fake._dispatch(self.command, self.path, headers, raw)  # type: ignore[attr-defined]
        payload = b"" if body is None or self.command == "HEAD" else json.dumps(body).encode()
        self.send_response(status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", _JSON)
        for name, value in extra:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _serve

    def log_message(self, format: str, *args: Any) -> None:
        pass


Answer = tuple[int, Any]


class FakeElasticsearch(LocalHttpServer):
    """Elasticsearch 9 on 127.0.0.1 at an ephemeral port, for the frozen scope in the module docstring.

    Args:
        api_key: When set, every request needs `Authorization: ApiKey <api_key>`; others get 401.
        licence: "basic" refuses the `rrf` retriever (403), as the free licence does; "trial" and "enterprise"
            allow it.
        tls: A server-side SSL context: the fake then serves HTTPS, as a production cluster does.
    """

    def __init__(
        self, *, api_key: str | None = None, licence: str = "basic", tls: ssl.SSLContext | None = None
    ) -> None:
        if licence not in ("basic", "trial", "enterprise"):
            raise ValueError(f"unknown licence {licence!r}")
        super().__init__(_Handler, name="fake-elasticsearch", tls=tls)
        self.api_key, self.licence = api_key, licence
        self.requests: list[RecordedRequest] = []
        self._indices: dict[str, _Index] = {}
        self._failures: list[int] = []
        self._lock = threading.RLock()

    # ---- fault injection and inspection

    def fail_next(self, count: int, *, status: int = 429) -> None:
        """The next `count` requests get `status` with Elasticsearch's error body for it (for retry tests)."""
        with self._lock:
            self._failures += [status] * count

    def indices(self) -> dict[str, IndexInfo]:
        with self._lock:
            return {
                name: IndexInfo(
                    name,
                    copy.deepcopy(idx.aliases),
                    len(idx.live),
                    len(idx.snapshot.docs),
                    copy.deepcopy(idx.mapping),
                    dict(idx.settings),
                )
                for name, idx in sorted(self._indices.items())
            }

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        """The live `_source` of every document in a concrete index (realtime, vectors included)."""
        with self._lock:
            return {doc_id: copy.deepcopy(doc.source) for doc_id, doc in self._indices[index].live.items()}

    def deleted_documents(self, index: str) -> list[dict[str, Any]]:
        """The `_source` of each deleted or replaced version a concrete index still holds (until a forced merge)."""
        with self._lock:
            return [copy.deepcopy(doc.source) for doc in self._indices[index].deleted]

    # ---- dispatch

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> tuple[int, Any, list[Any]]:
        split = urlsplit(target)
        segments = [unquote(s) for s in split.path.split("/") if s]
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        text = raw.decode("utf-8", "replace")
        try:
            if "ndjson" in headers.get("content-type", ""):  # _bulk: one JSON value per line
                body: Any = [json.loads(line) for line in text.splitlines() if line.strip()]
            else:
                body = json.loads(text) if text.strip() else None
        except ValueError:
            body = text
        with self._lock:
            self.requests.append(RecordedRequest(method, "/" + "/".join(segments), params, body, headers))
            try:
                if isinstance(body, str):
                    raise OutOfScope("a body that is not JSON")
                if self._failures:
                    status = self._failures.pop(0)
                    kind = {429: "es_rejected_execution_exception", 503: "unavailable_shards_exception"}
                    raise EsError(status, kind.get(status, "exception"), f"injected failure ({status}) by fail_next")
                if self.api_key is not None and headers.get("authorization") != f"ApiKey {self.api_key}":
                    reason = (
                        f"missing authentication credentials for REST request [{target}]"
                        if "authorization" not in headers
                        else "unable to authenticate with provided credentials and anonymous access is not allowed "
                        "for this request"
                    )
                    error = EsError(401, "security_exception", reason, header={"WWW-Authenticate": list(_CHALLENGE)})
                    return 401, error.body(), [("WWW-Authenticate", c) for c in _CHALLENGE]
                status, answer = self._route(method, segments, params, body, target)
                return status, answer, []
            except EsError as err:
                return err.status, err.body(), []
            except Exception as exc:  # a bug in the fake: loud in the test, not a dropped connection
                error = EsError(500, "fake_internal_error", "".join(traceback.format_exception(exc)))
                return 500, error.body(), []

    def _route(self, method: str, segments: list[str], params: dict[str, str], body: Any, target: str) -> Answer:
        allowed: list[str] = []
        for methods, pattern, handler, names in ROUTES:
            bound = _match(pattern, segments)
            if bound is None:
                continue
            if method not in methods:
                allowed += methods
                continue
            for name in params:
                if name not in names:
                    raise OutOfScope(f"the parameter [{name}] on [{method} {pattern}]")
            return handler(self, bound, params, body)
        if allowed:
            reason = f"Incorrect HTTP method for uri [{target}] and method [{method}], allowed: [{', '.join(allowed)}]"
            return 405, {"error": reason, "status": 405}
        raise OutOfScope(f"[{method} /{'/'.join(segments)}]")

    # ---- names

    def _members(self, alias: str) -> list[str]:
        return sorted(name for name, idx in self._indices.items() if alias in idx.aliases)

    def _resolve(self, expression: str, *, allow_no_indices: bool = True) -> list[str]:
        """The concrete indices of names, aliases and `*` patterns, comma-separated."""
        names: set[str] = set()
        for part in expression.split(","):
            if part.startswith("-"):
                raise OutOfScope(f"the index exclusion [{part}]")
            if "*" in part:
                pattern = re.compile(".*".join(map(re.escape, part.split("*"))))
                names.update(
                    name
                    for name, idx in self._indices.items()
                    if pattern.fullmatch(name) or any(pattern.fullmatch(alias) for alias in idx.aliases)
                )
            elif part in self._indices:
                names.add(part)
            elif members := self._members(part):
                names.update(members)
            else:
                raise _index_not_found(part)
        if not names and not allow_no_indices:
            raise _index_not_found(expression)
        return sorted(names)

    def _single(self, expression: str) -> _Index:
        names = self._resolve(expression, allow_no_indices=False)
        if len(names) > 1:
            raise OutOfScope(f"a request over several indices ({', '.join(names)})")
        return self._indices[names[0]]

    def _write_target(self, name: str) -> _Index:
        if name in self._indices:
            return self._indices[name]
        members = self._members(name)
        if not members:
            raise OutOfScope(f"writing to [{name}], which does not exist (auto-creating indices)")
        if len(members) > 1:
            raise illegal_argument(
                f"no write index is defined for alias [{name}]. The write index may be explicitly disabled using "
                "is_write_index=false or the alias points to multiple indices without one being designated as a "
                "write index"
            )
        return self._indices[members[0]]

    # ---- indices

    def h_create_index(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        name = p["index"]
        if name != name.lower():
            raise EsError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], must be lowercase",
                index_uuid="_na_",
                index=name,
            )
        if name in self._indices:
            existing = self._indices[name].uuid
            reason = f"index [{name}/{existing}] already exists"
            raise EsError(400, "resource_already_exists_exception", reason, index_uuid=existing, index=name)
        body = only("create index", body or {}, ("settings", "mappings"))
        settings = _settings(body.get("settings", {}), _CREATE_SETTINGS)
        mapping = _check_mapping(body.get("mappings", {}))
        index_uuid = uuid.uuid4().hex[:22]
        self._indices[name] = _Index(
            name,
            index_uuid,
            {
                "index.number_of_shards": "1",
                "index.number_of_replicas": "1",
                **{k: v for k, v in settings.items() if v is not None},
                "index.creation_date": str(int(time.time() * 1000)),
                "index.uuid": index_uuid,
                "index.provided_name": name,
            },
            mapping,
        )
        return 200, {"acknowledged": True, "shards_acknowledged": True, "index": name}

    def h_index_exists(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        try:
            self._resolve(p["index"], allow_no_indices=False)
        except OutOfScope:
            raise
        except EsError:
            return 404, None
        return 200, None

    def h_get_index(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        answer = {}
        for name in self._resolve(p["index"], allow_no_indices=params.get("allow_no_indices") != "false"):
            idx = self._indices[name]
            answer[name] = {
                "aliases": copy.deepcopy(idx.aliases),
                "mappings": copy.deepcopy(idx.mapping),
                "settings": {"index": {k.removeprefix("index."): v for k, v in idx.settings.items()}},
            }
        return 200, answer

    def h_delete_index(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        names = p["index"].split(",")
        for name in names:  # all checked before any goes
            if name not in self._indices:
                if "*" in name:
                    raise illegal_argument("Wildcard expressions or all indices are not allowed")
                if self._members(name):
                    raise illegal_argument(
                        f"The provided expression [{name}] matches an alias, specify the corresponding concrete "
                        "indices instead."
                    )
                raise _index_not_found(name)
        for name in set(names):
            del self._indices[name]
        return 200, {"acknowledged": True}

    def h_get_mapping(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        return 200, {n: {"mappings": copy.deepcopy(self._indices[n].mapping)} for n in self._resolve(p["index"])}

    def h_put_mapping(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        update = _check_mapping(body)
        merged = {}
        for name in self._resolve(p["index"]):  # all merged before any changes
            mapping = copy.deepcopy(self._indices[name].mapping)
            mapping.update({k: v for k, v in update.items() if k != "properties"})
            properties = mapping.setdefault("properties", {})
            for field_name, spec in update.get("properties", {}).items():
                current = properties.setdefault(field_name, spec)
                if current["type"] != spec["type"]:
                    raise illegal_argument(
                        f"mapper [{field_name}] cannot be changed from type [{current['type']}] to [{spec['type']}]"
                    )
                if current != spec:
                    raise illegal_argument(f"Mapper for [{field_name}] conflicts with existing mapper")
            merged[name] = mapping
        for name, mapping in merged.items():
            self._indices[name].mapping = mapping
        return 200, {"acknowledged": True}

    def h_put_settings(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        update = _settings(body, _UPDATE_SETTINGS)
        for name in self._resolve(p["index"]):
            settings = self._indices[name].settings
            for key, value in update.items():
                if value is not None:
                    settings[key] = value
                elif key == "index.number_of_replicas":
                    settings[key] = "1"
                else:
                    settings.pop(key, None)
        return 200, {"acknowledged": True}

    def h_update_aliases(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        """`_aliases` applies its actions all or none."""
        staged = {name: dict(idx.aliases) for name, idx in self._indices.items()}
        for action in only("aliases", body, ("actions",), required=("actions",))["actions"]:
            kind, spec = one("alias action", action, ("add", "remove"))
            only(kind, spec, ("index", "alias"), required=("index", "alias"))
            alias = spec["alias"]
            for name in self._resolve(spec["index"], allow_no_indices=False):
                if kind == "add":
                    staged[name][alias] = {}
                elif staged[name].pop(alias, None) is None:
                    raise EsError(
                        404,
                        "aliases_not_found_exception",
                        f"aliases [{alias}] missing",
                        **{"resource.type": "aliases", "resource.id": alias},
                    )
        for name, aliases in staged.items():
            self._indices[name].aliases = aliases
        return 200, {"acknowledged": True, "errors": False}

    def h_refresh(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        names = self._resolve(p["index"])
        for name in names:
            self._indices[name].refresh()
        return 200, {"_shards": {"total": len(names), "successful": len(names), "failed": 0}}

    def h_forcemerge(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        if params.get("only_expunge_deletes") != "true":
            raise OutOfScope("a force merge other than only_expunge_deletes=true")
        names = self._resolve(p["index"])
        for name in names:
            idx = self._indices[name]
            allowed = float(idx.settings.get("index.merge.policy.expunge_deletes_allowed", "10"))
            versions = len(idx.live) + len(idx.deleted)
            if idx.deleted and 100 * len(idx.deleted) / versions > allowed:  # Lucene: a share above the threshold
                idx.deleted.clear()
        return 200, {"_shards": {"total": len(names), "successful": len(names), "failed": 0}}

    # ---- documents

    def _write(self, idx: _Index, op: str, doc_id: str, source: Any) -> dict[str, Any]:
        """Apply one index, update or delete; the item of a bulk answer (with `status`), or Elasticsearch's refusal."""
        existing = idx.live.get(doc_id)
        if op == "delete":
            idx.seq_no += 1
            if existing is None:
                return self._item(idx, 1, "not_found", 404)
            idx.deleted.append(idx.live.pop(doc_id))
            return self._item(idx, existing.version + 1, "deleted", 200)
        if op == "update":
            if existing is None:
                reason = f"[{doc_id}]: document missing"
                raise EsError(404, "document_missing_exception", reason, index_uuid=idx.uuid, shard="0", index=idx.name)
            patch = only("update", source, ("doc",), required=("doc",))["doc"]
            if not isinstance(patch, dict) or any(isinstance(v, dict) for v in patch.values()):
                raise OutOfScope("a partial update of object fields")
            source = {**existing.source, **patch}
            if source == existing.source:  # detect_noop, Elasticsearch's default
                return self._item(idx, existing.version, "noop", 200, existing.seq_no)
        fields = _indexed(idx, doc_id, source)
        idx.seq_no += 1
        version = existing.version + 1 if existing else 1
        if existing is not None:  # a rewritten document moves to the end, as Lucene appends it
            idx.deleted.append(idx.live.pop(doc_id))
        idx.live[doc_id] = Doc(doc_id, source, version, idx.seq_no, fields)
        return self._item(idx, version, "updated" if existing else "created", 200 if existing else 201)

    @staticmethod
    def _item(idx: _Index, version: int, result: str, status: int, seq_no: int | None = None) -> dict[str, Any]:
        copies = 1 + int(idx.settings["index.number_of_replicas"])
        return {
            "_version": version,
            "result": result,
            "_shards": {"total": copies, "successful": 1, "failed": 0},
            "_seq_no": idx.seq_no if seq_no is None else seq_no,
            "_primary_term": 1,
            "status": status,
        }

    def h_bulk(self, p: dict[str, str], params: dict[str, str], lines: Any) -> Answer:
        refresh = _refresh_asked(params)
        operations = []
        stream = iter(lines if isinstance(lines, list) else [])
        for action in stream:  # the whole request is checked before anything is written
            op, meta = one("bulk action", action, ("index", "delete", "update"))
            only(f"bulk {op}", meta, ("_index", "_id"), required=("_index", "_id"))
            source = None if op == "delete" else next(stream, None)
            operations.append((op, str(meta["_index"]), str(meta["_id"]), source))
        if not operations:
            raise OutOfScope("an empty bulk request")
        items, touched = [], set()
        for op, target, doc_id, source in operations:
            try:
                idx = self._write_target(target)
                items.append({op: {"_index": idx.name, "_id": doc_id, **self._write(idx, op, doc_id, source)}})
                touched.add(idx.name)
            except OutOfScope:
                raise
            except EsError as err:
                items.append({op: {"_index": target, "_id": doc_id, "status": err.status, "error": err.detail()}})
        if refresh:
            for name in touched:
                self._indices[name].refresh()
        errors = any("error" in item[op] for item in items for op in item)
        return 200, {"errors": errors, "took": 0, "items": items}

    def h_put_doc(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        refresh = _refresh_asked(params)
        idx = self._write_target(p["index"])
        item = self._write(idx, "index", p["id"], body)
        if refresh:
            idx.refresh()
        status = item.pop("status")
        return status, {"_index": idx.name, "_id": p["id"], **item}

    def _found(self, idx: _Index, doc_id: str, params: dict[str, str]) -> dict[str, Any]:
        doc = idx.live.get(doc_id)
        if doc is None:
            return {"_index": idx.name, "_id": doc_id, "found": False}
        return {
            "_index": idx.name,
            "_id": doc_id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
            "found": True,
            "_source": render_source(doc, idx.fields, source_params(params)),
        }

    def h_get_doc(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        found = self._found(self._single(p["index"]), p["id"], params)
        return 200 if found["found"] else 404, found

    def h_mget(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        ids = [str(i) for i in only("mget", body, ("ids",), required=("ids",))["ids"]]
        try:
            idx = self._single(p["index"])
        except OutOfScope:
            raise
        except EsError as err:  # Elasticsearch answers each document with the error
            return 200, {"docs": [{"_index": p["index"], "_id": i, "error": err.detail()} for i in ids]}
        return 200, {"docs": [self._found(idx, i, params) for i in ids]}

    # ---- search

    def h_search(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        started = time.monotonic()
        answer = search(self._single(p["index"]).snapshot, body or {}, self.licence)
        answer["took"] = int((time.monotonic() - started) * 1000)
        return 200, answer

    def h_count(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        found = matches(self._single(p["index"]).snapshot, body or {})
        return 200, {"count": len(found), "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0}}

    def h_delete_by_query(self, p: dict[str, str], params: dict[str, str], body: Any) -> Answer:
        if params.get("conflicts") != "proceed" or params.get("wait_for_completion", "true") != "true":
            raise OutOfScope("delete_by_query other than with conflicts=proceed, waiting for completion")
        refresh = _refresh_asked(params)
        idx = self._single(p["index"])
        found = matches(idx.snapshot, only("delete_by_query", body, ("query",), required=("query",)))
        deleted = conflicts = 0
        for doc in found:
            live = idx.live.get(doc.id)
            if live is None or live.seq_no != doc.seq_no:  # changed since the refresh: a version conflict
                conflicts += 1
                continue
            idx.deleted.append(idx.live.pop(doc.id))
            idx.seq_no += 1
            deleted += 1
        if refresh:
            idx.refresh()
        return 200, {
            "took": 0,
            "timed_out": False,
            "total": len(found),
            "deleted": deleted,
            "batches": 1 if found else 0,
            "version_conflicts": conflicts,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "failures": [],
        }


def _match(pattern: str, segments: list[str]) -> dict[str, str] | None:
    """The path's `{name}` values, or None; an index name never starts with `_` (that is an API's name)."""
    parts = pattern.strip("/").split("/") if pattern != "/" else []
    if len(parts) != len(segments):
        return None
    bound = {}
    for part, segment in zip(parts, segments, strict=True):
        if part.startswith("{") and not (part == "{index}" and segment.startswith("_")):
            bound[part[1:-1]] = segment
        elif part != segment:
            return None
    return bound


_CREATE_SETTINGS = ("index.number_of_shards", "index.number_of_replicas", "index.refresh_interval")
_UPDATE_SETTINGS = ("index.number_of_replicas", "index.refresh_interval", "index.merge.policy.expunge_deletes_allowed")
_SOURCE = ("_source_includes", "_source_excludes")
_FE = FakeElasticsearch
ROUTES: list[tuple[list[str], str, Callable[..., Answer], tuple[str, ...]]] = [
    (["PUT"], "/{index}", _FE.h_create_index, ()),
    (["HEAD"], "/{index}", _FE.h_index_exists, ()),
    (["GET"], "/{index}", _FE.h_get_index, ("allow_no_indices",)),
    (["DELETE"], "/{index}", _FE.h_delete_index, ()),
    (["GET"], "/{index}/_mapping", _FE.h_get_mapping, ()),
    (["PUT", "POST"], "/{index}/_mapping", _FE.h_put_mapping, ()),
    (["PUT"], "/{index}/_settings", _FE.h_put_settings, ()),
    (["POST"], "/_aliases", _FE.h_update_aliases, ()),
    (["POST", "GET"], "/{index}/_refresh", _FE.h_refresh, ()),
    (["POST"], "/{index}/_forcemerge", _FE.h_forcemerge, ("only_expunge_deletes",)),
    (["POST", "PUT"], "/_bulk", _FE.h_bulk, ("refresh",)),
    (["PUT", "POST"], "/{index}/_doc/{id}", _FE.h_put_doc, ("refresh",)),
    (["GET"], "/{index}/_doc/{id}", _FE.h_get_doc, _SOURCE),
    (["GET", "POST"], "/{index}/_mget", _FE.h_mget, _SOURCE),
    (["GET", "POST"], "/{index}/_search", _FE.h_search, ()),
    (["GET", "POST"], "/{index}/_count", _FE.h_count, ()),
    (["POST"], "/{index}/_delete_by_query", _FE.h_delete_by_query, ("refresh", "conflicts", "wait_for_completion")),
]
