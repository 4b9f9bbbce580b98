"""The search side of the fake Elasticsearch: the english analyzer, BM25, the queries in scope, exact kNN, rrf.

Everything runs on a `Snapshot`, the documents of one index as its last refresh left them. A request is parsed and
checked in full before any snapshot is read; what the frozen scope (see tests/fakes/elasticsearch.py) leaves out
is refused with `OutOfScope` (HTTP 501).

Fidelity where rankings depend on it:
- The english analyzer is Lucene's `EnglishAnalyzer` on Latin-script text: the standard tokenizer (letters, digits
  and `_` make words; `'`, `.`, `:` join letters and `.`, `,`, `;` join digits), the possessive `'s` removed,
  lowercase, Lucene's English stop words, then Lucene's Porter stemmer, which departs from the 1980 paper in three
  rules: `bli`→`ble` (not `abli`→`able`), `logi`→`log`, and any doubled consonant but l, s, z undoubled.
- BM25 is Lucene's: k1=1.2, b=0.75, float32 arithmetic, field lengths as `SmallFloat.intToByte4` stores them,
  statistics per index.
- kNN is exact: the filter first, then the nearest neighbours by cosine, scored `(1 + cos) / 2`.
"""

from __future__ import annotations

import functools
import math
import operator
import re
from collections import Counter
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

# --- errors -----------------------------------------------------------------------------------------------------


class EsError(Exception):
    """An Elasticsearch error answer: status, error type and reason, extra fields, and the error it wraps."""

    def __init__(self, status: int, type_: str, reason: str, *, caused_by: EsError | None = None, **extra: Any) -> None:
        super().__init__(reason)
        self.status, self.type, self.reason, self.caused_by, self.extra = status, type_, reason, caused_by, extra

    def detail(self) -> dict[str, Any]:
        """The error object, as a bulk item or a response's `error` carries it."""
        out = {"type": self.type, "reason": self.reason, **self.extra}
        if self.caused_by is not None:
            out["caused_by"] = self.caused_by.detail()
        return out

    def body(self) -> dict[str, Any]:
        root = self
        while root.caused_by is not None:
            root = root.caused_by
        root_cause = [{"type": root.type, "reason": root.reason}]
        return {"error": {"root_cause": root_cause, **self.detail()}, "status": self.status}


class OutOfScope(EsError):
    """Something the frozen scope leaves out, valid Elasticsearch or not (in `_bulk`, the whole request fails)."""

    def __init__(self, what: str) -> None:
        reason = f"{what} is outside the fake's frozen scope (tests/fakes/elasticsearch.py)"
        super().__init__(501, "fake_not_implemented_exception", reason)


def illegal_argument(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason)


def only(where: str, body: Any, allowed: Collection[str], *, required: Collection[str] = ()) -> dict[str, Any]:
    """`body` as an object whose keys are all in scope, the required ones present."""
    if not isinstance(body, dict):
        raise OutOfScope(f"{where} given as {type(body).__name__}")
    for key in body:
        if key not in allowed:
            raise OutOfScope(f"[{key}] in {where}")
    for key in required:
        if key not in body:
            raise OutOfScope(f"{where} without [{key}]")
    return body


def one(where: str, body: Any, allowed: Collection[str] | None = None) -> tuple[str, Any]:
    """The one (name, value) pair of an object such as `{"term": {...}}`; `allowed` limits the name."""
    if not isinstance(body, dict) or len(body) != 1:
        raise OutOfScope(f"{where} other than an object with one key")
    ((name, value),) = body.items()
    if allowed is not None and name not in allowed:
        raise OutOfScope(f"{where} [{name}]")
    return name, value


# --- analysis ---------------------------------------------------------------------------------------------------

STOP_WORDS = frozenset(
    "a an and are as at be but by for if in into is it no not of on or such that the their then there these they "
    "this to was will with".split()
)
_WORD = re.compile(r"\w+(?:(?:(?<=[^\W\d_])['\u2019.:\u00b7](?=[^\W\d_])|(?<=\d)[.,;'\u2019](?=\d))\w+)*")
# Porter's suffix rules (suffix:replacement) in Lucene's order. Lucene groups them by their last-but-one letter and
# stops at the first suffix that matches; a suffix fixes that letter, so the first match in these lists is the same.
_STEP2 = [
    rule.split(":")
    for rule in (
        "ational:ate tional:tion enci:ence anci:ance izer:ize bli:ble alli:al entli:ent eli:e ousli:ous ization:ize "
        "ation:ate ator:ate alism:al iveness:ive fulness:ful ousness:ous aliti:al iviti:ive biliti:ble logi:log"
    ).split()
]
_STEP3 = [rule.split(":") for rule in "icate:ic ative: alize:al iciti:ic ical:ic ful: ness:".split()]
_STEP4 = "al ance ence er ic able ible ant ement ment ent ion ou ism ate iti ous ive ize".split()


