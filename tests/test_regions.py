"""Starting from what a person says: instances by name, any region, no project id to look up.

Everything runs against the simulator over real loopback HTTP (one port per region, each refusing another
region's project), through real MCP clients. The only "configuration" beyond AK/SK and a region is where the
simulator's regions and IAM listen, which a real cloud does not need (its endpoints are in the region table).
"""

from __future__ import annotations

import sys
from typing import Any

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.cache import cache_key
from bgtask_mcp.config import load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import FAKE_ACCESS_KEY, FAKE_SECRET_KEY, Simulator, clean_env, region_env

pytestmark = pytest.mark.anyio


def minimal_env(sim: Simulator, region: str = "eu-de", **extra: str) -> dict[str, str]:
    """AK/SK and a region: nothing else a person types (no project id, no instance id)."""
    return {
        **region_env(sim),
        "BGTASK_ACCESS_KEY": FAKE_ACCESS_KEY,
        "BGTASK_SECRET_KEY": FAKE_SECRET_KEY,
        "BGTASK_REGION": region,
        **extra,
    }


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


async def name_to_waited_task(client: Client, region: str | None) -> dict[str, Any]:
    """The path a model takes: the name prod-events -> its id -> the newest bindInstancePublicIp -> wait."""
    where = {"region": region} if region else {}
    found = await client.call_tool("list_instances", {"name": "prod-events", **where})
    assert not found.is_error, text_of(found)
    assert found.structured_content is not None
    best = found.structured_content["instances"][0]
    assert best["name"] == "prod-events"
    tasks = await client.call_tool(
        "list_background_tasks",
        {"instance_id": best["instance_id"], "name": "bindInstancePublicIp", "limit": 1, **where},
    )
    assert not tasks.is_error, text_of(tasks)
    assert tasks.structured_content is not None
    newest = tasks.structured_content["tasks"][0]
    waited = await client.call_tool(
        "wait_for_background_task",
        {"instance_id": best["instance_id"], "task_id": newest["id"], "timeout_seconds": 30, **where},
    )
    assert not waited.is_error, text_of(waited)
    assert waited.structured_content is not None
    return {"instance": best, "task": newest, "wait": waited.structured_content}


@pytest.mark.parametrize("mode", ["legacy", "auto"])
async def test_from_a_name_to_a_waited_task_with_only_aksk_and_a_region(simulator: Simulator, mode: str) -> None:
    async with Client(build_server(load_settings(minimal_env(simulator))), mode=mode) as client:  # type: ignore[arg-type]
        home = await name_to_waited_task(client, None)
        other = await name_to_waited_task(client, "EU-NL")  # a second region, named in any case
    assert home["instance"]["instance_id"] == data.KAFKA.id and home["instance"]["region"] == "eu-de"
    assert home["task"]["id"] == data.EXAMPLE_TASK_ID and home["wait"]["succeeded"]
    assert other["instance"]["instance_id"] == data.NL_EVENTS.id and other["instance"]["region"] == "eu-nl"
    assert other["task"]["id"] == data.NL_BIND_ID and other["wait"]["region"] == "eu-nl"
    stats = simulator.stats()
    assert stats["iam:projects"] == 2  # one lookup per region, then remembered


async def test_a_running_task_is_waited_for_until_it_finishes(simulator: Simulator) -> None:
    task = simulator.create_task(instance_id=data.NL_EVENTS.id, name="bindInstancePublicIp", manual=True)
    settings = load_settings(minimal_env(simulator))
    async with Client(build_server(settings)) as client:

        async def finish_after_the_first_read(progress: float, total: float | None, message: str | None) -> None:
            simulator.steer(task, status="SUCCESS")  # an event, not a clock: the next read sees it

        found = await client.call_tool(
            "wait_for_background_task",
            {
                "instance_id": data.NL_EVENTS.id,
                "task_id": task,
                "region": "eu-nl",
                "timeout_seconds": 60,
                "poll_interval_seconds": 0.2,
            },
            progress_callback=finish_after_the_first_read,
        )
    assert found.structured_content is not None
    assert found.structured_content["finished"] and found.structured_content["polls"] >= 2


def test_over_stdio_with_only_aksk_and_a_region(simulator: Simulator) -> None:
    async def run() -> dict[str, Any]:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "bgtask_mcp", "serve"], env=clean_env(**minimal_env(simulator))
        )
        async with Client(params) as client:
            return await name_to_waited_task(client, "eu-nl")

    assert anyio.run(run)["instance"]["instance_id"] == data.NL_EVENTS.id


