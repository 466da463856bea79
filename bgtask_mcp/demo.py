"""``bgtask-mcp demo``: the simulator, the server over stdio, a real MCP client, a readable session.

The session starts from what a person says ("prod-events in eu-nl"), never from an id typed by hand: the
server is configured with nothing but AK/SK and a region, and finds projects and instances itself.
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import anyio
import httpx2
from mcp import Client, StdioServerParameters
from mcp.types import CallToolResult, TextContent

from bgtask_mcp.settings_env import is_target_variable, process_environment
from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.server import SimulatorServer, server_env

COLOUR = sys.stdout.isatty()
BOLD, DIM, RESET = ("\033[1m", "\033[2m", "\033[0m") if COLOUR else ("", "", "")
ERROR_PREFIX = "Error executing tool "  # the SDK's, in front of every tool error


def say(text: str = "") -> None:
    print(text, flush=True)


def error_text(result: CallToolResult) -> str:
    text = " ".join(block.text for block in result.content if isinstance(block, TextContent))
    if text.startswith(ERROR_PREFIX):
        text = text.split(": ", 1)[-1]  # "Error executing tool NAME: message" -> "message"
    return text


def table(rows: list[list[str]]) -> list[str]:
    """Rows as aligned columns (the last column is left ragged)."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    return ["  ".join(cell.ljust(widths[i]) if i < len(widths) else cell for i, cell in enumerate(row)) for row in rows]


def show_result(result: CallToolResult, as_json: bool) -> None:
    if result.is_error:
        say(f"  error: {error_text(result)}")
        return
    payload = result.structured_content or {}
    if as_json:
        say(json.dumps(payload, indent=2, ensure_ascii=False))
        return
    if "changes" in payload:
        show_changes(payload)
        return
    if "instances" in payload:
        rows = [[i["name"], i["engine"], i["status"], i["region"], i["instance_id"]] for i in payload["instances"]]
        for line in table(rows) if rows else ["(no instance matches)"]:
            say(f"  {line}")
        return
    if "summary" in payload:
        say(f"  {payload['summary']} (waited {payload['waited_seconds']:g} s, {payload['polls']} reads)")
    tasks = payload.get("tasks") or ([payload["task"]] if "task" in payload else [])
    if "next_start" in payload:
        more = f", next page at start={payload['next_start']}" if payload.get("next_start") else ""
        say(f"  {payload['task_count']} task(s) in the API's answer{more}")
    rows = [[t["status"], t["name"], f"{t['created_at']} -> {t['updated_at']}", f"by {t['user_name']}"] for t in tasks]
    for row, task in zip(table(rows) if rows else [], tasks, strict=False):
        say(f"  {row}")
        say(f"  {DIM}  params: {json.dumps(task['params'], ensure_ascii=False)}{RESET}")


def show_changes(payload: dict[str, Any]) -> None:
    """list_changes as a table: when, where, what, status, who."""
    shown = payload["changes"][:12]
    rows = [
        [c["time"][:16].replace("T", " "), c["region"], c["instance_name"] or "-", c["status"], c["name"],
         f"by {c['user'] or '-'}" + (" (joined with its audit trace)" if c["task_id"] and c["trace_id"] else "")]
        for c in shown
    ]  # fmt: skip
    say(f"  {payload['change_count']} change(s) in {', '.join(payload['regions'])}; the newest {len(shown)}:")
    for line in table(rows) if rows else ["(nothing changed)"]:
        say(f"  {line}")
    for missing in payload["partial"]:
        say(f"  partial: {missing['region']} {missing['part']}: {missing['error']}")


