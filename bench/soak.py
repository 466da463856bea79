"""Soak: many calls over HTTP (one worker), each with a distinct valid OAuth access token (its own subject), to
show that nothing grows with uptime. After every chunk of calls: the server's masking time per call and CPU per
call (from its own ``/metrics`` and psutil), the secret values it knows by value, and its RSS. The last chunk is
compared with the first.

The issuer is a small OpenID provider in this process (discovery + JWKS on loopback, one ES256 key); the tokens
are minted before the clock starts. Every answer is checked like the throughput load's.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench.common import PY, HttpServer, Simulator, call_body, example_arguments, free_port, ours_env
from bench.loadgen import _read_response, check_answer, request_bytes
from bench.report import Row
from bgtask_mcp.simulator import data

SECTION = "Soak: distinct OAuth tokens, first chunk against last"
CONNECTIONS = 8
SCOPE = "dms:read"


class Issuer:
    """An OpenID provider that is only what a resource server reads: discovery and JWKS."""

    def __init__(self) -> None:
        import jwt
        from cryptography.hazmat.primitives.asymmetric import ec

        self._key = ec.generate_private_key(ec.SECP256R1())
        public = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(self._key.public_key()))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        documents = {
            "/.well-known/openid-configuration": {"issuer": self.url, "jwks_uri": f"{self.url}/jwks"},
            "/jwks": {"keys": [{**public, "kid": "soak", "use": "sig", "alg": "ES256"}]},
        }

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                body = json.dumps(documents.get(self.path, {})).encode()
                self.send_response(200 if self.path in documents else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def tokens(self, audience: str, count: int) -> list[str]:
        import jwt

        now = int(time.time())
        return [
            jwt.encode({"iss": self.url, "aud": audience, "sub": f"soak-user-{i}", "jti": f"soak-{i}",
                        "iat": now, "exp": now + 3600, "scope": SCOPE}, self._key, "ES256", headers={"kid": "soak"})
            for i in range(count)
        ]  # fmt: skip

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@dataclass
class Chunk:
    calls: int
    masking_us: float  # per call
    maskings: float  # texts masked per call
    cpu_ms: float  # server CPU per call
    known_secrets: float
    rss_mb: float


METRIC = re.compile(rb"^(bgtask_masking_seconds_total|bgtask_maskings_total|bgtask_known_secrets) (\S+)$", re.M)


async def scrape(port: int) -> dict[str, float]:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(f"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n".encode())
    _, body = await _read_response(reader)
    writer.close()
    return {name.decode(): float(value) for name, value in METRIC.findall(body)}


async def send_all(port: int, tokens: Iterator[str], body: bytes, tool: str, marker: bytes) -> int:
    """Every token once, over CONNECTIONS keep-alive connections; the number of correct answers."""
    correct = 0

    async def connection() -> None:
        nonlocal correct
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            for token in tokens:  # shared: each token is sent by exactly one connection
                writer.write(request_bytes(port, body, tool, f"Authorization: Bearer {token}\r\n"))
                status, answer = await _read_response(reader)
                problem = check_answer(status, answer, marker)
                if problem:
                    raise RuntimeError(f"soak call failed: {problem}")
                correct += 1
        finally:
            writer.close()

    await asyncio.gather(*(connection() for _ in range(CONNECTIONS)))
    return correct


async def measure(server: HttpServer, issuer: Issuer, calls: int, chunks: int) -> list[Chunk]:
    import psutil

    process = psutil.Process(server.pids()[0])
    body, tool = call_body("get_background_task", example_arguments()), "get_background_task"
    marker = data.EXAMPLE_TASK_ID.encode()
    per_chunk = max(1, calls // chunks)
    all_tokens = issuer.tokens(server.url, per_chunk * chunks)
    await send_all(server.port, iter(issuer.tokens(server.url, CONNECTIONS * 4)), body, tool, marker)  # warm-up
    results: list[Chunk] = []
    for i in range(chunks):
        before, cpu_before = await scrape(server.port), process.cpu_times()
        answered = await send_all(server.port, iter(all_tokens[i * per_chunk : (i + 1) * per_chunk]), body, tool,
                                  marker)  # fmt: skip
        cpu_after, after = process.cpu_times(), await scrape(server.port)
        cpu = (cpu_after.user + cpu_after.system) - (cpu_before.user + cpu_before.system)
        seconds = after["bgtask_masking_seconds_total"] - before["bgtask_masking_seconds_total"]
        maskings = after["bgtask_maskings_total"] - before["bgtask_maskings_total"]
        results.append(Chunk(answered, seconds / answered * 1e6, maskings / answered, cpu / answered * 1e3,
                             after["bgtask_known_secrets"], process.memory_info().rss / 1e6))  # fmt: skip
    return results


async def run(sim: Simulator, calls: int, chunks: int) -> tuple[list[Row], dict[str, Any], list[str]]:
    issuer = Issuer()
    port = free_port()
    env = ours_env(sim.url, cache=False, BGTASK_OAUTH_ISSUER=issuer.url, BGTASK_OAUTH_SCOPE=SCOPE,
                   BGTASK_PUBLIC_URL=f"http://127.0.0.1:{port}/mcp")  # fmt: skip
    argv = [PY, "-m", "bgtask_mcp", "serve", "--transport", "http", "--port", str(port)]
    server = HttpServer("ours+oauth", argv, env, port=port)
    try:
        server.spawn().ready()
        results = await measure(server, issuer, calls, chunks)
    finally:
        server.stop()
        issuer.close()
    return rows_of(results), {"chunks": [vars(c) for c in results]}, details_of(results)


def rows_of(results: list[Chunk]) -> list[Row]:
    first, last = results[0], results[-1]
    total = sum(c.calls for c in results)
    span = f"calls 1-{first.calls:,} vs {total - last.calls + 1:,}-{total:,}"

    def row(what: str, ours: float, ref: float, unit: str, target: str, note: str = "") -> Row:
        return Row(SECTION, what, ours, unit, "first chunk", ref, ours / ref if ref else None, target,
                   note=f"{span}{'; ' + note if note else ''}")  # fmt: skip

    return [
        row("masking time per call", last.masking_us, first.masking_us, "us", "<= 1.25",
            f"{last.maskings:.0f} texts masked per call"),
        row("server CPU per call", last.cpu_ms, first.cpu_ms, "ms", "<= 1.25"),
        row("secret values known", last.known_secrets, first.known_secrets, "", "<= 1.0",
            "JWT access tokens are never registered"),
        row("RSS after the chunk", last.rss_mb, first.rss_mb, "MB", "<= 1.05"),
    ]  # fmt: skip


def details_of(results: list[Chunk]) -> list[str]:
    lines = ", ".join(f"{c.masking_us:.0f} us / {c.cpu_ms:.2f} ms / {c.rss_mb:.1f} MB" for c in results)
    return [
        f"- Soak: {sum(c.calls for c in results):,} calls of get_background_task over HTTP (one worker, cache off), "
        f"each with its own ES256 access token (a distinct subject) from an issuer on loopback, over "
        f"{CONNECTIONS} keep-alive connections; per chunk, masking time / server CPU per call / RSS: {lines}."
    ]
