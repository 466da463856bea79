"""The MCP TypeScript SDK's client (pinned in tests/tsclient/package-lock.json) waits for a scale-out task over
streamable HTTP: a generic progress bar gets 0..100 of a total of 100, with the human sentence in the message,
and a final notification at 100 when the task has finished."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, sim_env
from .external import apt_binary, npm_project
from .servers import HttpServer, start_server

TOKEN = "typescript-client-test-token-4c1f8e2a9b7d6035"


@pytest.fixture(scope="module")
def server(simulator_process: Simulator) -> Iterator[HttpServer]:
    srv = start_server("typescript-client-server.log", clean_env(**sim_env(simulator_process), BGTASK_HTTP_TOKEN=TOKEN))
    try:
        yield srv
    finally:
        srv.stop()


def test_a_wait_shows_the_percentage_of_100_in_a_generic_progress_bar(server: HttpServer, simulator: Simulator) -> None:
    directory = npm_project(Path(__file__).parent / "tsclient", "tsclient")
    task = simulator.create_task(
        instance_id=data.KAFKA.id, name="resizeInstance", manual=True, status="EXECUTING", progress_steps=["a", "b"]
    )
    steps = iter([{"progress": 50}, {"status": "SUCCESS", "progress": 100}])
    args = {"instance_id": data.KAFKA.id, "task_id": task, "timeout_seconds": 120, "poll_interval_seconds": 0.2}
    node = apt_binary("node", "nodejs")
    client = subprocess.Popen([node, "wait.mjs", server.mcp_url, TOKEN, json.dumps(args)], cwd=directory,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    assert client.stdout is not None
    lines: list[dict[str, Any]] = []
    try:
        for raw in client.stdout:  # each notification moves the task on: the next read sees it
            lines.append(json.loads(raw))
            step = next(steps, None)
            if "progress" in lines[-1] and step is not None:
                simulator.steer(task, **step)
        assert client.wait(timeout=60) == 0, client.stderr.read() if client.stderr else ""
    finally:
        if client.poll() is None:
            client.kill()
    *progress, final = lines
    assert (
        final["isError"] is False
        and final["result"]["succeeded"] is True
        and final["result"]["progress"]["percentage"] == 100
    )
    assert [(p["progress"], p["total"]) for p in progress] == [(0, 100), (50, 100), (100, 100)]
    assert "50% done" in progress[1]["message"] and "finished successfully" in progress[-1]["message"]
