"""The simulator's mutable world: tasks and their life cycle, issued IAM tokens, key lockouts, counters."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bgtask_mcp.simulator import data

DEFAULT_TOKEN_TTL = 24 * 3600.0


@dataclass
class IssuedToken:
    project_id: str
    expires: float  # time.time()


@dataclass
class SimState:
    started: float = field(default_factory=time.time)
    tasks: dict[str, data.SimTask] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    auth_failures: dict[str, list[float]] = field(default_factory=dict)
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    iam_token_ttl: float = DEFAULT_TOKEN_TTL
    in_flight: int = 0

    @classmethod
    def seeded(cls) -> SimState:
        state = cls()
        for task in data.seed_tasks():
            state.tasks[task.id] = task
        return state

    def reset(self) -> None:
        self.requests.clear()
        self.auth_failures.clear()
        self.iam_token_ttl = DEFAULT_TOKEN_TTL

    # -- task life cycle ----------------------------------------------------------------------------------------

    def age(self, task: data.SimTask, now: float) -> float:
        return now - (self.started + task.created)

    def status_of(self, task: data.SimTask, now: float) -> str:
        if task.manual is not None:
            return str(task.manual.get("status", "EXECUTING"))
        if not task.live:
            return task.final_status
        age = self.age(task, now)
        if age < min(1.0, task.duration / 4):
            return "CREATED"
        return "EXECUTING" if age < task.duration else task.final_status

    def progress_of(self, task: data.SimTask, now: float) -> int:
        if task.manual is not None:
            return int(task.manual.get("progress", 0))
        if not task.live:
            return 100
        return max(0, min(100, int(100 * self.age(task, now) / task.duration)))

    def wire(self, task: data.SimTask, now: float) -> dict[str, Any]:
        created = self.started + task.created
        status = self.status_of(task, now)
        if status == "CREATED":
            updated = created
        elif status in ("EXECUTING",) or task.manual is not None:
            updated = max(created, now)
        else:
            updated = created + task.duration
        return {
            "id": task.id,
            "name": task.name,
            "user_name": task.user_name,
            "user_id": data.USERS.get(task.user_name, "0" * 32),
            "params": task.params,
            "status": status,
            "created_at": rfc3339(created),
            "updated_at": rfc3339(updated),
        }

    def instances(self, region: str) -> list[data.Instance]:
        return [i for i in data.INSTANCES if i.region == region]

    def instance(self, region: str, instance_id: str) -> data.Instance | None:
        return next((i for i in self.instances(region) if i.id == instance_id), None)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"
