"""What clients see of the tools' schemas, shaped so that every agent platform reads them fully.

- Optional arguments (``anyOf: [X, null]``) carry their description inside ``X``, and only there: Google's
  Gemini conversion replaces such a property by its non-null branch and would drop a description beside it;
  OpenAI and LangChain pass the whole property on, branch and all. Each description costs its tokens once.
- ``cloud`` exists only when several clouds are configured, as an enum of their names.
- ``region`` names the server's default region.
- Output schemas are inlined (no ``$ref``) and say what a model needs to read an answer: the top-level fields
  with their descriptions, the nested ones by name and type only (their meaning is the tool's description and
  the glossary's). Unions stay ``anyOf`` branches of one ``type`` each, never a ``type`` array nor an untyped
  ``{}``: the Inspector's strict lint flags both as unportable (single-``type`` dialects such as Gemini's reject
  them). A client validating ``structuredContent`` resolves nothing.
- No generated ``title``s, no ``default: null`` (absent means null), docstrings without their indentation: every
  ``tools/list`` costs the model its tokens, so each byte of it says something.
"""

from __future__ import annotations

import copy
import inspect
from typing import Any

from mcp.server import MCPServer

from bgtask_mcp.config import Settings

NULL = {"type": "null"}


def shape_input(schema: dict[str, Any], settings: Settings) -> dict[str, Any]:
    shaped = copy.deepcopy(schema)
    properties: dict[str, Any] = shaped.get("properties", {})
    if "cloud" in properties:
        if settings.cloud_argument:
            names = [c.name for c in settings.clouds]
            properties["cloud"]["anyOf"] = [{"type": "string", "enum": names}, NULL]
            properties["cloud"]["description"] = (
                f"Which configured cloud (account) to ask: {', '.join(names)}. null (the default): {names[0]}."
            )
        else:
            del properties["cloud"]
    region = settings.default_cloud.region
    if "region" in properties and region:
        properties["region"]["description"] = properties["region"]["description"].replace(
            "the server's default region.", f"{region}."
        )
    for prop in properties.values():
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        _description_into_branch(prop)
    shaped.pop("title", None)
    return shaped


def _description_into_branch(prop: dict[str, Any]) -> None:
    branches = prop.get("anyOf")
    if not isinstance(branches, list) or NULL not in branches or "description" not in prop:
        return
    description = prop.pop("description")
    prop["anyOf"] = [b if b == NULL else {**b, "description": description} for b in branches]


def shape_output(schema: dict[str, Any]) -> dict[str, Any]:
    """The schema with every ``#/$defs/...`` reference replaced by its definition (the models are not recursive),
    descriptions kept on the top-level fields only, and without pydantic's titles, defaults and nested
    ``required`` lists (the server always sends every field)."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any, depth: int, field: bool = False) -> Any:
        if isinstance(node, list):
            return [resolve(item, depth) for item in node]
        if not isinstance(node, dict):
            return node
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            target = {k: v for k, v in definitions[ref.removeprefix("#/$defs/")].items() if k != "description"}
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}  # the field's words, not the class's
        kept: dict[str, Any] = {}
        for key, value in node.items():
            if key in ("$defs", "title", "default") or (key == "required" and depth > 0):
                continue
            if key == "description" and not (field and depth == 1):  # else a class docstring, or read by name
                continue
            if key == "properties":
                kept[key] = {name: resolve(sub, depth + 1, True) for name, sub in value.items()}
            else:
                kept[key] = resolve(value, depth)
        return kept

    return resolve(schema, 0)  # type: ignore[no-any-return]


def shape_tools(mcp: MCPServer[Any], settings: Settings) -> None:
    """Rewrite the registered tools' schemas in place (the SDK reads them live)."""
    for tool in mcp._tool_manager.list_tools():
        tool.description = inspect.cleandoc(tool.description or "")
        tool.parameters = shape_input(tool.parameters, settings)
        output = tool.fn_metadata.output_schema
        if output is not None:
            tool.fn_metadata.output_schema = shape_output(output)
            tool.__dict__.pop("output_schema", None)  # a cached_property of the SDK's Tool
