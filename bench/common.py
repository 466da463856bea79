"""What every benchmark shares: the simulator process, server processes, signed direct GETs, statistics."""

from __future__ import annotations

import contextlib
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx2

from bgtask_mcp.dms.signer import AkSkSigner
from bgtask_mcp.simulator import data

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
OURS_STDIO = [PY, "-m", "bgtask_mcp", "serve"]
BARE_STDIO = [PY, "-m", "bench.baseline_server"]
LEGACY = "2025-11-25"  # the handshake era: SSE responses over HTTP, what deployed clients speak today
PYCACHE = str(Path(tempfile.gettempdir()) / "bgtask-mcp-bench-pycache")


# -- statistics -----------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def spread(values: Sequence[float]) -> tuple[float, float]:
    """Smallest and largest of the per-round figures (shown next to the median)."""
    return (min(values), max(values)) if values else (float("nan"), float("nan"))


def percentile(values: Sequence[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


class LoadMeter:
    """How much CPU processes other than this benchmark's used meanwhile (share of all cores).

    Our own CPU is this process plus every child it has reaped (servers are always stopped and waited for
    before a section ends) plus the long-lived simulator, read live.
    """

    def __init__(self, live_pids: Sequence[int] = ()) -> None:
        self.live = list(live_pids)
        self.started = time.monotonic()
        self.busy0, self.own0 = self._busy(), self._own()

    @staticmethod
    def _busy() -> float:
        import psutil

        t = psutil.cpu_times()
        return float(sum(t) - t.idle - getattr(t, "iowait", 0.0))

    def _own(self) -> float:
        import psutil

        mine = os.times()
        total = mine.user + mine.system + mine.children_user + mine.children_system
        for pid in self.live:
            with contextlib.suppress(psutil.Error):
                times = psutil.Process(pid).cpu_times()
                total += times.user + times.system
        return total

    def foreign_share(self) -> float:
        elapsed = (time.monotonic() - self.started) * (os.cpu_count() or 1)
        foreign = (self._busy() - self.busy0) - (self._own() - self.own0)
        return max(0.0, foreign / elapsed) if elapsed > 0 else 0.0


# -- environment ----------------------------------------------------------------------------------


def clean_env(**extra: str) -> dict[str, str]:
    """This process's environment without any bgtask or Huawei SDK setting, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_"))}
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    env.pop("PYTHONUNBUFFERED", None)  # the servers run as users run them
    # ... with compiled bytecode, as after a pip install; kept outside the work tree
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env["PYTHONPYCACHEPREFIX"] = PYCACHE
    env.update(extra)
    return env


def ours_env(sim_url: str, *, cache: bool = False, **extra: str) -> dict[str, str]:
    """bgtask-mcp pointed at the simulator, with its default log level (INFO: one line per call)."""
    return clean_env(
        BGTASK_ENDPOINT=sim_url,
        BGTASK_ACCESS_KEY=data.SIM_ACCESS_KEY,
        BGTASK_SECRET_KEY=data.SIM_SECRET_KEY,
        BGTASK_PROJECT_ID=data.SIM_PROJECT_ID,
        BGTASK_CACHE="on" if cache else "off",
        **extra,
    )


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    versions = {}
    for dist in ("mcp", "httpx2", "pydantic", "uvicorn", "starlette"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[dist] = version(dist)
    return {
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version() + f" ({platform.python_implementation()})",
        "os": f"{platform.system()} {platform.release()}",
        "packages": ", ".join(f"{k} {v}" for k, v in versions.items()),
    }


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_port(port: int, process: subprocess.Popen[Any], timeout: float = 30.0) -> None:
    """Until the port accepts connections (uvicorn binds only after the app's startup)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before listening on {port}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return
        time.sleep(0.02)
    raise RuntimeError(f"nothing listens on port {port} after {timeout:g} s")


def stop(process: subprocess.Popen[Any]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)


# -- the simulator --------------------------------------------------------------------------------


@dataclass
class Simulator:
    """The DMS simulator as its own process on loopback, as `python -m bgtask_mcp simulator` runs it."""

    url: str
    process: subprocess.Popen[str]

    @classmethod
    def start(cls) -> Simulator:
        process = subprocess.Popen(
            [PY, "-m", "bgtask_mcp", "simulator", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env=clean_env(),
            cwd=ROOT,
        )
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        if not match:
            stop(process)
            raise RuntimeError(f"the simulator did not start: {line!r}")
        return cls(url=match.group(1), process=process)

    def requests(self) -> int:
        """How many DMS API requests the simulator has answered so far."""
        answer = httpx2.get(self.url + "/_simulator/stats", timeout=10).json()
        return int(answer["requests"].get("all", 0))

    def set_latency(self, seconds: float) -> None:
        """Every DMS request waits this long before it is answered (a cloud round trip); 0 clears it."""
        if seconds > 0:
            rules = [{"kind": "latency", "latency_s": seconds}]
            httpx2.post(self.url + "/_simulator/faults", json={"rules": rules}, timeout=10).raise_for_status()
        else:
            httpx2.delete(self.url + "/_simulator/faults", timeout=10).raise_for_status()

    def stop(self) -> None:
        stop(self.process)

    def task_path(self, instance_id: str, task_id: str) -> str:
        return f"/v2/{data.SIM_PROJECT_ID}/instances/{instance_id}/tasks/{task_id}"

    def list_path(self, instance_id: str) -> str:
        return f"/v2/{data.SIM_PROJECT_ID}/instances/{instance_id}/tasks"


def direct_client() -> httpx2.AsyncClient:
    """The floor's DMS half: one signed httpx2 client, as lean as a caller can make it."""
    return httpx2.AsyncClient(
        auth=AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID),
        headers={"Content-Type": "application/json"},
        timeout=10.0,
    )


def finished_task_ids(sim: Simulator, instance_id: str, count: int) -> list[str]:
    """Ids of ``count`` finished tasks of an instance, read straight from the simulator."""
    signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
    with httpx2.Client(auth=signer, headers={"Content-Type": "application/json"}, timeout=10.0) as client:
        body = client.get(sim.url + sim.list_path(instance_id), params={"start": "1", "limit": "100"}).json()
    ids = [t["id"] for t in body["tasks"] if t["status"] in ("SUCCESS", "FAILED", "CANCELLED", "DELETED")]
    if len(ids) < count:
        raise RuntimeError(f"instance {instance_id} has only {len(ids)} finished tasks")
    return ids[:count]


# -- server processes -----------------------------------------------------------------------------


@dataclass
class HttpServer:
    """One MCP server process on a loopback port (streamable HTTP at /mcp)."""

    name: str
    argv: list[str]
    env: dict[str, str]
    port: int = 0
    process: subprocess.Popen[bytes] | None = None
    workers: int = 1
    log: Any = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def spawn(self) -> HttpServer:
        self.log = open(os.devnull, "wb")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            self.argv, env=self.env, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log
        )
        return self

    def ready(self) -> HttpServer:
        assert self.process is not None
        wait_port(self.port, self.process)
        return self

    def pids(self) -> list[int]:
        """The serving processes: the server itself, or its uvicorn workers when it has several."""
        import psutil

        assert self.process is not None
        parent = psutil.Process(self.process.pid)
        if self.workers <= 1:
            return [parent.pid]
        children = [c.pid for c in parent.children(recursive=True) if "resource_tracker" not in " ".join(c.cmdline())]
        return children or [parent.pid]

    def stop(self) -> None:
        if self.process is not None:
            stop(self.process)
        if self.log is not None:
            self.log.close()


def ours_http(sim_url: str, *, cache: bool, workers: int = 1, name: str = "") -> HttpServer:
    port = free_port()
    argv = [PY, "-m", "bgtask_mcp", "serve", "--transport", "http", "--port", str(port), "--workers", str(workers)]
    return HttpServer(name or "ours", argv, ours_env(sim_url, cache=cache), port=port, workers=workers)


def bare_http(*, workers: int = 1, name: str = "", upstream: str | None = None) -> HttpServer:
    """The bare server; with ``upstream`` (the simulator URL) it also has the ``fetch`` tool (bare + GET)."""
    port = free_port()
    argv = [*BARE_STDIO, "--port", str(port), "--workers", str(workers)]
    env = clean_env(BENCH_UPSTREAM=upstream) if upstream else clean_env()
    return HttpServer(name or "bare", argv, env, port=port, workers=workers)


@contextlib.contextmanager
def running(*servers: HttpServer) -> Iterator[tuple[HttpServer, ...]]:
    """Start servers in parallel, wait until all listen, stop them all at the end."""
    try:
        for server in servers:
            server.spawn()
        for server in servers:
            server.ready()
        yield servers
    finally:
        for server in servers:
            server.stop()


# -- MCP request bodies ---------------------------------------------------------------------------


def call_body(tool: str, arguments: dict[str, Any], request_id: int = 1) -> bytes:
    return json.dumps(
        {"jsonrpc": "2.0", "id": request_id, "method": "tools/call", "params": {"name": tool, "arguments": arguments}},
        separators=(",", ":"),
    ).encode()


def example_arguments() -> dict[str, str]:
    return {"instance_id": data.KAFKA.id, "task_id": data.EXAMPLE_TASK_ID}
