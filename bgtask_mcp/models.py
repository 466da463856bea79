"""Typed views of the DMS task API: Table 1 (the path), Table 3 (a task), Table 2 (the envelope).

Wire values are strings (``task_count``, ``params``); these models hold what they mean.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from bgtask_mcp.params import decode_params

ID_PATTERN = r"^[A-Za-z0-9-]{1,64}$"

TERMINAL_STATUSES = frozenset({"SUCCESS", "FAILED", "DELETED", "CANCELLED"})
FAILED_STATUSES = frozenset({"FAILED", "DELETED", "CANCELLED"})

ProjectId = Annotated[
    str | None,
    Field(
        description=(
            "Project ID of the tenant in this region (32 hex characters, shown on the console's My Credentials "
            "page). Omit it to use the server's configured default project."
        ),
    ),
]
InstanceId = Annotated[
    str,
    Field(
        description=(
            "ID of the DMS instance (Kafka, RabbitMQ or RocketMQ), a UUID such as "
            "'11111111-2222-3333-4444-555555555555', from the instance's Basic Information page."
        ),
    ),
]
TaskId = Annotated[
    str,
    Field(
        description=(
            "ID of the background task: 32 hex characters from list_background_tasks, or the job_id UUID "
            "returned by the operation that started the task."
        ),
    ),
]

# Any JSON array, spelled out: a bare list[Any] has the schema {"items": {}}, which accepts anything without
# saying so (MCP Inspector --strict warns about it).
JsonArray = Annotated[
    list[Any],
    WithJsonSchema(
        {
            "type": "array",
            "items": {"anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]},
        }
    ),
]

ParamsValue = Annotated[
    dict[str, Any] | JsonArray | str | int | float | bool | None,
    Field(
        description=(
            "Task parameters, decoded from the JSON string the API returns: an object for most tasks. Text that "
            "is not JSON is kept as text; integers beyond 2^53 arrive as decimal strings; values of keys that "
            "look like secrets are replaced by '***'."
        )
    ),
]


class Task(BaseModel):
    """One background task (Table 3 of the API page), params decoded."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Task ID.")
    name: str = Field(
        description="Task name, e.g. bindInstancePublicIp, modifyAutoTopic, kafkaConfigModify (open-ended)."
    )
    user_name: str = Field(description="Username of the user who started the task.")
    user_id: str = Field(description="User ID of the user who started the task.")
    params: ParamsValue
    status: str = Field(
        description=(
            "Task status: CREATED or EXECUTING (still running), SUCCESS (done), FAILED or DELETED (ended in "
            "failure), CANCELLED (a scheduled task that was cancelled). Unknown values are passed through "
            "verbatim and treated as still running."
        )
    )
    created_at: str = Field(description="Start time of the task (RFC 3339, UTC).")
    updated_at: str = Field(
        description="End time of the task (RFC 3339, UTC); while the task runs, the time of its last update."
    )

    @property
    def terminal(self) -> bool:
        return self.status in TERMINAL_STATUSES

    @property
    def succeeded(self) -> bool:
        return self.status == "SUCCESS"

    def duration_seconds(self) -> float | None:
        start, end = parse_time(self.created_at), parse_time(self.updated_at)
        if start is None or end is None:
            return None
        return round((end - start).total_seconds(), 3)

    @classmethod
    def from_wire(cls, raw: dict[str, Any]) -> Task:
        def text(key: str) -> str:
            value = raw.get(key)
            return "" if value is None else str(value)

        params_raw = raw.get("params")
        return cls(
            id=text("id"),
            name=text("name"),
            user_name=text("user_name"),
            user_id=text("user_id"),
            params=decode_params(params_raw if isinstance(params_raw, str) or params_raw is None else str(params_raw)),
            status=text("status"),
            created_at=text("created_at"),
            updated_at=text("updated_at"),
        )


class TaskList(BaseModel):
    """The task envelope (Table 2): how many tasks match, and the tasks themselves."""

    task_count: int = Field(
        description="Number of tasks (for a list: the total matching on the API side, not the page size)."
    )
    tasks: list[Task] = Field(description="Task details, newest first.")
    simulated: bool = Field(
        default=False, description="True when the answer comes from the embedded DMS simulator, not a real cloud."
    )


class TaskPage(TaskList):
    """A page of list_background_tasks, with what to pass to fetch the next one."""

    start: int = Field(description="1-based offset of the first task of this page (the API's 'start').")
    limit: int = Field(description="Page size that was asked for.")
    next_start: int | None = Field(
        description="Pass this as 'start' to get the next page; null when this is the last page."
    )
    scanned: int = Field(
        default=0,
        description="With name/status filters: how many tasks were read from the API to fill this page.",
    )
    note: str | None = Field(default=None, description="How to read this page (filters, truncation).")


class WaitResult(BaseModel):
    """The outcome of waiting for a task."""

    finished: bool = Field(description="True when the task reached a terminal status before the timeout.")
    succeeded: bool = Field(description="True only when the task finished with status SUCCESS.")
    status: str = Field(description="The last status seen.")
    waited_seconds: float = Field(description="How long this call waited, in seconds.")
    task_duration_seconds: float | None = Field(
        description="How long the task itself ran (updated_at - created_at), in seconds."
    )
    polls: int = Field(description="How many times the task was read.")
    progress: int | None = Field(
        default=None, description="Last progress percentage reported by the API (scale-out tasks only)."
    )
    summary: str = Field(description="One sentence stating the outcome.")
    task: Task = Field(description="The task as last read.")
    simulated: bool = Field(default=False, description="True when the answer comes from the embedded simulator.")


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def task_list_from_wire(raw: dict[str, Any]) -> TaskList:
    tasks = raw.get("tasks") or []
    count_raw = raw.get("task_count")
    try:
        count = int(str(count_raw).strip()) if count_raw is not None else len(tasks)
    except ValueError:
        count = len(tasks)
    return TaskList(
        task_count=count,
        tasks=[Task.from_wire(t) for t in tasks if isinstance(t, dict)],
        simulated=bool(raw.get("simulated", False)),
    )
