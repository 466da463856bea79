"""Memory: RSS of the HTTP server (one worker) idle, under 32 concurrent clients and after 10,000 calls,
ours (cache off: every call takes the whole path, DMS request included) vs the bare server.

The 10,000 calls are made in chunks, alternating between the two servers; the peak RSS of each chunk is
sampled every 50 ms and "under concurrency" is the median of the chunk peaks.
"""

from __future__ import annotations

import asyncio
from typing import Any

from bench import baseline_server
from bench.common import Simulator, bare_http, call_body, example_arguments, median, ours_http, running, spread
from bench.loadgen import run_load
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "Memory (RSS)"


def rss_mb(pid: int) -> float:
    import psutil

    return float(psutil.Process(pid).memory_info().rss / 1e6)


async def settled_rss(pid: int, samples: int = 5) -> float:
    values = []
    for _ in range(samples):
        values.append(rss_mb(pid))
        await asyncio.sleep(0.1)
    return median(values)


async def run(sim: Simulator, calls: int, chunks: int) -> tuple[list[Row], dict[str, Any], list[str]]:
    ours, bare = ours_http(sim.url, cache=False, name="ours"), bare_http(name="bare")
    loads = {
        "ours": (call_body("get_background_task", example_arguments()), "get_background_task"),
        "bare": (call_body(baseline_server.TOOL, {}), baseline_server.TOOL),
    }
    markers = {"ours": data.EXAMPLE_TASK_ID.encode(), "bare": f'"{baseline_server.ANSWER}"'.encode()}
    idle: dict[str, float] = {}
    peaks: dict[str, list[float]] = {"ours": [], "bare": []}
    after: dict[str, float] = {}
    errors = 0
    with running(ours, bare):
        await asyncio.sleep(0.5)
        pids = {"ours": ours.pids()[0], "bare": bare.pids()[0]}
        servers = {"ours": ours, "bare": bare}
        for name in ("ours", "bare"):
            idle[name] = await settled_rss(pids[name])
        per_chunk = max(1, calls // chunks)
        for i in range(chunks):
            for name in ("ours", "bare") if i % 2 == 0 else ("bare", "ours"):
                peak = [0.0]
                pid = pids[name]

                def sample(pid: int = pid, peak: list[float] = peak) -> None:
                    peak[0] = max(peak[0], rss_mb(pid))

                body, tool = loads[name]
                result = await run_load(
                    servers[name].port, body, tool, markers[name], calls=per_chunk, warmup=0.0, on_tick=sample
                )
                sample()
                errors += result.errors
                peaks[name].append(peak[0])
        for name in ("ours", "bare"):
            after[name] = await settled_rss(pids[name])
    total = per_chunk * chunks
    peak_ratios = [o / b for o, b in zip(peaks["ours"], peaks["bare"], strict=True)]
    rows = [
        Row(SECTION, "idle, HTTP, 1 worker", idle["ours"], "MB", "bare", idle["bare"], idle["ours"] / idle["bare"],
            "<= 1.15", note="after start, before any call"),
        Row(SECTION, "under 32 concurrent clients (peak), HTTP", median(peaks["ours"]), "MB", "bare",
            median(peaks["bare"]), median(peak_ratios), "<= 1.15", *spread(peak_ratios),
            note=f"median over {chunks} chunks of the peak RSS sampled every 50 ms"),
        Row(SECTION, f"after {total:,} calls, HTTP", after["ours"], "MB", "bare", after["bare"],
            after["ours"] / after["bare"], "<= 1.15",
            note=f"growth since idle: {after['ours'] - idle['ours']:+.1f} vs {after['bare'] - idle['bare']:+.1f} MB"),
    ]  # fmt: skip
    details = [f"- memory run: {errors} wrong answers"] if errors else []
    return rows, {"idle_mb": idle, "chunk_peaks_mb": peaks, "after_mb": after, "calls": total}, details
