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
    errors: int = 0
    seconds: float = 0.0
    latencies: list[float] = field(default_factory=list)
    first_error: str = ""

    @property
    def per_second(self) -> float:
        return self.calls / self.seconds if self.seconds else 0.0


def request_bytes(port: int, body: bytes, tool: str) -> bytes:
    head = (
        f"POST /mcp HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: application/json, text/event-stream\r\n"
        f"Content-Type: application/json\r\nMcp-Protocol-Version: {LEGACY}\r\nMcp-Method: tools/call\r\n"
        f"Mcp-Name: {tool}\r\nContent-Length: {len(body)}\r\n\r\n"
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
    payload = request_bytes(port, body, tool)
    result = LoadResult()
    loop = asyncio.get_running_loop()
    start = loop.time()
    measure_from = start + warmup
    stop_at = measure_from + seconds if seconds is not None else None
    done = asyncio.Event()

    async def client() -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while not done.is_set():
                sent = loop.time()
                if stop_at is not None and sent >= stop_at:
                    return
                writer.write(payload)
                status, answer = await _read_response(reader)
                now = loop.time()
                problem = check_answer(status, answer, marker)
                if problem:
                    result.errors += 1
                    result.first_error = result.first_error or problem
                    continue
                if now < measure_from and calls is None:
                    continue
                if stop_at is not None and now > stop_at:
                    return
                result.calls += 1
                result.latencies.append(now - sent)
                if calls is not None and result.calls >= calls:
                    done.set()
        finally:
            writer.close()

    async def ticker() -> None:
        while not done.is_set():
            if on_tick is not None:
                on_tick()
            await asyncio.sleep(0.05)

    tick = asyncio.create_task(ticker())
    began = time.perf_counter()
    try:
        await asyncio.gather(*(client() for _ in range(clients)))
    finally:
        done.set()
        await tick
    elapsed = time.perf_counter() - began
    result.seconds = seconds if seconds is not None else elapsed
    return result
