"""What clients see of the tools' schemas, shaped so that every agent platform reads them fully.

- Optional arguments (``anyOf: [X, null]``) carry their description inside ``X``, and only there: Google's
  Gemini conversion replaces such a property by its non-null branch and would drop a description beside it;
  OpenAI and LangChain pass the whole property on, branch and all. Each description costs its tokens once.
- ``cloud`` exists only when several clouds are configured, as an enum of their names.
- ``region`` names the server's default region.
- Output schemas are inlined (no ``$ref``) and carry no generated ``title``s, nor the model classes' docstrings
  (developer documentation): a client validating ``structuredContent`` resolves nothing, and the field
  descriptions a model needs are what remains. Input schemas carry no generated ``title``s either: every
  ``tools/list`` costs the model its tokens.
"""

from __future__ import annotations

import copy
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
            "the server's default region.", f"the server's default region, {region}."
        )
    for prop in properties.values():
        prop.pop("title", None)
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
    """The schema with every ``#/$defs/...`` reference replaced by its definition (the models are not recursive)
    and without pydantic's generated titles ("Task Count"): descriptions say more, and cost no validation."""
    definitions = schema.get("$defs", {})

    def resolve(node: Any, in_properties: bool = False) -> Any:
        if isinstance(node, dict):
            if in_properties:  # keys here are property names, "title" among them possibly
                return {k: resolve(v) for k, v in node.items()}
            ref = node.get("$ref")
            if isinstance(ref, str) and ref.startswith("#/$defs/"):
                target = resolve(definitions[ref.removeprefix("#/$defs/")])
                return {**target, **{k: resolve(v) for k, v in node.items() if k not in ("$ref", "title")}}
            docstring = "properties" in node  # an object's description is its class docstring
            dropped = ("$defs", "title", "description") if docstring else ("$defs", "title")
            return {k: resolve(v, k == "properties") for k, v in node.items() if k not in dropped}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        return node

    return resolve(schema)  # type: ignore[no-any-return]


def shape_tools(mcp: MCPServer[Any], settings: Settings) -> None:
    """Rewrite the registered tools' schemas in place (the SDK reads them live)."""
    for tool in mcp._tool_manager.list_tools():
        tool.parameters = shape_input(tool.parameters, settings)
        output = tool.fn_metadata.output_schema
        if output is not None:
            tool.fn_metadata.output_schema = shape_output(output)
            tool.__dict__.pop("output_schema", None)  # a cached_property of the SDK's Tool
