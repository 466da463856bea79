"""The id formats DMS accepts, in one place: checked before any request, by tools, client and simulator alike.

Ids are hex: case does not matter (``ABC`` names the same task as ``abc``), so every id is lowercased
here, once, and everything downstream (cache keys, paths, completions) sees the one spelling.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NewType

from bgtask_mcp.dms.errors import InvalidArgument
from bgtask_mcp.redaction import shown

HEX32 = re.compile(r"[0-9a-f]{32}")
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
SHOWN_CHARACTERS = 80  # of a refused value, in the message


@dataclass(frozen=True)
class IdFormat:
    argument: str
    noun: str
    accepted: str  # what DMS accepts, said for a person
    patterns: tuple[re.Pattern[str], ...]
    dms_code: str  # what DMS answers for anything else
    next_step: str

    def matches(self, value: str) -> bool:
        return any(p.fullmatch(value) for p in self.patterns)

    def refusal(self, value: object) -> InvalidArgument:
        return InvalidArgument(
            f"{self.argument} {shown(value, SHOWN_CHARACTERS)} is not a DMS {self.noun} id: DMS accepts only "
            f"{self.accepted} and refuses anything else with {self.dms_code}, so no request was sent. Next step: "
            f"{self.next_step}"
        )


PROJECT = IdFormat(
    "project_id",
    "project",
    "32 hex characters",
    (HEX32,),
    "DMS.00400002",
    "omit project_id (the server finds the project of the region itself), or copy it from the console's "
    "My Credentials page",
)
INSTANCE = IdFormat(
    "instance_id",
    "instance",
    "a UUID such as 11111111-2222-3333-4444-555555555555",
    (UUID,),
    "DMS.00400030",
    "find the instance by its name with list_instances, or copy the id from the instance's Basic Information page",
)
TASK = IdFormat(
    "task_id",
    "task",
    "32 hex characters or a job_id UUID",
    (HEX32, UUID),
    "DMS.00400070",
    "check the task id, or find the task with list_background_tasks (name=... finds the latest of a kind)",
)


def normalise(kind: IdFormat, value: object) -> str:
    """The id in its one spelling (lowercase), or ``InvalidArgument`` saying what DMS accepts."""
    spelled = _spelling(kind, value) if isinstance(value, str) else None
    if spelled is None:
        raise kind.refusal(value)
    return spelled


def _spelling(kind: IdFormat, text: str) -> str | None:
    lowered = text.lower()  # hex: case does not matter; whitespace does, and is refused
    return lowered if kind.matches(lowered) else None


# What a check returns: the service and the client take only these, so mypy proves every id reaching a DMS path
# was checked, once, where it came in (a tool argument, a resource URI, an answer from DMS).
ProjectId = NewType("ProjectId", str)
InstanceId = NewType("InstanceId", str)
TaskId = NewType("TaskId", str)


def project_id(value: object) -> ProjectId:
    return ProjectId(normalise(PROJECT, value))


def instance_id(value: object) -> InstanceId:
    return InstanceId(normalise(INSTANCE, value))


def task_id(value: object) -> TaskId:
    return TaskId(normalise(TASK, value))
