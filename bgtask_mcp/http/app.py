"""The shared-team transport: stateless streamable HTTP at /mcp behind a gate (request size, Host and Origin
allow-lists, one log line per request), authenticated by the SDK's bearer middleware with either a static
token or OAuth 2.1 JWTs, plus health probes and Prometheus metrics."""

from __future__ import annotations

import json
import os
import time

from mcp.server.auth.provider import AccessToken
from mcp.server.auth.settings import AuthSettings
from mcp.server.transport_security import TransportSecuritySettings
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bgtask_mcp import __version__
from bgtask_mcp.callers import ANONYMOUS, STATIC_CALLER, begin_exchange, set_caller
from bgtask_mcp.config import DEFAULT_SCOPE, Settings
from bgtask_mcp.dms.endpoints import is_loopback
from bgtask_mcp.redaction import MASK, FieldLine, get_logger, loggable

log = get_logger("bgtask_mcp.http")

LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "[::1]")
LOG_LINE = (
    "http method=%s path=%s rpc=%s tool=%s caller=%s status=%d finished=%s duration_ms=%.1f dms_request_id=%s pid=%d"
)
access = FieldLine(log, LOG_LINE)


class StaticTokenVerifier:
    """The shared bearer token of the simple case, compared in constant time; its caller is ``static-token``."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def verify_token(self, token: str) -> AccessToken | None:
        import hmac

        if hmac.compare_digest(token.strip().encode("utf-8", "replace"), self._token):
            return AccessToken(token=MASK, client_id=STATIC_CALLER, scopes=[DEFAULT_SCOPE])
        return None


def auth_parts(settings: Settings) -> tuple[AuthSettings | None, object | None]:
    """What the SDK's bearer middleware needs: settings and a verifier (OAuth JWTs or the static token)."""
    http = settings.http
    if http.oauth is not None:
        from bgtask_mcp.http.oauth import JwtVerifier

        auth = AuthSettings(
            issuer_url=http.oauth.issuer,  # type: ignore[arg-type]
            resource_server_url=http.public_url,  # type: ignore[arg-type]
            required_scopes=[http.oauth.scope],
            validate_token_resource=False,  # the verifier checks the audience itself
        )
        return auth, JwtVerifier(http.oauth)
    if http.token is not None:
        # the SDK wants an issuer even for a static token; no metadata is published for it
        auth = AuthSettings(issuer_url="http://127.0.0.1/", resource_server_url=None)  # type: ignore[arg-type]
        return auth, StaticTokenVerifier(http.token.reveal())
    return None, None


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


def _refusal(message: str, status: int) -> Response:
    return JSONResponse({"error": message}, status_code=status)


class Gate:
    """ASGI middleware in front of /mcp: size limit, Host, Origin, the caller's default name, one log line."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        http = settings.http
        if http.allowed_hosts:
            self.hosts: tuple[str, ...] | None = http.allowed_hosts
        elif is_loopback(http.host):
            self.hosts = tuple(h + ":*" for h in LOOPBACK_HOSTS)
        else:
            self.hosts = None  # behind a load balancer the Host is the operator's; Origin is still checked
        self.origins = http.allowed_origins or tuple(f"http://{h}:*" for h in LOOPBACK_HOSTS)
        self.max_body = http.max_request_bytes
        self.pid = os.getpid()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        exchange = begin_exchange()
        set_caller(ANONYMOUS)
        status, finished, rpc = 0, False, "-"

        async def send_logged(message: Message) -> None:
            nonlocal status, finished
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                finished = True
            await send(message)

        try:
            refusal = self._refuse(scope)
            if refusal is not None:
                await refusal(scope, receive, send_logged)
                return
            replay, rpc, tool = await self._read_body(scope, receive, send_logged)
            exchange.tool = tool
            if replay is not None:
                await self.app(scope, replay, send_logged)
        except Exception:
            status = status or 500
            raise
        finally:
            access.info(
                scope["method"],
                loggable(scope["path"], 80) or "-",
                rpc,
                exchange.tool,
                exchange.caller,
                status,
                "yes" if finished else "no",
                (time.perf_counter() - started) * 1000,
                exchange.dms_request_id or "-",
                self.pid,
            )

    def _refuse(self, scope: Scope) -> Response | None:
        headers = Headers(scope=scope)
        if self.hosts is not None and not _host_allowed(headers.get("host", ""), self.hosts):
            return _refusal("Host not allowed (set BGTASK_ALLOWED_HOSTS)", 421)
        origin = headers.get("origin")
        if origin and not _host_allowed(origin, self.origins):
            return _refusal("Origin not allowed (set BGTASK_ALLOWED_ORIGINS)", 403)
        declared = headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.max_body:
            return _refusal(f"request body over {self.max_body} bytes", 413)
        return None

    async def _read_body(self, scope: Scope, receive: Receive, send: Send) -> tuple[Receive | None, str, str]:
        """Read the (bounded) body once, note the JSON-RPC method and tool for the log line, then replay it."""
        if scope["method"] != "POST":
            return receive, "-", "-"
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return None, "-", "-"  # the client went away before it finished sending
            size += len(message.get("body", b""))
            if size > self.max_body:
                await _refusal(f"request body over {self.max_body} bytes", 413)(scope, receive, send)
                return None, "-", "-"
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        rpc, tool = _rpc_of(body)
        sent = False

        async def replay() -> Message:
            nonlocal sent
            if not sent:
                sent = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        return replay, rpc, tool


def _rpc_of(body: bytes) -> tuple[str, str]:
    try:
        parsed = json.loads(body)
    except ValueError:
        return "-", "-"
    if not isinstance(parsed, dict):
        return "-", "-"
    rpc = loggable(parsed.get("method"), 40) or "-"
    params = parsed.get("params")
    tool = (loggable(params.get("name")) or "-") if rpc == "tools/call" and isinstance(params, dict) else "-"
    return rpc, tool


def build_http_app(settings: Settings) -> ASGIApp:
    from bgtask_mcp.http.routes import Routes
    from bgtask_mcp.server import build_server

    routes = Routes(settings)
    auth, verifier = auth_parts(settings)
    mcp = build_server(settings, telemetry=routes.telemetry, shared=routes.shared_store(), auth=auth, verifier=verifier)
    inner = mcp.streamable_http_app(
        stateless_http=True,
        json_response=False,  # SSE: progress notifications and cancellation reach the client
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),  # the Gate checks
        max_request_body_size=settings.http.max_request_bytes,
        host=settings.http.host,
    )
    gated = Gate(inner, settings)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and routes.handles(scope["path"]):
            await routes(scope, receive, send)  # no token, no log line: probes and scrapes come every few seconds
        elif scope["type"] == "lifespan":
            await inner(scope, receive, send)  # runs the MCP session manager and the server lifespan
        else:
            await gated(scope, receive, send)

    return app


__all__ = ["Gate", "__version__", "build_http_app"]
