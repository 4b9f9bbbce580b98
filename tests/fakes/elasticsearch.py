"""A fake Elasticsearch 9 server for tests that drive the real `elasticsearch` client.

`FakeElasticsearch` is a real HTTP server (stdlib `ThreadingHTTPServer` on 127.0.0.1, an ephemeral port, a daemon
thread) that speaks the REST protocol of the endpoints listed in `ROUTES`, closely enough that the official client
works unchanged: product header, compatible-with media types, HEAD semantics, Elasticsearch's error bodies.
Every request is checked the way Elasticsearch checks it (method, path, query parameters, body keys and values) and
rejected with Elasticsearch's error type and message when Elasticsearch would reject it. Requests that Elasticsearch
accepts but the fake does not emulate (aggregations, highlighting, other field types...) get HTTP 501
`fake_not_implemented_exception`, so a test never passes on a silently ignored feature.

Emulated semantics worth knowing:
- Near-real-time search: `_search`, `_count`, `_delete_by_query`, `_cat/indices` and `_stats` see only what the last
  refresh captured (`POST _refresh`, or a write with `refresh=true|wait_for`); `GET _doc` and `_mget` are realtime.
  The fake never refreshes on its own, whatever `index.refresh_interval` says (real clusters refresh every second
  on indices that are being searched).
- Aliases resolve for reads (all indices) and writes (the single index, or the `is_write_index` one);
  `POST _aliases` is atomic. Writes to a missing index auto-create it with dynamic mappings, like
  `action.auto_create_index: true`.
- BM25 (Lucene's formula and float32 arithmetic, per-index statistics), exact kNN (`(1 + cosine) / 2` etc.),
  `rrf` retrievers behind the licence gate, and `_source` never showing dense_vector values (9.2+ default).

Not emulated: sharding and replicas (an index behaves as one shard on a one-node cluster), scroll/PIT, real HNSW,
versioning types other than internal, ingest pipelines, security beyond one API key or basic credential.
"""

from __future__ import annotations

import base64
import copy
import gzip
import json
import re
import socket
import ssl
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from tests.fakes.es_core import (
    DocumentParser,
    EsError,
    IndexState,
    MappingContext,
    StoredDoc,
    auto_id,
    check_time_value,
    illegal_argument,
    index_not_found,
    java_iae,
    merge_mapping,
    new_uuid,
    not_implemented,
    now_ms,
    parse_int,
    parsing_error,
    token_name,
    validate_root_mapping,
    validation_error,
    words,
    x_content_error,
)
from tests.fakes.es_search import (
    Searcher,
    Shard,
    ShardError,
    SourceSpec,
    parse_query,
    parse_search_body,
    parse_source_body,
    parse_source_params,
    render_source,
    shard_failure_response,
)

__all__ = ["FakeElasticsearch", "IndexInfo", "RecordedRequest"]

