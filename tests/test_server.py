"""The MCP server through a real MCP client, in process, in both protocol eras, against the simulator."""

from __future__ import annotations

import json
import time
from typing import Any

import anyio
import pytest
from mcp import Client
from mcp.types import CallToolResult, PromptReference, ResourceTemplateReference, TextContent

from bgtask_mcp.config import load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, fast_settings, sim_env

pytestmark = pytest.mark.anyio

KAFKA = data.KAFKA.id
ARCHIVE = data.ARCHIVE.id
UNKNOWN_INSTANCE = "00000000-0000-4000-8000-000000000000"


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def ok(client: Client, tool: str, **args: Any) -> dict[str, Any]:
    result = await client.call_tool(tool, args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    # the text block carries the same JSON as the structured content
    assert json.loads(text_of(result)) == result.structured_content
    return result.structured_content


async def error(client: Client, tool: str, **args: Any) -> str:
    result = await client.call_tool(tool, args)
    assert result.is_error, result.structured_content
    return text_of(result)


# -- discovery ---------------------------------------------------------------------------------


async def test_tools_are_listed_with_annotations_and_schemas(mcp_client: Client) -> None:
    tools = {t.name: t for t in (await mcp_client.list_tools()).tools}
    assert set(tools) == {"get_background_task", "list_background_tasks", "wait_for_background_task"}
    for tool in tools.values():
        assert tool.title
        assert tool.annotations is not None
        assert tool.annotations.read_only_hint is True
        assert tool.annotations.open_world_hint is True
        assert tool.description and len(tool.description) > 100
        assert tool.output_schema is not None
    assert tools["get_background_task"].annotations.idempotent_hint is True  # type: ignore[union-attr]
    props = tools["get_background_task"].input_schema["properties"]
    assert set(props) == {"instance_id", "task_id", "project_id"}
    assert tools["get_background_task"].input_schema["required"] == ["instance_id", "task_id"]
    assert "default project" in props["project_id"]["description"]
    task_schema = tools["get_background_task"].output_schema["$defs"]["Task"]  # type: ignore[index]
    assert list(task_schema["properties"]) == [
        "id",
        "name",
        "user_name",
        "user_id",
        "params",
        "status",
        "created_at",
        "updated_at",
    ]
    assert "Start time" in task_schema["properties"]["created_at"]["description"]
    assert "End time" in task_schema["properties"]["updated_at"]["description"]


async def test_server_instructions_explain_the_tool_set(mcp_client: Client) -> None:
    instructions = mcp_client.instructions
    assert instructions is not None
    assert mcp_client.server_info is not None and mcp_client.server_info.name == "bgtask-mcp"
    for name in ("get_background_task", "list_background_tasks", "wait_for_background_task", "dms://glossary"):
        assert name in instructions


# -- get_background_task -----------------------------------------------------------------------


async def test_get_returns_typed_task_with_decoded_params(mcp_client: Client) -> None:
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["task_count"] == 1 and isinstance(out["task_count"], int)
    assert out["simulated"] is True
    task = out["tasks"][0]
    assert task["id"] == data.EXAMPLE_TASK_ID
    assert task["name"] == "bindInstancePublicIp"
    assert task["status"] == "SUCCESS"
    assert task["user_name"] == "paas_dms"
    assert task["params"] == {
        "public_ip_id": "1aea7aed-e7d8-40ea-b3de-6f3ee9d5db9f",
        "public_ip_address": "100.93.2.18",
        "enable_public_ip": True,
    }
    assert task["created_at"].endswith("Z") and task["updated_at"] > task["created_at"]


async def test_get_masks_secrets_and_keeps_odd_params(mcp_client: Client) -> None:
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.task_id("prod-events/password"))
    params = out["tasks"][0]["params"]
    assert params["new_password"] == "***"
    assert params["sasl.jaas.config"] == "***"
    assert "Sup3r-S3cret!" not in json.dumps(out)
    reset = await ok(
        mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.task_id("prod-events/resetOffset")
    )
    assert reset["tasks"][0]["params"]["topic"] == "[topic-1]"
    assert reset["tasks"][0]["params"]["trace_id"] == "123456789012345678901234567890"
    assert reset["tasks"][0]["status"] == "DELETED"


