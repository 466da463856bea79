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
    scheduled: dict[str, data.SimTask] = field(default_factory=dict)
    requests: Counter[str] = field(default_factory=Counter)
    auth_failures: dict[str, list[float]] = field(default_factory=dict)
    issued: dict[str, IssuedToken] = field(default_factory=dict)
    iam_token_ttl: float = DEFAULT_TOKEN_TTL
    in_flight: int = 0
    cts_forbidden: set[str] = field(default_factory=set)  # regions whose CTS answers 403 CTS.0013
    added: list[data.Instance] = field(default_factory=list)  # instances added through the control API

    @classmethod
    def seeded(cls) -> SimState:
        state = cls()
        for task in data.seed_tasks():
            state.tasks[task.id] = task
        for job in data.seed_scheduled():
            state.scheduled[job.id] = job
        return state

    def reset(self) -> None:
        self.requests.clear()
        self.auth_failures.clear()
        self.iam_token_ttl = DEFAULT_TOKEN_TTL
        self.cts_forbidden.clear()

    # -- task life cycle ----------------------------------------------------------------------------------------

    def age(self, task: data.SimTask, now: float) -> float:
        return now - (self.started + task.created)

    def runs_from(self, task: data.SimTask) -> float:
        """When the task starts running: its schedule, or its creation."""
        return self.started + (task.schedule if task.schedule is not None else task.created)

    def status_of(self, task: data.SimTask, now: float) -> str:
        if task.manual is not None:
            return str(task.manual.get("status", "EXECUTING"))
        if task.schedule is not None and task.final_status != "CANCELLED":
            ran = now - self.runs_from(task)
            return "CREATED" if ran < 0 else "EXECUTING" if ran < task.duration else task.final_status
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
        if status in ("CREATED", "CANCELLED"):
            updated = created
        elif status in ("EXECUTING",) or task.manual is not None:
            updated = max(created, now)
        else:
            updated = self.runs_from(task) + task.duration
        answer = {
            "id": task.id,
            "name": task.name,
            "user_name": task.user_name,
            "user_id": data.USERS.get(task.user_name, "0" * 32),
            "params": task.params,
            "status": status,
            "created_at": rfc3339(created),
            "updated_at": rfc3339(updated),
        }
        if task.schedule is not None:
            answer["schedule_at"] = rfc3339(self.runs_from(task))
        return answer

    def steps(self, task: data.SimTask, now: float) -> list[dict[str, Any]]:
        """The progress steps: the task's duration cut in equal parts; a failed task fails in its third step."""
        status, pct = self.status_of(task, now), self.progress_of(task, now)
        count = len(task.progress_steps)
        done = count * pct // 100
        failed_at = min(2, count - 1) if status == "FAILED" else None
        share = task.duration / max(1, count)
        steps = []
        for i, name in enumerate(task.progress_steps):
            start = self.runs_from(task) + i * share
            if failed_at is not None:
                state = "COMPLETED" if i < failed_at else "FAILED" if i == failed_at else "WAITING"
            else:
                state = "COMPLETED" if i < done else "IN_PROGRESS" if i == done else "WAITING"
            steps.append({
                "name": name,
                "statue": state,  # sic: the API's spelling
                "start_time": 0 if state == "WAITING" else int(start * 1000),
                "end_time": int((start + share) * 1000) if state in ("COMPLETED", "FAILED") else 0,
            })  # fmt: skip
        return steps

    def running_task(self, instance: data.Instance, now: float) -> data.SimTask | None:
        """The newest task of an instance that is still running (what its ListInstances record names)."""
        running = [
            t
            for t in self.tasks.values()
            if t.instance_id == instance.id
            and self.age(t, now) >= 0
            and self.status_of(t, now) in ("CREATED", "EXECUTING")
        ]
        return max(running, key=lambda t: t.created, default=None)

    def instances(self, region: str) -> list[data.Instance]:
        return [i for i in (*data.INSTANCES, *self.added) if i.region == region]

    def instance(self, region: str, instance_id: str) -> data.Instance | None:
        return next((i for i in self.instances(region) if i.id == instance_id), None)


def rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def task_span(state: SimState, task: data.SimTask, now: float) -> tuple[float, float | None]:
    """When a task started running, and when it ended (None while it runs)."""
    start = state.runs_from(task)
    status = state.status_of(task, now)
    if status in ("CREATED", "EXECUTING") or (
        task.manual is not None and status not in ("SUCCESS", "FAILED", "DELETED")
    ):
        return start, None
    return start, start + task.duration
