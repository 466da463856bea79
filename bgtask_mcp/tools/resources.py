"""The resources: one task as JSON (the same as get_background_task), and the glossary."""

from __future__ import annotations

import json
from typing import Any

from mcp.server.mcpserver import Context

from bgtask_mcp import ids, vocabulary
from bgtask_mcp.boundary import resource_boundary
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.tools.get_task import task_detail

TASK_URI = "dms://regions/{region}/projects/{project_id}/instances/{instance_id}/tasks/{task_id}"
GLOSSARY_URI = "dms://glossary"


@resource_boundary
async def task_resource(
    region: str, project_id: str, instance_id: str, task_id: str, ctx: Context[AppState, Any]
) -> str:
    project, instance, task = ids.project_id(project_id), ids.instance_id(instance_id), ids.task_id(task_id)
    service = state_of(ctx).service
    target = await service.target(None, region, project)
    return (await task_detail(service, target, instance, task)).model_dump_json()


async def glossary_resource() -> str:
    return json.dumps(vocabulary.glossary(), indent=1, ensure_ascii=False)
