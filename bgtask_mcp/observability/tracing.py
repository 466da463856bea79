"""OpenTelemetry export: with ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the spans of every MCP request (the SDK's
own middleware) and of every DMS request under it (``telemetry.dms_span``) go to that collector over OTLP/HTTP.
Unset, nothing is installed: the OpenTelemetry API stays a no-op and costs nothing measurable (see the bench).

The exporter reads the standard ``OTEL_*`` variables itself (endpoint, headers, ``OTEL_SERVICE_NAME``...).
"""

from __future__ import annotations

from typing import Any

from bgtask_mcp.redaction import get_logger

log = get_logger("bgtask_mcp.observability.tracing")


def start_tracing(endpoint: str | None, service_name: str = "bgtask-mcp") -> Any:
    """Install the SDK's tracer provider with an OTLP exporter; returns it (to shut down), or None."""
    if not endpoint:
        return None
    from opentelemetry import trace
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from bgtask_mcp import __version__

    attributes = {"service.version": __version__, "service.name": service_name}  # OTEL_SERVICE_NAME, via settings
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))
    trace.set_tracer_provider(provider)
    log.info("exporting traces over OTLP to %s", endpoint)
    return provider
