"""Typed, decoded, masked answers: what the tools return as structuredContent (pydantic, no I/O).

The wire says ``"task_count": "1"`` and ``"params": "{\\"a\\":1}"``; these models say what that means:
numbers as numbers, params decoded with every secret masked (``redaction.mask_value``), instance creation
times in ISO 8601 instead of epoch milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from bgtask_mcp import vocabulary
from bgtask_mcp.dms.wire import WireInstance, WireInstanceTask, WireProgress, WireStep, WireTask
from bgtask_mcp.params import decode_params
from bgtask_mcp.redaction import mask_text, mask_value

# Any JSON value, one single-type branch each (MCP Inspector --strict warns about a bare {} and about a type
# array, which single-type dialects such as Gemini's reject). The object comes first: a validating client
# stops at the first branch that matches, and most params are objects.
ParamsValue = Annotated[
    dict[str, Any] | list[Any] | str | int | float | bool | None,
    WithJsonSchema({"anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]}),
    Field(
        description=(
            "Task parameters, decoded from the JSON string the API returns: an object for most tasks. Text that "
            "is not JSON is kept as text; integers beyond 2^53 arrive as decimal strings; secrets (values of "
            "secret-looking keys, name/value pairs naming a secret, credentials in URLs) are replaced by '***'."
        )
    ),
]


class Task(BaseModel):
    """One background task, params decoded and masked."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(description="Task ID.")
    name: str = Field(
        description="Task name, e.g. bindInstancePublicIp, modifyAutoTopic, kafkaConfigModify (open-ended)."
    )
    user_name: str = Field(description="Username of the user who started the task.")
    user_id: str = Field(description="User ID of the user who started the task.")
    params: ParamsValue
    status: str = Field(description=f"Task status: {vocabulary.status_summary()}. {vocabulary.UNKNOWN_STATUS}")
    created_at: str = Field(description="Start time of the task (RFC 3339, UTC).")
    updated_at: str = Field(
        description="End time of the task (RFC 3339, UTC); while the task runs, the time of its last update."
    )
    schedule_at: str | None = Field(
        default=None, description="Scheduled tasks only: when it runs or ran (RFC 3339, UTC); null otherwise."
    )

    @property
    def terminal(self) -> bool:
        return vocabulary.is_terminal(self.status)

    @property
    def succeeded(self) -> bool:
        return vocabulary.succeeded(self.status)

    def duration_seconds(self) -> float | None:
        start, end = parse_time(self.created_at), parse_time(self.updated_at)
        if start is None or end is None:
            return None
        return round((end - start).total_seconds(), 3)


def task_from_wire(wire: WireTask) -> Task:
    return Task.model_construct(
        id=wire.id,
        name=mask_text(wire.name),
        user_name=mask_text(wire.user_name),
        user_id=wire.user_id,
        params=mask_value(decode_params(wire.params)),
        status=mask_text(wire.status),
        created_at=wire.created_at,
        updated_at=wire.updated_at,
        schedule_at=wire.schedule_at,
    )


