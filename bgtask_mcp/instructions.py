"""What the server tells a model about itself when it connects (MCP ``instructions``)."""

from __future__ import annotations

from bgtask_mcp import vocabulary
from bgtask_mcp.config import Settings


def instructions(settings: Settings) -> str:
    cloud = settings.default_cloud
    where = f"The default region is {cloud.region}. " if cloud.region else ""
    clouds = (
        f"Several clouds (accounts) are configured: {', '.join(c.name for c in settings.clouds)}; pass cloud=... "
        f"to pick one (default {cloud.name}). "
        if settings.cloud_argument
        else ""
    )
    found_by_name = ", ".join(vocabulary.FOUND_BY_NAME)
    return f"""\
Answers "what happened to that change?" for Distributed Message Service (Kafka, RabbitMQ, RocketMQ) instances
on Open Telekom Cloud and Huawei Cloud. Every change to an instance runs as a background task.

"What changed?" across a fleet comes first: list_changes(region="eu-nl,eu-de", since="24h") answers in one
call with background tasks, planned (scheduled) tasks and the Cloud Trace Service audit trail merged, newest
first, each with who did it (the CTS user, not the service account) and a meaning where a source gives one.
Filter with instance, engine, status, user; page with cursor; partial says what could not be read.

The path from what a person says to one change: instance name -> instance_id -> task.
- list_instances: find an instance by (part of) its name, any case; returns its instance_id. Use it first
  whenever the user names an instance instead of giving a UUID.
- get_background_task: one task by id (a task id from a list, or the job_id an operation returned).
- list_background_tasks: an instance's tasks, newest first; filter by task name, status and time window.
  Operations that return no job_id ({found_by_name}) are found here: name=<taskName>, limit=1 gives the latest.
- wait_for_background_task: waits until a task finishes (or a timeout), reporting progress; reaching the
  timeout is an answer, not an error: call it again to keep waiting.

Every tool takes region (e.g. eu-nl, any case) when the user names one. {where}{clouds}project_id is almost
never needed: the server finds the project of a region itself.
Task params arrive decoded (secrets masked). Status: {vocabulary.status_summary()}.
The resource dms://glossary explains every status and task name. Errors name the DMS error code, the
X-Request-Id (support asks for it) and the next step. Results with "simulated": true come from the embedded
simulator, not a real cloud."""
