"""Every fault the simulator can inject, against the real client over loopback HTTP: how many requests DMS saw
(the retry policy), what the caller is told (code, X-Request-Id, next step), and that the very next call
succeeds. Plus deadlines, pool limits, cancellation and the IAM password-login life cycle.

Nothing here races the machine: backoff, Retry-After and token lifetimes run on a manual clock (sleeps are
recorded, not waited), and the real-time limits are tested with requests that never answer, waiting for the
event (the simulator noticing the abandoned connection), never for a window of time.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client
from mcp.types import CallToolResult, TextContent

from bgtask_mcp import ids
from bgtask_mcp.clock import SYSTEM_CLOCK, Clock
from bgtask_mcp.config import Settings
from bgtask_mcp.dms import context
from bgtask_mcp.dms.client import DMSClient
from bgtask_mcp.dms.credentials import PasswordAuth
from bgtask_mcp.dms.errors import (
    APIError,
    DeadlineExceeded,
    DMSError,
    InvalidArgument,
    ResponseTooLarge,
    TransportError,
)
from bgtask_mcp.dms.iam import ProjectScope
from bgtask_mcp.dms.transport import parse_retry_after
from bgtask_mcp.dms.wire import WireTaskList
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.faults import FAULT_KINDS

from .conftest import Simulator, fast_settings, region_env, sim_env
from .support import ManualClock, until

pytestmark = pytest.mark.anyio

KAFKA = data.KAFKA.id
TASK = data.EXAMPLE_TASK_ID
PROJECT = data.SIM_PROJECT_ID
SHOW_PATH = f"GET /v2/{PROJECT}/instances/{KAFKA}/tasks/{TASK}"
TOKEN_PATH = "POST /v3/auth/tokens"
REQUEST_ID = re.compile(r"X-Request-Id: [0-9a-f]{32}")
MAX_ATTEMPTS = 4  # Limits.max_attempts
REAL_TIME = {"trickle", "hang"}  # faults that only a real-time limit ends

# kind -> (requests DMS sees for one call, error type, texts the error must carry); None = the call succeeds
EXPECTED: dict[str, tuple[int, type[DMSError] | None, tuple[str, ...]]] = {
    "latency": (1, None, ()),
    "hang": (1, DeadlineExceeded, ("deadline", "abandoned", "retry later")),
    "throttle": (MAX_ATTEMPTS, APIError, ("HTTP 429", "APIG.0308", "after 4 attempts", "throttling")),
    "flow_control": (MAX_ATTEMPTS, APIError, ("HTTP 404", "DMS.10240407", "after 4 attempts", "throttling")),
    "server_error": (MAX_ATTEMPTS, APIError, ("HTTP 500", "DMS.00500000", "after 4 attempts", "report the request")),
    "busy": (MAX_ATTEMPTS, APIError, ("HTTP 503", "DMS.111501025", "after 4 attempts", "retry in a few")),
    "html": (MAX_ATTEMPTS, APIError, ("HTTP 502", "non-JSON body", "text/html", "after 4 attempts")),
    "empty": (MAX_ATTEMPTS, APIError, ("HTTP 503", "an empty body", "after 4 attempts", "retry later")),
    "truncated": (MAX_ATTEMPTS, TransportError, ("broke mid-answer", "after 4 attempts", "reachable")),
    "reset": (MAX_ATTEMPTS, TransportError, ("could not reach DMS", "after 4 attempts", "reachable")),
    "malformed": (1, APIError, ("HTTP 200", "not JSON", "proxy")),
    "oversized": (1, ResponseTooLarge, ("announced", "byte limit", "not read")),
    "oversized_stream": (1, ResponseTooLarge, ("cut off", "byte limit")),
    "trickle": (1, DeadlineExceeded, ("deadline", "abandoned", "retry later")),
    "unauthorized": (1, APIError, ("HTTP 401", "APIG.0301", "five failures lock the key")),
    "forbidden": (1, APIError, ("HTTP 403", "DMS.00403003", "dms:instance:getBackgroundTask")),
    "token_expired": (1, APIError, ("HTTP 401", "APIG.0307", "new IAM token")),
    "redirect": (1, APIError, ("HTTP 302", "redirect to http://portal.invalid/login", "proxy")),
    "invalid_parameter": (1, APIError, ("HTTP 400", "DMS.00400062", "Invalid request parameter: the parameter")),
}
RETRIED = {kind for kind, (count, _, _) in EXPECTED.items() if count == MAX_ATTEMPTS}


def with_limits(settings: Settings, **changes: Any) -> Settings:
    return settings.replace(limits=replace(settings.limits, **changes))


def client_settings(simulator: Simulator, **limits: Any) -> Settings:
    return with_limits(fast_settings(sim_env(simulator)), **{"call_deadline": 3.0, **limits})


def dms_client(settings: Settings, clock: Clock | None = None, **options: Any) -> DMSClient:
    return DMSClient(
        settings.default_cloud,
        settings.limits,
        overrides=dict(settings.endpoint_overrides),
        clock=clock or ManualClock(),
        **options,
    )


async def show(client: DMSClient, instance: str = KAFKA, task: str = TASK, project: str = PROJECT) -> WireTaskList:
    """ShowBackgroundTask with the ids checked as every caller checks them where they come in (the client takes
    only checked ids: InstanceId, TaskId, ProjectId)."""
    return await client.show_task("eu-de", ids.project_id(project), ids.instance_id(instance), ids.task_id(task))


async def healthy(client: DMSClient) -> None:
    result = await show(client, data.ROCKETMQ.id, data.task_id("rocket/batchDeleteGroups"))
    assert result.tasks[0].status == "FAILED"


def rule(kind: str, **extra: Any) -> dict[str, Any]:
    defaults: dict[str, Any] = {"latency": {"latency_s": 0.05}, "trickle": {"latency_s": 0.1}}.get(kind, {})
    return {"kind": kind, "path_contains": "/tasks", **defaults, **extra}


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def test_every_fault_kind_has_an_expectation() -> None:
    assert set(EXPECTED) == set(FAULT_KINDS)


def test_unknown_fault_kinds_and_fields_are_refused(simulator: Simulator) -> None:
    for body in ({"rules": [{"kind": "meteor"}]}, {"rules": [{"kind": "latency", "latncy_s": 1}]}, {"rules": 3}):
        response = httpx2.post(simulator.url + "/_simulator/faults", json=body, timeout=5)
        assert response.status_code == 400, body
        assert "kinds" in response.text or "rules" in response.text


# -- the retry policy, one fault kind at a time ----------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(EXPECTED))
async def test_fault_retries_answer_and_recovery(simulator: Simulator, kind: str) -> None:
    requests, error_type, texts = EXPECTED[kind]
    real_time = kind in REAL_TIME
    settings = client_settings(simulator, call_deadline=1.0 if real_time else 3.0)
    clock = ManualClock()
    async with dms_client(settings, SYSTEM_CLOCK if real_time else clock) as client:
        simulator.faults(rule(kind))
        if error_type is None:
            assert (await show(client)).tasks[0].id == TASK
        else:
            with pytest.raises(error_type) as caught:
                await show(client)
            text = caught.value.describe()
            for expected in texts:
                assert expected in text, (expected, text)
            assert "Next step: " in text
            if isinstance(caught.value, APIError | ResponseTooLarge):
                assert REQUEST_ID.search(text), text  # every HTTP answer's id reaches the caller
        if real_time:
            await until(lambda: simulator.stats().get("disconnected", 0) >= 1, "the abandoned request closed")
        assert simulator.stats().get(SHOW_PATH, 0) == requests
        assert len(clock.sleeps) == (requests - 1 if not real_time else 0)  # one backoff between attempts
        simulator.faults()
        await healthy(client)


@pytest.mark.parametrize("kind", sorted(RETRIED))
async def test_transient_faults_are_absorbed_by_retries(simulator: Simulator, kind: str) -> None:
    async with dms_client(client_settings(simulator)) as client:
        simulator.faults(rule(kind, count=MAX_ATTEMPTS - 1))
        assert (await show(client)).tasks[0].id == TASK
    assert simulator.stats()[SHOW_PATH] == MAX_ATTEMPTS


async def test_retry_after_is_honoured(simulator: Simulator) -> None:
    clock = ManualClock()
    async with dms_client(client_settings(simulator), clock) as client:
        simulator.faults(rule("throttle", count=2))  # the simulator asks for Retry-After: 0.2
        await show(client)
    assert len(clock.sleeps) == 2 and all(s >= 0.2 for s in clock.sleeps)  # backoff alone would be < 0.1 s
    assert simulator.stats()[SHOW_PATH] == 3


async def test_no_retry_is_started_that_cannot_finish_before_the_deadline(simulator: Simulator) -> None:
    clock = ManualClock()
    async with dms_client(client_settings(simulator, call_deadline=0.3), clock) as client:
        simulator.faults(rule("throttle"))
        with pytest.raises(APIError) as caught:
            await show(client)
    text = caught.value.describe()
    assert "APIG.0308" in text and "DMS asked to wait 0.2 s" in text and "deadline" in text
    assert simulator.stats()[SHOW_PATH] == 2  # at 0 and 0.2 s; one more at 0.4 s would miss the 0.3 s deadline
    assert clock.sleeps == [pytest.approx(0.2)]


def test_retry_after_parsing() -> None:
    assert parse_retry_after("2") == 2.0
    assert parse_retry_after(" 0.5 ") == 0.5
    assert parse_retry_after("-3") == 0.0
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now=1445412480.0) == 10.0
    for junk in (None, "", "soon", "nan", "inf", "Wed, 21 Oct 2015"):
        assert parse_retry_after(junk) is None


async def test_backoff_grows_exponentially_up_to_its_cap(simulator: Simulator) -> None:
    settings = with_limits(client_settings(simulator), backoff_base=0.1, backoff_cap=0.2)
    simulator.faults(rule("server_error"))
    clock = ManualClock()
    async with dms_client(settings, clock, jitter=lambda low, high: high) as client:
        with pytest.raises(APIError):
            await show(client)
    assert clock.sleeps == [pytest.approx(0.1), pytest.approx(0.2), pytest.approx(0.2)]  # capped at 0.2


async def test_jitter_spreads_over_the_upper_half(simulator: Simulator) -> None:
    settings = with_limits(client_settings(simulator), backoff_base=0.1, backoff_cap=5.0)
    simulator.faults(rule("server_error"))
    clock = ManualClock()
    async with dms_client(settings, clock, jitter=lambda low, high: low) as client:
        with pytest.raises(APIError):
            await show(client)
    assert clock.sleeps == [pytest.approx(0.05), pytest.approx(0.1), pytest.approx(0.2)]


async def test_401_is_never_retried_so_the_key_is_never_locked(simulator: Simulator) -> None:
    wrong = fast_settings(sim_env(simulator, BGTASK_SECRET_KEY="WRONG-FAKE-SECRET-KEY-000000000000"))
    async with dms_client(wrong) as client:
        for _ in range(4):  # four calls, four failed signatures: one short of the lockout
            with pytest.raises(APIError) as caught:
                await show(client)
            assert caught.value.status == 401 and caught.value.attempts == 1
    assert simulator.stats()[SHOW_PATH] == 4
    async with dms_client(client_settings(simulator)) as client:
        await healthy(client)  # had any call retried, the key would be locked for five minutes now


async def test_not_found_is_not_retried(simulator: Simulator) -> None:
    async with dms_client(client_settings(simulator)) as client:
        with pytest.raises(APIError) as caught:
            await show(client, "00000000-0000-4000-8000-000000000000")
    assert caught.value.status == 404 and caught.value.error_code == "DMS.00404022"
    assert simulator.stats()["all"] == 1


async def test_ids_outside_the_dms_formats_never_leave(simulator: Simulator) -> None:
    async with dms_client(client_settings(simulator)) as client:
        for args in (
            ("not-a-uuid", TASK, PROJECT),
            (KAFKA, "../../v3/auth/tokens", PROJECT),
            (KAFKA, TASK, "0" * 31),
            (KAFKA, "a" * 33, PROJECT),
        ):
            with pytest.raises(InvalidArgument) as caught:
                await show(client, *args)
            assert "no request was sent" in caught.value.describe()
        # ids are case-insensitive: pasted in capitals they still name the task
        assert (await show(client, KAFKA.upper(), TASK.upper())).tasks[0].id == TASK
    assert simulator.stats().get("all", 0) == 1


# -- deadlines, pool, cancellation ------------------------------------------------------------------------------


async def test_one_deadline_bounds_all_attempts(simulator: Simulator) -> None:
    settings = client_settings(simulator, read_timeout=0.3, call_deadline=1.0)
    async with dms_client(settings, SYSTEM_CLOCK) as client:
        simulator.faults(rule("hang"))
        with pytest.raises(DeadlineExceeded) as caught:
            await show(client)
        assert "1 s deadline" in caught.value.describe() and "request(s)" in caught.value.describe()
        await until(lambda: all_abandoned(simulator.stats()), "every abandoned request closed")
        simulator.faults()
        await healthy(client)


def all_abandoned(stats: dict[str, int]) -> bool:
    # read together: the last request may reach the simulator after the client has given up on it
    return stats.get("disconnected", 0) == stats.get(SHOW_PATH, 0) >= 1


@contextmanager
def unanswered_port() -> Iterator[int]:
    """A loopback port whose listen backlog is full: a connect to it gets no answer (the SYN is dropped)."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(0)
        port = int(server.getsockname()[1])
        with socket.create_connection(("127.0.0.1", port)), socket.socket() as probe:
            probe.settimeout(0.3)
            try:
                probe.connect(("127.0.0.1", port))
            except TimeoutError:
                yield port
                return
        pytest.skip("this kernel answers connects beyond a full backlog")


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def endpoint_settings(port: int, **limits: Any) -> Settings:
    env = {
        "BGTASK_ENDPOINT": f"http://127.0.0.1:{port}",
        "BGTASK_ACCESS_KEY": data.SIM_ACCESS_KEY,
        "BGTASK_SECRET_KEY": data.SIM_SECRET_KEY,
        "BGTASK_PROJECT_ID": PROJECT,
        "BGTASK_REGION": "eu-de",
    }
    return with_limits(fast_settings(env), **limits)


