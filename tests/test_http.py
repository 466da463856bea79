"""The HTTP transport end to end: `python -m bgtask_mcp serve --transport http` as a real uvicorn process on
loopback, driven by raw HTTP and by the SDK's streamable HTTP client in both protocol eras. Every wait is for
an event (a log line, a request counted by the simulator), never for a window of time."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import pytest
from mcp import Client, MCPError
from mcp.client.streamable_http import streamable_http_client
from mcp.types import CallToolResult, TextContent
from starlette.responses import PlainTextResponse

from bgtask_mcp.config import ConfigError, load_settings
from bgtask_mcp.http.app import Gate
from bgtask_mcp.simulator import data

from .conftest import FAKE_SECRET_KEY, MODES, Simulator, clean_env, sim_env
from .servers import HttpServer, eventually, start_server
from .support import until

pytestmark = pytest.mark.anyio

TOKEN = "test-bearer-token-6b1f0d2c9a8e4f37b5d1"  # long enough to be registered as a secret and masked
KAFKA = data.KAFKA.id
ERAS = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TOOLS = {"list_changes", "list_instances", "get_background_task", "list_background_tasks", "wait_for_background_task"}


@pytest.fixture(scope="module")
def server(simulator_process: Simulator) -> Iterator[HttpServer]:
    """One token-protected server on the default host, pointed at the session's simulator process."""
    srv = start_server("http-server.log", clean_env(**sim_env(simulator_process), BGTASK_HTTP_TOKEN=TOKEN))
    try:
        yield srv
    finally:
        srv.stop()


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def mcp_session(url: str, mode: str, *, keepalive: bool = True, token: str = TOKEN) -> AsyncIterator[Client]:
    limits = httpx2.Limits() if keepalive else httpx2.Limits(max_keepalive_connections=0)
    async with (
        httpx2.AsyncClient(headers=auth(token), timeout=httpx2.Timeout(30), limits=limits) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,  # type: ignore[arg-type]
    ):
        yield client


def text_of(result: CallToolResult) -> str:
    return " ".join(block.text for block in result.content if isinstance(block, TextContent))


def structured(result: CallToolResult) -> dict[str, Any]:
    assert not result.is_error, text_of(result)
    assert result.structured_content is not None
    return dict(result.structured_content)


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {"protocolVersion": "2025-11-25", "capabilities": {}, "clientInfo": {"name": "raw-test", "version": "0"}},
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}


def post(server: HttpServer, body: Any = INITIALIZE, headers: dict[str, str] | None = None) -> httpx2.Response:
    return httpx2.post(server.mcp_url, json=body, headers={**MCP_HEADERS, **(headers or {})}, timeout=10)


# -- probes, binding ---------------------------------------------------------------------------------------


def test_probes_answer_without_a_token_and_the_default_bind_is_loopback(server: HttpServer) -> None:
    health = httpx2.get(server.base + "/healthz", timeout=5)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    ready = httpx2.get(server.base + "/readyz", timeout=5)
    assert ready.status_code == 200 and ready.json()["status"] == "ready", ready.text
    assert f"at http://127.0.0.1:{server.port}/mcp" in server.log() and "bearer token" in server.log()


def test_readyz_is_503_and_names_everything_missing() -> None:
    srv = start_server("http-unconfigured.log", clean_env())
    try:
        ready = httpx2.get(srv.base + "/readyz", timeout=5)
        assert ready.status_code == 503 and ready.json()["status"] == "not ready"
        assert "BGTASK_REGION" in ready.json()["reason"] and "BGTASK_ACCESS_KEY" in ready.json()["reason"]
        assert httpx2.get(srv.base + "/healthz", timeout=5).status_code == 200  # alive, just not ready
        assert "without authentication" in srv.log()  # loopback without a token starts, with a warning
    finally:
        srv.stop()


