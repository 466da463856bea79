"""DMSClient: the background-task API over one pooled, signed ``httpx2.AsyncClient``.

Knows HTTP and DMS, nothing of MCP. Reads are retried on throttling, 5xx and network errors with
capped exponential backoff and jitter, within one deadline per call; never on 400/401/403/404.
"""

from __future__ import annotations

import json
import logging
import random
import ssl
import time
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import anyio
import httpx2

from bgtask_mcp import __version__
from bgtask_mcp.config import Limits, Settings
from bgtask_mcp.dms.credentials import NO_CREDENTIALS, build_auth
from bgtask_mcp.dms.endpoints import resolve_endpoint, resolve_iam
from bgtask_mcp.dms.errors import (
    APIError,
    ConfigurationError,
    DeadlineExceeded,
    DMSError,
    ResponseTooLarge,
    TaskNotFound,
    TransportError,
)
from bgtask_mcp.models import TaskList, task_list_from_wire

log = logging.getLogger("bgtask_mcp.dms")

USER_AGENT = f"bgtask-mcp/{__version__}"

# The X-Request-Id of the last DMS answer in this call, for the per-call log line.
current_request_id: ContextVar[str | None] = ContextVar("dms_request_id", default=None)


@dataclass
class CallStats:
    """What one logical call cost: attempts and the last request id (for logs and errors)."""

    attempts: int = 0
    request_id: str | None = None


