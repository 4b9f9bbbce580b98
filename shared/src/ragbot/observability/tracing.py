"""OpenTelemetry tracing across the hops, off by default (`RAGBOT_TRACING__ENABLED`).

One question is one trace: the adapter's `ragbot.enqueue` span, then Celery's publish and run spans of retrieve,
generate and reply (opentelemetry-instrumentation-celery carries the trace context in each message's headers),
exported over OTLP/HTTP to `RAGBOT_TRACING__ENDPOINT` (an OpenTelemetry Collector, Tempo, Jaeger …). Spans carry ids
and timings, never message text. Needs the `tracing` extra; everything here is a no-op when tracing is off.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ragbot import __version__
from ragbot.errors import ConfigurationError
from ragbot.settings import TracingSettings

__all__ = ["configure_tracing", "shutdown_tracing", "span"]

log = logging.getLogger(__name__)

_provider: Any = None


def configure_tracing(settings: TracingSettings, *, service: str) -> bool:
    """Install the tracer provider and the Celery instrumentation in this process; False when tracing is off.

    Call it once per process, after any fork (a worker's pool children each call it).

    Raises:
        ConfigurationError: Tracing is on but the `tracing` extra is not installed.
    """
    global _provider
    if not settings.enabled or _provider is not None:
        return _provider is not None
    try:
        from opentelemetry import trace
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.instrumentation.celery import CeleryInstrumentor
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
        from opentelemetry.sdk.trace.sampling import ParentBased, TraceIdRatioBased
    except ImportError as err:
        raise ConfigurationError(
            "RAGBOT_TRACING__ENABLED needs the tracing extra: pip install 'ragbot[tracing]'"
        ) from err
    resource = Resource.create({"service.name": f"ragbot-{service}", "service.version": __version__})
    provider = TracerProvider(resource=resource, sampler=ParentBased(TraceIdRatioBased(settings.sample_ratio)))
    exporter = OTLPSpanExporter(endpoint=f"{settings.endpoint.rstrip('/')}/v1/traces", timeout=5)
    provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    CeleryInstrumentor().instrument(tracer_provider=provider)  # type: ignore[no-untyped-call]
    _provider = provider
    log.info("tracing to %s as ragbot-%s", settings.endpoint, service)
    return True


def shutdown_tracing() -> None:
    """Export what is buffered and stop (on shutdown)."""
    global _provider
    if _provider is not None:
        _provider.shutdown()
        _provider = None


@contextmanager
def span(name: str, **attributes: str | int | float | bool) -> Iterator[None]:
    """A span around a block when tracing is on; nothing otherwise."""
    if _provider is None:
        yield
        return
    from opentelemetry import trace

    with trace.get_tracer("ragbot").start_as_current_span(name, attributes=attributes):
        yield
