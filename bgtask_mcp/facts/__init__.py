"""The documented facts about DMS and CTS, as tables beside this file, each row naming its source.

Error codes, task statuses, progress step states, task names, instance statuses and CTS trace names are read
from here by the error texts, the vocabulary, the glossary, the simulator and the docs: a fact lives in one
row with the page, SDK model or Terraform file it comes from. A row whose source is ``undocumented`` is a name
seen in practice (or served by the simulator) whose meaning no public source gives: it is shown, never
explained as fact. The tables are read once, on first use.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from functools import cache
from pathlib import Path

HERE = Path(__file__).resolve().parent
UNDOCUMENTED = "undocumented"


def rows(table: str) -> list[dict[str, str]]:
    """The rows of ``<table>.csv`` as dicts (the first line names the columns)."""
    with (HERE / f"{table}.csv").open(encoding="utf-8", newline="") as file:
        return [dict(row) for row in csv.DictReader(file)]


def _flag(value: str) -> bool:
    return value.strip().lower() == "true"


@dataclass(frozen=True)
class ErrorCode:
    engine: str  # kafka, rocketmq, rabbitmq, apig, cts, ...
    http_status: int
    code: str
    message: str
    source: str


@dataclass(frozen=True)
class Advice:
    """What bgtask-mcp tells the user to do about a code, and whether the request is worth repeating."""

    code: str
    retry: bool
    next_step: str


@dataclass(frozen=True)
class TaskStatus:
    name: str
    meaning: str
    terminal: bool
    succeeded: bool
    source: str


@dataclass(frozen=True)
class StepStatus:
    name: str
    meaning: str
    source: str


@dataclass(frozen=True)
class TaskName:
    name: str
    engines: str
    meaning: str  # empty when undocumented
    params: str  # documented params, "key: meaning; key: meaning"
    found_by_name: bool  # the operation returns no job_id: find the task by name
    source: str

    @property
    def documented(self) -> bool:
        return self.source != UNDOCUMENTED


@dataclass(frozen=True)
class InstanceStatus:
    engine: str
    name: str
    meaning: str
    source: str


@dataclass(frozen=True)
class TraceName:
    engine: str
    operation: str
    resource_type: str
    name: str
    source: str


@dataclass(frozen=True)
class Operation:
    """One API operation the product sends (or the simulator serves): its method and path template."""

    name: str
    method: str
    path: str  # {project_id}, {instance_id}, {task_id}: ids checked before they fill it
    service: str  # dms, cts or iam
    used_by: str  # client (sent by bgtask-mcp) or simulator (served for its control of tasks only)
    source: str

    def url_path(self, **ids: str) -> str:
        return self.path.format(**ids)


@cache
def operations() -> dict[str, Operation]:
    """Every API operation bgtask-mcp sends or its simulator serves, by name: one table for both."""
    return {
        row["operation"]: Operation(row["operation"], row["method"], row["path"], row["service"], row["used_by"],
                                    row["source"])
        for row in rows("dms_operations")
    }  # fmt: skip


@cache
def error_codes() -> dict[str, ErrorCode]:
    """Every documented code, once (the first engine's row wins; the message is the same across engines)."""
    found: dict[str, ErrorCode] = {}
    for row in rows("error_codes"):
        code = row["error_code"].strip()
        found.setdefault(
            code, ErrorCode(row["engine"], int(row["http_status"]), code, row["error_message"].strip(), row["source"])
        )
    return found


@cache
def advice() -> dict[str, Advice]:
    return {
        row["error_code"]: Advice(row["error_code"], _flag(row["retry"]), row["next_step"])
        for row in rows("error_advice")
    }


@cache
def task_statuses() -> dict[str, TaskStatus]:
    return {
        row["status"]: TaskStatus(
            row["status"], row["meaning"], _flag(row["terminal"]), _flag(row["succeeded"]), row["source"]
        )
        for row in rows("task_statuses")
    }


@cache
def step_statuses() -> dict[str, StepStatus]:
    return {row["status"]: StepStatus(row["status"], row["meaning"], row["source"]) for row in rows("step_statuses")}


@cache
def task_names() -> dict[str, TaskName]:
    return {
        row["name"]: TaskName(
            row["name"], row["engines"], row["meaning"], row["params"], _flag(row["found_by_name"]), row["source"]
        )
        for row in rows("task_names")
    }


@cache
def instance_statuses() -> dict[str, InstanceStatus]:
    """Every documented instance status, once (the engines share their meanings)."""
    found: dict[str, InstanceStatus] = {}
    for row in rows("instance_statuses"):
        found.setdefault(row["status"], InstanceStatus(row["engine"], row["status"], row["description"], row["source"]))
    return found


@cache
def trace_names() -> tuple[TraceName, ...]:
    return tuple(
        TraceName(row["engine"], row["operation"], row["resource_type"], row["trace_name"], row["source"])
        for row in rows("trace_names")
    )
