"""Per-call latency of get_background_task (cache off) in process, over stdio and over HTTP, against the floor:
the bare MCPServer's ``fetch`` tool over the same transport, which does one signed httpx2 GET of the same task
and returns the raw text (what any server that reads DMS on every call pays at least), measured in the same
round. Shown beside it: the bare trivial tool plus a direct GET from this process (a lower bound no server
reaches: it leaves out the GET's cost inside the server process), and the official SDK (huaweicloudsdkkafka)
doing the same read."""

from __future__ import annotations

import contextlib
import os
import random
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench import baseline_server
from bench.common import (
    BARE_STDIO,
    OURS_STDIO,
    ROOT,
    HttpServer,
    Simulator,
    bare_http,
    clean_env,
    direct_client,
    example_arguments,
    median,
    ours_env,
    ours_http,
    spread,
)
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "Per-call latency, get_background_task, cache off"
SDK_SECTION = "Per-call latency vs the official SDK (huaweicloudsdkkafka)"
TOOL = "get_background_task"
ERA_NAMES = {"legacy": "2025-11-25", "auto": "2026-07-28"}
TOOLS_OF = {"bare": baseline_server.TOOL, "fetch": baseline_server.FETCH}

Call = Callable[[], Awaitable[None]]


def product_logging_to_devnull() -> None:
    """In process, bgtask-mcp logs as its CLI sets it up (INFO, one line per call) but into /dev/null."""
    from bgtask_mcp.cli import setup_logging

    saved = sys.stderr
    sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - the handler keeps it for the whole run
    try:
        setup_logging("INFO")
    finally:
        sys.stderr = saved


def ours_call(client: Client) -> Call:
    arguments = example_arguments()

    async def call() -> None:
        result = await client.call_tool(TOOL, arguments)
        if result.is_error or not result.structured_content:
            raise RuntimeError(f"get_background_task failed: {result.content}")

    return call


def bare_call(client: Client, tool: str = baseline_server.TOOL) -> Call:
    async def call() -> None:
        result = await client.call_tool(tool, {})
        if result.is_error:
            raise RuntimeError(f"the baseline tool {tool} failed: {result.content}")

    return call


def in_process_baseline(sim_url: str) -> Any:
    """The bare server with its fetch tool, built in this process (it reads BENCH_UPSTREAM when built)."""
    saved = os.environ.get("BENCH_UPSTREAM")
    os.environ["BENCH_UPSTREAM"] = sim_url
    try:
        return baseline_server.build_server()
    finally:
        if saved is None:
            os.environ.pop("BENCH_UPSTREAM")
        else:
            os.environ["BENCH_UPSTREAM"] = saved


def sdk_call(sim_url: str) -> tuple[Call | None, str]:
    """The official SDK's ShowBackgroundTask against the simulator, or None with the reason it is skipped."""
    try:
        from huaweicloudsdkcore.auth.credentials import BasicCredentials
        from huaweicloudsdkkafka.v2 import KafkaClient, ShowBackgroundTaskRequest
    except ImportError as exc:
        return None, f"official SDK skipped: huaweicloudsdkkafka not importable ({exc})"
    import logging

    logging.getLogger("HttpHandler").setLevel(logging.WARNING)
    client = (
        KafkaClient.new_builder()
        .with_credentials(BasicCredentials(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, data.SIM_PROJECT_ID))
        .with_endpoint(sim_url)
        .build()
    )
    request = ShowBackgroundTaskRequest(instance_id=data.KAFKA.id, task_id=data.EXAMPLE_TASK_ID)

    async def call() -> None:  # a blocking call: nothing else runs meanwhile, so timing it here is fair
        answer = client.show_background_task(request)
        if not answer.tasks:
            raise RuntimeError("the official SDK read no task")

    return call, ""


Enter = Callable[[Client, str], Awaitable[Client]]


def call_of(kind: str, client: Client) -> Call:
    return ours_call(client) if kind == "ours" else bare_call(client, TOOLS_OF[kind])


def stdio_params(sim: Simulator) -> dict[str, StdioServerParameters]:
    """Ours, the bare server, and the bare server with its fetch tool, each over stdio."""

    def params(argv: list[str], env: dict[str, str]) -> StdioServerParameters:
        return StdioServerParameters(command=argv[0], args=argv[1:], env=env, cwd=str(ROOT))

    return {"ours": params(OURS_STDIO, ours_env(sim.url)), "bare": params(BARE_STDIO, clean_env()),
            "fetch": params(BARE_STDIO, clean_env(BENCH_UPSTREAM=sim.url))}  # fmt: skip


