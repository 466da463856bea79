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


class RunningServer:
    """The state of the server while its lifespan runs, for the one handler the SDK calls without a request
    context (completions). Lifespans may nest (one per in-process session): the newest answers."""

    def __init__(self) -> None:
        self._states: list[AppState] = []

    def started(self, state: AppState) -> None:
        self._states.append(state)

    def stopped(self, state: AppState) -> None:
        self._states.remove(state)

    def current(self) -> AppState | None:
        return self._states[-1] if self._states else None


def state_of(ctx: Context[Any, Any]) -> AppState:
    state: AppState = ctx.request_context.lifespan_context
    return state
