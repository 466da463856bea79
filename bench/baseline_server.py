"""The yardstick: a bare ``MCPServer`` with one trivial tool and static data, nothing else.

It is what the SDK costs on its own (see the "Reference costs" table of MCP_SDK_V2.md); whatever
bgtask-mcp adds on top is its own cost. Served the way bgtask-mcp serves: stdio, or stateless
streamable HTTP at ``/mcp`` with SSE responses under uvicorn (one or several workers).

    python -m bench.baseline_server                      # stdio
    python -m bench.baseline_server --port 8001 [--workers 2]   # HTTP

With BENCH_UPSTREAM=<simulator URL> it has a second tool, ``fetch``: one signed httpx2 GET of the seed task,
returned as the raw JSON text. That is the floor of a server that reads DMS on every call (our cache off).
"""

from __future__ import annotations

import argparse
import os
import sys

from mcp.server import MCPServer

TOOL = "echo"
ANSWER = "ok"
FETCH = "fetch"


def build_server() -> MCPServer:
    mcp = MCPServer("baseline")

    @mcp.tool()
    async def echo(text: str = ANSWER) -> str:
        """Return the text it was given."""
        return text

    upstream = os.environ.get("BENCH_UPSTREAM")
    if upstream:
        import httpx2

        from bgtask_mcp.dms.signer import AkSkSigner
        from bgtask_mcp.simulator import data

        url = f"{upstream}/v2/{data.SIM_PROJECT_ID}/instances/{data.KAFKA.id}/tasks/{data.EXAMPLE_TASK_ID}"
        signer = AkSkSigner(data.SIM_ACCESS_KEY, data.SIM_SECRET_KEY, project_id=data.SIM_PROJECT_ID)
        client = httpx2.AsyncClient(auth=signer, headers={"Content-Type": "application/json"}, timeout=10.0)

        @mcp.tool()
        async def fetch() -> str:
            """Read the seed task from DMS: one signed GET, the raw JSON text."""
            response = await client.get(url)
            response.raise_for_status()
            return response.text

    return mcp


def http_app() -> object:
    """uvicorn factory (one app per worker process), configured like bgtask-mcp's HTTP transport."""
    return build_server().streamable_http_app(stateless_http=True, json_response=False, host="127.0.0.1")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.baseline_server", description=__doc__)
    parser.add_argument("--port", type=int, help="serve streamable HTTP on 127.0.0.1:PORT (default: stdio)")
    parser.add_argument("--workers", type=int, default=1, help="HTTP worker processes")
    args = parser.parse_args(argv)
    if args.port is None:
        build_server().run("stdio")
        return 0
    import uvicorn

    common = {"host": "127.0.0.1", "port": args.port, "log_level": "warning", "access_log": False}
    if args.workers <= 1:
        uvicorn.run(http_app(), **common)  # type: ignore[arg-type]
    else:
        uvicorn.run("bench.baseline_server:http_app", factory=True, workers=args.workers, **common)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    sys.exit(main())