async def test_connect_timeout_is_short_and_retried() -> None:
    with unanswered_port() as port:
        async with dms_client(endpoint_settings(port, connect_timeout=0.2, call_deadline=60.0)) as client:
            with pytest.raises(TransportError) as caught:
                await show(client)
    text = caught.value.describe()
    assert caught.value.timeout and "ConnectTimeout" in text and "after 4 attempts" in text
    assert "did not answer in time" in text


async def test_refused_connection_is_retried_then_explained() -> None:
    async with dms_client(endpoint_settings(closed_port())) as client:
        with pytest.raises(TransportError) as caught:
            await show(client)
    text = caught.value.describe()
    assert not caught.value.timeout and "after 4 attempts" in text
    assert "could not reach DMS at http://127.0.0.1:" in text and "no connection (refused" in text
    assert "reachable" in text


async def test_a_call_scope_bounds_several_requests(simulator: Simulator) -> None:
    clock = ManualClock()
    async with dms_client(client_settings(simulator), clock) as client:
        with context.call_scope(clock, 0.6):
            await client.list_tasks("eu-de", PROJECT, KAFKA)
            clock.t += 0.4  # the first request took 0.4 s of the budget
            await client.list_tasks("eu-de", PROJECT, KAFKA)
            clock.t += 0.4
            with pytest.raises(DeadlineExceeded) as caught:
                await client.list_tasks("eu-de", PROJECT, KAFKA)  # nothing left: not even sent
        assert "time budget was spent" in caught.value.describe()
        assert simulator.stats()["GET list"] == 2
        with context.call_scope(clock, 0.6):  # a fresh scope has its whole budget again
            await client.list_tasks("eu-de", PROJECT, KAFKA)