async def test_project_id_can_be_given_explicitly(mcp_client: Client) -> None:
    out = await ok(
        mcp_client,
        "get_background_task",
        instance_id=KAFKA,
        task_id=data.EXAMPLE_TASK_ID,
        project_id=data.SIM_PROJECT_ID,
    )
    assert out["tasks"][0]["id"] == data.EXAMPLE_TASK_ID


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("instance_id", ""),
        ("instance_id", "../../v3/auth"),
        ("instance_id", "a" * 65),
        ("task_id", "abc def"),
        ("task_id", "8abfa7b2%2F"),
        ("task_id", "tâche"),
        ("project_id", "proj/../x"),
    ],
)
async def test_implausible_ids_are_refused_before_any_request(
    mcp_client: Client, simulator: Simulator, field: str, value: str
) -> None:
    args = {"instance_id": KAFKA, "task_id": data.EXAMPLE_TASK_ID, field: value}
    before = simulator.stats().get("all", 0)
    text = await error(mcp_client, "get_background_task", **args)
    assert f"{field} " in text and "not a valid DMS id" in text
    assert "letters, digits or '-'" in text
    assert simulator.stats().get("all", 0) == before


async def test_unknown_instance_names_code_request_id_and_next_step(mcp_client: Client) -> None:
    text = await error(mcp_client, "get_background_task", instance_id=UNKNOWN_INSTANCE, task_id=data.EXAMPLE_TASK_ID)
    assert "HTTP 404" in text and "DMS.00404022" in text
    assert "This instance does not exist." in text
    assert "X-Request-Id: " in text and "X-Request-Id: none" not in text
    assert "check the instance id" in text


async def test_unknown_task_is_a_clear_error(mcp_client: Client) -> None:
    text = await error(mcp_client, "get_background_task", instance_id=KAFKA, task_id="f" * 32)
    assert "no task ffffffff" in text and "list_background_tasks" in text


async def test_malformed_ids_the_api_rejects_are_explained(mcp_client: Client) -> None:
    text = await error(mcp_client, "get_background_task", instance_id="not-a-uuid", task_id=data.EXAMPLE_TASK_ID)
    assert "DMS.00400030" in text and "instance id" in text


async def test_wrong_secret_key_is_a_401_with_advice(simulator: Simulator, mode: str) -> None:
    settings = fast_settings(sim_env(simulator, BGTASK_SECRET_KEY="WRONG-FAKE-SECRET-KEY-000000000000"))
    async with Client(build_server(settings), mode=mode) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "HTTP 401" in text and "APIG.0301" in text
    assert "BGTASK_ACCESS_KEY" in text and "clock" in text
    assert "WRONG-FAKE-SECRET-KEY" not in text
    assert simulator.stats()["all"] == 1  # a 401 is never retried: retries would lock the key


async def test_no_credentials_the_server_starts_and_says_what_to_set(mode: str) -> None:
    settings = load_settings({"BGTASK_REGION": "eu-de", "BGTASK_PROJECT_ID": "0" * 32})
    async with Client(build_server(settings), mode=mode) as client:
        assert len((await client.list_tools()).tools) == 3
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "BGTASK_ACCESS_KEY" in text and "BGTASK_SECRET_KEY" in text and "--simulator" in text


async def test_no_endpoint_says_what_to_set(mode: str) -> None:
    settings = load_settings({"BGTASK_ACCESS_KEY": "AK-FAKE-1", "BGTASK_SECRET_KEY": "SK-FAKE-000000001"})
    async with Client(build_server(settings), mode=mode) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "BGTASK_REGION" in text and "BGTASK_ENDPOINT" in text


async def test_missing_project_says_what_to_set(simulator: Simulator) -> None:
    env = sim_env(simulator)
    del env["BGTASK_PROJECT_ID"]
    async with Client(build_server(fast_settings(env))) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "project_id" in text and "BGTASK_PROJECT_ID" in text


