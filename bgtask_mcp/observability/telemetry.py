"""What the server counts and traces. ``Telemetry`` does nothing (stdio, tests); ``metrics.PrometheusTelemetry``
counts for ``/metrics``. Spans go through the OpenTelemetry API, which is a no-op until an SDK is installed
(``OTEL_EXPORTER_OTLP_ENDPOINT``), so an unobserved server pays nothing for them."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry import trace

tracer = trace.get_tracer("bgtask_mcp")


class Telemetry:
    """The no-op base: every hook the server calls."""

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        pass

    def dms_request(self, operation: str, status: str, attempts: int, seconds: float) -> None:
        pass

    def cache_event(self, event: str) -> None:
        pass

    def wait_started(self) -> None:
        pass

    def wait_finished(self) -> None:
        pass


NO_TELEMETRY = Telemetry()


class _Unrecorded:
    """What ``dms_span`` yields while no OpenTelemetry SDK is installed: attributes go nowhere."""

    def set_attribute(self, key: str, value: Any) -> None:
        pass


UNRECORDED = _Unrecorded()


@contextmanager
def dms_span(operation: str, method: str, path_template: str) -> Iterator[Any]:
    """One span per logical DMS request (its attempts included). Without an SDK (the API's proxy provider is
    still in place) no span is started at all: even a no-op span costs a context switch on every request."""
    if isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider):
        yield UNRECORDED
        return
    with tracer.start_as_current_span(
        f"DMS {operation}",
        kind=trace.SpanKind.CLIENT,
        attributes={"http.request.method": method, "url.template": path_template, "dms.operation": operation},
    ) as span:
        yield span
