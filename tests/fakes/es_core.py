"""Errors, mappings, document parsing and per-index state for the fake Elasticsearch.

Mapping validation follows Elasticsearch 9's mapper parsers for the types the fake emulates (text, keyword, date,
numbers, boolean, object, dense_vector): unknown parameters, bad values and unknown types are rejected with the
`mapper_parsing_exception` texts Elasticsearch uses. Valid Elasticsearch features that the fake does not emulate
(other field types, copy_to, custom analyzers, runtime fields...) are answered with HTTP 501
`fake_not_implemented_exception`, never silently accepted.
"""

from __future__ import annotations

import base64
import copy
import math
import re
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from tests.fakes.es_analysis import ANALYZERS, UNEMULATED_BUILTIN_ANALYZERS, analyze


def words(text: str) -> frozenset[str]:
    """A set of names from a whitespace-separated list (keeps the long lists of API keys compact)."""
    return frozenset(text.split())


# --- errors -----------------------------------------------------------------------------------------------------


class EsError(Exception):
    """An Elasticsearch error response. `is_es` is False for causes that are plain Java exceptions
    (IllegalArgumentException...), which Elasticsearch does not descend into when it computes `root_cause`."""

    def __init__(
        self,
        status: int,
        type_: str,
        reason: str,
        *,
        caused_by: EsError | None = None,
        extra: dict[str, Any] | None = None,
        root_cause: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
        body: dict[str, Any] | None = None,
        is_es: bool = True,
    ) -> None:
        super().__init__(reason)
        self.status = status
        self.type = type_
        self.reason = reason
        self.caused_by = caused_by
        self.extra = extra or {}
        self.root_cause = root_cause
        self.headers = headers or {}
        self.body = body
        self.is_es = is_es

    def to_dict(self, *, with_cause: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {"type": self.type, "reason": self.reason, **self.extra}
        if with_cause and self.caused_by is not None:
            out["caused_by"] = self.caused_by.to_dict()
        return out

    def root(self) -> EsError:
        node = self
        while node.caused_by is not None and node.caused_by.is_es:
            node = node.caused_by
        return node

    def response_body(self) -> dict[str, Any]:
        if self.body is not None:
            return self.body
        root_cause = self.root_cause if self.root_cause is not None else [self.root().to_dict(with_cause=False)]
        return {"error": {"root_cause": root_cause, **self.to_dict()}, "status": self.status}


def java_iae(reason: str) -> EsError:
    return EsError(400, "illegal_argument_exception", reason, is_es=False)


def illegal_argument(reason: str, **kwargs: Any) -> EsError:
    return EsError(400, "illegal_argument_exception", reason, is_es=False, **kwargs)


def parsing_error(reason: str, line: int = 1, col: int = 1) -> EsError:
    return EsError(400, "parsing_exception", reason, extra={"line": line, "col": col})


def x_content_error(reason: str, *, caused_by: EsError | None = None) -> EsError:
    return EsError(400, "x_content_parse_exception", f"[1:1] {reason}", caused_by=caused_by, is_es=False)


def validation_error(*messages: str) -> EsError:
    text = "Validation Failed: " + "".join(f"{i}: {m};" for i, m in enumerate(messages, 1))
    return EsError(400, "action_request_validation_exception", text)


def not_implemented(what: str) -> EsError:
    return EsError(
        501,
        "fake_not_implemented_exception",
        f"{what} is valid Elasticsearch but is not emulated by the fake (tests/fakes/elasticsearch.py)",
    )


def index_not_found(name: str) -> EsError:
    return EsError(
        404,
        "index_not_found_exception",
        f"no such index [{name}]",
        extra={"resource.type": "index_or_alias", "resource.id": name, "index_uuid": "_na_", "index": name},
    )


def mapper_parsing(reason: str, *, wrap: bool = True) -> EsError:
    inner = EsError(400, "mapper_parsing_exception", reason)
    if not wrap:
        return inner
    return EsError(400, "mapper_parsing_exception", f"Failed to parse mapping: {reason}", caused_by=inner)


def token_name(value: Any) -> str:
    if isinstance(value, dict):
        return "START_OBJECT"
    if isinstance(value, list):
        return "START_ARRAY"
    if isinstance(value, bool):
        return "VALUE_BOOLEAN"
    if isinstance(value, (int, float)):
        return "VALUE_NUMBER"
    if value is None:
        return "VALUE_NULL"
    return "VALUE_STRING"


def new_uuid() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(16)).decode().rstrip("=")


def auto_id() -> str:
    return base64.urlsafe_b64encode(secrets.token_bytes(15)).decode()


# --- scalar coercion (Elasticsearch is lenient in the same places) ---------------------------------------------


def parse_bool(value: Any, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise illegal_argument(f"Failed to parse value [{value}] as only [true] or [false] are allowed.")


def parse_int(value: Any, what: str) -> int:
    if isinstance(value, bool):
        raise illegal_argument(f"Failed to parse value [{value}] for setting [{what}]")
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"-?\d+", value):
        return int(value)
    raise illegal_argument(f"Failed to parse value [{value}] for setting [{what}]")


_TIME_VALUE = re.compile(r"-?\d+(\.\d+)?(d|h|m|s|ms|micros|nanos)")


def check_time_value(value: Any, setting: str) -> None:
    text = str(value)
    if text in ("-1", "0") or _TIME_VALUE.fullmatch(text):
        return
    raise EsError(
        400,
        "parse_exception",
        f"failed to parse setting [{setting}] with value [{text}] as a time value: unit is missing or unrecognized",
    )


# --- dates ------------------------------------------------------------------------------------------------------

