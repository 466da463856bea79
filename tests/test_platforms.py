"""The agent platforms' own conversions of the live ``tools/list``, run with their pinned releases: every
argument of every tool keeps its description, and every optional argument lets the model say "default".

- Gemini: google-genai's MCP-to-Gemini conversion (``mcp_to_gemini_tools``, what ``tools=[session]`` uses):
  description, enum and bounds survive, optional arguments are nullable.
- OpenAI strict mode: openai-agents' ``MCPUtil.to_function_tool(..., convert_schemas_to_strict=True)``
  really converts (its failure is silent: ``strict_json_schema`` is then False), and ``null`` validates for
  every optional argument while a wrong type does not.
- LangChain: langchain-mcp-adapters, which needs mcp 1.x, runs in its own virtual environment against the
  server over stdio (``tests/langchain/client.py``): it loads the tools, keeps every description, and calls one.

Each runs on the single-cloud schema and on the one with a ``cloud`` enum (several clouds configured).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import jsonschema
import pytest
import yaml
from mcp import Client
from mcp.types import Tool

from bgtask_mcp.config import Settings, load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, fast_settings, sim_env
from .external import TOOLS

pytestmark = pytest.mark.anyio

LANGCHAIN = Path(__file__).parent / "langchain"
LANGCHAIN_PINS = ("mcp==1.30.0", "langchain-mcp-adapters==0.3.2", "langchain-core==1.8.3")
WRONG_TYPES: dict[str, Any] = {"string": 12345, "integer": "ten", "number": "soon"}


def schema_variants(tmp_path: Path) -> dict[str, Settings]:
    clouds = tmp_path / "clouds.yaml"
    entry = {"region_name": "eu-de", "ak": "FAKEACCESSKEY0000000", "sk": "fake-secret-key-0000000000000000"}
    clouds.write_text(yaml.safe_dump({"clouds": {"prod": entry, "staging": {**entry, "region_name": "eu-nl"}}}))
    return {
        "one cloud": load_settings({"BGTASK_REGION": "eu-de"}),
        "several clouds": load_settings({"OS_CLIENT_CONFIG_FILE": str(clouds), "BGTASK_CLOUDS": "prod,staging"}),
    }


def listed_tools(settings: Settings) -> list[Tool]:
    async def listed() -> list[Tool]:
        async with Client(build_server(settings)) as client:
            return (await client.list_tools()).tools

    return anyio.run(listed)


@pytest.fixture(params=["one cloud", "several clouds"])
def tools(request: pytest.FixtureRequest, tmp_path: Path) -> list[Tool]:
    listed = listed_tools(schema_variants(tmp_path)[request.param])
    if request.param == "several clouds":
        assert all("cloud" in tool.input_schema["properties"] for tool in listed)
    return listed


def described(prop: dict[str, Any]) -> str | None:
    """An argument's description: beside its type, or (an optional argument) inside its non-null branch."""
    branch = next((b for b in prop.get("anyOf", []) if b.get("type") != "null"), {})
    return prop.get("description") or branch.get("description")


def descriptions(tool: Tool) -> dict[str, str]:
    properties: dict[str, dict[str, Any]] = tool.input_schema["properties"]
    assert all(described(p) for p in properties.values()), f"{tool.name}: an argument has no description"
    return {name: str(described(p)) for name, p in properties.items()}


def optional(tool: Tool) -> list[str]:
    return [name for name in tool.input_schema["properties"] if name not in tool.input_schema.get("required", [])]


def test_gemini_keeps_every_description_enum_and_bound(tools: list[Tool]) -> None:
    from google.genai._mcp_utils import mcp_to_gemini_tools

    for tool, converted in zip(tools, mcp_to_gemini_tools(tools), strict=True):
        (declaration,) = converted.function_declarations or []
        assert declaration.name == tool.name and declaration.description == tool.description
        assert declaration.parameters is not None and declaration.parameters.properties is not None
        properties = declaration.parameters.properties
        assert {name: schema.description for name, schema in properties.items()} == descriptions(tool)
        assert sorted(declaration.parameters.required or []) == sorted(tool.input_schema.get("required", []))
        for name in optional(tool):
            assert properties[name].nullable is True, f"{tool.name}.{name}: Gemini cannot say 'default'"
        for name, source in tool.input_schema["properties"].items():
            branch = next((b for b in source.get("anyOf", [source]) if b.get("type") != "null"), source)
            if "enum" in branch:
                assert properties[name].enum == branch["enum"], f"{tool.name}.{name}: enum lost"
            for bound in ("minimum", "maximum"):
                if bound in branch:
                    assert getattr(properties[name], bound) == branch[bound], f"{tool.name}.{name}: {bound} lost"


