"""The task cache: repeated get_background_task reads of finished tasks, served from the cache (hit) vs read
from DMS every time (miss, BGTASK_CACHE=off), in process and over stdio. Also counts the DMS requests the
hits made (there should be none)."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import OURS_STDIO, ROOT, Simulator, finished_task_ids, median, ours_env, spread
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "Task cache: finished tasks read again"
TASKS = 20


def reader(client: Client, ids: list[str]) -> Callable[[], Awaitable[None]]:
    position = 0

    async def call() -> None:
        nonlocal position
        task_id = ids[position % len(ids)]
        position += 1
        result = await client.call_tool("get_background_task", {"instance_id": data.ARCHIVE.id, "task_id": task_id})
        if result.is_error:
            raise RuntimeError(f"get_background_task failed: {result.content}")

    return call


def clients_of(sim: Simulator, devnull: Any) -> dict[str, Client]:
    """Cache on ("hit") and off ("miss"), in process and over stdio."""
    from bgtask_mcp.config import load_settings
    from bgtask_mcp.server import build_server

    def stdio(cache: bool) -> Client:
        params = StdioServerParameters(
            command=OURS_STDIO[0], args=OURS_STDIO[1:], env=ours_env(sim.url, cache=cache), cwd=str(ROOT)
        )
        return Client(stdio_client(params, errlog=devnull), mode="legacy")

    return {
        "hit|in process": Client(build_server(load_settings(ours_env(sim.url, cache=True))), mode="legacy"),
        "miss|in process": Client(build_server(load_settings(ours_env(sim.url, cache=False))), mode="legacy"),
        "hit|stdio": stdio(True),
        "miss|stdio": stdio(False),
    }


@dataclass
class Measured:
    ms_per_round: dict[str, list[float]]
    upstream_on_hits: dict[str, int]  # DMS requests made while the hit servers were called
    hit_calls: dict[str, int]


async def measure(
    sim: Simulator, calls: dict[str, Callable[[], Awaitable[None]]], rounds: int, per_round: int
) -> Measured:
    """Interleaved rounds in a shuffled order; per round the median of ``per_round`` sequential calls."""
    measured = Measured({name: [] for name in calls}, {}, {})
    measured.upstream_on_hits = {name: 0 for name in calls if name.startswith("hit")}
    measured.hit_calls = dict.fromkeys(measured.upstream_on_hits, 0)
    for r in range(rounds):
        order = list(calls)
        random.Random(r).shuffle(order)
        for name in order:
            before = sim.requests()
            samples = []
            for _ in range(per_round):
                started = time.perf_counter()
                await calls[name]()
                samples.append(time.perf_counter() - started)
            measured.ms_per_round[name].append(median(samples) * 1000)
            if name in measured.upstream_on_hits:
                measured.upstream_on_hits[name] += sim.requests() - before
                measured.hit_calls[name] += per_round
    return measured


def row(measured: Measured, transport: str) -> Row:
    key = f"hit|{transport}"
    hit, miss = measured.ms_per_round[key], measured.ms_per_round[f"miss|{transport}"]
    ratios = [h / m for h, m in zip(hit, miss, strict=True)]
    return Row(
        SECTION,
        f"cache hit vs miss, {transport}",
        median(hit),
        "ms",
        "miss (cache off)",
        median(miss),
        median(ratios),
        "",
        *spread(ratios),
        note=f"{TASKS} finished tasks round-robin; a hit is {median(miss) / median(hit):.1f}x faster; "
        f"DMS requests during {measured.hit_calls[key]:,} hit calls: {measured.upstream_on_hits[key]}",
    )


async def run(sim: Simulator, rounds: int, per_round: int) -> tuple[list[Row], dict[str, Any], list[str]]:
    ids = finished_task_ids(sim, data.ARCHIVE.id, TASKS)
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115 - /dev/null never blocks
        clients = clients_of(sim, devnull)
        calls = {name: reader(await stack.enter_async_context(c), ids) for name, c in clients.items()}
        for call in calls.values():  # warm up; for the hit servers this fills the cache with every task
            for _ in range(len(ids)):
                await call()
        measured = await measure(sim, calls, rounds, per_round)
    rows = [row(measured, transport) for transport in ("in process", "stdio")]
    return (
        rows,
        {"cache_ms_per_round": measured.ms_per_round, "upstream_requests_during_hits": measured.upstream_on_hits},
        [],
    )
