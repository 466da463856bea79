"""list_changes through a real MCP client against the simulator over real HTTP: what changed on the fleet and who
did it, tasks, planned tasks and CTS traces merged and joined; partial answers; bounds; and the join rules
on tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from mcp import Client

from bgtask_mcp.changes import Filters, Fleet, Window, merge
from bgtask_mcp.dms.wire import WireTrace
from bgtask_mcp.models import Instance, Task
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env
from .test_server import error, ok

pytestmark = pytest.mark.anyio


def by_task(out: dict[str, Any], task_id: str) -> dict[str, Any]:
    return next(c for c in out["changes"] if c["task_id"] == task_id)


async def test_what_changed_in_two_regions_and_who_did_it(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_changes", region="eu-nl,eu-de", since="24h", limit=200)
    assert out["regions"] == ["eu-nl", "eu-de"] and out["partial"] == [] and out["simulated"] is True
    assert out["change_count"] == len(out["changes"]) > 20
    times = [c["time"] for c in out["changes"]]
    assert times == sorted(times, reverse=True)  # newest first, planned ones (in the future) on top
    # a task started by the service account, joined to the CTS trace of the request: the person who asked
    plugins = by_task(out, data.task_id("orders-mq/plugins"))
    assert plugins["source"] == "task" and plugins["trace_id"] and plugins["user"] == "ops-carol"
    assert plugins["source_ip"] and plugins["meaning"] == "Enables or disables RabbitMQ plugins."
    failed = by_task(out, data.FAILED_TASK_ID)
    assert failed["status"] == "FAILED" and failed["trace_id"] and failed["ended"]
    # its result record (modifyDMSInstanceInfoTaskFailure) is the same change, not a second one
    results = [c for c in out["changes"] if c["name"] == "modifyDMSInstanceInfoTaskFailure"]
    assert all(c["instance_id"] != data.KAFKA.id for c in results)
    # changes that run no task, from the audit trail, their meaning from the documented trace names
    topic = next(c for c in out["changes"] if c["name"] == "Kafka_create_topicSuccess")
    assert topic["source"] == "trace" and topic["meaning"] and topic["user"] == "ops-alice" and topic["task_id"] is None
    user = next(c for c in out["changes"] if c["name"] == "createUserSuccess")
    assert user["params"]["user_passwd"] == "***" and user["params"]["user_name"] == "app-consumer"
    refused = next(c for c in out["changes"] if c["name"] == "Kafka_create_topicFailure")
    assert refused["status"] == "FAILED" and refused["region"] == "eu-nl"
    planned = by_task(out, data.PLANNED_REASSIGN_ID)
    assert planned["source"] == "scheduled" and planned["status"] == "CREATED"
    assert datetime.fromisoformat(planned["time"].replace("Z", "+00:00")) > datetime.now(UTC)
    assert {c["instance_name"] for c in out["changes"]} >= {"prod-events", "orders-mq", "analytics-stream"}
    for marker in data.SEEDED_SECRETS:
        assert marker not in json.dumps(out)


async def test_filters_narrow_the_fleet_and_the_changes(mcp_client: Client, simulator: Simulator) -> None:
    nl = await ok(mcp_client, "list_changes", region="eu-nl", instance="PROD-events", limit=200)
    assert {c["instance_id"] for c in nl["changes"]} == {data.NL_EVENTS.id}
    assert simulator.stats()["GET traces"] == 1  # one instance: CTS asked for that resource only
    failed = await ok(mcp_client, "list_changes", region="eu-de", status="FAILED", limit=200)
    assert failed["changes"] and {c["status"] for c in failed["changes"]} == {"FAILED"}
    carol = await ok(mcp_client, "list_changes", region="eu-de", user="CAROL", limit=200)
    assert carol["changes"] and {c["user"] for c in carol["changes"]} == {"ops-carol"}
    rabbits = await ok(mcp_client, "list_changes", region="eu-de", engine="rabbitmq", limit=200)
    assert {c["engine"] for c in rabbits["changes"]} == {"rabbitmq"}


async def test_pages_continue_with_the_cursor(mcp_client: Client) -> None:
    first = await ok(mcp_client, "list_changes", region="eu-de", limit=5)
    assert len(first["changes"]) == 5 and first["next_cursor"]
    second = await ok(mcp_client, "list_changes", region="eu-de", limit=5, cursor=first["next_cursor"])
    ids = lambda page: {(c["task_id"], c["trace_id"]) for c in page["changes"]}  # noqa: E731
    assert len(second["changes"]) == 5 and not ids(first) & ids(second)
    bad = await error(mcp_client, "list_changes", region="eu-de", cursor="not-a-cursor!")
    assert "is not a next_cursor of list_changes" in bad and "Next step" in bad


async def test_cts_forbidden_in_one_region_is_partial(mcp_client: Client, simulator: Simulator) -> None:
    simulator.control("POST", "/_simulator/cts", {"region": "eu-nl", "forbidden": True})
    try:
        out = await ok(mcp_client, "list_changes", region="eu-nl,eu-de", limit=200)
    finally:
        simulator.control("POST", "/_simulator/cts", {"region": "eu-nl", "forbidden": False})
    (missing,) = out["partial"]
    assert missing["region"] == "eu-nl" and missing["part"] == "traces" and missing["instance_id"] is None
    assert "CTS.0013" in missing["error"] and "cts:trace" in missing["error"]
    sources = {(c["region"], c["source"]) for c in out["changes"]}
    assert ("eu-nl", "task") in sources and ("eu-de", "trace") in sources and ("eu-nl", "trace") not in sources


async def test_one_instance_failing_is_partial(mcp_client: Client, simulator: Simulator) -> None:
    simulator.faults({"kind": "forbidden", "path_contains": f"{data.NL_ANALYTICS.id}/tasks"})
    try:
        out = await ok(mcp_client, "list_changes", region="eu-nl", limit=200)
    finally:
        simulator.faults()
    (missing,) = out["partial"]
    assert missing["instance_id"] == data.NL_ANALYTICS.id and missing["part"] == "tasks"
    assert "DMS.00403003" in missing["error"]
    assert any(c["instance_id"] == data.NL_EVENTS.id and c["source"] == "task" for c in out["changes"])


async def test_the_deadline_keeps_what_was_read(simulator: Simulator) -> None:
    settings = fast_settings(sim_env(simulator))
    settings = settings.replace(limits=settings.limits.__class__(**{**settings.limits.__dict__, "call_deadline": 6.0}))
    simulator.faults({"kind": "hang", "path_contains": "/traces"})
    try:
        async with Client(build_server(settings)) as client:
            out = await ok(client, "list_changes", region="eu-nl", limit=200)
    finally:
        simulator.faults()
    assert [(p["part"], p["region"]) for p in out["partial"]] == [("traces", "eu-nl")]
    assert "deadline" in out["partial"][0]["error"]
    assert any(c["source"] == "task" for c in out["changes"])


async def test_never_more_in_flight_than_the_callers_share(simulator: Simulator) -> None:
    settings = fast_settings(sim_env(simulator, BGTASK_CALLER_CONCURRENCY="3"))
    simulator.faults({"kind": "latency", "latency_s": 0.05})
    progress: list[float] = []

    async def on_progress(value: float, total: float | None, message: str | None) -> None:
        progress.append(value)

    try:
        async with Client(build_server(settings)) as client:
            result = await client.call_tool("list_changes", {"region": "eu-de,eu-nl"}, progress_callback=on_progress)
    finally:
        simulator.faults()
    assert not result.is_error
    stats = simulator.stats()
    assert stats["all"] > 20 and stats["max_in_flight"] <= 3
    assert progress == sorted(progress) and len(progress) >= 4  # the parts read, counted as they finish


# -- the join rules, on tables ---------------------------------------------------------------------------------

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
WINDOW = Window(datetime(2026, 12, 4, 0, 0, tzinfo=UTC), NOW, open_ended=True)
A, B = "11111111-2222-4333-8444-555555555555", "66666666-7777-4888-9999-000000000000"
INSTANCES = {
    i: Instance.model_construct(instance_id=i, name=n, engine="kafka", region="r")
    for i, n in ((A, "events"), (B, "billing"))
}


def task(task_id: str, status: str = "SUCCESS", user: str = "paas_dms", at: str = "2026-12-04T10:00:00.000Z") -> Task:
    ended = "2026-12-04T10:05:00.000Z"
    return Task.model_construct(id=task_id, name="resizeInstance", user_name=user, user_id="u", params={},
                                status=status, created_at=at, updated_at=ended, schedule_at=None)  # fmt: skip


def trace(trace_id: str, name: str, minute: int, resource: str = A, job: str | None = None, user: str | None = "bob"
          ) -> WireTrace:  # fmt: skip
    millis = int(datetime(2026, 12, 4, 10, minute, tzinfo=UTC).timestamp() * 1000)
    response = json.dumps({"job_id": job}) if job else None
    return WireTrace(trace_id, name, "normal", "kafka", resource, "events", "198.51.100.7", '{"password": "x1"}',
                     response, "200", None, user, millis)  # fmt: skip


def fleet(tasks: dict[str, list[Task]], traces: list[WireTrace]) -> Fleet:
    found = Fleet("r", instances=dict(INSTANCES))
    for instance, items in tasks.items():
        found.tasks[instance] = items
    found.traces = traces
    return found


def test_a_job_id_joins_a_trace_and_its_result_to_the_task() -> None:
    changes = merge([fleet({A: [task("a" * 32)]}, [
        trace("t1", "extendDMSInstanceSuccess", 0, job="a" * 32),
        trace("t2", "extendDMSInstanceTaskSuccess", 5, user=None),
    ])], WINDOW, Filters())  # fmt: skip
    (change,) = changes
    assert (change.task_id, change.trace_id, change.user, change.source_ip) == ("a" * 32, "t1", "bob", "198.51.100.7")


def test_nothing_is_joined_by_guessing() -> None:
    changes = merge([fleet({A: [task("a" * 32)]}, [
        trace("t1", "extendDMSInstanceSuccess", 0),  # no job id: not the task, however close in time
        trace("t2", "extendDMSInstanceSuccess", 1),
        trace("t3", "extendDMSInstanceTaskSuccess", 5, user=None),  # two requests open: ambiguous
        trace("t4", "Kafka_create_topicSuccess", 6, resource=B),
    ])], WINDOW, Filters())  # fmt: skip
    assert {(c.source, c.task_id or c.trace_id) for c in changes} == {
        ("task", "a" * 32), ("trace", "t1"), ("trace", "t2"), ("trace", "t3"), ("trace", "t4")
    }  # fmt: skip
    topic = next(c for c in changes if c.trace_id == "t4")
    assert topic.instance_name == "billing" and topic.params == {"password": "***"} and topic.meaning


def test_filters_and_the_window() -> None:
    late = task("b" * 32, status="FAILED", user="ops-alice", at="2026-12-03T10:00:00.000Z")  # before the window
    changes = merge([fleet({A: [task("a" * 32, status="FAILED"), late]}, [])], WINDOW, Filters(frozenset({"FAILED"})))
    assert [c.task_id for c in changes] == ["a" * 32]
    assert merge([fleet({A: [task("a" * 32)]}, [])], WINDOW, Filters(user="alice")) == []