async def test_pool_limit_queues_calls_instead_of_opening_more_connections(simulator: Simulator) -> None:
    settings = client_settings(simulator, max_connections=2)
    simulator.faults(rule("latency", latency_s=0.3))
    results: list[int] = []
    async with dms_client(settings) as client:

        async def one(i: int) -> None:
            results.append(len((await client.list_tasks("eu-de", PROJECT, KAFKA, start=1 + i, limit=1)).tasks))

        async with anyio.create_task_group() as group:
            for i in range(8):
                group.start_soon(one, i)
    assert results == [1] * 8
    stats = simulator.stats()
    assert stats["GET list"] == 8 and stats["max_in_flight"] == 2


async def test_cancelled_call_closes_its_upstream_request(simulator: Simulator) -> None:
    async with dms_client(client_settings(simulator)) as client:
        simulator.faults(rule("hang"))
        async with anyio.create_task_group() as group:
            group.start_soon(show, client)
            await until(lambda: simulator.stats().get(SHOW_PATH, 0) == 1, "the request arrived")
            group.cancel_scope.cancel()
        await until(lambda: simulator.stats().get("disconnected", 0) == 1, "the simulator saw it go away")
        simulator.faults()
        await healthy(client)


async def test_mcp_cancellation_reaches_the_upstream_request(
    mcp_client: Client, simulator: Simulator, mode: str
) -> None:
    simulator.faults(rule("hang"))
    async with anyio.create_task_group() as group:
        group.start_soon(mcp_client.call_tool, "get_background_task", {"instance_id": KAFKA, "task_id": TASK})
        await until(lambda: simulator.stats().get(SHOW_PATH, 0) == 1, "the request arrived")
        group.cancel_scope.cancel()
    await until(lambda: simulator.stats().get("disconnected", 0) == 1, "the simulator saw it go away")
    simulator.faults()
    result = await mcp_client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": TASK})
    assert not result.is_error, text_of(result)


