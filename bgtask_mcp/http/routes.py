"""The HTTP routes beside /mcp that need no token: health and readiness probes, ``/metrics``, and the OAuth
protected-resource metadata at the root path (the SDK serves it under ``/.well-known/.../mcp`` as well)."""

from __future__ import annotations

from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from bgtask_mcp import __version__
from bgtask_mcp.cache import SharedStore
from bgtask_mcp.config import Settings
from bgtask_mcp.dms.client import missing_settings
from bgtask_mcp.observability.telemetry import NO_TELEMETRY, Telemetry

METADATA_PATH = "/.well-known/oauth-protected-resource"


class Routes:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.telemetry: Telemetry = NO_TELEMETRY
        if settings.http.metrics:
            from bgtask_mcp.observability.metrics import PrometheusTelemetry

            self.telemetry = PrometheusTelemetry()
        cloud = settings.default_cloud
        self.problem = missing_settings(cloud, cloud.endpoints(settings.endpoint_overrides))
        self.paths = {"/healthz", "/readyz"}
        if settings.http.metrics:
            self.paths.add("/metrics")
        if settings.http.oauth is not None:
            self.paths.add(METADATA_PATH)

    def handles(self, path: str) -> bool:
        return path in self.paths

    def shared_store(self) -> SharedStore | None:
        if not self.settings.cache_url:
            return None
        from bgtask_mcp.shared_cache import RedisStore

        return RedisStore(self.settings.cache_url)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope["path"]
        if path == "/healthz":
            response: Response = JSONResponse({"status": "ok", "version": __version__})
        elif path == "/readyz":
            response = self._readiness()
        elif path == "/metrics":
            from prometheus_client import CONTENT_TYPE_LATEST

            from bgtask_mcp.observability.metrics import PrometheusTelemetry

            assert isinstance(self.telemetry, PrometheusTelemetry)
            response = Response(self.telemetry.exposition(), media_type=CONTENT_TYPE_LATEST)
        else:
            response = self._metadata()
        await response(scope, receive, send)

    def _readiness(self) -> Response:
        if self.problem:
            return JSONResponse({"status": "not ready", "reason": self.problem}, status_code=503)
        return JSONResponse({"status": "ready", "backend": "simulator" if self.settings.simulator else "dms"})

    def _metadata(self) -> Response:
        oauth = self.settings.http.oauth
        assert oauth is not None
        return JSONResponse(
            {
                "resource": self.settings.http.public_url,
                "authorization_servers": [oauth.issuer],
                "scopes_supported": [oauth.scope],
                "bearer_methods_supported": ["header"],
            },
            headers={"Access-Control-Allow-Origin": "*"},
        )
