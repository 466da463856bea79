"""get_background_task: one task by id."""

from __future__ import annotations

from typing import Any

from mcp.server.mcpserver import Context

from bgtask_mcp import ids
from bgtask_mcp.dms.errors import DMSError
from bgtask_mcp.models import TaskDetail
from bgtask_mcp.service import Target, TaskService
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.tools.args import Cloud, InstanceId, ProjectId, Region, TaskId

TITLE = "Get a DMS background task"


async def get_background_task(
    instance_id: InstanceId,
    task_id: TaskId,
    ctx: Context[AppState, Any],
    region: Region = None,
    project_id: ProjectId = None,
    cloud: Cloud = None,
) -> TaskDetail:
    """Look up one background task of a DMS instance (Kafka, RabbitMQ, RocketMQ) by its id.

    Use it for "did that change finish, and what did it change?" with a task id or an operation's job_id:
    status, who, when, params decoded (secrets masked), progress while a scale-out runs. No id?
    list_background_tasks(name=..., limit=1).
    """
    instance, task = ids.instance_id(instance_id), ids.task_id(task_id)
    service = state_of(ctx).service
    target = await service.target(cloud, region, project_id)
    return await task_detail(service, target, instance, task)


async def task_detail(service: TaskService, target: Target, instance: ids.InstanceId, task: ids.TaskId) -> TaskDetail:
    """The task, with its progress while it runs (the tool and the task resource answer the same)."""
    found = await service.read_task(target, instance, task)
    progress = None
    if found.tasks and not found.tasks[0].terminal and found.tasks[0].schedule_at is None:
        try:
            progress = await service.progress(target, instance, task)
        except DMSError:
            progress = None  # decoration: the task itself is the answer
    return TaskDetail.model_construct(**dict(found), progress=progress)
