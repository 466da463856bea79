"""Completions for prompt arguments and resource template variables, per caller: a caller is offered the
instances, tasks and names that caller has seen, never another caller's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable

from mcp.types import Completion, CompletionArgument, CompletionContext, PromptReference, ResourceTemplateReference

from bgtask_mcp import vocabulary
from bgtask_mcp.callers import Seen, current_caller
from bgtask_mcp.state import AppState, RunningServer

MAX_VALUES = 100
Handler = Callable[
    [PromptReference | ResourceTemplateReference, CompletionArgument, CompletionContext | None],
    Awaitable[Completion | None],
]


def _newest_first(values: Iterable[str]) -> list[str]:
    return list(reversed(list(values)))


def candidates(state: AppState, name: str, seen: Seen) -> list[str]:
    service = state.service
    if name == "instance_id":
        return _newest_first(seen.instances)
    if name == "instance":
        return _newest_first(seen.instance_names) + _newest_first(seen.instances)
    if name == "task_id":
        return _newest_first(seen.tasks)
    if name in ("task_name", "name"):
        return sorted(set(seen.task_names) | set(vocabulary.TASK_NAMES))
    if name == "status":
        return sorted(vocabulary.STATUSES)
    if name == "region":
        client = service.clients[service.default_cloud]
        regions = client.endpoints.regions()
        return _newest_first(seen.regions) + [r for r in regions if r not in seen.regions]
    if name == "project_id":
        return [c.project_id for c in service.settings.clouds if c.project_id]
    if name == "cloud":
        return list(service.clients)
    return []


def completion_handler(running: RunningServer) -> Handler:
    """Completion handlers get no request context: the state comes from the running server."""

    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        state = running.current()
        if state is None:
            return Completion(values=[], total=0, has_more=False)
        values = candidates(state, argument.name, state.service.memory.peek(current_caller()))
        prefix = argument.value.lower()
        unique = list(dict.fromkeys(v for v in values if v.lower().startswith(prefix)))
        return Completion(values=unique[:MAX_VALUES], total=len(unique), has_more=len(unique) > MAX_VALUES)

    return complete
