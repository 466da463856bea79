"""``python -m bench``: run every benchmark against the simulator on loopback, write bench/results/.

python -m bench            # the full run (a few minutes on 2 cores): results.md, results.png, results.json
python -m bench --quick    # a smoke run for CI (< 60 s), written to bench/results/quick/
python -m bench --only latency,throughput
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import cache, coldstart, latency, memory, output, soak, throughput, tracing
from bench.common import ROOT, LoadMeter, Simulator, machine
from bench.report import Row, console, markdown, plot, update_readme, write_json

PERFORMANCE_DOC = ROOT / "docs" / "performance.md"
SECTIONS = ("cold", "latency", "tracing", "throughput", "cache", "memory", "soak", "output")

METHOD = [
    "- Servers: `python -m bgtask_mcp serve` (stdio) and `serve --transport http` (stateless streamable HTTP, "
    "SSE answers, uvicorn), with their default log level (INFO, one line per call, to /dev/null here); the "
    "yardstick is `bench/baseline_server.py`, a bare `MCPServer` served the same way, with one trivial tool "
    "(`echo`) and, given the simulator's URL, one that does a single signed GET of the task and returns the raw "
    "text (`fetch`): the least any server that reads DMS on every call can do.",
    "- The DMS backend is the embedded simulator in its own process (`python -m bgtask_mcp simulator`), reached "
    "over loopback with real AK/SK signatures, which it verifies.",
    "- Latency: the SDK's `Client` (2025-11-25 handshake era, and the 2026-07-28 era where shown), one call at "
    "a time; within a round every measurement (ours, the bare tool, the direct GET, the official SDK, over "
    "every transport) is called once in a shuffled order, again and again, so that whatever else the machine "
    "does weighs on all of them alike. The floor is the bare server's `fetch` over the same transport; each "
    "row's note also gives the sum of the bare `echo` and a direct signed `httpx2` GET (`AkSkSigner`) from the "
    "bench process, a lower bound no server reaches (it leaves out the GET's cost inside the server process). "
    "Server CPU per call comes from psutil. Tracing: the same calls to three stdio servers, as shipped, without "
    "any span code, and with the OpenTelemetry SDK exporting.",
    "- Throughput and memory: a raw asyncio HTTP/1.1 client (`bench/loadgen.py`) with 32 keep-alive "
    "connections sends 2025-11-25 `tools/call` requests and checks every answer; the load generator, the "
    "server(s) and the simulator share the machine's cores.",
    "- Cold start: spawn to the `initialize` answer over pipes, raw JSON-RPC, alternating ours and bare. Child "
    "processes compile bytecode into a private PYTHONPYCACHEPREFIX (as after a pip install, whatever "
    "PYTHONDONTWRITEBYTECODE says); the first, uncounted spawn of each fills it.",
]


@dataclass
class Plan:
    quick: bool
    cold_rounds: int = 11  # spawns vary most with what else the machine does: more rounds, a steadier median
    latency_rounds: int = 7
    latency_calls: int = 100
    eras: list[str] = field(default_factory=lambda: ["legacy", "auto"])
    rtt_rounds: int = 3
    tp_rounds: int = 3
    tp_seconds: float = 2.5
    workers: list[int] = field(default_factory=lambda: [1, 2])
    cache_rounds: int = 5
    cache_calls: int = 100
    mem_calls: int = 10_000
    mem_chunks: int = 5
    soak_calls: int = 10_000
    soak_chunks: int = 10

    @classmethod
    def make(cls, quick: bool) -> Plan:
        if not quick:
            return cls(quick=False)
        return cls(
            quick=True,
            cold_rounds=2,
            latency_rounds=3,
            latency_calls=30,
            eras=["legacy"],
            rtt_rounds=0,
            tp_rounds=4,  # the median of four paired rounds: two would be their mean, and one noisy second sways it
            tp_seconds=0.5,
            workers=[1],
            cache_rounds=3,
            cache_calls=20,
            mem_calls=400,
            mem_chunks=2,
            soak_calls=600,
            soak_chunks=3,
        )

    def describe(self) -> str:
        return (
            f"cold start {self.cold_rounds}; latency {self.latency_rounds} x {self.latency_calls} calls; "
            f"throughput {self.tp_rounds} x {self.tp_seconds:g} s per config; cache {self.cache_rounds} x "
            f"{self.cache_calls} calls; memory {self.mem_calls:,} calls in {self.mem_chunks} chunks; soak "
            f"{self.soak_calls:,} calls in {self.soak_chunks} chunks"
        )


def product() -> str:
    from bgtask_mcp import __version__

    text = f"bgtask-mcp {__version__}"
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "bgtask_mcp"], cwd=ROOT, capture_output=True, text=True, check=True
        ).stdout.strip()
        text += f" at {head}" + (" with uncommitted changes in bgtask_mcp/" if dirty else "")
    return text


@dataclass
class Results:
    rows: list[Row] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)
    details: list[str] = field(default_factory=lambda: list(METHOD))
    busy: dict[str, float] = field(default_factory=dict)  # other processes' CPU share, per section


def measure(plan: Plan, only: list[str]) -> Results:
    """Every selected section against one simulator process, in order."""
    results = Results()
    sim = Simulator.start()
    overall = LoadMeter([sim.process.pid])

    def step(name: str, fn: Callable[[], tuple[list[Row], Any, list[str]]]) -> None:
        if name not in only:
            return
        began = time.perf_counter()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        meter = LoadMeter([sim.process.pid])
        section_rows, section_raw, section_details = fn()
        results.busy[name] = meter.foreign_share()
        results.rows.extend(section_rows)
        results.raw[name] = section_raw
        results.details.extend(section_details)
        print(f"[bench] {name} done in {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)

    try:
        step("cold", lambda: coldstart.run(sim.url, plan.cold_rounds, profile_imports=not plan.quick))
        step("latency", lambda: asyncio.run(latency.run(sim, plan.latency_rounds, plan.latency_calls, plan.eras,
                                                        rtt_rounds=plan.rtt_rounds)))  # fmt: skip
        step("tracing", lambda: asyncio.run(tracing.run(sim, plan.latency_rounds, plan.latency_calls)))
        step("throughput", lambda: asyncio.run(throughput.run(sim, plan.tp_rounds, plan.tp_seconds, plan.workers)))
        step("cache", lambda: asyncio.run(cache.run(sim, plan.cache_rounds, plan.cache_calls)))
        step("memory", lambda: asyncio.run(memory.run(sim, plan.mem_calls, plan.mem_chunks)))
        step("soak", lambda: asyncio.run(soak.run(sim, plan.soak_calls, plan.soak_chunks)))
        step("output", lambda: asyncio.run(output.run(sim)))
        results.busy["whole run"] = overall.foreign_share()
    finally:
        sim.stop()
    results.details.append(
        "- CPU used by other processes on the machine meanwhile (share of all cores): "
        + ", ".join(f"{name} {share:.0%}" for name, share in results.busy.items())
        + ". Ratios are measured interleaved to withstand this; absolute figures suffer more."
    )
    titles = [coldstart.SECTION, latency.SECTION, latency.RTT_SECTION, latency.SDK_SECTION, tracing.SECTION,
              throughput.SECTION, cache.SECTION, memory.SECTION, soak.SECTION, output.SECTION]  # fmt: skip
    results.rows.sort(key=lambda r: titles.index(r.section) if r.section in titles else len(titles))  # stable
    return results


def write(results: Results, meta: dict[str, Any], out: Path, *, readme: bool) -> None:
    (out / "results.md").write_text(markdown(results.rows, meta, results.details))
    write_json(out / "results.json", results.rows, meta, results.raw)
    try:
        plot(out / "results.png", results.rows, meta)
    except ImportError as exc:
        print(f"[bench] no plot: {exc}", file=sys.stderr)
    if readme:  # a full run: docs/performance.md shows it
        updated = update_readme(PERFORMANCE_DOC, results.rows, meta)
        state = "updated" if updated else "has no bench markers: not updated"
        print(f"[bench] {PERFORMANCE_DOC.relative_to(ROOT)} {state}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a short smoke run (< 60 s), for CI")
    parser.add_argument("--only", help=f"comma-separated sections to run: {', '.join(SECTIONS)}")
    parser.add_argument("--out", type=Path, help="output folder (default bench/results, or bench/results/quick)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)
    only = [s.strip() for s in args.only.split(",")] if args.only else list(SECTIONS)
    unknown = set(only) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown section(s): {', '.join(sorted(unknown))}")
    plan = Plan.make(args.quick)
    out = args.out or (ROOT / "bench" / "results" / ("quick" if args.quick else ""))
    out.mkdir(parents=True, exist_ok=True)

    started = time.perf_counter()
    results = measure(plan, only)
    meta = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": time.perf_counter() - started,
        "quick": plan.quick,
        "rounds": plan.describe(),
        "machine": machine(),
        "product": product(),
        "foreign_cpu_share": results.busy,
    }
    write(results, meta, out, readme=not plan.quick and args.out is None and set(only) == set(SECTIONS))
    print(console(results.rows, meta))
    for line in results.details[len(METHOD) :]:
        print(line)
    print(f"\nwritten: {out / 'results.md'}, {out / 'results.png'} ({meta['seconds']:.0f} s)")
    missed = [r for r in results.rows if r.verdict == "MISSED"]
    return 1 if args.strict and missed else 0
