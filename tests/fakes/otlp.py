"""A fake OpenTelemetry Collector: OTLP/HTTP `POST /v1/traces` with protobuf bodies, as the SDK's exporter sends them.

It decodes each `ExportTraceServiceRequest` with the protocol's own message classes (opentelemetry-proto) and
keeps the spans, each with its service name, so a test can follow one trace across processes.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from tests.fakes.local_server import LocalHttpServer


@dataclass(frozen=True)
class ExportedSpan:
    service: str
    name: str
    trace_id: str
    span_id: str
    parent_span_id: str
    attributes: dict[str, str]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        fake: FakeCollector = self.server.fake  # type: ignore[attr-defined]
        if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
            self.send_response(415 if self.path == "/v1/traces" else 404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        request = ExportTraceServiceRequest()
        request.ParseFromString(raw)
        fake._receive(request)
        body = ExportTraceServiceResponse().SerializeToString()
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class FakeCollector(LocalHttpServer):
    """OTLP/HTTP traces receiver on 127.0.0.1; `url` is the endpoint base (the exporter appends /v1/traces)."""

    def __init__(self) -> None:
        super().__init__(_Handler, name="fake-otlp")
        self._spans: list[ExportedSpan] = []
        self._cond = threading.Condition()

    def spans(self) -> list[ExportedSpan]:
        with self._cond:
            return list(self._spans)

    def wait_for(self, name: str, *, count: int = 1, timeout: float = 20.0) -> list[ExportedSpan]:
        """The spans called `name`, once `count` have arrived."""
        with self._cond:
            if not self._cond.wait_for(lambda: len([s for s in self._spans if s.name == name]) >= count, timeout):
                seen = sorted({s.name for s in self._spans})
                raise AssertionError(f"no {count} span(s) named {name!r} within {timeout}s; seen: {seen}")
            return [s for s in self._spans if s.name == name]

    def _receive(self, request: ExportTraceServiceRequest) -> None:
        found = []
        for resource_spans in request.resource_spans:
            attributes = {a.key: a.value.string_value for a in resource_spans.resource.attributes}
            service = attributes.get("service.name", "")
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    found.append(
                        ExportedSpan(
                            service=service,
                            name=s.name,
                            trace_id=s.trace_id.hex(),
                            span_id=s.span_id.hex(),
                            parent_span_id=s.parent_span_id.hex(),
                            attributes={a.key: a.value.string_value for a in s.attributes},
                        )
                    )
        with self._cond:
            self._spans.extend(found)
            self._cond.notify_all()
