"""The tools/list schema is a reviewed contract: any change shows up as a diff of tests/snapshots/tools.json.

After an intended change, regenerate with: BGTASK_UPDATE_SNAPSHOTS=1 python -m pytest tests/test_schema_snapshot.py
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from mcp import Client

from bgtask_mcp.config import load_settings
from bgtask_mcp.server import build_server

SNAPSHOT = Path(__file__).parent / "snapshots" / "tools.json"


@pytest.mark.anyio
async def test_tools_list_matches_the_snapshot() -> None:
    async with Client(build_server(load_settings({"BGTASK_REGION": "eu-de"})), mode="legacy") as client:
        tools = (await client.list_tools()).tools
    current = [tool.model_dump(mode="json", by_alias=True, exclude_none=True) for tool in tools]
    text = json.dumps(current, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    if os.environ.get("BGTASK_UPDATE_SNAPSHOTS") == "1":
        SNAPSHOT.write_text(text, encoding="utf-8")
    assert SNAPSHOT.exists(), (
        "no snapshot yet: run with BGTASK_UPDATE_SNAPSHOTS=1 and review tests/snapshots/tools.json"
    )
    assert text == SNAPSHOT.read_text(encoding="utf-8"), (
        "tools/list changed: review the difference, then regenerate with BGTASK_UPDATE_SNAPSHOTS=1"
    )


# What tools/list costs a model before the user says a word, as compact JSON: 14 KB is about 3,500 tokens for
# the five tools, every argument described once and every answer's fields named.
TOOLS_LIST_CEILING = 14_000


@pytest.mark.anyio
async def test_tools_list_stays_under_its_token_ceiling() -> None:
    async with Client(build_server(load_settings({"BGTASK_REGION": "eu-de"})), mode="legacy") as client:
        tools = (await client.list_tools()).tools
    sizes = {t.name: len(json.dumps(t.model_dump(mode="json", by_alias=True, exclude_none=True), separators=(",", ":")))
             for t in tools}  # fmt: skip
    total = len(json.dumps([t.model_dump(mode="json", by_alias=True, exclude_none=True) for t in tools],
                           separators=(",", ":")))  # fmt: skip
    assert total <= TOOLS_LIST_CEILING, sizes
    for tool in tools:  # each description once: an optional argument's lives in its non-null branch only
        for prop in tool.input_schema["properties"].values():
            assert not ("anyOf" in prop and "description" in prop), tool.name