def english(text: str) -> list[str]:
    """The terms Lucene's EnglishAnalyzer makes of `text`, in order."""
    terms = []
    for token in _WORD.findall(text):
        if token[-2:-1] in ("'", "\u2019") and token[-1] in "sS":
            token = token[:-2]
        token = token.lower()
        if token and token not in STOP_WORDS:
            terms.append(porter(token))
    return terms


def _shape(word: str) -> str:
    """'c' or 'v' per letter: Porter's consonants and vowels (y is a vowel after a consonant)."""
    shape = ""
    for ch in word:
        shape += "v" if ch in "aeiou" or (ch == "y" and shape[-1:] == "c") else "c"
    return shape


def _measure(stem: str) -> int:
    return _shape(stem).count("vc")


def _cvc(stem: str) -> bool:
    return _shape(stem).endswith("cvc") and stem[-1] not in "wxy"


def _step1b(stem: str) -> str:
    if stem.endswith(("at", "bl", "iz")):
        return stem + "e"
    if len(stem) > 1 and stem[-1] == stem[-2] and _shape(stem)[-1] == "c":
        return stem if stem[-1] in "lsz" else stem[:-1]
    return stem + "e" if _measure(stem) == 1 and _cvc(stem) else stem


@functools.lru_cache(maxsize=1 << 16)
def porter(word: str) -> str:
    """Lucene's `PorterStemmer` (Martin Porter's reference C version), step by step."""
    if len(word) < 3:
        return word
    w = word
    if w.endswith(("sses", "ies")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith("ss"):
        w = w[:-1]
    if w.endswith("eed"):
        w = w[:-1] if _measure(w[:-3]) > 0 else w
    else:
        for suffix in ("ed", "ing"):
            if w.endswith(suffix):
                if "v" in _shape(stem := w[: -len(suffix)]):
                    w = _step1b(stem)
                break
    if w.endswith("y") and "v" in _shape(w[:-1]):
        w = w[:-1] + "i"
    for rules in (_STEP2, _STEP3):
        for suffix, replacement in rules:
            if w.endswith(suffix):
                if _measure(stem := w[: -len(suffix)]) > 0:
                    w = stem + replacement
                break
    for suffix in _STEP4:
        if w.endswith(suffix):
            if _measure(stem := w[: -len(suffix)]) > 1 and (suffix != "ion" or stem[-1:] in ("s", "t")):
                w = stem
            break
    if w.endswith("e") and ((m := _measure(w)) > 1 or (m == 1 and not _cvc(w[:-1]))):
        w = w[:-1]
    if w.endswith("ll") and _measure(w) > 1:
        w = w[:-1]
    return w


# --- documents and BM25 -----------------------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_ONE, _K1, _B = np.float32(1.0), np.float32(1.2), np.float32(0.75)
_FREE_NORMS = 24  # lengths Lucene's SmallFloat.intToByte4 stores exactly


def date_ms(value: Any) -> int:
    """Epoch milliseconds of an ISO 8601 date, as the `date` type stores it (no zone given: UTC)."""
    try:
        moment = datetime.fromisoformat(value)
    except (TypeError, ValueError):
        raise OutOfScope(f"date [{value}] (ISO 8601 strings only)") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)


def f32(value: float) -> float:
    """Rounded to float32 and printed as Java prints a float, as Elasticsearch's scores are."""
    return float(str(np.float32(value)))


def _stored_length(length: int) -> int:
    """A field length as Lucene's norms keep it: exact below 24, then the top four bits."""
    excess = length - _FREE_NORMS
    if excess < 8:
        return length
    shift = excess.bit_length() - 4
    return _FREE_NORMS + (excess >> shift << shift)


@dataclass
class Text:
    """An analysed text field of one document: term frequencies and its length in terms."""

    terms: Counter[str]
    length: int