# -- through the MCP client: what the model reads --------------------------------------------------------------


@pytest.mark.parametrize("kind", sorted(set(EXPECTED) - {"latency"} - REAL_TIME))
async def test_fault_text_through_mcp_then_a_normal_call(simulator: Simulator, kind: str, mode: str) -> None:
    requests, _, texts = EXPECTED[kind]
    async with Client(build_server(client_settings(simulator), clock=ManualClock()), mode=mode) as client:  # type: ignore[arg-type]
        simulator.faults(rule(kind))
        result = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": TASK})
        assert result.is_error
        text = text_of(result)
        assert text.startswith("Error executing tool get_background_task: ")
        for expected in texts:
            assert expected in text, (expected, text)
        assert "Next step: " in text
        if kind not in ("truncated", "reset"):
            assert REQUEST_ID.search(text), text
        assert simulator.stats()[SHOW_PATH] == requests
        simulator.faults()
        result = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": TASK})
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None and result.structured_content["tasks"][0]["id"] == TASK


async def test_one_deadline_per_tool_call_through_mcp(simulator: Simulator, mode: str) -> None:
    settings = client_settings(simulator, call_deadline=5.0)
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        simulator.faults(rule("hang", path_contains="/tasks", after=1))  # the first page answers, then nothing
        result = await client.call_tool(
            "list_background_tasks", {"instance_id": data.ARCHIVE.id, "name": "noSuchTask", "limit": 1}
        )
        assert result.is_error and "deadline" in text_of(result) and "Next step: " in text_of(result)
        await until(lambda: simulator.stats().get("disconnected", 0) == 1, "the second page was abandoned")
        assert simulator.stats()["GET list"] == 2
        simulator.faults()
        result = await client.call_tool("list_background_tasks", {"instance_id": data.ARCHIVE.id})
    assert not result.is_error, text_of(result)


