"""DMSClient: the background-task API over one pooled, signed ``httpx2.AsyncClient``.

Knows HTTP and DMS, nothing of MCP. The reliability rules (docs/reliability.md):

- Reads are retried on throttling (429 APIG.0308, 404 DMS.10240407), 5xx and network errors, with capped
  exponential backoff and full jitter, honouring ``Retry-After``, at most ``max_attempts`` times; never on
  400, 401 (five bad signatures lock the key), 403 or a 404 that means "not found".
- Every call has one deadline, retries and token login included; a scope opened with ``deadline()``
  (one tool call) bounds all the calls made inside it. A retry that could not finish before the deadline
  is not started: the last error is returned at once.
- Answers are streamed and cut off at ``max_response_bytes``; connect/read/write/pool timeouts and a
  bounded connection pool apply; a cancelled call closes its upstream connection.
- Ids are checked against the formats DMS accepts, so no request ever leaves for another path.
"""

from __future__ import annotations

import json
import logging
import random
import re
import ssl
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import anyio
import httpx2

from bgtask_mcp import __version__
from bgtask_mcp.config import Limits, Settings
from bgtask_mcp.dms.credentials import (
    NO_CREDENTIALS,
    TOKEN_EXPIRED_CODES,
    PasswordTokenAuth,
    build_auth,
    read_capped,
)
from bgtask_mcp.dms.endpoints import resolve_endpoint, resolve_iam
from bgtask_mcp.dms.errors import (
    APIError,
    ConfigurationError,
    DeadlineExceeded,
    DMSError,
    InvalidArgument,
    ResponseTooLarge,
    TaskNotFound,
    TransportError,
)
from bgtask_mcp.models import TaskList, task_list_from_wire
from bgtask_mcp.secrets import protect_loggers

log = logging.getLogger("bgtask_mcp.dms")
# the HTTP stack traces response headers at DEBUG, an IAM login's X-Subject-Token among them
protect_loggers()

USER_AGENT = f"bgtask-mcp/{__version__}"

# The X-Request-Id of the last DMS answer in this call, for the per-call log line.
current_request_id: ContextVar[str | None] = ContextVar("dms_request_id", default=None)
# time.monotonic() by which everything in the current scope (one tool call) must be done.
_scope_deadline: ContextVar[float | None] = ContextVar("dms_scope_deadline", default=None)

HEX32_RE = re.compile(r"[0-9a-f]{32}")
UUID_RE = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# a Retry-After beyond this is not waited for inside one call, whatever the deadline
MAX_RETRY_AFTER = 60.0


@dataclass
class CallStats:
    """What one logical call cost: attempts and the last request id (for logs and errors)."""

    attempts: int = 0
    request_id: str | None = None
    token_refreshed: bool = False


@contextmanager
def call_deadline(seconds: float) -> Iterator[float]:
    """Bound every DMS call made inside this scope (e.g. one tool call) by one deadline, retries included.

    Nested scopes keep the earlier deadline. Yields the deadline as a ``time.monotonic()`` value.
    """
    new = time.monotonic() + seconds
    outer = _scope_deadline.get()
    deadline = new if outer is None else min(outer, new)
    token = _scope_deadline.set(deadline)
    try:
        yield deadline
    finally:
        _scope_deadline.reset(token)


def _id_error(argument: str, value: str, accepted: str, code: str, hint: str) -> InvalidArgument:
    shown = value[:80]
    return InvalidArgument(
        f"{argument} {shown!r} is not a DMS {argument.removesuffix('_id')} id: DMS accepts only {accepted} and "
        f"refuses anything else with {code}, so no request was sent. Next step: {hint}"
    )


def check_project_id(value: str, *, configured: bool = False) -> str:
    lowered = value.lower()  # ids are hex: case does not matter, whitespace does
    if HEX32_RE.fullmatch(lowered):
        return lowered
    if configured:
        raise ConfigurationError(
            f"the configured default project id {value[:80]!r} (BGTASK_PROJECT_ID) is not 32 hex characters. Next "
            "step: set BGTASK_PROJECT_ID to the project id from the console's My Credentials page, or pass project_id"
        )
    raise _id_error(
        "project_id",
        value,
        "32 hex characters",
        "DMS.00400002",
        "check the project id (from the console's My Credentials page), or omit it to use the default project",
    )


