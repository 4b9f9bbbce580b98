"""The official Elasticsearch client at ragbot's boundary: building it from settings, and translating its errors.

This is the one module that knows elasticsearch-py's exception classes. The index and the interaction log call the
client through `translate_errors`, so what leaves them is ragbot's tree (errors.py):

    SSLError                       → ConfigurationError   (retrying cannot fix an untrusted certificate)
    TransportError                 → RetryableError       (no HTTP answer, after the client's own retries)
    ApiError 401 / 403             → ConfigurationError   (credentials, privileges, licence)
    ApiError 429 / 5xx             → RetryableError
    any other ApiError             → PermanentError

The 404 and "already exists" answers that callers expect are handled by `if_found` and `created`, not as errors.
The SDK itself is imported lazily, so importing this module costs nothing where Elasticsearch is not used.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from ragbot.errors import ConfigurationError, PermanentError, RetryableError

if TYPE_CHECKING:
    from elasticsearch import Elasticsearch

    from ragbot.settings import ElasticsearchSettings

__all__ = ["connect", "created", "expunge_deletes", "if_found", "translate_errors"]

log = logging.getLogger(__name__)

_P = ParamSpec("_P")
_R = TypeVar("_R")

# Lucene merges away a segment's deleted documents only above this share of deletions (Elasticsearch's default is
# 10%): at 0, an expunge rewrites every segment that holds any deleted document. A dynamic index setting.
_EXPUNGE_ALL_DELETES = {"index": {"merge": {"policy": {"expunge_deletes_allowed": 0}}}}


def translate_errors(method: Callable[_P, _R]) -> Callable[_P, _R]:
    """Turn the client's exceptions into ragbot's tree (errors.py) at the boundary, with `from err`.

    Args:
        method: A function or method that calls the Elasticsearch client.

    Returns:
        The same callable, raising `ConfigurationError`, `RetryableError` or `PermanentError` instead of the
        client's exceptions.
    """

    @functools.wraps(method)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        from elasticsearch import ApiError, SSLError, TransportError

        try:
            return method(*args, **kwargs)
        except SSLError as err:  # retrying cannot fix a certificate nobody trusts
            raise ConfigurationError(
                f"TLS to Elasticsearch failed ({err.message}): set RAGBOT_ELASTICSEARCH__CA_FILE to the CA that "
                "signed the cluster's certificate"
            ) from err
        except TransportError as err:  # no HTTP answer: connection refused, TLS, timeout (after the retries)
            raise RetryableError(f"cannot reach Elasticsearch: {err.message}") from err
        except ApiError as err:
            raise _api_error(err) from err

    return wrapper


def _api_error(err: Any) -> Exception:
    status = err.meta.status
    error = err.body.get("error", {}) if isinstance(err.body, dict) else {}
    reason = error.get("reason", "") if isinstance(error, dict) else str(error)
    kind = error.get("type", "") if isinstance(error, dict) else ""
    if status == 401:
        return ConfigurationError(
            "Elasticsearch refused the credentials (401): check RAGBOT_ELASTICSEARCH__API_KEY, or USERNAME and PASSWORD"
        )
    if status == 403 and "license" in reason.lower():
        return ConfigurationError(
            f"the cluster's licence does not allow this ({reason}); for the rrf retriever, unset "
            "RAGBOT_ELASTICSEARCH__SERVER_SIDE_RRF to fuse in ragbot instead"
        )
    if status == 403:
        return ConfigurationError(
            f"Elasticsearch denied the request (403): {reason or kind}; check the key's privileges"
        )
    if status == 429 or status >= 500:
        return RetryableError(f"Elasticsearch is overloaded or failing ({status} {kind}): {reason}")
    return PermanentError(f"Elasticsearch rejected a request ({status} {kind}): {reason}")


def if_found(call: Callable[_P, _R], /, *args: _P.args, **kwargs: _P.kwargs) -> _R | None:
    """Call the client, taking a 404 (no such index or document) as an answer rather than an error.

    Args:
        call: A client method, e.g. `client.indices.get_mapping`.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        What `call` returned, or None when Elasticsearch answered 404.
    """
    from elasticsearch import NotFoundError

    try:
        return call(*args, **kwargs)
    except NotFoundError:
        return None


def created(call: Callable[_P, object], /, *args: _P.args, **kwargs: _P.kwargs) -> bool:
    """Create an index, taking "it already exists" as success: another process may have created it first.

    Args:
        call: The creating client method, normally `client.indices.create`.
        *args: Its positional arguments.
        **kwargs: Its keyword arguments.

    Returns:
        True if this call created the index, False if it existed already.
    """
    from elasticsearch import BadRequestError

    try:
        call(*args, **kwargs)
    except BadRequestError as err:
        if err.error != "resource_already_exists_exception":
            raise
        return False
    return True


def connect(settings: ElasticsearchSettings) -> Elasticsearch:
    """Build the official client from settings: auth, TLS, timeouts, retries with full-jitter backoff.

    Args:
        settings: The URL, credentials, CA file and the timeout and retry parameters.

    Returns:
        A client; whoever builds on it closes it.

    Raises:
        ConfigurationError: `settings.url` is unset, or `settings.ca_file` names no file.
    """
    from elasticsearch import Elasticsearch

    if not settings.url:
        raise ConfigurationError("RAGBOT_ELASTICSEARCH__URL is not set")
    options: dict[str, Any] = {}
    if settings.api_key is not None:
        options["api_key"] = settings.api_key.get_secret_value()
    elif settings.username and settings.password is not None:
        options["basic_auth"] = (settings.username, settings.password.get_secret_value())
    if settings.ca_file is not None:
        if not settings.ca_file.is_file():
            raise ConfigurationError(f"RAGBOT_ELASTICSEARCH__CA_FILE: no such file: {settings.ca_file}")
        options["ca_certs"] = str(settings.ca_file)
    if settings.url.startswith("https://"):
        options["verify_certs"] = settings.verify_certs
    return Elasticsearch(
        settings.url,
        request_timeout=settings.request_timeout_s,
        max_retries=settings.max_retries,
        retry_on_status=(429, 502, 503, 504),
        retry_on_timeout=True,
        retry_backoff_base=settings.retry_backoff_s,
        retry_backoff_cap=settings.retry_backoff_cap_s,
        **options,
    )


def expunge_deletes(client: Elasticsearch, index: str) -> None:
    """Rewrite the segments of `index` (a name, alias or list) that still hold deleted documents, now.

    A delete only marks a document deleted: its text stays in its Lucene segment until a merge rewrites that
    segment. This sets `index.merge.policy.expunge_deletes_allowed` to 0 and runs
    `_forcemerge?only_expunge_deletes=true`, which merges only the segments with deletions. What it cannot reach
    (docs/ELASTICSEARCH.md, "Erasure"): documents that the shards' retention leases still keep for a replica's
    recovery, snapshots, and index versions other than `index`.

    Args:
        client: The client (call it inside `translate_errors`).
        index: What to expunge.
    """
    from elasticsearch import ConnectionTimeout

    client.indices.put_settings(index=index, settings=_EXPUNGE_ALL_DELETES)
    try:
        client.indices.forcemerge(index=index, only_expunge_deletes=True)
    except ConnectionTimeout:
        # Elasticsearch goes on merging after the client gives up waiting (its force-merge API says so).
        log.warning("the forced merge of %s is still running on the cluster; it finishes there", index)
