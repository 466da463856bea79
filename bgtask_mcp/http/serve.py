"""Running the HTTP transport: bind first (a port in use is reported before any "serving" line), then uvicorn
with one worker in this process or several worker processes, and an orderly stop on SIGTERM (exit 0)."""

from __future__ import annotations

import signal
import socket
from collections.abc import Mapping
from typing import Any

from bgtask_mcp.config import ConfigError, Settings
from bgtask_mcp.redaction import get_logger
from bgtask_mcp.settings_env import export_for_workers

log = get_logger("bgtask_mcp.http")

# uvicorn waits this long for in-flight calls after SIGTERM, then cancels them. Keep it below the platform's
# kill deadline (Kubernetes terminationGracePeriodSeconds, `docker stop --time`, compose stop_grace_period).
SHUTDOWN_GRACE_SECONDS = 25


def worker_flags(env: Mapping[str, str]) -> dict[str, Any]:
    return {"simulator": env.get("BGTASK_SIMULATOR") == "1" or None}


def keep_streams_open_on_shutdown() -> None:
    """Let SIGTERM finish in-flight calls instead of cutting their SSE streams.

    sse-starlette (under the SDK's 2025-11-25 responses) ends every open event stream as soon as uvicorn
    receives SIGTERM, so a running ``wait_for_background_task`` would lose its answer. Without that, uvicorn's
    graceful shutdown (``timeout_graceful_shutdown``) waits for the streams and bounds the wait.
    """
    from sse_starlette.sse import AppStatus

    AppStatus.disable_automatic_graceful_drain()  # type: ignore[no-untyped-call]


def bind(host: str, port: int) -> socket.socket:
    """The listening socket; a port that is taken is a ``ConfigError`` (the command line shows it, exit 2)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY only on sockets that say so, and without it a JSON answer
    # (headers, then body) waits for the client's delayed ACK: 40 ms on every 2026-07-28 call
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as exc:
        sock.close()
        raise ConfigError(
            f"cannot listen on {host}:{port} ({exc.strerror}); choose another port with --port or "
            "BGTASK_HTTP_PORT, or stop what holds this one"
        ) from None
    sock.set_inheritable(True)
    return sock


def serve_http(settings: Settings, env: Mapping[str, str]) -> int:
    import uvicorn

    from bgtask_mcp.http.app import build_http_app
    from bgtask_mcp.process import freeze_startup_objects

    http = settings.http
    sock = bind(http.host, http.port)
    if not (http.token or http.oauth):
        log.warning("HTTP transport without authentication: any local process can call the tools")
    common: dict[str, Any] = {
        "log_config": None,  # keep our stderr logging
        "access_log": False,  # the gate logs one line per request
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,  # finish in-flight calls on SIGTERM
        "server_header": False,
    }
    auth = "OAuth" if http.oauth else "bearer token" if http.token else "no authentication"
    log.info(
        "serving MCP over streamable HTTP at http://%s:%d/mcp (%d worker(s), %s)",
        http.host,
        http.port,
        http.workers,
        auth,
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to die of it: end with 0 instead,
    # through the callers' cleanup (the embedded simulator), like any orderly stop.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        if http.workers == 1:
            keep_streams_open_on_shutdown()
            app = build_http_app(settings)
            freeze_startup_objects()
            uvicorn.Server(uvicorn.Config(app, **common)).run(sockets=[sock])
        else:
            from uvicorn.supervisors import Multiprocess

            export_for_workers(env)
            config = uvicorn.Config(
                "bgtask_mcp.cli:http_app_from_env", factory=True, workers=http.workers, **common
            )  # fmt: skip
            Multiprocess(config, sockets=[sock]).run()  # what uvicorn.run does, with our socket
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    log.info("HTTP server stopped")
    return 0


class _Stopped(Exception):
    """SIGTERM arrived outside uvicorn's own handling (before it started, or re-raised after it stopped)."""


def _raise_stopped(_signum: int, _frame: object) -> None:
    raise _Stopped
