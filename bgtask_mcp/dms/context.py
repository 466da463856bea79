"""The context of one logical call (one tool call): its clock, its one deadline, what it cost.

Every DMS request made inside ``call_scope`` shares the scope's deadline, retries and IAM logins included;
a nested scope can only shorten it. The scope also collects what the audit line reports: the last DMS
``X-Request-Id``, how many requests were sent and how many of them were retries.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from bgtask_mcp.clock import Clock


@dataclass
class Spend:
    """What one call cost, shared by every scope of the call (concurrent requests of a fan-out included)."""

    request_id: str | None = None
    requests: int = 0
    retries: int = 0
    region: str | None = None  # the region the call was for, once known (for the audit line)


@dataclass
class CallBudget:
    clock: Clock
    deadline: float  # clock.now() by which everything in the scope must be done
    seconds: float  # the scope's whole budget, for messages
    spend: Spend = field(default_factory=Spend)

    def remaining(self) -> float:
        return self.deadline - self.clock.now()

    # what the audit line and the error texts read: the call's, whichever scope counted it
    @property
    def request_id(self) -> str | None:
        return self.spend.request_id

    @request_id.setter
    def request_id(self, value: str | None) -> None:
        self.spend.request_id = value

    @property
    def requests(self) -> int:
        return self.spend.requests

    @requests.setter
    def requests(self, value: int) -> None:
        self.spend.requests = value

    @property
    def retries(self) -> int:
        return self.spend.retries

    @retries.setter
    def retries(self, value: int) -> None:
        self.spend.retries = value

    @property
    def region(self) -> str | None:
        return self.spend.region

    @region.setter
    def region(self, value: str | None) -> None:
        self.spend.region = value


_current: ContextVar[CallBudget | None] = ContextVar("bgtask_call_budget", default=None)


def current() -> CallBudget | None:
    return _current.get()


@contextmanager
def call_scope(clock: Clock, seconds: float) -> Iterator[CallBudget]:
    """One deadline for everything inside. Nested in another scope, the earlier deadline wins and what is
    spent is counted on the outer scope too: the inner scope is a new budget sharing the outer one's ``Spend``,
    so concurrent requests of one call never change each other's deadline."""
    outer = _current.get()
    now = clock.now()
    if outer is not None:
        budget = CallBudget(clock, min(outer.deadline, now + seconds), outer.seconds, outer.spend)
    else:
        budget = CallBudget(clock=clock, deadline=now + seconds, seconds=seconds)
    token = _current.set(budget)
    try:
        yield budget
    finally:
        _current.reset(token)
