"""Prometheus metrics for ``/metrics``: tool calls by tool and outcome, latency histograms, DMS requests by
operation and status, retries, cache hits and misses, waits in flight. One registry per server process."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bgtask_mcp.observability.telemetry import Telemetry
from bgtask_mcp.redaction import MASKING, REGISTRY

# no *_created series: Prometheus derives counter resets itself, and they double the output. They are left out
# of our exposition, without turning them off for the whole process (prometheus_client's switch is global).
CREATED_SERIES = re.compile(rb"^[a-zA-Z_:][a-zA-Z0-9_:]*_created(?:\{[^\n]*\})? [^\n]*\n", re.MULTILINE)
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)


class MaskingCollector(Collector):
    """Masking's cost and state, read when scraped (nothing per call beyond two clock reads in ``mask_text``):
    the time it took, how often it ran, and how many secret values it knows."""

    def collect(self) -> Iterator[Metric]:
        yield CounterMetricFamily("bgtask_masking_seconds", "Time spent masking text.", value=MASKING.seconds)
        yield CounterMetricFamily("bgtask_maskings", "Texts masked.", value=MASKING.calls)
        yield GaugeMetricFamily(
            "bgtask_known_secrets", "Secret values the masking knows by value.", value=len(REGISTRY)
        )


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
        r.register(MaskingCollector())
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def tool_call(self, tool: str, outcome: str, seconds: float) -> None:
        self._child(self.tool_calls, tool, outcome).inc()
        self._child(self.tool_seconds, tool).observe(seconds)

    def dms_request(self, operation: str, status: str, attempts: int, seconds: float) -> None:
        self._child(self.dms_requests, operation, status).inc()
        self._child(self.dms_seconds, operation).observe(seconds)
        if attempts > 1:
            self._child(self.dms_retries, operation).inc(attempts - 1)

    def cache_event(self, event: str) -> None:
        self._child(self.cache, event).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """``metric.labels(*labels)``, remembered: the label sets are few (tools, operations, outcomes, statuses),
        and looking one up is cheaper than prometheus_client's validation on every call."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def wait_started(self) -> None:
        self.waits.inc()

    def wait_finished(self) -> None:
        self.waits.dec()

    def exposition(self) -> bytes:
        return CREATED_SERIES.sub(b"", generate_latest(self.registry))
