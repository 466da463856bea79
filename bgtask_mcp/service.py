"""The glue between the tools and DMS: which cloud, region and project a call is for; cached task reads;
what each caller has seen; fair use of the account. Tools call this; this calls ``DMSClient`` and turns its
wire models into the typed, masked models of ``models``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bgtask_mcp import ids
from bgtask_mcp.cache import SharedSlots, SharedStore, TaskCache, cache_key
from bgtask_mcp.callers import CallerLimiter, CallerMemory, current_caller
from bgtask_mcp.clock import SYSTEM_CLOCK, Clock
from bgtask_mcp.config import Settings
from bgtask_mcp.dms import context
from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.dms.errors import APIError, ConfigurationError, InvalidArgument, TaskNotFound
from bgtask_mcp.dms.wire import WireInstanceList, WireTaskList, WireTracePage
from bgtask_mcp.ids import InstanceId, ProjectId, TaskId
from bgtask_mcp.models import Instance, Progress, TaskList, instance_from_wire, progress_from_wire, task_from_wire
from bgtask_mcp.observability.telemetry import NO_TELEMETRY, Telemetry
from bgtask_mcp.redaction import shown

T = TypeVar("T")
NO_TASKS_API = "DMS.00404001"  # the URL does not exist: this instance serves scheduled-tasks only
SCHEDULED_SCAN = 100  # scheduled tasks read at most to find one by id (one page of the API's largest)
FROM_SCHEDULED = (
    "This instance has no /tasks API (DMS answered 404 DMS.00404001, as OTC documents for RocketMQ), so its "
    "scheduled tasks were read instead."
)
FOUND_SCHEDULED = "Found among the instance's scheduled tasks (ShowBackgroundTask has no task with this id)."


def no_tasks_api(exc: APIError) -> bool:
    return exc.status == 404 and exc.error_code == NO_TASKS_API


@dataclass(frozen=True)
class Target:
    """Where one call goes: a cloud's client, a region, the project id there."""

    cloud: str
    client: DMSClient
    region: str
    project: ProjectId


