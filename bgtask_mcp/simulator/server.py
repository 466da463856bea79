"""The simulator as an ASGI app and as a real HTTP service: one loopback port per region, served by uvicorn
in a daemon thread (in-process) or in the foreground (``bgtask-mcp simulator``)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Mapping

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp

from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.api import Api
from bgtask_mcp.simulator.auth import Gateway
from bgtask_mcp.simulator.control import Control
from bgtask_mcp.simulator.faults import FaultInjector
from bgtask_mcp.simulator.responses import error
from bgtask_mcp.simulator.state import SimState

REGION_NAMES = tuple(r.name for r in data.REGIONS)


def build_app(state: SimState | None = None, regions_by_port: Mapping[int, str] | None = None) -> ASGIApp:
    state = state or SimState.seeded()
    api = Api(state, Gateway(state), regions_by_port or {})
    inner = Starlette(routes=api.routes())
    faults = FaultInjector(inner, state)
    control = Control(state, faults)
    for route in control.routes():
        inner.router.routes.append(route)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error("APIG.0101", gateway=True)

    inner.add_exception_handler(404, not_found)
    return faults


class SimulatorServer:
    """The simulator on real sockets, one per region: ``with SimulatorServer() as sim: sim.urls["eu-nl"]``.

    ``port`` is the first region's; the others take the next ports (or free ones, when ``port`` is 0).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SimState | None = None) -> None:
        self.state = state or SimState.seeded()
        self._sockets = [_bind(host, port + i if port else 0) for i in range(len(REGION_NAMES))]
        ports = [s.getsockname()[1] for s in self._sockets]
        self.host = host
        self.urls = {region: f"http://{host}:{p}" for region, p in zip(REGION_NAMES, ports, strict=True)}
        config = uvicorn.Config(
            build_app(self.state, dict(zip(ports, REGION_NAMES, strict=True))),
            log_config=None,  # uvicorn's default config logs to stdout: stdout belongs to MCP frames
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        """The default region's endpoint (and IAM, which answers on every port)."""
        return self.urls[REGION_NAMES[0]]

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": self._sockets}, name="dms-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:  # a start-up wait, not a test's timing: it ends at the first event
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the DMS simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        for sock in self._sockets:
            sock.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _bind(host: str, port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, port))
    return sock


def server_env(sim: SimulatorServer) -> dict[str, str]:
    """The settings that point bgtask-mcp at a running simulator: AK/SK and a region, nothing else (the project
    is looked up in its IAM), plus each region's endpoint."""
    env = {
        "BGTASK_ACCESS_KEY": data.SIM_ACCESS_KEY,
        "BGTASK_SECRET_KEY": data.SIM_SECRET_KEY,
        "BGTASK_REGION": REGION_NAMES[0],
        "BGTASK_IAM_ENDPOINT": sim.url + "/v3",
    }
    for region, url in sim.urls.items():
        env[f"HUAWEICLOUD_SDK_REGION_KAFKA_{region.upper().replace('-', '_')}"] = url
        env[f"HUAWEICLOUD_SDK_REGION_CTS_{region.upper().replace('-', '_')}"] = url  # CTS on the same port
    return env