def check_instance_id(value: str) -> str:
    lowered = value.lower()  # ids are hex: case does not matter, whitespace does
    if UUID_RE.fullmatch(lowered):
        return lowered
    raise _id_error(
        "instance_id",
        value,
        "a UUID such as 11111111-2222-3333-4444-555555555555",
        "DMS.00400030",
        "check the instance id (copy it from the instance's Basic Information page)",
    )


def check_task_id(value: str) -> str:
    lowered = value.lower()  # ids are hex: case does not matter, whitespace does
    if HEX32_RE.fullmatch(lowered) or UUID_RE.fullmatch(lowered):
        return lowered
    raise _id_error(
        "task_id",
        value,
        "32 hex characters or a job_id UUID",
        "DMS.00400070",
        "check the task id, or find the task with list_background_tasks",
    )


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
            auth = build_auth(
                settings.credentials, settings.project_id, iam, max_response_bytes=settings.limits.max_response_bytes
            )
        except ConfigurationError as exc:
            self._config_error = str(exc)
        self._transport = transport
        self._http_client: httpx2.AsyncClient | None = None
        self.auth = auth
        self.requests_sent = 0

    @property
    def _http(self) -> httpx2.AsyncClient:
        return self._client()

    def _client(self) -> httpx2.AsyncClient:
        """The pooled client, built on first use: its TLS context (the CA bundle) and first import cost about
        40 ms, which would otherwise sit between the spawn of a stdio server and its answer to initialize."""
        if self._http_client is None:
            settings, lim = self._settings, self._limits
            verify: ssl.SSLContext | bool = True
            if settings.ca_file:
                verify = ssl.create_default_context(cafile=settings.ca_file)
            self._http_client = httpx2.AsyncClient(
                auth=self.auth,
                verify=verify,
                trust_env=True,
                transport=self._transport,
                timeout=httpx2.Timeout(connect=lim.connect_timeout, read=lim.read_timeout, write=10.0, pool=5.0),
                limits=httpx2.Limits(
                    max_connections=lim.max_connections,
                    max_keepalive_connections=lim.max_connections,
                    keepalive_expiry=30.0,
                ),
                headers={"User-Agent": USER_AGENT, "Content-Type": "application/json"},
                follow_redirects=False,
            )
            if isinstance(self.auth, PasswordTokenAuth):
                self.auth.bind(self._http_client)
        return self._http_client

    @property
    def configured(self) -> bool:
        return self._config_error is None

    @property
    def configuration_problem(self) -> str | None:
        return self._config_error

    def default_project(self) -> str | None:
        return self._settings.project_id

    def deadline(self, seconds: float | None = None) -> AbstractContextManager[float]:
        """``with client.deadline():`` one deadline (default: the configured call deadline) for every call
        made inside, e.g. all the pages one filtered list call reads."""
        return call_deadline(self._limits.call_deadline if seconds is None else seconds)

    async def aclose(self) -> None:
        if self._http_client is not None:
            await self._http_client.aclose()

    async def __aenter__(self) -> DMSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- the API --------------------------------------------------------------------------------

    def _project(self, project_id: str | None) -> str:
        if project_id:
            return check_project_id(project_id)
        project = self._settings.project_id
        if not project:
            raise ConfigurationError(
                "no project id: pass project_id, or configure a default with BGTASK_PROJECT_ID "
                "(32 hex characters, from the console's My Credentials page)"
            )
        return check_project_id(project, configured=True)

    def _tasks_path(self, project: str, instance_id: str) -> str:
        # every segment is checked to be hex or a UUID: nothing needs (or may get) escaping
        return f"/v2/{project}/instances/{check_instance_id(instance_id)}/tasks"

    async def get_task(self, instance_id: str, task_id: str, project_id: str | None = None) -> TaskList:
        """ShowBackgroundTask. Raises TaskNotFound when DMS answers with an empty envelope."""
        project = self._project(project_id)
        path = f"{self._tasks_path(project, instance_id)}/{check_task_id(task_id)}"
        data, stats = await self._get_json(
            path, [], project, too_large="the task's answer is unusually large; report its X-Request-Id to support"
        )
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
        path = f"{self._tasks_path(project, instance_id)}/{check_task_id(task_id)}/progress"
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
        self,
        path: str,
        query: list[tuple[str, str]],
        project: str,
        *,
        attempts: int | None = None,
        too_large: str = "ask for fewer tasks (a smaller limit)",
    ) -> tuple[dict[str, Any], CallStats]:
        if self._config_error is not None:
            raise ConfigurationError(self._config_error)
        if self.auth is None:
            raise ConfigurationError(NO_CREDENTIALS)
        self._client()  # built on first use: before this call's deadline clock starts
        stats = CallStats()
        started = time.monotonic()
        deadline_at = started + self._limits.call_deadline
        scope = _scope_deadline.get()
        if scope is not None:
            deadline_at = min(deadline_at, scope)
        budget = deadline_at - started
        if budget <= 0:
            raise DeadlineExceeded(
                "the tool call's time budget was spent before this DMS request could be sent (earlier requests of "
                "the same call took it). Next step: retry; for a filtered list, narrow the time window or the page"
            )
        try:
            with anyio.fail_after(budget):
                body = await self._get_with_retries(
                    path, query, project, stats, attempts or self._limits.max_attempts, deadline_at, too_large
                )
        except TimeoutError:
            raise DeadlineExceeded(
                f"DMS did not answer within the call's {budget:.3g} s deadline (after {stats.attempts} attempt(s), "
                f"last X-Request-Id: {stats.request_id or 'none'}); the request in flight was abandoned. Next step: "
                f"retry later; if it persists check the endpoint {self.endpoint} and the network path"
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
        self,
        path: str,
        query: list[tuple[str, str]],
        project: str,
        stats: CallStats,
        max_attempts: int,
        deadline_at: float,
        too_large: str,
    ) -> bytes:
        lim = self._limits
        failures = 0
        while True:
            stats.attempts += 1
            try:
                return await self._get_once(path, query, project, stats, too_large)
            except (APIError, TransportError) as exc:
                exc.attempts = stats.attempts
                if isinstance(exc, APIError) and self._token_to_refresh(exc, stats):
                    continue  # once per call, at once: the new login is the fix, not waiting
                failures += 1
                if not exc.retryable or failures >= max_attempts:
                    raise
                # capped exponential backoff, jittered over its upper half: concurrent callers spread out
                ceiling = min(lim.backoff_cap, lim.backoff_base * 2 ** (failures - 1))
                delay = random.uniform(ceiling / 2, ceiling)
                retry_after = exc.retry_after if isinstance(exc, APIError) else None
                if retry_after is not None:
                    delay = max(delay, retry_after)
                left = deadline_at - time.monotonic()
                if delay >= left or (retry_after is not None and retry_after > MAX_RETRY_AFTER):
                    asked = f"DMS asked to wait {retry_after:g} s; " if retry_after is not None else ""
                    exc.note = f"{asked}no further attempt: it could not finish within the call's deadline"
                    raise
                log.info(
                    "retrying DMS GET after %s (attempt %d of %d, sleeping %.2f s, request id %s)",
                    exc.error_code if isinstance(exc, APIError) else type(exc).__name__,
                    stats.attempts,
                    max_attempts,
                    delay,
                    stats.request_id,
                )
                await anyio.sleep(delay)

    def _token_to_refresh(self, exc: APIError, stats: CallStats) -> bool:
        """A password-login token DMS calls expired or revoked: log in again and retry, once per call."""
        if exc.status != 401 or exc.error_code not in TOKEN_EXPIRED_CODES:
            return False
        if not isinstance(self.auth, PasswordTokenAuth):
            return False
        if stats.token_refreshed:
            exc.note = "a freshly issued IAM token was refused too: check that the user may access this project"
            return False
        stats.token_refreshed = True
        log.info("DMS refused the IAM token (%s, request id %s); logging in again", exc.error_code, stats.request_id)
        return True

    async def _get_once(
        self, path: str, query: list[tuple[str, str]], project: str, stats: CallStats, too_large: str
    ) -> bytes:
        url = httpx2.URL(self.endpoint + path, params=query or None)
        self.requests_sent += 1
        started = time.perf_counter()
        lim = self._limits
        try:
            async with self._http.stream("GET", url, headers={"X-Project-Id": project}) as response:
                stats.request_id = response.headers.get("X-Request-Id") or stats.request_id
                current_request_id.set(stats.request_id)
                body = await read_capped(response, lim.max_response_bytes, too_large)
        except httpx2.PoolTimeout:
            raise TransportError(
                f"all {lim.max_connections} connections to DMS stayed busy (PoolTimeout)", self.endpoint, timeout=True
            ) from None
        except httpx2.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})", self.endpoint, timeout=True) from None
        except httpx2.TransportError as exc:
            raise TransportError(_transport_text(exc), self.endpoint) from None
        except httpx2.HTTPError as exc:  # e.g. a body that does not decode: retrying would not help
            raise TransportError(_transport_text(exc), self.endpoint, retryable=False) from None
        log.debug(
            "DMS GET %s -> %d in %.1f ms (request id %s)",
            path,
            response.status_code,
            (time.perf_counter() - started) * 1000,
            stats.request_id,
        )
        if response.status_code >= 400:
            error = _api_error(response, body, stats.request_id, self.endpoint, self._settings.credentials.mode)
            if (
                error.status == 401
                and error.error_code in TOKEN_EXPIRED_CODES
                and isinstance(self.auth, PasswordTokenAuth)
            ):
                self.auth.invalidate(response.request.headers.get("X-Auth-Token"))  # the next request logs in
            raise error
        if response.status_code >= 300:  # redirects are not followed: DMS never sends them, proxies and portals do
            location = response.headers.get("Location") or "nowhere"
            raise APIError(
                response.status_code, None, f"a redirect to {location[:200]}", stats.request_id, self.endpoint
            )
        return body