@dataclass
class Doc:
    """One stored document; `fields` holds what is indexed: Text, keywords, dates (ms), numbers or a vector."""

    id: str
    source: dict[str, Any]
    version: int
    seq_no: int
    fields: dict[str, Any]


class Snapshot:
    """One index as its last refresh left it: documents in Lucene's order (oldest write first) and the fields."""

    def __init__(self, name: str, fields: dict[str, dict[str, Any]], docs: list[Doc]) -> None:
        self.name, self.fields, self.docs = name, fields, docs
        self._stats: dict[str, tuple[int, np.float32, Counter[str]]] = {}

    def field(self, name: str, types: tuple[str, ...]) -> dict[str, Any] | None:
        """The mapping of a field a query reads, None when unmapped (it then matches nothing, as in Elasticsearch)."""
        spec = self.fields.get(name)
        if spec is not None and (spec["type"] not in types or spec.get("index") is False):
            raise OutOfScope(f"this use of the {spec['type']} field [{name}]")
        return spec

    def stats(self, name: str) -> tuple[int, np.float32, Counter[str]]:
        """(documents with the field, average field length, document frequency per term), as Lucene keeps them."""
        if name not in self._stats:
            with_field = total = 0
            df: Counter[str] = Counter()
            for doc in self.docs:
                value = doc.fields.get(name)
                if isinstance(value, Text):
                    if value.length:
                        with_field, total = with_field + 1, total + value.length
                        df.update(value.terms.keys())
                elif value:
                    with_field, total = with_field + 1, total + len(set(value))
                    df.update(set(value))
            avgdl = np.float32(total / with_field) if with_field else _ONE
            self._stats[name] = (with_field, avgdl, df)
        return self._stats[name]


# --- queries ----------------------------------------------------------------------------------------------------

Scores = dict[int, float]  # position in the snapshot → score
Query = Callable[[Snapshot], Scores]


def _bm25(s: Snapshot, name: str, term: str, boost: float) -> Scores:
    """Lucene's BM25 scores of one term in one field (a TermQuery); keyword fields have no norms (length 1)."""
    with_field, avgdl, df = s.stats(name)
    if not (n := df.get(term, 0)):
        return {}
    weight = np.float32(boost) * np.float32(math.log(1 + (with_field - n + 0.5) / (n + 0.5)))
    out: Scores = {}
    for pos, doc in enumerate(s.docs):
        value = doc.fields.get(name)
        if isinstance(value, Text):
            freq, length = value.terms.get(term, 0), _stored_length(value.length)
        else:
            freq, length = int(value is not None and term in value), 1
        if freq:
            norm_inverse = _ONE / (_K1 * ((_ONE - _B) + _B * np.float32(length) / avgdl))
            out[pos] = float(weight - weight / (_ONE + np.float32(freq) * norm_inverse))
    return out


def parse_query(spec: Any) -> Query:
    name, body = one("query", spec, _QUERIES)
    return _QUERIES[name](body)


def _clauses(value: Any) -> list[Query]:
    return [parse_query(q) for q in (value if isinstance(value, list) else [value])]


def _bool(body: Any) -> Query:
    clauses = {key: _clauses(value) for key, value in only("bool", body, ("must", "filter", "must_not")).items()}
    if not clauses:
        raise OutOfScope("an empty bool query")

    def run(s: Snapshot) -> Scores:
        scores: Scores | None = None
        for query in clauses.get("must", []):
            found = query(s)
            scores = found if scores is None else {p: scores[p] + v for p, v in found.items() if p in scores}
        for query in clauses.get("filter", []):
            keep = query(s)
            scores = dict.fromkeys(keep, 0.0) if scores is None else {p: v for p, v in scores.items() if p in keep}
        if scores is None:  # must_not alone: everything else matches, with score 0, as Elasticsearch rewrites it
            scores = dict.fromkeys(range(len(s.docs)), 0.0)
        for query in clauses.get("must_not", []):
            drop = query(s)
            scores = {p: v for p, v in scores.items() if p not in drop}
        return {p: f32(v) for p, v in scores.items()}

    return run


