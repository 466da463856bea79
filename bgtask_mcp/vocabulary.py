"""The words of DMS as the product uses them: task statuses (terminal or not), progress step states, task names,
engines, instance statuses, all read from the documented tables in ``facts``.

Models, the glossary resource, the server instructions, the tool descriptions and the views read from here, so
a status or a task name is explained the same way everywhere. Task names are open-ended: the table lists the
ones with a public source, and names seen without one are shown as "meaning not documented", never explained.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from bgtask_mcp import facts


@dataclass(frozen=True)
class Status:
    name: str
    meaning: str
    terminal: bool
    succeeded: bool = False


STATUSES: Final = {name: Status(name, s.meaning, s.terminal, s.succeeded) for name, s in facts.task_statuses().items()}
RUNNING_ALIAS: Final = "RUNNING"  # in filters: every status that is still running
RUNNING_STATUSES: Final = frozenset(name for name, s in STATUSES.items() if not s.terminal)
UNKNOWN_STATUS: Final = "Any other status is passed through verbatim and treated as still running."
STEP_STATUSES: Final = {name: s.meaning for name, s in facts.step_statuses().items()}
UNDOCUMENTED_NAME: Final = "seen; meaning not documented"


def is_terminal(status: str) -> bool:
    known = STATUSES.get(status)
    return known is not None and known.terminal


def succeeded(status: str) -> bool:
    known = STATUSES.get(status)
    return known is not None and known.succeeded


def status_summary() -> str:
    """One line for descriptions and instructions: which status means what."""
    running = "/".join(n for n, s in STATUSES.items() if not s.terminal)
    done = "/".join(n for n, s in STATUSES.items() if s.succeeded)
    failed = "/".join(n for n, s in STATUSES.items() if s.terminal and not s.succeeded and n != "CANCELLED")
    return (
        f"{running} = still running; {done} = done; {failed} = ended without applying the change; "
        "CANCELLED = a scheduled task that was cancelled"
    )


def status_names() -> str:
    return ", ".join(STATUSES)


@dataclass(frozen=True)
class TaskName:
    """A task name with what it does and what its params mean; empty ``does`` when no source explains it."""

    does: str
    params: dict[str, str]
    started_without_job_id: bool
    source: str

    @property
    def documented(self) -> bool:
        return self.source != facts.UNDOCUMENTED


def _params(text: str) -> dict[str, str]:
    pairs = (part.split(":", 1) for part in text.split(";") if ":" in part)
    return {key.strip(): meaning.strip() for key, meaning in pairs}


TASK_NAMES: Final = {
    name: TaskName(t.meaning, _params(t.params), t.found_by_name, t.source) for name, t in facts.task_names().items()
}
DOCUMENTED_NAMES: Final = tuple(name for name, t in TASK_NAMES.items() if t.documented)
FOUND_BY_NAME: Final = tuple(name for name, t in TASK_NAMES.items() if t.started_without_job_id)


def meaning_of(name: str) -> str | None:
    """What a task of this name does, in plain words, when a public source says so."""
    known = TASK_NAMES.get(name)
    return known.does if known is not None and known.documented and known.does else None


# Message engines as the API names them in ListInstances (RocketMQ also answers as "reliability").
ENGINES: Final = ("kafka", "rabbitmq", "rocketmq")
ENGINE_ALIASES: Final = {"reliability": "rocketmq"}
# ShowBackgroundTaskProgress exists for these engines only (RabbitMQ has none: it is never asked there)
PROGRESS_ENGINES: Final = frozenset({"kafka", "rocketmq"})

INSTANCE_STATUSES: Final = {name: s.meaning for name, s in facts.instance_statuses().items()}


def _task_name_entry(task: TaskName) -> dict[str, object]:
    if not task.documented:
        return {"does": UNDOCUMENTED_NAME, "source": facts.UNDOCUMENTED}
    entry: dict[str, object] = {"does": task.does, "source": task.source}
    if task.params:
        entry["params"] = task.params
    return entry


def glossary() -> dict[str, object]:
    """The dms://glossary resource: every word with its meaning and where that meaning comes from."""
    return {
        "statuses": {
            n: {"meaning": s.meaning, "terminal": s.terminal, "source": facts.task_statuses()[n].source}
            for n, s in STATUSES.items()
        },
        "unknown_status": UNKNOWN_STATUS,
        "running_alias": f"{RUNNING_ALIAS} in a status filter means {', '.join(sorted(RUNNING_STATUSES))}.",
        "progress_step_statuses": {
            n: {"meaning": s.meaning, "source": s.source} for n, s in facts.step_statuses().items()
        },
        "task_names": {n: _task_name_entry(t) for n, t in TASK_NAMES.items()},
        "unknown_names": "Task names are open-ended; a name not listed here is still a valid task, its meaning "
        "not documented.",
        "found_by_name": list(FOUND_BY_NAME),
        "params": "params is the task's JSON parameters, decoded; values of secret-looking keys show as '***'.",
        "engines": list(ENGINES),
        "instance_statuses": {
            n: {"meaning": s.meaning, "source": s.source} for n, s in facts.instance_statuses().items()
        },
    }
