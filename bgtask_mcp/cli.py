"""The ``bgtask-mcp`` command: serve (stdio or HTTP), simulator, demo.

Flags override environment variables; the environment is read here, once, into Settings.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from bgtask_mcp import __version__
from bgtask_mcp.config import ConfigError, Settings, load_settings
from bgtask_mcp.secrets import RedactingFilter

log = logging.getLogger("bgtask_mcp")

ENV_HELP = """\
environment (flags win over these):
  BGTASK_ENDPOINT        DMS endpoint URL (wins over the region table)
  BGTASK_REGION          region, e.g. eu-de, eu-nl (Open Telekom Cloud) or ap-southeast-1 (Huawei Cloud)
  BGTASK_PROJECT_ID      default project id (fallback: HUAWEICLOUD_SDK_PROJECT_ID)
  BGTASK_ACCESS_KEY      access key (fallback: HUAWEICLOUD_SDK_AK)
  BGTASK_SECRET_KEY      secret key (fallback: HUAWEICLOUD_SDK_SK)
  BGTASK_SECURITY_TOKEN  security token of temporary AK/SK (fallback: HUAWEICLOUD_SDK_SECURITY_TOKEN)
  BGTASK_IAM_TOKEN       an IAM token, sent as X-Auth-Token, instead of AK/SK
  BGTASK_IAM_USER, BGTASK_IAM_PASSWORD, BGTASK_IAM_DOMAIN [, BGTASK_IAM_ENDPOINT]
                         password login: the server fetches and refreshes an IAM token itself
  BGTASK_HTTP_TOKEN      bearer token required by the HTTP transport
  BGTASK_ALLOWED_HOSTS, BGTASK_ALLOWED_ORIGINS   comma-separated allow-lists for the HTTP transport
  BGTASK_LOG_LEVEL       DEBUG, INFO (default), WARNING, ERROR
