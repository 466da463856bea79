"""Shared fixtures: one DMS simulator process on loopback for the session, settings pointing at it,
and MCP clients driving the real server in process (both protocol eras)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest
from mcp import Client

from bgtask_mcp.config import Settings, load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

# Obviously fake credentials for tests that must never reach a log line or a result.
FAKE_SECRET_KEY = data.SIM_SECRET_KEY
FAKE_ACCESS_KEY = data.SIM_ACCESS_KEY

MODES = ["legacy", "auto"]  # 2025-11-25 (initialize handshake) and 2026-07-28 (stateless)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Simulator:
    """A DMS simulator running as its own process, reached over real loopback HTTP."""

    url: str
    process: subprocess.Popen[str]

    def control(self, method: str, path: str, json: Any = None) -> Any:
        response = httpx2.request(method, self.url + path, json=json, timeout=10)
        response.raise_for_status()
        return response.json()

    def reset(self) -> None:
        self.control("POST", "/_simulator/reset")

    def faults(self, *rules: dict[str, Any]) -> None:
        self.control("POST", "/_simulator/faults", {"rules": list(rules)})

    def stats(self) -> dict[str, int]:
        return self.control("GET", "/_simulator/stats")["requests"]  # type: ignore[no-any-return]

    def create_task(self, **fields: Any) -> str:
        return self.control("POST", "/_simulator/tasks", fields)["id"]  # type: ignore[no-any-return]


def start_simulator_process() -> Simulator:
    process = subprocess.Popen(
        [sys.executable, "-m", "bgtask_mcp", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    match = re.search(r"(http://127\.0\.0\.1:\d+)", line)
    if not match:
        process.kill()
        raise RuntimeError(f"simulator did not start: {line!r}")
    return Simulator(url=match.group(1), process=process)


@pytest.fixture(scope="session")
def simulator_process() -> Iterator[Simulator]:
    sim = start_simulator_process()
    try:
        yield sim
    finally:
        sim.process.terminate()
        try:
            sim.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            sim.process.kill()


@pytest.fixture
def simulator(simulator_process: Simulator) -> Simulator:
    """The session simulator with faults, counters and lockouts cleared."""
    simulator_process.reset()
    return simulator_process


def sim_env(sim: Simulator, **extra: str) -> dict[str, str]:
    return {
        "BGTASK_ENDPOINT": sim.url,
        "BGTASK_ACCESS_KEY": FAKE_ACCESS_KEY,
        "BGTASK_SECRET_KEY": FAKE_SECRET_KEY,
        "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID,
        **extra,
    }


def fast_settings(env: dict[str, str], **flags: Any) -> Settings:
    """Settings with short backoff so retry tests take milliseconds, not seconds."""
    settings = load_settings(env, **flags)
    limits = settings.limits.__class__(
        **{**settings.limits.__dict__, "backoff_base": 0.01, "backoff_cap": 0.05, "call_deadline": 10.0}
    )
    return settings.with_(limits=limits)


@pytest.fixture
def settings(simulator: Simulator) -> Settings:
    return fast_settings(sim_env(simulator))


@pytest.fixture(params=MODES)
def mode(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def mcp_client(settings: Settings, mode: str) -> AsyncIterator[Client]:
    async with Client(build_server(settings), mode=mode) as client:  # type: ignore[arg-type]
        yield client


def clean_env(**extra: str) -> dict[str, str]:
    """The process environment without any bgtask or Huawei SDK settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_"))}
    env.update(extra)
    return env
