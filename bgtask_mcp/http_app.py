"""The shared-team transport: stateless streamable HTTP at /mcp, with a bearer token, Host and Origin
allow-lists, request size limits, health probes and one log line per request."""

from __future__ import annotations

import hmac
import json
import logging
import time

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgtask_mcp import __version__
from bgtask_mcp.config import Settings
from bgtask_mcp.dms.endpoints import is_loopback
from bgtask_mcp.server import build_server

log = logging.getLogger("bgtask_mcp.http")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
PROBES = frozenset({"/healthz", "/readyz"})


class UnsafeBindError(RuntimeError):
    pass


def check_bind(settings: Settings) -> None:
    """Refuse to expose an unauthenticated server beyond this machine unless told so, loudly."""
    http = settings.http
    if is_loopback(http.host) or http.token or http.allow_unauthenticated_network_bind:
        return
    raise UnsafeBindError(
        f"refusing to serve on {http.host} without authentication: set BGTASK_HTTP_TOKEN to a long random "
        "value (clients send it as 'Authorization: Bearer <token>'), bind 127.0.0.1, or pass "
        "--allow-unauthenticated-network-bind if a proxy in front already authenticates"
    )


def _host_allowed(host: str, allowed: tuple[str, ...]) -> bool:
    """``name`` or ``name:*`` allow that name on any port; ``name:port`` only that port; ``*`` anything."""
    host = host.lower()
    for pattern in allowed:
        pattern = pattern.lower()
        if pattern == "*" or host == pattern:
            return True
        base = pattern[:-2] if pattern.endswith(":*") else pattern
        if (pattern.endswith(":*") or not _has_port(pattern)) and (host == base or host.startswith(base + ":")):
            return True
    return False


def _has_port(pattern: str) -> bool:
    tail = pattern.rsplit("]", 1)[-1]  # IPv6 literals keep their colons inside brackets
    return ":" in tail.split("//", 1)[-1]


class Gate:
    """ASGI middleware in front of /mcp: size limit, Host, Origin, bearer token, one log line."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        http = settings.http
        self.token = http.token.reveal().encode() if http.token else None
        if http.allowed_hosts:
            self.hosts: tuple[str, ...] | None = http.allowed_hosts
        elif is_loopback(http.host):
            self.hosts = tuple(h + ":*" for h in LOOPBACK_HOSTS)
        else:
            self.hosts = None  # behind a load balancer the Host is the operator's; Origin is still checked
        self.origins = http.allowed_origins or tuple(f"http://{h}:*" for h in LOOPBACK_HOSTS)
        self.max_body = http.max_request_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = {"code": 0}
        tool = {"name": "-"}

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is not None:
                await refusal(scope, receive, send_logged)
                return
            replay = await self._peek_tool(scope, receive, tool, send_logged)
            if replay is None:
                return
            await self.app(scope, replay, send_logged)
        finally:
            if scope["path"] not in PROBES:
                log.info(
                    "http method=%s path=%s tool=%s status=%s duration_ms=%.1f",
                    scope["method"],
                    scope["path"],
                    tool["name"],
                    status["code"],
                    (time.perf_counter() - started) * 1000,
                )

    def _refuse(self, scope: Scope) -> Response | None:
        if scope["path"] in PROBES:
            return None
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and not _host_allowed(host, self.hosts):
            return JSONResponse({"error": "Host not allowed (set BGTASK_ALLOWED_HOSTS)"}, status_code=421)
        origin = headers.get("origin")
        if origin and not _host_allowed(origin, self.origins):
            return JSONResponse({"error": "Origin not allowed (set BGTASK_ALLOWED_ORIGINS)"}, status_code=403)
        if self.token is not None:
            given = headers.get("authorization", "")
            scheme, _, value = given.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode(), self.token):
                return JSONResponse(
                    {"error": "missing or wrong bearer token"},
                    status_code=401,
                    headers={"WWW-Authenticate": 'Bearer realm="bgtask-mcp"'},
                )
        return None

    async def _peek_tool(self, scope: Scope, receive: Receive, tool: dict[str, str], send: Send) -> Receive | None:
        """Read the (bounded) body once to learn the tool name for the log line, then replay it."""
        if scope["method"] != "POST":
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                await JSONResponse({"error": f"request body over {self.max_body} bytes"}, status_code=413)(
                    scope, receive, send
                )
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
            if isinstance(parsed, dict) and parsed.get("method") == "tools/call":
                tool["name"] = str(parsed.get("params", {}).get("name", "-"))[:64]
            elif isinstance(parsed, dict):
                tool["name"] = "(" + str(parsed.get("method", "-"))[:40] + ")"
        except (ValueError, AttributeError):
            pass
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def build_http_app(settings: Settings) -> ASGIApp:
    mcp = build_server(settings)
    inner = mcp.streamable_http_app(
        stateless_http=True,
        json_response=False,  # SSE: progress notifications and cancellation reach the client
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),  # Gate checks
        max_request_body_size=settings.http.max_request_bytes,
        host=settings.http.host,
    )
    from bgtask_mcp.dms.endpoints import resolve_endpoint
    from bgtask_mcp.dms.errors import ConfigurationError

    try:
        resolve_endpoint(settings.endpoint, settings.region, settings.endpoint_overrides)
        problem = None if settings.credentials.mode != "none" else "no DMS credentials configured"
    except ConfigurationError as exc:
        problem = str(exc)

    async def probe(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["path"] == "/healthz":
            response: Response = JSONResponse({"status": "ok", "version": __version__})
        elif problem:
            response = JSONResponse({"status": "not ready", "reason": problem}, status_code=503)
        else:
            response = JSONResponse({"status": "ready", "backend": "simulator" if settings.simulator else "dms"})
        await response(scope, receive, send)

    gated = Gate(inner, settings)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in PROBES:
            await probe(scope, receive, send)
        elif scope["type"] == "lifespan":
            await inner(scope, receive, send)  # runs the MCP session manager and the server lifespan
        else:
            await gated(scope, receive, send)

    return app
