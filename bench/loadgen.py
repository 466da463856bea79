"""A lean HTTP/1.1 load generator: N keep-alive connections, each a client sending one MCP tools/call after
another over the 2025-11-25 (handshake era) stateless protocol and reading the SSE answer.

Raw asyncio streams instead of an HTTP library, so that on a 2-core machine the client spends as little
CPU as possible and the server under test is what saturates (the "32 raw clients" of the SDK's
reference table). Every answer is checked: a JSON-RPC result, ``isError: false`` and an expected marker.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import LEGACY


@dataclass
class LoadResult:
    calls: int = 0  # answered and correct within the measured window
    work: float = 0.0  # calls done inside a timed window: each counted by the share of its time that fell inside
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""

    @property
    def per_second(self) -> float:
        """Calls per second. In a timed window, calls that straddle its edges count by the share inside it: 32
        clients served in turn finish in waves, and counting whole answers would round the rate to a wave (about
        a seventh in a 0.5 s window)."""
        done = self.work if self.work else self.calls
        return done / self.seconds if self.seconds else 0.0


def request_bytes(port: int, body: bytes, tool: str, extra_headers: str = "") -> bytes:
    """One tools/call request; ``extra_headers`` are whole ``Name: value\\r\\n`` lines (an Authorization)."""
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json, text/event-stream\r\n"
        f"Content-Type: application/json\r\nMcp-Protocol-Version: {LEGACY}\r\nMcp-Method: tools/call\r\n"
        f"Mcp-Name: {tool}\r\n{extra_headers}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = None
    chunked = False
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        lowered = name.strip().lower()
        if lowered == b"content-length":
            length = int(value.strip())
        elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if length is not None:
        return status, await reader.readexactly(length)
    if not chunked:
        raise ValueError("response with neither Content-Length nor chunked encoding")
    parts: list[bytes] = []
    while True:
        size = int((await reader.readline()).split(b";", 1)[0], 16)
        if size == 0:
            await reader.readline()  # the empty trailer line
            return status, b"".join(parts)
        parts.append((await reader.readexactly(size + 2))[:-2])


def check_answer(status: int, body: bytes, marker: bytes) -> str | None:
    """None when the answer is a successful tool result carrying ``marker``, else what is wrong."""
    if status != 200:
        return f"HTTP {status}: {body[:200]!r}"
    if b'"result"' not in body or b'"isError":false' not in body or marker not in body:
        return f"unexpected answer: {body[:300]!r}"
    return None


@dataclass
class _Run:
    """One load run's shared state: the measured window, the target count, the tally."""

    port: int
    payload: bytes
    marker: bytes
    measure_from: float
    stop_at: float | None
    calls: int | None
    result: LoadResult = field(default_factory=LoadResult)
    done: asyncio.Event = field(default_factory=asyncio.Event)

    def record(self, sent: float, now: float, status: int, answer: bytes) -> bool:
        """Count one answer; False when this client should stop (past the window)."""
        problem = check_answer(status, answer, self.marker)
        if problem:
            self.result.errors += 1
            self.result.first_error = self.result.first_error or problem
            return True
        if self.stop_at is not None:
            inside = min(now, self.stop_at) - max(sent, self.measure_from)
            if inside > 0:
                self.result.work += inside / (now - sent)
        if now < self.measure_from and self.calls is None:
            return True  # warm-up
        if self.stop_at is not None and now > self.stop_at:
            return False
        self.result.calls += 1
        self.result.latencies.append(now - sent)
        if self.calls is not None and self.result.calls >= self.calls:
            self.done.set()
        return True


async def _client(run: _Run) -> None:
    """One keep-alive connection sending a call after each answer until the run is over."""
    loop = asyncio.get_running_loop()
    reader, writer = await asyncio.open_connection("127.0.0.1", run.port)
    try:
        while not run.done.is_set():
            sent = loop.time()
            if run.stop_at is not None and sent >= run.stop_at:
                return
            writer.write(run.payload)
            status, answer = await _read_response(reader)
            if not run.record(sent, loop.time(), status, answer):
                return
    finally:
        writer.close()


async def _tick(done: asyncio.Event, on_tick: Callable[[], None] | None) -> None:
    while not done.is_set():
        if on_tick is not None:
            on_tick()
        await asyncio.sleep(0.05)


async def run_load(
    port: int,
    body: bytes,
    tool: str,
    marker: bytes,
    *,
    clients: int = 32,
    seconds: float | None = None,
    calls: int | None = None,
    warmup: float = 0.5,
    on_tick: Callable[[], None] | None = None,
) -> LoadResult:
    """Drive the server until ``seconds`` have passed after ``warmup`` (or until ``calls`` were answered).

    Only answers received inside the measured window count; ``on_tick`` runs every 50 ms (RSS sampling).
    """
    measure_from = asyncio.get_running_loop().time() + warmup
    stop_at = measure_from + seconds if seconds is not None else None
    run = _Run(port, request_bytes(port, body, tool), marker, measure_from, stop_at, calls)
    tick = asyncio.create_task(_tick(run.done, on_tick))
    began = time.perf_counter()
    try:
        await asyncio.gather(*(_client(run) for _ in range(clients)))
    finally:
        run.done.set()
        await tick
    elapsed = time.perf_counter() - began
    run.result.seconds = seconds if seconds is not None else elapsed
    return run.result