JSON_TYPE = "application/vnd.elasticsearch+json;compatible-with=9"
NODE_NAME = "fake-node"
CLUSTER_NAME = "fake-cluster"
INVALID_NAME_CHARS = ' , ", *, \\, <, |, ,, >, /, ?'
_INVALID_CHARS = set(' "*\\<|,>/?')


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the fake received it. `body` is parsed JSON, a list for ndjson, the text otherwise."""

    method: str
    path: str
    params: dict[str, str]
    body: Any
    headers: dict[str, str]


@dataclass(frozen=True)
class IndexInfo:
    """What `FakeElasticsearch.indices()` reports for one index."""

    name: str
    aliases: dict[str, dict[str, Any]]
    doc_count: int  # live documents (what GET _doc sees)
    searchable_doc_count: int  # refreshed documents (what _search, _count and _cat/indices see)
    mappings: dict[str, Any]
    settings: dict[str, Any]


@dataclass
class _Request:
    method: str
    path: str
    segments: dict[str, str]
    params: dict[str, str]
    headers: dict[str, str]
    raw: bytes
    started: float = field(default_factory=time.monotonic)

    def json(self, *, required: bool = False) -> Any:
        if not self.raw.strip():
            if required:
                raise EsError(400, "parse_exception", "request body is required")
            return None
        try:
            return json.loads(self.raw)
        except ValueError as exc:
            raise EsError(
                400, "x_content_parse_exception", f"[1:1] Unexpected character or end-of-input: {exc}", is_es=False
            ) from None

    def object(self, *, required: bool = False) -> dict[str, Any]:
        body = self.json(required=required)
        if body is None:
            return {}
        if not isinstance(body, dict):
            raise parsing_error(f"Expected [START_OBJECT] but found [{token_name(body)}]")
        return body

    def flag(self, name: str, default: bool = False) -> bool:
        if name not in self.params:
            return default
        value = self.params[name]
        if value in ("", "true"):
            return True
        if value == "false":
            return False
        raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")

    def took(self) -> int:
        return int((time.monotonic() - self.started) * 1000)


@dataclass
class _Response:
    status: int
    body: Any = None
    headers: dict[str, str | list[str]] = field(default_factory=dict)
    content_type: str = JSON_TYPE


# --- query parameter sets (from the REST API specification of each endpoint) ------------------------------------

_COMMON = {"pretty", "human", "error_trace", "filter_path"}
_EXPAND = {"allow_no_indices", "expand_wildcards", "ignore_unavailable"}
P_INFO = _COMMON
P_CREATE = _COMMON | {"master_timeout", "timeout", "wait_for_active_shards"}
P_DELETE_INDEX = _COMMON | _EXPAND | {"master_timeout", "timeout"}
P_GET_INDEX = _COMMON | _EXPAND | {"features", "flat_settings", "include_defaults", "local", "master_timeout"}
P_MAPPING = _COMMON | _EXPAND | {"local", "master_timeout"}
P_PUT_MAPPING = _COMMON | _EXPAND | {"master_timeout", "timeout", "write_index_only"}
P_SETTINGS = _COMMON | _EXPAND | {"flat_settings", "include_defaults", "local", "master_timeout"}
P_PUT_SETTINGS = _COMMON | _EXPAND | {"flat_settings", "master_timeout", "preserve_existing", "reopen", "timeout"}
P_ALIAS = _COMMON | _EXPAND | {"master_timeout", "local"}
P_ALIASES = _COMMON | {"master_timeout", "timeout"}
P_PUT_ALIAS = _COMMON | {"master_timeout", "timeout"}
P_BULK = _COMMON | words(
    "_source _source_excludes _source_includes include_source_on_error list_executed_pipelines pipeline "
    "refresh require_alias require_data_stream routing timeout wait_for_active_shards"
)
P_REFRESH = _COMMON | _EXPAND
P_SEARCH = (
    _COMMON
    | _EXPAND
    | words(
        "_source _source_excludes _source_includes _source_exclude_vectors allow_partial_search_results "
        "analyze_wildcard analyzer batched_reduce_size ccs_minimize_roundtrips default_operator df explain "
        "force_synthetic_source from ignore_throttled include_named_queries_score lenient "
        "max_concurrent_shard_requests pre_filter_shard_size preference q request_cache "
        "rest_total_hits_as_int routing scroll search_type seq_no_primary_term size sort stats stored_fields "
        "docvalue_fields suggest_field suggest_mode suggest_size suggest_text terminate_after timeout "
        "track_scores track_total_hits typed_keys version"
    )
)
P_COUNT = (
    _COMMON
    | _EXPAND
    | words(
        "analyze_wildcard analyzer default_operator df ignore_throttled lenient min_score preference q "
        "routing terminate_after"
    )
)
P_DBQ = (
    _COMMON
    | _EXPAND
    | words(
        "analyze_wildcard analyzer conflicts default_operator df from lenient max_docs preference q refresh "
        "request_cache requests_per_second routing scroll scroll_size search_timeout search_type slices sort "
        "stats terminate_after timeout version wait_for_active_shards wait_for_completion"
    )
)
P_MGET = _COMMON | words(
    "_source _source_excludes _source_includes _source_exclude_vectors force_synthetic_source preference "
    "realtime refresh routing stored_fields"
)
P_GET = P_MGET | {"version", "version_type"}
P_INDEX_DOC = _COMMON | words(
    "if_primary_term if_seq_no include_source_on_error op_type pipeline refresh require_alias "
    "require_data_stream routing timeout version version_type wait_for_active_shards"
)
P_DELETE_DOC = _COMMON | words(
    "if_primary_term if_seq_no refresh routing timeout version version_type wait_for_active_shards"
)
P_CAT = _COMMON | words(
    "bytes expand_wildcards format h health help include_unloaded_segments master_timeout pri s time v local"
)
P_STATS = _COMMON | words(
    "completion_fields expand_wildcards fielddata_fields fields forbid_closed_indices groups "
    "include_segment_file_sizes include_unloaded_segments level"
)

_REFRESH_VALUES = {"", "true", "false", "wait_for"}
_SETTINGS_STATIC = {"index.number_of_shards", "index.codec", "index.mapping.exclude_source_vectors"}
_SETTINGS_PRIVATE = {"index.uuid", "index.creation_date", "index.provided_name", "index.version.created"}
_SETTINGS_UNEMULATED_PREFIXES = (
    "index.analysis.",
    "index.similarity.",
    "index.blocks.",
    "index.sort.",
    "index.lifecycle.",
    "index.mode",
    "index.default_pipeline",
    "index.final_pipeline",
    "index.routing.allocation.require.",
    "index.routing.allocation.exclude.",
)
_SETTINGS_KNOWN = words(
    "index.number_of_shards index.number_of_replicas index.refresh_interval index.max_result_window "
    "index.auto_expand_replicas index.hidden index.codec index.mapping.total_fields.limit "
    "index.mapping.exclude_source_vectors index.query.default_field "
    "index.routing.allocation.include._tier_preference index.priority index.max_inner_result_window"
)


def _flatten_settings(body: Any, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    if not isinstance(body, dict):
        raise EsError(400, "settings_exception", f"Failed to load settings from [{json.dumps(body)}]")
    for key, value in body.items():
        path = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(_flatten_settings(value, path + "."))
        else:
            out[path] = value
    return out


def _setting_string(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return [_setting_string(v) for v in value]
    return str(value)


def _nest(flat: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in flat.items():
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def _human_bytes(size: int) -> str:
    value = float(size)
    for unit in ("b", "kb", "mb", "gb"):
        if value < 1024 or unit == "gb":
            return f"{int(value)}{unit}" if unit == "b" else f"{value:.1f}{unit}"
        value /= 1024
    return f"{size}b"


def _glob(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(p) for p in pattern.split("*")))


# --- filter_path ------------------------------------------------------------------------------------------------

_MISSING = object()


def _filter_include(node: Any, patterns: list[list[str]]) -> Any:
    if any(not p for p in patterns):
        return node
    if isinstance(node, list):
        items = [_filter_include(item, patterns) for item in node]
        kept = [item for item in items if item is not _MISSING]
        return kept if kept else _MISSING
    if not isinstance(node, dict):
        return _MISSING
    out = {}
    for key, value in node.items():
        following: list[list[str]] = []
        for p in patterns:
            if p[0] == "**":
                following.append(p)
                if len(p) == 1:
                    following.append([])
                elif _glob(p[1]).fullmatch(key):
                    following.append(p[2:])
            elif _glob(p[0]).fullmatch(key):
                following.append(p[1:])
        if following:
            result = _filter_include(value, following)
            if result is not _MISSING:
                out[key] = result
    return out if out else _MISSING


def _filter_exclude(node: Any, patterns: list[list[str]]) -> Any:
    if isinstance(node, list):
        return [_filter_exclude(item, patterns) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        following = []
        drop = False
        for p in patterns:
            if p[0] == "**" or _glob(p[0]).fullmatch(key):
                rest = p if p[0] == "**" else p[1:]
                if not rest:
                    drop = True
                else:
                    following.append(rest)
        if drop:
            continue
        out[key] = _filter_exclude(value, following) if following else value
    return out


def apply_filter_path(body: Any, spec: str) -> Any:
    parts = [p.strip() for p in spec.split(",") if p.strip()]
    includes = [p.split(".") for p in parts if not p.startswith("-")]
    excludes = [p[1:].split(".") for p in parts if p.startswith("-")]
    if includes:
        body = _filter_include(body, includes)
        if body is _MISSING:
            return {}
    if excludes:
        body = _filter_exclude(body, excludes)
    return body


# --- the fake ---------------------------------------------------------------------------------------------------

Handler = Callable[["FakeElasticsearch", _Request], _Response]


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128  # a real service's backlog, not socketserver's 5: bursts must not drop connections
    allow_reuse_address = True

    def __init__(self, fake: FakeElasticsearch) -> None:
        self.fake = fake
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), _HttpHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)


class _HttpHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    self.rfile.readline()
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            raw = b"".join(chunks)
        else:
            raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.headers.get("Content-Encoding", "").lower() == "gzip":
            raw = gzip.decompress(raw)
        return raw

    def _handle(self) -> None:
        raw = self._read_body()
        headers = {k.lower(): v for k, v in self.headers.items()}
        response = self.server.fake._dispatch(self.command, self.path, headers, raw)
        payload = b""
        if self.command != "HEAD" and response.body is not None:
            if isinstance(response.body, str):
                payload = response.body.encode()
            else:
                payload = json.dumps(
                    response.body, indent=2 if response.headers.pop("_pretty", None) else None
                ).encode()
        else:
            response.headers.pop("_pretty", None)
        self.send_response(response.status)
        self.send_header("X-Elastic-Product", "Elasticsearch")
        self.send_header("Content-Type", response.content_type)
        for name, value in response.headers.items():
            for item in value if isinstance(value, list) else [value]:
                self.send_header(name, item)
        self.send_header("Content-Length", str(len(payload)))
        # One write for head and body (what end_headers() does, plus the payload): no small-packet stalls.
        self._headers_buffer.append(b"\r\n" + payload)  # type: ignore[attr-defined]
        self.flush_headers()

    do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = do_PATCH = do_OPTIONS = _handle


_CAT_INDICES_COLUMNS = (
    "health",
    "status",
    "index",
    "uuid",
    "pri",
    "rep",
    "docs.count",
    "docs.deleted",
    "store.size",
    "pri.store.size",
    "dataset.size",
)


class FakeElasticsearch:
    """An in-process Elasticsearch 9 REST server for tests (see the module docstring for what is emulated)."""

    def __init__(
        self,
        *,
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        licence: str = "basic",
        version: str = "9.1.0",
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """`tls`: a server-side context; the fake then serves HTTPS, as a production cluster does."""
        if licence not in ("basic", "trial", "gold", "platinum", "enterprise"):
            raise ValueError(f"unknown licence {licence!r}")
        self.api_key = api_key
        self.basic_auth = basic_auth
        self.licence = licence
        self.version = version
        self._version_tuple = tuple(int(p) for p in version.split(".")[:2])
        self.requests: list[RecordedRequest] = []
        self.cluster_uuid = new_uuid()
        self._indices: dict[str, IndexState] = {}
        self._lock = threading.RLock()
        self._failures: list[tuple[int, str | None]] = []
        self._order = 0
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._tls = tls
        self.url = ""

    # lifecycle -----------------------------------------------------------------------------------------------

    def start(self) -> FakeElasticsearch:
        if self._server is not None:
            return self
        self._server = _Server(self)
        scheme = "http"
        if self._tls is not None:
            self._server.socket = self._tls.wrap_socket(self._server.socket, server_side=True)
            scheme = "https"
        self.url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="fake-elasticsearch", daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for conn in open_connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
        deadline = time.monotonic() + 5
        while server.connections and time.monotonic() < deadline:
            time.sleep(0.01)

    def __enter__(self) -> FakeElasticsearch:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # test helpers --------------------------------------------------------------------------------------------

    def fail_next(self, count: int, *, status: int = 429, error_type: str | None = None) -> None:
        """Answer the next `count` requests with `status` and an Elasticsearch error body (for retry tests)."""
        with self._lock:
            self._failures.extend([(status, error_type)] * count)

    def indices(self) -> dict[str, IndexInfo]:
        with self._lock:
            return {
                name: IndexInfo(
                    name=name,
                    aliases=copy.deepcopy(idx.aliases),
                    doc_count=len(idx.live),
                    searchable_doc_count=len(idx.searchable),
                    mappings=copy.deepcopy(idx.mapping),
                    settings=dict(idx.settings),
                )
                for name, idx in sorted(self._indices.items())
            }

    def documents(self, index: str) -> dict[str, dict[str, Any]]:
        """Live `_source` of every document in a concrete index (realtime, vectors included)."""
        with self._lock:
            return {doc_id: copy.deepcopy(doc.source) for doc_id, doc in self._indices[index].live.items()}

    def refresh(self, index: str | None = None) -> None:
        with self._lock:
            for name, idx in self._indices.items():
                if index is None or name == index:
                    idx.refresh()

    # dispatch ------------------------------------------------------------------------------------------------

    def _dispatch(self, method: str, target: str, headers: dict[str, str], raw: bytes) -> _Response:
        split = urlsplit(target)
        segments = [unquote(s) for s in split.path.split("/") if s]
        params = dict(parse_qsl(split.query, keep_blank_values=True))
        path = "/" + "/".join(segments)
        with self._lock:
            self.requests.append(RecordedRequest(method, path, params, self._record_body(raw), dict(headers)))
            pretty = params.get("pretty") in ("", "true")
            try:
                response = self._route(method, path, segments, params, headers, raw, target)
            except ShardError as err:
                response = _Response(err.error.status, err.error.response_body())
            except EsError as err:
                response = _Response(err.status, err.response_body(), dict(err.headers))
            except Exception as exc:  # a bug in the fake: make it loud in the test, not a dropped connection
                reason = "".join(traceback.format_exception(exc))
                response = _Response(500, EsError(500, "fake_internal_error", reason).response_body())
            if "filter_path" in params and isinstance(response.body, (dict, list)) and response.status < 300:
                response.body = apply_filter_path(response.body, params["filter_path"])
            if pretty:
                response.headers["_pretty"] = "1"
            return response

    @staticmethod
    def _record_body(raw: bytes) -> Any:
        if not raw:
            return None
        text = raw.decode("utf-8", "replace")
        try:
            return json.loads(text)
        except ValueError:
            pass
        try:
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        except ValueError:
            return text

    def _route(
        self,
        method: str,
        path: str,
        segments: list[str],
        params: dict[str, str],
        headers: dict[str, str],
        raw: bytes,
        target: str,
    ) -> _Response:
        if self._failures:
            status, error_type = self._failures.pop(0)
            kind = error_type or {
                429: "es_rejected_execution_exception",
                503: "unavailable_shards_exception",
                504: "timeout_exception",
            }.get(status, "exception")
            raise EsError(status, kind, f"injected failure ({status}) by FakeElasticsearch.fail_next")
        self._check_auth(headers, target)
        self._check_media_types(headers, raw)
        # Like Elasticsearch's path trie, the most literal matching path wins; a method it lacks is a 405.
        candidates = [(route, bound) for route in ROUTES if (bound := _match(route[1], segments)) is not None]
        if candidates:
            fewest = min(len(bound) for _, bound in candidates)
            best = [(route, bound) for route, bound in candidates if len(bound) == fewest]
            for (methods, _pattern, handler, allowed_params), bound in best:
                if method not in methods:
                    continue
                unknown = [p for p in params if p not in allowed_params]
                if unknown:
                    rendered = ", ".join(f"[{p}]" for p in unknown)
                    plural = "s" if len(unknown) > 1 else ""
                    raise illegal_argument(f"request [{path}] contains unrecognized parameter{plural}: {rendered}")
                return handler(self, _Request(method, path, bound, params, headers, raw))
            allowed_methods = sorted(set().union(*(route[0] for route, _ in best)))
            return _Response(
                405,
                {
                    "error": f"Incorrect HTTP method for uri [{target}] and method [{method}], allowed: "
                    f"[{', '.join(allowed_methods)}]",
                    "status": 405,
                },
                {"Allow": ",".join(allowed_methods)},
            )
        raise illegal_argument(f"no handler found for uri [{target}] and method [{method}]")

    def _check_auth(self, headers: dict[str, str], target: str) -> None:
        if self.api_key is None and self.basic_auth is None:
            return
        challenge = ['Basic realm="security", charset="UTF-8"', "ApiKey"]
        given = headers.get("authorization")
        if not given:
            reason = f"missing authentication credentials for REST request [{target}]"
        else:
            scheme, _, credential = given.partition(" ")
            if self.api_key is not None and scheme.lower() == "apikey" and credential == self.api_key:
                return
            if self.basic_auth is not None and scheme.lower() == "basic":
                expected = base64.b64encode(f"{self.basic_auth[0]}:{self.basic_auth[1]}".encode()).decode()
                if credential == expected:
                    return
            reason = (
                "unable to authenticate with provided credentials and anonymous access is not allowed for this request"
            )
        raise EsError(
            401,
            "security_exception",
            reason,
            extra={"header": {"WWW-Authenticate": challenge}},
            headers={"WWW-Authenticate": challenge},  # type: ignore[dict-item]
        )

    def _check_media_types(self, headers: dict[str, str], raw: bytes) -> None:
        major = self._version_tuple[0]
        versions = {}
        for name in ("accept", "content-type"):
            value = headers.get(name, "")
            m = re.search(r"compatible-with=(\d+)", value)
            if m:
                versions[name] = int(m.group(1))
                if versions[name] not in (major - 1, major):
                    raise EsError(
                        400,
                        "media_type_header_exception",
                        "Invalid media-type value on headers [Accept, Content-Type]",
                        caused_by=EsError(
                            400,
                            "status_exception",
                            f"{'Accept' if name == 'accept' else 'Content-Type'} version must be either version "
                            f"{major - 1} or {major}, but found {versions[name]}. {name.title()}={value}",
                        ),
                    )
        if raw.strip():
            content_type = headers.get("content-type", "")
            base = content_type.split(";")[0].strip().lower()
            supported = {
                "application/json",
                "application/x-ndjson",
                "application/vnd.elasticsearch+json",
                "application/vnd.elasticsearch+x-ndjson",
            }
            if not content_type:
                raise EsError(406, "", "", body={"error": "Content-Type header is missing", "status": 406})
            if base in (
                "application/smile",
                "application/cbor",
                "application/yaml",
                "application/vnd.elasticsearch+smile",
                "application/vnd.elasticsearch+cbor",
                "application/vnd.elasticsearch+yaml",
            ):
                raise not_implemented(f"request bodies of type [{base}]")
            if base not in supported:
                raise EsError(
                    406, "", "", body={"error": f"Content-Type header [{content_type}] is not supported", "status": 406}
                )
        if len(versions) == 2 and raw.strip() and versions["accept"] != versions["content-type"]:
            raise EsError(
                400,
                "media_type_header_exception",
                "Invalid media-type value on headers [Accept, Content-Type]",
                caused_by=EsError(
                    400,
                    "status_exception",
                    "A compatible version is required on both Content-Type and Accept headers if either one has "
                    "requested a compatible version and the compatible versions must match. "
                    f"Accept={headers.get('accept')}, Content-Type={headers.get('content-type')}",
                ),
            )

    # index name resolution -----------------------------------------------------------------------------------

    def _alias_members(self, alias: str) -> list[str]:
        return sorted(name for name, idx in self._indices.items() if alias in idx.aliases)

    def _all_aliases(self) -> set[str]:
        return {alias for idx in self._indices.values() for alias in idx.aliases}

    def _resolve(
        self, expression: str, params: dict[str, str] | None = None, *, allow_aliases: bool = True
    ) -> list[str]:
        """Concrete indices for an index expression (names, aliases, wildcards, `_all`, `-exclusions`)."""
        params = params or {}
        ignore_unavailable = params.get("ignore_unavailable") in ("", "true")
        allow_no_indices = params.get("allow_no_indices", "true") != "false"
        expand = set(params.get("expand_wildcards", "open").split(","))
        if expand - {"open", "closed", "hidden", "none", "all"}:
            bad = sorted(expand - {"open", "closed", "hidden", "none", "all"})[0]
            raise illegal_argument(
                f"No enum constant org.elasticsearch.action.support.IndicesOptions.WildcardStates.{bad.upper()}"
            )
        include_hidden = bool(expand & {"hidden", "all"})
        result: list[str] = []
        saw_wildcard = False
        for part in expression.split(","):
            if not part:
                continue
            if part.startswith("-") and saw_wildcard:
                regex = _glob(part[1:])
                result = [name for name in result if not regex.fullmatch(name)]
                continue
            if part in ("_all", "*") or "*" in part:
                saw_wildcard = True
                if "none" in expand and "all" not in expand:
                    continue
                regex = _glob("*" if part == "_all" else part)
                for name, idx in sorted(self._indices.items()):
                    hidden = idx.settings.get("index.hidden") == "true"
                    if regex.fullmatch(name) and (include_hidden or not hidden or part[0] == "."):
                        result.append(name)
                if allow_aliases:
                    for alias in sorted(self._all_aliases()):
                        if regex.fullmatch(alias):
                            result.extend(self._alias_members(alias))
                continue
            if part in self._indices:
                result.append(part)
            elif allow_aliases and part in self._all_aliases():
                result.extend(self._alias_members(part))
            elif not ignore_unavailable:
                raise index_not_found(part)
        unique = sorted(set(result))
        if not unique and not allow_no_indices:
            raise index_not_found(expression)
        return unique

    def _resolve_write(self, name: str) -> str | None:
        """The concrete index a write to `name` goes to; None when nothing by that name exists."""
        if name in self._indices:
            return name
        members = self._alias_members(name)
        if not members:
            return None
        writers = [m for m in members if self._indices[m].aliases[name].get("is_write_index") is True]
        if writers:
            return writers[0]
        if len(members) == 1 and self._indices[members[0]].aliases[name].get("is_write_index") is not False:
            return members[0]
        raise illegal_argument(
            f"no write index is defined for alias [{name}]. The write index may be explicitly disabled using "
            "is_write_index=false or the alias points to multiple indices without one being designated as a "
            "write index"
        )

    def _resolve_single(self, name: str) -> IndexState:
        if name in self._indices:
            return self._indices[name]
        members = self._alias_members(name)
        if not members:
            raise index_not_found(name)
        if len(members) > 1:
            raise illegal_argument(
                f"alias [{name}] has more than one index associated with it [{', '.join(members)}], can't execute a "
                "single index op"
            )
        return self._indices[members[0]]

    # validation ----------------------------------------------------------------------------------------------

    @staticmethod
    def _validate_name(name: str, *, alias: bool = False) -> None:
        kind = "alias" if alias else "index"
        error_type = "invalid_alias_name_exception" if alias else "invalid_index_name_exception"

        def fail(why: str) -> EsError:
            text = f"Invalid {kind} name [{name}], {why}" if not alias else f"Invalid alias name [{name}]: {why}"
            extra = {} if alias else {"index_uuid": "_na_", "index": name}
            return EsError(400, error_type, text, extra=extra)

        if not name:
            raise fail("must not be empty")
        if _INVALID_CHARS & set(name):
            raise fail(f"must not contain the following characters [{INVALID_NAME_CHARS}]")
        if "#" in name:
            raise fail("must not contain '#'")
        if ":" in name:
            raise fail("must not contain ':'")
        if name[0] in "_-+":
            raise fail("must not start with '_', '-', or '+'")
        if name in (".", ".."):
            raise fail("must not be '.' or '..'")
        if len(name.encode()) > 255:
            raise fail(f"index name is too long, ({len(name.encode())} > 255)")
        if not alias and name != name.lower():
            raise fail("must be lowercase")

    def _settings(self, body: Any, *, creating: bool, current: dict[str, Any] | None = None) -> dict[str, Any]:
        flat = _flatten_settings(body)
        out: dict[str, Any] = {}
        for key, value in flat.items():
            full = key if key.startswith("index.") else f"index.{key}"
            if full in _SETTINGS_PRIVATE:
                raise illegal_argument(f"private index setting [{full}] can not be set explicitly")
            if full.startswith(_SETTINGS_UNEMULATED_PREFIXES):
                raise not_implemented(f"index setting [{full}]")
            if full not in _SETTINGS_KNOWN:
                raise illegal_argument(
                    f"unknown setting [{full}] please check that any required plugins are installed, or check the "
                    "breaking changes documentation for removed settings"
                )
            text = _setting_string(value)
            if text is not None:
                self._check_setting(full, text)
            out[full] = text
        if not creating and current is not None:
            static = sorted(k for k in out if k in _SETTINGS_STATIC and current.get(k) != out[k])
            if static:
                raise illegal_argument(
                    f"Can't update non dynamic settings [[{', '.join(static)}]] for open indices "
                    f"[[{current['index.provided_name']}/{current['index.uuid']}]]"
                )
        return out

    @staticmethod
    def _check_setting(key: str, value: Any) -> None:
        def number(minimum: int, maximum: int | None = None) -> None:
            try:
                n = int(value)
            except (TypeError, ValueError):
                raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}]") from None
            if n < minimum:
                raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}] must be >= {minimum}")
            if maximum is not None and n > maximum:
                raise illegal_argument(f"Failed to parse value [{value}] for setting [{key}] must be <= {maximum}")

        if key == "index.number_of_shards":
            number(1, 1024)
        elif key == "index.number_of_replicas":
            number(0)
        elif key in ("index.max_result_window", "index.mapping.total_fields.limit", "index.max_inner_result_window"):
            number(1)
        elif key == "index.priority":
            number(0)
        elif key == "index.refresh_interval":
            check_time_value(value, key)
        elif key in ("index.hidden", "index.mapping.exclude_source_vectors"):
            if value not in ("true", "false"):
                raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")
        elif key == "index.codec":
            if value not in (
                "default",
                "best_compression",
                "lucene_default",
                "legacy_default",
                "legacy_best_compression",
            ):
                raise illegal_argument(
                    f"unknown value for [index.codec] must be one of [default, lz4, "
                    f"best_compression, zlib] but was: {value}"
                )
        elif key == "index.auto_expand_replicas":
            if value != "false" and not re.fullmatch(r"\d+-(\d+|all)", str(value)):
                raise illegal_argument(
                    f"failed to parse [index.auto_expand_replicas] from value: [{value}] at index -1"
                )

    def _mapping_ctx(self) -> MappingContext:
        return MappingContext(self._version_tuple)  # type: ignore[arg-type]

    # rendering -----------------------------------------------------------------------------------------------

    def _render_settings(self, idx: IndexState, flat: bool) -> dict[str, Any]:
        values = {k: v for k, v in sorted(idx.settings.items()) if v is not None}
        return values if flat else _nest(values)

    @staticmethod
    def _render_aliases(idx: IndexState) -> dict[str, Any]:
        return {name: dict(props) for name, props in sorted(idx.aliases.items())}

    def _doc_count(self, idx: IndexState) -> int:
        return len(idx.searchable)

    def _store_size(self, idx: IndexState) -> int:
        return sum(doc.size for doc in idx.searchable.values()) + 227 * idx.number_of_shards

    # writes --------------------------------------------------------------------------------------------------

    def _create_index(self, name: str, body: dict[str, Any]) -> IndexState:
        self._validate_name(name)
        if name in self._indices:
            existing = self._indices[name]
            raise EsError(
                400,
                "resource_already_exists_exception",
                f"index [{name}/{existing.uuid}] already exists",
                extra={"index_uuid": existing.uuid, "index": name},
            )
        if name in self._all_aliases():
            raise EsError(
                400,
                "invalid_index_name_exception",
                f"Invalid index name [{name}], already exists as alias",
                extra={"index_uuid": "_na_", "index": name},
            )
        for key, value in body.items():
            if key not in ("settings", "mappings", "aliases"):
                raise EsError(400, "parse_exception", f"unknown key [{key}] for create index")
            if not isinstance(value, dict):
                raise EsError(400, "parse_exception", f"key [{key}] must be an object")
        settings = self._settings(body.get("settings", {}), creating=True)
        mapping = validate_root_mapping(body.get("mappings", {}), self._mapping_ctx())
        aliases: dict[str, dict[str, Any]] = {}
        for alias, props in body.get("aliases", {}).items():
            aliases[alias] = self._alias_props(alias, props or {}, where="aliases")
        uuid = new_uuid()
        created = now_ms()
        full_settings: dict[str, Any] = {
            "index.number_of_shards": "1",
            "index.number_of_replicas": "1",
            "index.routing.allocation.include._tier_preference": "data_content",
        }
        full_settings.update({k: v for k, v in settings.items() if v is not None})
        full_settings.update(
            {
                "index.provided_name": name,
                "index.creation_date": str(created),
                "index.uuid": uuid,
                "index.version.created": f"{self._version_tuple[0]}{self._version_tuple[1]:03d}000",
            }
        )
        idx = IndexState(name, uuid, created, full_settings, mapping, aliases)
        self._indices[name] = idx
        return idx

    def _alias_props(self, alias: str, props: Any, *, where: str, check_clash: bool = True) -> dict[str, Any]:
        if not isinstance(props, dict):
            raise x_content_error(f"[{where}] alias [{alias}] must be an object")
        self._validate_name(alias, alias=True)
        if check_clash and alias in self._indices:
            raise EsError(
                400,
                "invalid_alias_name_exception",
                f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias",
            )
        out: dict[str, Any] = {}
        for key, value in props.items():
            if key in ("filter",):
                raise not_implemented("alias filters")
            if key in ("routing", "index_routing", "search_routing"):
                out[key] = str(value)
            elif key in ("is_write_index", "is_hidden"):
                if not isinstance(value, bool):
                    raise x_content_error(f"[{where}] failed to parse field [{key}]")
                out[key] = value
            else:
                raise x_content_error(f"[{where}] unknown field [{key}]")
        return out

    def _next_order(self) -> int:
        self._order += 1
        return self._order

    def _store(self, idx: IndexState, doc_id: str, source: dict[str, Any], version: int) -> StoredDoc:
        parser = DocumentParser(idx.mapping, doc_id, self._mapping_ctx())
        parser.parse(source)
        if parser.changed:
            idx.set_mapping(parser.mapping)
        idx.seq_no += 1
        doc = StoredDoc(
            id=doc_id,
            source=source,
            version=version,
            seq_no=idx.seq_no,
            order=self._next_order(),
            indexed=parser.indexed,
            size=len(json.dumps(source)),
        )
        idx.live[doc_id] = doc
        return doc

    def _write_item(
        self, op: str, meta: dict[str, Any], source: Any, default_index: str | None, params: dict[str, str]
    ) -> tuple[dict[str, Any], IndexState | None]:
        """Apply one bulk-style operation; returns (item body, index touched). Errors become item errors."""
        target = meta.get("_index", default_index)
        doc_id = meta.get("_id")
        doc_id = None if doc_id is None else str(doc_id)
        item: dict[str, Any] = {"_index": target, "_id": doc_id}
        try:
            for key in ("version", "version_type"):
                if key in meta:
                    raise not_implemented(f"[{key}] on write operations")
            if meta.get("pipeline") not in (None, "_none"):
                raise not_implemented("ingest pipelines")
            require_alias = meta.get("require_alias", params.get("require_alias") in ("", "true"))
            concrete = self._resolve_write(str(target))
            if concrete is None:
                if require_alias:
                    raise EsError(
                        404,
                        "index_not_found_exception",
                        f"no such index [{target}] and [require_alias] request flag is [true] and [{target}] is not "
                        "an alias",
                        extra={"index_uuid": "_na_", "index": target},
                    )
                if op == "delete":
                    raise index_not_found(str(target))
                idx = self._create_index(str(target), {})
            else:
                if require_alias and concrete == target:
                    raise EsError(
                        404,
                        "index_not_found_exception",
                        f"no such index [{target}] and [require_alias] request flag is [true] and [{target}] is not "
                        "an alias",
                        extra={"index_uuid": "_na_", "index": target},
                    )
                idx = self._indices[concrete]
            item["_index"] = idx.name
            if doc_id is None:
                if op != "index":
                    raise validation_error("an id is required for a " + op.upper() + " operation")
                doc_id = auto_id()
                item["_id"] = doc_id
            if doc_id == "" or len(doc_id.encode()) > 512:
                raise validation_error(
                    f"id [{doc_id}] is too long, must be no longer than 512 bytes but was: {len(doc_id.encode())}"
                    if doc_id
                    else "id cannot be empty"
                )
            existing = idx.live.get(doc_id)
            self._check_cas(idx, doc_id, existing, meta)
            if op in ("index", "create"):
                if not isinstance(source, dict):
                    raise parsing_error("Failed to derive xcontent")
                if op == "create" and existing is not None:
                    raise EsError(
                        409,
                        "version_conflict_engine_exception",
                        f"[{doc_id}]: version conflict, document already exists (current version [{existing.version}])",
                        extra={"index_uuid": idx.uuid, "shard": "0", "index": idx.name},
                    )
                version = existing.version + 1 if existing else 1
                doc = self._store(idx, doc_id, source, version)
                result, status = ("updated", 200) if existing else ("created", 201)
            elif op == "delete":
                if existing is None:
                    idx.seq_no += 1
                    item.update(self._item_tail(idx, 1, "not_found", idx.seq_no))
                    item["status"] = 404
                    return item, idx
                del idx.live[doc_id]
                idx.seq_no += 1
                item.update(self._item_tail(idx, existing.version + 1, "deleted", idx.seq_no))
                item["status"] = 200
                return item, idx
            else:
                doc, result, status = self._update(idx, doc_id, existing, source)
            item.update(self._item_tail(idx, doc.version, result, doc.seq_no))
            if result == "noop":
                item["_shards"] = {"total": 0, "successful": 0, "failed": 0}
            item["status"] = status
            return item, idx
        except EsError as err:
            item["status"] = err.status
            item["error"] = err.to_dict()
            return item, None

    @staticmethod
    def _item_tail(idx: IndexState, version: int, result: str, seq_no: int) -> dict[str, Any]:
        return {
            "_version": version,
            "result": result,
            "_shards": {"total": 1 + idx.number_of_replicas, "successful": 1, "failed": 0},
            "_seq_no": seq_no,
            "_primary_term": 1,
        }

    @staticmethod
    def _check_cas(idx: IndexState, doc_id: str, existing: StoredDoc | None, meta: dict[str, Any]) -> None:
        if "if_seq_no" not in meta and "if_primary_term" not in meta:
            return
        if "if_seq_no" not in meta or "if_primary_term" not in meta:
            raise validation_error(
                "ifSeqNo is set, but primary term is [0]"
                if "if_seq_no" in meta
                else "ifPrimaryTerm is set, but seqNo is [-2]"
            )
        want_seq, want_term = int(meta["if_seq_no"]), int(meta["if_primary_term"])
        current_seq = existing.seq_no if existing else -2
        current_term = 1 if existing else 0
        if current_seq != want_seq or current_term != want_term:
            raise EsError(
                409,
                "version_conflict_engine_exception",
                f"[{doc_id}]: version conflict, required seqNo [{want_seq}], primary term [{want_term}]. "
                + (
                    f"current document has seqNo [{current_seq}] and primary term [{current_term}]"
                    if existing
                    else "but no document was found"
                ),
                extra={"index_uuid": idx.uuid, "shard": "0", "index": idx.name},
            )

    def _update(
        self, idx: IndexState, doc_id: str, existing: StoredDoc | None, body: Any
    ) -> tuple[StoredDoc, str, int]:
        self._validate_update_body(body)
        if "script" in body or body.get("scripted_upsert"):
            raise not_implemented("scripted updates")
        if "doc" not in body and "upsert" not in body:
            raise validation_error("script or doc is missing")
        partial = body.get("doc")
        if partial is not None and not isinstance(partial, dict):
            raise x_content_error("[UpdateRequest] doc doesn't support values of type: " + token_name(partial))
        if existing is None:
            if body.get("doc_as_upsert") and partial is not None:
                new_source = copy.deepcopy(partial)
            elif isinstance(body.get("upsert"), dict):
                new_source = copy.deepcopy(body["upsert"])
            else:
                raise EsError(
                    404,
                    "document_missing_exception",
                    f"[{doc_id}]: document missing",
                    extra={"index_uuid": idx.uuid, "shard": "0", "index": idx.name},
                )
            return self._store(idx, doc_id, new_source, 1), "created", 201
        merged = copy.deepcopy(existing.source)
        _deep_merge(merged, partial or {})
        if body.get("detect_noop", True) and merged == existing.source:
            return existing, "noop", 200
        return self._store(idx, doc_id, merged, existing.version + 1), "updated", 200

    def _refresh_policy(self, params: dict[str, str]) -> str:
        value = params.get("refresh", "false")
        if value not in _REFRESH_VALUES:
            raise illegal_argument(f"Unknown value for refresh: [{value}].")
        return "true" if value == "" else value

    # endpoint handlers -----------------------------------------------------------------------------------------

    def h_info(self, req: _Request) -> _Response:
        major, minor = self._version_tuple
        body = {
            "name": NODE_NAME,
            "cluster_name": CLUSTER_NAME,
            "cluster_uuid": self.cluster_uuid,
            "version": {
                "number": self.version,
                "build_flavor": "default",
                "build_type": "docker",
                "build_hash": "0000000000000000000000000000000000000000",
                "build_date": "2025-07-17T22:10:04.483Z",
                "build_snapshot": False,
                "lucene_version": "10.2.2" if (major, minor) >= (9, 1) else "10.1.0",
                "minimum_wire_compatibility_version": "8.19.0",
                "minimum_index_compatibility_version": "8.0.0",
            },
            "tagline": "You Know, for Search",
        }
        return _Response(200, body)

    def h_create_index(self, req: _Request) -> _Response:
        for key in ("timeout", "master_timeout"):
            if key in req.params:
                check_time_value(req.params[key], key)
        name = req.segments["index"]
        self._create_index(name, req.object())
        return _Response(200, {"acknowledged": True, "shards_acknowledged": True, "index": name})

    def h_delete_index(self, req: _Request) -> _Response:
        expression = req.segments["index"]
        for part in expression.split(","):
            if part in ("_all", "*") or "*" in part:
                raise illegal_argument("Wildcard expressions or all indices are not allowed")
            if part not in self._indices and part in self._all_aliases():
                raise illegal_argument(
                    f"The provided expression [{part}] matches an alias, specify the corresponding concrete indices "
                    "instead."
                )
        for name in self._resolve(expression, req.params, allow_aliases=False):
            del self._indices[name]
        return _Response(200, {"acknowledged": True})

    def h_index_exists(self, req: _Request) -> _Response:
        params = dict(req.params)
        params["allow_no_indices"] = params.get("allow_no_indices", "false")
        try:
            self._resolve(req.segments["index"], params)
        except EsError:
            return _Response(404)
        return _Response(200)

    def h_get_index(self, req: _Request) -> _Response:
        if req.flag("include_defaults"):
            raise not_implemented("include_defaults")
        features = set(req.params.get("features", "aliases,mappings,settings").split(","))
        flat = req.flag("flat_settings")
        out = {}
        for name in self._resolve(req.segments["index"], req.params):
            idx = self._indices[name]
            entry: dict[str, Any] = {}
            if "aliases" in features:
                entry["aliases"] = self._render_aliases(idx)
            if "mappings" in features:
                entry["mappings"] = copy.deepcopy(idx.mapping)
            if "settings" in features:
                entry["settings"] = self._render_settings(idx, flat)
            out[name] = entry
        return _Response(200, out)

    def h_get_mapping(self, req: _Request) -> _Response:
        names = self._resolve(req.segments.get("index", "_all"), req.params)
        return _Response(200, {name: {"mappings": copy.deepcopy(self._indices[name].mapping)} for name in names})

    def h_put_mapping(self, req: _Request) -> _Response:
        body = req.object(required=True)
        names = self._resolve(req.segments["index"], req.params)
        if req.flag("write_index_only"):
            raise not_implemented("write_index_only")
        update = validate_root_mapping(body, self._mapping_ctx())
        # All-or-nothing over the target indices. As in Elasticsearch, new properties apply to documents indexed
        # afterwards; documents already indexed are not re-parsed.
        merged = {name: merge_mapping(self._indices[name].mapping, update) for name in names}
        for name, mapping in merged.items():
            self._indices[name].set_mapping(mapping)
        return _Response(200, {"acknowledged": True})

    def h_get_settings(self, req: _Request) -> _Response:
        if req.flag("include_defaults"):
            raise not_implemented("include_defaults")
        names = self._resolve(req.segments.get("index", "_all"), req.params)
        flat = req.flag("flat_settings")
        return _Response(200, {name: {"settings": self._render_settings(self._indices[name], flat)} for name in names})

    def h_put_settings(self, req: _Request) -> _Response:
        body = req.object(required=True)
        if "settings" in body and isinstance(body["settings"], dict) and len(body) == 1:
            body = body["settings"]
        names = self._resolve(req.segments.get("index", "_all"), req.params)
        updates = {}
        for name in names:
            updates[name] = self._settings(body, creating=False, current=self._indices[name].settings)
        preserve = req.flag("preserve_existing")
        for name, update in updates.items():
            settings = self._indices[name].settings
            for key, value in update.items():
                if value is None:
                    settings.pop(key, None)
                    if key in ("index.number_of_replicas",):
                        settings[key] = "1"
                elif not (preserve and key in settings):
                    settings[key] = value
        return _Response(200, {"acknowledged": True})

    def h_get_alias(self, req: _Request) -> _Response:
        names_expr = req.segments.get("name")
        index_expr = req.segments.get("index")
        indices = self._resolve(index_expr, req.params) if index_expr else sorted(self._indices)
        wanted = None if names_expr in (None, "_all", "*") else names_expr.split(",")
        out: dict[str, Any] = {}
        found: set[str] = set()
        for name in indices:
            idx = self._indices[name]
            aliases = {}
            for alias, props in sorted(idx.aliases.items()):
                if wanted is None or any(_glob(w).fullmatch(alias) for w in wanted):
                    aliases[alias] = dict(props)
                    found.add(alias)
            if aliases or wanted is None:
                out[name] = {"aliases": aliases}
        if wanted is not None:
            missing = [w for w in wanted if "*" not in w and w not in found]
            if missing:
                text = ",".join(missing)
                noun = "aliases" if len(missing) > 1 else "alias"
                verb = "missing"
                body = {"error": f"{noun} [{text}] {verb}", "status": 404, **out}
                return _Response(404, body)
        return _Response(200, out)

    def h_alias_exists(self, req: _Request) -> _Response:
        response = self.h_get_alias(req)
        if response.status != 200:
            return _Response(404)
        return _Response(200 if response.body else 404)

    def h_update_aliases(self, req: _Request) -> _Response:
        body = req.object(required=True)
        for key in body:
            if key != "actions":
                raise x_content_error(f"[aliases] unknown field [{key}]")
        actions = body.get("actions")
        if not isinstance(actions, list) or not actions:
            raise validation_error("No action specified")
        return self._apply_alias_actions(actions)

    def _apply_alias_actions(self, actions: list[Any]) -> _Response:
        """Apply `_aliases` actions atomically: on any failure nothing changes."""
        staged = {name: copy.deepcopy(idx.aliases) for name, idx in self._indices.items()}
        removed_indices: set[str] = set()
        fields = {
            "add": words(
                "index indices alias aliases filter routing index_routing search_routing is_write_index is_hidden "
                "must_exist"
            ),
            "remove": {"index", "indices", "alias", "aliases", "must_exist"},
            "remove_index": {"index", "indices", "must_exist"},
        }
        for action in actions:
            if not isinstance(action, dict) or len(action) != 1:
                raise x_content_error(
                    "[aliases] failed to parse field [actions]",
                    caused_by=java_iae("Expected exactly one action per entry"),
                )
            kind, spec = next(iter(action.items()))
            if kind not in fields:
                raise x_content_error(
                    "[aliases] failed to parse field [actions]", caused_by=parsing_error(f"Unknown action [{kind}]")
                )
            if not isinstance(spec, dict):
                raise x_content_error(f"[{kind}] failed to parse field")
            for key in spec:
                if key not in fields[kind]:
                    raise x_content_error(f"[{kind}] unknown field [{key}]")
            index_exprs = _listify(spec.get("index")) + _listify(spec.get("indices"))
            if not index_exprs:
                raise validation_error("One of [index] or [indices] is required")
            alias_names = _listify(spec.get("alias")) + _listify(spec.get("aliases"))
            if kind != "remove_index" and not alias_names:
                raise validation_error("One of [alias] or [aliases] is required")
            targets: list[str] = []
            for expr in index_exprs:
                if kind == "remove_index":
                    for part in expr.split(","):
                        if part not in self._indices and part in self._all_aliases():
                            raise illegal_argument(
                                f"The provided expression [{part}] matches an alias, specify the corresponding "
                                "concrete indices instead."
                            )
                resolved = [
                    n for n in self._resolve(expr, allow_aliases=kind != "remove_index") if n not in removed_indices
                ]
                if not resolved and kind == "remove_index" and spec.get("must_exist") is not False:
                    raise index_not_found(expr)
                if not resolved and kind != "remove_index":
                    raise index_not_found(expr)
                targets += resolved
            if kind == "remove_index":
                removed_indices.update(targets)
                for target in targets:
                    staged.pop(target, None)
                continue
            if kind == "add":
                props = {
                    k: v for k, v in spec.items() if k not in ("index", "indices", "alias", "aliases", "must_exist")
                }
                for alias in alias_names:
                    if "*" in alias:
                        raise EsError(
                            400,
                            "invalid_alias_name_exception",
                            f"Invalid alias name [{alias}]: must not contain the following characters "
                            f"[{INVALID_NAME_CHARS}]",
                        )
                    validated = self._alias_props(alias, props, where="add", check_clash=False)
                    for target in targets:
                        staged[target][alias] = validated
                continue
            for alias in alias_names:
                hit = False
                for target in targets:
                    for name in list(staged.get(target, {})):
                        if _glob(alias).fullmatch(name):
                            del staged[target][name]
                            hit = True
                if not hit and spec.get("must_exist") is not False:
                    raise EsError(
                        404,
                        "aliases_not_found_exception",
                        f"aliases [{alias}] missing",
                        extra={"resource.type": "aliases", "resource.id": alias},
                    )
        all_aliases: dict[str, list[str]] = {}
        for name, aliases in staged.items():
            for alias, props in aliases.items():
                if alias in self._indices and alias not in removed_indices:
                    raise EsError(
                        400,
                        "invalid_alias_name_exception",
                        f"Invalid alias name [{alias}]: an index or data stream exists with the same name as the alias",
                    )
                if props.get("is_write_index") is True:
                    all_aliases.setdefault(alias, []).append(name)
        for alias, writers in all_aliases.items():
            if len(writers) > 1:
                raise EsError(
                    400,
                    "illegal_state_exception",
                    f"alias [{alias}] has more than one write index [{','.join(writers)}]",
                    is_es=False,
                )
        for name in removed_indices:
            self._indices.pop(name, None)
        for name, aliases in staged.items():
            if name in self._indices:
                self._indices[name].aliases = aliases
        return _Response(200, {"acknowledged": True, "errors": False})

    def h_put_alias(self, req: _Request) -> _Response:
        body = req.object()
        action = {"add": {"index": req.segments["index"], "alias": req.segments["name"], **body}}
        return self._apply_alias_actions([action])

    def h_delete_alias(self, req: _Request) -> _Response:
        action = {"remove": {"index": req.segments["index"], "alias": req.segments["name"]}}
        return self._apply_alias_actions([action])

    def h_bulk(self, req: _Request) -> _Response:
        refresh = self._refresh_policy(req.params)
        if "timeout" in req.params:
            check_time_value(req.params["timeout"], "timeout")
        if req.params.get("pipeline") not in (None, "_none"):
            raise not_implemented("ingest pipelines")
        default_index = req.segments.get("index")
        text = req.raw.decode("utf-8")
        if not text.strip():
            raise EsError(400, "parse_exception", "request body is required")
        if not text.endswith("\n"):
            raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
        lines = text.split("\n")[:-1]
        operations: list[tuple[str, dict[str, Any], Any]] = []
        i = 0
        line_no = 0
        while i < len(lines):
            line = lines[i]
            i += 1
            line_no += 1
            if not line.strip():
                continue
            try:
                action = json.loads(line)
            except ValueError:
                raise x_content_error(f"Unexpected character in action/metadata line [{line_no}]") from None
            if not isinstance(action, dict) or len(action) != 1:
                raise illegal_argument(
                    f"Malformed action/metadata line [{line_no}], expected START_OBJECT or "
                    "END_OBJECT but found [" + token_name(action) + "]"
                )
            kind, meta = next(iter(action.items()))
            if kind not in ("index", "create", "delete", "update"):
                raise illegal_argument(
                    f"Malformed action/metadata line [{line_no}], expected one of [create, delete, index, update] "
                    f"but found [{kind}]"
                )
            if not isinstance(meta, dict):
                raise illegal_argument(
                    f"Malformed action/metadata line [{line_no}], expected START_OBJECT but found [{token_name(meta)}]"
                )
            allowed = words(
                "_index _id routing version version_type if_seq_no if_primary_term pipeline require_alias "
                "dynamic_templates list_executed_pipelines require_data_stream"
            )
            if kind == "update":
                allowed |= {"retry_on_conflict", "_source"}
            for key in meta:
                if key not in allowed:
                    raise illegal_argument(f"Action/metadata line [{line_no}] contains an unknown parameter [{key}]")
            if "dynamic_templates" in meta:
                raise not_implemented("dynamic_templates")
            source: Any = None
            if kind != "delete":
                if i >= len(lines):
                    raise illegal_argument("The bulk request must be terminated by a newline [\\n]")
                source_line = lines[i]
                i += 1
                line_no += 1
                try:
                    source = json.loads(source_line)
                except ValueError:
                    raise EsError(
                        400, "x_content_parse_exception", f"[{line_no}:1] Unexpected character in document", is_es=False
                    ) from None
                if kind == "update":
                    self._validate_update_body(source)
            operations.append((kind, meta, source))
        missing = [n for n, (_, meta, _) in enumerate(operations) if meta.get("_index", default_index) is None]
        if not operations:
            raise validation_error("no requests added")
        if missing:
            raise validation_error(*["index is missing" for _ in missing])
        items = []
        touched: dict[str, IndexState] = {}
        errors = False
        for kind, meta, source in operations:
            item, idx = self._write_item(kind, meta, source, default_index, req.params)
            if idx is not None:
                touched[idx.name] = idx
            if "error" in item:
                errors = True
            items.append({kind: item})
        if refresh in ("true", "wait_for"):
            for idx in touched.values():
                idx.refresh()
            if refresh == "true":
                for entry in items:
                    inner = next(iter(entry.values()))
                    if "error" not in inner:
                        inner["forced_refresh"] = True
        return _Response(200, {"errors": errors, "took": req.took(), "items": items})

    @staticmethod
    def _validate_update_body(source: Any) -> None:
        if not isinstance(source, dict):
            raise parsing_error("Failed to derive xcontent")
        for key in source:
            if key not in (
                "doc",
                "upsert",
                "doc_as_upsert",
                "script",
                "scripted_upsert",
                "detect_noop",
                "_source",
                "lang",
                "params",
            ):
                raise x_content_error(f"[UpdateRequest] unknown field [{key}]")

    def _single_write(self, req: _Request, op: str, source: Any) -> _Response:
        refresh = self._refresh_policy(req.params)
        meta: dict[str, Any] = {"_index": req.segments["index"]}
        if "id" in req.segments:
            meta["_id"] = req.segments["id"]
        for key in ("if_seq_no", "if_primary_term", "version", "version_type", "pipeline", "require_alias"):
            if key in req.params:
                meta[key] = req.params[key] if key != "require_alias" else req.flag(key)
        item, idx = self._write_item(op, meta, source, None, req.params)
        status = item.pop("status")
        if "error" in item:
            error = item["error"]
            raise EsError(
                status,
                error["type"],
                error["reason"],
                extra={k: v for k, v in error.items() if k not in ("type", "reason", "caused_by")},
            )
        if idx is not None and refresh in ("true", "wait_for"):
            idx.refresh()
            if refresh == "true":
                item["forced_refresh"] = True
        return _Response(status, item)

    def h_index_doc(self, req: _Request) -> _Response:
        op_type = req.params.get("op_type", "index")
        if op_type not in ("index", "create"):
            raise illegal_argument(f"opType must be 'create' or 'index', found: [{op_type}]")
        body = req.json(required=True)
        if not isinstance(body, dict):
            raise parsing_error("Failed to derive xcontent")
        if "id" not in req.segments and op_type == "create":
            raise validation_error("an id must be provided if version type or value are set")
        return self._single_write(req, op_type, body)

    def h_create_doc(self, req: _Request) -> _Response:
        body = req.json(required=True)
        return self._single_write(req, "create", body)

    def h_delete_doc(self, req: _Request) -> _Response:
        return self._single_write(req, "delete", None)

    def h_refresh(self, req: _Request) -> _Response:
        names = self._resolve(req.segments.get("index", "_all"), req.params)
        total = successful = 0
        for name in names:
            idx = self._indices[name]
            idx.refresh()
            total += idx.number_of_shards * (1 + idx.number_of_replicas)
            successful += idx.number_of_shards
        return _Response(200, {"_shards": {"total": total, "successful": successful, "failed": 0}})

    def _shards(self, expression: str, params: dict[str, str], *, realtime: bool = False) -> list[Shard]:
        names = self._resolve(expression, params)
        return [Shard(self._indices[name], i, realtime=realtime) for i, name in enumerate(names)]

    def h_search(self, req: _Request) -> _Response:
        body = req.object()
        for key in ("search_type",):
            if req.params.get(key) not in (None, "query_then_fetch", "dfs_query_then_fetch"):
                raise illegal_argument(f"No search type for [{req.params[key]}]")
        if "scroll" in req.params:
            raise not_implemented("scroll")
        if req.params.get("rest_total_hits_as_int") in ("", "true"):
            raise not_implemented("rest_total_hits_as_int")
        search = parse_search_body(body, req.params, self.licence, self._version_tuple)  # type: ignore[arg-type]
        shards = self._shards(req.segments.get("index", "_all"), req.params)
        for shard in shards:
            window = int(shard.index.settings.get("index.max_result_window", "10000"))
            if search.retriever is None and search.from_ + search.size > window:
                raise shard_failure_response(
                    shard,
                    java_iae(
                        f"Result window is too large, from + size must be less than or equal to: [{window}] but was "
                        f"[{search.from_ + search.size}]. See the scroll api for a more efficient way to request "
                        "large data sets. This limit can be set by changing the [index.max_result_window] index level "
                        "setting."
                    ),
                )
        try:
            response = Searcher(shards).search(search)
        except ShardError as err:
            if not shards:
                raise err.error from None
            raise shard_failure_response(shards[0], err.error, "dfs" if search.knn else "query") from None
        response["took"] = req.took()
        return _Response(200, response)

    def h_count(self, req: _Request) -> _Response:
        body = req.object()
        for key in body:
            if key != "query":
                raise parsing_error(f"request does not support [{key}]")
        if "q" in req.params:
            raise not_implemented("the q (query_string) parameter")
        query = parse_query(body["query"]) if "query" in body else None
        min_score = float(req.params["min_score"]) if "min_score" in req.params else None
        shards = self._shards(req.segments.get("index", "_all"), req.params)
        try:
            scores, _ = Searcher(shards).run_query(query, [])
        except ShardError as err:
            raise shard_failure_response(shards[0], err.error) from None
        if min_score is not None:
            scores = {k: s for k, s in scores.items() if s >= min_score}
        total = sum(s.index.number_of_shards for s in shards)
        return _Response(
            200,
            {"count": len(scores), "_shards": {"total": total, "successful": total, "skipped": 0, "failed": 0}},
        )

    def h_delete_by_query(self, req: _Request) -> _Response:
        body = req.object(required=True)
        for key, value in body.items():
            if key not in ("query", "max_docs", "slice", "sort", "conflicts"):
                raise parsing_error(f"Unknown key for a {token_name(value)} in [{key}].")
        if "slice" in body or "sort" in body or req.params.get("slices", "1") not in ("1", "auto"):
            raise not_implemented("sliced or sorted delete_by_query")
        if "q" in req.params:
            raise not_implemented("the q (query_string) parameter")
        if "query" not in body:
            raise validation_error("query is missing")
        conflicts = req.params.get("conflicts", body.get("conflicts", "abort"))
        if conflicts not in ("abort", "proceed"):
            raise illegal_argument(f'conflicts may only be "proceed" or "abort" but was [{conflicts}]')
        max_docs = req.params.get("max_docs", body.get("max_docs"))
        refresh = req.flag("refresh")
        wait = req.flag("wait_for_completion", True)
        query = parse_query(body["query"])
        shards = self._shards(req.segments["index"], req.params)
        try:
            scores, _ = Searcher(shards).run_query(query, [])
        except ShardError as err:
            raise shard_failure_response(shards[0], err.error) from None
        keys = sorted(scores)
        if max_docs is not None:
            keys = keys[: parse_int(max_docs, "max_docs")]
        # Like the scroll + bulk loop of the real task: batches of `scroll_size`; with conflicts=abort the batch in
        # which a conflict happens still completes, and later batches are not run.
        batch_size = parse_int(req.params.get("scroll_size", "1000"), "scroll_size")
        deleted = conflicts_count = batches = 0
        failures: list[dict[str, Any]] = []
        for start in range(0, len(keys), max(batch_size, 1)):
            batches += 1
            for shard_ordinal, pos in keys[start : start + batch_size]:
                shard = shards[shard_ordinal]
                snapshot_doc = shard.docs[pos]
                live = shard.index.live.get(snapshot_doc.id)
                if live is None or live.seq_no != snapshot_doc.seq_no:
                    conflicts_count += 1
                    if conflicts == "abort":
                        failures.append(self._dbq_conflict(shard.index, snapshot_doc, live))
                    continue
                del shard.index.live[snapshot_doc.id]
                shard.index.seq_no += 1
                deleted += 1
            if failures:
                break
        if refresh:
            for shard in shards:
                shard.index.refresh()
        response = {
            "took": req.took(),
            "timed_out": False,
            "total": len(keys),
            "deleted": deleted,
            "batches": batches,
            "version_conflicts": conflicts_count,
            "noops": 0,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": failures,
        }
        if not wait:
            return _Response(200, {"task": f"{NODE_NAME}:{self._next_order()}"})
        return _Response(409 if failures else 200, response)

    @staticmethod
    def _dbq_conflict(idx: IndexState, snapshot_doc: StoredDoc, live: StoredDoc | None) -> dict[str, Any]:
        current = (
            "but no document was found"
            if live is None
            else (f"current document has seqNo [{live.seq_no}] and primary term [1]")
        )
        return {
            "index": idx.name,
            "id": snapshot_doc.id,
            "cause": {
                "type": "version_conflict_engine_exception",
                "reason": f"[{snapshot_doc.id}]: version conflict, required seqNo [{snapshot_doc.seq_no}], primary "
                f"term [1]. {current}",
                "index_uuid": idx.uuid,
                "shard": "0",
                "index": idx.name,
            },
            "status": 409,
        }

    def _get_doc(self, index_name: str, doc_id: str, spec: SourceSpec, *, realtime: bool) -> dict[str, Any]:
        idx = self._resolve_single(index_name)
        doc = (idx.live if realtime else idx.searchable).get(doc_id)
        if doc is None:
            return {"_index": idx.name, "_id": doc_id, "found": False}
        out: dict[str, Any] = {
            "_index": idx.name,
            "_id": doc_id,
            "_version": doc.version,
            "_seq_no": doc.seq_no,
            "_primary_term": 1,
            "found": True,
        }
        source = render_source(idx, doc, spec)
        if source is not None:
            out["_source"] = source
        return out

    def h_get_doc(self, req: _Request) -> _Response:
        if "stored_fields" in req.params or "version" in req.params:
            raise not_implemented("stored_fields / version on GET")
        realtime = req.flag("realtime", True)
        if req.flag("refresh"):
            self._resolve_single(req.segments["index"]).refresh()
        spec = parse_source_params(req.params)
        body = self._get_doc(req.segments["index"], req.segments["id"], spec, realtime=realtime)
        status = 200 if body["found"] else 404
        if req.method == "HEAD":
            return _Response(status)
        return _Response(status, body)

    def h_mget(self, req: _Request) -> _Response:
        body = req.object(required=True)
        default_index = req.segments.get("index")
        for key, value in body.items():
            if key not in ("docs", "ids"):
                raise parsing_error(
                    f"unknown parameter [{key}] in request body or parameter is of the wrong type[{token_name(value)}] "
                )
        if "stored_fields" in req.params:
            raise not_implemented("stored_fields")
        realtime = req.flag("realtime", True)
        base_spec = parse_source_params(req.params)
        entries: list[tuple[str | None, str, SourceSpec]] = []
        if "ids" in body:
            if not isinstance(body["ids"], list):
                raise parsing_error("[ids] must be an array")
            for doc_id in body["ids"]:
                entries.append((default_index, str(doc_id), base_spec))
        for doc in body.get("docs", []):
            if not isinstance(doc, dict):
                raise parsing_error("docs array element should include an object")
            for key in doc:
                if key not in ("_index", "_id", "_source", "routing", "stored_fields", "version", "version_type"):
                    raise parsing_error(f"Unknown key for a {token_name(doc[key])} in [{key}].")
            spec = parse_source_body(doc["_source"]) if "_source" in doc else base_spec
            entries.append((doc.get("_index", default_index), str(doc.get("_id")), spec))
        if not entries:
            raise validation_error("no documents to get")
        missing = [i for i, (index, _, _) in enumerate(entries) if index is None]
        if missing:
            raise validation_error(*[f"index is missing for doc {i}" for i in missing])
        if req.flag("refresh"):
            for index, _, _ in entries:
                try:
                    self._resolve_single(str(index)).refresh()
                except EsError:
                    pass
        docs = []
        for index, doc_id, spec in entries:
            try:
                docs.append(self._get_doc(str(index), doc_id, spec, realtime=realtime))
            except EsError as err:
                docs.append({"_index": index, "_id": doc_id, "error": err.response_body()["error"]})
        return _Response(200, {"docs": docs})

    def h_cat_indices(self, req: _Request) -> _Response:
        fmt = req.params.get("format", "text")
        if fmt not in ("text", "json"):
            raise not_implemented(f"_cat format [{fmt}]")
        if req.flag("help"):
            raise not_implemented("_cat help")
        params = dict(req.params)
        names = self._resolve(req.segments.get("index", "*"), params)
        raw_bytes = req.params.get("bytes")
        rows = []
        for name in names:
            idx = self._indices[name]
            size = self._store_size(idx)
            total_size = size * (1 + idx.number_of_replicas)
            health = "green" if idx.number_of_replicas == 0 else "yellow"
            size_text = str(size) if raw_bytes == "b" else _human_bytes(size)
            rows.append(
                {
                    "health": health,
                    "status": "open",
                    "index": name,
                    "uuid": idx.uuid,
                    "pri": str(idx.number_of_shards),
                    "rep": str(idx.number_of_replicas),
                    "docs.count": str(self._doc_count(idx)),
                    "docs.deleted": "0",
                    "store.size": str(total_size) if raw_bytes == "b" else size_text,
                    "pri.store.size": size_text,
                    "dataset.size": size_text,
                }
            )
        if "health" in req.params:
            rows = [r for r in rows if r["health"] == req.params["health"]]
        if "s" in req.params:
            for key in reversed(req.params["s"].split(",")):
                column, _, order = key.partition(":")
                numeric = column in ("docs.count", "docs.deleted", "pri", "rep")
                rows.sort(
                    key=lambda r, c=column, n=numeric: int(r[c]) if n else r[c],  # type: ignore[misc]
                    reverse=order == "desc",
                )
        columns = list(rows[0]) if rows else list(_CAT_INDICES_COLUMNS)
        if "h" in req.params:
            columns = req.params["h"].split(",")
            unknown = [c for c in columns if c not in _CAT_INDICES_COLUMNS]
            if unknown:
                raise not_implemented(f"_cat/indices column [{unknown[0]}]")
            rows = [{c: r[c] for c in columns} for r in rows]
        if fmt == "json":
            return _Response(200, rows)
        table = [columns] if req.flag("v") else []
        table += [[r[c] for c in columns] for r in rows]
        widths = [max(len(row[i]) for row in table) for i in range(len(columns))] if table else []
        text = "".join(
            " ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() + "\n" for row in table
        )
        return _Response(200, text, content_type="text/plain; charset=UTF-8")

    def h_stats(self, req: _Request) -> _Response:
        metrics = set(req.segments.get("metric", "_all").split(","))
        known = words(
            "_all docs store indexing get search merge refresh flush warmer query_cache fielddata completion "
            "segments translog request_cache recovery bulk shard_stats mappings dense_vector sparse_vector"
        )
        unknown = metrics - known
        if unknown:
            raise illegal_argument(f"request [{req.path}] contains unrecognized metric: [{sorted(unknown)[0]}]")
        if metrics - {"_all", "docs", "store", "shard_stats"}:
            raise not_implemented(f"_stats metrics {sorted(metrics - {'_all', 'docs', 'store', 'shard_stats'})}")
        names = self._resolve(req.segments.get("index", "_all"), req.params)
        everything = "_all" in metrics

        def section(idx: IndexState, copies: int) -> dict[str, Any]:
            out: dict[str, Any] = {}
            size = self._store_size(idx) * copies
            if everything or "docs" in metrics:
                out["docs"] = {"count": self._doc_count(idx) * copies, "deleted": 0, "total_size_in_bytes": size}
            if everything or "shard_stats" in metrics:
                out["shard_stats"] = {"total_count": idx.number_of_shards * copies}
            if everything or "store" in metrics:
                out["store"] = {"size_in_bytes": size, "total_data_set_size_in_bytes": size, "reserved_in_bytes": 0}
            return out

        indices = {}
        totals_primary: dict[str, Any] = {}
        shards_total = shards_ok = 0
        for name in names:
            idx = self._indices[name]
            shards_total += idx.number_of_shards * (1 + idx.number_of_replicas)
            shards_ok += idx.number_of_shards
            primaries = section(idx, 1)
            indices[name] = {
                "uuid": idx.uuid,
                "health": "green" if idx.number_of_replicas == 0 else "yellow",
                "status": "open",
                "primaries": primaries,
                "total": primaries,
            }
            for key, value in primaries.items():
                bucket = totals_primary.setdefault(key, {})
                for k, v in value.items():
                    bucket[k] = bucket.get(k, 0) + v
        body = {
            "_shards": {"total": shards_total, "successful": shards_ok, "failed": 0},
            "_all": {"primaries": totals_primary, "total": copy.deepcopy(totals_primary)},
            "indices": indices,
        }
        return _Response(200, body)


def _listify(value: Any) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list):
        return [str(v) for v in value]
    return [str(value)]


def _deep_merge(target: dict[str, Any], patch: dict[str, Any]) -> None:
    for key, value in patch.items():
        if isinstance(value, dict) and isinstance(target.get(key), dict):
            _deep_merge(target[key], value)
        else:
            target[key] = copy.deepcopy(value)


def _match(pattern: tuple[str, ...], segments: list[str]) -> dict[str, str] | None:
    if len(pattern) != len(segments):
        return None
    bound: dict[str, str] = {}
    for part, segment in zip(pattern, segments, strict=True):
        if part.startswith("{"):
            bound[part[1:-1]] = segment
        elif part != segment:
            return None
    return bound


def _r(
    methods: str, path: str, handler: Handler, params: set[str]
) -> tuple[set[str], tuple[str, ...], Handler, set[str]]:
    return set(methods.split("|")), tuple(p for p in path.split("/") if p), handler, params


FE = FakeElasticsearch
ROUTES: list[tuple[set[str], tuple[str, ...], Handler, set[str]]] = [
    _r("GET|HEAD", "/", FE.h_info, P_INFO),
    _r("GET", "/_cat/indices", FE.h_cat_indices, P_CAT),
    _r("GET", "/_cat/indices/{index}", FE.h_cat_indices, P_CAT),
    _r("GET", "/_alias", FE.h_get_alias, P_ALIAS),
    _r("GET", "/_aliases", FE.h_get_alias, P_ALIAS),
    _r("GET", "/_alias/{name}", FE.h_get_alias, P_ALIAS),
    _r("HEAD", "/_alias/{name}", FE.h_alias_exists, P_ALIAS),
    _r("POST", "/_aliases", FE.h_update_aliases, P_ALIASES),
    _r("POST|PUT", "/_bulk", FE.h_bulk, P_BULK),
    _r("POST|GET", "/_refresh", FE.h_refresh, P_REFRESH),
    _r("GET|POST", "/_search", FE.h_search, P_SEARCH),
    _r("GET|POST", "/_count", FE.h_count, P_COUNT),
    _r("GET|POST", "/_mget", FE.h_mget, P_MGET),
    _r("GET", "/_mapping", FE.h_get_mapping, P_MAPPING),
    _r("GET", "/_settings", FE.h_get_settings, P_SETTINGS),
    _r("PUT", "/_settings", FE.h_put_settings, P_PUT_SETTINGS),
    _r("GET", "/_stats", FE.h_stats, P_STATS),
    _r("GET", "/_stats/{metric}", FE.h_stats, P_STATS),
    _r("POST|PUT", "/{index}/_bulk", FE.h_bulk, P_BULK),
    _r("POST|GET", "/{index}/_refresh", FE.h_refresh, P_REFRESH),
    _r("GET|POST", "/{index}/_search", FE.h_search, P_SEARCH),
    _r("GET|POST", "/{index}/_count", FE.h_count, P_COUNT),
    _r("POST", "/{index}/_delete_by_query", FE.h_delete_by_query, P_DBQ),
    _r("GET|POST", "/{index}/_mget", FE.h_mget, P_MGET),
    _r("GET", "/{index}/_mapping", FE.h_get_mapping, P_MAPPING),
    _r("PUT|POST", "/{index}/_mapping", FE.h_put_mapping, P_PUT_MAPPING),
    _r("GET", "/{index}/_settings", FE.h_get_settings, P_SETTINGS),
    _r("PUT", "/{index}/_settings", FE.h_put_settings, P_PUT_SETTINGS),
    _r("GET", "/{index}/_stats", FE.h_stats, P_STATS),
    _r("GET", "/{index}/_stats/{metric}", FE.h_stats, P_STATS),
    _r("GET", "/{index}/_alias", FE.h_get_alias, P_ALIAS),
    _r("GET", "/{index}/_aliases", FE.h_get_alias, P_ALIAS),
    _r("GET", "/{index}/_alias/{name}", FE.h_get_alias, P_ALIAS),
    _r("HEAD", "/{index}/_alias/{name}", FE.h_alias_exists, P_ALIAS),
    _r("PUT|POST", "/{index}/_alias/{name}", FE.h_put_alias, P_PUT_ALIAS),
    _r("PUT|POST", "/{index}/_aliases/{name}", FE.h_put_alias, P_PUT_ALIAS),
    _r("DELETE", "/{index}/_alias/{name}", FE.h_delete_alias, P_PUT_ALIAS),
    _r("DELETE", "/{index}/_aliases/{name}", FE.h_delete_alias, P_PUT_ALIAS),
    _r("GET|HEAD", "/{index}/_doc/{id}", FE.h_get_doc, P_GET),
    _r("PUT|POST", "/{index}/_doc/{id}", FE.h_index_doc, P_INDEX_DOC),
    _r("DELETE", "/{index}/_doc/{id}", FE.h_delete_doc, P_DELETE_DOC),
    _r("POST", "/{index}/_doc", FE.h_index_doc, P_INDEX_DOC),
    _r("PUT|POST", "/{index}/_create/{id}", FE.h_create_doc, P_INDEX_DOC),
    _r("PUT", "/{index}", FE.h_create_index, P_CREATE),
    _r("DELETE", "/{index}", FE.h_delete_index, P_DELETE_INDEX),
    _r("HEAD", "/{index}", FE.h_index_exists, P_GET_INDEX),
    _r("GET", "/{index}", FE.h_get_index, P_GET_INDEX),
]