class Session:
    def __init__(self, client: Client, as_json: bool) -> None:
        self.client = client
        self.as_json = as_json

    async def call(self, title: str, name: str, args: dict[str, Any]) -> dict[str, Any]:
        say(f"{BOLD}# {title}{RESET}")
        say(f"{BOLD}> {name}({', '.join(f'{k}={v!r}' for k, v in args.items())}){RESET}")
        started = time.perf_counter()

        async def on_progress(progress: float, total: float | None, message: str | None) -> None:
            shown = f"{progress:.0f}/{total:.0f}" if total else f"read {progress:.0f}"
            say(f"  {DIM}progress {shown}: {message}{RESET}")

        result = await self.client.call_tool(name, args, progress_callback=on_progress)
        show_result(result, self.as_json)
        say(f"  {DIM}({(time.perf_counter() - started) * 1000:.0f} ms){RESET}")
        say()
        return result.structured_content or {}


async def _script(s: Session, sim: SimulatorServer) -> None:
    await s.call(
        "What changed on our messaging in eu-nl in the last 24 hours, and who did it?",
        "list_changes",
        {"region": "eu-nl", "since": "24h"},
    )
    await s.call("Which instances are called prod-events?", "list_instances", {"name": "prod-events"})
    found = await s.call(
        "Did the public-IP binding on prod-events in eu-nl finish? First, find the instance",
        "list_instances",
        {"name": "prod-events", "region": "eu-nl"},
    )
    nl_events = found["instances"][0]["instance_id"]
    await s.call(
        "Binding a public IP returns no job id: the latest bindInstancePublicIp task, by name",
        "list_background_tasks",
        {"instance_id": nl_events, "region": "eu-nl", "name": "bindInstancePublicIp", "limit": 1},
    )
    kafka = data.KAFKA.id
    await s.call("A change that failed", "get_background_task", {"instance_id": kafka, "task_id": data.FAILED_TASK_ID})
    await s.call(
        "What changed on prod-events (eu-de) in the last 24 hours?",
        "list_background_tasks",
        {"instance_id": kafka, "begin_time": "24h", "limit": 5},
    )
    await s.call(
        "An instance that does not exist: an error the model can act on",
        "get_background_task",
        {"instance_id": "00000000-0000-4000-8000-000000000000", "task_id": data.EXAMPLE_TASK_ID},
    )
    await s.call(
        "A hallucinated id is refused before any request is sent",
        "get_background_task",
        {"instance_id": kafka, "task_id": "../../etc/passwd"},
    )
    await s.call("A region that does not exist", "list_instances", {"name": "prod-events", "region": "eu-moon-1"})
    async with httpx2.AsyncClient(base_url=sim.url) as http:
        created = await http.post(
            "/_simulator/tasks",
            json={
                "instance_id": kafka,
                "name": "resizeInstance",
                "params": {"new_broker_num": 6},
                "duration_s": 4,
                "progress_steps": ["pre_check", "broker_expansion", "post_check"],
            },
        )
    await s.call(
        "Wait until the resize is done and tell me",
        "wait_for_background_task",
        {"instance_id": kafka, "task_id": created.json()["id"], "timeout_seconds": 30, "poll_interval_seconds": 1},
    )


async def _session(sim: SimulatorServer, as_json: bool) -> None:
    env = {k: v for k, v in process_environment().items() if not is_target_variable(k)}
    env.update(server_env(sim))
    env["BGTASK_LOG_LEVEL"] = "WARNING"
    params = StdioServerParameters(command=sys.executable, args=["-m", "bgtask_mcp", "serve"], env=env)
    started = time.perf_counter()
    async with Client(params) as client:
        tools = await client.list_tools()
        say(
            f"{BOLD}bgtask-mcp demo{RESET}: the simulator serves eu-de, eu-nl and eu-ch2; the server runs over stdio "
            f"with nothing but AK/SK and a region (connected in {time.perf_counter() - started:.2f} s)"
        )
        say(f"tools: {', '.join(t.name for t in tools.tools)}")
        say()
        await _script(Session(client, as_json), sim)


def run_demo(*, as_json: bool = False) -> int:
    with SimulatorServer() as sim:
        anyio.run(_session, sim, as_json)
    return 0
