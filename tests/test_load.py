"""A bounded load run: concurrent MCP clients over streamable HTTP against the real server process, which
talks to the simulator with injected latency and 5% faults.

The normal suite runs a short version (8 clients for 5 s). The full run of the issue:

    BGTASK_LOAD_CALLS=200 pytest tests/test_load.py -m load -s     # 32 clients unless BGTASK_LOAD_CLIENTS

Passes when no call failed unexpectedly (a call whose retries all met injected faults is an expected,
clearly worded error, and counted), the server's memory stayed flat (VmRSS of the server process from
/proc, sampled every 0.25 s), and the server answers normally afterwards. Prints a summary: calls,
errors by kind, p50/p99 latency, throughput, RSS start/end, upstream requests and retries.
``BGTASK_LOAD_REPORT=path.json`` also writes the figures to a file.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import anyio
import httpx2
import pytest

from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, emitted, sim_env

pytestmark = [pytest.mark.load, pytest.mark.anyio]

CALLS = int(os.environ.get("BGTASK_LOAD_CALLS", "25"))  # per client, after the warm-up: counts, not seconds
WARMUP_CALLS = 3
CLIENTS = int(os.environ.get("BGTASK_LOAD_CLIENTS", "32" if "BGTASK_LOAD_CALLS" in os.environ else "8"))
LATENCY_S = 0.02  # added to every DMS request
FAULT_RATE = 0.05  # of DMS requests answered with a transient fault
FAULTS = ("throttle", "flow_control", "server_error", "busy", "reset", "truncated")
INJECTED_CODES = ("APIG.0308", "DMS.10240407", "DMS.00500000", "DMS.111501025", "HTTP 502", "HTTP 503")
LEGACY, MODERN = "2025-11-25", "2026-07-28"
EU_DE = [i.id for i in data.INSTANCES if i.region == "eu-de"]
SEEDED = [task for task in data.seed_tasks() if not task.live and task.instance_id in EU_DE]
WAITABLE = [task for task in SEEDED if task.final_status in ("SUCCESS", "FAILED", "DELETED", "CANCELLED")]
DMS_CODE = re.compile(r"\b(?:APIG|DMS)\.\d+")


def fault_rules() -> list[dict[str, Any]]:
    # the first matching non-latency rule answers: per-rule probabilities that add up to FAULT_RATE overall
    each = 1 - (1 - FAULT_RATE) ** (1 / len(FAULTS))
    rules: list[dict[str, Any]] = [{"kind": "latency", "latency_s": LATENCY_S, "path_contains": "/tasks"}]
    rules += [{"kind": kind, "probability": each, "path_contains": "/tasks"} for kind in FAULTS]
    return rules


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    outcomes: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    rss_kib: list[tuple[float, int]] = field(default_factory=list)

    @property
    def calls(self) -> int:
        return sum(self.outcomes.values())


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def spawn_server(port: int, env: dict[str, str], stderr: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "bgtask_mcp", "serve", "--transport", "http", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=stderr,
    )


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def pick_call(rng: random.Random) -> tuple[str, dict[str, Any], Any]:
    """A tool call and a check of its structured answer."""
    roll = rng.random()
    if roll < 0.45:
        instance = rng.choice(EU_DE)
        limit = rng.randint(1, 20)
        return (
            "list_background_tasks",
            {"instance_id": instance, "limit": limit},
            lambda out: len(out["tasks"]) <= limit and out["task_count"] >= len(out["tasks"]),
        )
    if roll < 0.80:
        task = rng.choice(SEEDED)
        return (
            "get_background_task",
            {"instance_id": task.instance_id, "task_id": task.id},
            lambda out: out["tasks"][0]["id"] == task.id and out["tasks"][0]["name"] == task.name,
        )
    if roll < 0.90:
        task = rng.choice(WAITABLE)
        return (
            "wait_for_background_task",
            {"instance_id": task.instance_id, "task_id": task.id, "timeout_seconds": 5},
            lambda out: out["finished"] and out["status"] == task.final_status,
        )
    name = rng.choice(sorted({t.name for t in SEEDED if t.instance_id == data.ARCHIVE.id}))
    return (
        "list_background_tasks",
        {"instance_id": data.ARCHIVE.id, "name": name, "limit": 2},
        lambda out: all(t["name"] == name for t in out["tasks"]),
    )


def parse_reply(response: httpx2.Response, ident: int) -> dict[str, Any]:
    if response.headers.get("content-type", "").startswith("text/event-stream"):
        for line in response.text.splitlines():
            if line.startswith("data:"):
                message = json.loads(line[5:])
                if message.get("id") == ident:
                    return message  # type: ignore[no-any-return]
        raise ValueError("no JSON-RPC reply in the event stream")
    return response.json()  # type: ignore[no-any-return]


def classify(message: dict[str, Any]) -> tuple[str, bool]:
    """(kind, expected) of a failed call: only retries exhausted on injected faults are expected."""
    if "error" in message:
        return f"jsonrpc {message['error'].get('code')}", False
    result = message["result"]
    text = " ".join(block.get("text", "") for block in result.get("content", []))
    code = DMS_CODE.search(text)
    exhausted = "after 4 attempts" in text
    if "could not reach DMS" in text:
        return "transport (retries exhausted)" if exhausted else "transport", exhausted
    if code:
        return f"tool {code.group(0)}", exhausted and code.group(0) in INJECTED_CODES
    if any(injected in text for injected in INJECTED_CODES):
        return "tool HTTP 5xx without a code", exhausted
    return f"tool: {text[:80]}", False


async def client_loop(number: int, url: str, calls: int, tally: Tally | None, rng: random.Random) -> None:
    """``calls`` tool calls, one after the other; counted in ``tally`` (None: a warm-up, not counted)."""
    era = LEGACY if number % 2 == 0 else MODERN
    ids = itertools.count(1)
    async with httpx2.AsyncClient(timeout=httpx2.Timeout(45.0)) as http:
        for _ in range(calls):
            tool, arguments, check = pick_call(rng)
            ident = next(ids)
            params: dict[str, Any] = {"name": tool, "arguments": arguments}
            headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": era}
            if era == MODERN:
                params["_meta"] = {
                    "io.modelcontextprotocol/protocolVersion": MODERN,
                    "io.modelcontextprotocol/clientCapabilities": {},
                }
                headers |= {"Mcp-Method": "tools/call", "Mcp-Name": tool}
            body = {"jsonrpc": "2.0", "id": ident, "method": "tools/call", "params": params}
            started = time.monotonic()
            try:
                response = await http.post(url, json=body, headers=headers)
                if response.status_code != 200:
                    kind, expected, detail = f"http {response.status_code}", False, response.text[:200]
                else:
                    message = parse_reply(response, ident)
                    result = message.get("result", {})
                    if "error" not in message and not result.get("isError"):
                        good = check(result["structuredContent"])
                        kind, expected, detail = ("ok", True, "") if good else ("wrong answer", False, str(result))
                    else:
                        kind, expected = classify(message)
                        detail = json.dumps(message)[:300]
            except Exception as exc:  # a client-side failure is a finding too
                kind, expected, detail = f"client {type(exc).__name__}", False, str(exc)[:200]
            if tally is None:
                continue  # warm-up
            tally.latencies.append(time.monotonic() - started)
            tally.outcomes[kind] += 1
            if not expected:
                tally.unexpected.append(f"{tool} {arguments}: {kind}: {detail}")


async def sample_rss(pid: int, done: anyio.Event, tally: Tally) -> None:
    while not done.is_set():
        tally.rss_kib.append((time.monotonic(), rss_kib(pid)))
        with anyio.move_on_after(0.25):
            await done.wait()
    tally.rss_kib.append((time.monotonic(), rss_kib(pid)))


async def clients(url: str, calls: int, tally: Tally | None, seed: int) -> None:
    async with anyio.create_task_group() as group:
        for number in range(CLIENTS):
            group.start_soon(client_loop, number, url, calls, tally, random.Random(seed + number))


async def wait_ready(port: int, server: subprocess.Popen[bytes]) -> None:
    with anyio.fail_after(30):  # a cap on a start that never happens, not a timing assumption
        while True:
            try:
                async with httpx2.AsyncClient() as probe:
                    if (await probe.get(f"http://127.0.0.1:{port}/readyz")).status_code == 200:
                        return
            except httpx2.TransportError:
                pass
            assert server.poll() is None, "the server exited at start"
            await anyio.sleep(0.1)


async def answers_normally(url: str, port: int) -> None:
    """Afterwards, with no fault: a call is answered at once and normally, and the server is healthy."""
    arguments = {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "get_background_task", "arguments": arguments}}  # fmt: skip
    async with httpx2.AsyncClient(timeout=10) as http:
        reply = await http.post(url, json=body, headers={"Accept": "application/json, text/event-stream",
                                                         "MCP-Protocol-Version": LEGACY})  # fmt: skip
        after = parse_reply(reply, 1)
        assert not after["result"].get("isError"), after
        assert (await http.get(f"http://127.0.0.1:{port}/healthz")).status_code == 200


@dataclass
class Measured:
    tally: Tally
    elapsed: float
    cpu: float
    upstream: int
    stats: dict[str, int]


async def measured_run(simulator: Simulator, server: subprocess.Popen[bytes], url: str) -> Measured:
    await clients(url, WARMUP_CALLS, None, seed=1000)
    tally = Tally()
    upstream_before = simulator.stats().get("all", 0)
    cpu_before = cpu_seconds(server.pid)
    begin = time.monotonic()
    done = anyio.Event()
    async with anyio.create_task_group() as group:
        group.start_soon(sample_rss, server.pid, done, tally)
        await clients(url, CALLS, tally, seed=0)
        done.set()
    stats = simulator.stats()
    return Measured(tally, time.monotonic() - begin, cpu_seconds(server.pid) - cpu_before,
                    stats.get("all", 0) - upstream_before, stats)  # fmt: skip


def stop(server: subprocess.Popen[bytes]) -> int:
    server.send_signal(signal.SIGTERM)
    try:
        return server.wait(timeout=40)
    except subprocess.TimeoutExpired:
        server.kill()
        raise AssertionError("the server did not stop on SIGTERM") from None


def summary_of(run: Measured, code: int) -> dict[str, Any]:
    tally, measured = run.tally, run.tally.rss_kib
    quartiles = [round(measured[int(q * (len(measured) - 1))][1] / 1024, 1) for q in (0.25, 0.5, 0.75)]
    return {
        "clients": CLIENTS,
        "seconds": round(run.elapsed, 1),
        "calls": tally.calls,
        "calls_per_second": round(tally.calls / run.elapsed, 1),
        "outcomes": dict(tally.outcomes.most_common()),
        "unexpected_errors": len(tally.unexpected),
        "latency_ms": {name: round(percentile(tally.latencies, q) * 1000, 1)
                       for name, q in (("p50", 0.50), ("p90", 0.90), ("p99", 0.99), ("max", 1.0))},
        "server_rss_mib": {"start": round(measured[0][1] / 1024, 1), "end": round(measured[-1][1] / 1024, 1),
                           "max": round(max(kib for _, kib in measured) / 1024, 1), "quartiles": quartiles},
        "server_cpu_ms_per_call": round(run.cpu * 1000 / max(tally.calls, 1), 2),
        "upstream_requests": run.upstream,
        "faults_injected_incl_warmup": {k[6:]: v for k, v in run.stats.items() if k.startswith("fault:")},
        "upstream_disconnected": run.stats.get("disconnected", 0),
        "injected": {"latency_ms": LATENCY_S * 1000, "fault_rate": FAULT_RATE, "faults": list(FAULTS)},
        "server_exit_code": code,
    }  # fmt: skip


@pytest.mark.timeout(CLIENTS * CALLS + 300)
async def test_load_run(simulator: Simulator, capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()
    env = clean_env(
        **sim_env(simulator, BGTASK_CACHE="off", BGTASK_LOG_LEVEL="INFO", BGTASK_CALLER_CONCURRENCY="64")
    )  # one caller (anonymous) sends all of it
    simulator.faults(*fault_rules())
    url = f"http://127.0.0.1:{port}/mcp"
    with emitted("load-server.log").open("w+b") as stderr:
        server = spawn_server(port, env, stderr)
        try:
            await wait_ready(port, server)
            run = await measured_run(simulator, server, url)
            simulator.faults()
            await answers_normally(url, port)
        finally:
            code = stop(server)
        stderr.seek(0)
        logs = stderr.read().decode("utf-8", "replace")

    summary = summary_of(run, code)
    with capsys.disabled():
        print("\nload run:", json.dumps(summary, indent=1))
    if os.environ.get("BGTASK_LOAD_REPORT"):
        await anyio.Path(os.environ["BGTASK_LOAD_REPORT"]).write_text(json.dumps(summary, indent=1) + "\n")

    tally, measured = run.tally, run.tally.rss_kib
    assert tally.calls == CLIENTS * CALLS  # every call was answered (or counted as a failure below)
    assert not tally.unexpected, "\n".join(tally.unexpected[:10])
    assert tally.outcomes["ok"] >= 0.99 * tally.calls
    assert run.upstream > tally.calls * 0.5, "the calls did not reach DMS (cache on?)"
    # memory stays flat: after the warm-up, no growth beyond allocator noise
    rss_start, rss_end = measured[0][1], measured[-1][1]
    assert rss_end - rss_start < max(16 * 1024, rss_start // 5), summary["server_rss_mib"]
    assert "Traceback" not in logs and "failed unexpectedly" not in logs, logs[-3000:]
    assert code == 0
