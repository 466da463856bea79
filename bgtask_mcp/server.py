"""build_server(settings) -> MCPServer: the tools, resources, prompts and completions.

This module wires things together and is the one place where DMS failures become ``ToolError``
text. It knows nothing of HTTP signing; the client knows nothing of MCP.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, ParamSpec, TypeVar, cast

import anyio
from mcp.server import MCPServer
from mcp.server.mcpserver import Context
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import (
    CallToolResult,
    Completion,
    CompletionArgument,
    CompletionContext,
    PromptReference,
    ResourceTemplateReference,
    TextContent,
    ToolAnnotations,
)
from pydantic import BaseModel, Field

from bgtask_mcp import __version__
from bgtask_mcp.cache import TaskCache
from bgtask_mcp.config import Settings
from bgtask_mcp.dms.client import DMSClient, call_deadline, current_request_id
from bgtask_mcp.dms.errors import ConfigurationError, DMSError, InvalidArgument
from bgtask_mcp.glossary import glossary
from bgtask_mcp.models import (
    InstanceId,
    ProjectId,
    Task,
    TaskId,
    TaskList,
    TaskPage,
    WaitResult,
)
from bgtask_mcp.prompts import load_prompts
from bgtask_mcp.secrets import redact
from bgtask_mcp.timewindow import HELP as TIME_HELP
from bgtask_mcp.timewindow import to_dms_time

log = logging.getLogger("bgtask_mcp")

INSTRUCTIONS = """\
Answers "what happened to that change?" for Distributed Message Service (Kafka, RabbitMQ, RocketMQ)
instances on Open Telekom Cloud and Huawei Cloud. Every change to an instance runs as a background task.

Tools (all read-only):
- get_background_task: one task by id (a task id from a list, or the job_id an operation returned).
- list_background_tasks: an instance's tasks, newest first; filter by task name, status and time window.
  Operations that return no job_id (public IP binding, auto topic creation, consumer offset reset) are found
  here: list with name=<taskName>, limit=1 gives the latest one.
- wait_for_background_task: waits until a task finishes (or a timeout), reporting progress; reaching the
  timeout is an answer, not an error: call it again to keep waiting.