class DMSClient:
    """Talks to one DMS endpoint. Create once per server; close with ``aclose()``."""

    def __init__(self, settings: Settings, *, transport: httpx2.AsyncBaseTransport | None = None) -> None:
        self._settings = settings
        self._limits: Limits = settings.limits
        self._config_error: str | None = None
        self.endpoint = ""
        auth: httpx2.Auth | None = None
        try:
            self.endpoint = resolve_endpoint(settings.endpoint, settings.region, settings.endpoint_overrides)
            iam = None
            if settings.credentials.mode == "password":
                iam = resolve_iam(settings.region, settings.credentials.iam_endpoint)
            auth = build_auth(settings.credentials, settings.project_id, iam)
        except ConfigurationError as exc:
            self._config_error = str(exc)
        verify: ssl.SSLContext | bool = True
        if settings.ca_file:
            verify = ssl.create_default_context(cafile=settings.ca_file)
        lim = self._limits
        self._http = httpx2.AsyncClient(
            auth=auth,
            verify=verify,
            trust_env=True,
            transport=transport,
            timeout=httpx2.Timeout(connect=lim.connect_timeout, read=lim.read_timeout, write=10.0, pool=5.0),
            limits=httpx2.Limits(
                max_connections=lim.max_connections,
                max_keepalive_connections=lim.max_connections,
                keepalive_expiry=30.0,
            ),
            headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
            follow_redirects=False,
        )
        self.auth = auth
        self.requests_sent = 0

    @property
    def configured(self) -> bool:
        return self._config_error is None

    @property
    def configuration_problem(self) -> str | None:
        return self._config_error

    def default_project(self) -> str | None:
        return self._settings.project_id

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> DMSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the API --------------------------------------------------------------------------------

    def _project(self, project_id: str | None) -> str:
        project = project_id or self._settings.project_id
        if not project:
            raise ConfigurationError(
                "no project id: pass project_id, or configure a default with BGTASK_PROJECT_ID "
                "(32 hex characters, from the console's My Credentials page)"
            )
        return project

    def _tasks_path(self, project: str, instance_id: str) -> str:
        return f"/v2/{quote(project, safe='')}/instances/{quote(instance_id, safe='')}/tasks"

    async def get_task(self, instance_id: str, task_id: str, project_id: str | None = None) -> TaskList:
        """ShowBackgroundTask. Raises TaskNotFound when DMS answers with an empty envelope."""
        project = self._project(project_id)
        path = f"{self._tasks_path(project, instance_id)}/{quote(task_id, safe='')}"
        data, stats = await self._get_json(path, [], project)
        result = task_list_from_wire(data)
        if not result.tasks:
            raise TaskNotFound(task_id, instance_id, stats.request_id)
        return result

    async def list_tasks(
        self,
        instance_id: str,
        *,
        project_id: str | None = None,
        start: int = 1,
        limit: int = 10,
        begin_time: str | None = None,
        end_time: str | None = None,
    ) -> TaskList:
        """ListBackgroundTasks: one page, newest first, ``task_count`` = total matching."""
        project = self._project(project_id)
        query = [("start", str(start)), ("limit", str(limit))]
        if begin_time:
            query.append(("begin_time", begin_time))
        if end_time:
            query.append(("end_time", end_time))
        data, _ = await self._get_json(self._tasks_path(project, instance_id), query, project)
        return task_list_from_wire(data)

    async def get_progress(self, instance_id: str, task_id: str, project_id: str | None = None) -> int | None:
        """ShowBackgroundTaskProgress (scale-out tasks only). None when the API has no progress for it."""
        project = self._project(project_id)
        path = f"{self._tasks_path(project, instance_id)}/{quote(task_id, safe='')}/progress"
        try:
            data, _ = await self._get_json(path, [], project, attempts=1)
        except APIError as exc:
            if exc.status in (400, 404):
                return None
            raise
        value = data.get("progress_percentage")
        try:
            return max(0, min(100, int(str(value))))
        except (TypeError, ValueError):
            return None

    # -- transport ------------------------------------------------------------------------------

    async def _get_json(
        self, path: str, query: list[tuple[str, str]], project: str, *, attempts: int | None = None
    ) -> tuple[dict[str, Any], CallStats]:
        if self._config_error is not None:
            raise ConfigurationError(self._config_error)
        if self.auth is None:
            raise ConfigurationError(NO_CREDENTIALS)
        stats = CallStats()
        deadline = self._limits.call_deadline
        try:
            with anyio.fail_after(deadline):
                body = await self._get_with_retries(path, query, project, stats, attempts or self._limits.max_attempts)
        except TimeoutError:
            raise DeadlineExceeded(
                f"DMS did not answer within {deadline:g} s (after {stats.attempts} attempt(s), last X-Request-Id: "
                f"{stats.request_id or 'none'}). Next step: retry later; if it persists check the endpoint "
                f"{self.endpoint} and the network path"
            ) from None
        try:
            data = json.loads(body)
        except ValueError:
            raise APIError(
                status=200,
                error_code=None,
                error_msg="the answer was not JSON (a proxy or gateway page?)",
                request_id=stats.request_id,
                endpoint=self.endpoint,
            ) from None
        if not isinstance(data, dict):
            raise APIError(200, None, "the answer was JSON but not an object", stats.request_id, self.endpoint)
        return data, stats

    async def _get_with_retries(
        self, path: str, query: list[tuple[str, str]], project: str, stats: CallStats, max_attempts: int
    ) -> bytes:
        lim = self._limits
        while True:
            stats.attempts += 1
            try:
                return await self._get_once(path, query, project, stats)
            except (APIError, TransportError) as exc:
                if not exc.retryable or stats.attempts >= max_attempts:
                    raise
                delay = min(lim.backoff_cap, lim.backoff_base * 2 ** (stats.attempts - 1))
                delay = random.uniform(delay / 2, delay)  # jitter: spread concurrent retries
                if isinstance(exc, APIError) and exc.retry_after is not None:
                    delay = max(delay, min(exc.retry_after, lim.backoff_cap * 2))
                log.info(
                    "retrying DMS GET after %s (attempt %d of %d, sleeping %.2f s, request id %s)",
                    exc.error_code if isinstance(exc, APIError) else type(exc).__name__,
                    stats.attempts,
                    max_attempts,
                    delay,
                    stats.request_id,
                )
                await anyio.sleep(delay)

    async def _get_once(self, path: str, query: list[tuple[str, str]], project: str, stats: CallStats) -> bytes:
        url = httpx2.URL(self.endpoint + path, params=query or None)
        self.requests_sent += 1
        started = time.perf_counter()
        try:
            async with self._http.stream("GET", url, headers={"X-Project-Id": project}) as response:
                stats.request_id = response.headers.get("X-Request-Id") or stats.request_id
                current_request_id.set(stats.request_id)
                body = await self._read_capped(response)
        except httpx2.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})", self.endpoint, timeout=True) from None
        except httpx2.TransportError as exc:
            raise TransportError(_transport_text(exc), self.endpoint) from None
        log.debug(
            "DMS GET %s -> %d in %.1f ms (request id %s)",
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            stats.request_id,
        )
        if response.status_code >= 400:
            raise _api_error(response, body, stats.request_id, self.endpoint, self._settings.credentials.mode)
        return body

    async def _read_capped(self, response: httpx2.Response) -> bytes:
        cap = self._limits.max_response_bytes
        declared = response.headers.get("Content-Length")
        if declared and declared.isdigit() and int(declared) > cap:
            raise ResponseTooLarge(
                f"DMS announced a {int(declared)} byte answer, over the {cap} byte limit; "
                "ask for fewer tasks (a smaller limit)"
            )
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > cap:
                raise ResponseTooLarge(
                    f"the DMS answer exceeded the {cap} byte limit and was cut off; ask for fewer tasks (a smaller "
                    f"limit). X-Request-Id: {response.headers.get('X-Request-Id') or 'none'}"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _transport_text(exc: httpx2.TransportError) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"the connection broke mid-answer ({text})"
    return text


def _api_error(response: httpx2.Response, body: bytes, request_id: str | None, endpoint: str, mode: str) -> APIError:
    code: str | None = None
    msg: str | None = None
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            code = _str_or_none(data.get("error_code") or data.get("code"))
            msg = _str_or_none(data.get("error_msg") or data.get("message"))
            request_id = request_id or _str_or_none(data.get("request_id"))
    except ValueError:
        kind = "an empty body" if not body.strip() else "a non-JSON body (an HTML gateway page?)"
        msg = f"{kind}, content type {response.headers.get('Content-Type') or 'unknown'}"
    if mode == "token" and code in ("APIG.0307", "DMS.10240102"):
        msg = (
            f"{msg}; the static token in BGTASK_IAM_TOKEN has expired: set a fresh one, or use AK/SK or password login"
        )
    retry_after = None
    raw_retry = response.headers.get("Retry-After")
    if raw_retry:
        try:
            retry_after = max(0.0, float(raw_retry))
        except ValueError:
            retry_after = None
    return APIError(
        status=response.status_code,
        error_code=code,
        error_msg=msg,
        request_id=request_id,
        endpoint=endpoint,
        retry_after=retry_after,
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


__all__ = ["CallStats", "DMSClient", "DMSError"]
