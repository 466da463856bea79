"""What lives as long as the server: the task service (clients, cache, callers) and its telemetry."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mcp.server.mcpserver import Context

from bgtask_mcp.observability.telemetry import NO_TELEMETRY, Telemetry
from bgtask_mcp.service import TaskService


@dataclass
class AppState:
    service: TaskService
    telemetry: Telemetry = NO_TELEMETRY


def state_of(ctx: Context[Any, Any]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state