Task params arrive decoded (secret values masked). Status CREATED/EXECUTING = still running; SUCCESS = done;
FAILED/DELETED = ended without applying the change; CANCELLED = a scheduled task that was cancelled.
The resource dms://glossary explains every status and task name. project_id may be omitted when the server
has a default project. Errors name the DMS error code, the X-Request-Id (support asks for it) and the next step.
Results with "simulated": true come from the embedded simulator, not a real cloud."""

ID_RE = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_SCAN = 1000  # tasks read at most for one filtered list call
MAX_WAIT_SECONDS = 1800.0
DEFAULT_WAIT_SECONDS = 300.0

READ_ONLY = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=True)
# waiting is read-only but its answer depends on when it is asked
WAITING = ToolAnnotations(read_only_hint=True, destructive_hint=False, idempotent_hint=False, open_world_hint=True)


@dataclass
class AppState:
    """What lives as long as the server: one pooled DMS client, the cache, what was seen."""

    client: DMSClient
    cache: TaskCache
    seen_instances: OrderedDict[str, None] = field(default_factory=OrderedDict)
    seen_names: OrderedDict[str, None] = field(default_factory=OrderedDict)
    seen_tasks: OrderedDict[str, None] = field(default_factory=OrderedDict)

    def remember(self, instance_id: str, tasks: list[Task]) -> None:
        _bounded_add(self.seen_instances, instance_id)
        for task in tasks:
            _bounded_add(self.seen_names, task.name)
            _bounded_add(self.seen_tasks, task.id)

    def task_key(self, project: str | None, instance: str, task: str) -> tuple[str, str | None, str, str]:
        """The cache key of one task: the same task read with or without the default project is one entry."""
        return (self.client.endpoint, project or self.client.default_project(), instance, task)

    def absorb(self, project: str | None, instance: str, page: TaskList) -> None:
        """Remember what a list showed; its finished tasks are final, so later lookups need no request."""
        self.remember(instance, page.tasks)
        if not self.cache.enabled:
            return
        for task in page.tasks:
            if task.terminal:
                self.cache.put(
                    self.task_key(project, instance, task.id),
                    TaskList(task_count=1, tasks=[task], simulated=page.simulated),
                )


def _bounded_add(store: OrderedDict[str, None], value: str, limit: int = 500) -> None:
    if not value:
        return
    store[value] = None
    store.move_to_end(value)
    if len(store) > limit:
        store.popitem(last=False)


def check_id(kind: str, value: str | None) -> str:
    """Refuse ids DMS could never accept, before any request is sent."""
    if value is None or not ID_RE.fullmatch(value):  # match() with $ would let "id\n" through
        shown = (value or "")[:80]
        raise InvalidArgument(
            f"{kind} {shown!r} is not a valid DMS id: it must be 1 to 64 letters, digits or '-' "
            f"(instance ids are UUIDs, task and project ids 32 hex characters). Next step: copy the id exactly "
            f"from the console or from list_background_tasks"
        )
    return value


def check_ids(
    *, instance_id: str, task_id: str | None = None, project_id: str | None = None, project_required: bool = False
) -> None:
    """Table 1 of the API: the instance always, the task when given, the project when given (or required)."""
    check_id("instance_id", instance_id)
    if task_id is not None:
        check_id("task_id", task_id)
    if project_id is not None or project_required:
        check_id("project_id", project_id)


P = ParamSpec("P")
R = TypeVar("R")


def tool_errors(name: str) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Turn every failure into a ToolError a person can act on, and log one line per call."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome = "ok"
            token = current_request_id.set(None)
            try:
                return _compact(await fn(*args, **kwargs))
            except DMSError as exc:
                outcome = type(exc).__name__
                raise ToolError(redact(exc.describe())) from None
            except ToolError:
                outcome = "ToolError"
                raise
            except anyio.get_cancelled_exc_class():
                outcome = "cancelled"
                raise
            except Exception:
                outcome = "internal"
                log.exception("tool %s failed unexpectedly", name)
                raise ToolError(
                    "bgtask-mcp hit an internal error (it is in the server's log). Next step: retry once; "
                    "if it persists, report it with the server log"
                ) from None
            finally:
                log.info(
                    "tool=%s outcome=%s duration_ms=%.1f dms_request_id=%s",
                    name,
                    outcome,
                    (time.perf_counter() - started) * 1000,
                    current_request_id.get() or "-",
                )
                current_request_id.reset(token)

        return wrapper

    return decorate


def _compact(result: R) -> R:
    """A model result as structuredContent plus the same JSON, compact, as the text block.

    Left to itself the SDK indents that text by 2, which costs a client that shows only the text (and the model
    behind it) about 30% more bytes. The tool's outputSchema still comes from its return annotation, and the SDK
    still checks structuredContent against it.
    """
    if not isinstance(result, BaseModel):
        return result
    text = TextContent(type="text", text=result.model_dump_json())
    return cast(R, CallToolResult(content=[text], structured_content=result.model_dump(mode="json")))


def build_server(settings: Settings) -> MCPServer[AppState]:
    holder = _StateHolder()  # completion handlers get no context: they read the state from here

    @asynccontextmanager
    async def lifespan(_: MCPServer[AppState]) -> AsyncIterator[AppState]:
        client = DMSClient(settings)
        if not client.configured:
            log.warning("DMS backend not configured: %s", client.configuration_problem)
        else:
            log.info("DMS endpoint %s (credentials: %s)", client.endpoint, settings.credentials.mode)
        cache = TaskCache(
            max_entries=settings.limits.cache_entries,
            running_ttl=settings.limits.running_task_ttl,
            enabled=settings.cache_enabled,
        )
        state = AppState(client=client, cache=cache)
        holder.state = state
        try:
            yield state
        finally:
            await client.aclose()

    mcp: MCPServer[AppState] = MCPServer(
        "bgtask-mcp",
        title="DMS background tasks",
        instructions=INSTRUCTIONS,
        version=__version__,
        lifespan=lifespan,
        website_url="https://github.com/bgtask-mcp/bgtask-mcp",
    )

    def state_of(ctx: Context[AppState, Any]) -> AppState:
        """The lifespan state, once the backend is known to be usable (setup problems come first)."""
        state: AppState = ctx.request_context.lifespan_context
        problem = state.client.configuration_problem
        if problem is not None:
            raise ConfigurationError(problem)
        return state

    async def read_task(state: AppState, project: str | None, instance: str, task: str, *, fresh: bool) -> TaskList:
        client = state.client
        key = state.task_key(project, instance, task)
        result = await state.cache.get(key, lambda: client.get_task(instance, task, project), fresh=fresh)
        state.remember(instance, result.tasks)
        return result

    # -- tools ----------------------------------------------------------------------------------

    @mcp.tool(title="Get a DMS background task", annotations=READ_ONLY)
    @tool_errors("get_background_task")
    async def get_background_task(
        instance_id: InstanceId,
        task_id: TaskId,
        ctx: Context[AppState, Any],
        project_id: ProjectId = None,
    ) -> TaskList:
        """Look up one background task of a DMS instance (Kafka, RabbitMQ, RocketMQ) by its id.

        Use it when you have a task id (from list_background_tasks) or the job_id an operation returned, to
        answer "did that change finish, and what did it change?". The answer carries the task's status, who
        started it, start and end time, and its params decoded into JSON. To find a task without an id, use
        list_background_tasks with name=...; to wait for a running task, use wait_for_background_task.
        """
        check_ids(instance_id=instance_id, task_id=task_id, project_id=project_id)
        state = state_of(ctx)
        with state.client.deadline():  # one deadline for the call, retries included
            return await read_task(state, project_id, instance_id, task_id, fresh=False)

    @mcp.tool(title="List DMS background tasks", annotations=READ_ONLY)
    @tool_errors("list_background_tasks")
    async def list_background_tasks(
        instance_id: InstanceId,
        ctx: Context[AppState, Any],
        project_id: ProjectId = None,
        start: Annotated[
            int,
            Field(ge=1, description="1-based offset of the first task (the API's 'start'); use next_start to page."),
        ] = 1,
        limit: Annotated[int, Field(ge=1, le=100, description="How many tasks to return, 1 to 100.")] = 10,
        begin_time: Annotated[
            str | None,
            Field(description=f"Only tasks started at or after this time: {TIME_HELP}."),
        ] = None,
        end_time: Annotated[
            str | None,
            Field(description=f"Only tasks started at or before this time: {TIME_HELP}."),
        ] = None,
        name: Annotated[
            str | None,
            Field(
                description="Only tasks with this name (case-insensitive), e.g. bindInstancePublicIp, "
                "modifyAutoTopic, kafkaResetConsumerOffset. With limit=1 this finds the latest such task."
            ),
        ] = None,
        status: Annotated[
            str | None,
            Field(
                description="Only tasks in these statuses, comma-separated: CREATED, EXECUTING, SUCCESS, FAILED, "
                "DELETED, CANCELLED. RUNNING is short for CREATED,EXECUTING."
            ),
        ] = None,
    ) -> TaskPage:
        """List the background tasks of a DMS instance, newest first, with decoded params.

        Use it for "what changed on this instance (today / in the last N hours)?", to find the latest task of a
        kind (name=..., limit=1) when the operation returned no job_id (public IP binding, auto topic creation,
        consumer offset reset), or to find failed tasks (status=FAILED). task_count is the API's total within
        the time window; with name/status filters the server pages through the API for you (up to 1000 tasks
        per call) and next_start says where to continue.
        """
        check_ids(instance_id=instance_id, project_id=project_id)
        try:
            begin = to_dms_time(begin_time) if begin_time else None
            end = to_dms_time(end_time) if end_time else None
        except ValueError as exc:
            raise InvalidArgument(f"{exc}. Next step: {TIME_HELP}") from None
        if begin and end and begin > end:
            raise InvalidArgument(f"begin_time ({begin}) is after end_time ({end}); swap them")
        wanted_statuses = _parse_statuses(status)
        wanted_name = name.strip().lower() if name and name.strip() else None
        state = state_of(ctx)
        client = state.client
        call_ends = time.monotonic() + settings.limits.call_deadline  # one deadline for all the pages read

        async def page(offset: int, size: int) -> TaskList:
            with call_deadline(call_ends - time.monotonic()):
                result = await client.list_tasks(
                    instance_id, project_id=project_id, start=offset, limit=size, begin_time=begin, end_time=end
                )
            state.absorb(project_id, instance_id, result)
            return result

        if not wanted_name and not wanted_statuses:
            result = await page(start, limit)
            consumed = start - 1 + len(result.tasks)
            return TaskPage(
                task_count=result.task_count,
                tasks=result.tasks,
                simulated=result.simulated,
                start=start,
                limit=limit,
                next_start=consumed + 1 if result.tasks and consumed < result.task_count else None,
            )

        matches: list[Task] = []
        position = start  # API offset of the next task to examine
        total = 0
        simulated = False
        scanned = 0
        next_start: int | None = None
        while scanned < MAX_SCAN:
            batch = await page(position, 100)
            total, simulated = batch.task_count, batch.simulated
            if not batch.tasks:
                break
            for task in batch.tasks:
                position += 1
                scanned += 1
                if _matches(task, wanted_name, wanted_statuses):
                    matches.append(task)
                    if len(matches) == limit:
                        break
            if len(matches) == limit or position > total:
                break
        if position <= total:
            next_start = position
        filters = ", ".join(
            part
            for part in (f"name={name}" if wanted_name else "", f"status={status}" if wanted_statuses else "")
            if part
        )
        note = f"Filtered by {filters}: {len(matches)} match(es) among {scanned} task(s) read from offset {start}."
        if next_start and len(matches) < limit:
            note += f" Stopped after reading {MAX_SCAN} tasks; call again with start={next_start} to continue."
        return TaskPage(
            task_count=total,
            tasks=matches,
            simulated=simulated,
            start=start,
            limit=limit,
            next_start=next_start,
            scanned=scanned,
            note=note,
        )

    @mcp.tool(title="Wait for a DMS background task", annotations=WAITING)
    @tool_errors("wait_for_background_task")
    async def wait_for_background_task(
        instance_id: InstanceId,
        task_id: TaskId,
        ctx: Context[AppState, Any],
        project_id: ProjectId = None,
        timeout_seconds: Annotated[
            float,
            Field(
                gt=0,
                le=MAX_WAIT_SECONDS,
                description=f"How long to wait at most, in seconds (default {DEFAULT_WAIT_SECONDS:g}, at most "
                f"{MAX_WAIT_SECONDS:g}). Reaching it is not an error: the still-running task is returned.",
            ),
        ] = DEFAULT_WAIT_SECONDS,
        poll_interval_seconds: Annotated[
            float,
            Field(
                ge=0.2,
                le=60,
                description="First pause between reads, in seconds; it grows by half each poll up to 15 s.",
            ),
        ] = 2.0,
    ) -> WaitResult:
        """Wait until a background task finishes (SUCCESS, FAILED, DELETED or CANCELLED) or the timeout passes.

        Use it for "wait until the resize is done and tell me". It reads the task, then re-reads it with growing
        pauses, sending a progress notification after every read (status, elapsed time, and the percentage for
        scale-out tasks). The result says whether the task finished, whether it succeeded, how long it ran, and
        the final task. If finished is false, the task is still running: tell the user, or call again.
        """
        check_ids(instance_id=instance_id, task_id=task_id, project_id=project_id)
        state = state_of(ctx)
        started = time.monotonic()
        deadline = started + timeout_seconds
        interval = poll_interval_seconds
        polls = 0
        percent: int | None = None
        progress_known = True
        call_ends = deadline + settings.limits.call_deadline  # the last read may take one call deadline
        while True:
            with call_deadline(call_ends - time.monotonic()):
                result = await read_task(state, project_id, instance_id, task_id, fresh=True)
            polls += 1
            task = result.tasks[0]
            elapsed = time.monotonic() - started
            if not task.terminal and progress_known:
                try:
                    percent = await state.client.get_progress(instance_id, task_id, project_id)
                except DMSError:
                    percent = None
                progress_known = percent is not None
            message = f"{task.name} is {task.status} after {elapsed:.0f} s"
            if percent is not None and not task.terminal:
                message += f" ({percent}% done)"
            await ctx.report_progress(min(elapsed, timeout_seconds), timeout_seconds, message)
            remaining = deadline - time.monotonic()
            if task.terminal or remaining <= 0:
                break
            await anyio.sleep(min(interval, remaining))
            interval = min(interval * 1.5, 15.0)
        waited = round(time.monotonic() - started, 3)
        return WaitResult(
            finished=task.terminal,
            succeeded=task.succeeded,
            status=task.status,
            waited_seconds=waited,
            task_duration_seconds=task.duration_seconds(),
            polls=polls,
            progress=100 if task.succeeded else percent,
            summary=_wait_summary(task, waited, timeout_seconds),
            task=task,
            simulated=result.simulated,
        )

    # -- resources ------------------------------------------------------------------------------

    @mcp.resource(
        "dms://projects/{project_id}/instances/{instance_id}/tasks/{task_id}",
        name="background_task",
        title="A DMS background task",
        description="One background task as JSON, exactly as get_background_task returns it.",
        mime_type="application/json",
    )
    async def task_resource(project_id: str, instance_id: str, task_id: str, ctx: Context[AppState, Any]) -> str:
        try:
            check_ids(project_id=project_id, instance_id=instance_id, task_id=task_id, project_required=True)
            result = await read_task(state_of(ctx), project_id, instance_id, task_id, fresh=False)
        except DMSError as exc:
            raise ResourceError(redact(exc.describe())) from None
        return result.model_dump_json()

    @mcp.resource(
        "dms://glossary",
        name="glossary",
        title="DMS task statuses and names",
        description="Every task status (meaning, terminal or not) and every known task name with what it does "
        "and what its params mean.",
        mime_type="application/json",
    )
    async def glossary_resource() -> str:
        return json.dumps(glossary(), indent=1, ensure_ascii=False)

    # -- prompts and completions ----------------------------------------------------------------

    for prompt in load_prompts():
        mcp.add_prompt(prompt)

    @mcp.completion()  # type: ignore[no-untyped-call, untyped-decorator]
    async def complete(
        ref: PromptReference | ResourceTemplateReference,
        argument: CompletionArgument,
        context: CompletionContext | None,
    ) -> Completion | None:
        state = holder.state
        values: list[str] = []
        if argument.name == "project_id":
            values = [p for p in [settings.project_id] if p]
        elif state is not None and argument.name == "instance_id":
            values = list(reversed(state.seen_instances))
        elif state is not None and argument.name in ("task_name", "name"):
            values = sorted(set(state.seen_names) | set(glossary()["task_names"]))
        elif state is not None and argument.name == "task_id":
            values = list(reversed(state.seen_tasks))
        elif argument.name == "status":
            values = sorted(glossary()["statuses"])
        prefix = argument.value.lower()
        matching = [v for v in values if v.lower().startswith(prefix)]
        return Completion(values=matching[:100], total=len(matching), has_more=len(matching) > 100)

    return mcp


class _StateHolder:
    state: AppState | None = None


def _parse_statuses(status: str | None) -> frozenset[str]:
    if not status or not status.strip():
        return frozenset()
    wanted: set[str] = set()
    for part in status.split(","):
        value = part.strip().upper()
        if not value:
            continue
        if value == "RUNNING":
            wanted |= {"CREATED", "EXECUTING"}
        elif re.fullmatch(r"[A-Z_]{1,32}", value):
            wanted.add(value)
        else:
            raise InvalidArgument(
                f"status {part.strip()[:40]!r} is not a task status; use CREATED, EXECUTING, SUCCESS, FAILED, "
                "DELETED, CANCELLED or RUNNING, comma-separated"
            )
    return frozenset(wanted)


def _matches(task: Task, name: str | None, statuses: frozenset[str]) -> bool:
    if name and task.name.lower() != name:
        return False
    return not statuses or task.status in statuses


def _wait_summary(task: Task, waited: float, timeout: float) -> str:
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
