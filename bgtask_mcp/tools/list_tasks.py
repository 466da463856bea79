"""list_background_tasks: an instance's tasks, newest first, one page or filtered by name and status.

With filters the server pages through the API itself (``scan``, a pure function over a page reader): pages of
100, at most ``MAX_SCAN`` tasks per call, and ``next_start`` continues exactly after the last task read.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Annotated, Any

from mcp.server.mcpserver import Context
from pydantic import Field

from bgtask_mcp import ids, vocabulary
from bgtask_mcp.dms.errors import InvalidArgument
from bgtask_mcp.models import Task, TaskList, TaskPage
from bgtask_mcp.redaction import shown
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.timewindow import HELP as TIME_HELP
from bgtask_mcp.timewindow import to_dms_time
from bgtask_mcp.tools.args import Cloud, InstanceId, ProjectId, Region, or_default

TITLE = "List DMS background tasks"
MAX_SCAN = 1000  # tasks read at most for one filtered call
SCAN_PAGE = 100  # the API's largest page
DEFAULT_LIMIT = 10
STATUS_WORD = re.compile(r"[A-Z_]{1,32}")

Start = Annotated[
    int | None,
    Field(
        ge=1,
        description="1-based offset of the first task; default 1. Pass the previous answer's next_start to page.",
    ),
]
Limit = Annotated[int | None, Field(ge=1, le=100, description=f"Tasks per page, 1 to 100; default {DEFAULT_LIMIT}.")]
BeginTime = Annotated[str | None, Field(description=f"Tasks started from: {TIME_HELP}.")]
EndTime = Annotated[str | None, Field(description="Tasks started until, same forms.")]
NameFilter = Annotated[
    str | None,
    Field(description="Only tasks of this name (any case), e.g. kafkaConfigModify; with limit=1, the latest one."),
]
Scheduled = Annotated[
    bool | None,
    Field(description="true: the scheduled (planned) tasks instead, CANCELLED ones too. Default false."),
]
StatusFilter = Annotated[
    str | None,
    Field(
        description=f"Comma-separated, of {vocabulary.status_names()}; "
        f"{vocabulary.RUNNING_ALIAS} = {','.join(sorted(vocabulary.RUNNING_STATUSES))}."
    ),
]


async def list_background_tasks(
    instance_id: InstanceId,
    ctx: Context[AppState, Any],
    start: Start = 1,
    limit: Limit = DEFAULT_LIMIT,
    begin_time: BeginTime = None,
    end_time: EndTime = None,
    name: NameFilter = None,
    status: StatusFilter = None,
    scheduled: Scheduled = False,
    region: Region = None,
    project_id: ProjectId = None,
    cloud: Cloud = None,
) -> TaskPage:
    """List the background tasks of a DMS instance, newest first, params decoded (secrets masked).

    Use it for "what changed on this instance?", the latest task of a kind (name=..., limit=1) when an
    operation returned no job_id, or failed tasks (status=FAILED). scheduled=true answers "what is
    planned?".
    """
    instance = ids.instance_id(instance_id)
    first, size = or_default(start, 1), or_default(limit, DEFAULT_LIMIT)
    begin, end = time_window(begin_time, end_time)
    wanted = Wanted(name.strip().lower() if name and name.strip() else None, parse_statuses(status))
    service = state_of(ctx).service
    target = await service.target(cloud, region, project_id)

    plans = or_default(scheduled, False)

    async def page(offset: int, count: int) -> TaskList:
        return await service.list_page(
            target, instance, start=offset, limit=count, begin=begin, end=end, scheduled=plans
        )

    if not wanted.active:
        return one_page(await page(first, size), first, size)
    found = await scan(page, start=first, limit=size, keep=wanted.keep)
    return found.as_page(first, size, wanted.describe(name, status))


def time_window(begin_time: str | None, end_time: str | None) -> tuple[str | None, str | None]:
    try:
        begin = to_dms_time(begin_time) if begin_time else None
        end = to_dms_time(end_time) if end_time else None
    except ValueError as exc:
        raise InvalidArgument(f"{exc}. Next step: {TIME_HELP}") from None
    if begin and end and begin > end:
        raise InvalidArgument(f"begin_time ({begin}) is after end_time ({end}); swap them")
    return begin, end


def parse_statuses(status: str | None) -> frozenset[str]:
    if not status or not status.strip():
        return frozenset()
    wanted: set[str] = set()
    for part in status.split(","):
        value = part.strip().upper()
        if not value:
            continue
        if value == vocabulary.RUNNING_ALIAS:
            wanted |= vocabulary.RUNNING_STATUSES
        elif STATUS_WORD.fullmatch(value):
            wanted.add(value)
        else:
            raise InvalidArgument(
                f"status {shown(part.strip(), 40)} is not a task status; use {vocabulary.status_names()} or "
                f"{vocabulary.RUNNING_ALIAS}, comma-separated"
            )
    return frozenset(wanted)


@dataclass(frozen=True)
class Wanted:
    name: str | None
    statuses: frozenset[str]

    @property
    def active(self) -> bool:
        return bool(self.name or self.statuses)

    def keep(self, task: Task) -> bool:
        if self.name and task.name.lower() != self.name:
            return False
        return not self.statuses or task.status in self.statuses

    def describe(self, name: str | None, status: str | None) -> str:
        parts = [f"name={name}" if self.name else "", f"status={status}" if self.statuses else ""]
        return ", ".join(p for p in parts if p)


def page_of(
    tasks: list[Task], result: TaskList | Scan, start: int, limit: int, next_start: int | None, note: str | None = None
) -> TaskPage:
    total = result.task_count if isinstance(result, TaskList) else result.total
    scanned = result.scanned if isinstance(result, Scan) else 0
    return TaskPage.model_construct(
        task_count=total,
        tasks=tasks,
        region=result.region,
        simulated=result.simulated,
        start=start,
        limit=limit,
        next_start=next_start,
        scanned=scanned,
        note=note,
    )


def one_page(result: TaskList, start: int, limit: int) -> TaskPage:
    consumed = start - 1 + len(result.tasks)
    more = bool(result.tasks) and consumed < result.task_count
    return page_of(result.tasks, result, start, limit, consumed + 1 if more else None, result.note)


@dataclass(frozen=True)
class Scan:
    matches: list[Task]
    total: int
    scanned: int
    next_start: int | None
    region: str
    simulated: bool
    source_note: str | None = None  # where the tasks came from, when not the task list

    def as_page(self, start: int, limit: int, filters: str) -> TaskPage:
        note = f"{self.source_note} " if self.source_note else ""
        note += f"Filtered by {filters}: {len(self.matches)} match(es) among {self.scanned} task(s) read from offset "
        note += f"{start}."
        if self.next_start and len(self.matches) < limit:
            note += f" Stopped after reading {self.scanned} tasks; call again with start={self.next_start} to continue."
        return page_of(self.matches, self, start, limit, self.next_start, note)


async def scan(
    page: Callable[[int, int], Awaitable[TaskList]],
    *,
    start: int,
    limit: int,
    keep: Callable[[Task], bool],
    max_scan: int = MAX_SCAN,
    page_size: int = SCAN_PAGE,
) -> Scan:
    """Read pages from ``start`` until ``limit`` tasks match, the history ends, or ``max_scan`` were read."""
    matches: list[Task] = []
    position = start  # API offset of the next task to examine
    total, scanned, region, simulated, source = 0, 0, "", False, None
    while scanned < max_scan and len(matches) < limit:
        batch = await page(position, min(page_size, max_scan - scanned))
        total, region, simulated, source = batch.task_count, batch.region, batch.simulated, batch.note
        for task in batch.tasks:
            position += 1
            scanned += 1
            if keep(task):
                matches.append(task)
                if len(matches) == limit:
                    break
        if not batch.tasks or position > total:
            break
    return Scan(matches, total, scanned, position if position <= total else None, region, simulated, source)
