"""Control endpoints under ``/_simulator/`` (loopback tooling, not part of DMS): create and steer tasks, set
faults, read and clear counters, change the lifetime of the IAM tokens it issues."""

from __future__ import annotations

import json
import time
import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.faults import FAULT_FIELDS, FAULT_KINDS, FaultInjector, parse_rules
from bgtask_mcp.simulator.state import SimState


class Control:
    def __init__(self, state: SimState, faults: FaultInjector) -> None:
        self.state = state
        self.faults = faults

    def routes(self) -> list[Route]:
        return [
            Route("/_simulator/tasks", self.create_task, methods=["POST"]),
            Route("/_simulator/tasks/{task_id}", self.steer_task, methods=["POST"]),
            Route("/_simulator/faults", self.set_faults, methods=["POST", "DELETE"]),
            Route("/_simulator/iam", self.iam, methods=["POST"]),
            Route("/_simulator/cts", self.cts, methods=["POST"]),
            Route("/_simulator/fleet", self.fleet, methods=["POST"]),
            Route("/_simulator/stats", self.stats, methods=["GET", "DELETE"]),
            Route("/_simulator/reset", self.reset, methods=["POST"]),
            Route("/_simulator/health", self.health, methods=["GET"]),
        ]

    async def create_task(self, request: Request) -> Response:
        """A new task: live (it ages over ``duration_s``) or, with ``"manual": true``, steered by hand."""
        body: dict[str, Any] = await request.json()
        params = body.get("params", "{}")
        task = data.SimTask(
            id=body.get("id") or uuid.uuid4().hex,
            instance_id=body.get("instance_id", data.KAFKA.id),
            name=body.get("name", "resizeInstance"),
            user_name=body.get("user_name", "ops-alice"),
            params=params if isinstance(params, str) else json.dumps(params),
            created=time.time() - self.state.started + float(body.get("delay_s", 0.0)),
            final_status=body.get("final_status", "SUCCESS"),
            duration=max(0.01, float(body.get("duration_s", 3.0))),
            live=True,
            progress_steps=list(body.get("progress_steps", [])),
            manual={"status": body.get("status", "CREATED"), "progress": 0} if body.get("manual") else None,
        )
        self.state.tasks[task.id] = task
        return JSONResponse({"id": task.id, "project_id": task.project_id, "instance_id": task.instance_id})

    async def steer_task(self, request: Request) -> Response:
        """Set a manual task's ``status`` and ``progress``: tests drive a life cycle by events, not by time."""
        task = self.state.tasks.get(request.path_params["task_id"])
        if task is None or task.manual is None:
            return JSONResponse({"error": "no manual task with that id"}, status_code=404)
        body: dict[str, Any] = await request.json()
        task.manual.update({k: body[k] for k in ("status", "progress") if k in body})
        return JSONResponse({"id": task.id, **task.manual})

    async def set_faults(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.faults.rules.clear()
            return JSONResponse({"faults": 0})
        rules = parse_rules(await request.json())
        if isinstance(rules, str):
            return JSONResponse({"error": rules, "kinds": FAULT_KINDS, "fields": sorted(FAULT_FIELDS)}, status_code=400)
        self.faults.rules[:] = rules
        return JSONResponse({"faults": len(rules)})

    async def fleet(self, request: Request) -> Response:
        """``{"region": "eu-de", "per_engine": 10, "tasks": 3}``: that many more instances of every engine in the
        region, each with finished tasks in the last day (a fleet to measure list_changes on)."""
        body: dict[str, Any] = await request.json()
        region, count, tasks = (
            str(body.get("region", "eu-de")),
            int(body.get("per_engine", 10)),
            int(body.get("tasks", 3)),
        )
        made = []
        for engine in ("kafka", "rabbitmq", "rocketmq"):
            for n in range(min(count, 50)):
                seed = f"fleet/{region}/{engine}/{n}/{len(self.state.added)}"
                instance = data.Instance(str(uuid.UUID(data.task_id(seed))), f"fleet-{engine}-{n:02d}", engine, region)
                self.state.added.append(instance)
                made.append(instance.id)
                for t in range(min(tasks, 20)):
                    created = time.time() - self.state.started - (t + 1) * 3600.0
                    task = data.SimTask(data.task_id(f"{seed}/{t}"), instance.id, "kafkaConfigModify", "ops-alice",
                                        '{"configs":[]}', created, "SUCCESS", duration=30.0)  # fmt: skip
                    self.state.tasks[task.id] = task
        return JSONResponse({"instances": made})

    async def cts(self, request: Request) -> Response:
        """``{"region": "eu-nl", "forbidden": true}``: that region's CTS answers 403 CTS.0013 (no permission)."""
        body: dict[str, Any] = await request.json()
        region = str(body.get("region", ""))
        if body.get("forbidden"):
            self.state.cts_forbidden.add(region)
        else:
            self.state.cts_forbidden.discard(region)
        return JSONResponse({"forbidden": sorted(self.state.cts_forbidden)})

    async def iam(self, request: Request) -> Response:
        """Lifetime of the IAM tokens issued from now on (tests of the refresh ahead of expiry)."""
        body = await request.json()
        self.state.iam_token_ttl = max(0.1, float(body.get("token_ttl_s", 24 * 3600.0)))
        if body.get("expire_issued"):
            for token in self.state.issued.values():
                token.expires = 0.0  # every token issued so far is dead at DMS now
        return JSONResponse({"token_ttl_s": self.state.iam_token_ttl})

    async def stats(self, request: Request) -> Response:
        if request.method == "DELETE":
            self.state.requests.clear()
        return JSONResponse({"requests": dict(self.state.requests), "total": sum(self.state.requests.values())})

    async def reset(self, request: Request) -> Response:
        self.faults.rules.clear()
        self.state.reset()
        return JSONResponse({"ok": True})

    async def health(self, request: Request) -> Response:
        return JSONResponse({"status": "ok", "simulated": True, "tasks": len(self.state.tasks)})
