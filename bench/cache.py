"""The task cache: repeated get_background_task reads of finished tasks, served from the cache (hit) vs read
from DMS every time (miss, BGTASK_CACHE=off), in process and over stdio. Also counts the DMS requests the
hits made (there should be none)."""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Awaitable, Callable
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


async def run(sim: Simulator, rounds: int, per_round: int) -> tuple[list[Row], dict[str, Any], list[str]]:
    from bgtask_mcp.config import load_settings
    from bgtask_mcp.server import build_server

    ids = finished_task_ids(sim, data.ARCHIVE.id, TASKS)
    results: dict[str, list[float]] = {}
    upstream_on_hits: dict[str, int] = {}
    hit_calls: dict[str, int] = {}
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115 - /dev/null never blocks

        def stdio(cache: bool) -> Client:
            params = StdioServerParameters(
                command=OURS_STDIO[0], args=OURS_STDIO[1:], env=ours_env(sim.url, cache=cache), cwd=str(ROOT)
            )
            return Client(stdio_client(params, errlog=devnull), mode="legacy")

        clients = {
            "hit|in process": Client(build_server(load_settings(ours_env(sim.url, cache=True))), mode="legacy"),
            "miss|in process": Client(build_server(load_settings(ours_env(sim.url, cache=False))), mode="legacy"),
            "hit|stdio": stdio(True),
            "miss|stdio": stdio(False),
        }
        calls = {name: reader(await stack.enter_async_context(c), ids) for name, c in clients.items()}
        for call in calls.values():  # warm up; for the hit servers this fills the cache with every task
            for _ in range(len(ids)):
                await call()
        results = {name: [] for name in calls}
        upstream_on_hits = {name: 0 for name in calls if name.startswith("hit")}
        hit_calls = dict.fromkeys(upstream_on_hits, 0)
        for r in range(rounds):
            order = list(calls)
            random.Random(r).shuffle(order)
            for name in order:
                before = sim.requests() if name in upstream_on_hits else 0
                samples = []
                for _ in range(per_round):
                    started = time.perf_counter()
                    await calls[name]()
                    samples.append(time.perf_counter() - started)
                results[name].append(median(samples) * 1000)
                if name in upstream_on_hits:
                    upstream_on_hits[name] += sim.requests() - before
                    hit_calls[name] += per_round
    rows = []
    for transport in ("in process", "stdio"):
        hit, miss = results[f"hit|{transport}"], results[f"miss|{transport}"]
        ratios = [h / m for h, m in zip(hit, miss, strict=True)]
        key = f"hit|{transport}"
        rows.append(
            Row(
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
                f"DMS requests during {hit_calls[key]:,} hit calls: {upstream_on_hits[key]}",
            )
        )
    return rows, {"cache_ms_per_round": results, "upstream_requests_during_hits": upstream_on_hits}, []
