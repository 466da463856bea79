"""The pure parts, without HTTP: the filtered scan, the poll loop, the retry policy, the cache's single flight,
the per-caller limit. Each runs on a manual clock or none at all."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import anyio
import anyio.lowlevel
import pytest

from bgtask_mcp.cache import TaskCache
from bgtask_mcp.callers import CallerLimiter
from bgtask_mcp.dms import context
from bgtask_mcp.dms.errors import APIError, CallerBusy, DeadlineExceeded, TransportError
from bgtask_mcp.dms.retry import GiveUp, Retry, RetryPolicy, with_retries
from bgtask_mcp.dms.transport import error_fields
from bgtask_mcp.models import Progress, Step, Task, TaskList
from bgtask_mcp.tools.list_tasks import scan
from bgtask_mcp.tools.wait_task import poll

from .support import ManualClock

pytestmark = pytest.mark.anyio


def task(n: int, status: str = "SUCCESS", name: str = "restartInstance") -> Task:
    return Task.model_construct(
        id=f"{n:032x}",
        name=name,
        user_name="u",
        user_id="i",
        params=None,
        status=status,
        created_at="2026-01-01T00:00:00Z",
        updated_at="2026-01-01T00:00:05Z",
    )


def history(total: int, failed_every: int = 7) -> list[Task]:
    return [task(n, "FAILED" if n % failed_every == 0 else "SUCCESS") for n in range(total)]


PageReader = Callable[[int, int], Awaitable[TaskList]]


def reader(
    tasks: list[Task], reads: list[tuple[int, int]], clock: ManualClock | None = None, seconds: float = 0.0
) -> PageReader:
    async def page(offset: int, count: int) -> TaskList:
        reads.append((offset, count))
        if clock is not None:
            clock.t += seconds
        return TaskList.model_construct(
            task_count=len(tasks), tasks=tasks[offset - 1 : offset - 1 + count], region="r", simulated=False
        )

    return page


# -- scan ------------------------------------------------------------------------------------------------------


async def test_scan_stops_as_soon_as_the_page_is_full() -> None:
    reads: list[tuple[int, int]] = []
    found = await scan(reader(history(500), reads), start=1, limit=3, keep=lambda t: t.status == "FAILED")
    assert [t.id for t in found.matches] == [task(n).id for n in (0, 7, 14)]
    assert reads == [(1, 100)] and found.scanned == 15 and found.next_start == 16  # continues after the last read


async def test_scan_reads_at_most_its_budget_and_says_where_to_continue() -> None:
    reads: list[tuple[int, int]] = []
    found = await scan(
        reader(history(5000), reads), start=1, limit=50, keep=lambda t: t.name == "nothing", max_scan=250
    )
    assert reads == [(1, 100), (101, 100), (201, 50)] and found.scanned == 250 and found.next_start == 251
    page = found.as_page(1, 50, "name=nothing")
    assert "Stopped after reading 250 tasks; call again with start=251" in (page.note or "")


async def test_scan_ends_with_the_history() -> None:
    reads: list[tuple[int, int]] = []
    found = await scan(reader(history(120), reads), start=1, limit=100, keep=lambda t: True)
    assert found.next_start == 101 and found.scanned == 100 and len(found.matches) == 100
    rest = await scan(reader(history(120), reads), start=101, limit=100, keep=lambda t: True)
    assert rest.next_start is None and rest.scanned == 20 and len(rest.matches) == 20


async def test_a_scan_runs_inside_one_call_budget() -> None:
    clock = ManualClock()
    reads: list[tuple[int, int]] = []

    async def page(offset: int, count: int) -> TaskList:
        budget = context.current()
        assert budget is not None
        if budget.remaining() <= 0:
            raise DeadlineExceeded("the tool call's time budget was spent")
        return await reader(history(1000), reads, clock, seconds=0.4)(offset, count)

    with context.call_scope(clock, 1.0), pytest.raises(DeadlineExceeded):
        await scan(page, start=1, limit=1, keep=lambda t: t.name == "nothing")
    assert len(reads) == 3  # at 0, 0.4 and 0.8 s; the fourth page would start past the 1 s budget


# -- poll ------------------------------------------------------------------------------------------------------


async def test_poll_pacing_and_notifications() -> None:
    clock = ManualClock()
    statuses = iter(["CREATED", "EXECUTING", "EXECUTING", "SUCCESS"])
    percents = iter([(0, "WAITING"), (30, "IN_PROGRESS"), (30, "IN_PROGRESS"), (100, "COMPLETED")])
    sent: list[tuple[float, float | None, str]] = []

    async def read() -> TaskList:
        return TaskList.model_construct(task_count=1, tasks=[task(1, next(statuses))], region="r", simulated=False)

    async def progress(_: Task) -> Progress | None:
        pct, state = next(percents)
        step = Step.model_construct(name="broker_expansion", status=state, started_at=None, ended_at=None)
        return Progress.model_construct(percentage=pct, remain_seconds=None, steps=[step])

    async def report(value: float, total: float | None, message: str) -> None:
        sent.append((value, total, message))

    outcome = await poll(read, progress, report, clock, wait_seconds=100, interval=1.0)
    assert outcome.task.status == "SUCCESS" and outcome.polls == 4
    assert clock.sleeps == [1.0, 1.5, 2.25]
    # never repeated, never lower; 100 when finished
    assert [(value, total) for value, total, _ in sent] == [(0, 100), (30, 100), (100, 100)]
    assert "step broker_expansion IN_PROGRESS" in sent[1][2]  # the message names the current step
    final = outcome.result(100).progress  # read again once finished: the steps as they ended
    assert final is not None and final.percentage == 100 and final.steps[0].status == "COMPLETED"


async def test_poll_ends_at_the_timeout_with_the_last_state() -> None:
    clock = ManualClock()

    async def read() -> TaskList:
        return TaskList.model_construct(task_count=1, tasks=[task(1, "EXECUTING")], region="r", simulated=False)

    async def no_progress(_: Task) -> Progress | None:
        return None

    async def report(value: float, total: float | None, message: str) -> None:
        pass

    outcome = await poll(read, no_progress, report, clock, wait_seconds=10, interval=4.0)
    assert clock.sleeps == [4.0, 6.0] and outcome.polls == 3 and outcome.waited == 10.0
    assert not outcome.result(10).finished and outcome.result(10).progress is None


# -- retry policy ----------------------------------------------------------------------------------------------


NO_FURTHER = "no further attempt: it could not finish within the call's deadline"


def throttled(retry_after: float | None = None) -> APIError:
    return APIError(429, "APIG.0308", "throttled", None, retry_after=retry_after)


@pytest.mark.parametrize(
    ("error", "failures", "remaining", "decision"),
    [
        (throttled(), 1, 10.0, Retry(0.25)),
        (throttled(), 3, 10.0, Retry(1.0)),
        (throttled(), 4, 10.0, GiveUp()),  # the fourth failure was the last attempt
        (throttled(retry_after=2.0), 1, 10.0, Retry(2.0)),
        (throttled(retry_after=2.0), 1, 1.5, GiveUp(f"DMS asked to wait 2 s; {NO_FURTHER}", out_of_time=True)),
        (throttled(retry_after=90.0), 1, 1000.0, GiveUp(f"DMS asked to wait 90 s; {NO_FURTHER}")),
        (APIError(401, "APIG.0301", "x", None), 1, 10.0, GiveUp()),
        (APIError(404, "DMS.00404022", "x", None), 1, 10.0, GiveUp()),
        (APIError(404, "DMS.10240407", "x", None), 1, 10.0, Retry(0.25)),
        (TransportError("reset", "e"), 2, 10.0, Retry(0.5)),
        (TransportError("timed out", "e", timeout=True), 2, 0.3, GiveUp(NO_FURTHER, out_of_time=True)),
        (TransportError("bad body", "e", retryable=False), 1, 10.0, GiveUp()),
    ],
)
def test_the_retry_policy(error: Any, failures: int, remaining: float, decision: Retry | GiveUp) -> None:
    assert RetryPolicy().decide(error, failures, remaining, jitter=lambda low, high: high) == decision


async def test_a_timeout_with_no_time_left_for_another_attempt_is_the_deadline() -> None:
    # the same outcome as when the deadline cuts the attempt short, however the timings line up
    clock = ManualClock(start=0.0)

    def highest(low: float, high: float) -> float:
        return high

    async def slow_then(error: Exception) -> None:
        await clock.sleep(0.3)
        raise error

    timeout = TransportError("timed out", "e", timeout=True)
    with context.call_scope(clock, 1.0) as budget, pytest.raises(TimeoutError):
        await with_retries(lambda: slow_then(timeout), RetryPolicy(), budget, highest)
    # 0.3 s, 0.25 s backoff, 0.3 s: at 0.85 s a 0.5 s backoff would end past the deadline
    assert clock.sleeps == [0.3, 0.25, 0.3] and budget.retries == 1

    with context.call_scope(clock, 1.0) as budget, pytest.raises(TransportError) as caught:
        await with_retries(lambda: slow_then(TransportError("reset", "e")), RetryPolicy(), budget, highest)
    assert NO_FURTHER in caught.value.describe() and caught.value.attempts == 2


# -- the cache's single flight -----------------------------------------------------------------------------------


async def test_callers_sharing_a_failed_read_each_get_their_own_error() -> None:
    gate = anyio.Event()
    caught: list[BaseException] = []
    cache = TaskCache(clock=ManualClock())

    async def fetch() -> TaskList:
        await gate.wait()
        raise APIError(503, "DMS.111501025", "busy", "rid-1")

    async def read() -> None:
        try:
            await cache.get("k", fetch)
        except APIError as exc:
            caught.append(exc)

    async with anyio.create_task_group() as group:
        for _ in range(3):
            group.start_soon(read)
        await anyio.lowlevel.checkpoint()
        gate.set()
    assert len(caught) == 3 and len({id(e) for e in caught}) == 3  # three objects, never a shared one
    assert len({e.describe() for e in caught}) == 1 and cache.misses == 1  # type: ignore[attr-defined]


# -- the per-caller limit ---------------------------------------------------------------------------------------


async def test_one_caller_cannot_hold_more_than_its_share() -> None:
    limiter = CallerLimiter(limit=2, patience=0.0)
    async with limiter.slot("a"), limiter.slot("a"):
        assert limiter.in_flight("a") == 2
        with pytest.raises(CallerBusy) as caught:
            async with limiter.slot("a"):
                pass
        async with limiter.slot("b"):  # another caller is not affected
            assert limiter.in_flight("b") == 1
    assert "already had 2 DMS requests in flight" in str(caught.value) and "Next step: " in str(caught.value)
    assert limiter.in_flight("a") == 0


async def test_a_waiting_request_gets_the_next_free_slot() -> None:
    limiter = CallerLimiter(limit=1, patience=30.0)
    order: list[str] = []
    released = anyio.Event()

    async def second() -> None:
        async with limiter.slot("a"):
            order.append("second")

    async with anyio.create_task_group() as group, limiter.slot("a"):
        group.start_soon(second)
        await anyio.lowlevel.checkpoint()
        order.append("first")
        released.set()
    assert order == ["first", "second"]


# -- error bodies ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            {"error_code": "DMS.00404022", "error_msg": "This instance does not exist."},
            ("DMS.00404022", "This instance does not exist."),
        ),
        ({"errorCode": "DMS.10240407", "errorMsg": "too frequent"}, ("DMS.10240407", "too frequent")),
        ({"code": "APIG.0308", "message": "throttled"}, ("APIG.0308", "throttled")),
        ({"error": {"code": 401, "title": "Unauthorized", "message": "Unauthorized."}}, ("401", "Unauthorized.")),
        ({"outer": {"inner": {"error_code": "CTS.0013", "error_msg": "No permission"}}}, ("CTS.0013", "No permission")),
        ({"error_code": "DMS.00500000"}, ("DMS.00500000", None)),  # half a pair is still shown
        ({"request_id": "abc"}, (None, None)),
    ],
)
def test_every_error_body_shape_is_read(body: dict[str, Any], expected: tuple[str | None, str | None]) -> None:
    assert error_fields(body) == expected