async def test_concurrent_first_calls_share_one_project_lookup(simulator: Simulator) -> None:
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        results: list[CallToolResult] = []

        async def one() -> None:
            results.append(await client.call_tool("list_instances", {"name": "analytics", "region": "eu-nl"}))

        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(one)
    assert all(not r.is_error for r in results)
    assert simulator.stats()["iam:projects"] == 1


@pytest.mark.parametrize(
    ("region", "expected"),
    [
        ("ap-southeast-3", "IAM knows no project named 'ap-southeast-3' for these credentials"),
        ("ap-southeast-2", "IAM lists 2 projects named 'ap-southeast-2': a2a2a2a2a2a2a2a2a2a2a2a2a2a2a2a1"),
    ],
)
async def test_no_project_or_several_is_a_clear_error_naming_the_region(
    simulator: Simulator, region: str, expected: str
) -> None:
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        result = await client.call_tool("list_instances", {"region": region})
    assert result.is_error and expected in text_of(result) and "Next step: " in text_of(result)
    stats = simulator.stats()
    assert stats["iam:projects"] == 1 and stats.get("GET instances", 0) == 0


async def test_password_login_finds_the_project_by_name(simulator: Simulator) -> None:
    env = {
        **region_env(simulator),
        "BGTASK_REGION": "eu-nl",
        "BGTASK_IAM_USER": data.SIM_IAM_USER,
        "BGTASK_IAM_PASSWORD": data.SIM_IAM_PASSWORD,
        "BGTASK_IAM_DOMAIN": data.SIM_IAM_DOMAIN,
    }
    async with Client(build_server(load_settings(env))) as client:
        first = await client.call_tool("list_instances", {"name": "billing"})
        second = await client.call_tool("list_instances", {"name": "prod-events", "region": "eu-de"})
    assert first.structured_content is not None and first.structured_content["instances"][0]["region"] == "eu-nl"
    assert second.structured_content is not None and second.structured_content["instances"][0]["region"] == "eu-de"
    stats = simulator.stats()
    assert stats["iam:token"] == 2 and stats.get("iam:projects", 0) == 0  # one scoped login per region


async def test_an_unknown_region_is_refused_before_any_request(simulator: Simulator) -> None:
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        result = await client.call_tool("list_instances", {"name": "prod-events", "region": "mars-north-1"})
    text = text_of(result)
    assert result.is_error and "region 'mars-north-1' is unknown, so no request was sent" in text
    assert "eu-nl" in text and "Next step: " in text
    assert simulator.stats().get("all", 0) == 0


async def test_an_instance_asked_in_the_wrong_region_says_to_check_the_region(simulator: Simulator) -> None:
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        result = await client.call_tool(
            "get_background_task", {"instance_id": data.NL_EVENTS.id, "task_id": data.NL_BIND_ID}
        )
    assert result.is_error and "DMS.00404022" in text_of(result) and "region=" in text_of(result)


# -- list_instances ------------------------------------------------------------------------------------------