"""


def setup_logging(level: str) -> None:
    """Logs go to stderr only: over stdio, stdout carries protocol frames and nothing else."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx2", "httpcore2", "mcp", "uvicorn.error", "sse_starlette"):
        logging.getLogger(noisy).setLevel(max(logging.getLogger(noisy).level, logging.WARNING))
    if level == "DEBUG":
        logging.getLogger("mcp").setLevel(logging.INFO)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bgtask-mcp",
        description="MCP server for the background tasks of DMS (Kafka, RabbitMQ, RocketMQ) instances on "
        "Open Telekom Cloud and Huawei Cloud. Without a command: serve over stdio.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"bgtask-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")

    serve = sub.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Run the MCP server over stdio (default) or streamable HTTP at /mcp.",
        epilog=ENV_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    serve.add_argument("--transport", choices=["stdio", "http"], help="stdio (default) or http")
    serve.add_argument("--host", help="HTTP bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, help="HTTP port (default 8000)")
    serve.add_argument("--workers", type=int, help="HTTP worker processes (default 1); any worker answers any call")
    serve.add_argument(
        "--simulator", action="store_true", help="answer from the embedded DMS simulator instead of a cloud"
    )
    serve.add_argument(
        "--allow-unauthenticated-network-bind",
        action="store_true",
        help="serve HTTP on a non-loopback address without BGTASK_HTTP_TOKEN (only behind an authenticating proxy)",
    )
    serve.add_argument("--endpoint", help="DMS endpoint URL (overrides BGTASK_ENDPOINT and the region)")
    serve.add_argument("--region", help="region, e.g. eu-de (overrides BGTASK_REGION)")
    serve.add_argument("--project-id", help="default project id (overrides BGTASK_PROJECT_ID)")
    serve.add_argument("--log-level", choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="log level (stderr)")

    sim = sub.add_parser(
        "simulator",
        help="run the embedded DMS simulator as an HTTP service",
        description="Serve the DMS background-task API (simulated) on loopback. Prints its URL and the fake "
        "credentials it accepts.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8421, help="port (default 8421; 0 picks a free one)")

    demo = sub.add_parser(
        "demo",
        help="start the simulator and the server, drive it with a real MCP client, print the session",
        description="Start the DMS simulator and the MCP server (over stdio), connect a real MCP client, call "
        "the tools on a few tasks (a success, a failure, an error, a wait) and print the session.",
    )
    demo.add_argument("--json", action="store_true", help="print raw structured results instead of a summary")
    return parser


def simulator_env() -> dict[str, str]:
    """Settings that point the server at a running simulator (fake, published credentials)."""
    from bgtask_mcp.simulator import data

    return {
        "BGTASK_ACCESS_KEY": data.SIM_ACCESS_KEY,
        "BGTASK_SECRET_KEY": data.SIM_SECRET_KEY,
        "BGTASK_PROJECT_ID": data.SIM_PROJECT_ID,
        "BGTASK_SIMULATOR": "1",
    }


def _serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    flags = {
        "transport": args.transport,
        "host": args.host,
        "port": args.port,
        "workers": args.workers,
        "endpoint": args.endpoint,
        "region": args.region,
        "project_id": args.project_id,
        "log_level": args.log_level,
        "simulator": args.simulator or None,
        "allow_unauthenticated_network_bind": args.allow_unauthenticated_network_bind,
    }
    env = dict(env)
    simulator = None
    if args.simulator or (env.get("BGTASK_SIMULATOR") == "1" and not env.get("BGTASK_ENDPOINT")):
        from bgtask_mcp.simulator.server import SimulatorServer

        simulator = SimulatorServer().start()
        env.update(simulator_env())
        env["BGTASK_ENDPOINT"] = simulator.url
        flags["endpoint"] = None
    try:
        settings = load_settings(env, **flags)
    except ConfigError as exc:
        print(f"bgtask-mcp: {exc}", file=sys.stderr)
        return 2
    setup_logging(settings.log_level)
    if simulator is not None:
        log.info("serving the embedded DMS simulator at %s (results are simulated)", simulator.url)
    try:
        if settings.transport == "http":
            return _serve_http(settings, env)
        from bgtask_mcp.server import build_server

        build_server(settings).run("stdio")
        return 0
    except KeyboardInterrupt:
        return 130
    finally:
        if simulator is not None:
            simulator.stop()


# uvicorn waits this long for in-flight calls after SIGTERM, then cancels them. Keep it below the platform's
# kill deadline (Kubernetes terminationGracePeriodSeconds, `docker stop --time`, compose stop_grace_period).
SHUTDOWN_GRACE_SECONDS = 25


def _serve_http(settings: Settings, env: Mapping[str, str]) -> int:
    import uvicorn

    from bgtask_mcp.http_app import UnsafeBindError, build_http_app, check_bind, keep_streams_open_on_shutdown

    try:
        check_bind(settings)
    except UnsafeBindError as exc:
        log.error("%s", exc)
        return 2
    http = settings.http
    if http.workers < 1:
        log.error("--workers must be at least 1, got %d", http.workers)
        return 2
    if not http.token:
        log.warning("HTTP transport without BGTASK_HTTP_TOKEN: any local process can call the tools")
    common: dict[str, Any] = {
        "host": http.host,
        "port": http.port,
        "log_config": None,  # keep our stderr logging
        "access_log": False,  # the gate logs one line per request
        "timeout_graceful_shutdown": SHUTDOWN_GRACE_SECONDS,  # finish in-flight calls on SIGTERM
        "server_header": False,
    }
    log.info(
        "serving MCP over streamable HTTP at http://%s:%d/mcp (%d worker(s)%s)",
        http.host,
        http.port,
        http.workers,
        ", bearer token required" if http.token else "",
    )
    # uvicorn shuts down gracefully on SIGTERM, then raises the signal again to die of it: end with 0 instead,
    # through the callers' cleanup (the embedded simulator), like any orderly stop.
    previous = signal.signal(signal.SIGTERM, _raise_stopped)
    try:
        if http.workers == 1:
            keep_streams_open_on_shutdown()
            uvicorn.run(build_http_app(settings), **common)
        else:
            # Workers are separate processes: they rebuild the same settings from the environment.
            os.environ.update({k: v for k, v in env.items() if k.startswith("BGTASK_")})
            os.environ.update(_settings_env(settings))
            uvicorn.run("bgtask_mcp.cli:http_app_from_env", factory=True, workers=http.workers, **common)
    except _Stopped:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    log.info("HTTP server stopped")
    return 0


class _Stopped(Exception):
    """SIGTERM arrived outside uvicorn's own handling (before it started, or re-raised after it stopped)."""


def _raise_stopped(signum: int, frame: object) -> None:
    raise _Stopped


def _settings_env(settings: Settings) -> dict[str, str]:
    out = {"BGTASK_TRANSPORT": "http", "BGTASK_LOG_LEVEL": settings.log_level}
    for name, value in (
        ("BGTASK_ENDPOINT", settings.endpoint),
        ("BGTASK_REGION", settings.region),
        ("BGTASK_PROJECT_ID", settings.project_id),
        ("BGTASK_HTTP_HOST", settings.http.host),
        ("BGTASK_HTTP_PORT", str(settings.http.port)),
    ):
        if value:
            out[name] = value
    if settings.http.allow_unauthenticated_network_bind:
        out["BGTASK_ALLOW_UNAUTHENTICATED_NETWORK_BIND"] = "1"
    if settings.simulator:
        out["BGTASK_SIMULATOR"] = "1"
    return out


def http_app_from_env() -> object:
    """uvicorn factory for worker processes: the parent checked the settings, the worker rebuilds them."""
    from bgtask_mcp.http_app import build_http_app, keep_streams_open_on_shutdown

    env = os.environ
    settings = load_settings(
        env,
        allow_unauthenticated_network_bind=env.get("BGTASK_ALLOW_UNAUTHENTICATED_NETWORK_BIND") == "1",
        simulator=env.get("BGTASK_SIMULATOR") == "1" or None,
    )
    setup_logging(settings.log_level)
    keep_streams_open_on_shutdown()
    return build_http_app(settings)


def _simulator(args: argparse.Namespace) -> int:
    from bgtask_mcp.simulator import data
    from bgtask_mcp.simulator.server import SimulatorServer

    setup_logging("INFO")
    server = SimulatorServer(host=args.host, port=args.port)
    server.start()
    print(f"DMS simulator listening on {server.url}", flush=True)
    print(f"  BGTASK_ENDPOINT={server.url}", flush=True)
    print(f"  BGTASK_ACCESS_KEY={data.SIM_ACCESS_KEY}", flush=True)
    print(f"  BGTASK_SECRET_KEY={data.SIM_SECRET_KEY}", flush=True)
    print(f"  BGTASK_PROJECT_ID={data.SIM_PROJECT_ID}", flush=True)
    print("  instances: " + ", ".join(f"{i.name} ({i.engine}) {i.id}" for i in data.INSTANCES), flush=True)
    try:
        import threading

        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    command = args.command or "serve"
    if command == "serve":
        if args.command is None:
            args = _parser().parse_args(["serve"])
        return _serve(args, os.environ)
    if command == "simulator":
        return _simulator(args)
    if command == "demo":
        from bgtask_mcp.demo import run_demo

        return run_demo(as_json=args.json)
    return 2
