"""The cloud as documented, through a real MCP client in both protocol eras: scheduled tasks (planned, cancelled,
and the only task API of an instance without /tasks), progress in steps, the running task of each instance,
instances that failed to be created, and the documented tables behind every word the product uses."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from mcp import Client

from bgtask_mcp import facts, vocabulary
from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.state import SimState

from .conftest import Simulator
from .test_server import ok

pytestmark = pytest.mark.anyio

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTED_STATUSES = {"CREATED", "EXECUTING", "SUCCESS", "FAILED", "DELETED", "CANCELLED"}


def in_future(stamp: str) -> bool:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")) > datetime.now(UTC)


# -- scheduled tasks -------------------------------------------------------------------------------------------


async def test_scheduled_tasks_answer_what_is_planned(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=data.KAFKA.id, scheduled=True)
    by_id = {t["id"]: t for t in out["tasks"]}
    planned, cancelled = by_id[data.PLANNED_REASSIGN_ID], by_id[data.CANCELLED_RESTART_ID]
    assert (
        planned["name"] == "partitionReassign" and planned["status"] == "CREATED" and in_future(planned["schedule_at"])
    )
    assert planned["params"]["throttle"] == 1048576  # decoded like any task's params
    assert cancelled["status"] == "CANCELLED" and not in_future(cancelled["schedule_at"])
    assert out["task_count"] == len(out["tasks"]) == 2
    ordinary = await ok(mcp_client, "list_background_tasks", instance_id=data.KAFKA.id, limit=100)
    assert all("schedule_at" not in t for t in ordinary["tasks"])  # left out when null: bytes on every page
    assert data.PLANNED_REASSIGN_ID not in {t["id"] for t in ordinary["tasks"]}


async def test_a_scheduled_task_is_found_by_id(mcp_client: Client, simulator: Simulator) -> None:
    out = await ok(mcp_client, "get_background_task", instance_id=data.KAFKA.id, task_id=data.PLANNED_REASSIGN_ID)
    task = out["tasks"][0]
    assert task["id"] == data.PLANNED_REASSIGN_ID and in_future(task["schedule_at"])
    assert "scheduled tasks" in out["note"] and out["progress"] is None
    stats = simulator.stats()
    assert stats["GET scheduled"] == 1 and stats.get("GET progress", 0) == 0  # planned: no progress to ask


async def test_scheduled_filters_bound_the_schedule(mcp_client: Client) -> None:
    out = await ok(
        mcp_client,
        "list_background_tasks",
        instance_id=data.KAFKA.id,
        scheduled=True,
        begin_time="1h",
        status="CREATED",
    )
    assert [t["id"] for t in out["tasks"]] == [data.PLANNED_REASSIGN_ID]


async def test_an_instance_without_the_tasks_api_answers_from_its_scheduled_tasks(mcp_client: Client) -> None:
    listed = await ok(mcp_client, "list_background_tasks", instance_id=data.NL_ROCKET.id, region="eu-nl")
    assert "DMS.00404001" in listed["note"] and "scheduled tasks were read instead" in listed["note"]
    assert {t["name"] for t in listed["tasks"]} == {"restartInstance", "resizeInstance"}
    assert all(t["schedule_at"] for t in listed["tasks"])
    found = await ok(
        mcp_client, "get_background_task", instance_id=data.NL_ROCKET.id, task_id=data.NL_ROCKET_PLANNED_ID,
        region="eu-nl",
    )  # fmt: skip
    assert found["tasks"][0]["status"] == "CREATED" and "DMS.00404001" in found["note"]
    filtered = await ok(
        mcp_client, "list_background_tasks", instance_id=data.NL_ROCKET.id, region="eu-nl", name="restartInstance"
    )
    assert [t["status"] for t in filtered["tasks"]] == ["SUCCESS"] and "DMS.00404001" in filtered["note"]


# -- progress in steps -------------------------------------------------------------------------------------------


async def test_a_running_scale_out_comes_with_its_steps(mcp_client: Client, simulator: Simulator) -> None:
    task = simulator.create_task(
        instance_id=data.KAFKA.id, name="resizeInstance", manual=True, progress_steps=data.SCALE_OUT_STEPS
    )
    simulator.steer(task, status="EXECUTING", progress=60)
    out = await ok(mcp_client, "get_background_task", instance_id=data.KAFKA.id, task_id=task)
    progress = out["progress"]
    assert progress["percentage"] == 60 and isinstance(progress["remain_seconds"], int)
    assert [(s["name"], s["status"]) for s in progress["steps"]] == [
        ("pre_check", "COMPLETED"),
        ("broker_expansion", "COMPLETED"),
        ("disk_expansion", "IN_PROGRESS"),
        ("post_check", "WAITING"),
    ]
    first, running, waiting = progress["steps"][0], progress["steps"][2], progress["steps"][3]
    assert first["started_at"] < first["ended_at"] and running["ended_at"] is None
    assert waiting["started_at"] is None and waiting["ended_at"] is None
    finished = await ok(mcp_client, "get_background_task", instance_id=data.KAFKA.id, task_id=data.EXAMPLE_TASK_ID)
    assert finished["progress"] is None


async def test_progress_is_never_asked_of_rabbitmq_once_its_engine_is_known(
    mcp_client: Client, simulator: Simulator
) -> None:
    task = simulator.create_task(instance_id=data.RABBITMQ.id, name="rabbitmqPluginModify", manual=True)
    nl_task = simulator.create_task(instance_id=data.NL_BILLING.id, name="rabbitmqPluginModify", manual=True)
    out = await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task)
    assert out["tasks"][0]["status"] == "CREATED" and out["progress"] is None
    assert simulator.stats()["GET progress"] == 1  # engine unknown: asked once, DMS.00404001 remembered
    await ok(mcp_client, "list_instances", name="billing-mq", region="eu-nl")  # names the engine
    simulator.reset()
    await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task)
    await ok(mcp_client, "get_background_task", instance_id=data.NL_BILLING.id, task_id=nl_task, region="eu-nl")
    stats = simulator.stats()  # the eu-nl task was read (its first read), its progress never asked
    assert (
        stats.get("GET progress", 0) == 0
        and stats[f"GET /v2/{data.EU_NL.project_id}/instances/{data.NL_BILLING.id}/tasks/{nl_task}"] == 1
    )


# -- instances ---------------------------------------------------------------------------------------------------


async def test_instances_show_their_running_task_and_failed_creations(mcp_client: Client, simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=data.SCRATCH.id, name="kafkaConfigModify", manual=True)
    simulator.steer(task, status="EXECUTING")
    out = await ok(mcp_client, "list_instances", engine="kafka", limit=100)
    by_name = {i["name"]: i for i in out["instances"] if i["region"] == "eu-de"}
    current = by_name["scratch-events"]["current_task"]
    assert current["name"] == "kafkaConfigModify" and current["status"] == "EXECUTING"
    assert current["started_at"].endswith("Z")
    assert by_name["events-staging"]["status"] == "CREATEFAILED"  # shown because include_failure=true is sent
    assert by_name["old-prod-events"]["current_task"] is None
    simulator.steer(task, status="SUCCESS")


# -- the documented tables ---------------------------------------------------------------------------------------


def test_every_fact_names_its_source() -> None:
    for table in (
        "error_codes",
        "task_statuses",
        "step_statuses",
        "task_names",
        "instance_statuses",
        "trace_names",
        "dms_operations",
    ):
        for row in facts.rows(table):
            assert row["source"].strip(), (table, row)
    assert set(facts.task_statuses()) == DOCUMENTED_STATUSES
    assert set(facts.step_statuses()) == {"COMPLETED", "IN_PROGRESS", "FAILED", "WAITING"}
    undocumented_advice = [code for code in facts.advice() if code not in facts.error_codes()]
    assert not undocumented_advice


def test_the_glossary_explains_only_what_a_source_explains() -> None:
    glossary = json.loads(json.dumps(vocabulary.glossary()))
    for name, entry in glossary["task_names"].items():
        if entry["source"] == facts.UNDOCUMENTED:
            assert entry["does"] == vocabulary.UNDOCUMENTED_NAME and "params" not in entry, name
        else:
            assert entry["does"] and entry["does"] != vocabulary.UNDOCUMENTED_NAME, name
    assert glossary["task_names"]["resizeInstance"]["source"] == facts.UNDOCUMENTED
    assert "kafkaConfigModify" in glossary["found_by_name"] and "modifyAutoTopic" not in glossary["found_by_name"]
    assert {"CREATEFAILED", "FROZEN", "ROLLINGBACK"} <= set(glossary["instance_statuses"])
    assert all(entry["source"] for entry in glossary["statuses"].values())


def test_the_simulator_serves_only_documented_words() -> None:
    state = SimState.seeded()
    now = state.started + 3600
    every = [*state.tasks.values(), *state.scheduled.values()]
    assert {state.status_of(t, now) for t in every} <= DOCUMENTED_STATUSES
    assert {t.name for t in every} <= set(facts.task_names())  # undocumented ones are marked so in the table
    assert {i.status for i in data.INSTANCES} <= set(facts.instance_statuses())
    cancelled = {t.id for t in state.tasks.values() if state.status_of(t, now) == "CANCELLED"}
    assert not cancelled  # CANCELLED lives among scheduled tasks only
    for step in (s for t in every if t.progress_steps for s in state.steps(t, now)):
        assert step["statue"] in facts.step_statuses()


def test_the_simulator_answers_only_documented_codes() -> None:
    source = "\n".join(p.read_text() for p in (ROOT / "bgtask_mcp" / "simulator").glob("*.py"))
    used = set(re.findall(r'error\("([A-Z]+\.\d+)"', source))
    assert used and used <= set(facts.error_codes()), used - set(facts.error_codes())
    assert "DMS.00400001" not in source  # appears in no official table
