"""Shared fixtures: one DMS simulator process on loopback for the session (one port per region), settings
pointing at it, MCP clients driving the real server in process (both protocol eras), and the journal of
everything the server emitted, searched at the end for the simulator's seeded secrets."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import httpx2
import mcp
import pytest
from mcp import Client

from bgtask_mcp.config import Settings, load_settings
from bgtask_mcp.server import build_server
from bgtask_mcp.simulator import data

from .support import Journal, JournalHandler

FAKE_SECRET_KEY = data.SIM_SECRET_KEY
FAKE_ACCESS_KEY = data.SIM_ACCESS_KEY
MODES = ["legacy", "auto"]  # 2025-11-25 (initialize handshake) and 2026-07-28 (stateless)
JOURNAL = Journal()


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


# -- the journal: everything the server emits, searched for seeded secrets at the end ------------------------


@pytest.fixture(scope="session", autouse=True)
def journal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Journal]:
    JOURNAL.log_dir = tmp_path_factory.mktemp("emitted")
    handler = JournalHandler(JOURNAL)
    logging_root = __import__("logging").getLogger()
    logging_root.addHandler(handler)
    originals = {name: getattr(mcp.Client, name) for name in ("call_tool", "read_resource", "get_prompt")}

    def recorded(name: str) -> Any:
        async def call(self: Client, *args: Any, **kwargs: Any) -> Any:
            result = await originals[name](self, *args, **kwargs)
            JOURNAL.add_result(result)
            return result

        return call

    for name in originals:
        setattr(mcp.Client, name, recorded(name))
    try:
        yield JOURNAL
    finally:
        for name, original in originals.items():
            setattr(mcp.Client, name, original)
        logging_root.removeHandler(handler)
        leaks = JOURNAL.leaks(data.SEEDED_SECRETS)
        assert not leaks, f"seeded secrets reached the server's output: {leaks[:5]}"


def emitted(name: str) -> Path:
    """A file for a server process's output: searched for seeded secrets at the end of the session."""
    assert JOURNAL.log_dir is not None
    return JOURNAL.log_dir / name


# -- the simulator ------------------------------------------------------------------------------------------


@dataclass
class Simulator:
    """A DMS simulator running as its own process, reached over real loopback HTTP, one port per region."""

    urls: dict[str, str]
    process: subprocess.Popen[str]

    @property
    def url(self) -> str:
        return self.urls["eu-de"]

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

    def steer(self, task_id: str, **fields: Any) -> None:
        self.control("POST", f"/_simulator/tasks/{task_id}", fields)


def start_simulator_process() -> Simulator:
    process = subprocess.Popen(
        [sys.executable, "-m", "bgtask_mcp", "simulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    urls: dict[str, str] = {}
    for line in process.stdout:
        match = re.match(r"\s+region (\S+): (http://127\.0\.0\.1:\d+)", line)
        if match:
            urls[match.group(1)] = match.group(2)
        if line.startswith("point bgtask-mcp"):
            break
    if set(urls) != {r.name for r in data.REGIONS}:
        process.kill()
        raise RuntimeError(f"simulator did not start: {urls}")
    return Simulator(urls=urls, process=process)


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


def region_env(sim: Simulator) -> dict[str, str]:
    """Every region's endpoint (the official SDK's override) and the simulator's IAM."""
    env = {"BGTASK_IAM_ENDPOINT": sim.url + "/v3"}
    for region, url in sim.urls.items():
        env[f"HUAWEICLOUD_SDK_REGION_KAFKA_{region.upper().replace('-', '_')}"] = url
        env[f"HUAWEICLOUD_SDK_REGION_CTS_{region.upper().replace('-', '_')}"] = url  # CTS on the same port
    return env


def sim_env(sim: Simulator, **extra: str) -> dict[str, str]:
    """AK/SK, the default region eu-de with its project configured (so that request counts stay simple)."""
    return {
        **region_env(sim),
        "BGTASK_REGION": "eu-de",
        "BGTASK_ACCESS_KEY": FAKE_ACCESS_KEY,
        "BGTASK_SECRET_KEY": FAKE_SECRET_KEY,
        "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID,
        **extra,
    }


def fast_settings(env: dict[str, str], **flags: Any) -> Settings:
    """Settings with short backoff so retry tests take milliseconds, not seconds."""
    settings = load_settings(env, **flags)
    limits = replace(settings.limits, backoff_base=0.01, backoff_cap=0.05, call_deadline=10.0)
    return settings.replace(limits=limits)


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
    """The process environment without any bgtask, Huawei SDK or clouds.yaml settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BGTASK_", "HUAWEICLOUD_SDK_", "OS_"))}
    env.update(extra)
    return env
