"""bgtask-mcp over stdio with its tracing changed, for the tracing section of the bench:

    python -m bench.tracing_server untraced   # no span code at all: no SDK middleware, no DMS span
    python -m bench.tracing_server traced     # the OpenTelemetry SDK installed, spans batched to an exporter
                                              # that discards them (what OTLP export costs in the server)

As shipped (``python -m bgtask_mcp serve`` without OTEL_EXPORTER_OTLP_ENDPOINT) sits between the two.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator, Sequence
from typing import Any


def untraced() -> None:
    from opentelemetry import trace

    import bgtask_mcp.dms.client as client
    import bgtask_mcp.server as server

    @contextlib.contextmanager
    def no_span(*_: Any, **__: Any) -> Iterator[Any]:
        yield trace.INVALID_SPAN

    client.dms_span = no_span  # type: ignore[assignment]
    build = server.build_server

    def build_untraced(*args: Any, **kwargs: Any) -> Any:
        mcp = build(*args, **kwargs)
        mcp.middleware[:] = [m for m in mcp.middleware if type(m).__name__ != "OpenTelemetryMiddleware"]
        return mcp

    server.build_server = build_untraced  # type: ignore[assignment]


def traced() -> None:
    from opentelemetry import trace
    from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    class Discard(SpanExporter):
        def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(BatchSpanProcessor(Discard()))
    trace.set_tracer_provider(provider)


def main(argv: list[str]) -> int:
    {"untraced": untraced, "traced": traced}[argv[0]]()
    from bgtask_mcp.cli import main as serve

    return serve(["serve"])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