DEFAULT_DATE_FORMAT = "strict_date_optional_time||epoch_millis"
_ISO = re.compile(
    r"(?P<y>[+-]?\d{4,9})(?:-(?P<mo>\d{1,2})(?:-(?P<d>\d{1,2})(?:(?P<sep>[T ])(?P<h>\d{1,2})(?::(?P<mi>\d{1,2})"
    r"(?::(?P<s>\d{1,2})(?:[.,](?P<f>\d{1,9}))?)?)?(?P<z>Z|[+-]\d{2}(?::?\d{2})?)?)?)?)?"
)
_ISO_FORMATS = frozenset(
    "strict_date_optional_time date_optional_time strict_date_optional_time_nanos strict_date date strict_date_time "
    "date_time strict_date_time_no_millis date_time_no_millis strict_year_month_day year_month_day "
    "strict_date_hour_minute_second date_hour_minute_second".split()
)
_JAVA_TO_STRPTIME = [
    ("yyyy", "%Y"),
    ("uuuu", "%Y"),
    ("MM", "%m"),
    ("dd", "%d"),
    ("HH", "%H"),
    ("mm", "%M"),
    ("ss", "%S"),
    ("SSS", "%f"),
    ("XXX", "%z"),
    ("Z", "%z"),
    ("'T'", "T"),
]


def _parse_iso(text: str) -> int:
    m = _ISO.fullmatch(text)
    if not m:
        raise ValueError(text)
    parts = m.groupdict()
    frac = (parts["f"] or "0")[:6].ljust(6, "0")
    dt = datetime(
        int(parts["y"]),
        int(parts["mo"] or 1),
        int(parts["d"] or 1),
        int(parts["h"] or 0),
        int(parts["mi"] or 0),
        int(parts["s"] or 0),
        int(frac),
        tzinfo=UTC,
    )
    zone = parts["z"]
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        digits = zone[1:].replace(":", "")
        offset = timedelta(hours=int(digits[:2]), minutes=int(digits[2:] or 0))
        dt -= sign * offset
    return int(dt.timestamp() * 1000)


def _parse_java_pattern(text: str, pattern: str) -> int:
    fmt = pattern
    for java, py in _JAVA_TO_STRPTIME:
        fmt = fmt.replace(java, py)
    dt = datetime.strptime(text, fmt)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=UTC)
    return int(dt.timestamp() * 1000)


def parse_date(value: Any, date_format: str = DEFAULT_DATE_FORMAT) -> int:
    """Epoch milliseconds for `value` under an Elasticsearch `format` (`||`-separated alternatives)."""
    if isinstance(value, bool):
        raise ValueError(value)
    for fmt in date_format.split("||"):
        try:
            if fmt == "epoch_millis":
                return int(float(value))
            if fmt == "epoch_second":
                return int(float(value) * 1000)
            if not isinstance(value, str):
                continue
            if fmt in _ISO_FORMATS:
                return _parse_iso(value)
            return _parse_java_pattern(value, fmt)
        except (ValueError, OverflowError):
            continue
    raise ValueError(value)


def validate_date_format(date_format: str) -> None:
    for fmt in date_format.split("||"):
        if fmt in _ISO_FORMATS or fmt in ("epoch_millis", "epoch_second"):
            continue
        if fmt.startswith(("strict_", "basic_", "week")) or re.fullmatch(r"[a-z_]+", fmt):
            raise not_implemented(f"date format [{fmt}]")
        leftover = fmt
        for java, _ in _JAVA_TO_STRPTIME:
            leftover = leftover.replace(java, "")
        if re.search(r"[A-Za-z]", leftover):
            raise not_implemented(f"date pattern [{fmt}]")


_MATH_UNITS = {"y", "M", "w", "d", "h", "H", "m", "s"}