class Step(BaseModel):
    """One step of a task's progress."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Step name.")
    status: str = Field(description=f"Step state: {', '.join(vocabulary.STEP_STATUSES)}.")
    started_at: str | None = Field(description="When the step started (RFC 3339, UTC); null before it starts.")
    ended_at: str | None = Field(description="When the step ended (RFC 3339, UTC); null while it runs.")


class Progress(BaseModel):
    """How far a task is (DMS answers this for Kafka and RocketMQ scale-out tasks only)."""

    model_config = ConfigDict(frozen=True)

    percentage: int | None = Field(description="Percent done, 0 to 100; null when unknown.")
    remain_seconds: int | None = Field(description="Seconds DMS expects the task still needs; null when unknown.")
    steps: list[Step] = Field(description="The task's steps in order, with their states and times.")

    def current_step(self) -> Step | None:
        """The step that runs (or failed), else the first still waiting."""
        for wanted in ("IN_PROGRESS", "FAILED", "WAITING"):
            found = next((step for step in self.steps if step.status == wanted), None)
            if found is not None:
                return found
        return None


def _step_time(millis: int | None) -> str | None:
    return epoch_ms_to_iso(str(millis)) if millis else None  # 0: not started / not ended


def step_from_wire(wire: WireStep) -> Step:
    return Step.model_construct(
        name=mask_text(wire.name),
        status=mask_text(wire.status),
        started_at=_step_time(wire.start_ms),
        ended_at=_step_time(wire.end_ms),
    )


def progress_from_wire(wire: WireProgress) -> Progress:
    steps = [step_from_wire(s) for s in wire.steps]
    return Progress.model_construct(percentage=wire.percentage, remain_seconds=wire.remain_seconds, steps=steps)


class TaskList(BaseModel):
    """The task envelope: how many tasks match, and the tasks themselves."""

    model_config = ConfigDict(frozen=True)

    task_count: int = Field(
        description="Number of tasks (for a list: the total matching on the API side, not the page size)."
    )
    tasks: list[Task] = Field(description="Task details, newest first.")
    region: str = Field(default="", description="The region the tasks were read from.")
    simulated: bool = Field(
        default=False, description="True when the answer comes from the embedded DMS simulator, not a real cloud."
    )
    note: str | None = Field(default=None, description="How to read this answer (where it came from, filters).")


class TaskDetail(TaskList):
    """One task, with its progress when DMS reports one."""

    progress: Progress | None = Field(
        default=None, description="Progress of a running Kafka or RocketMQ scale-out task; null when none."
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
    progress: Progress | None = Field(
        default=None,
        description="Progress of a Kafka or RocketMQ scale-out task as last read (percentage, time left, steps); "
        "null when DMS reports none.",
    )
    summary: str = Field(description="One sentence stating the outcome.")
    task: Task = Field(description="The task as last read.")
    region: str = Field(default="", description="The region the task was read from.")
    simulated: bool = Field(default=False, description="True when the answer comes from the embedded simulator.")


class CurrentTask(BaseModel):
    """The task an instance runs now: find it with list_background_tasks(name=..., limit=1)."""

    model_config = ConfigDict(frozen=True)

    name: str = Field(description="Task name.")
    status: str = Field(description="Task status.")
    started_at: str | None = Field(description="When it started (RFC 3339, UTC).")


class Instance(BaseModel):
    """One DMS instance, compact: what it takes to recognise it and to ask about its tasks."""

    model_config = ConfigDict(frozen=True)

    instance_id: str = Field(description="Instance ID (a UUID): pass it as instance_id to the task tools.")
    name: str = Field(description="Instance name.")
    engine: str = Field(description="Message engine: kafka, rabbitmq or rocketmq.")
    engine_version: str = Field(description="Engine version, e.g. 3.x.")
    status: str = Field(description="Instance status, e.g. RUNNING, CREATING, ERROR, FROZEN.")
    type: str = Field(description="Instance type: cluster or single.")
    specification: str = Field(description="Specification (bandwidth or flavor), e.g. 100MB.")
    created_at: str | None = Field(description="When the instance was created (ISO 8601, UTC).")
    region: str = Field(description="Region of the instance.")
    project_id: str = Field(description="Project ID the instance belongs to.")
    current_task: CurrentTask | None = Field(
        default=None, description="The background task running on the instance now, as its record names it."
    )


def instance_from_wire(wire: WireInstance, region: str, project_id: str, engine: str) -> Instance:
    reported = wire.engine.lower()
    return Instance.model_construct(
        instance_id=wire.instance_id.lower(),
        name=mask_text(wire.name),
        engine=vocabulary.ENGINE_ALIASES.get(reported, reported or engine),
        engine_version=wire.engine_version,
        status=wire.status,
        type=wire.type,
        specification=wire.specification,
        created_at=epoch_ms_to_iso(wire.created_at),
        region=region,
        project_id=project_id,
        current_task=current_task_from_wire(wire.task) if wire.task else None,
    )


def current_task_from_wire(wire: WireInstanceTask) -> CurrentTask:
    started = wire.created_at.strip()
    return CurrentTask.model_construct(
        name=mask_text(wire.name),
        status=mask_text(wire.status),
        started_at=epoch_ms_to_iso(started) if started.isdigit() else (started or None),
    )


class InstanceList(BaseModel):
    """Instances matching a list_instances call, best matches first."""

    instance_count: int = Field(description="How many instances matched (all of them, not only those shown).")
    instances: list[Instance] = Field(description="The matching instances: exact id or name matches first.")
    note: str | None = Field(default=None, description="How to read this list (truncation, engines not reached).")
    simulated: bool = Field(default=False, description="True when the answer comes from the embedded simulator.")


def parse_time(value: str) -> datetime | None:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def epoch_ms_to_iso(value: str) -> str | None:
    """``"1585618587087"`` (the API's epoch milliseconds) -> ``"2020-03-31T01:36:27.087Z"``; None when not one."""
    try:
        millis = int(value.strip())
        when = datetime.fromtimestamp(millis / 1000, UTC)
    except (ValueError, OverflowError, OSError):
        return None
    return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{millis % 1000:03d}Z"
