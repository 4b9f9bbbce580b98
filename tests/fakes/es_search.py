"""Query DSL, kNN, retrievers, sorting and `_source` filtering for the fake Elasticsearch.

Execution model: every resolved index is one "shard" (sharding is not emulated; BM25 statistics are per index, as
they are in a one-shard index, Elasticsearch's default). Searches see the index's last refreshed snapshot only.
Queries are parsed and validated completely before any index is touched, so malformed requests fail with the same
`parsing_exception` / `x_content_parse_exception` Elasticsearch returns; failures while building a query against a
concrete index (wrong vector length, sorting on a text field...) come back as `search_phase_execution_exception`
("all shards failed") like Elasticsearch's shard failures.

kNN is exact (brute force) rather than HNSW, so results equal an exhaustive search; `num_candidates` is validated
and applied as a per-index cap, and `filter` is applied before the neighbour search, as in Elasticsearch.
"""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tests.fakes.es_analysis import (
    ANALYZERS,
    UNEMULATED_BUILTIN_ANALYZERS,
    analyze,
    bm25_avgdl,
    bm25_idf,
    bm25_score,
    encode_norm,
    f32,
)
from tests.fakes.es_core import (
    NUMERIC_TYPES,
    EsError,
    FieldInfo,
    IndexState,
    StoredDoc,
    TextValue,
    check_time_value,
    format_date,
    illegal_argument,
    java_iae,
    not_implemented,
    parse_date,
    parse_date_math,
    parsing_error,
    token_name,
    validation_error,
    words,
    x_content_error,
)

DocKey = tuple[int, int]  # (shard ordinal, position in the shard's snapshot)
Scores = dict[int, float]

# --- shards -----------------------------------------------------------------------------------------------------


class Shard:
    """The refreshed snapshot of one index, in Lucene doc order (write order), with cached BM25 statistics."""

    def __init__(self, index: IndexState, ordinal: int, *, realtime: bool = False) -> None:
        self.index = index
        self.ordinal = ordinal
        view = index.live if realtime else index.searchable
        self.docs: list[StoredDoc] = sorted(view.values(), key=lambda d: d.order)
        self._stats: dict[str, tuple[int, int, Counter[str]]] = {}

    def field(self, name: str) -> FieldInfo | None:
        return self.index.fields.get(name)

    def expand(self, pattern: str) -> list[FieldInfo]:
        if "*" not in pattern:
            info = self.field(pattern)
            return [info] if info else []
        regex = glob_regex(pattern)
        return [info for path, info in self.index.fields.items() if regex.fullmatch(path)]

    def stats(self, info: FieldInfo) -> tuple[int, int, Counter[str]]:
        """(docCount, sumTotalTermFreq, docFreq per term) for a field, as Lucene's CollectionStatistics."""
        cached = self._stats.get(info.path)
        if cached is not None:
            return cached
        doc_count = 0
        sum_ttf = 0
        df: Counter[str] = Counter()
        for doc in self.docs:
            value = doc.indexed.get(info.path)
            if isinstance(value, TextValue):
                if value.length:
                    doc_count += 1
                    sum_ttf += value.length
                    df.update(value.terms.keys())
            elif value:
                terms = {term_of(v) for v in value}
                doc_count += 1
                sum_ttf += len(terms)
                df.update(terms)
        self._stats[info.path] = (doc_count, sum_ttf, df)
        return self._stats[info.path]


def term_of(value: Any) -> str:
    if isinstance(value, bool):
        return "T" if value else "F"
    return str(value)


def glob_regex(pattern: str) -> re.Pattern[str]:
    return re.compile(".*".join(re.escape(part) for part in pattern.split("*")))


class ShardError(Exception):
    """A failure raised while executing against one index; reported as a shard failure."""

    def __init__(self, error: EsError) -> None:
        super().__init__(error.reason)
        self.error = error


def query_shard_error(shard: Shard, reason: str, cause: EsError | None = None) -> ShardError:
    return ShardError(
        EsError(
            400,
            "query_shard_exception",
            f"failed to create query: {reason}",
            extra={"index_uuid": shard.index.uuid, "index": shard.index.name},
            caused_by=cause or java_iae(reason),
        )
    )


def shard_failure_response(shard: Shard, error: EsError, phase: str = "query") -> EsError:
    failure = {"shard": 0, "index": shard.index.name, "node": "fake-node-id", "reason": error.to_dict()}
    return EsError(
        error.status if error.status < 500 else 500,
        "search_phase_execution_exception",
        "all shards failed",
        extra={"phase": phase, "grouped": True, "failed_shards": [failure]},
        caused_by=error,
        root_cause=[error.root().to_dict(with_cause=False)],
    )


# --- value helpers ----------------------------------------------------------------------------------------------


def as_int(value: Any, name: str, where: str) -> int:
    if isinstance(value, bool) or value is None:
        raise x_content_error(f"[{where}] failed to parse field [{name}]")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise x_content_error(
        f"[{where}] failed to parse field [{name}]",
        caused_by=EsError(400, "number_format_exception", f'For input string: "{value}"', is_es=False),
    )


def as_float(value: Any, name: str, where: str) -> float:
    if isinstance(value, bool) or value is None:
        raise x_content_error(f"[{where}] failed to parse field [{name}]")
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(value)
    except (TypeError, ValueError):
        raise x_content_error(f"[{where}] failed to parse field [{name}]") from None


