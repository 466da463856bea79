"""wait_for_background_task: read a task until it finishes or the timeout passes, reporting progress.

``poll`` is the loop, a pure function over a task reader, a progress reader, a progress reporter and a clock,
so its pacing and its notifications are tested without waiting. Notifications follow MCP's rule that progress
only ever increases: with a known percentage (scale-out tasks) ``progress`` is that percentage of ``total``
100; without one, ``progress`` counts the reads and no total is claimed. A last notification says how the
wait ended.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from bgtask_mcp import ids
from bgtask_mcp.clock import Clock
from bgtask_mcp.dms.errors import DMSError
from bgtask_mcp.models import Progress, Task, TaskList, WaitResult
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.tools.args import Cloud, InstanceId, ProjectId, Region, TaskId, or_default

TITLE = "Wait for a DMS background task"
MAX_WAIT_SECONDS = 1800.0
DEFAULT_WAIT_SECONDS = 300.0
DEFAULT_POLL_SECONDS = 2.0
MAX_POLL_SECONDS = 15.0
POLL_GROWTH = 1.5

Timeout = Annotated[
    float | None,
    Field(
        gt=0,
        le=MAX_WAIT_SECONDS,
        description=f"Longest wait in seconds, at most {MAX_WAIT_SECONDS:g}; default {DEFAULT_WAIT_SECONDS:g}. "
        "Reaching it is no error: the running task is returned.",
    ),
]
PollInterval = Annotated[
    float | None,
    Field(
        ge=0.2,
        le=60,
        description=f"First pause in seconds, 0.2 to 60; default {DEFAULT_POLL_SECONDS:g}; grows by half each "
        f"read, up to {MAX_POLL_SECONDS:g}.",
    ),
]

Report = Callable[[float, float | None, str], Awaitable[None]]


def wait_budget(state: AppState, arguments: dict[str, Any]) -> float:
    """The call's deadline: the wait itself, plus one call deadline for the last read."""
    timeout = arguments.get("timeout_seconds")
    wait = float(timeout) if isinstance(timeout, int | float) else DEFAULT_WAIT_SECONDS
    return wait + state.service.settings.limits.call_deadline


async def wait_for_background_task(
    instance_id: InstanceId,
    task_id: TaskId,
    ctx: Context[AppState, Any],
    timeout_seconds: Timeout = DEFAULT_WAIT_SECONDS,
    poll_interval_seconds: PollInterval = DEFAULT_POLL_SECONDS,
    region: Region = None,
    project_id: ProjectId = None,
    cloud: Cloud = None,
) -> WaitResult:
    """Wait until a background task finishes (SUCCESS, FAILED, DELETED or CANCELLED) or the timeout passes.

    Use it for "wait until the resize is done and tell me": it re-reads the task with growing pauses, with a
    progress notification after each read. If finished is false the task still runs: tell the user, or call
    again.
    """
    instance, task = ids.instance_id(instance_id), ids.task_id(task_id)
    state = state_of(ctx)
    service = state.service
    target = await service.target(cloud, region, project_id)

    async def read() -> TaskList:
        return await service.read_task(target, instance, task, fresh=True)

    async def progress(_: Task) -> Progress | None:
        try:
            return await service.progress(target, instance, task)
        except DMSError:
            return None  # decoration: the task itself is what counts

    timeout = or_default(timeout_seconds, DEFAULT_WAIT_SECONDS)
    state.telemetry.wait_started()
    try:
        outcome = await poll(
            read,
            progress,
            ctx.report_progress,
            service.clock,
            wait_seconds=timeout,
            interval=or_default(poll_interval_seconds, DEFAULT_POLL_SECONDS),
        )
    finally:
        state.telemetry.wait_finished()
    return outcome.result(timeout)


@dataclass
class Outcome:
    last: TaskList
    polls: int
    progress: Progress | None
    waited: float

    @property
    def task(self) -> Task:
        return self.last.tasks[0]

    def result(self, timeout: float) -> WaitResult:
        task = self.task
        return WaitResult(
            finished=task.terminal,
            succeeded=task.succeeded,
            status=task.status,
            waited_seconds=round(self.waited, 3),
            task_duration_seconds=task.duration_seconds(),
            polls=self.polls,
            progress=self.progress,
            summary=summary(task, round(self.waited, 3), timeout),
            task=task,
            region=self.last.region,
            simulated=self.last.simulated,
        )


async def poll(
    read: Callable[[], Awaitable[TaskList]],
    progress: Callable[[Task], Awaitable[Progress | None]],
    report: Report,
    clock: Clock,
    *,
    wait_seconds: float,
    interval: float,
) -> Outcome:
    """Read until the task is terminal or ``wait_seconds`` pass on ``clock``; notify after every read."""
    started = clock.now()
    notices = _Notices(report)
    seen: Progress | None = None
    asks_progress = True  # until the API says this task has none
    polls = 0
    while True:
        last = await read()
        polls += 1
        task = last.tasks[0]
        if not task.terminal and asks_progress:
            seen = await progress(task)
            asks_progress = seen is not None
        elapsed = clock.now() - started
        percent = seen.percentage if seen is not None and not task.terminal else None
        await notices.read(polls, percent, _message(task, seen, elapsed))
        remaining = wait_seconds - (clock.now() - started)
        if task.terminal or remaining <= 0:
            break
        await clock.sleep(min(interval, remaining))
        interval = min(interval * POLL_GROWTH, MAX_POLL_SECONDS)
    if task.terminal and seen is not None:  # the steps as they ended, not as last seen running
        seen = await progress(task) or seen
    outcome = Outcome(last, polls, seen, clock.now() - started)
    await notices.final(task.terminal, summary(task, round(outcome.waited, 3), wait_seconds))
    return outcome


class _Notices:
    """Progress notifications that only ever increase, as MCP requires."""

    def __init__(self, report: Report) -> None:
        self._report = report
        self._sent: float = -1.0
        self._percent_mode = False

    async def read(self, polls: int, percent: int | None, message: str) -> None:
        if percent is not None:
            self._percent_mode = True
            if percent > self._sent:
                await self._send(float(percent), 100.0, f"{message} ({percent}% done)")
        elif not self._percent_mode:
            await self._send(float(polls), None, message)

    async def final(self, finished: bool, message: str) -> None:
        if self._percent_mode:
            if finished and self._sent < 100:
                await self._send(100.0, 100.0, message)
        else:
            await self._send(self._sent + 1, None, message)

    async def _send(self, value: float, total: float | None, message: str) -> None:
        self._sent = value
        await self._report(value, total, message)


def _message(task: Task, seen: Progress | None, elapsed: float) -> str:
    text = f"{task.name} is {task.status} after {elapsed:.0f} s"
    step = seen.current_step() if seen is not None and not task.terminal else None
    return f"{text}, step {step.name} {step.status}" if step is not None else text


def summary(task: Task, waited: float, timeout: float) -> str:
    took = task.duration_seconds()
    ran = f" after running {took:g} s" if took is not None else ""
    if task.succeeded:
        return f"Task {task.id} ({task.name}) finished successfully{ran}."
    if task.terminal:
        return f"Task {task.id} ({task.name}) ended with status {task.status}{ran}: the change was not applied."
    return (
        f"Task {task.id} ({task.name}) is still {task.status} after waiting {waited:g} s (timeout {timeout:g} s); "
        "call wait_for_background_task again to keep waiting."
    )
