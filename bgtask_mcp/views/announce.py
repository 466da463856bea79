"""Views are announced only to clients that negotiated MCP Apps: for every other client, tools/list carries no
``_meta.ui`` and resources/list no ``ui://`` resource, so a host that cannot render a view never meets one."""

from __future__ import annotations

from typing import Any

from mcp.server.apps import Apps, ResourceCsp, client_supports_apps
from mcp.server.context import CallNext, HandlerResult, ServerRequestContext

from bgtask_mcp.views import VIEW_FILES, VIEW_TITLES, render

NOTHING_EXTERNAL = ResourceCsp(connect_domains=[], resource_domains=[], frame_domains=[], base_uri_domains=[])


def apps_extension() -> Apps:
    """The SDK's Apps extension with our views: it advertises the capability and serves the ``ui://`` documents."""
    apps = Apps()
    for uri in VIEW_FILES:
        title, description = VIEW_TITLES[uri]
        apps.add_html_resource(
            uri, render(uri), name=uri.rsplit("/", 1)[-1], title=title, description=description,
            csp=NOTHING_EXTERNAL, prefers_border=True,
        )  # fmt: skip
    return apps


class AnnounceViews:
    """Server middleware: strip the views from the lists a client without Apps support receives."""

    async def __call__(self, ctx: ServerRequestContext[Any, Any], call_next: CallNext) -> HandlerResult:
        result = await call_next(ctx)
        if ctx.method not in ("tools/list", "resources/list") or result is None or client_supports_apps(ctx):
            return result
        wire = result if isinstance(result, dict) else result.model_dump(by_alias=True, mode="json", exclude_none=True)
        if ctx.method == "tools/list":
            return {**wire, "tools": [_without_ui(tool) for tool in wire.get("tools", [])]}
        return {
            **wire,
            "resources": [r for r in wire.get("resources", []) if not str(r.get("uri")).startswith("ui://")],
        }


def _without_ui(tool: dict[str, Any]) -> dict[str, Any]:
    meta = tool.get("_meta")
    if not isinstance(meta, dict) or "ui" not in meta:
        return tool
    rest = {key: value for key, value in meta.items() if key != "ui"}
    return {**{k: v for k, v in tool.items() if k != "_meta"}, **({"_meta": rest} if rest else {})}
