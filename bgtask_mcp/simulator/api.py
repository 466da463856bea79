"""The DMS API the simulator speaks: background tasks (show, list, delete, progress), scheduled tasks,
ListInstances, and the two IAM calls the server makes (project lookup, password login). Each region is served on
a port of its own, as each region has an endpoint of its own in the cloud; IAM answers on every port. Every error
is a documented code with its documented status and message (``responses.error``)."""

from __future__ import annotations

import hmac
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bgtask_mcp import facts, ids
from bgtask_mcp.simulator import data, traces
from bgtask_mcp.simulator.auth import Gateway, Refused
from bgtask_mcp.simulator.responses import error, ok
from bgtask_mcp.simulator.state import IssuedToken, SimState, task_span

TIME_FORMAT = "%Y%m%d%H%M%S"
Handler = Callable[[Request], Awaitable[Response]]


def _dms_time(text: str) -> float:
    return datetime.strptime(text, TIME_FORMAT).replace(tzinfo=UTC).timestamp()


class Api:
    def __init__(self, state: SimState, gateway: Gateway, regions_by_port: Mapping[int, str]) -> None:
        self.state = state
        self.gateway = gateway
        self.regions_by_port = dict(regions_by_port)

    def region(self, request: Request) -> data.Region:
        server = request.scope.get("server")
        port = server[1] if server else None
        return data.region_of(self.regions_by_port.get(port, data.REGIONS[0].name) if port else data.REGIONS[0].name)

    def routes(self) -> list[Route]:
        """One route per operation of facts/dms_operations.csv: the paths the client sends are the paths served."""
        handlers = {
            "ShowBackgroundTask": self.show,
            "ListBackgroundTasks": self.listing,
            "ShowBackgroundTaskProgress": self.progress,
            "DeleteBackgroundTask": self.delete,
            "ListScheduledTasks": self.scheduled,
            "ListInstances": self.instances,
            "ListTraces": self.traces,
            "KeystoneListProjects": self.projects,
            "KeystoneCreateUserTokenByPassword": self.login,
        }
        table = facts.operations()
        return [Route(table[name].path, handler, methods=[table[name].method]) for name, handler in handlers.items()]

    async def _authorised(self, request: Request) -> Response | None:
        """Credentials, then the project: its format, the header, the token's scope, and this region's."""
        project = request.path_params["project_id"]
        try:
            scoped = self.gateway.caller_project(request, await request.body())
        except Refused as refused:
            return error(refused.code, gateway=True, detail=refused.detail)
        if not ids.HEX32.fullmatch(project):
            return error("DMS.00400002")
        header = request.headers.get("X-Project-Id")
        if (header and header != project) or (scoped and scoped != project):
            return error("DMS.10240104")
        if project != self.region(request).project_id:
            return error("DMS.00400002")
        return None

    async def _instance_route(self, request: Request) -> Response | data.Instance:
        denied = await self._authorised(request)
        if denied:
            return denied
        instance_id = request.path_params["instance_id"]
        if not ids.UUID.fullmatch(instance_id):
            return error("DMS.00400030")
        instance = self.state.instance(self.region(request).name, instance_id)
        if instance is None:
            return error("DMS.00404022")
        return instance

    async def _tasks_route(self, request: Request) -> Response | data.Instance:
        """An instance whose /tasks API exists (OTC documents only scheduled-tasks for RocketMQ)."""
        found = await self._instance_route(request)
        if isinstance(found, data.Instance) and not found.tasks_api:
            return error("DMS.00404001")
        return found

    def _task(self, request: Request, instance: data.Instance) -> data.SimTask | None:
        task = self.state.tasks.get(request.path_params["task_id"])
        return task if task is not None and task.instance_id == instance.id else None

    async def show(self, request: Request) -> Response:
        found = await self._tasks_route(request)
        if isinstance(found, Response):
            return found
        if not ids.TASK.matches(request.path_params["task_id"]):
            return error("DMS.00400070")
        task = self._task(request, found)
        if task is None:
            return ok({"task_count": "0", "tasks": []})
        return ok({"task_count": "1", "tasks": [self.state.wire(task, time.time())]})

    async def listing(self, request: Request) -> Response:
        found = await self._tasks_route(request)
        if isinstance(found, Response):
            return found
        window = _list_query(request.query_params)
        if isinstance(window, Response):
            return window
        start, limit, begin, end = window
        now = time.time()
        chosen = [t for t in self.state.tasks.values() if t.instance_id == found.id and self.state.age(t, now) >= 0]
        chosen = [
            t
            for t in chosen
            if (begin is None or self.state.started + t.created >= begin)
            and (end is None or self.state.started + t.created <= end)
        ]
        chosen.sort(key=lambda t: t.created, reverse=True)
        page = chosen[start - 1 : start - 1 + limit]
        return ok({"task_count": str(len(chosen)), "tasks": [self.state.wire(t, now) for t in page]})

    async def delete(self, request: Request) -> Response:
        found = await self._tasks_route(request)
        if isinstance(found, Response):
            return found
        task = self._task(request, found)
        if task is None:
            return error("DMS.00404001")
        if self.state.status_of(task, time.time()) in ("CREATED", "EXECUTING"):
            return error("DMS.00400017")
        del self.state.tasks[task.id]
        return Response(status_code=204, headers={"X-Request-Id": uuid.uuid4().hex})

    async def progress(self, request: Request) -> Response:
        found = await self._tasks_route(request)
        if isinstance(found, Response):
            return found
        if found.engine == "rabbitmq":  # RabbitMQ documents no progress endpoint
            return error("DMS.00404001")
        task = self._task(request, found)
        if task is None or not task.progress_steps:
            return error("DMS.00400800")  # undocumented case: see docs/fidelity.md
        now = time.time()
        pct = self.state.progress_of(task, now)
        remain = 0 if pct >= 100 else max(0, int(self.state.runs_from(task) + task.duration - now))
        return ok({"progress_percentage": pct, "remain_time": remain, "step_list": self.state.steps(task, now)})

    async def scheduled(self, request: Request) -> Response:
        """ListScheduledTasks: ``job_count`` and ``jobs`` (each a task plus ``schedule_at``), latest schedule first;
        ``begin_time``/``end_time`` bound ``schedule_at``."""
        found = await self._instance_route(request)
        if isinstance(found, Response):
            return found
        window = _list_query(request.query_params)
        if isinstance(window, Response):
            return window
        start, limit, begin, end = window
        now = time.time()
        chosen = [
            j
            for j in self.state.scheduled.values()
            if j.instance_id == found.id
            and (begin is None or self.state.runs_from(j) >= begin)
            and (end is None or self.state.runs_from(j) <= end)
        ]
        chosen.sort(key=self.state.runs_from, reverse=True)
        page = chosen[start - 1 : start - 1 + limit]
        return ok({"job_count": len(chosen), "jobs": [self.state.wire(j, now) for j in page]})

    async def instances(self, request: Request) -> Response:
        denied = await self._authorised(request)
        if denied:
            return denied
        query = request.query_params
        engine = query.get("engine", "")
        engine = "rocketmq" if engine == "reliability" else engine
        try:
            offset, limit = int(query.get("offset", "0")), int(query.get("limit", "10"))
        except ValueError:
            return error("DMS.00400800")
        if engine not in ("kafka", "rabbitmq", "rocketmq") or offset < 0:
            return error("DMS.00400800")
        if not 1 <= limit <= 50:
            return error("DMS.10240042")
        chosen = [i for i in self.state.instances(self.region(request).name) if i.engine == engine]
        if query.get("include_failure") != "true":
            chosen = [i for i in chosen if i.status != "CREATEFAILED"]
        if query.get("name"):
            chosen = [i for i in chosen if query["name"] in i.name]  # the API's fuzzy match: case-sensitive
        if query.get("status"):
            chosen = [i for i in chosen if i.status == query["status"]]
        if offset and offset >= len(chosen):
            return error("DMS.40050010")
        now = time.time()
        page = [self._instance_record(i, now) for i in chosen[offset : offset + limit]]
        return ok({"instances": page, "instance_num": len(chosen)})

    def _instance_record(self, instance: data.Instance, now: float) -> dict[str, Any]:
        record = data.instance_wire(instance, self.state.started)
        running = self.state.running_task(instance, now)
        if running is not None:
            record["task"] = {
                "name": running.name,
                "status": self.state.status_of(running, now),
                "created_at": str(int((self.state.started + running.created) * 1000)),
            }
        return record

    async def traces(self, request: Request) -> Response:
        """CTS ListTraces of this region's DMS: newest first, ``from``/``to`` in epoch ms (both bounds kept),
        ``limit`` up to 200, ``next`` = the previous page's marker; seven days are kept."""
        denied = await self._authorised(request)
        if denied:
            return denied
        region = self.region(request).name
        if region in self.state.cts_forbidden:
            return error("CTS.0013")
        query = request.query_params
        window = _trace_query(query)
        if isinstance(window, Response):
            return window
        since, until, limit = window
        now = time.time()
        kept = max(since, (now - traces.RETENTION_S) * 1000)
        chosen = [
            t for t in self._region_traces(region, now)
            if kept <= t["time"] <= until and (not query.get("resource_id") or t["resource_id"] == query["resource_id"])
        ]  # fmt: skip
        chosen.sort(key=lambda t: (t["time"], t["trace_id"]), reverse=True)
        marker = query.get("next")
        if marker:
            position = next((i for i, t in enumerate(chosen) if t["trace_id"] == marker), None)
            if position is None:
                return error("CTS.0300")
            chosen = chosen[position + 1 :]
        page = chosen[:limit]
        more = len(chosen) > limit
        return ok({"traces": page, "meta_data": {"count": len(page), "marker": page[-1]["trace_id"] if more else None}})

    def _region_traces(self, region: str, now: float) -> list[dict[str, Any]]:
        found = [t for t in traces.standalone_traces(self.state.started) if t["resource_id"] in self._ids(region)]
        for task in self.state.tasks.values():
            instance = self.state.instance(region, task.instance_id)
            if instance is None or self.state.age(task, now) < 0:
                continue
            start, end = task_span(self.state, task, now)
            found += traces.task_traces(task, instance, start, end, self.state.status_of(task, now))
        return found

    def _ids(self, region: str) -> set[str]:
        return {i.id for i in self.state.instances(region)}

    async def projects(self, request: Request) -> Response:
        """IAM KeystoneListProjects, signed with AK/SK (or a token), filtered by name."""
        try:
            self.gateway.caller_project(request, await request.body())
        except Refused as refused:
            return error(refused.code, gateway=True, detail=refused.detail)
        name = request.query_params.get("name")
        self.state.requests["iam:projects"] += 1
        found = [
            {"id": pid, "name": n, "domain_id": data.SIM_DOMAIN_ID, "enabled": True}
            for n, pid in data.PROJECTS
            if name is None or n == name
        ]
        return JSONResponse(
            {"projects": found, "links": {"self": str(request.url)}}, headers={"X-IAM-Trace-Id": uuid.uuid4().hex}
        )

    async def login(self, request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            user = body["auth"]["identity"]["password"]["user"]
            scope = body["auth"]["scope"]["project"]
            password_ok = hmac.compare_digest(str(user["password"]).encode(), data.SIM_IAM_PASSWORD.encode())
            good = user["name"] == data.SIM_IAM_USER and user["domain"]["name"] == data.SIM_IAM_DOMAIN and password_ok
        except (ValueError, KeyError, TypeError):
            return error("APIG.0201", gateway=True)
        if not good:
            return error("APIG.0301", gateway=True)
        project = _scoped_project(scope)
        if project is None:
            return error("APIG.0201", gateway=True)
        return self._issue(project)

    def _issue(self, project: tuple[str, str]) -> Response:
        token = "SIM-ISSUED-" + uuid.uuid4().hex
        issued = datetime.now(UTC)
        expires = issued + timedelta(seconds=self.state.iam_token_ttl)
        self.state.issued[token] = IssuedToken(project[1], expires.timestamp())
        self.state.requests["iam:token"] += 1
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        body = {
            "token": {
                "expires_at": expires.strftime(stamp),
                "issued_at": issued.strftime(stamp),
                "methods": ["password"],
                "project": {"id": project[1], "name": project[0]},
            }
        }
        return JSONResponse(body, status_code=201, headers={"X-Subject-Token": token, "X-Request-Id": uuid.uuid4().hex})


def _trace_query(query: Mapping[str, str]) -> Response | tuple[float, float, int]:
    """``from``/``to`` (13-digit epoch ms, used together, default the last hour) and ``limit`` (1..200)."""
    if query.get("trace_type", "system") != "system":
        return error("CTS.0300")
    try:
        now_ms = time.time() * 1000
        until = float(query.get("to", now_ms))
        since = float(query.get("from", until - 3600 * 1000))
        limit = int(query.get("limit", "10"))
    except ValueError:
        return error("CTS.0300")
    if ("from" in query) != ("to" in query) or since > until or not 1 <= limit <= 200:
        return error("CTS.0300")
    return since, until, limit


def _scoped_project(scope: Any) -> tuple[str, str] | None:
    if not isinstance(scope, dict):
        return None
    matches = [(n, p) for n, p in data.PROJECTS if p == scope.get("id") or n == scope.get("name")]
    return matches[0] if len(matches) == 1 else None


def _not_a_time() -> float:
    raise ValueError("not yyyyMMddHHmmss")


def _list_query(query: Mapping[str, str]) -> Response | tuple[int, int, float | None, float | None]:
    try:
        start, limit = int(query.get("start", "1")), int(query.get("limit", "10"))
    except ValueError:
        return error("DMS.00400800")
    if start < 1 or limit < 1:
        return error("DMS.00400800")
    if limit > 100:
        return error("DMS.10240042")
    bounds: list[float | None] = []
    for name in ("begin_time", "end_time"):
        value = query.get(name)
        try:
            bounds.append(None if value is None else _dms_time(value) if len(value) == 14 else _not_a_time())
        except ValueError:
            return error("DMS.00400142")
    return start, limit, bounds[0], bounds[1]
