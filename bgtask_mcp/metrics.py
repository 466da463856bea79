"""Prometheus metrics for ``/metrics``: tool calls by tool and outcome, latency histograms, DMS requests by
operation and status, retries, cache hits and misses, waits in flight. One registry per server process."""

from __future__ import annotations

import re

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from bgtask_mcp.telemetry import Telemetry

# no *_created series: Prometheus derives counter resets itself, and they double the output. They are left out
# of our exposition, without turning them off for the whole process (prometheus_client's switch is global).
CREATED_SERIES = re.compile(rb"^[a-zA-Z_:][a-zA-Z0-9_:]*_created(?:\{[^\n]*\})? [^\n]*\n", re.MULTILINE)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class PrometheusTelemetry(Telemetry):
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.tool_calls = Counter(
            "bgtask_tool_calls", "Tool calls by tool and outcome.", ["tool", "outcome"], registry=r
        )
        self.tool_seconds = Histogram(
            "bgtask_tool_call_seconds", "Tool call duration.", ["tool"], buckets=LATENCY_BUCKETS, registry=r
        )
        self.dms_requests = Counter(
            "bgtask_dms_requests",
            "Logical DMS requests by operation and final status.",
            ["operation", "status"],
            registry=r,
        )
        self.dms_seconds = Histogram(
            "bgtask_dms_request_seconds",
            "DMS request duration, retries included.",
            ["operation"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.dms_retries = Counter("bgtask_dms_retries", "HTTP attempts beyond the first.", ["operation"], registry=r)
        self.cache = Counter("bgtask_cache_events", "Task cache lookups by result.", ["event"], registry=r)
        self.waits = Gauge("bgtask_waits_in_flight", "wait_for_background_task calls running now.", registry=r)

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self.tool_calls.labels(tool, outcome).inc()
        self.tool_seconds.labels(tool).observe(seconds)

    def dms_request(self, operation: str, status: str, attempts: int, seconds: float) -> None:
        self.dms_requests.labels(operation, status).inc()
        self.dms_seconds.labels(operation).observe(seconds)
        if attempts > 1:
            self.dms_retries.labels(operation).inc(attempts - 1)

    def cache_event(self, event: str) -> None:
        self.cache.labels(event).inc()

    def wait_started(self) -> None:
        self.waits.inc()

    def wait_finished(self) -> None:
        self.waits.dec()

    def exposition(self) -> bytes:
        return CREATED_SERIES.sub(b"", generate_latest(self.registry))
