"""What the DMS API sends, as it sends it: strings stay strings (``task_count``, ``params``, ``created_at`` in
epoch milliseconds). Decoding, masking and typing happen above the client, in ``models``.

The constructors are lenient: a field of an unexpected type becomes its text, a missing one empty, so an odd
answer is still shown rather than refused. Whether an answer came from the embedded simulator is said by the
simulator's response header, passed in by the client: the bodies carry only the API's own fields.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key)
    return "" if value is None else str(value)


def _objects(raw: dict[str, Any], key: str) -> list[dict[str, Any]]:
    """The objects of a list field; anything else in it (or a field that is no list) is dropped."""
    items = raw.get(key)
    return [item for item in items if isinstance(item, dict)] if isinstance(items, list) else []


def _count(raw: object, fallback: int) -> int:
    try:
        return int(str(raw).strip()) if raw is not None else fallback
    except ValueError:
        return fallback


@dataclass(frozen=True)
class WireTask:
    id: str
    name: str
    user_name: str
    user_id: str
    params: str | None
    status: str
    created_at: str
    updated_at: str
    schedule_at: str | None = None  # scheduled tasks only: when the task is (or was) due to run

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireTask:
        params = raw.get("params")
        return cls(
            id=_text(raw, "id"),
            name=_text(raw, "name"),
            user_name=_text(raw, "user_name"),
            user_id=_text(raw, "user_id"),
            params=params if isinstance(params, str) or params is None else str(params),
            status=_text(raw, "status"),
            created_at=_text(raw, "created_at"),
            updated_at=_text(raw, "updated_at"),
            schedule_at=_text(raw, "schedule_at") or None,
        )


@dataclass(frozen=True)
class WireTaskList:
    task_count: int  # the API's string, read as a number (on List: the total matching, not the page size)
    tasks: tuple[WireTask, ...]
    simulated: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, simulated: bool = False) -> WireTaskList:
        tasks = tuple(WireTask.from_json(t) for t in _objects(raw, "tasks"))
        return cls(_count(raw.get("task_count"), len(tasks)), tasks, simulated)

    @classmethod
    def from_scheduled(cls, raw: dict[str, Any], *, simulated: bool = False) -> WireTaskList:
        """ListScheduledTasks: ``job_count`` (a number in the SDK model, a string in the OTC table) and ``jobs``."""
        jobs = tuple(WireTask.from_json(t) for t in _objects(raw, "jobs"))
        return cls(_count(raw.get("job_count"), len(jobs)), jobs, simulated)


@dataclass(frozen=True)
class WireInstanceTask:
    """The task an instance record names while one runs: ``{"name", "status", "created_at"}``."""

    name: str
    status: str
    created_at: str

    @classmethod
    def from_json(cls, raw: object) -> WireInstanceTask | None:
        if not isinstance(raw, dict) or not any(raw.get(key) for key in ("name", "status")):
            return None
        return cls(_text(raw, "name"), _text(raw, "status"), _text(raw, "created_at"))


@dataclass(frozen=True)
class WireInstance:
    """The fields of a ListInstances entry that bgtask-mcp uses; addresses and credentials are never read."""

    instance_id: str
    name: str
    engine: str
    engine_version: str
    status: str
    type: str
    specification: str
    created_at: str  # epoch milliseconds, as a string
    task: WireInstanceTask | None = None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireInstance:
        texts = {name: _text(raw, name) for name in cls.__dataclass_fields__ if name != "task"}
        return cls(**texts, task=WireInstanceTask.from_json(raw.get("task")))


@dataclass(frozen=True)
class WireInstanceList:
    instance_num: int
    instances: tuple[WireInstance, ...]
    simulated: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, simulated: bool = False) -> WireInstanceList:
        instances = tuple(WireInstance.from_json(i) for i in _objects(raw, "instances"))
        return cls(_count(raw.get("instance_num"), len(instances)), instances, simulated)


def _number(raw: object) -> int | None:
    try:
        return int(float(str(raw).strip())) if raw is not None and not isinstance(raw, bool) else None
    except (TypeError, ValueError, OverflowError):
        return None


@dataclass(frozen=True)
class WireStep:
    """One step of a task's progress: ``statue`` (the API's spelling) and epoch-millisecond times, 0 = not yet."""

    name: str
    status: str
    start_ms: int | None
    end_ms: int | None


@dataclass(frozen=True)
class WireProgress:
    """ShowBackgroundTaskProgress: ``progress_percentage`` (0..100), ``remain_time`` (seconds) and ``step_list``."""

    percentage: int | None
    remain_seconds: int | None
    steps: tuple[WireStep, ...]

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireProgress:
        pct = _number(raw.get("progress_percentage"))
        steps = tuple(
            WireStep(
                _text(s, "name"),
                _text(s, "statue") or _text(s, "status"),
                _number(s.get("start_time")),
                _number(s.get("end_time")),
            )
            for s in _objects(raw, "step_list")
        )
        remain = _number(raw.get("remain_time"))
        return cls(None if pct is None else max(0, min(100, pct)), None if remain is None else max(0, remain), steps)


def _document_text(value: object) -> str | None:
    """A trace's request/response/message as text: CTS sends a JSON string or, on some clouds, an object."""
    if value is None or value == "":
        return None
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _user_name(value: object) -> str | None:
    """A trace's ``user``: ``{"name": ..., "domain": {...}}``, a plain string, or null for system actions."""
    if isinstance(value, dict):
        name = value.get("name") or value.get("user_name")
        return str(name) if name else None
    return str(value) if value else None


@dataclass(frozen=True)
class WireTrace:
    """One CTS trace as sent; fields that drift between clouds (``request`` and ``response`` as text or object,
    ``code`` as a number or a string, a null ``user``) are read in every form."""

    trace_id: str
    trace_name: str
    trace_rating: str
    resource_type: str
    resource_id: str
    resource_name: str
    source_ip: str | None
    request: str | None
    response: str | None
    code: str | None
    message: str | None
    user: str | None
    time_ms: int | None

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireTrace:
        code = raw.get("code")
        return cls(
            trace_id=_text(raw, "trace_id"),
            trace_name=_text(raw, "trace_name"),
            trace_rating=_text(raw, "trace_rating"),
            resource_type=_text(raw, "resource_type"),
            resource_id=_text(raw, "resource_id"),
            resource_name=_text(raw, "resource_name"),
            source_ip=_text(raw, "source_ip") or None,
            request=_document_text(raw.get("request")),
            response=_document_text(raw.get("response")),
            code=None if code is None or code == "" else str(code),
            message=_document_text(raw.get("message")),
            user=_user_name(raw.get("user")),
            time_ms=_number(raw.get("time")),
        )


@dataclass(frozen=True)
class WireTracePage:
    """ListTraces: one page of traces, newest first, and the marker of the next (older) page, or None."""

    traces: tuple[WireTrace, ...]
    marker: str | None
    simulated: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any], *, simulated: bool = False) -> WireTracePage:
        meta = raw.get("meta_data")
        marker = meta.get("marker") if isinstance(meta, dict) else None
        traces = tuple(WireTrace.from_json(t) for t in _objects(raw, "traces"))
        return cls(traces, str(marker) if marker else None, simulated)