def as_bool(value: Any, name: str, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise x_content_error(
        f"[{where}] failed to parse field [{name}]",
        caused_by=java_iae(f"Failed to parse value [{value}] as only [true] or [false] are allowed."),
    )


def minimum_should_match(spec: Any, optional_count: int) -> int:
    """Elasticsearch's Queries.calculateMinShouldMatch (integers, percentages and `N<spec` combinations)."""
    text = str(spec).strip()
    if "<" in text:
        result = optional_count
        for part in text.split():
            upper, _, rest = part.partition("<")
            if optional_count > int(upper):
                result = minimum_should_match(rest, optional_count)
        return result
    if text.endswith("%"):
        pct = float(text[:-1])
        calc = int(optional_count * abs(pct) / 100)
        result = optional_count - calc if pct < 0 else calc
    else:
        value = int(text)
        result = optional_count + value if value < 0 else value
    return max(0, result)


# --- queries ----------------------------------------------------------------------------------------------------


class Query:
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        raise NotImplementedError


@dataclass
class MatchAll(Query):
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        return dict.fromkeys(range(len(shard.docs)), f32(self.boost))


@dataclass
class MatchNone(Query):
    def run(self, shard: Shard) -> Scores:
        return {}


def _term_scores(
    shard: Shard, info: FieldInfo, term: str, boost: float, *, only: Iterable[int] | None = None
) -> Scores:
    """BM25 scores of one term on one field (a Lucene TermQuery)."""
    doc_count, sum_ttf, df = shard.stats(info)
    n = df.get(term, 0)
    if not n:
        return {}
    idf = bm25_idf(doc_count, n)
    avgdl = bm25_avgdl(sum_ttf, doc_count)
    norms = info.type == "text" and info.spec.get("norms", True)
    out: Scores = {}
    positions = range(len(shard.docs)) if only is None else only
    for pos in positions:
        value = shard.docs[pos].indexed.get(info.path)
        if value is None:
            continue
        if isinstance(value, TextValue):
            freq = value.terms.get(term, 0)
            norm = encode_norm(value.length) if norms else 1
        else:
            freq = 1 if term in {term_of(v) for v in value} else 0
            norm = 1
        if freq:
            out[pos] = float(bm25_score(boost, idf, freq, norm, avgdl))
    return out


def _constant(positions: Iterable[int], boost: float) -> Scores:
    score = f32(boost)
    return dict.fromkeys(positions, score)


def _typed_value(info: FieldInfo, value: Any) -> Any:
    """Parse a query value for a numeric/date/boolean field; raises ValueError when it does not parse."""
    if info.type in NUMERIC_TYPES:
        if isinstance(value, bool):
            raise ValueError(value)
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    if info.type == "date":
        return parse_date(value, info.date_format)
    if info.type == "boolean":
        if isinstance(value, bool):
            return value
        if value in ("true", "false"):
            return value == "true"
        raise ValueError(value)
    return value


def _exact_matches(shard: Shard, info: FieldInfo, values: list[Any], *, case_insensitive: bool = False) -> list[int]:
    """Positions whose indexed values contain one of `values` (term-level semantics, no analysis)."""
    if info.type == "text":
        wanted = {str(v) for v in values}
        return [
            pos
            for pos, doc in enumerate(shard.docs)
            if isinstance(tv := doc.indexed.get(info.path), TextValue) and wanted & tv.terms.keys()
        ]
    if info.type == "keyword":
        if case_insensitive:
            lowered = {term_of(v).lower() for v in values}
            return [
                pos
                for pos, doc in enumerate(shard.docs)
                if any(s.lower() in lowered for s in doc.indexed.get(info.path, []))
            ]
        wanted_terms = {term_of(v) for v in values}
        return [pos for pos, doc in enumerate(shard.docs) if wanted_terms & set(doc.indexed.get(info.path, []))]
    if info.type == "dense_vector":
        raise ValueError("dense_vector")
    parsed = set()
    for value in values:
        try:
            parsed.add(_typed_value(info, value))
        except (ValueError, TypeError):
            if len(values) == 1:
                raise
    return [pos for pos, doc in enumerate(shard.docs) if parsed & set(doc.indexed.get(info.path, []))]


def _check_searchable(shard: Shard, info: FieldInfo) -> None:
    if info.type == "text" and not info.indexed:
        raise query_shard_error(shard, f"Cannot search on field [{info.path}] since it is not indexed.")
    if not info.indexed and not info.has_doc_values:
        raise query_shard_error(
            shard, f"Cannot search on field [{info.path}] since it is not indexed nor has doc values."
        )


@dataclass
class TermQuery(Query):
    field: str
    value: Any
    boost: float = 1.0
    case_insensitive: bool = False

    def run(self, shard: Shard) -> Scores:
        if self.field == "_id":
            return _constant((p for p, d in enumerate(shard.docs) if d.id == str(self.value)), self.boost)
        if self.field == "_index":
            return MatchAll(self.boost).run(shard) if shard.index.name == str(self.value) else {}
        info = shard.field(self.field)
        if info is None:
            return {}
        _check_searchable(shard, info)
        if info.type == "dense_vector":
            raise query_shard_error(shard, f"Field [{info.path}] of type [dense_vector] does not support term queries")
        if info.type == "boolean":
            try:
                term = term_of(_typed_value(info, self.value))
            except ValueError:
                raise query_shard_error(
                    shard, f"Can't parse boolean value [{self.value}], expected [true] or [false]"
                ) from None
            return _term_scores(shard, info, term, self.boost)
        if info.type in ("text", "keyword") and not self.case_insensitive:
            return _term_scores(shard, info, term_of(self.value), self.boost)
        try:
            positions = _exact_matches(shard, info, [self.value], case_insensitive=self.case_insensitive)
        except (ValueError, TypeError):
            raise query_shard_error(shard, f'For input string: "{self.value}"') from None
        return _constant(positions, self.boost)


@dataclass
class TermsQuery(Query):
    field: str
    values: list[Any]
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        if self.field == "_id":
            wanted = {str(v) for v in self.values}
            return _constant((p for p, d in enumerate(shard.docs) if d.id in wanted), self.boost)
        if self.field == "_index":
            return MatchAll(self.boost).run(shard) if shard.index.name in map(str, self.values) else {}
        info = shard.field(self.field)
        if info is None:
            return {}
        _check_searchable(shard, info)
        try:
            return _constant(_exact_matches(shard, info, self.values), self.boost)
        except (ValueError, TypeError) as exc:
            raise query_shard_error(shard, f'For input string: "{exc.args[0] if exc.args else ""}"') from None


@dataclass
class IdsQuery(Query):
    values: list[str]
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        wanted = set(self.values)
        return _constant((p for p, d in enumerate(shard.docs) if d.id in wanted), self.boost)


@dataclass
class ExistsQuery(Query):
    field: str
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        infos = shard.expand(self.field)
        prefix = self.field + "."
        infos += [i for p, i in shard.index.fields.items() if p.startswith(prefix) and i.source_path == i.path]
        if not infos:
            return {}

        def has(doc: StoredDoc) -> bool:
            for info in infos:
                value = doc.indexed.get(info.path)
                if isinstance(value, TextValue) or (value is not None and len(value)):
                    return True
            return False

        return _constant((p for p, d in enumerate(shard.docs) if has(d)), self.boost)


@dataclass
class RangeQuery(Query):
    field: str
    bounds: dict[str, Any]
    date_format: str | None = None
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        info = shard.field(self.field)
        if info is None:
            return {}
        _check_searchable(shard, info)
        parsed: dict[str, Any] = {}
        for op, raw in self.bounds.items():
            if raw is None:
                continue
            try:
                if info.type == "date":
                    fmt = self.date_format or info.date_format
                    parsed[op] = parse_date_math(raw, fmt, round_up=op in ("gt", "lte"))
                elif info.type in NUMERIC_TYPES:
                    parsed[op] = _typed_value(info, raw)
                elif info.type == "dense_vector":
                    raise query_shard_error(
                        shard, f"Field [{info.path}] of type [dense_vector] does not support range queries"
                    )
                else:
                    parsed[op] = term_of(raw)
            except ValueError:
                if info.type == "date":
                    reason = f"failed to parse date field [{raw}] with format [{self.date_format or info.date_format}]"
                    raise ShardError(EsError(400, "parse_exception", reason)) from None
                raise query_shard_error(shard, f'For input string: "{raw}"') from None

        def ok(v: Any) -> bool:
            return all(
                (op == "gte" and v >= b) or (op == "gt" and v > b) or (op == "lte" and v <= b) or (op == "lt" and v < b)
                for op, b in parsed.items()
            )

        out = []
        for pos, doc in enumerate(shard.docs):
            value = doc.indexed.get(info.path)
            values = sorted(value.terms) if isinstance(value, TextValue) else value or []
            if any(ok(v) for v in values):
                out.append(pos)
        return _constant(out, self.boost)


@dataclass
class MatchQuery(Query):
    field: str
    text: Any
    operator: str = "or"
    msm: Any = None
    analyzer: str | None = None
    zero_terms: str = "none"
    lenient: bool = False
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        info = shard.field(self.field)
        if info is None:
            return {}
        return match_field(shard, info, self, self.boost)


def match_field(shard: Shard, info: FieldInfo, q: MatchQuery | MultiMatchQuery, boost: float) -> Scores:
    """One field of a match / multi_match query: analyzed terms OR'ed (or AND'ed) with BM25 scores summed."""
    _check_searchable(shard, info)
    if info.type == "dense_vector":
        if q.lenient:
            return {}
        raise query_shard_error(shard, f"Field [{info.path}] of type [dense_vector] does not support match queries")
    if info.type in NUMERIC_TYPES or info.type in ("date", "boolean"):
        try:
            positions = _exact_matches(shard, info, [q.text])
        except (ValueError, TypeError):
            if q.lenient:
                return {}
            if info.type == "date":
                raise ShardError(
                    EsError(
                        400,
                        "parse_exception",
                        f"failed to parse date field [{q.text}] with format [{info.date_format}]",
                    )
                ) from None
            raise query_shard_error(shard, f'For input string: "{q.text}"') from None
        if info.type == "boolean":
            return _term_scores(shard, info, term_of(_typed_value(info, q.text)), boost)
        return _constant(positions, boost)
    text = term_of(q.text)
    if info.type == "keyword":
        clauses = [text]
    else:
        clauses = analyze(q.analyzer or info.search_analyzer, text)
    if not clauses:
        return MatchAll(boost).run(shard) if q.zero_terms == "all" else {}
    if q.operator == "and":
        required = len(clauses)
    elif q.msm is not None:
        required = minimum_should_match(q.msm, len(clauses))
    else:
        required = 1
    per_clause = [_term_scores(shard, info, term, boost) for term in clauses]
    hits: Counter[int] = Counter()
    for scores in per_clause:
        hits.update(scores.keys())
    out: Scores = {}
    for pos, count in hits.items():
        if count >= max(required, 1):
            out[pos] = f32(sum(s[pos] for s in per_clause if pos in s))
    return out


@dataclass
class MultiMatchQuery(Query):
    text: Any
    fields: list[tuple[str, float]]
    type: str = "best_fields"
    tie_breaker: float | None = None
    operator: str = "or"
    msm: Any = None
    analyzer: str | None = None
    zero_terms: str = "none"
    lenient: bool = False
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        fields = self.fields
        if not fields:
            default = shard.index.settings.get("index.query.default_field", ["*"])
            fields = [(f, 1.0) for f in (default if isinstance(default, list) else [default])]
        per_field: list[Scores] = []
        for pattern, field_boost in fields:
            for info in shard.expand(pattern):
                # Wildcard patterns only expand to fields that support full-text queries (QueryParserHelper).
                if "*" in pattern and info.type not in ("text", "keyword"):
                    continue
                per_field.append(match_field(shard, info, self, field_boost))
        if not per_field:
            return {}
        tie = self.tie_breaker if self.tie_breaker is not None else (1.0 if self.type == "most_fields" else 0.0)
        out: Scores = {}
        for pos in set().union(*per_field):
            scores = [s[pos] for s in per_field if pos in s]
            if self.type == "most_fields":
                total = float(np.float32(sum(scores)))
            else:
                best = max(scores)
                total = float(np.float32(best + (sum(scores) - best) * tie))
            out[pos] = f32(total * self.boost)
        return out


@dataclass
class BoolQuery(Query):
    must: list[Query] = field(default_factory=list)
    filter: list[Query] = field(default_factory=list)
    should: list[Query] = field(default_factory=list)
    must_not: list[Query] = field(default_factory=list)
    msm: Any = None
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        candidates: set[int] | None = None
        score: dict[int, float] = {}
        for clause in self.must:
            result = clause.run(shard)
            candidates = set(result) if candidates is None else candidates & result.keys()
            for pos, s in result.items():
                score[pos] = score.get(pos, 0.0) + s
        for clause in self.filter:
            result = clause.run(shard)
            candidates = set(result) if candidates is None else candidates & result.keys()
        should_results = [clause.run(shard) for clause in self.should]
        if self.msm is not None:
            required = minimum_should_match(self.msm, len(self.should))
        else:
            required = 0 if (self.must or self.filter) else (1 if self.should else 0)
        if self.should:
            counts: Counter[int] = Counter()
            for result in should_results:
                counts.update(result.keys())
            if required > 0:
                matched = {pos for pos, c in counts.items() if c >= required}
                candidates = matched if candidates is None else candidates & matched
            for result in should_results:
                for pos, s in result.items():
                    score[pos] = score.get(pos, 0.0) + s
        if candidates is None:
            candidates = set(range(len(shard.docs))) if self.must_not else set()
        for clause in self.must_not:
            candidates -= clause.run(shard).keys()
        return {pos: f32(float(np.float32(score.get(pos, 0.0))) * self.boost) for pos in candidates}


@dataclass
class ConstantScoreQuery(Query):
    inner: Query
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        return _constant(self.inner.run(shard).keys(), self.boost)


@dataclass
class DisMaxQuery(Query):
    queries: list[Query]
    tie_breaker: float = 0.0
    boost: float = 1.0

    def run(self, shard: Shard) -> Scores:
        results = [q.run(shard) for q in self.queries]
        out: Scores = {}
        for pos in set().union(*results) if results else set():
            scores = [r[pos] for r in results if pos in r]
            best = max(scores)
            out[pos] = f32((best + (sum(scores) - best) * self.tie_breaker) * self.boost)
        return out


# --- query parsing ----------------------------------------------------------------------------------------------

UNEMULATED_QUERIES = set(
    "query_string simple_query_string match_phrase match_phrase_prefix match_bool_prefix prefix wildcard regexp "
    "fuzzy nested has_child has_parent parent_id function_score script_score script boosting more_like_this "
    "geo_bounding_box geo_distance geo_grid geo_polygon geo_shape shape knn semantic sparse_vector text_expansion "
    "weighted_tokens rank_feature distance_feature pinned rule span_term span_first span_near span_or span_not "
    "span_containing span_within span_multi field_masking_span intervals combined_fields terms_set wrapper "
    "percolate type".split()
)


def _single_field(name: str, body: Any) -> tuple[str, Any]:
    if not isinstance(body, dict) or not body:
        raise parsing_error(f"[{name}] query malformed, no start_object after query name")
    keys = list(body)
    if len(keys) > 1:
        raise parsing_error(f"[{name}] query doesn't support multiple fields, found [{keys[0]}] and [{keys[1]}]")
    return keys[0], body[keys[0]]


def _options(name: str, body: dict[str, Any], allowed: set[str] | frozenset[str]) -> None:
    for key, value in body.items():
        if key not in allowed:
            raise parsing_error(f"[{name}] query does not support [{key}]")
        if isinstance(value, (dict, list)) and key not in ("query",):
            raise parsing_error(f"[{name}] unknown token [{token_name(value)}] after [{key}]")


def _boost(body: dict[str, Any], where: str) -> float:
    return as_float(body.get("boost", 1.0), "boost", where)


def _parse_term(body: Any) -> Query:
    name, spec = _single_field("term", body)
    if isinstance(spec, dict):
        _options("term", spec, {"value", "boost", "_name", "case_insensitive"})
        if "value" not in spec:
            raise parsing_error("[term] query requires a value, none was found")
        case_insensitive = as_bool(spec.get("case_insensitive", False), "case_insensitive", "term")
        return TermQuery(name, spec["value"], _boost(spec, "term"), case_insensitive)
    if isinstance(spec, list):
        raise parsing_error("[term] query does not support array of values")
    if spec is None:
        raise parsing_error("[term] query requires a value, none was found")
    return TermQuery(name, spec)


def _parse_terms(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[terms] query malformed, no start_object after query name")
    field_name = None
    values: list[Any] = []
    for key, value in body.items():
        if key in ("boost", "_name"):
            continue
        if isinstance(value, list):
            if field_name is not None:
                raise parsing_error(f"[terms] query does not support multiple fields, found [{field_name}] and [{key}]")
            field_name, values = key, value
        elif isinstance(value, dict):
            raise not_implemented("terms lookup")
        else:
            raise parsing_error(f"[terms] query does not support [{key}]")
    if field_name is None:
        raise parsing_error(
            "[terms] query requires a field name, followed by array of terms or a document lookup specification"
        )
    if any(isinstance(v, (dict, list)) or v is None for v in values):
        raise parsing_error("[terms] query values must be scalars")
    return TermsQuery(field_name, values, _boost(body, "terms"))


def _parse_match(body: Any) -> Query:
    name, spec = _single_field("match", body)
    allowed = words(
        "query operator minimum_should_match analyzer boost _name fuzziness prefix_length max_expansions "
        "fuzzy_transpositions fuzzy_rewrite lenient zero_terms_query auto_generate_synonyms_phrase_query"
    )
    if not isinstance(spec, dict):
        if isinstance(spec, list):
            raise parsing_error(f"[match] unknown token [START_ARRAY] after [{name}]")
        return MatchQuery(name, spec)
    _options("match", spec, allowed)
    if "query" not in spec:
        raise parsing_error("No text specified for text query")
    if spec.get("fuzziness") not in (None, 0, "0"):
        raise not_implemented("fuzziness")
    common = _match_common("match", spec)
    return MatchQuery(name, spec["query"], **common)


def _match_common(where: str, spec: dict[str, Any]) -> dict[str, Any]:
    operator = str(spec.get("operator", "or")).lower()
    if operator not in ("or", "and"):
        raise illegal_argument(f"No enum constant org.elasticsearch.index.query.Operator.{operator.upper()}")
    zero = str(spec.get("zero_terms_query", "none")).lower()
    if zero not in ("none", "all"):
        raise illegal_argument(f"Unsupported zero_terms_query value [{zero}]")
    analyzer = spec.get("analyzer")
    if analyzer is not None:
        if analyzer in UNEMULATED_BUILTIN_ANALYZERS:
            raise not_implemented(f"analyzer [{analyzer}]")
        if analyzer not in ANALYZERS:
            raise ShardError(EsError(400, "query_shard_exception", f"[{where}] analyzer [{analyzer}] not found"))
    msm = spec.get("minimum_should_match")
    if msm is not None:
        try:
            minimum_should_match(msm, 1)
        except ValueError:
            raise illegal_argument(f"Invalid minimum_should_match [{msm}]") from None
    return {
        "operator": operator,
        "msm": msm,
        "analyzer": analyzer,
        "zero_terms": zero,
        "lenient": as_bool(spec.get("lenient", False), "lenient", where),
        "boost": _boost(spec, where),
    }


_MULTI_MATCH_TYPES = {"best_fields", "most_fields", "cross_fields", "phrase", "phrase_prefix", "bool_prefix"}


def _parse_multi_match(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[multi_match] query malformed, no start_object after query name")
    allowed = words(
        "query fields type tie_breaker operator minimum_should_match analyzer boost _name fuzziness "
        "prefix_length max_expansions fuzzy_transpositions fuzzy_rewrite lenient zero_terms_query "
        "auto_generate_synonyms_phrase_query slop"
    )
    for key, value in body.items():
        if key not in allowed:
            raise parsing_error(f"[multi_match] query does not support [{key}]")
        if key == "fields":
            if not isinstance(value, (list, str)):
                raise parsing_error(f"[multi_match] query does not support [{key}]")
        elif isinstance(value, (dict, list)):
            raise parsing_error(f"[multi_match] unknown token [{token_name(value)}] after [{key}]")
    if "query" not in body or body["query"] is None:
        raise illegal_argument("No text specified for multi_match query")
    kind = body.get("type", "best_fields")
    if kind not in _MULTI_MATCH_TYPES:
        raise parsing_error(f"[multi_match] query does not support type [{kind}]")
    if kind not in ("best_fields", "most_fields"):
        raise not_implemented(f"multi_match type [{kind}]")
    if body.get("fuzziness") not in (None, 0, "0"):
        raise not_implemented("fuzziness")
    raw_fields = body.get("fields", [])
    raw_fields = [raw_fields] if isinstance(raw_fields, str) else raw_fields
    fields: list[tuple[str, float]] = []
    for entry in raw_fields:
        if not isinstance(entry, str):
            raise parsing_error(f"[multi_match] query does not support [{token_name(entry)}] in [fields]")
        name, _, boost = entry.partition("^")
        try:
            fields.append((name, float(boost) if boost else 1.0))
        except ValueError:
            raise EsError(400, "number_format_exception", f'For input string: "{boost}"', is_es=False) from None
    tie = body.get("tie_breaker")
    common = _match_common("multi_match", body)
    return MultiMatchQuery(
        body["query"],
        fields,
        kind,
        None if tie is None else as_float(tie, "tie_breaker", "multi_match"),
        **common,
    )


def _parse_range(body: Any) -> Query:
    name, spec = _single_field("range", body)
    if not isinstance(spec, dict):
        raise parsing_error(f"[range] query does not support [{name}]")
    allowed = {"gte", "gt", "lte", "lt", "format", "time_zone", "boost", "relation", "_name"}
    for key in spec:
        if key not in allowed:
            raise parsing_error(f"[range] query does not support [{key}]")
    if spec.get("time_zone") not in (None, "Z", "UTC", "+00:00"):
        raise not_implemented("range time_zone other than UTC")
    if spec.get("relation", "intersects").lower() not in ("intersects", "within", "contains"):
        raise parsing_error(f"[range] query does not support relation [{spec['relation']}]")
    bounds = {op: spec[op] for op in ("gte", "gt", "lte", "lt") if op in spec}
    return RangeQuery(name, bounds, spec.get("format"), _boost(spec, "range"))


def _parse_exists(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[exists] query malformed, no start_object after query name")
    _options("exists", body, {"field", "boost", "_name"})
    if "field" not in body:
        raise parsing_error("[exists] must be provided with a [field]")
    return ExistsQuery(str(body["field"]), _boost(body, "exists"))


def _parse_ids(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[ids] query malformed, no start_object after query name")
    for key in body:
        if key not in ("values", "boost", "_name"):
            raise x_content_error(f"[ids] unknown field [{key}]")
    values = body.get("values", [])
    if not isinstance(values, list):
        raise x_content_error("[ids] failed to parse field [values]")
    return IdsQuery([str(v) for v in values], _boost(body, "ids"))


def _parse_match_all(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[match_all] query malformed, no start_object after query name")
    _options("match_all", body, {"boost", "_name"})
    return MatchAll(_boost(body, "match_all"))


def _parse_match_none(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[match_none] query malformed, no start_object after query name")
    _options("match_none", body, {"boost", "_name"})
    return MatchNone()


def _clauses(value: Any) -> list[Query]:
    items = value if isinstance(value, list) else [value]
    return [parse_query(item) for item in items]


def _parse_bool(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[bool] query malformed, no start_object after query name")
    q = BoolQuery()
    for key, value in body.items():
        if key in ("must", "filter", "should", "must_not"):
            if not isinstance(value, (dict, list)):
                raise parsing_error(f"[bool] query does not support [{key}]")
            getattr(q, key).extend(_clauses(value))
        elif key == "minimum_should_match":
            q.msm = value
        elif key == "boost":
            q.boost = as_float(value, "boost", "bool")
        elif key in ("_name", "adjust_pure_negative"):
            continue
        else:
            raise parsing_error(f"[bool] query does not support [{key}]")
    return q


def _parse_constant_score(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[constant_score] query malformed, no start_object after query name")
    for key in body:
        if key not in ("filter", "boost", "_name"):
            raise parsing_error(f"[constant_score] query does not support [{key}]")
    if "filter" not in body:
        raise parsing_error("[constant_score] requires a 'filter' element")
    return ConstantScoreQuery(parse_query(body["filter"]), _boost(body, "constant_score"))


def _parse_dis_max(body: Any) -> Query:
    if not isinstance(body, dict):
        raise parsing_error("[dis_max] query malformed, no start_object after query name")
    for key in body:
        if key not in ("queries", "tie_breaker", "boost", "_name"):
            raise parsing_error(f"[dis_max] query does not support [{key}]")
    if "queries" not in body:
        raise parsing_error("[dis_max] requires 'queries' field with at least one clause")
    return DisMaxQuery(
        _clauses(body["queries"]),
        as_float(body.get("tie_breaker", 0.0), "tie_breaker", "dis_max"),
        _boost(body, "dis_max"),
    )


QUERY_PARSERS: dict[str, Callable[[Any], Query]] = {
    "bool": _parse_bool,
    "term": _parse_term,
    "terms": _parse_terms,
    "ids": _parse_ids,
    "match": _parse_match,
    "multi_match": _parse_multi_match,
    "match_all": _parse_match_all,
    "match_none": _parse_match_none,
    "exists": _parse_exists,
    "range": _parse_range,
    "constant_score": _parse_constant_score,
    "dis_max": _parse_dis_max,
}


def parse_query(spec: Any) -> Query:
    if not isinstance(spec, dict):
        raise parsing_error(f"[_na] query malformed, must start with start_object, found [{token_name(spec)}]")
    if not spec:
        raise parsing_error("query malformed, empty clause found")
    names = list(spec)
    if len(names) > 1:
        raise parsing_error(f"[{names[0]}] malformed query, expected [END_OBJECT] but found [FIELD_NAME]")
    name = names[0]
    parser = QUERY_PARSERS.get(name)
    if parser is None:
        if name in UNEMULATED_QUERIES:
            raise not_implemented(f"query [{name}]")
        raise EsError(
            400,
            "parsing_exception",
            f"unknown query [{name}]",
            extra={"line": 1, "col": 1},
            caused_by=EsError(400, "named_object_not_found_exception", f"[1:1] unknown field [{name}]", is_es=False),
        )
    return parser(spec[name])


# --- kNN --------------------------------------------------------------------------------------------------------

KNN_KEYS = words(
    "field query_vector query_vector_builder k num_candidates filter similarity boost _name inner_hits "
    "rescore_vector visit_percentage"
)
NUM_CANDIDATES_LIMIT = 10_000


@dataclass
class KnnSpec:
    field: str
    vector: list[float]
    k: int
    num_candidates: int
    filters: list[Query]
    similarity: float | None
    boost: float


def parse_knn(spec: Any, size: int, *, where: str = "knn", require_k: bool = False) -> KnnSpec:
    if not isinstance(spec, dict):
        raise parsing_error(f"[{where}] expected an object, found [{token_name(spec)}]")
    for key in spec:
        if key not in KNN_KEYS:
            raise x_content_error(f"[{where}] unknown field [{key}]")
    if "inner_hits" in spec:
        raise not_implemented("knn inner_hits")
    if "query_vector_builder" in spec:
        if "query_vector" in spec:
            raise illegal_argument("cannot provide both [query_vector_builder] and [query_vector]")
        raise not_implemented("query_vector_builder (needs an inference model)")
    if "visit_percentage" in spec:
        raise not_implemented("knn visit_percentage")
    if "field" not in spec:
        raise x_content_error(f"[{where}] failed to parse object", caused_by=java_iae("Required [field]"))
    missing = [k for k in ("k", "num_candidates") if require_k and k not in spec]
    if missing:
        raise x_content_error(
            f"[{where}] failed to parse object", caused_by=java_iae(f"Required [{', '.join(missing)}]")
        )
    vector = spec.get("query_vector")
    if vector is None:
        raise illegal_argument("either [query_vector_builder] or [query_vector] must be provided")
    if isinstance(vector, str):
        raise not_implemented("hex-encoded query_vector")
    if not isinstance(vector, list) or any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in vector):
        raise x_content_error(f"[{where}] failed to parse field [query_vector]")
    k = as_int(spec["k"], "k", where) if "k" in spec else size
    if "num_candidates" in spec:
        num_candidates = as_int(spec["num_candidates"], "num_candidates", where)
    else:
        num_candidates = round(min(NUM_CANDIDATES_LIMIT, 1.5 * k))
    if k < 1:
        raise illegal_argument("[k] must be greater than 0")
    if num_candidates < k:
        raise illegal_argument("[num_candidates] cannot be less than [k]")
    if num_candidates > NUM_CANDIDATES_LIMIT:
        raise illegal_argument(f"[num_candidates] cannot exceed [{NUM_CANDIDATES_LIMIT}]")
    rescore = spec.get("rescore_vector")
    if rescore is not None and (not isinstance(rescore, dict) or set(rescore) != {"oversample"}):
        raise x_content_error(f"[{where}] failed to parse field [rescore_vector]")
    filters = _clauses(spec["filter"]) if spec.get("filter") is not None else []
    similarity = spec.get("similarity")
    return KnnSpec(
        field=str(spec["field"]),
        vector=[float(v) for v in vector],
        k=k,
        num_candidates=num_candidates,
        filters=filters,
        similarity=None if similarity is None else as_float(similarity, "similarity", where),
        boost=as_float(spec.get("boost", 1.0), "boost", where),
    )


def _vector_score(similarity: str, query: np.ndarray, vector: np.ndarray, element_type: str) -> tuple[float, float]:
    """(raw similarity, score) as Elasticsearch's dense_vector similarity functions define them."""
    dot = float(np.float32(np.dot(query, vector)))
    if similarity == "cosine":
        cos = float(np.float32(dot / (float(np.linalg.norm(query)) * float(np.linalg.norm(vector)))))
        return cos, (1.0 + cos) / 2.0
    if similarity == "dot_product":
        if element_type == "byte":
            return dot, 0.5 + dot / (len(query) * (1 << 15))
        return dot, (1.0 + dot) / 2.0
    if similarity == "l2_norm":
        dist = float(np.float32(np.linalg.norm(query - vector)))
        return dist, 1.0 / (1.0 + dist * dist)
    if dot < 0:
        return dot, 1.0 / (1.0 - dot)
    return dot, dot + 1.0


def knn_shard(shard: Shard, spec: KnnSpec, prefilters: list[Query]) -> list[tuple[int, float]]:
    """Top-k (position, score) on one index: filters first, then exact nearest neighbours."""
    info = shard.field(spec.field)
    if info is None:
        return []
    if info.type != "dense_vector":
        raise query_shard_error(shard, "[knn] queries are only supported on [dense_vector] fields")
    if not info.indexed:
        raise query_shard_error(
            shard, f"to perform knn search on field [{info.path}], its mapping must have [index] set to [true]"
        )
    dims = info.spec.get("dims")
    if dims is None:
        return []
    if len(spec.vector) != dims:
        raise query_shard_error(
            shard,
            f"The query vector has a different number of dimensions [{len(spec.vector)}] than the document vectors "
            f"[{dims}].",
        )
    query = np.asarray(spec.vector, dtype=np.float32)
    similarity = str(info.spec.get("similarity", "cosine"))
    if similarity == "cosine" and not float(np.dot(query, query)):
        preview = "[" + ", ".join(str(float(v)) for v in query[:10]) + "]"
        raise query_shard_error(
            shard,
            "The [cosine] similarity does not support vectors with zero magnitude. Preview of invalid vector: "
            + preview,
        )
    allowed: set[int] | None = None
    for flt in [*spec.filters, *prefilters]:
        keys = set(flt.run(shard))
        allowed = keys if allowed is None else allowed & keys
    element_type = str(info.spec.get("element_type", "float"))
    scored: list[tuple[float, int]] = []
    for pos, doc in enumerate(shard.docs):
        if allowed is not None and pos not in allowed:
            continue
        vector = doc.indexed.get(info.path)
        if vector is None:
            continue
        raw, score = _vector_score(similarity, query, vector, element_type)
        if spec.similarity is not None:
            if similarity == "l2_norm" and raw > spec.similarity:
                continue
            if similarity != "l2_norm" and raw < spec.similarity:
                continue
        scored.append((f32(score), pos))
    scored.sort(key=lambda t: (-t[0], t[1]))
    top = scored[: min(spec.num_candidates, len(scored))][: spec.k]
    return [(pos, score) for score, pos in top]


def knn_search(shards: list[Shard], spec: KnnSpec, prefilters: list[Query] | None = None) -> dict[DocKey, float]:
    merged: list[tuple[float, DocKey]] = []
    for shard in shards:
        merged += [(score, (shard.ordinal, pos)) for pos, score in knn_shard(shard, spec, prefilters or [])]
    merged.sort(key=lambda t: (-t[0], t[1]))
    return {key: f32(score * spec.boost) for score, key in merged[: spec.k]}


# --- sorting ----------------------------------------------------------------------------------------------------

LONG_MAX = 2**63 - 1
LONG_MIN = -(2**63)
SORT_OPTION_KEYS = {"order", "missing", "unmapped_type", "mode", "numeric_type", "format", "nested"}


@dataclass
class SortSpec:
    field: str
    order: str
    missing: Any = "_last"
    unmapped_type: str | None = None
    mode: str | None = None


def parse_sort(spec: Any) -> list[SortSpec]:
    items = spec if isinstance(spec, list) else [spec]
    out: list[SortSpec] = []
    for item in items:
        if isinstance(item, str):
            name, _, order = item.partition(":")
            out.append(SortSpec(name, order or ("desc" if name == "_score" else "asc")))
            continue
        if not isinstance(item, dict) or len(item) != 1:
            raise parsing_error(f"[sort] malformed sort entry: {item}")
        name, options = next(iter(item.items()))
        if name == "_script":
            raise not_implemented("script sort")
        if name == "_geo_distance":
            raise not_implemented("geo distance sort")
        default = "desc" if name == "_score" else "asc"
        if isinstance(options, str):
            order = options.lower()
            if order not in ("asc", "desc"):
                raise illegal_argument(f"Unknown SortOrder [{options}]")
            out.append(SortSpec(name, order))
            continue
        if not isinstance(options, dict):
            raise parsing_error(f"[sort] malformed sort options for [{name}]")
        for key in options:
            if key not in SORT_OPTION_KEYS:
                raise x_content_error(f"[field_sort] unknown field [{key}]")
        if "nested" in options:
            raise not_implemented("nested sort")
        order = str(options.get("order", default)).lower()
        if order not in ("asc", "desc"):
            raise illegal_argument(f"Unknown SortOrder [{options.get('order')}]")
        mode = options.get("mode")
        if mode is not None and mode not in ("min", "max", "sum", "avg", "median"):
            raise illegal_argument(f"Unknown SortMode [{mode}]")
        out.append(SortSpec(name, order, options.get("missing", "_last"), options.get("unmapped_type"), mode))
    return out


@dataclass
class _SortField:
    spec: SortSpec
    kind: str  # "score", "doc", or a field type


def resolve_sorts(shards: list[Shard], sorts: list[SortSpec]) -> list[_SortField]:
    resolved = []
    for sort in sorts:
        if sort.field == "_score":
            resolved.append(_SortField(sort, "score"))
            continue
        if sort.field in ("_doc", "_shard_doc"):
            resolved.append(_SortField(sort, "doc"))
            continue
        kind = None
        for shard in shards:
            if sort.field == "_id":
                raise ShardError(
                    illegal_argument(
                        "Fielddata access on the _id field is disallowed, you can re-enable it by updating the dynamic "
                        "cluster setting: indices.id_field_data.enabled"
                    )
                )
            info = shard.field(sort.field)
            if info is None:
                if sort.unmapped_type is None:
                    raise ShardError(
                        EsError(
                            400,
                            "query_shard_exception",
                            f"No mapping found for [{sort.field}] in order to sort on",
                            extra={"index_uuid": shard.index.uuid, "index": shard.index.name},
                        )
                    )
                continue
            if info.type == "text":
                raise ShardError(
                    illegal_argument(
                        f"Fielddata is disabled on [{info.path}] in [{shard.index.name}]. Text fields are not "
                        "optimised for operations that require per-document field data like aggregations and "
                        "sorting, so these operations are disabled by default. Please use a keyword field instead. "
                        f"Alternatively, set fielddata=true on [{info.path}] in order to load field data by "
                        "uninverting the inverted index. Note that this can use significant memory."
                    )
                )
            if info.type == "dense_vector":
                raise ShardError(illegal_argument(f"Field [{info.path}] of type [dense_vector] doesn't support sort"))
            if not info.has_doc_values:
                raise ShardError(
                    illegal_argument(
                        f"Can't load fielddata on [{info.path}] because fielddata is unsupported on fields of type "
                        f"[{info.type}]. Use doc values instead."
                    )
                )
            kind = info.type
        resolved.append(_SortField(sort, kind or str(sort.unmapped_type or "keyword")))
    return resolved


def _sort_value(sf: _SortField, doc: StoredDoc, score: float, pos: int) -> Any:
    if sf.kind == "score":
        return score
    if sf.kind == "doc":
        return pos
    values = doc.indexed.get(sf.spec.field) or []
    if not values:
        return None
    values = [int(v) if isinstance(v, bool) else v for v in values]
    mode = sf.spec.mode or ("max" if sf.spec.order == "desc" else "min")
    if mode == "min":
        return min(values)
    if mode == "max":
        return max(values)
    if mode == "sum":
        return sum(values)
    if mode == "avg":
        return sum(values) / len(values)
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def render_sort_value(sf: _SortField, value: Any) -> Any:
    if value is None:
        if sf.kind in ("keyword", "score", "doc"):
            return None
        if sf.kind in ("long", "integer", "short", "byte", "date", "boolean"):
            return LONG_MAX if sf.spec.order == "asc" else LONG_MIN
        return "Infinity" if sf.spec.order == "asc" else "-Infinity"
    if sf.kind in ("long", "integer", "short", "byte", "date", "boolean"):
        return int(value)
    if sf.kind in ("float", "half_float"):
        return f32(value)
    return value


def _coerce_after(sf: _SortField, value: Any, shards: list[Shard]) -> Any:
    if value is None or sf.kind in ("keyword", "doc"):
        return value
    if sf.kind == "date" and isinstance(value, str):
        infos = [info for s in shards if (info := s.field(sf.spec.field)) is not None]
        fmt = infos[0].date_format if infos else None
        try:
            return parse_date(value, fmt or "strict_date_optional_time||epoch_millis")
        except ValueError:
            raise ShardError(java_iae(f"failed to parse date field [{value}]")) from None
    try:
        return float(value)
    except (TypeError, ValueError):
        raise ShardError(java_iae(f'For input string: "{value}"')) from None


def compare_rows(sorts: list[_SortField], a: list[Any], b: list[Any]) -> int:
    for sf, x, y in zip(sorts, a, b, strict=True):
        if x == y:
            continue
        if x is None or y is None:
            missing_first = sf.spec.missing == "_first"
            if x is None:
                return -1 if missing_first else 1
            return 1 if missing_first else -1
        less = x < y
        if sf.spec.order == "desc":
            return 1 if less else -1
        return -1 if less else 1
    return 0


# --- _source filtering ------------------------------------------------------------------------------------------


def _matches(pattern: str, path: str) -> bool:
    return pattern == path if "*" not in pattern else bool(glob_regex(pattern).fullmatch(path))


def _may_match_below(pattern: str, path: str) -> bool:
    prefix = pattern.split("*", 1)[0]
    return prefix.startswith(path + ".") or ("*" in pattern and (path + ".").startswith(prefix))


def filter_source(obj: dict[str, Any], includes: list[str], excludes: list[str], prefix: str = "") -> dict[str, Any]:
    """Elasticsearch `_source` include/exclude filtering (dotted paths, `*` wildcards)."""
    out: dict[str, Any] = {}
    for key, value in obj.items():
        path = prefix + key
        if any(_matches(p, path) for p in excludes):
            continue
        full = not includes or any(_matches(p, path) for p in includes)
        below = not full and any(_may_match_below(p, path) for p in includes)
        if isinstance(value, dict):
            if full:
                out[key] = filter_source(value, [], excludes, path + ".")
            elif below:
                sub = filter_source(value, includes, excludes, path + ".")
                if sub:
                    out[key] = sub
        elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
            if not (full or below):
                continue
            items = []
            for item in value:
                if isinstance(item, dict):
                    sub = filter_source(item, [] if full else includes, excludes, path + ".")
                    if sub or full:
                        items.append(sub)
                elif full:
                    items.append(item)
            if items:
                out[key] = items
        elif full:
            out[key] = value
    return out


@dataclass
class SourceSpec:
    enabled: bool = True
    includes: list[str] = field(default_factory=list)
    excludes: list[str] = field(default_factory=list)
    exclude_vectors: bool = True


def parse_source_body(value: Any) -> SourceSpec:
    if isinstance(value, bool):
        return SourceSpec(enabled=value)
    if isinstance(value, str):
        return SourceSpec(includes=[value])
    if isinstance(value, list):
        if not all(isinstance(v, str) for v in value):
            raise parsing_error("Unknown key for a VALUE_NUMBER in [_source].")
        return SourceSpec(includes=list(value))
    if isinstance(value, dict):
        spec = SourceSpec()
        for key, item in value.items():
            if key in ("includes", "include"):
                spec.includes = [item] if isinstance(item, str) else list(item)
            elif key in ("excludes", "exclude"):
                spec.excludes = [item] if isinstance(item, str) else list(item)
            elif key == "exclude_vectors":
                spec.exclude_vectors = as_bool(item, key, "_source")
            else:
                raise parsing_error(f"Unknown key for a {token_name(item)} in [{key}].")
        return spec
    raise parsing_error(f"Expected one of [VALUE_BOOLEAN, START_OBJECT] but found [{token_name(value)}]")


def parse_source_params(params: dict[str, str], default: SourceSpec | None = None) -> SourceSpec:
    spec = default or SourceSpec()
    raw = params.get("_source")
    if raw is not None:
        if raw in ("true", "false", ""):
            spec = SourceSpec(enabled=raw != "false", exclude_vectors=spec.exclude_vectors)
        else:
            spec = SourceSpec(includes=[p for p in raw.split(",") if p], exclude_vectors=spec.exclude_vectors)
    if "_source_includes" in params:
        spec.includes = [p for p in params["_source_includes"].split(",") if p]
        spec.enabled = True
    if "_source_excludes" in params:
        spec.excludes = [p for p in params["_source_excludes"].split(",") if p]
        spec.enabled = True
    if "_source_exclude_vectors" in params:
        spec.exclude_vectors = params["_source_exclude_vectors"] != "false"
    return spec


def render_source(index: IndexState, doc: StoredDoc, spec: SourceSpec) -> dict[str, Any] | None:
    """The `_source` a response shows: filtered, and without dense_vector values (index.mapping.exclude_source_vectors,
    the 9.2+ default) unless `_source_exclude_vectors=false` was asked for."""
    if not spec.enabled:
        return None
    excludes = list(spec.excludes)
    if spec.exclude_vectors:
        excludes += [p for p, info in index.fields.items() if info.type == "dense_vector"]
    if not spec.includes and not excludes:
        return doc.source
    return filter_source(doc.source, spec.includes, excludes)


def fetch_fields(index: IndexState, doc: StoredDoc, patterns: list[str]) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for pattern in patterns:
        regex = glob_regex(pattern)
        for path, info in index.fields.items():
            if not regex.fullmatch(path) or info.type == "dense_vector":
                continue
            values = doc.indexed.get(path)
            if values is None:
                continue
            if isinstance(values, TextValue):
                raw = _source_values(doc.source, info.source_path)
                rendered = [str(v) for v in raw]
            elif info.type == "date":
                rendered = [format_date(v) for v in values]
            else:
                rendered = list(values)
            if rendered:
                out[path] = rendered
    return out


def _source_values(source: Any, path: str) -> list[Any]:
    head, _, rest = path.partition(".")
    if isinstance(source, list):
        return [v for item in source for v in _source_values(item, path)]
    if not isinstance(source, dict):
        return []
    values: list[Any] = []
    for key, value in source.items():
        if key == path:
            values += value if isinstance(value, list) else [value]
        elif key == head and rest:
            values += _source_values(value, rest)
        elif path.startswith(key + "."):
            values += _source_values(value, path[len(key) + 1 :])
    return [v for v in values if v is not None]


# --- retrievers -------------------------------------------------------------------------------------------------

RANK_WINDOW_DEFAULT = 10
RRF_FEATURE = "Reciprocal Rank Fusion (RRF)"
UNEMULATED_RETRIEVERS = {"text_similarity_reranker", "rule", "pinned", "rescorer", "diversify"}
LICENSED_RETRIEVERS = {"rrf": RRF_FEATURE, "linear": "linear retriever"}


@dataclass
class Retriever:
    kind: str
    query: Query | None = None
    filters: list[Query] = field(default_factory=list)
    knn: KnnSpec | None = None
    children: list[tuple[Retriever, float]] = field(default_factory=list)
    rank_window_size: int = RANK_WINDOW_DEFAULT
    rank_constant: int = 60
    sort: list[SortSpec] | None = None
    min_score: float | None = None
    terminate_after: int | None = None
    search_after: list[Any] | None = None


def license_error(feature: str) -> EsError:
    return EsError(
        403,
        "security_exception",
        f"current license is non-compliant for [{feature}]",
        extra={"license.expired.feature": feature},
    )


@dataclass
class RetrieverContext:
    licence: str
    version: tuple[int, int]
    size: int


def parse_retriever(spec: Any, ctx: RetrieverContext, *, nested: bool = False) -> Retriever:
    if not isinstance(spec, dict):
        raise parsing_error("retriever malformed, must start with [START_OBJECT]")
    if not spec:
        raise parsing_error("retriever malformed, empty clause found")
    if len(spec) > 1:
        first = next(iter(spec))
        raise parsing_error(f"[{first}] malformed retriever, expected [END_OBJECT] but found [FIELD_NAME]")
    name, body = next(iter(spec.items()))
    if not isinstance(body, dict):
        raise parsing_error(f"[{name}] retriever malformed, no [START_OBJECT] after retriever name")
    if name in LICENSED_RETRIEVERS and ctx.licence not in ("enterprise", "trial"):
        raise license_error(LICENSED_RETRIEVERS[name])
    if name == "standard":
        return _parse_standard_retriever(body)
    if name == "knn":
        r = Retriever("knn")
        knn_body = {k: v for k, v in body.items() if k not in ("min_score",)}
        for key in body:
            if key not in KNN_KEYS - {"boost", "inner_hits"} | {"min_score"}:
                raise x_content_error(f"[knn] unknown field [{key}]")
        r.knn = parse_knn(knn_body, ctx.size, require_k=True)
        r.filters = []
        if "min_score" in body:
            r.min_score = as_float(body["min_score"], "min_score", "knn")
        return r
    if name == "rrf":
        return _parse_rrf(body, ctx)
    if name == "linear" or name in UNEMULATED_RETRIEVERS:
        raise not_implemented(f"[{name}] retriever")
    raise EsError(
        400,
        "parsing_exception",
        f"unknown retriever [{name}]",
        extra={"line": 1, "col": 1},
        caused_by=EsError(400, "named_object_not_found_exception", f"[1:1] unknown field [{name}]", is_es=False),
    )


def _parse_standard_retriever(body: dict[str, Any]) -> Retriever:
    r = Retriever("standard")
    for key, value in body.items():
        if key == "query":
            r.query = parse_query(value)
        elif key == "filter":
            r.filters = _clauses(value)
        elif key == "sort":
            r.sort = parse_sort(value)
        elif key == "min_score":
            r.min_score = as_float(value, key, "standard")
        elif key == "terminate_after":
            r.terminate_after = as_int(value, key, "standard")
        elif key == "search_after":
            if not isinstance(value, list):
                raise x_content_error("[standard] failed to parse field [search_after]")
            r.search_after = value
        elif key == "collapse":
            raise not_implemented("collapse")
        elif key != "_name":
            raise x_content_error(f"[standard] unknown field [{key}]")
    return r


def _parse_rrf(body: dict[str, Any], ctx: RetrieverContext) -> Retriever:
    r = Retriever("rrf")
    for key, value in body.items():
        if key == "retrievers":
            if not isinstance(value, list):
                raise x_content_error("[rrf] failed to parse field [retrievers]")
            for entry in value:
                weight = 1.0
                if isinstance(entry, dict) and "retriever" in entry and ctx.version >= (9, 2):
                    extra = set(entry) - {"retriever", "weight"}
                    if extra:
                        raise x_content_error(f"[rrf] unknown field [{sorted(extra)[0]}]")
                    weight = as_float(entry.get("weight", 1.0), "weight", "rrf")
                    if weight < 0:
                        raise illegal_argument("[weight] must be non-negative")
                    entry = entry["retriever"]
                r.children.append((parse_retriever(entry, ctx, nested=True), weight))
        elif key == "rank_window_size":
            r.rank_window_size = as_int(value, key, "rrf")
        elif key == "rank_constant":
            r.rank_constant = as_int(value, key, "rrf")
        elif key == "filter":
            r.filters = _clauses(value)
        elif key == "min_score":
            r.min_score = as_float(value, key, "rrf")
        elif key in ("query", "fields"):
            raise not_implemented("the rrf multi-field query format")
        elif key != "_name":
            raise x_content_error(f"[rrf] unknown field [{key}]")
    if not r.children:
        raise illegal_argument("[rrf] must provide [retrievers] or [query]")
    if r.rank_constant < 1:
        raise illegal_argument("[rank_constant] must be greater than or equal to [1] for [rrf]")
    if r.rank_window_size < 1:
        raise illegal_argument("[rank_window_size] must be greater than or equal to [1] for [rrf]")
    return r


@dataclass
class Ranked:
    """An ordered result list: (key, score, sort values) rows."""

    rows: list[tuple[DocKey, float | None, list[Any] | None]]
    total: int


# --- search execution -------------------------------------------------------------------------------------------


@dataclass
class SearchRequest:
    query: Query | None = None
    knn: list[KnnSpec] = field(default_factory=list)
    retriever: Retriever | None = None
    post_filter: Query | None = None
    size: int = 10
    from_: int = 0
    sort: list[SortSpec] | None = None
    search_after: list[Any] | None = None
    min_score: float | None = None
    track_total_hits: bool | int = 10_000
    track_scores: bool = False
    source: SourceSpec = field(default_factory=SourceSpec)
    fields: list[str] = field(default_factory=list)
    version: bool = False
    seq_no_primary_term: bool = False
    terminate_after: int | None = None


class Searcher:
    """Runs a parsed `SearchRequest` over shards and renders the Elasticsearch response body."""

    def __init__(self, shards: list[Shard]) -> None:
        self.shards = shards

    def _docs(self, key: DocKey) -> tuple[Shard, StoredDoc]:
        shard = self.shards[key[0]]
        return shard, shard.docs[key[1]]

    def run_query(
        self, query: Query | None, filters: list[Query], terminate_after: int | None = None
    ) -> tuple[dict[DocKey, float], bool]:
        out: dict[DocKey, float] = {}
        terminated = False
        for shard in self.shards:
            scores = (query or MatchAll()).run(shard)
            for flt in filters:
                keep = flt.run(shard).keys()
                scores = {p: s for p, s in scores.items() if p in keep}
            if terminate_after is not None and len(scores) > terminate_after:
                scores = dict(sorted(scores.items())[:terminate_after])
                terminated = True
            out.update({(shard.ordinal, pos): s for pos, s in scores.items()})
        return out, terminated

    def order(
        self,
        scores: dict[DocKey, float],
        sorts: list[SortSpec] | None,
        search_after: list[Any] | None,
    ) -> list[tuple[DocKey, float, list[Any] | None]]:
        if not sorts:
            if search_after is not None:
                raise ShardError(java_iae("Sort must contain at least one field."))
            ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
            return [(key, score, None) for key, score in ranked]
        resolved = resolve_sorts(self.shards, sorts)
        rows = []
        for key, score in scores.items():
            shard, doc = self._docs(key)
            rows.append((key, score, [_sort_value(sf, doc, score, key[1]) for sf in resolved]))

        def cmp(a: tuple[DocKey, float, list[Any]], b: tuple[DocKey, float, list[Any]]) -> int:
            c = compare_rows(resolved, a[2], b[2])
            return c if c else (-1 if a[0] < b[0] else 1)

        rows.sort(key=functools.cmp_to_key(cmp))
        if search_after is not None:
            if len(search_after) != len(resolved):
                raise ShardError(
                    java_iae(f"search_after has {len(search_after)} value(s) but sort has {len(resolved)}.")
                )
            after = [_coerce_after(sf, v, self.shards) for sf, v in zip(resolved, search_after, strict=True)]
            rows = [row for row in rows if compare_rows(resolved, row[2], after) > 0]
        return [
            (key, score, [render_sort_value(sf, v) for sf, v in zip(resolved, vals, strict=True)])
            for key, score, vals in rows
        ]

    def run_retriever(self, r: Retriever, window: int, prefilters: list[Query]) -> list[tuple[DocKey, float]]:
        """Top `window` documents of a retriever, best first."""
        filters = [*prefilters, *r.filters]
        if r.kind == "standard":
            scores, _ = self.run_query(r.query, filters, r.terminate_after)
            if r.min_score is not None:
                scores = {k: s for k, s in scores.items() if s >= r.min_score}
            rows = self.order(scores, r.sort, r.search_after)
            return [(key, score) for key, score, _ in rows[:window]]
        if r.kind == "knn":
            assert r.knn is not None
            hits = knn_search(self.shards, r.knn, filters)
            ranked = sorted(hits.items(), key=lambda kv: (-kv[1], kv[0]))
            if r.min_score is not None:
                ranked = [(k, s) for k, s in ranked if s >= r.min_score]
            return ranked[:window]
        fused: dict[DocKey, float] = {}
        for child, weight in r.children:
            results = self.run_retriever(child, r.rank_window_size, filters)
            for rank, (key, _score) in enumerate(results, start=1):
                fused[key] = fused.get(key, 0.0) + weight * (1.0 / (r.rank_constant + rank))
        ranked = sorted(((k, f32(s)) for k, s in fused.items()), key=lambda kv: (-kv[1], kv[0]))
        if r.min_score is not None:
            ranked = [(k, s) for k, s in ranked if s >= r.min_score]
        return ranked[: min(window, r.rank_window_size)]

    def search(self, req: SearchRequest) -> dict[str, Any]:
        terminated = False
        sorts = req.sort
        scores: dict[DocKey, float] = {}
        if req.retriever is not None and req.retriever.kind == "standard":
            r = req.retriever
            scores, terminated = self.run_query(r.query, r.filters, r.terminate_after)
            if r.min_score is not None:
                scores = {k: s for k, s in scores.items() if s >= r.min_score}
            rows = self.order(scores, r.sort, r.search_after)
            sorts = r.sort
        elif req.retriever is not None:
            window = req.retriever.rank_window_size if req.retriever.kind == "rrf" else len(self.shards) * 10_000
            rows = [(k, s, None) for k, s in self.run_retriever(req.retriever, window, [])]
        else:
            if req.query is not None or not req.knn:
                scores, terminated = self.run_query(req.query, [], req.terminate_after)
            for knn in req.knn:
                for key, score in knn_search(self.shards, knn).items():
                    scores[key] = f32(scores.get(key, 0.0) + score)
            if req.min_score is not None:
                scores = {k: s for k, s in scores.items() if s >= req.min_score}
            rows = self.order(scores, req.sort, req.search_after)
        if req.post_filter is not None:
            rows = self._post_filter(rows, req.post_filter)
        # Scores are only computed when the sort needs them (or track_scores asks for them), as in Elasticsearch.
        show_scores = not sorts or any(s.field == "_score" for s in sorts) or req.track_scores
        total = len(rows)
        page = rows[req.from_ : req.from_ + req.size]
        hits = []
        for key, score, sort_values in page:
            shard, doc = self._docs(key)
            hit: dict[str, Any] = {"_index": shard.index.name, "_id": doc.id}
            if req.version:
                hit["_version"] = doc.version
            if req.seq_no_primary_term:
                hit["_seq_no"] = doc.seq_no
                hit["_primary_term"] = 1
            hit["_score"] = score if show_scores else None
            source = render_source(shard.index, doc, req.source)
            if source is not None:
                hit["_source"] = source
            if req.fields:
                fetched = fetch_fields(shard.index, doc, req.fields)
                if fetched:
                    hit["fields"] = fetched
            if sort_values is not None:
                hit["sort"] = sort_values
            hits.append(hit)
        hits_obj: dict[str, Any] = {}
        if req.track_total_hits is not False:
            limit = req.track_total_hits
            if limit is True or limit == -1 or total <= int(limit):
                hits_obj["total"] = {"value": total, "relation": "eq"}
            else:
                hits_obj["total"] = {"value": int(limit), "relation": "gte"}
        scored = [s for _, s, _ in rows if s is not None]
        hits_obj["max_score"] = max(scored) if scored and show_scores else None
        hits_obj["hits"] = hits
        shards_total = sum(s.index.number_of_shards for s in self.shards)
        response: dict[str, Any] = {"took": 0, "timed_out": False}
        if terminated:
            response["terminated_early"] = True
        response["_shards"] = {"total": shards_total, "successful": shards_total, "skipped": 0, "failed": 0}
        response["hits"] = hits_obj
        return response

    def _post_filter(
        self, rows: list[tuple[DocKey, float, list[Any] | None]], post_filter: Query
    ) -> list[tuple[DocKey, float, list[Any] | None]]:
        keep: set[DocKey] = set()
        for shard in self.shards:
            keep |= {(shard.ordinal, pos) for pos in post_filter.run(shard)}
        return [row for row in rows if row[0] in keep]


# --- request body parsing ---------------------------------------------------------------------------------------

SEARCH_BODY_KEYS = words(
    "from size timeout terminate_after query post_filter knn retriever min_score version "
    "seq_no_primary_term explain _source stored_fields docvalue_fields fields script_fields sort "
    "track_scores track_total_hits indices_boost aggregations aggs highlight suggest rescore stats ext "
    "profile search_after collapse slice pit runtime_mappings rank project_routing"
)
UNEMULATED_SEARCH_KEYS = words(
    "aggregations aggs highlight suggest rescore collapse slice pit runtime_mappings indices_boost "
    "script_fields docvalue_fields stored_fields rank project_routing"
)
_OBJECT_KEYS = words(
    "query post_filter retriever ext aggregations aggs highlight suggest collapse slice pit runtime_mappings rank"
)
_ARRAY_OK_KEYS = words("knn sort search_after fields stats _source rescore docvalue_fields stored_fields indices_boost")
RETRIEVER_CONFLICTS = (
    "query",
    "knn",
    "sort",
    "search_after",
    "min_score",
    "terminate_after",
    "rescore",
    "collapse",
    "post_filter",
)


def parse_search_body(
    body: dict[str, Any], params: dict[str, str], licence: str, version: tuple[int, int]
) -> SearchRequest:
    """Validate a `_search` body (and the query-string equivalents) exactly as SearchSourceBuilder.parseXContent."""
    req = SearchRequest()
    for key, value in body.items():
        if key not in SEARCH_BODY_KEYS:
            raise parsing_error(f"Unknown key for a {token_name(value)} in [{key}].")
        if isinstance(value, dict) and key not in _OBJECT_KEYS | {"knn", "_source", "sort"}:
            raise parsing_error(f"Unknown key for a START_OBJECT in [{key}].")
        if isinstance(value, list) and key not in _ARRAY_OK_KEYS:
            raise parsing_error(f"Unknown key for a START_ARRAY in [{key}].")
        if key in _OBJECT_KEYS and not isinstance(value, dict):
            raise parsing_error(f"Unknown key for a {token_name(value)} in [{key}].")
    for key in UNEMULATED_SEARCH_KEYS & body.keys():
        raise not_implemented(f"search body key [{key}]")
    for key in ("explain", "profile"):
        if key in body and as_bool(body[key], key, "search"):
            raise not_implemented(f"[{key}: true]")
    merged: dict[str, Any] = dict(body)
    for key in (
        "size",
        "from",
        "track_total_hits",
        "terminate_after",
        "timeout",
        "version",
        "seq_no_primary_term",
        "track_scores",
        "explain",
    ):
        if key in params:
            merged[key] = params[key]
    if "sort" in params:
        merged["sort"] = [s for s in params["sort"].split(",") if s]
    if "q" in params:
        raise not_implemented("the q (query_string) parameter")
    if "size" in merged:
        req.size = as_int(merged["size"], "size", "search")
        if req.size < 0:
            raise illegal_argument(f"[size] parameter cannot be negative, found [{req.size}]")
    if "from" in merged:
        req.from_ = as_int(merged["from"], "from", "search")
        if req.from_ < 0:
            raise illegal_argument(f"[from] parameter cannot be negative, found [{req.from_}]")
    if "timeout" in merged:
        check_time_value(merged["timeout"], "timeout")
    if "terminate_after" in merged:
        req.terminate_after = as_int(merged["terminate_after"], "terminate_after", "search")
        if req.terminate_after < 0:
            raise illegal_argument("terminateAfter must be > 0")
        if req.terminate_after == 0:
            req.terminate_after = None
    if "track_total_hits" in merged:
        value = merged["track_total_hits"]
        if isinstance(value, bool) or value in ("true", "false"):
            req.track_total_hits = value is True or value == "true"
        else:
            req.track_total_hits = as_int(value, "track_total_hits", "search")
            if req.track_total_hits < -1:
                raise illegal_argument(
                    f"[track_total_hits] parameter must be positive or equals to -1, got {req.track_total_hits}"
                )
    for key in ("version", "seq_no_primary_term", "track_scores"):
        if key in merged:
            setattr(req, key, as_bool(merged[key], key, "search"))
    if "min_score" in merged:
        req.min_score = as_float(merged["min_score"], "min_score", "search")
    if "query" in merged:
        req.query = parse_query(merged["query"])
    if "post_filter" in merged:
        req.post_filter = parse_query(merged["post_filter"])
    if "knn" in merged:
        items = merged["knn"] if isinstance(merged["knn"], list) else [merged["knn"]]
        req.knn = [parse_knn(item, req.size) for item in items]
    if "sort" in merged:
        req.sort = parse_sort(merged["sort"])
    if "search_after" in merged:
        if not isinstance(merged["search_after"], list):
            raise parsing_error(f"Unknown key for a {token_name(merged['search_after'])} in [search_after].")
        req.search_after = merged["search_after"]
    if "_source" in merged:
        req.source = parse_source_body(merged["_source"])
    req.source = parse_source_params(params, req.source)
    if "fields" in merged:
        raw = merged["fields"]
        if not isinstance(raw, list):
            raise parsing_error(f"Unknown key for a {token_name(raw)} in [fields].")
        for entry in raw:
            if isinstance(entry, str):
                req.fields.append(entry)
            elif isinstance(entry, dict) and "field" in entry and set(entry) <= {"field", "format", "include_unmapped"}:
                req.fields.append(str(entry["field"]))
            else:
                raise parsing_error('[fields] entries must be strings or {"field": ...} objects')
    if "stats" in merged and not isinstance(merged["stats"], list):
        raise parsing_error(f"Unknown key for a {token_name(merged['stats'])} in [stats].")
    if "retriever" in merged:
        conflicts = [k for k in RETRIEVER_CONFLICTS if k in merged]
        if conflicts:
            raise illegal_argument(f"cannot specify [retriever] and [{conflicts[0]}]")
        req.retriever = parse_retriever(merged["retriever"], RetrieverContext(licence, version, req.size))
        if req.retriever.kind == "rrf" and req.size > req.retriever.rank_window_size:
            raise validation_error(
                f"[rrf] requires [rank_window_size: {req.retriever.rank_window_size}] be greater than or equal to "
                f"[size: {req.size}]"
            )
    if req.search_after is not None and req.from_ > 0:
        raise validation_error("`from` parameter must be set to 0 when `search_after` is used.")
    return req
