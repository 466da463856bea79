"""Over stdio, stdout carries JSON-RPC frames and nothing else, even with DEBUG logging on.

The real command (``python -m bgtask_mcp serve``) is spawned against the simulator and spoken to in raw
JSON-RPC, one line per message: initialize, notifications/initialized, tools/list, successful calls,
every kind of failing call (bad arguments, DMS errors, retried faults, an unknown tool, a line that is
not JSON), then stdin is closed. Every line the process wrote to stdout must parse as a JSON-RPC 2.0
message; the logs must have gone to stderr (and hold no secret).
"""

from __future__ import annotations

import json
import queue
import subprocess
import sys
import threading
import time
from typing import IO, Any

import pytest

from bgtask_mcp.simulator import data

from .conftest import Simulator, clean_env, emitted, sim_env

PROTOCOL = "2025-11-25"
SECURITY_TOKEN = "FAKE-STDIO-SECURITY-TOKEN-5e1d"
KAFKA = data.KAFKA.id


class StdioPeer:
    """The server process, with every stdout line kept and parsed replies matched by id."""

    def __init__(self, env: dict[str, str], stderr: IO[bytes]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "bgtask_mcp", "serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=stderr,
            env=env,
        )
        self.lines: list[bytes] = []
        self._queue: queue.Queue[bytes | None] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self._next_id = 0

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            self._queue.put(line)
        self._queue.put(None)

    def send(self, message: dict[str, Any] | bytes) -> None:
        assert self.process.stdin is not None
        raw = message if isinstance(message, bytes) else json.dumps(message).encode()
        self.process.stdin.write(raw + b"\n")
        self.process.stdin.flush()

    def request(self, method: str, params: dict[str, Any] | None = None, timeout: float = 20) -> dict[str, Any]:
        self._next_id += 1
        ident = self._next_id
        self.send({"jsonrpc": "2.0", "id": ident, "method": method, "params": params or {}})
        return self.reply(ident, timeout)

    def reply(self, ident: int | str | None, timeout: float = 20) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, f"no reply to request {ident} within {timeout} s"
            line = self._queue.get(timeout=left)
            assert line is not None, "the server closed stdout before replying"
            message = json.loads(line)  # a line that is not JSON fails here too
            if message.get("id") == ident and ("result" in message or "error" in message):
                return message  # type: ignore[no-any-return]

    def call(self, tool: str, **arguments: Any) -> dict[str, Any]:
        reply = self.request("tools/call", {"name": tool, "arguments": arguments})
        assert "result" in reply, reply
        return reply["result"]  # type: ignore[no-any-return]

    def close(self, timeout: float = 15) -> int:
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError("the server did not exit after stdin closed") from None
        self._reader.join(timeout=5)
        return code


def assert_json_rpc_lines(lines: list[bytes]) -> None:
    assert lines, "nothing was written to stdout"
    for number, line in enumerate(lines, 1):
        try:
            frame = json.loads(line)
        except ValueError:
            raise AssertionError(f"stdout line {number} is not JSON: {line[:200]!r}") from None
        assert isinstance(frame, dict) and frame.get("jsonrpc") == "2.0", f"line {number}: {line[:200]!r}"
        assert "id" in frame or "method" in frame, f"line {number} is not a JSON-RPC message: {line[:200]!r}"
        assert line.endswith(b"\n"), f"line {number} is not terminated"


def test_the_frame_check_can_fail() -> None:
    good = b'{"jsonrpc": "2.0", "id": 1, "result": {}}\n'
    assert_json_rpc_lines([good])
    for bad in (b"2026-11-28 DEBUG bgtask_mcp a log line\n", b'{"id": 1}\n', b"[]\n", b'{"jsonrpc": "2.0"}\n'):
        with pytest.raises(AssertionError):
            assert_json_rpc_lines([good, bad])
    with pytest.raises(AssertionError):
        assert_json_rpc_lines([])


def text(result: dict[str, Any]) -> str:
    return " ".join(block.get("text", "") for block in result.get("content", []))


