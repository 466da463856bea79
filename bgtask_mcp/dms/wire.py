"""What the DMS API sends, as it sends it: strings stay strings (``task_count``, ``params``, ``created_at`` in
epoch milliseconds). Decoding, masking and typing happen above the client, in ``models``.

The constructors are lenient: a field of an unexpected type becomes its text, a missing one empty, so an odd
answer is still shown rather than refused.
"""

from __future__ import annotations

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
        )


@dataclass(frozen=True)
class WireTaskList:
    task_count: int  # the API's string, read as a number (on List: the total matching, not the page size)
    tasks: tuple[WireTask, ...]
    simulated: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireTaskList:
        tasks = tuple(WireTask.from_json(t) for t in _objects(raw, "tasks"))
        return cls(_count(raw.get("task_count"), len(tasks)), tasks, raw.get("simulated") is True)


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

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireInstance:
        return cls(**{name: _text(raw, name) for name in cls.__dataclass_fields__})


@dataclass(frozen=True)
class WireInstanceList:
    instance_num: int
    instances: tuple[WireInstance, ...]
    simulated: bool = False

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> WireInstanceList:
        instances = tuple(WireInstance.from_json(i) for i in _objects(raw, "instances"))
        return cls(_count(raw.get("instance_num"), len(instances)), instances, raw.get("simulated") is True)


def progress_percentage(raw: dict[str, Any]) -> int | None:
    """ShowBackgroundTaskProgress's ``progress_percentage`` (0..100), or None when it is not a number."""
    try:
        return max(0, min(100, int(str(raw.get("progress_percentage")))))
    except (TypeError, ValueError):
        return None