def _multi_match(body: Any) -> Query:
    only("multi_match", body, ("query", "fields", "type", "tie_breaker"), required=("query", "fields"))
    if body.get("type", "best_fields") != "best_fields" or not isinstance(body["query"], str):
        raise OutOfScope("multi_match other than best_fields over a string")
    terms = english(body["query"])
    fields = [(name, float(boost or 1)) for name, _, boost in (str(f).partition("^") for f in body["fields"])]
    if any("*" in name for name, _ in fields):
        raise OutOfScope("field patterns in multi_match")
    tie = float(body.get("tie_breaker", 0.0))

    def run(s: Snapshot) -> Scores:
        per_field = []
        for name, boost in fields:
            if s.field(name, ("text",)) is not None:
                per_term = [_bm25(s, name, term, boost) for term in terms]
                matched = set().union(*per_term)
                per_field.append({p: f32(sum(t[p] for t in per_term if p in t)) for p in matched})
        out: Scores = {}
        for pos in set().union(*per_field):
            scores = [f[pos] for f in per_field if pos in f]
            best = max(scores)
            out[pos] = f32(best + (sum(scores) - best) * tie)  # dis_max: the best field, plus a share of the others
        return out

    return run


def _term(body: Any) -> Query:
    name, value = one("term query", body)
    if not isinstance(value, str):
        raise OutOfScope("term query options, or a term other than a string")
    return lambda s: {} if s.field(name, ("keyword",)) is None else _bm25(s, name, value, 1.0)


def _constant(match: Callable[[Doc], bool]) -> Query:
    return lambda s: {pos: 1.0 for pos, doc in enumerate(s.docs) if match(doc)}


def _terms(body: Any) -> Query:
    name, values = one("terms query", body)
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise OutOfScope("terms lookup, or terms other than strings")
    wanted = set(values)
    run = _constant(lambda doc: bool(wanted.intersection(doc.fields.get(name, ()))))
    return lambda s: {} if s.field(name, ("keyword",)) is None else run(s)


def _exists(body: Any) -> Query:
    name = only("exists", body, ("field",), required=("field",))["field"]
    return _constant(lambda doc: name in doc.fields)


_COMPARE = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}


def _range(body: Any) -> Query:
    name, bounds = one("range query", body)
    limits = [(_COMPARE[op], date_ms(value)) for op, value in only("range", bounds, _COMPARE).items()]
    run = _constant(lambda doc: any(all(cmp(v, b) for cmp, b in limits) for v in doc.fields.get(name, ())))
    return lambda s: {} if s.field(name, ("date",)) is None else run(s)


def _match_all(body: Any) -> Query:
    only("match_all", body, ())
    return _constant(lambda doc: True)


_QUERIES: dict[str, Callable[[Any], Query]] = {
    "bool": _bool,
    "multi_match": _multi_match,
    "term": _term,
    "terms": _terms,
    "exists": _exists,
    "range": _range,
    "match_all": _match_all,
}


# --- kNN and rrf ------------------------------------------------------------------------------------------------


@dataclass
class Knn:
    field: str
    vector: np.ndarray
    k: int
    filters: list[Query]


def parse_knn(body: Any) -> Knn:
    keys = ("field", "query_vector", "k", "num_candidates", "filter")
    only("knn", body, keys, required=keys[:4])
    k, candidates, vector = body["k"], body["num_candidates"], body["query_vector"]
    if not isinstance(vector, list) or not all(isinstance(v, (int, float)) for v in [k, candidates, *vector]):
        raise OutOfScope("knn with other than numbers for k, num_candidates and query_vector")
    if k < 1:
        raise illegal_argument("[k] must be greater than 0")
    if candidates < k:
        raise illegal_argument("[num_candidates] cannot be less than [k]")
    if candidates > 10_000:
        raise illegal_argument("[num_candidates] cannot exceed [10000]")
    filters = _clauses(body["filter"]) if "filter" in body else []
    return Knn(str(body["field"]), np.asarray(vector, dtype=np.float32), k, filters)


def zero_magnitude(vector: np.ndarray) -> str:
    """Elasticsearch's reason for refusing a zero vector where similarity is cosine."""
    preview = ", ".join(str(float(v)) for v in vector[:10]) + ("..." if len(vector) > 10 else "")
    reason = "The [cosine] similarity does not support vectors with zero magnitude."
    return f"{reason} Preview of invalid vector: [{preview}]"


