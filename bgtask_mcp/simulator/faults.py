"""Faults the simulator injects on request, so that the client's behaviour under failure is tested over real
loopback HTTP. A new kind of fault is one entry in ``FAULT_KINDS`` plus its answer in ``_fault_response`` (or,
for faults below HTTP, in ``FaultInjector._apply``)."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from typing import Any

from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgtask_mcp.simulator.responses import error
from bgtask_mcp.simulator.state import SimState

FAULT_KINDS = (
    "latency",  # sleep latency_s, then answer normally (latency rules add up, and precede any other fault)
    "hang",  # never answer; the request ends only when the client goes away
    "throttle",  # 429 APIG.0308 with Retry-After
    "flow_control",  # 404 DMS.10240407
    "server_error",  # 500 DMS.00500000
    "busy",  # 503 DMS.111501025
    "html",  # 502 with an HTML page
    "empty",  # 503 with an empty body
    "malformed",  # 200 with broken JSON
    "truncated",  # 200, Content-Length promises more than is sent, then the connection closes
    "reset",  # the connection is aborted before any answer
    "oversized",  # 200 with a body of oversized_bytes (Content-Length announced)
    "oversized_stream",  # 200, chunked (no Content-Length), streaming oversized_bytes in 64 KiB chunks
    "trickle",  # 200, a valid answer sent one byte every latency_s (each read is quick, the whole is slow)
    "unauthorized",  # 401 APIG.0301
    "forbidden",  # 403 DMS.00403003: the role lacks the permission
    "token_expired",  # 401 APIG.0307, as for an expired or revoked IAM token
    "redirect",  # 302 to a login page, as a captive portal or a misconfigured proxy answers
    "invalid_parameter",  # 400 DMS.00400062 whose message quotes the parameter it refused (the rule's detail)
)
FAULT_FIELDS = frozenset(
    {
        "kind",
        "instance_id",
        "path_contains",
        "query_contains",
        "count",
        "after",
        "probability",
        "latency_s",
        "oversized_bytes",
        "detail",
    }
)


@dataclass
class FaultRule:
    kind: str
    instance_id: str | None = None
    path_contains: str | None = None
    query_contains: str | None = None
    count: int | None = None  # how many requests it hits; None = every matching request
    after: int = 0  # let this many matching requests through first
    probability: float = 1.0
    latency_s: float = 0.0
    oversized_bytes: int = 8 * 1024 * 1024
    detail: str = "the parameter"  # what invalid_parameter quotes after the documented message
    seen: int = 0
    hits: int = 0

    def matches(self, path: str, query: str, instance_id: str | None) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.instance_id and self.instance_id != instance_id:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        if self.query_contains and self.query_contains not in query:
            return False
        self.seen += 1
        if self.seen <= self.after:
            return False
        return self.probability >= 1.0 or random.random() < self.probability


def parse_rules(body: Any) -> list[FaultRule] | str:
    """Rules from a control request, or what is wrong with it."""
    raw_rules = body.get("rules", []) if isinstance(body, dict) else None
    if not isinstance(raw_rules, list) or not all(isinstance(rule, dict) for rule in raw_rules):
        return 'expected {"rules": [{...}, ...]}'
    for raw in raw_rules:
        unknown = set(raw) - FAULT_FIELDS
        if unknown or raw.get("kind") not in FAULT_KINDS:
            return f"unknown fault kind {raw.get('kind')!r} or fields {sorted(unknown)}"
    return [FaultRule(**rule) for rule in raw_rules]


class FaultInjector:
    """ASGI wrapper: counts API requests and applies the fault rules.

    Every matching ``latency`` rule adds its delay; then the first matching rule of another kind answers (after
    its own ``latency_s``). While a delay runs, a client that goes away is noticed and counted as
    ``disconnected`` in the stats (what a cancelled upstream request looks like from here).
    """

    def __init__(self, app: ASGIApp, state: SimState) -> None:
        self.app = app
        self.state = state
        self.rules: list[FaultRule] = []

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_simulator/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        requests = self.state.requests
        kind = route_kind(path)
        if kind != path:
            requests[f"{scope['method']} {kind}"] += 1
        requests["all"] += 1
        requests[f"{scope['method']} {path}"] += 1
        self.state.in_flight += 1
        requests["max_in_flight"] = max(requests["max_in_flight"], self.state.in_flight)
        try:
            await self._serve(path, scope, receive, send)
        finally:
            self.state.in_flight -= 1

    def _choose(self, path: str, query: str) -> tuple[float, FaultRule | None]:
        parts = path.split("/")
        instance = parts[4] if len(parts) > 4 and parts[3] == "instances" else None
        delay, chosen = 0.0, None
        for rule in self.rules:
            if rule.kind == "latency":
                if rule.matches(path, query, instance):
                    rule.hits += 1
                    self.state.requests["fault:latency"] += 1
                    delay += rule.latency_s
            elif chosen is None and rule.matches(path, query, instance):
                rule.hits += 1
                self.state.requests[f"fault:{rule.kind}"] += 1
                chosen = rule
                if rule.kind != "trickle":
                    delay += rule.latency_s
        return delay, chosen

    async def _serve(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        delay, rule = self._choose(path, scope.get("query_string", b"").decode("latin-1"))
        if rule is not None and rule.kind == "hang":
            delay = float("inf")
        if delay > 0:
            receive = await self._sleep_unless_gone(delay, receive)
            if receive is _GONE:
                self.state.requests["disconnected"] += 1
                return
        if rule is None:
            await self.app(scope, receive, send)
        else:
            await self._apply(rule, scope, receive, send)

    async def _sleep_unless_gone(self, seconds: float, receive: Receive) -> Receive:
        """Sleep, unless the client disconnects first (then ``_GONE``). Returns a receive that replays what was
        read meanwhile (the request body) for the app behind."""
        buffered: list[Message] = []
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return
                buffered.append(message)

        watcher = asyncio.ensure_future(watch())
        waiter = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({waiter}, timeout=None if seconds == float("inf") else seconds)
        finally:
            watcher.cancel()
            waiter.cancel()
        if gone.is_set():
            return _GONE

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        return replay

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if rule.kind == "reset":
            if transport is not None:
                transport.abort()
                return
            raise ConnectionResetError("simulated reset")
        if rule.kind == "truncated":
            await _start(send, 200, [(b"content-type", b"application/json"), (b"content-length", b"4096")])
            await send(
                {"type": "http.response.body", "body": b'{"task_count": "1", "tasks": [{"id"', "more_body": True}
            )
            if transport is not None:
                transport.abort()
            return
        if rule.kind == "oversized_stream":
            await self._stream_oversized(rule, send, transport)
            return
        if rule.kind == "trickle":
            await self._trickle(rule, send, transport)
            return
        await _fault_response(rule)(scope, receive, send)

    async def _stream_oversized(self, rule: FaultRule, send: Send, transport: Any) -> None:
        await _start(send, 200, [(b"content-type", b"application/json"), (b"x-request-id", uuid.uuid4().hex.encode())])
        await send(
            {"type": "http.response.body", "body": b'{"task_count": "0", "tasks": [], "pad": "', "more_body": True}
        )
        chunk, sent = b"x" * 65536, 0
        while sent < rule.oversized_bytes:
            if transport is not None and transport.is_closing():
                self.state.requests["disconnected"] += 1
                return
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
        await send({"type": "http.response.body", "body": b'"}', "more_body": False})

    async def _trickle(self, rule: FaultRule, send: Send, transport: Any) -> None:
        body = json.dumps({"task_count": "0", "tasks": []}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"x-request-id", uuid.uuid4().hex.encode()),
        ]
        await _start(send, 200, headers)
        for i in range(len(body)):
            if transport is not None and transport.is_closing():
                self.state.requests["disconnected"] += 1
                return
            await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": i + 1 < len(body)})
            await asyncio.sleep(rule.latency_s)


async def _start(send: Send, status: int, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})


async def _gone() -> Message:
    return {"type": "http.disconnect"}


_GONE: Receive = _gone


def _fault_response(rule: FaultRule) -> Response:
    rid = {"X-Request-Id": uuid.uuid4().hex}
    match rule.kind:
        case "throttle":
            return error("APIG.0308", gateway=True, headers={"Retry-After": "0.2"})
        case "flow_control":
            return error("DMS.10240407")
        case "server_error":
            return error("DMS.00500000")
        case "busy":
            return error("DMS.111501025")
        case "html":
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(page, status_code=502, media_type="text/html", headers=rid)
        case "empty":
            return Response(b"", status_code=503, headers=rid)
        case "malformed":
            return Response(b'{"task_count": "1", "tasks": [{"id": ', media_type="application/json", headers=rid)
        case "oversized":
            filler = json.dumps({"task_count": "1", "tasks": [], "pad": "x" * rule.oversized_bytes})
            return Response(filler, media_type="application/json", headers=rid)
        case "unauthorized":
            return error("APIG.0301", gateway=True, detail="verify aksk signature fail")
        case "forbidden":
            return error("DMS.00403003")
        case "token_expired":
            return error("APIG.0307", gateway=True)
        case "invalid_parameter":
            return error("DMS.00400062", detail=rule.detail)
        case "redirect":
            return Response(status_code=302, headers={**rid, "Location": "http://portal.invalid/login"})
    raise ValueError(rule.kind)


def route_kind(path: str) -> str:
    if path.endswith("/progress"):
        return "progress"
    if path.rstrip("/").endswith("/scheduled-tasks"):
        return "scheduled"
    if path.rstrip("/").endswith("/traces"):
        return "traces"
    if path.rstrip("/").endswith("/tasks"):
        return "list"
    if "/tasks/" in path:
        return "show"
    if path.rstrip("/").endswith("/instances"):
        return "instances"
    if path.startswith("/v3/projects"):
        return "projects"
    return path
