"""list_instances: DMS instances by name, so that a person can start from "prod-events" instead of a UUID.

ListInstances is asked per engine (all three, concurrently, when no engine is given), page by page (50 per
page, the API's largest), and filtered here: a case-insensitive substring of the name, or an exact id. An
engine that fails (not offered in the region, say) does not hide the others: the note says what is missing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from bgtask_mcp.boundary import message_of
from bgtask_mcp.dms.errors import APIError, DMSError
from bgtask_mcp.models import Instance, InstanceList
from bgtask_mcp.service import Target, TaskService
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.tools.args import Cloud, EngineFilter, ProjectId, Region, or_default
from bgtask_mcp.vocabulary import ENGINES

TITLE = "Find DMS instances by name"
PAGE = 50  # the API's largest page
MAX_PER_ENGINE = 1000
DEFAULT_LIMIT = 20
PAST_THE_END = "DMS.40050010"  # ListInstances: the offset is past the end of the list

NameQuery = Annotated[
    str | None,
    Field(description="Part of the name, any case (prod-events, events), or an id; exact matches first. null: all."),
]
StatusQuery = Annotated[
    str | None,
    Field(description="Only this status, e.g. RUNNING, CREATING, ERROR, FROZEN; null: any."),
]
Limit = Annotated[
    int | None, Field(ge=1, le=100, description=f"Instances per page, 1 to 100; default {DEFAULT_LIMIT}.")
]


async def list_instances(
    ctx: Context[AppState, Any],
    name: NameQuery = None,
    engine: EngineFilter = None,
    status: StatusQuery = None,
    region: Region = None,
    project_id: ProjectId = None,
    limit: Limit = DEFAULT_LIMIT,
    cloud: Cloud = None,
) -> InstanceList:
    """Find DMS instances (Kafka, RabbitMQ, RocketMQ) by name and turn a name into its instance_id.

    Use it first whenever the user names an instance ("prod-events"), then pass its instance_id to the task
    tools; region=... when the user names one. Each comes with engine, status and current_task (what runs
    now).
    """
    service = state_of(ctx).service
    target = await service.target(cloud, region, project_id)
    wanted = status.strip().upper() if status and status.strip() else None
    engines: list[str] = [engine] if engine else list(ENGINES)
    found = await _gather(service, target, engines, wanted)
    if found.errors and len(found.errors) == len(engines):
        raise found.errors[0][1]
    ranked = rank(found.instances, name)
    shown = ranked[: or_default(limit, DEFAULT_LIMIT)]
    return InstanceList(
        instance_count=len(ranked), instances=shown, note=found.note(len(ranked), len(shown)), simulated=found.simulated
    )


@dataclass
class _Found:
    instances: list[Instance] = field(default_factory=list)
    errors: list[tuple[str, DMSError]] = field(default_factory=list)
    truncated: list[str] = field(default_factory=list)
    simulated: bool = False

    def note(self, matching: int, shown: int) -> str | None:
        parts = []
        if shown < matching:
            parts.append(f"{matching} instances match; the first {shown} are shown (raise limit, or narrow name).")
        for engine in self.truncated:
            parts.append(f"{engine}: only the first {MAX_PER_ENGINE} instances were read.")
        for engine, error in self.errors:
            parts.append(f"{engine} instances could not be listed: {message_of(error)}")
        return " ".join(parts) or None


async def _gather(service: TaskService, target: Target, engines: list[str], status: str | None) -> _Found:
    found = _Found()

    async def one(engine: str) -> None:
        try:
            await _all_of(service, target, engine, status, found)
        except DMSError as exc:
            found.errors.append((engine, exc))

    async with anyio.create_task_group() as group:
        for engine in engines:
            group.start_soon(one, engine)
    found.errors.sort(key=lambda item: engines.index(item[0]))
    return found


async def _all_of(service: TaskService, target: Target, engine: str, status: str | None, found: _Found) -> None:
    offset = 0
    while offset < MAX_PER_ENGINE:
        try:
            page, total, simulated = await service.instances(
                target, engine, name=None, status=status, offset=offset, limit=PAGE
            )
        except APIError as exc:
            if offset and exc.error_code == PAST_THE_END:
                return  # instances went away between two pages: the list is complete
            raise
        found.simulated = found.simulated or simulated
        found.instances.extend(i for i in page if status is None or i.status.upper() == status)
        offset += len(page)
        if not page or offset >= total:
            return
    found.truncated.append(engine)


def rank(instances: list[Instance], name: str | None) -> list[Instance]:
    """Instances matching ``name`` (substring, any case; or an exact id), best first: exact id, exact name,
    name prefix, anywhere in the name; then by name and id."""
    query = (name or "").strip().lower()
    ranked: list[tuple[int, str, str, Instance]] = []
    for instance in instances:
        label = instance.name.lower()
        if not query:
            score = 3
        elif instance.instance_id == query:
            score = 0
        elif label == query:
            score = 1
        elif label.startswith(query):
            score = 2
        elif query in label:
            score = 3
        else:
            continue
        ranked.append((score, label, instance.instance_id, instance))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]
