"""What changed: background tasks, scheduled tasks and CTS traces of a fleet merged into one list of changes,
newest first (pure: no I/O, tested on tables).

The join rules, and nothing joined by guessing:
- A request trace whose response names a ``job_id`` is the task with that id on the same instance: one change
  with both ids, the trace's user (who asked, where the task says ``paas_dms``) and source IP.
- CTS writes an asynchronous operation twice: the request (``extendDMSInstanceSuccess``) and, when the task
  ends, the result (``extendDMSInstanceTaskSuccess`` / ``...TaskFailure``). A result joins the change of its
  request when exactly one request of that operation on that instance is still open before it; otherwise it
  stays a change of its own.
- Every other trace is a change of its own (``source: trace``), its status from its name and code.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bgtask_mcp import facts, vocabulary
from bgtask_mcp.dms.wire import WireTrace
from bgtask_mcp.ids import InstanceId
from bgtask_mcp.models import Change, Instance, Task, epoch_ms_to_iso, parse_time
from bgtask_mcp.params import decode_params
from bgtask_mcp.redaction import mask_text, mask_value

RESULT_SUFFIXES = ("TaskSuccess", "TaskFailure")


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime
    open_ended: bool  # no until was given: planned changes after it count too

    def holds(self, when: datetime | None, planned: bool = False) -> bool:
        if when is None:
            return False
        return self.since <= when and (when <= self.until or (planned and self.open_ended))


@dataclass
class Fleet:
    """What was read of one region: its instances, their tasks and scheduled tasks, and its traces."""

    region: str
    instances: dict[InstanceId, Instance] = field(default_factory=dict)  # ids checked as they came in
    tasks: dict[InstanceId, list[Task]] = field(default_factory=lambda: defaultdict(list))  # instance id -> tasks
    scheduled: dict[InstanceId, list[Task]] = field(default_factory=lambda: defaultdict(list))
    traces: list[WireTrace] = field(default_factory=list)


@dataclass(frozen=True)
class Filters:
    status: frozenset[str] = frozenset()
    user: str | None = None

    def keep(self, change: Change) -> bool:
        if self.status and change.status not in self.status:
            return False
        return not self.user or self.user in (change.user or "").lower()


def trace_meanings() -> dict[str, str]:
    """Documented trace name -> the operation it records, in plain words."""
    return {t.name: t.operation for t in facts.trace_names()}


def trace_status(trace: WireTrace) -> str:
    failed = trace.trace_name.endswith("Failure") or (trace.code or "").strip()[:1] in ("4", "5")
    return "FAILED" if failed else "SUCCESS"


def job_id_of(trace: WireTrace) -> str | None:
    if not trace.response:
        return None
    try:
        body = json.loads(trace.response)
    except ValueError:
        return None
    job = body.get("job_id") if isinstance(body, dict) else None
    return str(job).lower() if isinstance(job, str) and job else None


def request_base(name: str) -> str | None:
    """``extendDMSInstanceSuccess`` -> ``extendDMSInstance``; None for a result or a failure."""
    if name.endswith(RESULT_SUFFIXES) or not name.endswith("Success"):
        return None
    return name.removesuffix("Success")


def result_base(name: str) -> str | None:
    for suffix in RESULT_SUFFIXES:
        if name.endswith(suffix):
            return name.removesuffix(suffix)
    return None


def trace_time(trace: WireTrace) -> datetime | None:
    if trace.time_ms is None:
        return None
    try:
        return datetime.fromtimestamp(trace.time_ms / 1000, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def merge(fleets: Iterable[Fleet], window: Window, filters: Filters) -> list[Change]:
    """Every change in the window, newest first (planned ones by their schedule)."""
    changes: list[Change] = []
    for fleet in fleets:
        changes += _region_changes(fleet, window)
    kept = [c for c in changes if filters.keep(c)]
    kept.sort(key=lambda c: (c.time, c.task_id or c.trace_id or ""), reverse=True)
    return kept


def _region_changes(fleet: Fleet, window: Window) -> list[Change]:
    by_task: dict[tuple[str, str], Change] = {}
    changes: list[Change] = []
    for instance_id, tasks in fleet.tasks.items():
        for task in tasks:
            if window.holds(parse_time(task.created_at)):
                change = _task_change(task, fleet.instances.get(instance_id), fleet.region, "task")
                by_task[(instance_id, task.id)] = change
                changes.append(change)
    for instance_id, jobs in fleet.scheduled.items():
        for job in jobs:
            planned = job.schedule_at is not None and not job.terminal
            if window.holds(parse_time(job.schedule_at or job.created_at), planned=planned):
                change = _task_change(job, fleet.instances.get(instance_id), fleet.region, "scheduled")
                by_task.setdefault((instance_id, job.id), change)
                changes.append(change)
    changes = _join_traces(fleet, window, by_task, changes)
    return changes


def _task_change(task: Task, instance: Instance | None, region: str, source: str) -> Change:
    scheduled = source == "scheduled" and task.schedule_at
    return Change.model_construct(
        time=(task.schedule_at if scheduled else task.created_at) or task.created_at,
        ended=task.updated_at if task.terminal else None,
        source=source,
        name=task.name,
        meaning=vocabulary.meaning_of(task.name),
        status=task.status,
        user=task.user_name,
        instance_id=instance.instance_id if instance else None,
        instance_name=instance.name if instance else None,
        engine=instance.engine if instance else None,
        region=region,
        task_id=task.id,
        trace_id=None,
        params=task.params,
        source_ip=None,
    )


def _join_traces(
    fleet: Fleet, window: Window, by_task: dict[tuple[str, str], Change], changes: list[Change]
) -> list[Change]:
    meanings = trace_meanings()
    open_requests: dict[tuple[str, str], list[tuple[str, str] | None]] = defaultdict(list)  # (resource, base)
    for trace in sorted(fleet.traces, key=lambda t: (t.time_ms or 0, t.trace_id)):
        when = trace_time(trace)
        resource = trace.resource_id.lower()
        request, result = request_base(trace.trace_name), result_base(trace.trace_name)
        job = job_id_of(trace)
        joined = by_task.get((resource, job)) if job else None
        if joined is not None:
            _annotate(joined, trace)
            if request:
                open_requests[(resource, request)].append((resource, job or ""))
            continue
        if result:
            pending = open_requests.get((resource, result), [])
            if len(pending) == 1 and pending[0] is not None:
                pending.pop()  # the result of the one open request: the same change
                continue
            pending.clear()  # an ambiguous result: nothing joined, nothing left open
        elif request:
            open_requests[(resource, request)].append(None)  # a request whose task is not known
        if window.holds(when):
            changes.append(_trace_change(trace, fleet, meanings))
    return changes


def _annotate(change: Change, trace: WireTrace) -> None:
    # the joined change takes who asked and from where
    change.trace_id = trace.trace_id
    if trace.user:
        change.user = mask_text(trace.user)
    change.source_ip = trace.source_ip


def _trace_change(trace: WireTrace, fleet: Fleet, meanings: dict[str, str]) -> Change:
    instance = fleet.instances.get(InstanceId(trace.resource_id.lower()))  # a lookup, never a request path
    params: Any = mask_value(decode_params(trace.request)) if trace.request else None
    return Change.model_construct(
        time=epoch_ms_to_iso(str(trace.time_ms)) if trace.time_ms is not None else "",
        ended=None,
        source="trace",
        name=mask_text(trace.trace_name),
        meaning=meanings.get(trace.trace_name),
        status=trace_status(trace),
        user=mask_text(trace.user) if trace.user else None,
        instance_id=instance.instance_id if instance else (trace.resource_id.lower() or None),
        instance_name=instance.name if instance else (mask_text(trace.resource_name) or None),
        engine=instance.engine
        if instance
        else vocabulary.ENGINE_ALIASES.get(trace.resource_type, trace.resource_type) or None,
        region=fleet.region,
        task_id=None,
        trace_id=trace.trace_id,
        params=params,
        source_ip=trace.source_ip,
    )
