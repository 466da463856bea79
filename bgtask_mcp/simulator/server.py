"""Run the simulator on a loopback port: in a background thread (in-process) or in the foreground."""

from __future__ import annotations

import socket
import threading
import time

import uvicorn

from bgtask_mcp.simulator.app import SimState, build_app


class SimulatorServer:
    """The simulator on a real socket, served by uvicorn in a daemon thread.

    ``with SimulatorServer() as sim: sim.url`` gives ``http://127.0.0.1:<port>``.
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, state: SimState | None = None) -> None:
        self.state = state or SimState.seeded()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock.bind((host, port))
        self.host, self.port = self._sock.getsockname()[:2]
        config = uvicorn.Config(
            build_app(self.state),
            log_config=None,  # uvicorn's default config logs to stdout: stdout belongs to MCP frames
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> SimulatorServer:
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [self._sock]}, name="dms-simulator", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the DMS simulator did not start")
            time.sleep(0.01)
        return self

    def stop(self) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._sock.close()

    def __enter__(self) -> SimulatorServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_foreground(host: str, port: int) -> None:
    """``bgtask-mcp simulator``: serve until interrupted."""
    uvicorn.run(build_app(), host=host, port=port, log_config=None, access_log=False, lifespan="off")
