"""What tracing costs per call over stdio (2025-11-25, cache off): bgtask-mcp as shipped, with no
OTEL_EXPORTER_OTLP_ENDPOINT (the OpenTelemetry API only, a no-op), against the same server with no span code at
all; and with the SDK installed and spans exported (to an exporter that discards them), against as shipped.
All three are measured interleaved in the same rounds."""

from __future__ import annotations

import contextlib
import os
from typing import Any

from mcp import Client, StdioServerParameters
from mcp.client.stdio import stdio_client

from bench.common import OURS_STDIO, PY, ROOT, Simulator, median, ours_env, spread
from bench.latency import measure, ours_call
from bench.report import Row

SECTION = "Tracing: what OpenTelemetry costs per call (stdio, 2025-11-25, cache off)"
SERVERS = {
    "shipped": OURS_STDIO,
    "untraced": [PY, "-m", "bench.tracing_server", "untraced"],
    "traced": [PY, "-m", "bench.tracing_server", "traced"],
}


async def run(sim: Simulator, rounds: int, per_round: int) -> tuple[list[Row], dict[str, Any], list[str]]:
    async with contextlib.AsyncExitStack() as stack:
        devnull = stack.enter_context(open(os.devnull, "w"))  # noqa: ASYNC230, SIM115 - /dev/null never blocks
        calls = {}
        for name, argv in SERVERS.items():
            params = StdioServerParameters(command=argv[0], args=argv[1:], env=ours_env(sim.url), cwd=str(ROOT))
            client = await stack.enter_async_context(Client(stdio_client(params, errlog=devnull), mode="legacy"))
            calls[name] = ours_call(client)
        results, _ = await measure(calls, {}, rounds, per_round)
    rows = [
        _row("tracing off (as shipped)", results["shipped"], "no span code", results["untraced"], "<= 1.05",
             "no OTEL_EXPORTER_OTLP_ENDPOINT: the SDK's middleware and our DMS span run against the no-op API"),
        _row("tracing on (SDK, spans exported)", results["traced"], "as shipped", results["shipped"], "",
             "OTEL_EXPORTER_OTLP_ENDPOINT set: a server and a DMS span per call, batched to an exporter"),
    ]  # fmt: skip
    return rows, {"latency_ms_per_round": results}, []


def _row(what: str, ours: list[float], ref_name: str, ref: list[float], target: str, note: str) -> Row:
    ratios = [o / r for o, r in zip(ours, ref, strict=True)]
    return Row(SECTION, what, median(ours), "ms", ref_name, median(ref), median(ratios), target, *spread(ratios),
               note=note)  # fmt: skip