async def test_iam_token_mode_and_expired_static_token(simulator: Simulator) -> None:
    env = {"BGTASK_ENDPOINT": simulator.url, "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID}
    async with Client(build_server(fast_settings({**env, "BGTASK_IAM_TOKEN": data.SIM_IAM_TOKEN}))) as client:
        out = await ok(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
        assert out["tasks"][0]["id"] == data.EXAMPLE_TASK_ID
    expired = fast_settings({**env, "BGTASK_IAM_TOKEN": data.SIM_EXPIRED_IAM_TOKEN})
    async with Client(build_server(expired)) as client:
        text = await error(client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert "APIG.0307" in text and "BGTASK_IAM_TOKEN has expired" in text
    assert data.SIM_EXPIRED_IAM_TOKEN not in text


async def test_server_keeps_answering_after_errors(mcp_client: Client) -> None:
    for _ in range(3):
        await error(mcp_client, "get_background_task", instance_id=UNKNOWN_INSTANCE, task_id="f" * 32)
        await error(mcp_client, "get_background_task", instance_id="bad id", task_id="f" * 32)
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["tasks"][0]["status"] == "SUCCESS"


# -- list_background_tasks ---------------------------------------------------------------------


async def test_list_pages_through_a_long_history(mcp_client: Client) -> None:
    first = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, limit=100)
    assert first["task_count"] == 250 and len(first["tasks"]) == 100 and first["next_start"] == 101
    created = [t["created_at"] for t in first["tasks"]]
    assert created == sorted(created, reverse=True)  # newest first
    last = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE, start=201, limit=100)
    assert len(last["tasks"]) == 50 and last["next_start"] is None
    ids = {t["id"] for t in first["tasks"]} | {t["id"] for t in last["tasks"]}
    assert len(ids) == 150


async def test_list_default_page_is_ten(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=ARCHIVE)
    assert len(out["tasks"]) == 10 and out["start"] == 1 and out["limit"] == 10 and out["next_start"] == 11


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


@pytest.mark.parametrize("window", [("7h",), ("dms",), ("iso",)])
async def test_list_time_window_formats(mcp_client: Client, window: tuple[str]) -> None:
    from datetime import UTC, datetime, timedelta

    # the seeded tasks are placed relative to the simulator's start, minutes ago in a long session
    since = datetime.now(UTC) - timedelta(hours=7)
    begin = {"7h": "7h", "dms": since.strftime("%Y%m%d%H%M%S"), "iso": since.astimezone().isoformat()}[window[0]]
    out = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, begin_time=begin, limit=100)
    names = {t["name"] for t in out["tasks"]}
    assert {"bindInstancePublicIp", "changeRetentionPolicy", "modifyAutoTopic"} <= names
    assert "kafkaConfigModify" not in names  # 26 hours old
    assert out["task_count"] == len(out["tasks"])


async def test_list_end_time_excludes_newer_tasks(mcp_client: Client) -> None:
    out = await ok(mcp_client, "list_background_tasks", instance_id=KAFKA, end_time="24h", limit=100)
    assert out["tasks"] and all(t["name"] != "bindInstancePublicIp" for t in out["tasks"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"begin_time": "yesterday-ish"}, "cannot read the time"),
        ({"begin_time": "20261399000000"}, "cannot read the time"),
        ({"begin_time": "1h", "end_time": "5h"}, "after end_time"),
        ({"status": "DONE;DROP"}, "not a task status"),
    ],
)
async def test_list_bad_arguments_are_explained(mcp_client: Client, args: dict[str, str], message: str) -> None:
    text = await error(mcp_client, "list_background_tasks", instance_id=KAFKA, **args)
    assert message in text


@pytest.mark.parametrize("args", [{"limit": 0}, {"limit": 101}, {"start": 0}])
async def test_list_out_of_range_paging_is_refused(mcp_client: Client, args: dict[str, int]) -> None:
    text = await error(mcp_client, "list_background_tasks", instance_id=KAFKA, **args)
    assert "limit" in text or "start" in text


# -- wait_for_background_task ------------------------------------------------------------------


async def test_wait_reports_progress_and_returns_success(mcp_client: Client, simulator: Simulator) -> None:
    task_id = simulator.create_task(
        instance_id=KAFKA, name="resizeInstance", duration_s=2.0, progress_steps=["pre_check", "expand", "post"]
    )
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    result = await mcp_client.call_tool(
        "wait_for_background_task",
        {"instance_id": KAFKA, "task_id": task_id, "timeout_seconds": 20, "poll_interval_seconds": 0.3},
        progress_callback=on_progress,
    )
    assert not result.is_error, text_of(result)
    out = result.structured_content
    assert out is not None
    assert out["finished"] is True and out["succeeded"] is True and out["status"] == "SUCCESS"
    assert out["task"]["id"] == task_id
    assert 1.5 <= out["waited_seconds"] < 15
    assert out["polls"] >= 3 and "finished successfully" in out["summary"]
    assert len(updates) == out["polls"]
    assert [u[0] for u in updates] == sorted(u[0] for u in updates)
    assert all(u[1] == 20 for u in updates)
    assert any("EXECUTING" in (u[2] or "") and "% done" in (u[2] or "") for u in updates)
    assert "SUCCESS" in (updates[-1][2] or "")