def _transport_text(exc: httpx2.HTTPError) -> str:
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, httpx2.RemoteProtocolError):
        return f"the connection broke mid-answer ({text})"
    if isinstance(exc, httpx2.ConnectError):
        return f"no connection (refused, unreachable or a TLS failure: {text})"
    if isinstance(exc, httpx2.DecodingError):
        return f"the answer could not be decoded ({text})"
    return text


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            return None
        seconds = when.timestamp() - (time.time() if now is None else now)
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def _api_error(response: httpx2.Response, body: bytes, request_id: str | None, endpoint: str, mode: str) -> APIError:
    code: str | None = None
    msg: str | None = None
    try:
        data = json.loads(body)
        if isinstance(data, dict):
            code = _str_or_none(data.get("error_code") or data.get("code"))
            msg = _str_or_none(data.get("error_msg") or data.get("message"))
            request_id = request_id or _str_or_none(data.get("request_id"))
        else:
            msg = "a JSON body that is not an error object"
    except ValueError:
        kind = "an empty body" if not body.strip() else "a non-JSON body (an HTML gateway page?)"
        msg = f"{kind}, content type {response.headers.get('Content-Type') or 'unknown'}"
    if mode == "token" and code in TOKEN_EXPIRED_CODES:
        msg = (
            f"{msg}; the static token in BGTASK_IAM_TOKEN has expired (or was revoked): set a fresh one, "
            "or use AK/SK or password login"
        )
    return APIError(
        status=response.status_code,
        error_code=code,
        error_msg=msg[:500] if msg else msg,
        request_id=request_id,
        endpoint=endpoint,
        retry_after=parse_retry_after(response.headers.get("Retry-After")),
    )


def _str_or_none(value: object) -> str | None:
    return None if value is None or value == "" else str(value)


__all__ = [
    "CallStats",
    "DMSClient",
    "DMSError",
    "ResponseTooLarge",
    "call_deadline",
    "check_instance_id",
    "check_project_id",
    "check_task_id",
    "parse_retry_after",
]
