"""list_changes: what changed on the fleet, and who did it, in one call.

For each region asked: the instances of every engine, then concurrently each matching instance's tasks in the
window (paged until the window is covered), its scheduled tasks, and the region's CTS traces of DMS. Every
request goes through the caller's share (``BGTASK_CALLER_CONCURRENCY`` in flight at most) under the call's one
deadline; a part that cannot be read (a region's CTS forbidden, an instance failing, the deadline) is listed in
``partial`` and the rest is still answered. ``changes.merge`` joins and orders what was read.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import anyio
from mcp.server.mcpserver import Context
from pydantic import Field

from bgtask_mcp import ids
from bgtask_mcp.boundary import message_of
from bgtask_mcp.changes import Filters, Fleet, Window, merge
from bgtask_mcp.dms.errors import DMSError, InvalidArgument
from bgtask_mcp.ids import InstanceId
from bgtask_mcp.models import ChangeList, Partial
from bgtask_mcp.redaction import shown
from bgtask_mcp.service import FROM_SCHEDULED, Target, TaskService
from bgtask_mcp.state import AppState, state_of
from bgtask_mcp.timewindow import HELP as TIME_HELP
from bgtask_mcp.timewindow import dms_time_of, to_datetime
from bgtask_mcp.tools.args import Cloud, EngineFilter, or_default
from bgtask_mcp.tools.list_tasks import StatusFilter, parse_statuses
from bgtask_mcp.vocabulary import ENGINES

TITLE = "What changed on DMS instances, and who did it"
DEFAULT_SINCE = "24h"
DEFAULT_LIMIT = 50
TASK_PAGE = 100  # the API's largest page
MAX_TASKS_PER_INSTANCE = 1000
TRACE_PAGE = 200  # CTS's largest page
MAX_TRACE_PAGES = 10
CTS_RETENTION = timedelta(days=7)

Since = Annotated[str | None, Field(description=f"Start of the window: {TIME_HELP}. Default {DEFAULT_SINCE}.")]
Until = Annotated[str | None, Field(description="End of the window, same forms; default now.")]
Regions = Annotated[
    str | None,
    Field(description="Region, or several: eu-nl,eu-de; null: the server's default region."),
]
InstanceQuery = Annotated[str | None, Field(description="Part of an instance name (any case), or an id.")]
UserFilter = Annotated[str | None, Field(description="Part of a user name (any case).")]
Limit = Annotated[int | None, Field(ge=1, le=200, description=f"Changes per page, 1 to 200; default {DEFAULT_LIMIT}.")]
Cursor = Annotated[str | None, Field(description="The previous answer's next_cursor.")]


async def list_changes(
    ctx: Context[AppState, Any],
    since: Since = DEFAULT_SINCE,
    until: Until = None,
    region: Regions = None,
    instance: InstanceQuery = None,
    engine: EngineFilter = None,
    status: StatusFilter = None,
    user: UserFilter = None,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
    cloud: Cloud = None,
) -> ChangeList:
    """What changed on DMS instances (Kafka, RabbitMQ, RocketMQ) across regions, and who did it, in one call.

    Use it first for "what changed?", "who did that?", "anything since 22:00?": tasks, planned tasks and the
    audit trail (topics, users, passwords, offsets), newest first; a trace that started a task is joined to
    it, with the real user. partial lists what could not be read.
    """
    state = state_of(ctx)
    service = state.service
    window = _window(since, until)
    offset = _offset(cursor, window)
    filters = Filters(parse_statuses(status), user.strip().lower() if user and user.strip() else None)
    client = service.client(cloud)
    regions = _regions(region, client.region)
    reader = FleetReader(service, window, instance, engine, ctx.report_progress)
    fleets = await reader.read(cloud, regions)
    changes = merge(fleets, window, filters)
    size = or_default(limit, DEFAULT_LIMIT)
    page = changes[offset : offset + size]
    more = offset + size < len(changes)
    return ChangeList.model_construct(
        change_count=len(changes),
        changes=page,
        next_cursor=_cursor(offset + size, window) if more else None,
        regions=[f.region for f in fleets],
        partial=reader.partial,
        simulated=reader.simulated,
    )


def _window(since: str | None, until: str | None) -> Window:
    now = datetime.now(UTC)
    try:
        start = to_datetime(or_default(since, DEFAULT_SINCE), now=now)
        end = to_datetime(until, now=now) if until else now
    except ValueError as exc:
        raise InvalidArgument(f"{exc}. Next step: {TIME_HELP}") from None
    if start > end:
        raise InvalidArgument(f"since ({start.isoformat()}) is after until ({end.isoformat()}); swap them")
    return Window(start, end, open_ended=not until)


def _regions(value: str | None, resolve: Callable[[str | None], str]) -> list[str]:
    parts: list[str | None] = [p for p in (value or "").split(",") if p.strip()] or [None]
    found: list[str] = []
    for part in parts[:10]:
        name = resolve(part)
        if name not in found:
            found.append(name)
    return found


def _fingerprint(window: Window) -> str:
    return f"{window.since.isoformat()}|{window.until.isoformat() if not window.open_ended else 'now'}"


def _cursor(offset: int, window: Window) -> str:
    raw = json.dumps({"o": offset, "w": _fingerprint(window)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _offset(cursor: str | None, window: Window) -> int:
    if not cursor:
        return 0
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        offset, fingerprint = int(raw["o"]), str(raw["w"])
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise InvalidArgument(
            f"cursor {shown(cursor, 40)} is not a next_cursor of list_changes. Next step: pass the next_cursor "
            "of the previous answer unchanged, or omit cursor for the first page"
        ) from None
    if fingerprint.split("|")[0] != window.since.isoformat() and not window.open_ended:
        raise InvalidArgument("this cursor belongs to another time window. Next step: repeat the call's since/until")
    return max(0, offset)


class FleetReader:
    """Reads regions concurrently, noting every part that could not be read."""

    def __init__(
        self,
        service: TaskService,
        window: Window,
        instance: str | None,
        engine: str | None,
        report: Callable[[float, float | None, str], Awaitable[None]],
    ) -> None:
        self.service, self.window, self.engine = service, window, engine
        self.query = (instance or "").strip().lower()
        self.report = report
        self.partial: list[Partial] = []
        self.simulated = False
        self.parts_read = 0

    async def read(self, cloud: str | None, regions: list[str]) -> list[Fleet]:
        fleets = [Fleet(region) for region in regions]
        async with anyio.create_task_group() as group:
            for fleet in fleets:
                group.start_soon(self._region, cloud, fleet)
        return fleets

    async def _done(self, what: str) -> None:
        self.parts_read += 1
        await self.report(float(self.parts_read), None, f"read {what} ({self.parts_read} parts so far)")

    def _failed(self, fleet: Fleet, instance_id: str | None, part: str, exc: DMSError) -> None:
        self.partial.append(Partial(region=fleet.region, instance_id=instance_id, part=part, error=message_of(exc)))  # type: ignore[arg-type]

    async def _region(self, cloud: str | None, fleet: Fleet) -> None:
        try:
            target = await self.service.target(cloud, fleet.region, None)
        except DMSError as exc:
            self._failed(fleet, None, "instances", exc)
            return
        fleet.region = target.region
        narrowed = bool(self.query or self.engine)
        async with anyio.create_task_group() as outer:
            if not narrowed:  # the whole region's audit trail needs no instance list: read it meanwhile
                outer.start_soon(self._traces, target, fleet)
            await self._instances(target, fleet)
            async with anyio.create_task_group() as group:
                for instance_id in fleet.instances:
                    group.start_soon(self._tasks, target, fleet, instance_id)
                    group.start_soon(self._scheduled, target, fleet, instance_id)
                if narrowed and fleet.instances:
                    group.start_soon(self._traces, target, fleet)

    async def _instances(self, target: Target, fleet: Fleet) -> None:
        async def engine_of(engine: str) -> None:
            try:
                offset = 0
                while offset < MAX_TASKS_PER_INSTANCE:
                    page, total, simulated = await self.service.instances(
                        target, engine, name=None, status=None, offset=offset, limit=50
                    )
                    self.simulated |= simulated
                    for instance in page:
                        usable = ids.INSTANCE.matches(instance.instance_id.lower())  # else no request could name it
                        if usable and self._wanted(instance.instance_id, instance.name):
                            fleet.instances[ids.instance_id(instance.instance_id)] = instance
                    offset += len(page)
                    if not page or offset >= total:
                        break
                await self._done(f"{engine} instances of {fleet.region}")
            except DMSError as exc:
                self._failed(fleet, None, "instances", exc)

        async with anyio.create_task_group() as group:
            for engine in [self.engine] if self.engine else ENGINES:
                group.start_soon(engine_of, engine)

    def _wanted(self, instance_id: str, name: str) -> bool:
        return not self.query or self.query == instance_id or self.query in name.lower()

    async def _tasks(self, target: Target, fleet: Fleet, instance_id: InstanceId) -> None:
        begin, end = dms_time_of(self.window.since), dms_time_of(self.window.until)
        try:
            start = 1
            while start <= MAX_TASKS_PER_INSTANCE:
                page = await self.service.list_page(
                    target, instance_id, start=start, limit=TASK_PAGE, begin=begin, end=end
                )
                if page.note == FROM_SCHEDULED:
                    return  # no /tasks API: its scheduled tasks are read anyway
                self.simulated |= page.simulated
                fleet.tasks[instance_id].extend(page.tasks)
                start += len(page.tasks)
                if not page.tasks or start > page.task_count:
                    break
            await self._done(f"tasks of {fleet.instances[instance_id].name}")
        except DMSError as exc:
            self._failed(fleet, instance_id, "tasks", exc)

    async def _scheduled(self, target: Target, fleet: Fleet, instance_id: InstanceId) -> None:
        try:
            page = await self.service.scheduled_page(
                target, instance_id, start=1, limit=TASK_PAGE, begin=dms_time_of(self.window.since),
                end=None,
            )  # fmt: skip
            fleet.scheduled[instance_id].extend(page.tasks)
        except DMSError as exc:
            self._failed(fleet, instance_id, "tasks", exc)

    async def _traces(self, target: Target, fleet: Fleet) -> None:
        now = datetime.now(UTC)
        kept_from = max(self.window.since, now - CTS_RETENTION)
        if self.window.since < now - CTS_RETENTION:
            self.partial.append(Partial(region=fleet.region, instance_id=None, part="traces", error=(
                f"CTS keeps 7 days of traces: nothing before {kept_from.isoformat(timespec='seconds')} can show who "
                "did what; the tasks of the whole window are answered")))  # fmt: skip
        one = next(iter(fleet.instances)) if self.query and len(fleet.instances) == 1 else None
        marker: str | None = None
        since_ms, until_ms = int(kept_from.timestamp() * 1000), int(self.window.until.timestamp() * 1000)
        try:
            for _ in range(MAX_TRACE_PAGES):
                page = await self.service.traces(
                    target, since_ms=since_ms, until_ms=until_ms, resource_id=one, marker=marker
                )
                self.simulated |= page.simulated
                narrowed = self.query or self.engine  # only the traces of the instances asked about
                fleet.traces += [t for t in page.traces if not narrowed or t.resource_id.lower() in fleet.instances]
                marker = page.marker
                if not marker:
                    break
            await self._done(f"audit trail of {fleet.region}")
        except DMSError as exc:
            self._failed(fleet, None, "traces", exc)