async def test_wait_on_a_failing_task(mcp_client: Client, simulator: Simulator) -> None:
    task_id = simulator.create_task(instance_id=KAFKA, name="sslSwitch", duration_s=0.5, final_status="FAILED")
    out = await ok(
        mcp_client, "wait_for_background_task", instance_id=KAFKA, task_id=task_id, poll_interval_seconds=0.2
    )
    assert out["finished"] is True and out["succeeded"] is False and out["status"] == "FAILED"
    assert "not applied" in out["summary"]


async def test_wait_timeout_is_an_answer_not_an_error(mcp_client: Client, simulator: Simulator) -> None:
    task_id = simulator.create_task(instance_id=KAFKA, duration_s=60)
    started = time.monotonic()
    out = await ok(
        mcp_client,
        "wait_for_background_task",
        instance_id=KAFKA,
        task_id=task_id,
        timeout_seconds=1.0,
        poll_interval_seconds=0.3,
    )
    assert time.monotonic() - started < 5
    assert out["finished"] is False and out["succeeded"] is False
    assert out["status"] in ("CREATED", "EXECUTING")
    assert "still" in out["summary"] and "call wait_for_background_task again" in out["summary"]


async def test_wait_on_finished_task_returns_at_once(mcp_client: Client) -> None:
    out = await ok(mcp_client, "wait_for_background_task", instance_id=KAFKA, task_id=data.FAILED_TASK_ID)
    assert out["finished"] is True and out["polls"] == 1 and out["waited_seconds"] < 2
    assert out["task_duration_seconds"] == pytest.approx(41.5)


async def test_wait_timeout_has_a_hard_upper_bound(mcp_client: Client) -> None:
    text = await error(
        mcp_client, "wait_for_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID, timeout_seconds=86400
    )
    assert "timeout_seconds" in text


async def test_cancelling_a_wait_stops_the_polling(mcp_client: Client, simulator: Simulator) -> None:
    task_id = simulator.create_task(instance_id=KAFKA, duration_s=120)
    path = f"GET /v2/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{task_id}"
    with anyio.move_on_after(1.2):
        await mcp_client.call_tool(
            "wait_for_background_task",
            {"instance_id": KAFKA, "task_id": task_id, "timeout_seconds": 60, "poll_interval_seconds": 0.2},
        )
        pytest.fail("the wait should still be running")
    await anyio.sleep(0.3)
    polls_after_cancel = simulator.stats().get(path, 0)
    assert polls_after_cancel >= 2
    await anyio.sleep(1.5)
    assert simulator.stats().get(path, 0) == polls_after_cancel
    # and the server answers the next call normally
    out = await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert out["tasks"][0]["status"] == "SUCCESS"


# -- caching -----------------------------------------------------------------------------------


async def test_finished_task_is_read_upstream_once(mcp_client: Client, simulator: Simulator) -> None:
    task = data.task_id("orders-mq/plugins")
    path = f"GET /v2/{data.SIM_PROJECT_ID}/instances/{data.RABBITMQ.id}/tasks/{task}"
    for _ in range(5):
        out = await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task)
        assert out["tasks"][0]["params"] == {"enable": True, "plugins": "rabbitmq_delayed_message_exchange"}
    assert simulator.stats()[path] == 1


async def test_concurrent_identical_reads_share_one_request(mcp_client: Client, simulator: Simulator) -> None:
    simulator.faults({"kind": "latency", "latency_s": 0.3})
    task = data.task_id("rocket/batchDeleteGroups")
    path = f"GET /v2/{data.SIM_PROJECT_ID}/instances/{data.ROCKETMQ.id}/tasks/{task}"
    results: list[dict[str, Any]] = []

    async def read() -> None:
        results.append(await ok(mcp_client, "get_background_task", instance_id=data.ROCKETMQ.id, task_id=task))

    async with anyio.create_task_group() as tg:
        for _ in range(8):
            tg.start_soon(read)
    assert len(results) == 8 and all(r == results[0] for r in results)
    assert simulator.stats()[path] == 1


