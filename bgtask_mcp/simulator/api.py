"""The DMS API the simulator speaks: background tasks (show, list, delete, progress), ListInstances, and the
two IAM calls the server makes (project lookup, password login). Each region is served on a port of its own,
as each region has an endpoint of its own in the cloud; IAM answers on every port."""

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

from bgtask_mcp import ids
from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.auth import Gateway, Refused
from bgtask_mcp.simulator.responses import error, ok
from bgtask_mcp.simulator.state import IssuedToken, SimState

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
        base = "/v2/{project_id}/instances/{instance_id}/tasks"
        return [
            Route(base, self.listing, methods=["GET"]),
            Route(base + "/{task_id}", self.show, methods=["GET"]),
            Route(base + "/{task_id}", self.delete, methods=["DELETE"]),
            Route(base + "/{task_id}/progress", self.progress, methods=["GET"]),
            Route("/v2/{project_id}/instances", self.instances, methods=["GET"]),
            Route("/v3/projects", self.projects, methods=["GET"]),
            Route("/v3/auth/tokens", self.login, methods=["POST"]),
        ]

    async def _authorised(self, request: Request) -> Response | None:
        """Credentials, then the project: its format, the header, the token's scope, and this region's."""
        project = request.path_params["project_id"]
        try:
            scoped = self.gateway.caller_project(request, await request.body())
        except Refused as refused:
            return error(refused.status, refused.code, refused.message, gateway=True)
        if not ids.HEX32.fullmatch(project):
            return error(400, "DMS.00400002", "The project ID format is invalid.")
        header = request.headers.get("X-Project-Id")
        if (header and header != project) or (scoped and scoped != project):
            return error(401, "DMS.10240104", "The project ID in the token does not match the project ID in the URL.")
        if project != self.region(request).project_id:
            return error(400, "DMS.00400002", "The project ID is invalid in this region.")
        return None

    async def _instance_route(self, request: Request) -> Response | data.Instance:
        denied = await self._authorised(request)
        if denied:
            return denied
        instance_id = request.path_params["instance_id"]
        if not ids.UUID.fullmatch(instance_id):
            return error(400, "DMS.00400030", "The instance ID format is invalid.")
        instance = self.state.instance(self.region(request).name, instance_id)
        if instance is None:
            return error(404, "DMS.00404022", "This instance does not exist.")
        return instance

    def _task(self, request: Request, instance: data.Instance) -> data.SimTask | None:
        task = self.state.tasks.get(request.path_params["task_id"])
        return task if task is not None and task.instance_id == instance.id else None

    async def show(self, request: Request) -> Response:
        found = await self._instance_route(request)
        if isinstance(found, Response):
            return found
        if not ids.TASK.matches(request.path_params["task_id"]):
            return error(400, "DMS.00400070", "The task ID format is invalid.")
        task = self._task(request, found)
        if task is None:
            return ok({"task_count": "0", "tasks": []})
        return ok({"task_count": "1", "tasks": [self.state.wire(task, time.time())]})

    async def listing(self, request: Request) -> Response:
        found = await self._instance_route(request)
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
        found = await self._instance_route(request)
        if isinstance(found, Response):
            return found
        task = self._task(request, found)
        if task is None:
            return error(404, "DMS.00404001", "The task does not exist.")
        if self.state.status_of(task, time.time()) in ("CREATED", "EXECUTING"):
            return error(400, "DMS.00400017", "A background task of this instance is still running.")
        del self.state.tasks[task.id]
        return Response(status_code=204, headers={"X-Request-Id": uuid.uuid4().hex})

    async def progress(self, request: Request) -> Response:
        found = await self._instance_route(request)
        if isinstance(found, Response):
            return found
        task = self._task(request, found)
        if task is None or not task.progress_steps:
            return error(400, "DMS.00400070", "The progress can be queried only during Kafka capacity expansion.")
        now = time.time()
        pct = self.state.progress_of(task, now)
        done = len(task.progress_steps) * pct // 100
        steps = [
            {"name": name, "statue": "COMPLETED" if i < done else ("IN_PROGRESS" if i == done else "WAITING")}
            for i, name in enumerate(task.progress_steps)
        ]
        remain = max(0, int(self.state.started + task.created + task.duration - now))
        return ok({"progress_percentage": pct, "remain_time": remain, "step_list": steps})

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
            return error(400, "DMS.00400001", "Invalid parameter: offset and limit must be integers.")
        if engine not in ("kafka", "rabbitmq", "rocketmq") or offset < 0 or not 1 <= limit <= 50:
            return error(400, "DMS.00400001", "Invalid parameter: engine is required; offset >= 0; limit 1 to 50.")
        chosen = [i for i in self.state.instances(self.region(request).name) if i.engine == engine]
        if query.get("name"):
            chosen = [i for i in chosen if query["name"] in i.name]  # the API's fuzzy match: case-sensitive
        if query.get("status"):
            chosen = [i for i in chosen if i.status == query["status"]]
        page = [data.instance_wire(i, self.state.started) for i in chosen[offset : offset + limit]]
        return ok({"instances": page, "instance_num": len(chosen)})

    async def projects(self, request: Request) -> Response:
        """IAM KeystoneListProjects, signed with AK/SK (or a token), filtered by name."""
        try:
            self.gateway.caller_project(request, await request.body())
        except Refused as refused:
            return error(refused.status, refused.code, refused.message, gateway=True)
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
            return error(400, "APIG.0201", "Request body is invalid.", gateway=True)
        if not good:
            return error(
                401, "APIG.0301", "Incorrect IAM authentication information: wrong user or password", gateway=True
            )
        project = _scoped_project(scope)
        if project is None:
            return error(400, "IAM.0010", "The project in the scope does not exist.", gateway=True)
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
        return error(400, "DMS.00400001", "Invalid parameter: start and limit must be integers.")
    if start < 1 or not 1 <= limit <= 100:
        return error(400, "DMS.00400001", "Invalid parameter: start must be >= 1 and limit between 1 and 100.")
    bounds: list[float | None] = []
    for name in ("begin_time", "end_time"):
        value = query.get(name)
        try:
            bounds.append(None if value is None else _dms_time(value) if len(value) == 14 else _not_a_time())
        except ValueError:
            return error(400, "DMS.00400001", "Invalid parameter: begin_time/end_time must be yyyyMMddHHmmss.")
    return start, limit, bounds[0], bounds[1]
