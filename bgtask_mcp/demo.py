"""``bgtask-mcp demo``: the simulator, the server over stdio, a real MCP client, a readable session."""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.server import SimulatorServer

BOLD = "\033[1m" if sys.stdout.isatty() else ""
DIM = "\033[2m" if sys.stdout.isatty() else ""
RESET = "\033[0m" if sys.stdout.isatty() else ""


def _say(text: str = "") -> None:
    print(text, flush=True)


def _show_call(name: str, args: dict[str, Any]) -> None:
    shown = ", ".join(f"{k}={v!r}" for k, v in args.items())
    _say(f"{BOLD}> {name}({shown}){RESET}")


def _show_result(result: CallToolResult, as_json: bool) -> None:
    if result.is_error:
        text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
        _say(f"  tool error: {text}")
        return
    payload = result.structured_content or {}
    if as_json:
        _say(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    tasks = payload.get("tasks") or ([payload["task"]] if "task" in payload else [])
    if "summary" in payload:
        _say(f"  {payload['summary']} (waited {payload['waited_seconds']} s, {payload['polls']} reads)")
    if "task_count" in payload:
        _say(f"  task_count={payload['task_count']}  next_start={payload.get('next_start')}")
    for task in tasks:
        _say(
            f"  {task['status']:<10} {task['name']:<26} {task['created_at']} -> {task['updated_at']}  "
            f"by {task['user_name']}"
        )
        _say(f"  {DIM}params: {json.dumps(task['params'], ensure_ascii=False)}{RESET}")
    if payload.get("simulated"):
        _say(f"  {DIM}(simulated){RESET}")


async def _session(sim: SimulatorServer, as_json: bool) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_"))},
        "BGTASK_ENDPOINT": sim.url,
        "BGTASK_ACCESS_KEY": data.SIM_ACCESS_KEY,
        "BGTASK_SECRET_KEY": data.SIM_SECRET_KEY,
        "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID,
        "BGTASK_LOG_LEVEL": "WARNING",
    }
    params = StdioServerParameters(command=sys.executable, args=["-m", "bgtask_mcp", "serve"], env=env)
    kafka = data.KAFKA.id
    started = time.perf_counter()
    async with Client(params) as client:
        _say(
            f"{BOLD}bgtask-mcp demo{RESET}: simulator at {sim.url}, server over stdio "
            f"(connected in {time.perf_counter() - started:.2f} s)"
        )
        tools = await client.list_tools()
        _say("tools: " + ", ".join(t.name for t in tools.tools))
        _say()

        async def call(name: str, args: dict[str, Any], title: str) -> None:
            _say(f"{BOLD}# {title}{RESET}")
            _show_call(name, args)
            t0 = time.perf_counter()

            async def progress(progress: float, total: float | None, message: str | None) -> None:
                _say(f"  {DIM}progress: {message}{RESET}")

            result = await client.call_tool(name, args, progress_callback=progress)
            _show_result(result, as_json)
            _say(f"  {DIM}({(time.perf_counter() - t0) * 1000:.0f} ms){RESET}")
            _say()

        await call(
            "get_background_task",
            {"instance_id": kafka, "task_id": data.EXAMPLE_TASK_ID},
            "Did the public-IP binding on prod-events finish?",
        )
        await call(
            "get_background_task",
            {"instance_id": kafka, "task_id": data.FAILED_TASK_ID},
            "A change that failed",
        )
        await call(
            "list_background_tasks",
            {"instance_id": kafka, "name": "bindInstancePublicIp", "limit": 1},
            "No job id? Find the latest bindInstancePublicIp task by name",
        )
        await call(
            "list_background_tasks",
            {"instance_id": kafka, "begin_time": "24h", "limit": 5},
            "What changed on prod-events in the last 24 hours?",
        )
        await call(
            "get_background_task",
            {"instance_id": "00000000-0000-4000-8000-000000000000", "task_id": data.EXAMPLE_TASK_ID},
            "An instance that does not exist: an error the model can act on",
        )
        await call(
            "get_background_task",
            {"instance_id": kafka, "task_id": "../../etc/passwd"},
            "A hallucinated id is refused before any request is sent",
        )
        async with httpx2.AsyncClient(base_url=sim.url) as http:
            created = (
                await http.post(
                    "/_simulator/tasks",
                    json={
                        "instance_id": kafka,
                        "name": "resizeInstance",
                        "params": {"new_broker_num": 6},
                        "duration_s": 4,
                        "progress_steps": ["pre_check", "broker_expansion", "post_check"],
                    },
                )
            ).json()
        await call(
            "wait_for_background_task",
            {"instance_id": kafka, "task_id": created["id"], "timeout_seconds": 30, "poll_interval_seconds": 1},
            "Wait until the resize is done and tell me",
        )


def run_demo(*, as_json: bool = False) -> int:
    with SimulatorServer() as sim:
        anyio.run(_session, sim, as_json)
    return 0