def test_openai_strict_mode_converts_and_accepts_null_for_every_default(tools: list[Tool]) -> None:
    from agents.mcp import MCPServerStdio, MCPUtil

    logging.getLogger("openai.agents").setLevel(logging.ERROR)
    server = MCPServerStdio(params={"command": "true"})  # never started: the conversion only names it
    for tool in tools:
        converted = MCPUtil.to_function_tool(tool, server, convert_schemas_to_strict=True)
        assert converted.strict_json_schema, f"{tool.name}: strict conversion failed and fell back"
        schema = converted.params_json_schema
        assert {n: described(p) for n, p in schema["properties"].items()} == descriptions(tool)
        assert sorted(schema["required"]) == sorted(schema["properties"])  # strict: every argument is sent
        for name in optional(tool):
            jsonschema.validate(None, schema["properties"][name])  # null means "use the default"
            kind = next(b["type"] for b in schema["properties"][name]["anyOf"] if b["type"] != "null")
            if kind in WRONG_TYPES:
                with pytest.raises(jsonschema.ValidationError):
                    jsonschema.validate(WRONG_TYPES[kind], schema["properties"][name])


async def test_null_for_every_optional_argument_means_the_default(simulator: Simulator) -> None:
    """What a strict-mode model sends: every argument, the optional ones as null. The answer is the default's."""
    settings = fast_settings(sim_env(simulator, BGTASK_CACHE="off"))
    async with Client(build_server(settings)) as client:
        listed = {tool.name: tool for tool in (await client.list_tools()).tools}
        required = {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
        for name, tool in listed.items():
            arguments = {key: required[key] for key in tool.input_schema.get("required", [])}
            nulls = {key: None for key in optional(tool)}
            with_nulls = await client.call_tool(name, {**arguments, **nulls})
            without = await client.call_tool(name, arguments)
            assert not with_nulls.is_error, (name, with_nulls.content)
            assert stable(with_nulls.structured_content) == stable(without.structured_content), name


def stable(content: dict[str, Any] | None) -> dict[str, Any]:
    """The content without what changes between two reads: a running task's ``updated_at``, the time waited,
    and for list_changes what sits at the edge of a window that moves with the clock."""
    assert content is not None
    if "changes" in content:
        recent = (datetime.now(UTC) - timedelta(hours=23)).isoformat()
        seen = sorted((c["task_id"] or "", c["trace_id"] or "") for c in content["changes"] if c["time"] > recent)
        return {"regions": content["regions"], "partial": content["partial"], "recent": seen}
    content = {k: v for k, v in content.items() if k != "waited_seconds"}
    tasks = [{k: v for k, v in task.items() if k != "updated_at"} for task in content.get("tasks", [])]
    return {**content, "tasks": tasks} if "tasks" in content else content


def langchain_python() -> Path:
    """A virtual environment of its own for langchain-mcp-adapters (it needs mcp 1.x), made on first use."""
    venv = TOOLS / "langchain-venv"
    python = venv / "bin" / "python"
    stamp = venv / ".installed-pins"
    if not python.exists() or not stamp.exists() or stamp.read_text() != "\n".join(LANGCHAIN_PINS):
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True, timeout=300)
        done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                               *LANGCHAIN_PINS], capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
        if done.returncode != 0:
            raise RuntimeError(f"installing {' '.join(LANGCHAIN_PINS)} failed: {done.stderr[-2000:]}")
        stamp.write_text("\n".join(LANGCHAIN_PINS))
    return python


def test_langchain_loads_every_tool_with_its_descriptions_and_calls_one(simulator: Simulator) -> None:
    python = langchain_python()
    env = {**clean_env(**sim_env(simulator)), "BGTASK_PYTHON": sys.executable, "PYTHONPATH": ""}
    env["BGTASK_TOOLS_LIST"] = json.dumps(_live_descriptions())
    env["BGTASK_CALL_ARGUMENTS"] = json.dumps({"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID})
    done = subprocess.run([str(python), str(LANGCHAIN / "client.py")], env=env, capture_output=True, text=True,
                          timeout=300, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    report = json.loads(done.stdout.splitlines()[-1])
    assert report["descriptions"] == json.loads(env["BGTASK_TOOLS_LIST"])
    assert report["mcp"].startswith("1.") and report["adapters"] == "0.3.2"
    assert report["called"]["tasks"][0]["id"] == data.EXAMPLE_TASK_ID


def _live_descriptions() -> dict[str, dict[str, str]]:
    return {tool.name: descriptions(tool) for tool in listed_tools(load_settings({"BGTASK_REGION": "eu-de"}))}
