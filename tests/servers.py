"""Server processes for the tests: `bgtask-mcp serve --transport http` on a free loopback port, its output in a
file the journal of emitted text reads, and waiting for events (a line written, a request counted)."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2

from .conftest import emitted

LOG_LINE = re.compile(
    r"http method=(?P<method>\S+) path=(?P<path>\S+) rpc=(?P<rpc>\S+) tool=(?P<tool>\S+) caller=(?P<caller>\S+) "
    r"status=(?P<status>\d+) finished=(?P<finished>\S+) duration_ms=(?P<ms>[\d.]+) dms_request_id=(?P<rid>\S+) "
    r"pid=(?P<pid>\d+)"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def eventually(condition: Callable[[], Any], what: str, seconds: float = 30.0) -> Any:
    """Wait for an event (a line written, a request counted); the cap only turns a hang into a failure."""
    deadline = time.monotonic() + seconds
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


@dataclass
class HttpServer:
    """`bgtask-mcp serve --transport http` in its own process; its stderr goes to a file the journal reads."""

    port: int
    process: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def mcp_url(self) -> str:
        return self.base + "/mcp"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_lines(self, **want: str) -> list[re.Match[str]]:
        found = list(LOG_LINE.finditer(self.log()))
        return [m for m in found if all(m.group(k) == v for k, v in want.items())]

    def wait_for_log_lines(self, count: int, **want: str) -> list[re.Match[str]]:
        """The gate writes its line once the response is sent, so it may trail the client by a moment."""

        def enough() -> list[re.Match[str]] | None:
            lines = self.log_lines(**want)
            return lines if len(lines) >= count else None

        found: list[re.Match[str]] = eventually(enough, f"{count} log lines {want}")
        return found

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=5)


def start_server(name: str, env: dict[str, str], *args: str, port: int | None = None) -> HttpServer:
    port = port or free_port()
    log_path = emitted(name)
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "bgtask_mcp", "serve", "--transport", "http", "--port", str(port), *args],
            env={**env, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
        )
    server = HttpServer(port=port, process=process, log_path=log_path)

    def healthy() -> bool:
        if process.poll() is not None:
            raise AssertionError(f"server exited with {process.returncode}:\n{server.log()}")
        with suppress(httpx2.HTTPError):
            return httpx2.get(server.base + "/healthz", timeout=1).status_code == 200
        return False

    try:
        eventually(healthy, f"{name} answers /healthz", seconds=60)
    except AssertionError:
        server.stop()
        raise
    return server


def call_tool(server: HttpServer, token: str, tool: str, arguments: dict[str, Any]) -> dict[str, Any]:
    """One stateless tools/call over streamable HTTP (no session), as a load balancer's replica sees it; returns
    the JSON-RPC result, a tool error included (``isError``)."""
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": {"name": tool, "arguments": arguments}}
    headers = {"Accept": "application/json, text/event-stream", "MCP-Protocol-Version": "2025-11-25",
               "Authorization": f"Bearer {token}"}  # fmt: skip
    answer = httpx2.post(server.mcp_url, json=body, headers=headers, timeout=60)
    assert answer.status_code == 200, answer.text
    text = answer.text
    if not text.startswith("{"):  # an SSE stream: the result is the last data line
        text = [line[5:] for line in text.splitlines() if line.startswith("data:")][-1]
    result: dict[str, Any] = json.loads(text)["result"]
    return result
