"""build_server(settings) -> MCPServer: registration only. Tools live in ``tools/``, one module each."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from mcp.server import MCPServer
from mcp.server.auth.settings import AuthSettings

from bgtask_mcp import __version__
from bgtask_mcp.boundary import tool_boundary
from bgtask_mcp.cache import SharedStore
from bgtask_mcp.clock import SYSTEM_CLOCK, Clock
from bgtask_mcp.config import Settings
from bgtask_mcp.instructions import instructions
from bgtask_mcp.observability.telemetry import NO_TELEMETRY, Telemetry
from bgtask_mcp.prompts import load_prompts
from bgtask_mcp.redaction import protect_loggers, register_configured
from bgtask_mcp.service import TaskService
from bgtask_mcp.state import AppState, RunningServer
from bgtask_mcp.tools import TOOLS
from bgtask_mcp.tools.completions import completion_handler
from bgtask_mcp.tools.resources import GLOSSARY_URI, TASK_URI, glossary_resource, task_resource
from bgtask_mcp.tools.schema import shape_tools
from bgtask_mcp.views import tool_meta
from bgtask_mcp.views.announce import AnnounceViews, apps_extension

WEBSITE = "https://github.com/bgtask-mcp/bgtask-mcp"


def build_server(
    settings: Settings,
    *,
    clock: Clock = SYSTEM_CLOCK,
    telemetry: Telemetry = NO_TELEMETRY,
    shared: SharedStore | None = None,
    auth: AuthSettings | None = None,
    verifier: Any = None,
) -> MCPServer[AppState]:
    running = RunningServer()  # completion handlers get no request context: they read the state from here
    register_configured(settings.secrets())  # masked wherever they show up, from the first log line on
    protect_loggers()

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        service = TaskService(settings, clock=clock, shared=shared, telemetry=telemetry)
        state = AppState(service, telemetry)
        running.started(state)
        try:
            yield state
        finally:
            running.stopped(state)
            await service.aclose()
            close = getattr(verifier, "aclose", None)
            if close is not None:
                await close()  # the OAuth verifier's HTTP client

    mcp: MCPServer[AppState] = MCPServer(
        "bgtask-mcp",
        title="DMS background tasks",
        instructions=instructions(settings),
        version=__version__,
        lifespan=lifespan,
        website_url=WEBSITE,
        auth=auth,
        token_verifier=verifier,
        extensions=[apps_extension()],
        middleware=[AnnounceViews()],
    )
    for spec in TOOLS:
        tool = tool_boundary(spec.name, spec.budget)(spec.fn)
        mcp.add_tool(tool, title=spec.title, annotations=spec.annotations, meta=tool_meta(spec.view))
    mcp.resource(
        TASK_URI,
        name="background_task",
        title="A DMS background task",
        description="One background task as JSON, exactly as get_background_task returns it.",
        mime_type="application/json",
    )(task_resource)
    mcp.resource(
        GLOSSARY_URI,
        name="glossary",
        title="DMS task statuses and names",
        description="Every task status (meaning, terminal or not), every known task name with what it does and "
        "what its params mean, the engines and the instance statuses.",
        mime_type="application/json",
    )(glossary_resource)
    for prompt in load_prompts():
        mcp.add_prompt(prompt)
    mcp.completion()(completion_handler(running))  # type: ignore[no-untyped-call]
    shape_tools(mcp, settings)
    return mcp
