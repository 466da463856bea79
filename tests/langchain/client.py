"""LangChain's MCP adapter (langchain-mcp-adapters, on mcp 1.x) against `bgtask-mcp serve` over stdio.

Runs in its own virtual environment (tests/test_platforms.py makes it); the server runs with the project's
Python (BGTASK_PYTHON) and the simulator settings in the environment; BGTASK_CALL_ARGUMENTS are the
arguments of the one get_background_task call. Prints one JSON line: the adapter's
versions, every tool's argument descriptions as LangChain holds them (beside the type or in the non-null
branch), and the structured result of one call.
"""

from __future__ import annotations

import asyncio
import json
import os
from importlib.metadata import version

from langchain_mcp_adapters.client import MultiServerMCPClient


def described(spec: dict) -> str | None:
    """An argument's description: beside its type, or (an optional argument) inside its non-null branch."""
    branch = next((b for b in spec.get("anyOf", []) if b.get("type") != "null"), {})
    return spec.get("description") or branch.get("description")


async def main() -> None:
    server = {
        "transport": "stdio",
        "command": os.environ["BGTASK_PYTHON"],
        "args": ["-m", "bgtask_mcp", "serve"],
        "env": dict(os.environ),
    }
    client = MultiServerMCPClient({"bgtask": server})
    tools = {tool.name: tool for tool in await client.get_tools()}
    descriptions = {name: {arg: described(spec) for arg, spec in tool.args.items()} for name, tool in tools.items()}
    call = {
        "type": "tool_call",
        "id": "call-1",
        "name": "get_background_task",
        "args": json.loads(os.environ["BGTASK_CALL_ARGUMENTS"]),
    }
    message = await tools["get_background_task"].ainvoke(call)
    if message.status == "error" or message.artifact is None:
        raise SystemExit(f"the call failed: {message.content}")
    print(
        json.dumps(
            {
                "mcp": version("mcp"),
                "adapters": version("langchain-mcp-adapters"),
                "descriptions": descriptions,
                "called": message.artifact["structured_content"],
            }
        )
    )


asyncio.run(main())
