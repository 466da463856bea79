"""End to end: the installed `bgtask-mcp` command over stdio, driven by the SDK's stdio client."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import anyio
import pytest
from mcp import Client, StdioServerParameters
from mcp.types import TextContent

from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, sim_env

COMMAND = Path(sys.executable).with_name("bgtask-mcp")

pytestmark = pytest.mark.anyio


def test_the_console_script_is_installed_and_has_help() -> None:
    assert COMMAND.exists(), "pip install -e . should have installed the bgtask-mcp command"
    for args in ([], ["serve"], ["simulator"], ["demo"]):
        out = subprocess.run([str(COMMAND), *args, "--help"], capture_output=True, text=True, timeout=30, check=True)
        assert "usage: bgtask-mcp" in out.stdout
    serve_help = subprocess.run([str(COMMAND), "serve", "--help"], capture_output=True, text=True, timeout=30).stdout
    for name in ("BGTASK_ACCESS_KEY", "BGTASK_REGION", "--simulator", "--transport"):
        assert name in serve_help


async def test_installed_command_over_stdio(simulator: Simulator) -> None:
    params = StdioServerParameters(command=str(COMMAND), args=["serve"], env=clean_env(**sim_env(simulator)))
    with anyio.fail_after(30):
        async with Client(params) as client:
            tools = (await client.list_tools()).tools
            assert {t.name for t in tools} == {
                "list_changes",
                "list_instances",
                "get_background_task",
                "list_background_tasks",
                "wait_for_background_task",
            }
            good = await client.call_tool(
                "get_background_task", {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
            )
            assert not good.is_error
            assert good.structured_content is not None
            assert good.structured_content["tasks"][0]["params"]["public_ip_address"] == "100.93.2.18"
            bad = await client.call_tool(
                "get_background_task", {"instance_id": "00000000-0000-4000-8000-000000000000", "task_id": "f" * 32}
            )
            assert bad.is_error
            assert any("DMS.00404022" in b.text for b in bad.content if isinstance(b, TextContent))


async def test_python_dash_m_with_embedded_simulator() -> None:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "bgtask_mcp", "serve", "--simulator"], env=clean_env()
    )
    with anyio.fail_after(30):
        async with Client(params, mode="legacy") as client:
            result = await client.call_tool("list_background_tasks", {"instance_id": data.ROCKETMQ.id, "limit": 5})
    assert not result.is_error
    assert result.structured_content is not None
    assert result.structured_content["simulated"] is True
    assert result.structured_content["tasks"]


async def test_without_credentials_the_command_starts_and_explains() -> None:
    params = StdioServerParameters(command=str(COMMAND), args=[], env=clean_env(BGTASK_REGION="eu-de"))
    with anyio.fail_after(30):
        async with Client(params) as client:
            result = await client.call_tool(
                "get_background_task", {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
            )
    assert result.is_error
    text = " ".join(b.text for b in result.content if isinstance(b, TextContent))
    assert "BGTASK_ACCESS_KEY" in text and "--simulator" in text


def test_demo_prints_a_real_session_from_a_name() -> None:
    out = subprocess.run([str(COMMAND), "demo"], capture_output=True, text=True, timeout=120, env=clean_env())
    assert out.returncode == 0, out.stderr[-2000:]
    text = out.stdout
    tools = "list_changes, list_instances, get_background_task, list_background_tasks, wait_for_background_task"
    assert f"tools: {tools}" in text
    assert "by ops-carol" in text or "(joined with its audit trace)" in text  # who did it, from the audit trail
    assert f"prod-events  kafka  RUNNING  eu-nl  {data.NL_EVENTS.id}" in text  # found by name, in a region
    assert "SUCCESS  bindInstancePublicIp" in text and "FAILED  changeRetentionPolicy" in text
    assert "DMS.00404022" in text and "is not a DMS task id" in text and "region 'eu-moon-1' is unknown" in text
    # the demo's task runs on real time: how far it got at the first poll depends on the machine
    assert re.search(r"progress [1-9]\d?/100: resizeInstance is EXECUTING", text) and "progress 100/100:" in text
    assert "finished successfully" in text
    # reads cleanly: no doubled error prefix, no None fields
    assert "Error executing tool" not in text and "None" not in text and "error: error" not in text
    rows = [line for line in text.splitlines() if line.startswith(("  SUCCESS ", "  FAILED ", "  EXECUTING "))]
    arrows = {line.index(" -> ") for line in rows if " -> " in line}
    assert len(rows) >= 5 and len({len(r.split()[0]) for r in rows}) >= 2  # different statuses...
    assert text.count("progress") >= 4 and len(arrows) >= 1  # ...in aligned columns within each table
