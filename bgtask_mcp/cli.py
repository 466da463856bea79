"""The ``bgtask-mcp`` command: serve (stdio or HTTP), simulator, demo.

Flags override environment variables; the environment is read here, once, into Settings. A setting that
does not parse ends the command with one line naming it and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from bgtask_mcp import __version__
from bgtask_mcp.boundary import cli_refusal
from bgtask_mcp.config import ConfigError, Settings, load_settings
from bgtask_mcp.process import freeze_startup_objects
from bgtask_mcp.redaction import RedactingFilter, get_logger, protect_loggers
from bgtask_mcp.settings_env import add_flags, flags_of, help_text, is_target_variable, process_environment

log = get_logger("bgtask_mcp")
EXIT_CONFIG = 2


def setup_logging(level: str) -> None:
    """Logs go to stderr only: over stdio, stdout carries protocol frames and nothing else."""
    # the format names neither thread, process nor source line: do not look them up for every record
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False
    protect_loggers()
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
        description="MCP server for the background tasks of DMS (Kafka, RabbitMQ, RocketMQ) instances on Open "
        "Telekom Cloud and Huawei Cloud. Without a command: serve over stdio.",
    )
    parser.add_argument("--version", action="version", version=f"bgtask-mcp {__version__}")
    sub = parser.add_subparsers(dest="command")
    serve = sub.add_parser(
        "serve",
        help="run the MCP server (stdio by default)",
        description="Run the MCP server over stdio (default) or streamable HTTP at /mcp.",
        epilog=help_text(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add_flags(serve)
    sim = sub.add_parser(
        "simulator",
        help="run the embedded DMS simulator as an HTTP service",
        description="Serve the DMS API (simulated) on loopback, one port per region. Prints the settings that "
        "point bgtask-mcp at it.",
    )
    sim.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    sim.add_argument("--port", type=int, default=8421, help="the first region's port (default 8421; 0: free ones)")
    demo = sub.add_parser(
        "demo",
        help="start the simulator and the server, drive it with a real MCP client, print the session",
        description="Start the DMS simulator and the MCP server (over stdio), connect a real MCP client, go from an "
        "instance name to its tasks (a success, a failure, an error, a wait) and print the session.",
    )
    demo.add_argument("--json", action="store_true", help="print raw structured results instead of a summary")
    return parser


def _serve(args: argparse.Namespace, env: Mapping[str, str]) -> int:
    env, flags = dict(env), flags_of(args)
    simulator = None
    if args.simulator or env.get("BGTASK_SIMULATOR") == "1":
        from bgtask_mcp.simulator.server import SimulatorServer, server_env

        simulator = SimulatorServer().start()
        env = {k: v for k, v in env.items() if not is_target_variable(k)} | server_env(simulator)
        flags.update(endpoint=None, region=None, project_id=None, cloud=None, simulator=True)
    try:
        return _serve_with(env, flags, simulator.url if simulator is not None else None)
    finally:
        if simulator is not None:
            simulator.stop()


def _serve_with(env: dict[str, str], flags: dict[str, Any], simulator_url: str | None) -> int:
    try:
        settings = load_settings(env, **flags)
    except ConfigError as exc:
        print(cli_refusal(exc), file=sys.stderr)
        return EXIT_CONFIG
    setup_logging(settings.log_level)
    from bgtask_mcp.observability.tracing import start_tracing

    tracing = start_tracing(settings.otlp_endpoint, settings.otel_service_name)
    if simulator_url:
        log.info("answering from the embedded DMS simulator at %s (results are simulated)", simulator_url)
    try:
        if settings.transport == "http":
            from bgtask_mcp.http.serve import serve_http
            from bgtask_mcp.settings_env import environment_with_flags

            return serve_http(settings, environment_with_flags(env, flags))
        from bgtask_mcp.server import build_server

        server = build_server(settings)
        freeze_startup_objects()
        server.run("stdio")
        return 0
    except ConfigError as exc:  # found only when serving starts: a port that is taken
        print(cli_refusal(exc), file=sys.stderr)
        return EXIT_CONFIG
    except KeyboardInterrupt:
        return 130
    finally:
        if tracing is not None:
            tracing.shutdown()  # send what is still buffered


def http_app_from_env() -> object:
    """uvicorn factory for worker processes: the parent checked the settings, each worker rebuilds them."""
    from bgtask_mcp.http.app import build_http_app
    from bgtask_mcp.http.serve import keep_streams_open_on_shutdown, worker_flags
    from bgtask_mcp.observability.tracing import start_tracing

    env = process_environment()
    settings = load_settings(env, **worker_flags(env))
    setup_logging(settings.log_level)
    start_tracing(settings.otlp_endpoint, settings.otel_service_name)
    keep_streams_open_on_shutdown()
    app = build_http_app(settings)
    freeze_startup_objects()
    return app


def _simulator(args: argparse.Namespace) -> int:
    import threading

    from bgtask_mcp.simulator.server import SimulatorServer, server_env

    setup_logging("INFO")
    try:
        server = SimulatorServer(host=args.host, port=args.port).start()
    except OSError as exc:
        print(f"bgtask-mcp: the simulator cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return EXIT_CONFIG
    print(f"DMS simulator listening on {server.url}", flush=True)
    for region, url in server.urls.items():
        print(f"  region {region}: {url}", flush=True)
    print("point bgtask-mcp at it with:", flush=True)
    for name, value in server_env(server).items():
        print(f"  {name}={value}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command is None:
        args = _parser().parse_args(["serve", *(argv or [])])
    if args.command == "serve":
        return _serve(args, process_environment())
    if args.command == "simulator":
        return _simulator(args)
    from bgtask_mcp.demo import run_demo

    return run_demo(as_json=args.json)


__all__ = ["Settings", "main", "setup_logging"]