async def test_running_task_is_reread_after_the_bound(simulator: Simulator) -> None:
    settings = fast_settings(sim_env(simulator))
    settings = settings.with_(limits=settings.limits.__class__(**{**settings.limits.__dict__, "running_task_ttl": 0.3}))
    task_id = simulator.create_task(instance_id=KAFKA, duration_s=30)
    path = f"GET /v2/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{task_id}"
    async with Client(build_server(settings)) as client:
        await ok(client, "get_background_task", instance_id=KAFKA, task_id=task_id)
        await ok(client, "get_background_task", instance_id=KAFKA, task_id=task_id)
        assert simulator.stats()[path] == 1  # within the bound: served from cache
        await anyio.sleep(0.4)
        out = await ok(client, "get_background_task", instance_id=KAFKA, task_id=task_id)
        assert simulator.stats()[path] == 2  # past the bound: read again
    assert out["tasks"][0]["status"] in ("CREATED", "EXECUTING")


async def test_tasks_finished_in_a_list_need_no_second_request(mcp_client: Client, simulator: Simulator) -> None:
    listed = await ok(mcp_client, "list_background_tasks", instance_id=data.RABBITMQ.id)
    finished = [t for t in listed["tasks"] if t["status"] in ("SUCCESS", "FAILED")]
    assert finished
    before = simulator.stats()["all"]
    for task in finished:
        await ok(mcp_client, "get_background_task", instance_id=data.RABBITMQ.id, task_id=task["id"])
    assert simulator.stats()["all"] == before


# -- resources, prompts, completions -----------------------------------------------------------


async def test_task_resource_matches_the_tool(mcp_client: Client) -> None:
    templates = (await mcp_client.list_resource_templates()).resource_templates
    assert [t.uri_template for t in templates] == [
        "dms://projects/{project_id}/instances/{instance_id}/tasks/{task_id}"
    ]
    uri = f"dms://projects/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{data.EXAMPLE_TASK_ID}"
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


async def test_prompts_are_listed_and_render_their_arguments(mcp_client: Client) -> None:
    prompts = {p.name: p for p in (await mcp_client.list_prompts()).prompts}
    assert {"diagnose_task", "recent_activity", "watch_task"} <= set(prompts)
    for prompt in prompts.values():
        assert prompt.description and prompt.arguments
        assert all(arg.description for arg in prompt.arguments)
        assert [a.name for a in prompt.arguments if a.required] == ["instance_id"]
    got = await mcp_client.get_prompt("diagnose_task", {"instance_id": KAFKA, "task_id": data.FAILED_TASK_ID})
    text = got.messages[0].content.text  # type: ignore[union-attr]
    assert KAFKA in text and data.FAILED_TASK_ID in text and "get_background_task" in text
    recent = await mcp_client.get_prompt("recent_activity", {"instance_id": KAFKA})
    assert 'begin_time="24h"' in recent.messages[0].content.text  # type: ignore[union-attr]


async def test_completions_offer_what_the_server_knows(mcp_client: Client) -> None:
    await ok(mcp_client, "get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    prompt = PromptReference(type="ref/prompt", name="diagnose_task")
    instances = await mcp_client.complete(prompt, {"name": "instance_id", "value": "6f1"})
    assert KAFKA in instances.completion.values
    names = await mcp_client.complete(prompt, {"name": "task_name", "value": "bind"})
    assert "bindInstancePublicIp" in names.completion.values
    assert all(v.lower().startswith("bind") for v in names.completion.values)
    template = ResourceTemplateReference(
        type="ref/resource", uri="dms://projects/{project_id}/instances/{instance_id}/tasks/{task_id}"
    )
    projects = await mcp_client.complete(template, {"name": "project_id", "value": ""})
    assert projects.completion.values == [data.SIM_PROJECT_ID]
    tasks = await mcp_client.complete(template, {"name": "task_id", "value": data.EXAMPLE_TASK_ID[:6]})
    assert data.EXAMPLE_TASK_ID in tasks.completion.values