def handshake(peer: StdioPeer) -> None:
    init = peer.request(
        "initialize",
        {"protocolVersion": PROTOCOL, "capabilities": {}, "clientInfo": {"name": "purity", "version": "0"}},
        timeout=30,
    )
    assert init["result"]["serverInfo"]["name"] == "bgtask-mcp"
    peer.send({"jsonrpc": "2.0", "method": "notifications/initialized"})
    tools = peer.request("tools/list")["result"]["tools"]
    names = {
        "list_changes",
        "list_instances",
        "get_background_task",
        "list_background_tasks",
        "wait_for_background_task",
    }
    assert {t["name"] for t in tools} == names


def successes(peer: StdioPeer) -> None:
    ok = peer.call("get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert not ok.get("isError") and ok["structuredContent"]["tasks"][0]["id"] == data.EXAMPLE_TASK_ID
    masked = peer.call("get_background_task", instance_id=KAFKA, task_id=data.PASSWORD_TASK_ID)
    assert masked["structuredContent"]["tasks"][0]["params"]["new_password"] == "***"
    listed = peer.call("list_background_tasks", instance_id=KAFKA, limit=3, status="SUCCESS")
    assert not listed.get("isError")
    waited = peer.call("wait_for_background_task", instance_id=KAFKA, task_id=data.FAILED_TASK_ID, timeout_seconds=2)
    assert waited["structuredContent"]["finished"] is True


def failures(peer: StdioPeer, simulator: Simulator) -> None:
    """Each a tool error with text a person can act on; a fault that is retried, then one that is not."""
    for arguments, expected in [
        ({"instance_id": "bad id", "task_id": "x"}, "is not a DMS instance id"),
        ({"instance_id": "00000000-0000-4000-8000-000000000000", "task_id": "f" * 32}, "DMS.00404022"),
        ({"instance_id": KAFKA, "task_id": "f" * 32}, "no task ffff"),
        ({"instance_id": KAFKA}, "task_id"),
    ]:
        failed = peer.call("get_background_task", **arguments)
        assert failed["isError"] is True and expected in text(failed), text(failed)
    simulator.faults({"kind": "throttle", "path_contains": "/tasks", "count": 2})
    retried = peer.call("list_background_tasks", instance_id=data.RABBITMQ.id)
    assert not retried.get("isError"), text(retried)
    simulator.faults({"kind": "forbidden", "path_contains": "/tasks"})
    forbidden = peer.call("list_background_tasks", instance_id=data.ROCKETMQ.id)
    assert forbidden["isError"] and "DMS.00403003" in text(forbidden)
    simulator.faults()


def protocol_errors(peer: StdioPeer) -> None:
    """JSON-RPC error frames, after which the server still answers normally."""
    unknown = peer.request("tools/call", {"name": "no_such_tool", "arguments": {}})
    assert "error" in unknown or unknown["result"].get("isError"), unknown
    assert "error" in peer.request("no/such/method")
    peer.send(b"this line is not JSON")
    peer.send(b"")
    again = peer.call("get_background_task", instance_id=KAFKA, task_id=data.EXAMPLE_TASK_ID)
    assert not again.get("isError")


def test_stdout_holds_only_json_rpc_frames(simulator: Simulator) -> None:
    env = clean_env(**sim_env(simulator, BGTASK_LOG_LEVEL="DEBUG", BGTASK_SECURITY_TOKEN=SECURITY_TOKEN))
    with emitted("stdio-purity.log").open("w+b") as stderr:
        peer = StdioPeer(env, stderr)
        try:
            handshake(peer)
            successes(peer)
            failures(peer, simulator)
            protocol_errors(peer)
        finally:
            code = peer.close()
        stderr.seek(0)
        logs = stderr.read().decode("utf-8", "replace")

    assert code == 0
    assert_json_rpc_lines(peer.lines)

    # the logs went to stderr, at DEBUG, with the retries in them and no secret
    assert " DEBUG bgtask_mcp" in logs, logs[-2000:]
    assert "retrying DMS request after APIG.0308" in logs
    assert "call caller=local tool=get_background_task instance=" in logs and "outcome=ok" in logs
    for secret in (data.SIM_SECRET_KEY, SECURITY_TOKEN, "Sup3r-S3cret!"):
        assert secret not in logs