async def local_clients(sim: Simulator, era: str, enter: Enter, devnull: Any) -> dict[str, Call]:
    """In process and over stdio: ours, the bare tool, and the floor, for one protocol era."""
    from bgtask_mcp.config import load_settings
    from bgtask_mcp.server import build_server

    name = ERA_NAMES[era]
    settings = load_settings(ours_env(sim.url, cache=False))
    calls = {
        f"ours|in process|{name}": ours_call(await enter(Client(build_server(settings), mode=era), "")),
        f"bare|in process|{name}": bare_call(await enter(Client(baseline_server.build_server(), mode=era), "")),
    }
    fetching = await enter(Client(in_process_baseline(sim.url), mode=era), "")
    calls[f"fetch|in process|{name}"] = bare_call(fetching, baseline_server.FETCH)
    for kind, params in stdio_params(sim).items():
        key = f"{kind}|stdio|{name}"
        client = await enter(Client(stdio_client(params, errlog=devnull), mode=era), key)
        calls[key] = call_of(kind, client)
    return calls


async def direct_and_sdk(sim: Simulator, stack: contextlib.AsyncExitStack, notes: list[str]) -> dict[str, Call]:
    direct = await stack.enter_async_context(direct_client())
    url = sim.url + sim.task_path(data.KAFKA.id, data.EXAMPLE_TASK_ID)

    async def direct_get() -> None:
        response = await direct.get(url)
        if response.status_code != 200 or not response.json()["tasks"]:
            raise RuntimeError(f"direct GET failed: {response.status_code} {response.text[:200]}")

    calls: dict[str, Call] = {"direct GET": direct_get}
    sdk, why = sdk_call(sim.url)
    if sdk is not None:
        calls["official SDK"] = sdk
    else:
        notes.append(why)
    return calls


@contextlib.asynccontextmanager
async def connected(
    sim: Simulator, eras: list[str]
) -> AsyncIterator[tuple[dict[str, Call], dict[str, int], list[str]]]:
    """Every client of the run, connected at once (idle ones cost nothing), keyed by measurement name, and the
    pid of the server process behind each (stdio and HTTP)."""
    import psutil

    product_logging_to_devnull()
    calls: dict[str, Call] = {}
    pids: dict[str, int] = {}
    notes: list[str] = []
    servers: list[HttpServer] = [ours_http(sim.url, cache=False), bare_http(), bare_http(upstream=sim.url)]
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115 - /dev/null never blocks
        for server in servers:
            server.spawn()
            stack.callback(server.stop)

        async def enter(client: Client, name: str) -> Client:
            before = {c.pid for c in psutil.Process().children()}
            entered = await stack.enter_async_context(client)
            spawned = [c.pid for c in psutil.Process().children() if c.pid not in before]
            if name and spawned:
                pids[name] = spawned[0]
            return entered

        for era in eras:
            calls.update(await local_clients(sim, era, enter, devnull))
        for server in servers:
            server.ready()
        for era in eras:
            name = ERA_NAMES[era]
            for kind, server in zip(("ours", "bare", "fetch"), servers, strict=True):
                calls[f"{kind}|HTTP|{name}"] = call_of(kind, await enter(Client(server.url, mode=era), ""))
                pids[f"{kind}|HTTP|{name}"] = server.pids()[0]
        calls.update(await direct_and_sdk(sim, stack, notes))
        yield calls, pids, notes


def cpu_of(pid: int) -> float:
    import psutil

    times = psutil.Process(pid).cpu_times()
    return float(times.user + times.system)


async def measure(
    calls: dict[str, Call], pids: dict[str, int], rounds: int, per_round: int
) -> tuple[dict[str, list[float]], dict[str, float]]:
    """Per measurement, the median per-call latency (ms) of each round; and the server CPU per call (ms).

    An HTTP server serves both eras: its CPU is shared by two measurements and reported for the pair.

    Calls are interleaved one by one (every measurement once, in a shuffled order, then again), so that
    whatever else the machine does at a moment weighs on ours, the bare tool and the direct GET alike.
    """
    for call in calls.values():  # warm up: connections, the client's tools/list for output validation
        for _ in range(10):
            await call()
    results: dict[str, list[float]] = {name: [] for name in calls}
    shuffle = random.Random(0).shuffle
    cpu_before = {name: cpu_of(pid) for name, pid in pids.items()}
    for _ in range(rounds):
        samples: dict[str, list[float]] = {name: [] for name in calls}
        order = list(calls)
        for _ in range(per_round):
            shuffle(order)
            for name in order:
                started = time.perf_counter()
                await calls[name]()
                samples[name].append(time.perf_counter() - started)
        for name, values in samples.items():
            results[name].append(median(values) * 1000)
    served: dict[int, int] = {}
    for pid in pids.values():
        served[pid] = served.get(pid, 0) + rounds * per_round
    cpu = {name: (cpu_of(pid) - cpu_before[name]) * 1000 / served[pid] for name, pid in pids.items()}
    return results, cpu


