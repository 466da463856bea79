"""Typed, decoded, masked answers: what the tools return as structuredContent (pydantic, no I/O).

The wire says ``"task_count": "1"`` and ``"params": "{\\"a\\":1}"``; these models say what that means:
numbers as numbers, params decoded with every secret masked (``redaction.mask_value``), instance creation
times in ISO 8601 instead of epoch milliseconds.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from bgtask_mcp import vocabulary
from bgtask_mcp.dms.wire import WireInstance, WireInstanceTask, WireProgress, WireStep, WireTask
from bgtask_mcp.params import decode_params
from bgtask_mcp.redaction import mask_text, mask_value


def absent(value: object) -> bool:
    """Fields that are null on most answers are left out of them (not required in the schema): bytes a model
    reads on every page."""
    return value is None


# Any JSON value, one single-type branch each (MCP Inspector --strict warns about a bare {} and about a type
# array, which single-type dialects such as Gemini's reject). The object comes first: a validating client
# stops at the first branch that matches, and most params are objects.
ParamsValue = Annotated[
    dict[str, Any] | list[Any] | str | int | float | bool | None,
    WithJsonSchema({"anyOf": [{"type": t} for t in ("object", "array", "string", "number", "boolean", "null")]}),
    Field(
        description="Task parameters decoded from the API's JSON string; text that is not JSON stays text; "
        "integers beyond 2^53 are decimal strings; secrets are '***'."
    ),
]


class Task(BaseModel):
    """One background task, params decoded and masked."""

    model_config = ConfigDict(frozen=True)

    id: str
    name: str = Field(description="Task name (open-ended); dms://glossary explains the documented ones.")
    user_name: str = Field(description="Who started the task.")
    user_id: str
    params: ParamsValue
    status: str = Field(description=f"{vocabulary.status_names()}; others are kept verbatim, as still running.")
    created_at: str = Field(description="Start time (RFC 3339, UTC).")
    updated_at: str = Field(description="End time; while it runs, the last update.")
    schedule_at: str | None = Field(default=None, exclude_if=absent, description="Scheduled tasks only: when it runs.")

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

    name: str
    status: str = Field(description=", ".join(vocabulary.STEP_STATUSES))
    started_at: str | None
    ended_at: str | None


class Progress(BaseModel):
    """How far a task is (DMS answers this for Kafka and RocketMQ scale-out tasks only)."""

    model_config = ConfigDict(frozen=True)

    percentage: int | None
    remain_seconds: int | None = Field(description="Seconds DMS expects the task still needs.")
    steps: list[Step]

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

    task_count: int = Field(description="The API's total, not the page size.")
    tasks: list[Task]  # newest first
    region: str = ""
    simulated: bool = False  # from the embedded simulator, not a real cloud
    note: str | None = Field(default=None, exclude_if=absent)


class TaskDetail(TaskList):
    """One task, with its progress when DMS reports one."""

    progress: Progress | None = None  # a running Kafka or RocketMQ scale-out task's progress


class TaskPage(TaskList):
    """A page of list_background_tasks, with what to pass to fetch the next one."""

    start: int
    limit: int
    next_start: int | None = Field(description="Pass as start for the next page; null on the last.")
    scanned: int = Field(default=0, exclude_if=lambda n: n == 0, description="With filters: tasks read for this page.")


class WaitResult(BaseModel):
    """The outcome of waiting for a task."""

    finished: bool = Field(description="It reached a final status in time.")
    succeeded: bool
    status: str
    waited_seconds: float
    task_duration_seconds: float | None  # updated_at - created_at
    polls: int
    progress: Progress | None = None  # a Kafka or RocketMQ scale-out task's progress, as last read
    summary: str
    task: Task
    region: str = ""
    simulated: bool = False


class CurrentTask(BaseModel):
    """The task an instance runs now: find it with list_background_tasks(name=..., limit=1)."""

    model_config = ConfigDict(frozen=True)

    name: str
    status: str
    started_at: str | None


class Instance(BaseModel):
    """One DMS instance, compact: what it takes to recognise it and to ask about its tasks."""

    model_config = ConfigDict(frozen=True)

    instance_id: str = Field(description="Pass it as instance_id to the task tools.")
    name: str
    engine: str
    engine_version: str
    status: str
    type: str
    specification: str
    created_at: str | None
    region: str
    project_id: str
    current_task: CurrentTask | None = Field(default=None, description="The task running on the instance now.")


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

    instance_count: int = Field(description="All matching, not only those shown.")
    instances: list[Instance]
    note: str | None = Field(default=None, exclude_if=absent)
    simulated: bool = False


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


ChangeSource = Literal["task", "scheduled", "trace"]


class Change(BaseModel):
    """One change to an instance: a background task, a scheduled task, or a CTS trace, joined where a job id
    links them."""

    time: str = Field(description="When it started, or for a planned task when it is due (RFC 3339, UTC).")
    ended: str | None = Field(description="When it ended; null while it runs or for a trace.")
    source: ChangeSource = Field(description="task, scheduled (planned or ran on schedule) or trace (CTS only).")
    name: str = Field(description="Task name or CTS trace name.")
    meaning: str | None = Field(description="What it does, where a public source says so.")
    status: str = Field(description="Task status; for a trace SUCCESS or FAILED.")
    user: str | None = Field(description="Who asked: the CTS user when a trace is joined, else the task's user.")
    instance_id: str | None
    instance_name: str | None
    engine: str | None
    region: str
    task_id: str | None
    trace_id: str | None
    params: ParamsValue
    source_ip: str | None


class Partial(BaseModel):
    """A part of the fleet that could not be read."""

    model_config = ConfigDict(frozen=True)

    region: str
    instance_id: str | None
    part: Literal["instances", "tasks", "traces"]
    error: str = Field(description="What went wrong and what to do next.")


class ChangeList(BaseModel):
    """What changed across the fleet, newest first."""

    change_count: int = Field(description="Changes found in the window (all pages).")
    changes: list[Change]  # newest first, at most limit
    next_cursor: str | None = Field(description="Pass as cursor for the next page; null on the last.")
    regions: list[str]
    partial: list[Partial] = Field(description="What could not be read; the rest is complete.")
    simulated: bool = False
