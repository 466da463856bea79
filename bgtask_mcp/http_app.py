"""The shared-team transport: stateless streamable HTTP at /mcp, with a bearer token, Host and Origin
allow-lists, request size limits, health probes and one log line per request."""

from __future__ import annotations

import hmac
import json
import logging
import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass

from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgtask_mcp import __version__
from bgtask_mcp.config import Settings
from bgtask_mcp.dms.client import current_request_id
from bgtask_mcp.dms.endpoints import is_loopback, resolve_endpoint
from bgtask_mcp.dms.errors import ConfigurationError
from bgtask_mcp.server import build_server

log = logging.getLogger("bgtask_mcp.http")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
PROBES = frozenset({"/healthz", "/readyz"})
LOG_LINE = "http method=%s path=%s rpc=%s tool=%s status=%d finished=%s duration_ms=%.1f dms_request_id=%s pid=%d"


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


def keep_streams_open_on_shutdown() -> None:
    """Let SIGTERM finish in-flight calls instead of cutting their SSE streams.

    sse-starlette (under the SDK's 2025-11-25 responses) ends every open event stream as soon as uvicorn
    receives SIGTERM, so a running ``wait_for_background_task`` would lose its answer. Without that, uvicorn's
    graceful shutdown (``timeout_graceful_shutdown``) waits for the streams and bounds the wait.
    """
    from sse_starlette.sse import AppStatus

    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]


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


@dataclass
class _Exchange:
    """What the log line of one HTTP request says; filled in while the request runs."""

    rpc: str = "-"
    tool: str = "-"
    status: int = 0
    finished: bool = False
    dms_request_id: str | None = None


# The exchange of the HTTP request being served. Tasks the SDK starts for the request inherit a copy of the
# context, so they see the same (mutable) _Exchange object.
_exchange: ContextVar[_Exchange | None] = ContextVar("bgtask_http_exchange", default=None)


class _DMSRequestIdTap(logging.Filter):
    """Copies the DMS X-Request-Id into the HTTP log line of the request that caused it.

    server.py writes one ``tool=...`` line per call on the ``bgtask_mcp`` logger while the DMS client's
    ``current_request_id`` still holds the call's request id. That line is written inside the tool's task, where
    the request's _Exchange is visible: this filter copies the id across, and changes no record.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        exchange = _exchange.get()
        if exchange is not None:
            request_id = current_request_id.get()
            if request_id:
                exchange.dms_request_id = request_id
        return True


def _install_request_id_tap() -> None:
    logger = logging.getLogger("bgtask_mcp")
    if not any(isinstance(f, _DMSRequestIdTap) for f in logger.filters):
        logger.addFilter(_DMSRequestIdTap())


def _loggable(text: str, limit: int) -> str:
    """Visible ASCII only: a client chooses the path, method name and tool name, and must not forge log lines."""
    return _UNSAFE.sub("?", text[:limit]) or "-"


_UNSAFE = re.compile(r"[^\x21-\x7e]")


def _refusal(message: str, status: int, headers: dict[str, str] | None = None) -> Response:
    return JSONResponse({"error": message}, status_code=status, headers=headers)


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
        self.pid = os.getpid()
        _install_request_id_tap()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = _Exchange()
        context_token = _exchange.set(exchange)

        async def send_logged(message: Message) -> None:
            if message["type"] == "http.response.start":
                exchange.status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                exchange.finished = True
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is not None:
                await refusal(scope, receive, send_logged)
                return
            replay = await self._read_body(scope, receive, exchange, send_logged)
            if replay is not None:
                await self.app(scope, replay, send_logged)
        except Exception:
            exchange.status = exchange.status or 500
            raise
        finally:
            _exchange.reset(context_token)
            log.info(
                LOG_LINE,
                scope["method"],
                _loggable(scope["path"], 80),
                exchange.rpc,
                exchange.tool,
                exchange.status,
                "yes" if exchange.finished else "no",
                (time.perf_counter() - started) * 1000,
                exchange.dms_request_id or "-",
                self.pid,
            )

    def _refuse(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        host = headers.get("host", "")
        if self.hosts is not None and not _host_allowed(host, self.hosts):
            return _refusal("Host not allowed (set BGTASK_ALLOWED_HOSTS)", 421)
        origin = headers.get("origin")
        if origin and not _host_allowed(origin, self.origins):
            return _refusal("Origin not allowed (set BGTASK_ALLOWED_ORIGINS)", 403)
        if self.token is not None:
            given = headers.get("authorization")
            if not given:
                return _refusal("missing bearer token", 401, {"WWW-Authenticate": 'Bearer realm="bgtask-mcp"'})
            scheme, _, value = given.partition(" ")
            # compare_digest takes the same time wherever the first difference is
            if scheme.lower() != "bearer" or not hmac.compare_digest(value.strip().encode("latin-1"), self.token):
                return _refusal(
                    "wrong bearer token",
                    401,
                    {"WWW-Authenticate": 'Bearer realm="bgtask-mcp", error="invalid_token"'},
                )
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return _refusal(f"request body over {self.max_body} bytes", 413)
        return None

    async def _read_body(self, scope: Scope, receive: Receive, exchange: _Exchange, send: Send) -> Receive | None:
        """Read the (bounded) body once, note the JSON-RPC method and tool for the log line, then replay it."""
        if scope["method"] != "POST":
            return receive
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None  # the client went away before it finished sending
            body = message.get("body", b"")
            size += len(body)
            if size > self.max_body:
                await _refusal(f"request body over {self.max_body} bytes", 413)(scope, receive, send)
                return None
            chunks.append(body)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            exchange.rpc = _loggable(str(parsed.get("method", "-")), 40)
            params = parsed.get("params")
            if exchange.rpc == "tools/call" and isinstance(params, dict):
                exchange.tool = _loggable(str(params.get("name", "-")), 64)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay


def _readiness_problem(settings: Settings) -> str | None:
    try:
        resolve_endpoint(settings.endpoint, settings.region, settings.endpoint_overrides)
    except ConfigurationError as exc:
        return str(exc)
    if settings.credentials.mode == "none":
        return "no DMS credentials configured"
    return None


def build_http_app(settings: Settings) -> ASGIApp:
    mcp = build_server(settings)
    inner = mcp.streamable_http_app(
        stateless_http=True,
        json_response=False,  # SSE: progress notifications and cancellation reach the client
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),  # Gate checks
        max_request_body_size=settings.http.max_request_bytes,
        host=settings.http.host,
    )
    problem = _readiness_problem(settings)

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
            await probe(scope, receive, send)  # no token, no log line: probes come every few seconds
        elif scope["type"] == "lifespan":
            await inner(scope, receive, send)  # runs the MCP session manager and the server lifespan
        else:
            await gated(scope, receive, send)

    return app