def test_refuses_a_network_bind_without_authentication() -> None:
    out = subprocess.run(
        [sys.executable, "-m", "bgtask_mcp", "serve", "--transport", "http", "--host", "0.0.0.0", "--simulator"],
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert out.returncode == 2
    assert out.stderr.startswith("bgtask-mcp: refusing to serve on 0.0.0.0 without authentication")
    assert "'Authorization: Bearer <token>'" in out.stderr and "--allow-unauthenticated-network-bind" in out.stderr
    assert "serving MCP" not in out.stderr and "Traceback" not in out.stderr


def test_network_bind_rules() -> None:
    http = {"transport": "http"}
    load_settings({}, **http)  # loopback, no token
    load_settings({"BGTASK_HTTP_TOKEN": TOKEN}, host="0.0.0.0", **http)
    load_settings({}, host="0.0.0.0", allow_unauthenticated_network_bind=True, **http)
    load_settings({}, host="::1", **http)
    for host in ("0.0.0.0", "::", "192.0.2.10", "bgtask.example"):
        with pytest.raises(ConfigError, match="BGTASK_HTTP_TOKEN"):
            load_settings({}, host=host, **http)


# -- the gate: Host, Origin, size; the SDK's bearer check -------------------------------------------------------


async def test_allow_lists_from_the_environment() -> None:
    """BGTASK_ALLOWED_HOSTS / BGTASK_ALLOWED_ORIGINS replace the loopback defaults (the gate alone, in process)."""
    settings = load_settings(
        {
            "BGTASK_HTTP_TOKEN": TOKEN,
            "BGTASK_ALLOWED_ORIGINS": "https://app.example.com",
            "BGTASK_ALLOWED_HOSTS": "mcp.example.com, bgtask-mcp, [::1]:8000",
        },
        host="0.0.0.0",
    )

    async def ok(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("ok")(scope, receive, send)

    transport = httpx2.ASGITransport(app=Gate(ok, settings))
    async with httpx2.AsyncClient(transport=transport, base_url="http://mcp.example.com", headers=auth()) as http:

        async def status(**headers: str) -> int:
            return (await http.post("/mcp", content=b"{}", headers=headers)).status_code

        assert await status() == 200
        assert await status(host="mcp.example.com:443") == 200  # a name without a port allows any port
        assert await status(host="bgtask-mcp") == 200
        assert await status(host="[::1]:8000") == 200
        assert await status(host="[::1]:8001") == 421
        assert await status(host="localhost:8000") == 421  # the loopback defaults are replaced
        assert await status(host="mcp.example.com.evil.example") == 421
        assert await status(origin="https://app.example.com") == 200
        assert await status(origin="http://localhost:6274") == 403
        assert await status(origin="https://app.example.com.evil.example") == 403


def test_without_an_allowed_hosts_list_a_network_bind_checks_no_host() -> None:
    """Behind a load balancer the Host is the operator's business; Origin and the token are still checked."""
    gate = Gate(PlainTextResponse("ok"), load_settings({"BGTASK_HTTP_TOKEN": TOKEN}, host="0.0.0.0"))
    assert gate.hosts is None
    assert gate.origins == ("http://127.0.0.1:*", "http://localhost:*", "http://[::1]:*")
    assert Gate(PlainTextResponse("ok"), load_settings({})).hosts == ("127.0.0.1:*", "localhost:*", "[::1]:*")


def test_missing_or_wrong_token_is_401_with_www_authenticate(server: HttpServer) -> None:
    missing = post(server)
    assert missing.status_code == 401
    assert missing.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
    for header in (f"Bearer {TOKEN}x", f"Bearer {TOKEN[:-1]}", "Bearer", f"Basic {TOKEN}", TOKEN):
        wrong = post(server, headers={"Authorization": header})
        assert wrong.status_code == 401, header
        assert wrong.headers["WWW-Authenticate"].startswith('Bearer error="invalid_token"')
        assert TOKEN not in wrong.text and TOKEN[:-1] not in wrong.text
    assert httpx2.get(server.mcp_url, timeout=5).status_code == 401  # every method, not only POST
    good = post(server, headers={"Authorization": f"bearer {TOKEN}"})  # the scheme is case-insensitive
    assert good.status_code == 200, good.text


@pytest.mark.parametrize("mode", MODES)
async def test_the_sdk_client_with_a_wrong_token_is_refused(server: HttpServer, mode: str) -> None:
    before = len(server.log_lines(status="401"))
    with anyio.fail_after(15), pytest.raises(BaseExceptionGroup) as refused:
        async with mcp_session(server.mcp_url, mode, token="not-the-token") as client:
            await client.list_tools()
    assert refused.group_contains(MCPError, depth=None)  # the SDK reports a 401 as "Server returned an error"
    assert len(server.wait_for_log_lines(before + 1, status="401")) > before


def test_bad_host_is_421_and_bad_origin_is_403(server: HttpServer) -> None:
    for host in ("evil.example", f"evil.example:{server.port}", f"127.0.0.1.evil.example:{server.port}"):
        assert post(server, headers={**auth(), "Host": host}).status_code == 421, host
    for origin in ("http://evil.example", "https://localhost.evil.example", "null"):
        assert post(server, headers={**auth(), "Origin": origin}).status_code == 403, origin
    for host in (f"localhost:{server.port}", f"127.0.0.1:{server.port}"):
        assert post(server, headers={**auth(), "Host": host}).status_code == 200
    # a browser page on this machine (e.g. the MCP Inspector UI) may call it
    assert post(server, headers={**auth(), "Origin": "http://localhost:6274"}).status_code == 200


def test_oversized_bodies_are_413(server: HttpServer) -> None:
    big = {**INITIALIZE, "padding": "x" * (1024 * 1024 + 10)}
    assert post(server, big, headers=auth()).status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: the gate counts while it reads
        for _ in range(20):
            yield b" " * (64 * 1024)
        yield json.dumps(INITIALIZE).encode()

    streamed = httpx2.post(server.mcp_url, content=chunks(), headers={**MCP_HEADERS, **auth()}, timeout=10)
    assert streamed.status_code == 413
    assert post(server, {**INITIALIZE, "padding": "x" * 1000}, headers=auth()).status_code == 200


# -- the SDK client over HTTP, both eras -------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_both_protocol_eras_with_the_token(server: HttpServer, simulator: Simulator, mode: str) -> None:
    with anyio.fail_after(30):
        async with mcp_session(server.mcp_url, mode) as client:
            assert client.protocol_version == ERAS[mode]
            assert {t.name for t in (await client.list_tools()).tools} == TOOLS
            args = {"instance_id": KAFKA, "task_id": data.EXAMPLE_TASK_ID}
            got = structured(await client.call_tool("get_background_task", args))
            assert got["tasks"][0]["params"]["public_ip_address"] == "100.93.2.18"
            page = structured(await client.call_tool("list_background_tasks", {"instance_id": KAFKA, "limit": 2}))
            assert len(page["tasks"]) == 2
            found = structured(await client.call_tool("list_instances", {"name": "prod-events", "region": "eu-nl"}))
            assert found["instances"][0]["instance_id"] == data.NL_EVENTS.id
            bad = await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": "f" * 32})
            assert bad.is_error and "f" * 32 in text_of(bad)  # the message names the task it could not find


@pytest.mark.parametrize("mode", MODES)
async def test_progress_is_the_percentage_of_100(server: HttpServer, simulator: Simulator, mode: str) -> None:
    task = simulator.create_task(
        instance_id=KAFKA, name="resizeInstance", manual=True, status="EXECUTING", progress_steps=["a", "b"]
    )
    seen: list[tuple[float, float | None, str | None]] = []
    steps = iter([{"progress": 50}, {"status": "SUCCESS", "progress": 100}])

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        seen.append((progress, total, message))
        step = next(steps, None)
        if step is not None:  # each notification moves the task on: the next read sees it
            await anyio.to_thread.run_sync(lambda: simulator.steer(task, **step))

    with anyio.fail_after(60):
        async with mcp_session(server.mcp_url, mode) as client:
            result = await client.call_tool(
                "wait_for_background_task",
                {"instance_id": KAFKA, "task_id": task, "timeout_seconds": 120, "poll_interval_seconds": 0.2},
                progress_callback=on_progress,
            )
    answer = structured(result)
    assert answer["finished"] is True and answer["succeeded"] is True and answer["progress"]["percentage"] == 100
    assert [(p, t) for p, t, _ in seen] == [(0, 100), (50, 100), (100, 100)]
    assert "50% done" in (seen[1][2] or "") and "finished successfully" in (seen[-1][2] or "")


@pytest.mark.parametrize("mode", MODES)
async def test_cancellation_stops_the_wait(server: HttpServer, simulator: Simulator, mode: str) -> None:
    task = simulator.create_task(instance_id=KAFKA, manual=True, status="EXECUTING")
    path = f"GET /v2/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{task}"
    cancelled = re.compile(rf"tool=wait_for_background_task instance={KAFKA} region=eu-de outcome=cancelled")
    before = len(cancelled.findall(server.log()))
    with anyio.fail_after(60):
        async with mcp_session(server.mcp_url, mode) as client, anyio.create_task_group() as group:
            args = {"instance_id": KAFKA, "task_id": task, "timeout_seconds": 600, "poll_interval_seconds": 0.2}
            group.start_soon(client.call_tool, "wait_for_background_task", args)
            await until(lambda: simulator.stats().get(path, 0) >= 2, "the wait is polling")
            group.cancel_scope.cancel()
            # 2026-07-28: closing the POST's response stream is the cancellation. 2025-11-25 (stateless): the
            # notifications/cancelled POST cannot reach the call, but leaving the session closes its stream.
    eventually(lambda: len(cancelled.findall(server.log())) > before, "the server cancelled the wait")
    polls = simulator.stats().get(path, 0)
    structured(await _one_call(server, mode))  # the server answers normally afterwards
    # a poll already on the wire when the wait was cancelled may still be counted; a live loop adds more
    assert simulator.stats().get(path, 0) <= polls + 1, "the server kept polling after the client cancelled"


async def _one_call(server: HttpServer, mode: str) -> CallToolResult:
    async with mcp_session(server.mcp_url, mode) as client:
        return await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": data.EXAMPLE_TASK_ID})


# -- the log lines -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
async def test_one_log_line_per_request_without_secrets(server: HttpServer, simulator: Simulator, mode: str) -> None:
    task = simulator.create_task(instance_id=KAFKA, duration_s=0.01)  # a new task: not in the server's cache
    before = len(server.log_lines(tool="get_background_task"))
    with anyio.fail_after(30):
        async with mcp_session(server.mcp_url, mode) as client:
            structured(await client.call_tool("get_background_task", {"instance_id": KAFKA, "task_id": task}))
    post(server, headers={"Authorization": "Bearer wrong-token-value-123456"})
    line = server.wait_for_log_lines(before + 1, tool="get_background_task")[-1]
    assert (line["method"], line["path"], line["rpc"], line["status"], line["finished"], line["caller"]) == (
        "POST",
        "/mcp",
        "tools/call",
        "200",
        "yes",
        "static-token",
    )
    assert re.fullmatch(r"[0-9a-f]{32}", line["rid"]), "the DMS X-Request-Id belongs in the HTTP line"
    assert float(line["ms"]) > 0
    audit = re.compile(
        rf"call caller=static-token tool=get_background_task instance={KAFKA} region=eu-de "
        rf"outcome=ok dms_requests=1 retries=0 dms_request_id={line['rid']} duration_ms="
    )
    assert audit.search(server.log()), "the audit line: who, what, where, outcome, DMS request id, duration"
    assert server.wait_for_log_lines(1, status="401", rpc="initialize", caller="anonymous")
    assert not server.log_lines(path="/healthz")  # probes are not logged
    log = server.log()
    for secret in (TOKEN, FAKE_SECRET_KEY, "wrong-token-value-123456"):
        assert secret not in log


def test_clients_cannot_forge_log_lines(server: HttpServer) -> None:
    forged = {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "tools/call",
        "params": {"name": "x\nINFO forged line", "arguments": {}},
    }
    post(server, forged, headers=auth())
    httpx2.get(server.base + "/mcp%0aINFO%20forged%20too", headers=auth(), timeout=5)
    assert server.wait_for_log_lines(1, tool="x?INFO?forged?line")
    assert server.wait_for_log_lines(1, path="/mcp?INFO?forged?too")
    assert "\nINFO forged" not in server.log()


# -- several workers, shutdown ---------------------------------------------------------------------------


@pytest.mark.slow
async def test_two_workers_answer_any_call_without_session_affinity() -> None:
    srv = start_server("http-workers.log", clean_env(BGTASK_HTTP_TOKEN=TOKEN), "--simulator", "--workers", "2")
    try:
        assert httpx2.get(srv.base + "/readyz", timeout=5).json()["backend"] == "simulator"
        results: list[bool] = []

        async def session(mode: str, offset: int) -> None:
            # no keep-alive: every request opens a new connection, so consecutive requests of one session land on
            # whichever worker accepts first
            async with mcp_session(srv.mcp_url, mode, keepalive=False) as client:
                for i in range(10):
                    kind = (i + offset) % 3
                    if kind == 0:
                        result = await client.call_tool("list_background_tasks", {"instance_id": KAFKA, "limit": 3})
                    elif kind == 1:
                        result = await client.call_tool(
                            "get_background_task", {"instance_id": KAFKA, "task_id": data.EXAMPLE_TASK_ID}
                        )
                    else:  # an error answer is an answer too
                        result = await client.call_tool(
                            "get_background_task", {"instance_id": data.RABBITMQ.id, "task_id": "0" * 32}
                        )
                    results.append(result.is_error == (kind == 2))

        with anyio.fail_after(60):
            async with anyio.create_task_group() as group:
                for n, mode in enumerate(["legacy", "auto", "legacy", "auto"]):
                    group.start_soon(session, mode, n)
        assert results == [True] * 40
        calls = srv.wait_for_log_lines(40, rpc="tools/call")
        assert {m["status"] for m in calls} == {"200"}
        pids = {m["pid"] for m in srv.log_lines()}
        assert len(pids) == 2, f"one worker answered everything: {pids}"
        assert str(srv.process.pid) not in pids  # the supervisor only supervises
        embedded = re.search(r"embedded DMS simulator at (http://127\.0\.0\.1:\d+)", srv.log())
        assert embedded is not None
        answers, exit_code = await finish_waits_through_sigterm(srv, embedded.group(1))
    finally:
        srv.stop()
    assert all(answer["succeeded"] for answer in answers.values())
    assert exit_code == 0


async def finish_waits_through_sigterm(srv: HttpServer, simulator_url: str) -> tuple[dict[str, dict[str, Any]], int]:
    """A wait_for_background_task per protocol era; SIGTERM while both poll; then the tasks finish."""

    def control(method: str, path: str, body: Any = None) -> Any:
        answer = httpx2.request(method, simulator_url + "/_simulator/" + path, json=body, timeout=10)
        answer.raise_for_status()
        return answer.json()

    tasks = {
        mode: control("POST", "tasks", {"instance_id": KAFKA, "manual": True, "status": "EXECUTING"})["id"]
        for mode in MODES
    }
    paths = [f"GET /v2/{data.SIM_PROJECT_ID}/instances/{KAFKA}/tasks/{task}" for task in tasks.values()]
    answers: dict[str, dict[str, Any]] = {}

    async def wait(mode: str) -> None:
        async with mcp_session(srv.mcp_url, mode) as client:
            await client.list_tools()  # the client checks results against the output schema: fetch it first
            arguments = {"instance_id": KAFKA, "task_id": tasks[mode], "poll_interval_seconds": 0.2}
            answers[mode] = structured(await client.call_tool("wait_for_background_task", arguments))

    with anyio.fail_after(60):
        async with anyio.create_task_group() as group:
            for mode in MODES:
                group.start_soon(wait, mode)
            await until(
                lambda: all(control("GET", "stats")["requests"].get(path, 0) >= 2 for path in paths),
                "both calls are polling",
            )
            assert srv.process.poll() is None
            srv.process.send_signal(signal.SIGTERM)
            await anyio.sleep(0.5)  # the stop has begun; the calls in flight go on
            for task in tasks.values():
                control("POST", f"tasks/{task}", {"status": "SUCCESS"})
        exit_code = await anyio.to_thread.run_sync(lambda: srv.process.wait(timeout=30))
    assert set(answers) == set(MODES)
    return answers, exit_code


@pytest.mark.slow
async def test_sigterm_lets_in_flight_calls_finish(simulator: Simulator) -> None:
    srv = start_server("http-sigterm.log", clean_env(**sim_env(simulator), BGTASK_HTTP_TOKEN=TOKEN))
    try:
        answers, exit_code = await finish_waits_through_sigterm(srv, simulator.url)
    finally:
        srv.stop()
    for mode in MODES:
        assert answers[mode]["finished"] is True and answers[mode]["succeeded"] is True, mode
    assert exit_code == 0
    log = srv.log()
    assert log.count("tool=wait_for_background_task instance=") >= 2 and log.count("outcome=ok") >= 2
    assert log.count("tool=wait_for_background_task caller=static-token status=200 finished=yes") == 2
    assert "HTTP server stopped" in log


async def test_accepted_connections_send_small_answers_at_once() -> None:
    """The listening socket says it is TCP, so asyncio turns Nagle off on every connection it accepts: a JSON
    answer written as headers, then body, does not wait for the client's delayed ACK (40 ms on Linux)."""
    import asyncio
    import socket

    from bgtask_mcp.http.serve import bind

    listening = bind("127.0.0.1", 0)
    nodelay: list[int] = []

    def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nodelay.append(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    listening.listen()
    server = await asyncio.start_server(accepted, sock=listening)
    async with server:
        _, writer = await asyncio.open_connection(*listening.getsockname())
        await until(lambda: nodelay, "the connection was accepted")
        writer.close()
    assert nodelay == [1]
