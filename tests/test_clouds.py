"""clouds.yaml, the way Open Telekom Cloud users configure openstacksdk: OS_CLOUD (or --cloud) picks an entry,
secure.yaml beside it is merged, BGTASK_CLOUDS serves several clouds at once (a ``cloud`` argument on every
tool), each with its own credentials, connections, token and cache. Driven through real MCP clients against
the simulator."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import anyio
import pytest
import yaml
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.config import ConfigError, load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, region_env

pytestmark = pytest.mark.anyio


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def write(path: Path, clouds: dict[str, Any]) -> Path:
    path.write_text(yaml.safe_dump({"clouds": clouds}))
    return path


def aksk_entry(sim: Simulator, region: str, **extra: Any) -> dict[str, Any]:
    return {
        "region_name": region,
        "ak": data.SIM_ACCESS_KEY,
        "sk": data.SIM_SECRET_KEY,
        "auth": {"auth_url": sim.url + "/v3"},
        **extra,
    }


def cloud_env(sim: Simulator, clouds_file: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in region_env(sim).items() if k != "BGTASK_IAM_ENDPOINT"}  # IAM comes from auth_url
    return {**env, "OS_CLIENT_CONFIG_FILE": str(clouds_file), **extra}


async def instances(client: Client, **args: Any) -> list[dict[str, Any]]:
    result = await client.call_tool("list_instances", args)
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return list(result.structured_content["instances"])


async def test_os_cloud_alone_is_a_working_configuration(simulator: Simulator, tmp_path: Path) -> None:
    path = write(tmp_path / "clouds.yaml", {"prod": aksk_entry(simulator, "eu-nl")})
    settings = load_settings(cloud_env(simulator, path, OS_CLOUD="prod"))
    async with Client(build_server(settings)) as client:
        found = await instances(client, name="prod-events")
    assert [(i["instance_id"], i["region"]) for i in found] == [(data.NL_EVENTS.id, "eu-nl")]


def test_the_cloud_flag_wins_over_os_cloud_and_over_stdio(simulator: Simulator, tmp_path: Path) -> None:
    path = write(tmp_path / "clouds.yaml", {"prod": aksk_entry(simulator, "eu-nl"), "other": {"region_name": "x"}})
    env = clean_env(**cloud_env(simulator, path, OS_CLOUD="other"))

    async def run() -> list[dict[str, Any]]:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "bgtask_mcp", "serve", "--cloud", "prod"], env=env
        )
        async with Client(params) as client:
            return await instances(client, name="analytics")

    assert [i["name"] for i in anyio.run(run)] == ["analytics-stream"]


async def test_secure_yaml_beside_clouds_yaml_is_merged(simulator: Simulator, tmp_path: Path) -> None:
    entry = aksk_entry(simulator, "eu-de")
    del entry["sk"]
    path = write(tmp_path / "clouds.yaml", {"prod": entry})
    write(tmp_path / "secure.yaml", {"prod": {"sk": data.SIM_SECRET_KEY}})
    async with Client(build_server(load_settings(cloud_env(simulator, path, OS_CLOUD="prod")))) as client:
        assert [i["name"] for i in await instances(client, name="orders")] == ["orders-mq"]


async def test_without_secure_yaml_the_missing_key_is_named(simulator: Simulator, tmp_path: Path) -> None:
    entry = aksk_entry(simulator, "eu-de")
    del entry["sk"]
    path = write(tmp_path / "clouds.yaml", {"prod": entry})
    async with Client(build_server(load_settings(cloud_env(simulator, path, OS_CLOUD="prod")))) as client:
        result = await client.call_tool("list_instances", {})
    assert result.is_error and "credentials" in text_of(result) and "cloud 'prod' of" in text_of(result)


async def test_password_login_from_clouds_yaml(simulator: Simulator, tmp_path: Path) -> None:
    entry = {
        "region_name": "eu-nl",
        "auth": {
            "auth_url": simulator.url + "/v3",
            "username": data.SIM_IAM_USER,
            "password": data.SIM_IAM_PASSWORD,
            "user_domain_name": data.SIM_IAM_DOMAIN,
            "project_name": "eu-nl",
        },
    }
    path = write(tmp_path / "clouds.yaml", {"prod": entry})
    async with Client(build_server(load_settings(cloud_env(simulator, path, OS_CLOUD="prod")))) as client:
        assert [i["name"] for i in await instances(client, name="billing")] == ["billing-mq"]
    assert simulator.stats()["iam:token"] == 1


async def test_a_project_id_in_clouds_yaml_needs_no_lookup(simulator: Simulator, tmp_path: Path) -> None:
    entry = aksk_entry(simulator, "eu-nl")
    entry["auth"]["project_id"] = data.EU_NL.project_id.upper()
    path = write(tmp_path / "clouds.yaml", {"prod": entry})
    async with Client(build_server(load_settings(cloud_env(simulator, path, OS_CLOUD="prod")))) as client:
        await instances(client, name="prod-events")
    assert simulator.stats().get("iam:projects", 0) == 0


async def test_several_clouds_each_with_its_own_credentials_and_cache(simulator: Simulator, tmp_path: Path) -> None:
    staging = aksk_entry(simulator, "eu-de", sk="WRONG-FAKE-STAGING-SECRET-KEY-00000000")
    path = write(tmp_path / "clouds.yaml", {"prod": aksk_entry(simulator, "eu-de"), "staging": staging})
    settings = load_settings(cloud_env(simulator, path, BGTASK_CLOUDS="prod,staging"))
    args = {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
    async with Client(build_server(settings)) as client:
        tools = {t.name: t for t in (await client.list_tools()).tools}
        cloud = tools["get_background_task"].input_schema["properties"]["cloud"]
        described = cloud["anyOf"][0]["description"]  # optional arguments describe themselves in their branch
        assert cloud["anyOf"][0]["enum"] == ["prod", "staging"] and "null (the default): prod" in described
        assert not (await client.call_tool("get_background_task", args)).is_error  # the default: prod
        assert not (await client.call_tool("get_background_task", {**args, "cloud": "prod"})).is_error  # its cache
        refused = await client.call_tool("get_background_task", {**args, "cloud": "staging"})
        unknown = await client.call_tool("get_background_task", {**args, "cloud": "dev"})
    assert refused.is_error and "APIG.0301" in text_of(refused)  # staging's own key, not prod's cached answer
    assert (
        unknown.is_error and "cloud 'dev' is not configured" in text_of(unknown) and "prod, staging" in text_of(unknown)
    )
    stats = simulator.stats()
    assert stats["GET show"] == 1  # prod once, then its own cache; staging's key was refused at its own lookup
    assert stats["GET projects"] == 2 and stats["iam:projects"] == 1  # one lookup per cloud; staging's refused


async def test_one_cloud_has_no_cloud_argument(simulator: Simulator, tmp_path: Path) -> None:
    path = write(tmp_path / "clouds.yaml", {"prod": aksk_entry(simulator, "eu-de")})
    async with Client(build_server(load_settings(cloud_env(simulator, path, OS_CLOUD="prod")))) as client:
        for tool in (await client.list_tools()).tools:
            assert "cloud" not in tool.input_schema["properties"], tool.name


@pytest.mark.parametrize(
    ("clouds", "env", "message"),
    [
        ({"prod": {}}, {"OS_CLOUD": "staging"}, "cloud 'staging' is not in"),
        ({"prod": {}}, {"BGTASK_CLOUDS": "prod,staging"}, "cloud 'staging' is not in"),
        ({"prod": {}, "dev": {}}, {"BGTASK_CLOUDS": "prod", "OS_CLOUD": "dev"}, "OS_CLOUD='dev' is not one of"),
        ({"prod": {"auth": {"auth_url": "http://iam.example.test"}}}, {"OS_CLOUD": "prod"}, "uses plain http"),
        ({"prod": {"region_name": "mars-1"}}, {"OS_CLOUD": "prod"}, "region_name of cloud 'prod'"),
        ({"prod": {"auth": {"project_id": "nope"}}}, {"OS_CLOUD": "prod"}, "auth.project_id of cloud 'prod'"),
        ({"prod": {"ak": ["a"]}}, {"OS_CLOUD": "prod"}, "ak of cloud 'prod'"),
    ],
)
def test_bad_clouds_yaml_stops_start_up_naming_what(
    tmp_path: Path, clouds: dict[str, Any], env: dict[str, str], message: str
) -> None:
    path = write(tmp_path / "clouds.yaml", clouds)
    with pytest.raises(ConfigError, match=message):
        load_settings({"OS_CLIENT_CONFIG_FILE": str(path), **env})


def test_unreadable_yaml_is_named(tmp_path: Path) -> None:
    path = tmp_path / "clouds.yaml"
    path.write_text("clouds: [unclosed")
    with pytest.raises(ConfigError, match="cannot be read as YAML"):
        load_settings({"OS_CLIENT_CONFIG_FILE": str(path), "OS_CLOUD": "prod"})


def test_clouds_yaml_is_found_in_the_working_directory_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "clouds.yaml", {"here": {"region_name": "eu-nl"}})
    monkeypatch.chdir(tmp_path)
    assert load_settings({"OS_CLOUD": "here"}).default_cloud.region == "eu-nl"
    monkeypatch.setenv("HOME", str(tmp_path / "nowhere"))
    monkeypatch.chdir(tmp_path / "..")
    with pytest.raises(ConfigError, match=r"no clouds\.yaml was found"):
        load_settings({"OS_CLOUD": "here"})