def rows_from(results: dict[str, list[float]], cpu: dict[str, float], notes: list[str]) -> tuple[list[Row], list[str]]:
    rows: list[Row] = []
    sdk_rows: list[Row] = []
    direct = results["direct GET"]
    sdk = results.get("official SDK")
    for key in results:
        if not key.startswith("ours|"):
            continue
        _, transport, era = key.split("|")
        ours = results[key]
        bare = results[f"bare|{transport}|{era}"]
        floor = results[f"fetch|{transport}|{era}"]
        bound = [b + d for b, d in zip(bare, direct, strict=True)]
        ratios = [o / f for o, f in zip(ours, floor, strict=True)]
        target = "<= 1.15" if transport != "in process" else ""
        server_cpu = ""
        if key in cpu:
            shared = sum(1 for k in results if k.startswith("ours|HTTP|")) > 1
            both = " (both eras)" if transport == "HTTP" and shared else ""
            server_cpu = f"; server CPU/call{both} {cpu[key]:.2f} vs fetch {cpu[f'fetch|{transport}|{era}']:.2f} ms"
        rows.append(
            Row(
                SECTION,
                f"{transport}, {era}",
                median(ours),
                "ms",
                "floor",
                median(floor),
                median(ratios),
                target,
                *spread(ratios),
                note=f"floor = the bare server's fetch tool (one signed GET); ours - floor = "
                f"{median([o - f for o, f in zip(ours, floor, strict=True)]):+.2f} ms; vs bare tool {median(bare):.2f} "
                f"+ direct GET {median(direct):.2f} ms: {median([o / b for o, b in zip(ours, bound, strict=True)]):.2f}"
                f"x{server_cpu}",
                extra={"bare": median(bare), "direct": median(direct), "bound": median(bound)},
            )
        )
        if sdk is not None:
            sdk_ratios = [o / s for o, s in zip(ours, sdk, strict=True)]
            sdk_rows.append(
                Row(
                    SDK_SECTION,
                    f"{transport}, {era}",
                    median(ours),
                    "ms",
                    "official SDK",
                    median(sdk),
                    median(sdk_ratios),
                    lo=min(sdk_ratios),
                    hi=max(sdk_ratios),
                    note="KafkaClient.show_background_task, in process, same simulator",
                )
            )
    details = [f"- {note}" for note in notes]
    return rows + sdk_rows, details


RTT_SECTION = "Per-call latency with a cloud round trip (simulator answers after 20 ms)"
RTT = 0.020


def rtt_rows(results: dict[str, list[float]]) -> list[Row]:
    rows = []
    for key in results:
        if key.startswith("ours|"):
            _, transport, era = key.split("|")
            ours, floor = results[key], results[f"fetch|{transport}|{era}"]
            ratios = [o / f for o, f in zip(ours, floor, strict=True)]
            rows.append(
                Row(
                    RTT_SECTION,
                    f"{transport}, {era}",
                    median(ours),
                    "ms",
                    "floor",
                    median(floor),
                    median(ratios),
                    "",
                    *spread(ratios),
                    note=f"ours - floor = {median([o - f for o, f in zip(ours, floor, strict=True)]):+.2f} ms; "
                    "what the overhead weighs against a real DMS endpoint",
                )
            )
    return rows


async def run(
    sim: Simulator, rounds: int, per_round: int, eras: list[str], rtt_rounds: int = 0
) -> tuple[list[Row], dict[str, Any], list[str]]:
    rtt_results: dict[str, list[float]] = {}
    async with connected(sim, eras) as (calls, pids, notes):
        results, cpu = await measure(calls, pids, rounds, per_round)
        if rtt_rounds:
            era = ERA_NAMES[eras[0]]
            subset = {k: v for k, v in calls.items() if k == "direct GET" or k.endswith(f"|stdio|{era}")}
            sim.set_latency(RTT)
            try:
                rtt_results, _ = await measure(subset, {}, rtt_rounds, max(5, per_round // 5))
            finally:
                sim.set_latency(0)
    rows, details = rows_from(results, cpu, notes)
    rows += rtt_rows(rtt_results) if rtt_results else []
    raw = {"latency_ms_per_round": results, "server_cpu_ms_per_call": cpu, "with_rtt_ms_per_round": rtt_results}
    return rows, raw, details
