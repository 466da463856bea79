"""Metrics and traces of a team service: /metrics scraped from a real server process (Prometheus text format),
and the spans of an MCP call and of the DMS requests under it, captured with the OpenTelemetry SDK's in-memory
exporter."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx2
import pytest
from mcp import Client
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from prometheus_client.parser import text_string_to_metric_families

from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, fast_settings, sim_env
from .servers import HttpServer, call_tool, start_server

pytestmark = pytest.mark.anyio

TOKEN = "observability-test-token-0d6f2c9b8a1e4f37"
KAFKA = data.KAFKA.id


@pytest.fixture(scope="module")
def server(simulator_process: Simulator) -> Iterator[HttpServer]:
    srv = start_server("observability-server.log", clean_env(**sim_env(simulator_process), BGTASK_HTTP_TOKEN=TOKEN))
    try:
        yield srv
    finally:
        srv.stop()


def scrape(server: HttpServer) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    answer = httpx2.get(server.base + "/metrics", timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float] = {}
    for family in text_string_to_metric_families(answer.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_calls_dms_requests_retries_and_the_cache(server: HttpServer, simulator: Simulator) -> None:
    before = scrape(server)
    task = simulator.create_task(instance_id=data.SCRATCH.id, manual=True)
    simulator.steer(task, status="SUCCESS", progress=100)  # finished: the second read is a cache hit
    simulator.faults({"kind": "throttle", "path_contains": "/tasks/", "count": 1})
    args = {"instance_id": data.SCRATCH.id, "task_id": task}
    assert not call_tool(server, TOKEN, "get_background_task", args).get("isError")  # one retry after the throttle
    assert not call_tool(server, TOKEN, "get_background_task", args).get("isError")  # finished: from the cache
    missing = {"instance_id": "00000000-0000-4000-8000-000000000000", "task_id": task}
    assert call_tool(server, TOKEN, "get_background_task", missing)["isError"] is True
    after = scrape(server)

    def grew(name: str, by: float = 1, **labels: str) -> None:
        assert value(after, name, **labels) - value(before, name, **labels) >= by, (name, labels)

    grew("bgtask_tool_calls_total", 2, tool="get_background_task", outcome="ok")
    grew("bgtask_tool_calls_total", tool="get_background_task", outcome="APIError")
    grew("bgtask_tool_call_seconds_count", 3, tool="get_background_task")
    grew("bgtask_dms_requests_total", operation="ShowBackgroundTask", status="200")
    grew("bgtask_dms_requests_total", operation="ShowBackgroundTask", status="404")
    grew("bgtask_dms_retries_total", operation="ShowBackgroundTask")
    grew("bgtask_cache_events_total", event="miss")
    grew("bgtask_cache_events_total", event="hit")
    assert value(after, "bgtask_waits_in_flight") == 0


def test_metrics_can_be_turned_off(simulator: Simulator) -> None:
    off = start_server("observability-off.log", clean_env(**sim_env(simulator), BGTASK_METRICS="off"))
    try:
        assert httpx2.get(off.base + "/metrics", timeout=10).status_code == 404
        assert httpx2.get(off.base + "/healthz", timeout=10).status_code == 200
    finally:
        off.stop()


# -- traces ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        provider = TracerProvider()
        trace.set_tracer_provider(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def test_a_span_for_the_call_and_one_for_each_dms_request_under_it(
    simulator: Simulator, spans: InMemorySpanExporter
) -> None:
    spans.clear()
    simulator.faults({"kind": "busy", "path_contains": "/tasks/", "count": 1})
    async with Client(build_server(fast_settings(sim_env(simulator)))) as client:
        result = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": data.FAILED_TASK_ID})
    assert not result.is_error
    finished = spans.get_finished_spans()
    calls = [s for s in finished if s.name == "tools/call get_background_task"]
    dms = [s for s in finished if s.name == "DMS ShowBackgroundTask"]
    assert len(calls) == 1 and len(dms) == 1
    request = dms[0]
    assert request.kind == trace.SpanKind.CLIENT and calls[0].kind == trace.SpanKind.SERVER
    assert request.parent is not None and request.context.trace_id == calls[0].context.trace_id
    attributes = dict(request.attributes or {})
    assert attributes["http.request.method"] == "GET"
    assert attributes["url.template"] == "/v2/{project_id}/instances/{instance_id}/tasks/{task_id}"
    assert attributes["http.response.status_code"] == "200" and attributes["dms.attempts"] == 2
    assert re.fullmatch(r"[0-9a-f]{32}", str(attributes["dms.request_id"]))
    assert data.SIM_SECRET_KEY not in str([s.to_json() for s in finished])
