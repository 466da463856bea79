"""The context of one logical call (one tool call): its clock, its one deadline, what it cost.

Every DMS request made inside ``call_scope`` shares the scope's deadline, retries and IAM logins included;
a nested scope can only shorten it. The scope also collects what the audit line reports: the last DMS
``X-Request-Id``, how many requests were sent and how many of them were retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from bgtask_mcp.clock import Clock


@dataclass
class CallBudget:
    clock: Clock
    deadline: float  # clock.now() by which everything in the scope must be done
    seconds: float  # the scope's whole budget, for messages
    request_id: str | None = None
    requests: int = 0
    retries: int = 0
    region: str | None = None  # the region the call was for, once known (for the audit line)

    def remaining(self) -> float:
        return self.deadline - self.clock.now()


_current: ContextVar[CallBudget | None] = ContextVar("bgtask_call_budget", default=None)


def current() -> CallBudget | None:
    return _current.get()


@contextmanager
def call_scope(clock: Clock, seconds: float) -> Iterator[CallBudget]:
    """One deadline for everything inside. Nested in another scope, the earlier deadline wins and what is
    spent is counted on the outer scope too (the inner one is the outer one, shortened for a while)."""
    outer = _current.get()
    if outer is not None:
        saved = outer.deadline
        outer.deadline = min(saved, clock.now() + seconds)
        try:
            yield outer
        finally:
            outer.deadline = saved
        return
    budget = CallBudget(clock=clock, deadline=clock.now() + seconds, seconds=seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