async def list_instances(simulator: Simulator, **args: Any) -> dict[str, Any]:
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        result = await client.call_tool("list_instances", args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return result.structured_content


async def test_exact_names_rank_first_then_prefixes_then_the_rest(simulator: Simulator) -> None:
    found = await list_instances(simulator, name="PROD-events")
    assert [i["name"] for i in found["instances"]] == ["prod-events", "prod-events-mirror", "old-prod-events"]
    assert found["instance_count"] == 3 and found["simulated"]


async def test_an_exact_id_ranks_first(simulator: Simulator) -> None:
    found = await list_instances(simulator, name=data.ARCHIVE.id.upper())
    assert [i["instance_id"] for i in found["instances"]] == [data.ARCHIVE.id]


async def test_all_three_engines_are_merged_and_each_can_be_asked_alone(simulator: Simulator) -> None:
    everything = await list_instances(simulator)
    assert {i["engine"] for i in everything["instances"]} == {"kafka", "rabbitmq", "rocketmq"}
    rockets = await list_instances(simulator, engine="rocketmq")
    assert [i["name"] for i in rockets["instances"]] == ["payments-rocket"]  # the API says "reliability"
    assert simulator.stats()["GET instances"] == 4


async def test_status_filters_and_the_answer_is_compact(simulator: Simulator) -> None:
    frozen = await list_instances(simulator, status="frozen")
    assert [i["name"] for i in frozen["instances"]] == ["old-prod-events"]
    instance = frozen["instances"][0]
    assert set(instance) == {
        "instance_id",
        "name",
        "engine",
        "engine_version",
        "status",
        "type",
        "specification",
        "created_at",
        "region",
        "project_id",
        "current_task",
    }
    assert instance["created_at"].endswith("Z") and instance["project_id"] == data.SIM_PROJECT_ID
    for field in ("192.168.0.11", "vpc-prod", "app-admin", "security_group"):
        assert field not in str(frozen)


async def test_many_instances_are_paged_through_and_the_limit_is_said(simulator: Simulator) -> None:
    found = await list_instances(simulator, region="eu-ch2", engine="kafka", name="tenant", limit=5)
    assert found["instance_count"] == 120 and len(found["instances"]) == 5
    assert found["instances"][0]["name"] == "tenant-001-events"
    assert "120 instances match; the first 5 are shown" in found["note"]
    assert simulator.stats()["GET instances"] == 3  # pages of 50


async def test_an_engine_that_fails_does_not_hide_the_others(simulator: Simulator) -> None:
    simulator.faults({"kind": "forbidden", "query_contains": "engine=rocketmq"})
    found = await list_instances(simulator, name="o")
    assert {i["engine"] for i in found["instances"]} == {"kafka", "rabbitmq"}
    assert "rocketmq instances could not be listed: DMS answered HTTP 403 DMS.00403003" in found["note"]


async def test_when_every_engine_fails_the_error_is_the_answer(simulator: Simulator) -> None:
    simulator.faults({"kind": "forbidden", "path_contains": "/instances"})
    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        result = await client.call_tool("list_instances", {})
    assert result.is_error and "DMS.00403003" in text_of(result)


async def test_listed_instances_feed_the_completions_of_this_caller(simulator: Simulator) -> None:
    from mcp.types import PromptReference

    async with Client(build_server(load_settings(minimal_env(simulator)))) as client:
        await client.call_tool("list_instances", {"name": "prod-events", "region": "eu-nl"})
        ids = await client.complete(
            PromptReference(type="ref/prompt", name="diagnose_task"), {"name": "instance", "value": "prod"}
        )
        regions = await client.complete(
            PromptReference(type="ref/prompt", name="diagnose_task"), {"name": "region", "value": ""}
        )
    assert "prod-events" in ids.completion.values
    assert regions.completion.values[0] == "eu-nl"  # the region this caller used comes first


def test_cache_keys_name_the_cloud_and_the_region() -> None:
    assert cache_key("prod", "eu-nl", "p", "i", "t") != cache_key("prod", "eu-de", "p", "i", "t")
    assert cache_key("prod", "eu-nl", "p", "i", "t") != cache_key("staging", "eu-nl", "p", "i", "t")


def test_the_cts_endpoint_of_a_region() -> None:
    from bgtask_mcp.config import load_settings

    plain = load_settings({"BGTASK_REGION": "eu-de"})
    endpoints = plain.default_cloud.endpoints(dict(plain.endpoint_overrides))
    assert endpoints.cts("eu-de") == "https://cts.eu-de.otc.t-systems.com"
    assert endpoints.cts("eu-ch2") == "https://cts.eu-ch2.sc.otc.t-systems.com"
    assert endpoints.cts("ap-southeast-1") == "https://cts.ap-southeast-1.myhuaweicloud.com"
    assert endpoints.cts("eu-west-101") == "https://cts.eu-west-101.myhuaweicloud.eu"
    env = {"BGTASK_REGION": "eu-de", "BGTASK_CTS_ENDPOINT": "https://cts.example.test",
           "HUAWEICLOUD_SDK_REGION_CTS_EU_NL": "https://cts-nl.example.test"}  # fmt: skip
    configured = load_settings(env)
    endpoints = configured.default_cloud.endpoints(dict(configured.endpoint_overrides))
    assert endpoints.cts("eu-de") == "https://cts.example.test"  # the configured region's explicit endpoint
    assert endpoints.cts("eu-nl") == "https://cts-nl.example.test"  # the SDK's per-region override wins
    assert endpoints.dms("eu-nl") == "https://dms.eu-nl.otc.t-systems.com"  # a CTS override is not a DMS one