class TaskService:
    def __init__(
        self,
        settings: Settings,
        *,
        clock: Clock = SYSTEM_CLOCK,
        shared: SharedStore | None = None,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        self.settings = settings
        self.clock = clock
        self.clients = {
            cloud.name: DMSClient(
                cloud,
                settings.limits,
                overrides=dict(settings.endpoint_overrides),
                ca_file=settings.ca_file,
                clock=clock,
                telemetry=telemetry,
            )
            for cloud in settings.clouds
        }
        self.default_cloud = settings.default_cloud.name
        self.cache = TaskCache(
            max_entries=settings.limits.cache_entries,
            running_ttl=settings.limits.running_task_ttl,
            enabled=settings.cache_enabled,
            clock=clock,
            shared=shared,
            on_event=telemetry.cache_event,
        )
        self.memory = CallerMemory()
        slots = shared if isinstance(shared, SharedSlots) else None  # Redis: a caller's share across replicas
        lease = max(60.0, 2 * settings.limits.call_deadline)  # outlives any request; frees a dead replica's slots
        self.limiter = CallerLimiter(settings.limits.caller_concurrency, shared=slots, lease=lease)

    async def aclose(self) -> None:
        for client in self.clients.values():
            await client.aclose()

    def problem(self) -> str | None:
        """What the default cloud still lacks (region or endpoint, credentials), in one message."""
        return self.clients[self.default_cloud].problem

    def client(self, cloud: str | None) -> DMSClient:
        name = (cloud or "").strip() or self.default_cloud
        client = self.clients.get(name)
        if client is None:
            raise InvalidArgument(
                f"cloud {shown(name, 40)} is not configured, so no request was sent. Configured clouds: "
                f"{', '.join(self.clients)}. Next step: pass one of them, or omit cloud for {self.default_cloud!r}"
            )
        if client.problem is not None:
            raise ConfigurationError(client.problem)
        return client

    async def target(self, cloud: str | None, region: str | None, project: str | None) -> Target:
        client = self.client(cloud)
        name = client.region(region)
        budget = context.current()
        if budget is not None:
            budget.region = name or "default"
        project_id = client.known_project(name, project)
        if project_id is None:  # an IAM lookup: a request, so it counts against the caller's share
            project_id = await self._limited(lambda: client.project(name, project))
        return Target(client.cloud.name, client, name, project_id)

    async def _limited(self, call: Callable[[], Awaitable[T]]) -> T:
        budget = context.current()
        patience = min(self.limiter.patience, budget.remaining()) if budget is not None else None
        async with self.limiter.slot(current_caller(), patience):
            return await call()

    # -- tasks --------------------------------------------------------------------------------------------------

    def _key(self, target: Target, instance: str, task: str) -> str:
        return cache_key(target.cloud, target.region, target.project, instance, task)

    async def read_task(self, target: Target, instance: InstanceId, task: TaskId, *, fresh: bool = False) -> TaskList:

        async def fetch() -> TaskList:
            try:
                wire = await self._limited(
                    lambda: target.client.show_task(target.region, target.project, instance, task)
                )
            except TaskNotFound as missing:
                return await self._scheduled_by_id(target, instance, task, FOUND_SCHEDULED, missing)
            except APIError as exc:
                if not no_tasks_api(exc):
                    raise
                return await self._scheduled_by_id(target, instance, task, FROM_SCHEDULED, exc)
            return self._tasks(wire, target)

        result = await self.cache.get(self._key(target, instance, task), fetch, fresh=fresh)
        self._remember(target, instance, result)
        return result

    async def _scheduled_by_id(
        self, target: Target, instance: InstanceId, task: TaskId, note: str, otherwise: Exception
    ) -> TaskList:
        """The scheduled task with this id, or ``otherwise`` raised when there is none."""
        try:
            page = await self.scheduled_page(target, instance, start=1, limit=SCHEDULED_SCAN, begin=None, end=None)
        except APIError:
            raise otherwise from None  # no scheduled tasks to look in: the first answer stands
        found = [t for t in page.tasks if t.id.lower() == task]
        if not found:
            raise otherwise
        return TaskList.model_construct(
            task_count=1, tasks=found, region=page.region, simulated=page.simulated, note=note
        )

    async def list_page(
        self,
        target: Target,
        instance: InstanceId,
        *,
        start: int,
        limit: int,
        begin: str | None,
        end: str | None,
        scheduled: bool = False,
    ) -> TaskList:
        """One page of the instance's tasks (or of its scheduled tasks); an instance without the /tasks API
        answers from its scheduled tasks, saying so in ``note``."""
        if scheduled:
            return await self.scheduled_page(target, instance, start=start, limit=limit, begin=begin, end=end)
        try:
            wire = await self._limited(
                lambda: target.client.list_tasks(
                    target.region, target.project, instance, start=start, limit=limit, begin_time=begin, end_time=end
                )
            )
        except APIError as exc:
            if not no_tasks_api(exc):
                raise
            page = await self.scheduled_page(target, instance, start=start, limit=limit, begin=begin, end=end)
            return page.model_copy(update={"note": FROM_SCHEDULED})
        page = self._tasks(wire, target)
        self._remember(target, instance, page)
        for task in page.tasks:  # finished tasks are final: later lookups need no request
            if task.terminal and ids.TASK.matches(task.id):
                one = TaskList.model_construct(task_count=1, tasks=[task], region=page.region, simulated=page.simulated)
                await self.cache.remember_final(self._key(target, instance, task.id), one)
        return page

    async def scheduled_page(
        self, target: Target, instance: InstanceId, *, start: int, limit: int, begin: str | None, end: str | None
    ) -> TaskList:
        """One page of ListScheduledTasks, decoded and masked like any task page."""
        wire = await self._limited(
            lambda: target.client.list_scheduled_tasks(
                target.region, target.project, instance, start=start, limit=limit, begin_time=begin, end_time=end
            )
        )
        page = self._tasks(wire, target)
        self._remember(target, instance, page)
        return page

    async def traces(
        self, target: Target, *, since_ms: int, until_ms: int, resource_id: InstanceId | None, marker: str | None
    ) -> WireTracePage:
        """One page of the region's DMS traces in CTS (the audit trail), newest first."""
        return await self._limited(
            lambda: target.client.list_traces(
                target.region,
                target.project,
                since_ms=since_ms,
                until_ms=until_ms,
                resource_id=resource_id,
                marker=marker,
            )
        )

    async def progress(self, target: Target, instance: InstanceId, task: TaskId) -> Progress | None:
        wire = await self._limited(lambda: target.client.task_progress(target.region, target.project, instance, task))
        return None if wire is None else progress_from_wire(wire)

    def _tasks(self, wire: WireTaskList, target: Target) -> TaskList:
        return TaskList.model_construct(
            task_count=wire.task_count,
            tasks=[task_from_wire(t) for t in wire.tasks],
            region=target.region,
            simulated=wire.simulated,
        )

    def _remember(self, target: Target, instance: str, result: TaskList) -> None:
        pairs = ((t.id, t.name) for t in result.tasks)
        self.memory.remember_tasks(current_caller(), instance, target.region, pairs)

    # -- instances ----------------------------------------------------------------------------------------------

    async def instances(
        self, target: Target, engine: str, *, name: str | None, status: str | None, offset: int, limit: int
    ) -> tuple[list[Instance], int, bool]:
        """One page of one engine's instances, the API's total, and whether the API says it is simulated."""
        wire: WireInstanceList = await self._limited(
            lambda: target.client.list_instances(
                target.region, target.project, engine, name=name, status=status, offset=offset, limit=limit
            )
        )
        found = [instance_from_wire(i, target.region, target.project, engine) for i in wire.instances]
        self.memory.remember_instances(current_caller(), target.region, ((i.instance_id, i.name) for i in found))
        return found, wire.instance_num, wire.simulated
