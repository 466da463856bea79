"""The tools through a real MCP client in both protocol eras (in process), against the simulator process over
real loopback HTTP: what a model sees, for successes, every kind of bad input, waits, caching, resources,
prompts and completions. Waits run on a manual clock that the test advances: nothing races real time."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.types import CallToolResult, PromptReference, ResourceTemplateReference, TextContent

from bgtask_mcp.config import load_settings
from bgtask_mcp.dms.signer import AkSkSigner
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, region_env, sim_env, start_simulator_process
from .support import ManualClock

pytestmark = pytest.mark.anyio

KAFKA = data.KAFKA.id
ARCHIVE = data.ARCHIVE.id
UNKNOWN_INSTANCE = "00000000-0000-4000-8000-000000000000"
TOOLS = {"list_changes", "list_instances", "get_background_task", "list_background_tasks", "wait_for_background_task"}


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    assert json.loads(text_of(result)) == result.structured_content  # the text block is the same JSON, compact
    return result.structured_content


async def error(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return text_of(result)


def path_of(instance: str, task: str) -> str:
    return f"GET /v2/{data.SIM_PROJECT_ID}/instances/{instance}/tasks/{task}"


# -- discovery -------------------------------------------------------------------------------------------------


async def test_tools_are_listed_with_annotations_and_schemas(mcp_client: Client) -> None:
    tools = {t.name: t for t in (await mcp_client.list_tools()).tools}
    assert set(tools) == TOOLS
    for tool in tools.values():
        assert tool.title and tool.description and len(tool.description) > 100
        assert tool.annotations is not None and tool.annotations.read_only_hint is True
        assert tool.annotations.open_world_hint is True and tool.annotations.destructive_hint is False
        assert tool.output_schema is not None and "$defs" not in json.dumps(tool.output_schema)  # inlined
        for name, prop in tool.input_schema["properties"].items():
            branch = next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), {})
            assert bool(prop.get("description")) != bool(branch.get("description")), (tool.name, name)  # once
    assert tools["get_background_task"].annotations.idempotent_hint is True  # type: ignore[union-attr]
    assert tools["wait_for_background_task"].annotations.idempotent_hint is False  # type: ignore[union-attr]
    get = tools["get_background_task"].input_schema
    assert list(get["properties"]) == ["instance_id", "task_id", "region", "project_id"]
    assert get["required"] == ["instance_id", "task_id"]
    assert get["properties"]["instance_id"]["maxLength"] == get["properties"]["task_id"]["maxLength"] == 64
    assert get["properties"]["region"]["anyOf"][0]["description"].endswith("null: eu-de.")
    task = tools["get_background_task"].output_schema["properties"]["tasks"]["items"]  # type: ignore[index]
    assert list(task["properties"]) == [
        "id",
        "name",
        "user_name",
        "user_id",
        "params",
        "status",
        "created_at",
        "updated_at",
        "schedule_at",
    ]
    assert "description" not in task["properties"]["created_at"]  # nested fields by name: the budget
    assert "description" in tools["get_background_task"].output_schema["properties"]["task_count"]  # type: ignore[index]
    assert list(tools["list_background_tasks"].input_schema["properties"])[7] == "scheduled"


async def test_optional_arguments_accept_null_for_the_default(mcp_client: Client) -> None:
    out = await ok(
        mcp_client,
        "list_background_tasks",
        instance_id=ARCHIVE,
        start=None,
        limit=None,
        begin_time=None,
        region=None,
        project_id=None,
    )
    assert (out["start"], out["limit"], len(out["tasks"])) == (1, 10, 10)


async def test_server_instructions_explain_the_path_from_a_name(mcp_client: Client) -> None:
    instructions = mcp_client.instructions
    assert instructions is not None
    assert mcp_client.server_info is not None and mcp_client.server_info.name == "bgtask-mcp"
    for name in (*TOOLS, "dms://glossary", "instance name -> instance_id -> task", "default region is eu-de"):
        assert name in instructions


# -- get_background_task -------------------------------------------------------------------------------------


async def test_get_returns_typed_task_with_decoded_params(mcp_client: Client) -> None:
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["task_count"] == 1 and isinstance(out["task_count"], int)
    assert out["simulated"] is True and out["region"] == "eu-de"
    task = out["tasks"][0]
    assert (task["id"], task["name"], task["status"], task["user_name"]) == (
        data.EXAMPLE_TASK_ID,
        "bindInstancePublicIp",
        "SUCCESS",
        "paas_dms",
    )
    assert task["params"] == {
        "public_ip_id": "1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f",
        "public_ip_address": "100.93.2.18",
        "enable_public_ip": True,
    }
    assert task["created_at"].endswith("Z") and task["updated_at"] > task["created_at"]


async def test_get_masks_secrets_and_keeps_odd_params(mcp_client: Client) -> None:
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.PASSWORD_TASK_ID)
    params = out["tasks"][0]["params"]
    assert params["new_password"] == "***" and params["sasl.jaas.config"] == "***"
    assert "Sup3r-S3cret!" not in json.dumps(out)
    reset = await ok(
        mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.task_id("prod-events/resetOffset")
    )
    assert reset["tasks"][0]["params"]["topic"] == "[topic-1]"
    assert reset["tasks"][0]["params"]["trace_id"] == "123456789012345678901234567890"
    assert reset["tasks"][0]["status"] == "DELETED"


async def test_every_seeded_secret_shape_is_masked(mcp_client: Client) -> None:
    listed = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, limit=100)
    seeded = {data.task_id(f"secrets/{n}") for n in range(len(data.SECRET_PARAMS))}
    shown = {t["id"] for t in listed["tasks"]}
    assert seeded <= shown  # every shape was read and answered
    for marker in data.SEEDED_SECRETS:
        assert marker not in json.dumps(listed), marker


async def test_project_id_can_be_given_explicitly(mcp_client: Client) -> None:
    out = await ok(
        mcp_client,
        "get_background_task",
        instance_id=KAFKA,
        task_id=data.EXAMPLE_TASK_ID,
        project_id=data.SIM_PROJECT_ID.upper(),
    )
    assert out["tasks"][0]["id"] == data.EXAMPLE_TASK_ID


async def test_ids_differing_only_in_case_are_one_cache_entry(mcp_client: Client, simulator: Simulator) -> None:
    for instance, task in ((KAFKA, data.FAILED_TASK_ID), (KAFKA.upper(), data.FAILED_TASK_ID.upper())):
        out = await ok(mcp_client, "get_background_task", instance_id=instance, task_id=task)
        assert out["tasks"][0]["id"] == data.FAILED_TASK_ID
    assert simulator.stats()[path_of(KAFKA, data.FAILED_TASK_ID)] == 1


@pytest.mark.parametrize(
    ("field", "value", "kind"),
    [
        ("instance_id", "", "instance"),
        ("instance_id", "../../v3/auth", "instance"),
        ("instance_id", "a" * 65, "instance"),
        ("task_id", "abc def", "task"),
        ("task_id", "8abfa7b2%2F", "task"),
        ("task_id", "tâche", "task"),
        ("project_id", "proj/../x", "project"),
    ],
)
async def test_implausible_ids_are_refused_before_any_request(
    mcp_client: Client, simulator: Simulator, field: str, value: str, kind: str
) -> None:
    text = await error(
        mcp_client, "get_background_task", **{"instance_id": KAFKA, "task_id": data.EXAMPLE_TASK_ID, field: value}
    )
    assert f"{field} " in text and f"is not a DMS {kind} id" in text and "no request was sent" in text
    assert "Next step: " in text
    assert simulator.stats().get("all", 0) == 0


async def test_unknown_instance_names_code_request_id_and_next_step(mcp_client: Client) -> None:
    text = await error(mcp_client, "get_background_task", instance_id=UNKNOWN_INSTANCE, task_id=data.EXAMPLE_TASK_ID)
    assert "HTTP 404" in text and "DMS.00404022" in text and "This instance does not exist." in text
    assert "X-Request-Id: " in text and "X-Request-Id: none" not in text
    assert "list_instances" in text


async def test_unknown_task_is_a_clear_error(mcp_client: Client) -> None:
    text = await error(mcp_client, "get_background_task", instance_id=KAFKA, task_id="f" * 32)
    assert "no task ffffffff" in text and "list_background_tasks" in text


async def test_wrong_secret_key_is_a_401_with_advice(simulator: Simulator, mode: str) -> None:
    settings = fast_settings(sim_env(simulator, BGTASK_SECRET_KEY="WRONG-FAKE-SECRET-KEY-000000000000"))
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "HTTP 401" in text and "APIG.0301" in text and "BGTASK_ACCESS_KEY" in text and "clock" in text
    assert "WRONG-FAKE-SECRET-KEY" not in text
    assert simulator.stats()["all"] == 1  # a 401 is never retried: retries would lock the key


async def test_with_nothing_configured_one_message_names_everything_missing(mode: str) -> None:
    async with Client(build_server(load_settings({})), mode=mode) as client:  # type: ignore[arg-type]
        assert {t.name for t in (await client.list_tools()).tools} == TOOLS
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    for needed in (
        "BGTASK_REGION",
        "BGTASK_ENDPOINT",
        "BGTASK_ACCESS_KEY",
        "BGTASK_SECRET_KEY",
        "OS_CLOUD",
        "--simulator",
    ):
        assert needed in text, needed


async def test_no_credentials_says_what_to_set(mode: str) -> None:
    async with Client(build_server(load_settings({"BGTASK_REGION": "eu-de"})), mode=mode) as client:  # type: ignore[arg-type]
        text = await error(client, "list_instances")
    assert "BGTASK_ACCESS_KEY" in text and "--simulator" in text and "BGTASK_REGION" not in text


async def test_an_endpoint_without_a_region_needs_a_project_id(simulator: Simulator) -> None:
    env = {
        "BGTASK_ENDPOINT": simulator.url,
        "BGTASK_ACCESS_KEY": data.SIM_ACCESS_KEY,
        "BGTASK_SECRET_KEY": data.SIM_SECRET_KEY,
    }
    async with Client(build_server(fast_settings(env))) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "no region to look it up by" in text and "BGTASK_PROJECT_ID" in text
    async with Client(build_server(fast_settings({**env, "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID}))) as client:
        await ok(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)


async def test_iam_token_mode_and_expired_static_token(simulator: Simulator) -> None:
    env = {**region_env(simulator), "BGTASK_REGION": "eu-de", "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID}
    async with Client(build_server(fast_settings({**env, "BGTASK_IAM_TOKEN": data.SIM_IAM_TOKEN}))) as client:
        out = await ok(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
        assert out["tasks"][0]["id"] == data.EXAMPLE_TASK_ID
    async with Client(build_server(fast_settings({**env, "BGTASK_IAM_TOKEN": data.SIM_EXPIRED_IAM_TOKEN}))) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "APIG.0307" in text and "BGTASK_IAM_TOKEN has expired" in text
    assert data.SIM_EXPIRED_IAM_TOKEN not in text


async def test_server_keeps_answering_after_errors(mcp_client: Client) -> None:
    for _ in range(3):
        await error(mcp_client, "get_background_task", instance_id=UNKNOWN_INSTANCE, task_id="f" * 32)
        await error(mcp_client, "get_background_task", instance_id="bad id", task_id="f" * 32)
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["tasks"][0]["status"] == "SUCCESS"


# -- list_background_tasks -------------------------------------------------------------------------------------


async def test_list_pages_through_a_long_history(mcp_client: Client) -> None:
    first = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, limit=100)
    assert first["task_count"] == 250 and len(first["tasks"]) == 100 and first["next_start"] == 101
    created = [t["created_at"] for t in first["tasks"]]
    assert created == sorted(created, reverse=True)  # newest first
    last = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, start=201, limit=100)
    assert len(last["tasks"]) == 50 and last["next_start"] is None
    assert len({t["id"] for t in first["tasks"]} | {t["id"] for t in last["tasks"]}) == 150


async def test_list_default_page_is_ten(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE)
    assert len(out["tasks"]) == 10 and out["start"] == 1 and out["limit"] == 10 and out["next_start"] == 11


async def test_a_ten_task_page_reads_no_larger_than_the_api_answer(mode: str) -> None:
    """The text a model reads for a page of 10 seeded tasks (params decoded) costs no more bytes than DMS's own
    compact JSON of the same page (params still a JSON string). A fresh simulator: other tests add tasks."""
    sim = start_simulator_process()
    try:
        async with Client(build_server(fast_settings(sim_env(sim))), mode=mode) as client:
            for instance in (KAFKA, ARCHIVE):
                result = await client.call_tool("list_background_tasks", {"instance_id": instance, "limit": 10})
                assert not result.is_error and len(result.structured_content["tasks"]) == 10  # type: ignore[index]
                signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
                async with httpx2.AsyncClient(auth=signer, headers={"Content-Type": "application/json"}) as direct:
                    path = f"/v2/{data.SIM_PROJECT_ID}/instances/{instance}/tasks"
                    answer = await direct.get(sim.url + path, params={"start": 1, "limit": 10})
                api_bytes = len(json.dumps(answer.json(), separators=(",", ":"), ensure_ascii=False).encode())
                assert len(text_of(result).encode()) <= api_bytes, instance
    finally:
        sim.process.terminate()
        sim.process.wait(timeout=10)


async def test_list_filter_by_name_finds_latest_without_job_id(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, name="bindinstancepublicip", limit=1)
    assert [t["id"] for t in out["tasks"]] == [data.EXAMPLE_TASK_ID]
    assert "name=" in (out["note"] or "")


async def test_list_filters_page_through_the_api(mcp_client: Client, simulator: Simulator) -> None:
    # every 6th archive task (i % 6 == 3) is FAILED: 42 of 250, spread over three API pages
    out = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, status="failed", limit=100)
    assert len(out["tasks"]) == 42 and all(t["status"] == "FAILED" for t in out["tasks"])
    assert out["next_start"] is None and out["scanned"] == 250 and out["task_count"] == 250
    assert simulator.stats()["GET list"] == 3
    page = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, status="FAILED", limit=5)
    assert len(page["tasks"]) == 5 and page["next_start"] is not None
    more = await ok(
        mcp_client, "list_background_tasks", instance_id=ARCHIVE, status="FAILED", limit=5, start=page["next_start"]
    )
    assert {t["id"] for t in more["tasks"]}.isdisjoint({t["id"] for t in page["tasks"]})
    assert [t["id"] for t in page["tasks"] + more["tasks"]] == [t["id"] for t in out["tasks"][:10]]


async def test_list_filter_by_name_and_status_together(mcp_client: Client) -> None:
    both = await ok(
        mcp_client, "list_background_tasks", instance_id=ARCHIVE, name="restartInstance", status="SUCCESS", limit=100
    )
    assert both["tasks"] and all(t["name"] == "restartInstance" and t["status"] == "SUCCESS" for t in both["tasks"])
    running = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, status="RUNNING", limit=10)
    assert running["tasks"] == []


@pytest.mark.parametrize("window", ["7h", "dms", "iso"])
async def test_list_time_window_formats(mcp_client: Client, window: str) -> None:
    from datetime import UTC, datetime, timedelta

    since = datetime.now(UTC) - timedelta(hours=7)  # seeded tasks sit relative to the simulator's start
    begin = {"7h": "7h", "dms": since.strftime("%Y%m%d%H%M%S"), "iso": since.astimezone().isoformat()}[window]
    out = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, begin_time=begin, limit=100)
    names = {t["name"] for t in out["tasks"]}
    assert {"bindInstancePublicIp", "changeRetentionPolicy", "modifyAutoTopic"} <= names
    assert "kafkaConfigModify" not in names  # 26 hours old and more
    assert out["task_count"] == len(out["tasks"])


async def test_list_end_time_excludes_newer_tasks(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, end_time="24h", limit=100)
    assert out["tasks"] and all(t["name"] != "bindInstancePublicIp" for t in out["tasks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"begin_time": "yesterday-ish"}, "cannot read the time 'yesterday-ish'"),
        ({"begin_time": "20261399000000"}, "not a real date and time"),
        ({"begin_time": "0001-01-01T00:00:00+01:00"}, "outside 1970-01-01 to 9999-12-31"),
        ({"end_time": "9999-12-31T23:59:59-01:00"}, "outside 1970-01-01 to 9999-12-31"),
        ({"begin_time": "0999-06-01T00:00:00Z"}, "outside 1970-01-01 to 9999-12-31"),
        ({"begin_time": "-2026-01-01"}, "cannot read the time '-2026-01-01'"),
        ({"begin_time": "1h", "end_time": "5h"}, "after end_time"),
        ({"status": "DONE;DROP"}, "not a task status"),
    ],
)
async def test_list_bad_arguments_are_explained(mcp_client: Client, args: dict[str, str], message: str) -> None:
    text = await error(mcp_client, "list_background_tasks", instance_id=KAFKA, **args)
    assert message in text and "Traceback" not in text and "internal error" not in text


@pytest.mark.parametrize("args", [{"limit": 0}, {"limit": 101}, {"start": 0}, {"limit": 10**30}, {"start": -1}])
async def test_list_out_of_range_paging_is_refused(mcp_client: Client, args: dict[str, Any]) -> None:
    text = await error(mcp_client, "list_background_tasks", instance_id=KAFKA, **args)
    assert "limit" in text or "start" in text


# -- wait_for_background_task, on a clock the test moves ----------------------------------------------------------


async def test_wait_shows_the_percentage_as_progress_and_returns_success(simulator: Simulator, mode: str) -> None:
    task = simulator.create_task(
        instance_id=KAFKA,
        name="resizeInstance",
        manual=True,
        status="EXECUTING",
        progress_steps=["pre_check", "expand", "post"],
    )
    clock = ManualClock()
    steps = iter([{"progress": 25}, {"progress": 50}, {"progress": 75}, {"status": "SUCCESS", "progress": 100}])

    async def advance(_: float) -> None:
        await anyio.to_thread.run_sync(lambda: simulator.steer(task, **next(steps)))

    clock.on_sleep.append(advance)
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    async with Client(build_server(fast_settings(sim_env(simulator)), clock=clock), mode=mode) as client:  # type: ignore[arg-type]
        result = await client.call_tool(
            "wait_for_background_task",
            {"instance_id": KAFKA, "task_id": task, "timeout_seconds": 600},
            progress_callback=on_progress,
        )
    out = result.structured_content
    assert out is not None and out["finished"] and out["succeeded"] and out["progress"]["percentage"] == 100
    assert [s["status"] for s in out["progress"]["steps"]] == ["COMPLETED"] * 3  # read again once it ended
    assert [(p, t) for p, t, _ in updates] == [(0, 100), (25, 100), (50, 100), (75, 100), (100, 100)]
    assert "EXECUTING" in (updates[1][2] or "") and "25% done" in (updates[1][2] or "")
    assert "step pre_check COMPLETED" not in (updates[1][2] or "")
    assert "step expand IN_PROGRESS" in (updates[2][2] or "")  # 50%: the second of three steps runs
    assert "finished successfully" in (updates[-1][2] or "")
    assert clock.sleeps == [2.0, 3.0, 4.5, 6.75]  # the pause grows by half each read
    assert out["polls"] == 5 and out["waited_seconds"] == pytest.approx(16.25)


async def test_without_a_percentage_progress_counts_reads_and_claims_no_total(simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=KAFKA, name="restartInstance", manual=True, status="EXECUTING")
    clock = ManualClock()
    reads = iter([{}, {"status": "FAILED"}])

    async def advance(_: float) -> None:
        await anyio.to_thread.run_sync(lambda: simulator.steer(task, **next(reads)))

    clock.on_sleep.append(advance)
    updates: list[tuple[float, float | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total))

    async with Client(build_server(fast_settings(sim_env(simulator)), clock=clock)) as client:
        result = await client.call_tool(
            "wait_for_background_task", {"instance_id": KAFKA, "task_id": task}, progress_callback=on_progress
        )
    out = result.structured_content
    assert out is not None and out["finished"] and not out["succeeded"] and out["progress"] is None
    assert "not applied" in out["summary"]
    assert updates == [(1, None), (2, None), (3, None), (4, None)]  # three reads, then how it ended


async def test_wait_timeout_is_an_answer_not_an_error(simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=KAFKA, manual=True, status="EXECUTING")
    clock = ManualClock()
    async with Client(build_server(fast_settings(sim_env(simulator)), clock=clock)) as client:
        out = await ok(client, "wait_for_background_task", instance_id=KAFKA, task_id=task, timeout_seconds=5)
    assert out["finished"] is False and out["succeeded"] is False and out["status"] == "EXECUTING"
    assert clock.sleeps == [2.0, 3.0] and out["polls"] == 3 and out["waited_seconds"] == 5.0
    assert "still EXECUTING after waiting 5 s" in out["summary"] and "again" in out["summary"]


async def test_wait_on_finished_task_returns_at_once(mcp_client: Client) -> None:
    out = await ok(mcp_client, "wait_for_background_task", instance_id=KAFKA, task_id=data.FAILED_TASK_ID)
    assert out["finished"] is True and out["polls"] == 1
    assert out["task_duration_seconds"] == pytest.approx(41.5)


async def test_wait_timeout_has_a_hard_upper_bound(mcp_client: Client) -> None:
    text = await error(
        mcp_client, "wait_for_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID, timeout_seconds=86400
    )
    assert "timeout_seconds" in text


async def test_cancelling_a_wait_stops_the_polling(simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=KAFKA, manual=True, status="EXECUTING")
    clock = ManualClock()
    async with Client(build_server(fast_settings(sim_env(simulator)), clock=clock)) as client:
        async with anyio.create_task_group() as group:

            async def cancel_at_the_first_pause(_: float) -> None:
                group.cancel_scope.cancel()

            clock.on_sleep.append(cancel_at_the_first_pause)
            group.start_soon(client.call_tool, "wait_for_background_task", {"instance_id": KAFKA, "task_id": task})
        clock.on_sleep.clear()
        assert simulator.stats()[path_of(KAFKA, task)] == 1  # one read, then nothing more
        out = await ok(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["tasks"][0]["status"] == "SUCCESS"


# -- caching -------------------------------------------------------------------------------------------------


async def test_finished_task_is_read_upstream_once(mcp_client: Client, simulator: Simulator) -> None:
    task = data.task_id("orders-mq/plugins")
    for _ in range(5):
        out = await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task)
        assert out["tasks"][0]["params"] == {"enable": True, "plugins": "rabbitmq_delayed_message_exchange"}
    assert simulator.stats()[path_of(data.RABBITMQ.id, task)] == 1


async def test_concurrent_identical_reads_share_one_request(simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=KAFKA, manual=True, status="EXECUTING")  # running: never kept long
    results: list[dict[str, Any]] = []
    async with Client(build_server(fast_settings(sim_env(simulator)), clock=ManualClock())) as client:

        async def read() -> None:
            results.append(await ok(client, "get_background_task", instance_id=KAFKA, task_id=task))

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(read)
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert simulator.stats()[path_of(KAFKA, task)] == 1


async def test_running_task_is_reread_after_the_bound(simulator: Simulator) -> None:
    settings = fast_settings(sim_env(simulator))
    settings = settings.replace(limits=replace(settings.limits, running_task_ttl=2.0))
    task = simulator.create_task(instance_id=KAFKA, manual=True, status="EXECUTING")
    clock = ManualClock()
    async with Client(build_server(settings, clock=clock)) as client:
        await ok(client, "get_background_task", instance_id=KAFKA, task_id=task)
        clock.t += 1.9
        await ok(client, "get_background_task", instance_id=KAFKA, task_id=task)
        assert simulator.stats()[path_of(KAFKA, task)] == 1  # within the bound: served from the cache
        clock.t += 0.2
        out = await ok(client, "get_background_task", instance_id=KAFKA, task_id=task)
    assert simulator.stats()[path_of(KAFKA, task)] == 2  # past the bound: read again
    assert out["tasks"][0]["status"] == "EXECUTING"


async def test_tasks_finished_in_a_list_need_no_second_request(mcp_client: Client, simulator: Simulator) -> None:
    listed = await ok(mcp_client, "list_background_tasks", instance_id=data.RABBITMQ.id)
    finished = [t for t in listed["tasks"] if t["status"] in ("SUCCESS", "FAILED")]
    assert finished
    before = simulator.stats()["all"]
    for task in finished:
        await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task["id"])
    assert simulator.stats()["all"] == before


async def test_a_shared_failed_read_gives_each_caller_its_own_error(simulator: Simulator) -> None:
    simulator.faults({"kind": "hang", "path_contains": "/tasks/", "count": 1})
    settings = fast_settings(sim_env(simulator))
    # long enough for all four callers to join the one read even on a stalled machine
    settings = settings.replace(limits=replace(settings.limits, call_deadline=5.0))
    texts: list[str] = []
    async with Client(build_server(settings)) as client:

        async def read() -> None:
            texts.append(await error(client, "get_background_task", instance_id=KAFKA, task_id=data.FAILED_TASK_ID))

        async with anyio.create_task_group() as group:
            for _ in range(4):
                group.start_soon(read)
    assert len(texts) == 4 and all("deadline" in t for t in texts)
    assert simulator.stats()[path_of(KAFKA, data.FAILED_TASK_ID)] == 1


# -- resources, prompts, completions -------------------------------------------------------------------------


async def test_task_resource_matches_the_tool(mcp_client: Client) -> None:
    templates = (await mcp_client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == [
        "dms://regions/{region}/projects/{project_id}/instances/{instance_id}/tasks/{task_id}"
    ]
    uri = f"dms://regions/eu-de/projects/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{data.EXAMPLE_TASK_ID}"
    contents = (await mcp_client.read_resource(uri)).contents
    tool = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert json.loads(contents[0].text) == tool  # type: ignore[union-attr]


async def test_glossary_resource(mcp_client: Client) -> None:
    resources = {str(r.uri): r for r in (await mcp_client.list_resources()).resources}
    assert "dms://glossary" in resources
    body = json.loads((await mcp_client.read_resource("dms://glossary")).contents[0].text)  # type: ignore[union-attr]
    assert set(body["statuses"]) == {"CREATED", "EXECUTING", "SUCCESS", "FAILED", "DELETED", "CANCELLED"}
    assert body["statuses"]["EXECUTING"]["terminal"] is False and body["statuses"]["FAILED"]["terminal"] is True
    for name in ("bindInstancePublicIp", "modifyAutoTopic", "changeRetentionPolicy", "rabbitmqPluginModify"):
        assert body["task_names"][name]["does"]
    assert "new_auto_status" in body["task_names"]["modifyAutoTopic"]["params"]
    assert body["engines"] == ["kafka", "rabbitmq", "rocketmq"]


async def test_prompts_take_an_instance_name_or_id(mcp_client: Client) -> None:
    prompts = {p.name: p for p in (await mcp_client.list_prompts()).prompts}
    assert {"diagnose_task", "recent_activity", "watch_task", "what_changed"} <= set(prompts)
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(arg.description for arg in prompt.arguments)
        required = [a.name for a in prompt.arguments if a.required]
        assert required == ([] if prompt.name == "what_changed" else ["instance"])
    fleet = await mcp_client.get_prompt("what_changed", {"region": "eu-nl", "since": "22:00"})
    asked = fleet.messages[0].content.text  # type: ignore[union-attr]
    assert 'list_changes with region="eu-nl"' in asked and 'since="22:00"' in asked and "partial" in asked
    got = await mcp_client.get_prompt(
        "diagnose_task", {"instance": "prod-events", "region": "eu-nl", "task_name": "bindInstancePublicIp"}
    )
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert '"prod-events"' in text and "list_instances" in text and "eu-nl" in text
    recent = await mcp_client.get_prompt("recent_activity", {"instance": KAFKA})
    assert 'begin_time="24h"' in recent.messages[0].content.text  # type: ignore[union-attr]
    with pytest.raises(MCPError) as missing:
        await mcp_client.get_prompt("watch_task", {"task_id": data.EXAMPLE_TASK_ID})
    assert "prompt watch_task needs instance (instance: The Kafka, RabbitMQ or RocketMQ instance" in str(missing.value)


async def test_completions_offer_what_this_caller_has_seen(mcp_client: Client) -> None:
    await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    prompt = PromptReference(type="ref/prompt", name="diagnose_task")
    names = await mcp_client.complete(prompt, {"name": "task_name", "value": "bind"})
    assert "bindInstancePublicIp" in names.completion.values
    assert all(v.lower().startswith("bind") for v in names.completion.values)
    template = ResourceTemplateReference(
        type="ref/resource", uri="dms://regions/{region}/projects/{project_id}/instances/{instance_id}/tasks/{task_id}"
    )
    instances = await mcp_client.complete(template, {"name": "instance_id", "value": "6f1"})
    assert KAFKA in instances.completion.values
    projects = await mcp_client.complete(template, {"name": "project_id", "value": ""})
    assert projects.completion.values == [data.SIM_PROJECT_ID]
    tasks = await mcp_client.complete(template, {"name": "task_id", "value": data.EXAMPLE_TASK_ID[:6]})
    assert data.EXAMPLE_TASK_ID in tasks.completion.values
    regions = await mcp_client.complete(template, {"name": "region", "value": "eu-"})
    assert regions.completion.values[:3] == ["eu-de", "eu-nl", "eu-ch2"]