def _shard_failure(s: Snapshot, reason: str) -> EsError:
    cause = EsError(400, "query_shard_exception", f"failed to create query: {reason}", index=s.name)
    failed = [{"shard": 0, "index": s.name, "node": "fake-node", "reason": cause.detail()}]
    return EsError(
        400, "search_phase_execution_exception", "all shards failed", caused_by=cause, phase="dfs", failed_shards=failed
    )


def knn(s: Snapshot, spec: Knn) -> list[tuple[int, float]]:
    """The k nearest (position, score), best first, among the documents that pass every filter."""
    mapping = s.field(spec.field, ("dense_vector",))
    if mapping is None:
        return []
    if len(spec.vector) != mapping["dims"]:
        raise _shard_failure(
            s,
            f"The query vector has a different number of dimensions [{len(spec.vector)}] than the document vectors "
            f"[{mapping['dims']}].",
        )
    norm = float(np.linalg.norm(spec.vector))
    if not norm:
        raise _shard_failure(s, zero_magnitude(spec.vector))
    allowed = set(range(len(s.docs)))
    for query in spec.filters:
        allowed &= query(s).keys()
    scored = []
    for pos in sorted(allowed):
        vector = s.docs[pos].fields.get(spec.field)
        if vector is not None:
            dot = float(np.float32(np.dot(spec.vector, vector)))
            cos = float(np.float32(dot / (norm * float(np.linalg.norm(vector)))))
            scored.append((pos, f32((1.0 + cos) / 2.0)))
    return sorted(scored, key=lambda hit: (-hit[1], hit[0]))[: spec.k]


@dataclass
class Rrf:
    legs: list[Query | Knn]
    window: int
    rank_constant: int


RRF = "Reciprocal Rank Fusion (RRF)"


def parse_retriever(body: Any, licence: str) -> Rrf:
    _, spec = one("retriever", body, ("rrf",))
    if licence not in ("trial", "enterprise"):
        feature: dict[str, Any] = {"license.expired.feature": RRF}
        raise EsError(403, "security_exception", f"current license is non-compliant for [{RRF}]", **feature)
    only("rrf", spec, ("retrievers", "rank_window_size", "rank_constant"), required=("retrievers",))
    legs: list[Query | Knn] = []
    for entry in spec["retrievers"]:
        kind, leg = one("retriever", entry, ("standard", "knn"))
        legs.append(parse_knn(leg) if kind == "knn" else parse_query(only("standard", leg, ("query",))["query"]))
    return Rrf(legs, int(spec.get("rank_window_size", 10)), int(spec.get("rank_constant", 60)))


def _ranked(scores: Scores) -> list[tuple[int, float]]:
    return sorted(scores.items(), key=lambda hit: (-hit[1], hit[0]))


def rrf(s: Snapshot, spec: Rrf) -> list[tuple[int, float]]:
    """Each leg's top `window`, fused by reciprocal rank: the sum of 1 / (rank_constant + rank)."""
    fused: dict[int, float] = {}
    for leg in spec.legs:
        ranked = knn(s, leg) if isinstance(leg, Knn) else _ranked(leg(s))
        for rank, (pos, _) in enumerate(ranked[: spec.window], start=1):
            fused[pos] = fused.get(pos, 0.0) + 1.0 / (spec.rank_constant + rank)
    return _ranked({p: f32(v) for p, v in fused.items()})[: spec.window]


# --- _source, sort, and the search itself -----------------------------------------------------------------------

LONG_MAX = 2**63 - 1  # the sort value of a date field a document lacks


def _paths(value: Any) -> list[str]:
    paths = value.split(",") if isinstance(value, str) else value
    if not isinstance(paths, list) or any(not isinstance(p, str) or "." in p or "*" in p for p in paths):
        raise OutOfScope("_source paths other than top-level field names")
    return paths


@dataclass
class SourceFilter:
    enabled: bool = True
    includes: tuple[str, ...] = ()
    excludes: tuple[str, ...] = ()


def source_params(params: dict[str, str]) -> SourceFilter:
    """The `_source_includes` / `_source_excludes` query parameters of get and mget."""
    includes = _paths(params["_source_includes"]) if "_source_includes" in params else []
    return SourceFilter(True, tuple(includes), tuple(_paths(params.get("_source_excludes", []))))


