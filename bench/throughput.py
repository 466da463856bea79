"""Throughput over HTTP: 32 concurrent raw clients against one and two uvicorn workers, ours vs the bare server.

Ours runs twice: as shipped (task cache on: the seed task is finished, so after the first call it is served
from the cache), compared with the bare server; and with BGTASK_CACHE=off, where every call also makes a
signed GET to the simulator (which then competes for the same two cores), compared with "bare + GET": the
bare server's ``fetch`` tool, which makes the same signed httpx2 GET and returns the raw JSON text.
Server CPU per call comes from psutil over the serving processes.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import dataclass, field
from typing import Any

from bench import baseline_server
from bench.common import (
    HttpServer,
    Simulator,
    bare_http,
    call_body,
    example_arguments,
    median,
    ours_http,
    percentile,
    running,
    spread,
)
from bench.loadgen import run_load
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "Throughput over HTTP, 32 concurrent clients"
CLIENTS = 32


@dataclass
class Config:
    name: str
    server: HttpServer
    tool: str
    arguments: dict[str, str]
    marker: bytes
    per_second: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # server CPU per call
    sim_cpu_ms: list[float] = field(default_factory=list)
    p50_ms: list[float] = field(default_factory=list)
    p99_ms: list[float] = field(default_factory=list)
    errors: int = 0
    first_error: str = ""


def cpu_seconds(pids: list[int]) -> float:
    import psutil

    total = 0.0
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system
    return total


async def drive(config: Config, sim: Simulator, seconds: float) -> None:
    body = call_body(config.tool, config.arguments)
    pids = config.server.pids()
    cpu0, sim0 = cpu_seconds(pids), cpu_seconds([sim.process.pid])
    result = await run_load(config.server.port, body, config.tool, config.marker, clients=CLIENTS, seconds=seconds)
    cpu1, sim1 = cpu_seconds(pids), cpu_seconds([sim.process.pid])
    calls = max(1, result.calls)
    # CPU covers the warm-up as well; scale it to the measured window
    share = seconds / (seconds + 0.5)
    config.per_second.append(result.per_second)
    config.cpu_ms.append((cpu1 - cpu0) * share * 1000 / calls)
    config.sim_cpu_ms.append((sim1 - sim0) * share * 1000 / calls)
    config.p50_ms.append(percentile(result.latencies, 0.5) * 1000)
    config.p99_ms.append(percentile(result.latencies, 0.99) * 1000)
    config.errors += result.errors
    config.first_error = config.first_error or result.first_error


def configurations(sim: Simulator, workers: list[int]) -> list[Config]:
    task = data.EXAMPLE_TASK_ID.encode()
    ok = f'"{baseline_server.ANSWER}"'.encode()
    ours_tool, arguments = "get_background_task", example_arguments()
    configs: list[Config] = []
    for w in workers:
        configs += [
            Config(f"ours, cache on, {w}w", ours_http(sim.url, cache=True, workers=w), ours_tool, arguments, task),
            Config(f"bare, {w}w", bare_http(workers=w), baseline_server.TOOL, {}, ok),
            Config(f"ours, cache off, {w}w", ours_http(sim.url, cache=False, workers=w), ours_tool, arguments, task),
            Config(f"bare + GET, {w}w", bare_http(workers=w, upstream=sim.url), baseline_server.FETCH, {}, task),
        ]
    return configs


def row(by_name: dict[str, Config], ours_name: str, ref_name: str, label: str, w: int) -> Row:
    ours, ref = by_name[ours_name], by_name[ref_name]
    ratios = [o / b for o, b in zip(ours.per_second, ref.per_second, strict=True)]
    upstream = ""
    if "GET" in ref_name:
        bare = by_name[f"bare, {w}w"]
        vs_bare = median([o / b for o, b in zip(ours.per_second, bare.per_second, strict=True)])
        upstream = f"; {vs_bare:.2f}x the bare server without GET"
    note = (f"server CPU/call {median(ours.cpu_ms):.2f} vs {median(ref.cpu_ms):.2f} ms; p50/p99 "
            f"{median(ours.p50_ms):.0f}/{median(ours.p99_ms):.0f} vs {median(ref.p50_ms):.0f}/"
            f"{median(ref.p99_ms):.0f} ms{upstream}")  # fmt: skip
    return Row(SECTION, label, median(ours.per_second), "calls/s", ref_name.rsplit(",", 1)[0],
               median(ref.per_second), median(ratios), ">= 0.85", *spread(ratios), note=note)  # fmt: skip


async def run(
    sim: Simulator, rounds: int, seconds: float, workers: list[int]
) -> tuple[list[Row], dict[str, Any], list[str]]:
    configs = configurations(sim, workers)
    with running(*(c.server for c in configs)):
        await asyncio.sleep(1.0 if max(workers) > 1 else 0.2)  # let every uvicorn worker come up
        for r in range(rounds):
            order = configs if r % 2 == 0 else list(reversed(configs))
            for config in order:
                await drive(config, sim, seconds)
    by_name = {c.name: c for c in configs}
    rows: list[Row] = []
    for w in workers:
        plural = "s" if w > 1 else ""
        rows.append(
            row(by_name, f"ours, cache on, {w}w", f"bare, {w}w", f"{w} worker{plural}, cache on (as shipped)", w)
        )
        rows.append(row(by_name, f"ours, cache off, {w}w", f"bare + GET, {w}w",
                        f"{w} worker{plural}, cache off: a DMS GET per call", w))  # fmt: skip
    details: list[str] = []
    if max(workers) > 1:
        details.append(
            f"- Two workers on {os.cpu_count()} cores share them with the simulator and the load generator: the "
            "2-worker figures show contention more than scaling, and vary from run to run."
        )
    details += [f"- {c.name}: {c.errors} wrong answers, first: {c.first_error[:200]}" for c in configs if c.errors]
    raw = {c.name: {"per_second": c.per_second, "server_cpu_ms_per_call": c.cpu_ms, "simulator_cpu_ms_per_call":
                    c.sim_cpu_ms, "p50_ms": c.p50_ms, "p99_ms": c.p99_ms, "errors": c.errors}
           for c in configs}  # fmt: skip
    return rows, raw, details
