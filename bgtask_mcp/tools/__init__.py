"""One module per tool; ``args`` holds the argument types they share, ``schema`` shapes what clients see.

``TOOLS`` is the registry ``server.py`` reads: a new tool is a new module plus one line here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mcp.types import ToolAnnotations

from bgtask_mcp.state import AppState
from bgtask_mcp.tools import get_task, list_changes, list_instances, list_tasks, wait_task
from bgtask_mcp.views import FLEET_URI, TASK_CARD_URI, TIMELINE_URI

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
# waiting is read-only, but its answer depends on when it is asked
WAITING = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


def call_deadline(state: AppState, arguments: dict[str, Any]) -> float:
    return state.service.settings.limits.call_deadline


@dataclass(frozen=True)
class ToolSpec:
    fn: Callable[..., Any]
    title: str
    annotations: ToolAnnotations
    budget: Callable[[AppState, dict[str, Any]], float] = call_deadline
    view: str | None = None  # the ui:// view of its result, for hosts with MCP Apps

    @property
    def name(self) -> str:
        return self.fn.__name__


TOOLS = (
    ToolSpec(list_changes.list_changes, list_changes.TITLE, READ_ONLY, view=FLEET_URI),
    ToolSpec(list_instances.list_instances, list_instances.TITLE, READ_ONLY),
    ToolSpec(get_task.get_background_task, get_task.TITLE, READ_ONLY, view=TASK_CARD_URI),
    ToolSpec(list_tasks.list_background_tasks, list_tasks.TITLE, READ_ONLY, view=TIMELINE_URI),
    ToolSpec(wait_task.wait_for_background_task, wait_task.TITLE, WAITING, wait_task.wait_budget, TASK_CARD_URI),
)