def render_source(doc: Doc, fields: dict[str, dict[str, Any]], spec: SourceFilter) -> dict[str, Any] | None:
    """The `_source` an answer shows: filtered, and never with dense_vector values (Elasticsearch 9.2+)."""
    if not spec.enabled:
        return None
    return {
        key: value
        for key, value in doc.source.items()
        if fields.get(key, {}).get("type") != "dense_vector"
        and key not in spec.excludes
        and (not spec.includes or key in spec.includes)
    }


def _sort_fields(value: Any) -> list[str]:
    if not isinstance(value, list):
        raise OutOfScope("sort other than a list")
    names = []
    for entry in value:
        name, order = one("sort", entry)
        if order != "asc":
            raise OutOfScope(f"sort order [{order}]")
        names.append(name)
    return names


def _sort_values(s: Snapshot, names: list[str], doc: Doc) -> list[Any]:
    """The `sort` of a hit: each field's smallest value; a missing keyword is null, a missing date Long.MAX_VALUE."""
    out = []
    for name in names:
        mapping = s.field(name, ("keyword", "date"))
        if mapping is None:
            raise OutOfScope(f"sorting on the unmapped field [{name}]")
        values = doc.fields.get(name)
        out.append(min(values) if values else (LONG_MAX if mapping["type"] == "date" else None))
    return out


def _sort_key(values: list[Any]) -> tuple[Any, ...]:
    return tuple((v is None, "" if v is None else v) for v in values)  # missing values sort last


def search(s: Snapshot, body: Any, licence: str) -> dict[str, Any]:
    """A `_search` answer, for one body in scope: a query (or match_all), a knn, or an rrf retriever."""
    only("search", body, ("query", "knn", "retriever", "size", "sort", "search_after", "_source"))
    if "retriever" in body and (clash := [k for k in ("query", "knn", "sort", "search_after") if k in body]):
        raise illegal_argument(f"cannot specify [retriever] and [{clash[0]}]")
    if "query" in body and "knn" in body:
        raise OutOfScope("a query and a knn in one search")
    if "search_after" in body and "sort" not in body:
        raise OutOfScope("search_after without sort")
    size = int(body.get("size", 10))
    query = parse_query(body["query"]) if "query" in body else _match_all({})
    neighbours = parse_knn(body["knn"]) if "knn" in body else None
    retriever = parse_retriever(body["retriever"], licence) if "retriever" in body else None
    sort = _sort_fields(body["sort"]) if "sort" in body else None
    source = SourceFilter()
    if body.get("_source") is False:
        source = SourceFilter(enabled=False)
    elif "_source" in body:
        source = SourceFilter(True, tuple(_paths(only("_source", body["_source"], ("includes",)).get("includes", []))))

    rows: list[tuple[int, float, list[Any] | None]]
    if retriever is not None:
        rows = [(pos, score, None) for pos, score in rrf(s, retriever)]
    elif neighbours is not None:
        rows = [(pos, score, None) for pos, score in knn(s, neighbours)]
    elif sort is None:
        rows = [(pos, score, None) for pos, score in _ranked(query(s))]
    else:
        rows = sorted(
            ((pos, score, _sort_values(s, sort, s.docs[pos])) for pos, score in query(s).items()),
            key=lambda row: (_sort_key(row[2] or []), row[0]),
        )
        if "search_after" in body:
            after = _sort_key(body["search_after"])
            rows = [row for row in rows if _sort_key(row[2] or []) > after]
    hits = []
    for pos, score, sort_values in rows[:size]:
        doc = s.docs[pos]
        hit: dict[str, Any] = {"_index": s.name, "_id": doc.id, "_score": None if sort else score}
        if (rendered := render_source(doc, s.fields, source)) is not None:
            hit["_source"] = rendered
        if sort_values is not None:
            hit["sort"] = sort_values
        hits.append(hit)
    total = {"value": min(len(rows), 10_000), "relation": "eq" if len(rows) <= 10_000 else "gte"}
    max_score = None if sort or not rows else max(score for _, score, _ in rows)
    return {
        "took": 0,
        "timed_out": False,
        "_shards": {"total": 1, "successful": 1, "skipped": 0, "failed": 0},
        "hits": {"total": total, "max_score": max_score, "hits": hits},
    }


def matches(s: Snapshot, body: Any) -> list[Doc]:
    """The documents the `query` of a `_count` or `_delete_by_query` body matches (match_all without one)."""
    query = parse_query(body["query"]) if "query" in only("request", body, ("query",)) else _match_all({})
    return [s.docs[pos] for pos in sorted(query(s))]
