"""Cold start: spawn to initialized over stdio (ours vs the bare server), and the import time we add to mcp's."""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field

from bench.common import BARE_STDIO, LEGACY, OURS_STDIO, PY, ROOT, clean_env, median, ours_env, spread
from bench.report import Row

SECTION = "Cold start"

INITIALIZE = json.dumps(
    {
        "jsonrpc": "2.0",
        "id": 1,
        "method": "initialize",
        "params": {"protocolVersion": LEGACY, "capabilities": {}, "clientInfo": {"name": "bench", "version": "1"}},
    }
).encode()
INITIALIZED = b'{"jsonrpc":"2.0","method":"notifications/initialized"}'


@dataclass
class ColdStart:
    seconds: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)  # the server's own CPU seconds until it answered
    rss: list[float] = field(default_factory=list)  # MB, idle right after the handshake


def spawn_to_initialized(argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """Seconds from spawn to the initialize answer (raw JSON-RPC over pipes), the server's CPU seconds until
    then, and its idle RSS in MB."""
    import psutil

    started = time.perf_counter()
    process = subprocess.Popen(
        argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, cwd=ROOT
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(INITIALIZE + b"\n")
        process.stdin.flush()
        line = process.stdout.readline()
        elapsed = time.perf_counter() - started
        times = psutil.Process(process.pid).cpu_times()
        cpu = times.user + times.system
        answer = json.loads(line)
        if answer.get("id") != 1 or "result" not in answer:
            raise RuntimeError(f"{argv}: unexpected initialize answer {line[:300]!r}")
        process.stdin.write(INITIALIZED + b"\n")
        process.stdin.flush()
        time.sleep(0.15)  # let the notification land: the server is then idle
        rss = psutil.Process(process.pid).memory_info().rss / 1e6
        process.stdin.close()
        process.wait(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return elapsed, cpu, rss


def import_seconds(module: str) -> float:
    started = time.perf_counter()
    subprocess.run([PY, "-c", f"import {module}"], check=True, env=clean_env(), cwd=ROOT)
    return time.perf_counter() - started


def imports_beyond_mcp(top: int = 6) -> tuple[float, list[tuple[str, float]]]:
    """``-X importtime``: the modules ``import bgtask_mcp.server`` loads that ``import mcp.server`` does not."""

    def profile(module: str) -> dict[str, int]:
        proc = subprocess.run(
            [PY, "-X", "importtime", "-c", f"import {module}"],
            capture_output=True,
            text=True,
            check=True,
            env=clean_env(),
            cwd=ROOT,
        )
        selfs: dict[str, int] = {}
        for line in proc.stderr.splitlines():
            match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s*)(\S+)", line)
            if match:
                selfs[match.group(4)] = int(match.group(1))
        return selfs

    base = profile("mcp.server")
    ours = profile("bgtask_mcp.server")
    extra = {name: us for name, us in ours.items() if name not in base}
    # group by top-level package: bgtask_mcp's own modules, and the third-party ones it pulls in
    groups: dict[str, int] = {}
    for name, us in extra.items():
        key = name if name.startswith("bgtask_mcp") else name.split(".")[0]
        groups[key] = groups.get(key, 0) + us
    ranked = sorted(groups.items(), key=lambda kv: -kv[1])[:top]
    return sum(extra.values()) / 1e6, [(name, us / 1e6) for name, us in ranked]


def spawns(sim_url: str, rounds: int) -> tuple[ColdStart, ColdStart, list[float], list[float], list[float]]:
    """Ours and bare spawned in turn (the order alternating): times, CPU, RSS, and the per-round ratios."""
    ours_cmd, bare_cmd = OURS_STDIO, BARE_STDIO
    ours_e, bare_e = ours_env(sim_url, cache=True), clean_env()
    ours, bare = ColdStart(), ColdStart()
    spawn_to_initialized(ours_cmd, ours_e)  # warm the page cache and the .pyc files of both
    spawn_to_initialized(bare_cmd, bare_e)
    ratios, cpu_ratios, rss_ratios = [], [], []
    for i in range(rounds):
        pair = [(ours, ours_cmd, ours_e), (bare, bare_cmd, bare_e)]
        for target, argv, env in pair if i % 2 == 0 else reversed(pair):
            seconds, cpu, rss = spawn_to_initialized(argv, env)
            target.seconds.append(seconds)
            target.cpu.append(cpu)
            target.rss.append(rss)
        ratios.append(ours.seconds[-1] / bare.seconds[-1])
        cpu_ratios.append(ours.cpu[-1] / bare.cpu[-1])
        rss_ratios.append(ours.rss[-1] / bare.rss[-1])
    return ours, bare, ratios, cpu_ratios, rss_ratios


def imports(rounds: int) -> tuple[list[float], list[float], list[float]]:
    """``import mcp.server`` and ``import bgtask_mcp.server`` in fresh interpreters, paired and alternating."""
    import_mcp, import_ours, import_diff = [], [], []
    import_seconds("bgtask_mcp.server")
    for i in range(rounds):
        order = ["mcp.server", "bgtask_mcp.server"] if i % 2 == 0 else ["bgtask_mcp.server", "mcp.server"]
        times = {module: import_seconds(module) for module in order}
        import_mcp.append(times["mcp.server"])
        import_ours.append(times["bgtask_mcp.server"])
        import_diff.append(times["bgtask_mcp.server"] - times["mcp.server"])
    return import_mcp, import_ours, import_diff


def run(sim_url: str, rounds: int, *, profile_imports: bool = True) -> tuple[list[Row], dict[str, object], list[str]]:
    ours, bare, ratios, cpu_ratios, rss_ratios = spawns(sim_url, rounds)
    import_mcp, import_ours, import_diff = imports(rounds)
    extra_self, top = imports_beyond_mcp() if profile_imports else (float("nan"), [])
    beyond = f"beyond mcp: {median(import_diff) * 1000:+.0f} ms wall (median of paired runs)" + (
        f", {extra_self * 1000:.0f} ms in -X importtime self time" if top else ""
    )
    ms = 1000
    rows = [
        Row(SECTION, "stdio spawn to initialized", median(ours.seconds) * ms, "ms", "bare MCPServer",
            median(bare.seconds) * ms, median(ratios), "<= 1.1", *spread(ratios),
            note="raw initialize over pipes, `python -m bgtask_mcp serve` vs `python -m bench.baseline_server`"),
        Row(SECTION, "server CPU until initialized, stdio", median(ours.cpu) * ms, "ms", "bare MCPServer",
            median(bare.cpu) * ms, median(cpu_ratios), "", *spread(cpu_ratios),
            note="user+system time of the server process: hardly moved by other load on the machine"),
        Row(SECTION, "import bgtask_mcp.server", median(import_ours) * ms, "ms", "import mcp.server",
            median(import_mcp) * ms, median([o / m for o, m in zip(import_ours, import_mcp, strict=True)]),
            note=beyond),
        Row("Memory (RSS)", "idle after initialize, stdio", median(ours.rss), "MB", "bare MCPServer",
            median(bare.rss), median(rss_ratios), "<= 1.15", *spread(rss_ratios)),
    ]  # fmt: skip
    raw = {"spawn_ours_s": ours.seconds, "spawn_bare_s": bare.seconds, "cpu_ours_s": ours.cpu,
           "cpu_bare_s": bare.cpu, "rss_ours_mb": ours.rss, "rss_bare_mb": bare.rss, "import_mcp_s": import_mcp,
           "import_ours_s": import_ours, "imports_beyond_mcp": top}  # fmt: skip
    listed = ", ".join(f"{name} {sec * 1000:.0f} ms" for name, sec in top)
    by_package = "-X importtime self time of the modules only bgtask_mcp loads, by package"
    details = [f"- Import beyond `mcp.server` ({by_package}): {listed}."] if top else []
    return rows, raw, details