def _add_unit(dt: datetime, amount: int, unit: str) -> datetime:
    if unit == "y":
        return dt.replace(year=dt.year + amount)
    if unit == "M":
        month = dt.month - 1 + amount
        return dt.replace(year=dt.year + month // 12, month=month % 12 + 1)
    seconds = {"w": 604800, "d": 86400, "h": 3600, "H": 3600, "m": 60, "s": 1}[unit]
    return dt + timedelta(seconds=seconds * amount)


def _round_down(dt: datetime, unit: str) -> datetime:
    if unit == "y":
        return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "M":
        return dt.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    if unit == "w":
        return (dt - timedelta(days=dt.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    if unit == "d":
        return dt.replace(hour=0, minute=0, second=0, microsecond=0)
    if unit in ("h", "H"):
        return dt.replace(minute=0, second=0, microsecond=0)
    if unit == "m":
        return dt.replace(second=0, microsecond=0)
    return dt.replace(microsecond=0)


def parse_date_math(value: Any, date_format: str, *, round_up: bool) -> int:
    """Elasticsearch date math: `now`, `<date>||`, then `+1d`, `-2h`, `/d` (rounding up for gt/lte)."""
    if not isinstance(value, str) or not (value.startswith("now") or "||" in value and not value.endswith("||")):
        if isinstance(value, str) and value.endswith("||"):
            value = value[:-2]
        return parse_date(value, date_format)
    if value.startswith("now"):
        anchor = datetime.now(UTC)
        expr = value[3:]
    else:
        base, expr = value.split("||", 1)
        anchor = datetime.fromtimestamp(parse_date(base, date_format) / 1000, UTC)
    i = 0
    while i < len(expr):
        op = expr[i]
        i += 1
        if op == "/":
            unit = expr[i : i + 1]
            if unit not in _MATH_UNITS:
                raise ValueError(value)
            i += 1
            anchor = _round_down(anchor, unit)
            if round_up:
                anchor = _add_unit(anchor, 1, unit) - timedelta(milliseconds=1)
            continue
        if op not in "+-":
            raise ValueError(value)
        m = re.match(r"\d*", expr[i:])
        digits = m.group(0) if m else ""
        i += len(digits)
        unit = expr[i : i + 1]
        if unit not in _MATH_UNITS:
            raise ValueError(value)
        i += 1
        anchor = _add_unit(anchor, (int(digits) if digits else 1) * (1 if op == "+" else -1), unit)
    return int(anchor.timestamp() * 1000)


def format_date(ms: int) -> str:
    dt = datetime.fromtimestamp(ms / 1000, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


# --- mappings ---------------------------------------------------------------------------------------------------

ROOT_MAPPING_KEYS = words(
    "dynamic properties _meta _source date_detection dynamic_date_formats numeric_detection "
    "dynamic_templates runtime _routing enabled subobjects"
)
NUMERIC_TYPES = {"long", "integer", "short", "byte", "double", "float", "half_float"}
INTEGER_RANGES = {
    "long": (-(2**63), 2**63 - 1),
    "integer": (-(2**31), 2**31 - 1),
    "short": (-(2**15), 2**15 - 1),
    "byte": (-128, 127),
}
_COMMON = {"meta"}
LEAF_PARAMS: dict[str, set[str]] = {
    "text": _COMMON
    | words(
        "analyzer search_analyzer search_quote_analyzer fields index norms store index_options term_vector "
        "position_increment_gap similarity copy_to fielddata fielddata_frequency_filter eager_global_ordinals "
        "index_phrases index_prefixes"
    ),
    "keyword": _COMMON
    | words(
        "ignore_above index doc_values store null_value fields normalizer norms index_options similarity "
        "split_queries_on_whitespace eager_global_ordinals copy_to script on_script_error "
        "time_series_dimension"
    ),
    "date": _COMMON
    | {"format", "index", "doc_values", "store", "null_value", "ignore_malformed", "locale", "fields", "copy_to"},
    "boolean": _COMMON | {"index", "doc_values", "store", "null_value", "fields", "copy_to"},
    "dense_vector": _COMMON | {"dims", "index", "similarity", "index_options", "element_type"},
}
for _numeric in NUMERIC_TYPES:
    LEAF_PARAMS[_numeric] = _COMMON | words("index doc_values store null_value ignore_malformed coerce fields copy_to")
# Parameters that Elasticsearch accepts and that would change behaviour the fake does not emulate.
UNEMULATED_PARAMS = words(
    "copy_to fielddata fielddata_frequency_filter index_prefixes index_phrases normalizer script "
    "on_script_error search_quote_analyzer split_queries_on_whitespace"
)
OBJECT_PARAMS = {"type", "properties", "dynamic", "enabled", "subobjects"}
KNOWN_UNEMULATED_TYPES = set(
    "nested flattened match_only_text semantic_text sparse_vector rank_feature rank_features search_as_you_type "
    "completion geo_point geo_shape point shape ip version wildcard constant_keyword alias binary scaled_float "
    "unsigned_long date_nanos integer_range float_range long_range double_range date_range ip_range histogram "
    "percolator join token_count annotated_text passthrough aggregate_metric_double counted_keyword "
    "semantic_text rank_vectors".split()
)
SIMILARITIES = ("l2_norm", "dot_product", "cosine", "max_inner_product")
INDEX_OPTION_PARAMS = {
    "hnsw": {"m", "ef_construction"},
    "int8_hnsw": {"m", "ef_construction", "confidence_interval", "rescore_vector"},
    "int4_hnsw": {"m", "ef_construction", "confidence_interval", "rescore_vector"},
    "bbq_hnsw": {"m", "ef_construction", "rescore_vector"},
    "flat": set(),
    "int8_flat": {"confidence_interval", "rescore_vector"},
    "int4_flat": {"confidence_interval", "rescore_vector"},
    "bbq_flat": {"rescore_vector"},
}
DYNAMIC_VALUES = {"true": "true", "false": "false", "strict": "strict", "runtime": "runtime"}


def _unsupported(path: str, leftovers: dict[str, Any]) -> str:
    rendered = "".join(f" [{k} : {v}]" for k, v in leftovers.items())
    return f"Mapping definition for [{path}] has unsupported parameters: {rendered}"


def _check_bool_param(name: str, value: Any, path: str) -> bool:
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return bool(value == "true")
    raise mapper_parsing(f"Cannot parse value [{value}] for field [{name}] on [{path}]")


def _normalize_dynamic(value: Any) -> str:
    key = str(value).lower() if isinstance(value, bool) else str(value)
    if key not in DYNAMIC_VALUES:
        raise mapper_parsing(
            f"Unknown value [{value}] for field [dynamic] - accepted values are [strict, runtime, true, false]"
        )
    return key


@dataclass
class MappingContext:
    version: tuple[int, int]


def _default_index_options(dims: int | None, ctx: MappingContext) -> dict[str, Any] | None:
    if dims is None:
        return None
    if ctx.version >= (9, 1) and dims >= 384:
        return {"type": "bbq_hnsw", "m": 16, "ef_construction": 100, "rescore_vector": {"oversample": 3.0}}
    return {"type": "int8_hnsw", "m": 16, "ef_construction": 100}


def _validate_index_options(path: str, options: Any, dims: int | None) -> dict[str, Any]:
    if not isinstance(options, dict):
        raise mapper_parsing(f"[index_options] on [{path}] must be an object")
    options = dict(options)
    kind = options.pop("type", None)
    if kind is None:
        raise mapper_parsing(f"[index_options] requires field [type] to be configured on [{path}]")
    if kind not in INDEX_OPTION_PARAMS:
        raise mapper_parsing(f"Unknown vector index options type [{kind}] for field [{path}]")
    leftovers = {k: v for k, v in options.items() if k not in INDEX_OPTION_PARAMS[kind]}
    if leftovers:
        raise mapper_parsing(_unsupported(path, leftovers))
    for key in ("m", "ef_construction"):
        if key in options and (not isinstance(options[key], int) or isinstance(options[key], bool) or options[key] < 1):
            raise mapper_parsing(f"[{key}] must be a positive integer on [{path}], got [{options[key]}]")
    if "confidence_interval" in options:
        ci = options["confidence_interval"]
        if not isinstance(ci, (int, float)) or not (ci == 0 or 0.9 <= ci <= 1.0):
            raise mapper_parsing(f"confidence_interval must be between 0.90 and 1.0 or exactly 0, got [{ci}]")
    if "rescore_vector" in options:
        rv = options["rescore_vector"]
        if not isinstance(rv, dict) or set(rv) != {"oversample"} or not isinstance(rv["oversample"], (int, float)):
            raise mapper_parsing(f'Invalid rescore_vector value on [{path}]: expected {{"oversample": <float>}}')
    if dims is not None:
        if kind.startswith("int4") and dims % 2:
            raise mapper_parsing(f"{kind} only supports even dimensions; provided={dims}")
        if kind.startswith("bbq") and dims < 64:
            raise mapper_parsing(f"{kind} does not support dimensions fewer than 64; provided={dims}")
    return {"type": kind, **options}


def _validate_leaf(path: str, spec: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
    kind = spec["type"]
    allowed = LEAF_PARAMS[kind]
    leftovers = {k: v for k, v in spec.items() if k != "type" and k not in allowed}
    if leftovers:
        name = path.rsplit(".", 1)[-1]
        first = next(iter(leftovers))
        raise mapper_parsing(f"unknown parameter [{first}] on mapper [{name}] of type [{kind}]")
    for param in UNEMULATED_PARAMS & spec.keys():
        if param == "fielddata" and spec[param] in (False, "false"):
            continue
        raise not_implemented(f"mapping parameter [{param}] on [{path}]")
    out: dict[str, Any] = {"type": kind}
    for key, value in spec.items():
        if key == "type":
            continue
        if key in ("index", "norms", "store", "doc_values", "coerce", "ignore_malformed", "eager_global_ordinals"):
            value = _check_bool_param(key, value, path)
        elif key in ("analyzer", "search_analyzer"):
            if value in UNEMULATED_BUILTIN_ANALYZERS:
                raise not_implemented(f"analyzer [{value}]")
            if value not in ANALYZERS:
                raise mapper_parsing(f"analyzer [{value}] has not been configured in mappings")
        elif key == "ignore_above":
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise mapper_parsing(f"[ignore_above] must be positive, got [{value}]")
        elif key == "similarity" and kind != "dense_vector":
            if value != "BM25":
                raise not_implemented(f"similarity [{value}] on [{path}]")
        elif key == "format":
            validate_date_format(str(value))
        elif key == "index_options" and kind != "dense_vector":
            if value not in ("docs", "freqs", "positions", "offsets"):
                raise mapper_parsing(
                    f"Unknown value [{value}] for field [index_options] - accepted values are "
                    "[positions, docs, freqs, offsets]"
                )
            if value == "docs":
                raise not_implemented(f"index_options [docs] on [{path}]")
        elif key == "meta":
            if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
                raise mapper_parsing(f"[meta] values can only be strings, but got {value} for field [{path}]")
        elif key == "fields":
            if not isinstance(value, dict):
                raise mapper_parsing(f"Expected map for property [fields] on field [{path}] but got a {value}")
            subs = {}
            for sub, sub_spec in value.items():
                if not isinstance(sub_spec, dict):
                    raise mapper_parsing(f"Expected map for property [fields] on field [{sub}] but got a {sub_spec}")
                sub_path = f"{path}.{sub}"
                sub_type = sub_spec.get("type")
                if sub_type is None or sub_type == "object" or "properties" in sub_spec:
                    raise mapper_parsing(f"Type [{sub_type or 'object'}] cannot be used in multi field")
                subs[sub] = _validate_property(sub_path, sub_spec, ctx)
            value = dict(sorted(subs.items()))
        out[key] = value
    if kind == "dense_vector":
        return _validate_dense_vector(path, out, ctx)
    if kind == "date" and "format" in out:
        out["format"] = str(out["format"])
    return out


def _validate_dense_vector(path: str, out: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
    element_type = out.get("element_type", "float")
    if element_type not in ("float", "byte", "bit", "bfloat16"):
        raise mapper_parsing(
            f"Unknown value [{element_type}] for field [element_type] - accepted values are [byte, float, bit]"
        )
    if element_type not in ("float", "byte"):
        raise not_implemented(f"dense_vector element_type [{element_type}]")
    dims = out.get("dims")
    if dims is not None:
        if isinstance(dims, bool) or not isinstance(dims, int):
            raise mapper_parsing(f"[dims] on [{path}] must be an integer, got [{dims}]")
        if not 1 <= dims <= 4096:
            raise mapper_parsing(f"The number of dimensions should be in the range [1, 4096] but was [{dims}]")
    indexed = out.get("index", True)
    similarity = out.get("similarity")
    if similarity is not None and similarity not in SIMILARITIES:
        raise mapper_parsing(
            f"Unknown value [{similarity}] for field [similarity] - accepted values are [{', '.join(SIMILARITIES)}]"
        )
    if not indexed and (similarity is not None or "index_options" in out):
        bad = "similarity" if similarity is not None else "index_options"
        raise mapper_parsing(
            f"Field [{bad}] can only be specified for a field of type [dense_vector] when it is indexed [index] is true"
        )
    rendered: dict[str, Any] = {"type": "dense_vector"}
    if dims is not None:
        rendered["dims"] = dims
    if "element_type" in out:
        rendered["element_type"] = element_type
    rendered["index"] = indexed
    if indexed:
        rendered["similarity"] = similarity or "cosine"
        if "index_options" in out:
            rendered["index_options"] = _validate_index_options(path, out["index_options"], dims)
        else:
            default = _default_index_options(dims, ctx)
            if default is not None:
                rendered["index_options"] = default
    if "meta" in out:
        rendered["meta"] = out["meta"]
    return rendered


def _validate_property(path: str, spec: Any, ctx: MappingContext) -> dict[str, Any]:
    if not isinstance(spec, dict):
        raise mapper_parsing(f"Expected map for property [{path}] but got a {type(spec).__name__}")
    kind = spec.get("type")
    if kind is None or kind == "object":
        return _validate_object(path, spec, ctx)
    if not isinstance(kind, str):
        raise mapper_parsing(f"No handler for type [{kind}] declared on field [{path}]")
    if kind in KNOWN_UNEMULATED_TYPES:
        raise not_implemented(f"field type [{kind}] (field [{path}])")
    if kind not in LEAF_PARAMS:
        raise mapper_parsing(f"No handler for type [{kind}] declared on field [{path}]")
    return _validate_leaf(path, spec, ctx)


def _validate_object(path: str, spec: dict[str, Any], ctx: MappingContext) -> dict[str, Any]:
    leftovers = {k: v for k, v in spec.items() if k not in OBJECT_PARAMS}
    if leftovers:
        raise mapper_parsing(_unsupported(path, leftovers))
    out: dict[str, Any] = {}
    if "type" in spec and "properties" not in spec:
        out["type"] = "object"
    if "dynamic" in spec:
        out["dynamic"] = _normalize_dynamic(spec["dynamic"])
    if "enabled" in spec:
        out["enabled"] = _check_bool_param("enabled", spec["enabled"], path)
    if "subobjects" in spec:
        raise not_implemented("[subobjects]")
    if "properties" in spec:
        out["properties"] = _validate_properties(path, spec["properties"], ctx)
    return out


def _validate_properties(prefix: str, properties: Any, ctx: MappingContext) -> dict[str, Any]:
    if not isinstance(properties, dict):
        raise mapper_parsing(f"Expected map for property [properties] on field [{prefix or '_doc'}]")
    out = {}
    for name, spec in properties.items():
        if not name.strip():
            raise mapper_parsing("field name cannot be an empty string")
        full = f"{prefix}.{name}" if prefix else name
        if "." in name:
            raise not_implemented(f"dotted field name [{name}] in mapping properties")
        out[name] = _validate_property(full, spec, ctx)
    return dict(sorted(out.items()))


def validate_root_mapping(body: Any, ctx: MappingContext) -> dict[str, Any]:
    """Validate a `mappings` object and return it as GET _mapping would render it."""
    if not isinstance(body, dict):
        raise mapper_parsing(f"Expected map for property [mappings] but got a {type(body).__name__}")
    if "_doc" in body and len(body) == 1 and isinstance(body["_doc"], dict):
        raise illegal_argument(
            "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true."
        )
    leftovers = {k: v for k, v in body.items() if k not in ROOT_MAPPING_KEYS}
    if leftovers:
        rendered = "".join(f" [{k} : {v}]" for k, v in leftovers.items())
        raise mapper_parsing(f"Root mapping definition has unsupported parameters: {rendered}")
    out: dict[str, Any] = {}
    for key in ("dynamic_templates", "runtime", "_routing", "subobjects", "numeric_detection"):
        if key in body and body[key] not in ([], {}, False, "false"):
            raise not_implemented(f"mapping [{key}]")
    if "dynamic" in body:
        out["dynamic"] = _normalize_dynamic(body["dynamic"])
    if "enabled" in body and body["enabled"] in (False, "false"):
        raise not_implemented("disabling the root object")
    if "_meta" in body:
        if body["_meta"] is not None and not isinstance(body["_meta"], dict):
            raise mapper_parsing("[_meta] must be an object")
        if body["_meta"]:
            out["_meta"] = body["_meta"]
    if "_source" in body:
        src = body["_source"]
        if not isinstance(src, dict):
            raise mapper_parsing("[_source] must be an object")
        unknown = set(src) - {"enabled", "includes", "excludes", "mode"}
        if unknown:
            raise mapper_parsing(_unsupported("_source", {k: src[k] for k in unknown}))
        if src.get("enabled", True) not in (True, "true") or src.get("includes") or src.get("excludes"):
            raise not_implemented("_source mapping other than enabled:true")
        if "mode" in src:
            raise mapper_parsing("Parameter [mode] on mapper [_source] is deprecated, use [index.mapping.source.mode]")
    if "date_detection" in body:
        out["date_detection"] = _check_bool_param("date_detection", body["date_detection"], "_doc")
    if "dynamic_date_formats" in body:
        formats = body["dynamic_date_formats"]
        if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
            raise mapper_parsing("[dynamic_date_formats] must be a list of strings")
        for fmt in formats:
            validate_date_format(fmt)
        out["dynamic_date_formats"] = formats
    if "properties" in body:
        out["properties"] = _validate_properties("", body["properties"], ctx)
    return canonical_mapping(out)


_FIXED_PARAMS = ("type", "analyzer", "dims", "similarity", "element_type", "format", "index", "ignore_above")


_ROOT_ORDER = ("dynamic", "_meta", "_source", "date_detection", "dynamic_date_formats", "properties")


def _sorted_properties(properties: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for name in sorted(properties):
        spec = dict(properties[name])
        for key in ("properties", "fields"):
            if key in spec:
                spec[key] = _sorted_properties(spec[key])
        out[name] = spec
    return out


def canonical_mapping(mapping: dict[str, Any]) -> dict[str, Any]:
    """Key order as GET _mapping renders it: root parameters first, properties sorted by name at every level."""
    out = {key: mapping[key] for key in _ROOT_ORDER if key in mapping and key != "properties"}
    out.update({k: v for k, v in mapping.items() if k not in _ROOT_ORDER})
    if mapping.get("properties"):
        out["properties"] = _sorted_properties(mapping["properties"])
    return out


def merge_mapping(existing: dict[str, Any], update: dict[str, Any]) -> dict[str, Any]:
    """Apply a validated mapping update as Elasticsearch's MapperService merge does (additions only)."""
    merged = copy.deepcopy(existing)
    for key in ("dynamic", "date_detection", "dynamic_date_formats"):
        if key in update:
            merged[key] = update[key]
    if "_meta" in update:
        merged["_meta"] = update["_meta"]
    if "properties" in update:
        merged["properties"] = _merge_properties("", merged.get("properties", {}), update["properties"])
    return canonical_mapping(merged)


def _merge_properties(prefix: str, old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    out = dict(old)
    for name, spec in new.items():
        path = f"{prefix}.{name}" if prefix else name
        if name not in out:
            out[name] = spec
            continue
        current = out[name]
        old_type = current.get("type", "object")
        new_type = spec.get("type", "object")
        if old_type != new_type:
            raise illegal_argument(f"mapper [{path}] cannot be changed from type [{old_type}] to [{new_type}]")
        if old_type == "object":
            merged = dict(current)
            for key in ("dynamic", "enabled"):
                if key in spec:
                    merged[key] = spec[key]
            if "properties" in spec:
                merged["properties"] = _merge_properties(path, current.get("properties", {}), spec["properties"])
            out[name] = merged
            continue
        conflicts = []
        for param in _FIXED_PARAMS[1:]:
            if param == "dims" and current.get("dims") is None:
                continue
            if param in spec and spec.get(param) != current.get(param):
                conflicts.append(f"Cannot update parameter [{param}] from [{current.get(param)}] to [{spec[param]}]")
        if conflicts:
            raise illegal_argument(f"Mapper for [{path}] conflicts with existing mapper:\n\t" + "\n\t".join(conflicts))
        merged_leaf = dict(current)
        merged_leaf.update({k: v for k, v in spec.items() if k != "fields"})
        if "fields" in spec:
            merged_leaf["fields"] = _merge_properties(path, current.get("fields", {}), spec["fields"])
        out[name] = merged_leaf
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class FieldInfo:
    """A searchable field: `path` as queried ("title.raw"), `source_path` where its value lives in `_source`."""

    path: str
    source_path: str
    type: str
    spec: dict[str, Any]

    @property
    def indexed(self) -> bool:
        return bool(self.spec.get("index", True))

    @property
    def has_doc_values(self) -> bool:
        return bool(self.spec.get("doc_values", True)) and self.type != "text"

    @property
    def analyzer(self) -> str:
        return str(self.spec.get("analyzer", "standard"))

    @property
    def search_analyzer(self) -> str:
        return str(self.spec.get("search_analyzer", self.analyzer))

    @property
    def date_format(self) -> str:
        return str(self.spec.get("format", DEFAULT_DATE_FORMAT))


def field_table(mapping: dict[str, Any]) -> tuple[dict[str, FieldInfo], dict[str, dict[str, Any]]]:
    """Flatten a mapping into leaf fields (multi-fields included) and object paths."""
    fields: dict[str, FieldInfo] = {}
    objects: dict[str, dict[str, Any]] = {}

    def walk(prefix: str, properties: dict[str, Any]) -> None:
        for name, spec in properties.items():
            path = f"{prefix}.{name}" if prefix else name
            kind = spec.get("type", "object")
            if kind == "object":
                objects[path] = spec
                walk(path, spec.get("properties", {}))
                continue
            fields[path] = FieldInfo(path, path, kind, spec)
            for sub, sub_spec in spec.get("fields", {}).items():
                fields[f"{path}.{sub}"] = FieldInfo(f"{path}.{sub}", path, sub_spec["type"], sub_spec)

    walk("", mapping.get("properties", {}))
    return fields, objects


# --- documents --------------------------------------------------------------------------------------------------


@dataclass
class TextValue:
    terms: Counter[str]
    length: int


@dataclass
class StoredDoc:
    id: str
    source: dict[str, Any]
    version: int
    seq_no: int
    order: int
    indexed: dict[str, Any]
    size: int


_META_FIELDS = words(
    "_id _index _source _routing _version _seq_no _primary_term _field_names _ignored _doc_count _tier "
    "_data_stream_timestamp _nested_path _feature"
)


def _doc_error(reason: str, *, caused_by: EsError | None = None) -> EsError:
    return EsError(400, "document_parsing_exception", reason, caused_by=caused_by)


def _preview(value: Any) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)


def _is_date_string(value: str, formats: list[str]) -> bool:
    for fmt in formats:
        try:
            if fmt == "strict_date_optional_time":
                if not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?", value):
                    continue
            parse_date(value, fmt)
            return True
        except ValueError:
            continue
    return False


def dynamic_mapping_for(value: Any, root: dict[str, Any], ctx: MappingContext) -> dict[str, Any] | None:
    """The mapping Elasticsearch's default dynamic mapping gives to a new field holding `value`."""
    sample = value
    if isinstance(value, list):
        non_null = [v for v in value if v is not None]
        if not non_null:
            return None
        if (
            128 <= len(value) <= 4096
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value)
            and isinstance(value[0], float)
        ):
            return _validate_dense_vector("", {"type": "dense_vector", "dims": len(value)}, ctx)
        sample = non_null[0]
    if isinstance(sample, dict):
        return {"properties": {}}
    if isinstance(sample, bool):
        return {"type": "boolean"}
    if isinstance(sample, int):
        return {"type": "long"}
    if isinstance(sample, float):
        return {"type": "float"}
    if isinstance(sample, str):
        formats = root.get("dynamic_date_formats", ["strict_date_optional_time", "yyyy/MM/dd HH:mm:ss Z||yyyy/MM/dd Z"])
        if root.get("date_detection", True) and any(_is_date_string(sample, [f]) for f in formats):
            return {"type": "date"}
        return {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    return None


class DocumentParser:
    """Turns a `_source` into indexed values under a mapping, growing the mapping dynamically like Elasticsearch."""

    def __init__(self, mapping: dict[str, Any], doc_id: str, ctx: MappingContext) -> None:
        self.mapping = copy.deepcopy(mapping)
        self.doc_id = doc_id
        self.ctx = ctx
        self.changed = False
        self.indexed: dict[str, Any] = {}
        self.raw_values: dict[str, list[Any]] = {}

    def parse(self, source: dict[str, Any]) -> None:
        root_dynamic = self.mapping.get("dynamic", "true")
        self._object("", source, self.mapping.setdefault("properties", {}), root_dynamic)
        if self.changed:
            self.mapping = canonical_mapping(self.mapping)
        fields, _ = field_table(self.mapping)
        for info in fields.values():
            values = self.raw_values.get(info.source_path)
            if values:
                self._index_leaf(info, values)

    def _object(self, prefix: str, obj: dict[str, Any], properties: dict[str, Any], dynamic: str) -> None:
        for raw_key, value in obj.items():
            if raw_key == "" or raw_key.strip(".") == "" or ".." in raw_key:
                raise _doc_error(
                    f"[1:1] failed to parse: field name cannot contain only whitespace or dots: ['{raw_key}']"
                )
            if not prefix and raw_key in _META_FIELDS:
                raise _doc_error(
                    f"[1:1] failed to parse field [{raw_key}] of type [{raw_key}] in document with id "
                    f"'{self.doc_id}'. Preview of field's value: '{_preview(value)}'",
                    caused_by=_doc_error(
                        f"[1:1] Field [{raw_key}] is a metadata field and cannot be added inside a document. "
                        "Use the index API request parameters."
                    ),
                )
            # Dots in field names are object paths (subobjects: true, the default).
            head, *rest = raw_key.split(".")
            if rest:
                value = {".".join(rest): value}
            self._value(prefix, head, value, properties, dynamic)

    def _value(self, prefix: str, name: str, value: Any, properties: dict[str, Any], dynamic: str) -> None:
        path = f"{prefix}.{name}" if prefix else name
        spec = properties.get(name)
        if spec is None:
            if value is None or value == []:
                return
            if dynamic == "strict":
                raise EsError(
                    400,
                    "strict_dynamic_mapping_exception",
                    f"[1:2] mapping set to strict, dynamic introduction of [{name}] within [{prefix or '_doc'}] "
                    "is not allowed",
                )
            if dynamic == "false":
                return
            if dynamic == "runtime":
                raise not_implemented("dynamic: runtime (fields mapped as runtime fields)")
            spec = dynamic_mapping_for(value, self.mapping, self.ctx)
            if spec is None:
                return
            properties[name] = spec
            self.changed = True
        kind = spec.get("type", "object")
        if kind == "object":
            if spec.get("enabled", True) is False:
                return
            items = value if isinstance(value, list) else [value]
            child_dynamic = spec.get("dynamic", dynamic)
            for item in items:
                if item is None:
                    continue
                if not isinstance(item, dict):
                    raise _doc_error(
                        f"[1:2] object mapping for [{path}] tried to parse field [{name}] as object, but found a "
                        "concrete value"
                    )
                self._object(path, item, spec.setdefault("properties", {}), child_dynamic)
            return
        if kind == "dense_vector":
            if value is None:
                return
            if path in self.raw_values:
                raise _doc_error(
                    f"[1:2] Field [{path}] of type [dense_vector] doesn't support indexing multiple values for the "
                    "same field in the same document"
                )
            self._dense_vector(path, spec, value)
            self.raw_values[path] = [value]
            return
        items = list(value) if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, list):
                items.extend(item)
                continue
            if item is None:
                if "null_value" in spec:
                    self.raw_values.setdefault(path, []).append(spec["null_value"])
                continue
            self._check_scalar(path, kind, spec, item)
            self.raw_values.setdefault(path, []).append(item)

    def _fail_field(self, path: str, kind: str, value: Any, cause: EsError | None = None) -> EsError:
        return _doc_error(
            f"[1:2] failed to parse field [{path}] of type [{kind}] in document with id '{self.doc_id}'. "
            f"Preview of field's value: '{_preview(value)}'",
            caused_by=cause,
        )

    def _check_scalar(self, path: str, kind: str, spec: dict[str, Any], value: Any) -> None:
        if isinstance(value, dict):
            raise self._fail_field(
                path,
                kind,
                value,
                EsError(400, "illegal_state_exception", "Can't get text on a START_OBJECT at 1:2", is_es=False),
            )
        if kind in NUMERIC_TYPES:
            self._coerce_number(path, kind, spec, value)
        elif kind == "boolean":
            if not (isinstance(value, bool) or value in ("true", "false", "")):
                raise self._fail_field(
                    path,
                    kind,
                    value,
                    java_iae(f"Failed to parse value [{value}] as only [true] or [false] are allowed."),
                )
        elif kind == "date":
            try:
                parse_date(value, str(spec.get("format", DEFAULT_DATE_FORMAT)))
            except ValueError:
                if spec.get("ignore_malformed"):
                    return
                fmt = spec.get("format", DEFAULT_DATE_FORMAT)
                raise self._fail_field(
                    path,
                    kind,
                    value,
                    java_iae(f"failed to parse date field [{value}] with format [{fmt}]"),
                ) from None

    def _coerce_number(self, path: str, kind: str, spec: dict[str, Any], value: Any) -> float | int:
        coerce = spec.get("coerce", True)
        if isinstance(value, bool):
            raise self._fail_field(
                path, kind, value, java_iae(f"Current token (VALUE_{str(value).upper()}) not numeric")
            )
        number: float | int
        if isinstance(value, (int, float)):
            number = value
        elif isinstance(value, str) and coerce:
            try:
                number = int(value) if re.fullmatch(r"-?\d+", value.strip()) else float(value)
            except ValueError:
                raise self._fail_field(path, kind, value, java_iae(f'For input string: "{value}"')) from None
        else:
            raise self._fail_field(path, kind, value, java_iae(f'For input string: "{value}"'))
        if isinstance(number, float) and not math.isfinite(number):
            raise self._fail_field(
                path, kind, value, java_iae(f"[{kind}] supports only finite values, but got [{number}]")
            )
        if kind in INTEGER_RANGES:
            if isinstance(number, float) and not number.is_integer():
                if not coerce:
                    raise self._fail_field(path, kind, value, java_iae(f"Value [{number}] has a decimal part"))
                number = int(number)
            low, high = INTEGER_RANGES[kind]
            if not low <= int(number) <= high:
                raise self._fail_field(
                    path,
                    kind,
                    value,
                    java_iae(f"Value [{value}] is out of range for {'an' if kind == 'integer' else 'a'} {kind}"),
                )
            return int(number)
        return float(np.float32(number)) if kind in ("float", "half_float") else float(number)

    def _dense_vector(self, path: str, spec: dict[str, Any], value: Any) -> None:
        where = f"document with id '{self.doc_id}'"
        if not isinstance(value, list):
            raise self._fail_field(path, "dense_vector", value)
        for item in value:
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise _doc_error(
                    f"[1:2] failed to parse: Failed to parse object: expecting token of type [VALUE_NUMBER] but "
                    f"found [{token_name(item)}]"
                )
        dims = spec.get("dims")
        if dims is None:
            spec["dims"] = len(value)
            if spec.get("index", True) and "index_options" not in spec:
                spec["index_options"] = _default_index_options(len(value), self.ctx)
            self.changed = True
            dims = len(value)
        if len(value) != dims:
            detail = (
                f"has more dimensions than defined in the mapping [{dims}]"
                if len(value) > dims
                else f"has a different number of dimensions [{len(value)}] than defined in the mapping [{dims}]"
            )
            cause = java_iae(f"The [dense_vector] field [{path}] in doc [{where}] {detail}")
            raise _doc_error(f"[1:2] failed to parse: {cause.reason}", caused_by=cause)
        vector = np.asarray(value, dtype=np.float32)
        if spec.get("element_type") == "byte" and any(not float(v).is_integer() or not -128 <= v <= 127 for v in value):
            cause = java_iae(
                f"element_type [byte] vectors only support integers between [-128, 127] but found [{value}]"
            )
            raise _doc_error(f"[1:2] failed to parse: {cause.reason}", caused_by=cause)
        if not np.all(np.isfinite(vector)):
            cause = java_iae(f"[dense_vector] field [{path}] only supports finite values")
            raise _doc_error(f"[1:2] failed to parse: {cause.reason}", caused_by=cause)
        similarity = spec.get("similarity") if spec.get("index", True) else None
        preview = "[" + ", ".join(str(float(v)) for v in vector[:10]) + ("...]" if len(vector) > 10 else "]")
        squared = float(np.dot(vector, vector))
        if similarity == "cosine" and squared == 0:
            cause = java_iae(
                f"The [cosine] similarity does not support vectors with zero magnitude. Preview of invalid vector: "
                f"{preview}"
            )
            raise _doc_error(f"[1:2] failed to parse: {cause.reason}", caused_by=cause)
        if similarity == "dot_product" and spec.get("element_type", "float") == "float" and abs(squared - 1.0) > 1e-4:
            cause = java_iae(
                "The [dot_product] similarity can only be used with unit-length vectors. Preview of invalid vector: "
                f"{preview}"
            )
            raise _doc_error(f"[1:2] failed to parse: {cause.reason}", caused_by=cause)

    def _index_leaf(self, info: FieldInfo, values: list[Any]) -> None:
        spec = info.spec
        kind = info.type
        if kind == "text":
            if not info.indexed:
                return
            terms: Counter[str] = Counter()
            length = 0
            for value in values:
                tokens = analyze(info.analyzer, _as_text(value))
                terms.update(tokens)
                length += len(tokens)
            self.indexed[info.path] = TextValue(terms, length)
        elif kind == "keyword":
            limit = spec.get("ignore_above")
            strings = [_as_text(v) for v in values]
            self.indexed[info.path] = [s for s in strings if limit is None or len(s) <= limit]
        elif kind in NUMERIC_TYPES:
            self.indexed[info.path] = [self._coerce_number(info.path, kind, spec, v) for v in values]
        elif kind == "boolean":
            self.indexed[info.path] = [v if isinstance(v, bool) else v == "true" for v in values]
        elif kind == "date":
            out = []
            for v in values:
                try:
                    out.append(parse_date(v, info.date_format))
                except ValueError:
                    continue
            self.indexed[info.path] = out
        elif kind == "dense_vector":
            self.indexed[info.path] = np.asarray(values[0], dtype=np.float32)


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- index state ------------------------------------------------------------------------------------------------


@dataclass
class IndexState:
    name: str
    uuid: str
    created_ms: int
    settings: dict[str, Any]
    mapping: dict[str, Any]
    aliases: dict[str, dict[str, Any]] = field(default_factory=dict)
    live: dict[str, StoredDoc] = field(default_factory=dict)
    searchable: dict[str, StoredDoc] = field(default_factory=dict)
    seq_no: int = -1
    generation: int = 0
    fields: dict[str, FieldInfo] = field(default_factory=dict)
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    deleted_since_refresh: int = 0

    def __post_init__(self) -> None:
        self.set_mapping(self.mapping)

    def set_mapping(self, mapping: dict[str, Any]) -> None:
        self.mapping = mapping
        self.fields, self.objects = field_table(mapping)

    def refresh(self) -> None:
        self.searchable = dict(self.live)
        self.generation += 1

    @property
    def number_of_shards(self) -> int:
        return int(self.settings.get("index.number_of_shards", "1"))

    @property
    def number_of_replicas(self) -> int:
        return int(self.settings.get("index.number_of_replicas", "1"))


def now_ms() -> int:
    return int(time.time() * 1000)
