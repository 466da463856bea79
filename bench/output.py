"""What the model reads: bytes of tool output (the text block + structuredContent as serialized) for the seed
example task and for a page of 10 tasks, against the raw DMS API JSON of the same data; and what ``tools/list``
costs before the user says a word, whole and per tool, against its budget.

The raw JSON is counted compact (no spaces) and without the simulator's own ``simulated`` flag, i.e. the
smallest a faithful copy of the API answer can be.
"""

from __future__ import annotations

import json
from typing import Any

from mcp import Client

from bench.common import Simulator, direct_client, ours_env
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "What the model reads (bytes of tool output)"
TOOLS_LIST_BUDGET = 14_000  # bytes of compact JSON, about 3,500 tokens (tests/test_schema_snapshot.py holds it too)


def compact(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())


def tool_bytes(result: Any) -> tuple[int, int]:
    """(text bytes, structuredContent bytes) of a CallToolResult."""
    text = sum(len(block.text.encode()) for block in result.content if getattr(block, "type", "") == "text")
    structured = compact(result.structured_content) if result.structured_content is not None else 0
    return text, structured


def cases(sim: Simulator) -> list[tuple[str, str, dict[str, Any], str, dict[str, str]]]:
    """(what, tool, arguments, the API path of the same data, its query)."""
    return [
        (
            "seed task (get_background_task)",
            "get_background_task",
            {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID},
            sim.task_path(data.KAFKA.id, data.EXAMPLE_TASK_ID),
            {},
        ),
        (
            "10-task page (list_background_tasks)",
            "list_background_tasks",
            {"instance_id": data.KAFKA.id, "limit": 10},
            sim.list_path(data.KAFKA.id),
            {"start": "1", "limit": "10"},
        ),
    ]


def rows_of(what: str, text: int, structured: int, api: dict[str, Any]) -> list[Row]:
    api_bytes, ours = compact(api), text + structured
    both = Row(
        SECTION,
        f"{what}: text + structured",
        ours,
        "B",
        "raw API JSON",
        api_bytes,
        ours / api_bytes,
        note=f"text block {text:,} B (JSON indented by the SDK) + structuredContent {structured:,} B; "
        f"{len(api.get('tasks', []))} task(s), params decoded",
        extra={"text": text, "structured": structured},
    )
    text_only = Row(
        SECTION,
        f"{what}: text only",
        text,
        "B",
        "raw API JSON",
        api_bytes,
        text / api_bytes,
        target="<= 1.0" if what.startswith("10-task") else "",  # a page reads no larger than the API's own JSON
        note=f"what a client that shows only content passes on; compact it would be about {structured:,} B",
    )
    return [both, text_only]


def tools_list_rows(tools: list[Any]) -> list[Row]:
    """The whole tools/list against its budget, then each tool's share of it."""
    dumped = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    whole = compact(dumped)
    rows = [
        Row(SECTION, "tools/list, five tools", whole, "B", "budget", TOOLS_LIST_BUDGET, whole / TOOLS_LIST_BUDGET,
            target="<= 1.0", note=f"compact JSON, about {whole // 4:,} tokens")
    ]  # fmt: skip
    for tool in dumped:
        parts = (len(tool.get("description", "")), compact(tool["inputSchema"]), compact(tool.get("outputSchema")))
        note = "description {:,} B, input schema {:,} B, output schema {:,} B".format(*parts)
        rows.append(Row(SECTION, f"tools/list: {tool['name']}", compact(tool), "B", note=note))
    return rows


async def run(sim: Simulator) -> tuple[list[Row], dict[str, Any], list[str]]:
    from bgtask_mcp.config import load_settings
    from bgtask_mcp.server import build_server

    settings = load_settings(ours_env(sim.url, cache=False))
    rows: list[Row] = []
    raw: dict[str, Any] = {}
    async with Client(build_server(settings), mode="legacy") as client, direct_client() as direct:
        listed = tools_list_rows((await client.list_tools()).tools)
        rows.extend(listed)
        raw["tools/list"] = {row.what: row.ours for row in listed}
        for what, tool, arguments, path, query in cases(sim):
            result = await client.call_tool(tool, arguments)
            if result.is_error:
                raise RuntimeError(f"{tool} failed: {result.content}")
            text, structured = tool_bytes(result)
            api = (await direct.get(sim.url + path, params=query)).json()
            api.pop("simulated", None)
            rows.extend(rows_of(what, text, structured, api))
            raw[what] = {"text_bytes": text, "structured_bytes": structured, "api_bytes": compact(api)}
    return rows, raw, []