# -- IAM password login -------------------------------------------------------------------------------------------


def password_settings(simulator: Simulator, password: str = data.SIM_IAM_PASSWORD) -> Settings:
    env = {
        **region_env(simulator),
        "BGTASK_REGION": "eu-de",
        "BGTASK_PROJECT_ID": PROJECT,
        "BGTASK_IAM_USER": data.SIM_IAM_USER,
        "BGTASK_IAM_PASSWORD": password,
        "BGTASK_IAM_DOMAIN": data.SIM_IAM_DOMAIN,
    }
    return with_limits(fast_settings(env), call_deadline=3.0)


def password_auth(client: DMSClient) -> PasswordAuth:
    assert isinstance(client.auth, PasswordAuth)
    return client.auth


async def test_concurrent_first_calls_share_one_login(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        async with anyio.create_task_group() as group:
            for _ in range(8):
                group.start_soon(healthy, client)
        await healthy(client)
        assert password_auth(client).logins == 1
    assert simulator.stats()["iam:token"] == 1


async def test_token_is_refreshed_ahead_of_its_expiry(simulator: Simulator) -> None:
    # the simulator checks expiry on real time: a lifetime far beyond any stall of a busy machine
    simulator.control("POST", "/_simulator/iam", {"token_ttl_s": 60.0})
    clock = ManualClock()
    async with dms_client(password_settings(simulator), clock) as client:
        await healthy(client)
        auth = password_auth(client)
        scope = ProjectScope(simulator.url, project_id=PROJECT)
        refresh_in = auth.refresh_in(scope)
        assert refresh_in is not None and 25.0 < refresh_in <= 31.0  # half of a 60 s lifetime (margin <= half)
        await healthy(client)
        assert simulator.stats()["iam:token"] == 1  # still fresh: reused
        clock.t += refresh_in + 0.01
        await healthy(client)
    stats = simulator.stats()
    assert stats["iam:token"] == 2
    assert stats["all"] == 2 + 3  # two logins, three reads: no read was refused on the way


async def test_expired_token_is_detected_by_dms_and_replaced_once(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        await healthy(client)
        simulator.control("POST", "/_simulator/iam", {"expire_issued": True})  # dead at DMS, fresh for the client
        await healthy(client)
    stats = simulator.stats()
    assert stats["iam:token"] == 2  # logged in again after the APIG.0307
    assert stats["GET show"] == 3  # the refused read was sent once more, not retried with backoff


async def test_revoked_token_is_replaced_once_then_a_clear_error(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        simulator.faults(rule("token_expired", count=1))
        await healthy(client)
        assert simulator.stats()["iam:token"] == 2
        simulator.reset()
        simulator.faults(rule("token_expired"))
        with pytest.raises(APIError) as caught:
            await healthy(client)
        text = caught.value.describe()
        assert "APIG.0307" in text and "freshly issued IAM token was refused too" in text
        assert REQUEST_ID.search(text)
        stats = simulator.stats()
        assert stats["iam:token"] == 1 and stats["GET show"] == 2
        simulator.faults()
        await healthy(client)


async def test_other_401s_keep_the_token(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        simulator.faults(rule("unauthorized", count=1))
        with pytest.raises(APIError):
            await healthy(client)
        await healthy(client)
    stats = simulator.stats()
    assert stats["iam:token"] == 1 and stats["GET show"] == 2  # no second login, no resend


async def test_wrong_password_is_one_login_attempt_and_a_clear_error(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator, password="wrong-password-000")) as client:
        with pytest.raises(APIError) as caught:
            await healthy(client)
    text = caught.value.describe()
    assert "HTTP 401" in text and "APIG.0301" in text and "IAM refused the password login" in text
    assert "BGTASK_IAM_PASSWORD" in text and "wrong-password-000" not in text
    stats = simulator.stats()
    assert stats[TOKEN_PATH] == 1 and stats.get("GET show", 0) == 0


async def test_iam_outage_is_retried_like_dms(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        simulator.faults({"kind": "busy", "path_contains": "/v3/auth/tokens", "count": 2})
        await healthy(client)
    stats = simulator.stats()
    assert stats[TOKEN_PATH] == 3 and stats["iam:token"] == 1


async def test_a_silent_iam_is_bounded_by_the_read_timeout(simulator: Simulator) -> None:
    settings = with_limits(password_settings(simulator), read_timeout=0.3, call_deadline=60.0)
    async with dms_client(settings) as client:
        simulator.faults({"kind": "hang", "path_contains": "/v3/auth/tokens"})
        with pytest.raises(TransportError) as caught:
            await healthy(client)
        assert caught.value.timeout and "after 4 attempts" in caught.value.describe()
        assert simulator.stats()[TOKEN_PATH] == 4
        simulator.faults()
        await healthy(client)


async def test_cancelled_login_does_not_block_later_calls(simulator: Simulator) -> None:
    async with dms_client(password_settings(simulator)) as client:
        simulator.faults({"kind": "hang", "path_contains": "/v3/auth/tokens"})
        async with anyio.create_task_group() as group:
            group.start_soon(healthy, client)
            await until(lambda: simulator.stats().get(TOKEN_PATH, 0) == 1, "the login arrived")
            group.cancel_scope.cancel()
        simulator.faults()
        await healthy(client)  # the login lock was released by the cancelled call


async def test_static_expired_token_is_one_request_and_says_what_to_do(simulator: Simulator) -> None:
    env = {
        **region_env(simulator),
        "BGTASK_REGION": "eu-de",
        "BGTASK_PROJECT_ID": PROJECT,
        "BGTASK_IAM_TOKEN": data.SIM_EXPIRED_IAM_TOKEN,
    }
    async with dms_client(fast_settings(env)) as client:
        with pytest.raises(DMSError) as caught:
            await healthy(client)
    assert "BGTASK_IAM_TOKEN has expired" in caught.value.describe()
    assert simulator.stats()["all"] == 1


async def test_password_login_through_mcp(simulator: Simulator, mode: str) -> None:
    async with Client(build_server(password_settings(simulator)), mode=mode) as client:  # type: ignore[arg-type]
        for task in (TASK, data.FAILED_TASK_ID):
            result = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": task})
            assert not result.is_error, text_of(result)
    assert simulator.stats()["iam:token"] == 1
