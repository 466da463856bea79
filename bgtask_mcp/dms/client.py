"""DMSClient: the DMS API of one cloud, in any of its regions, returning wire models.

Knows HTTP, IAM and DMS, nothing of MCP. Every call runs inside one call budget (``context.call_scope``):
one deadline for all its attempts, their backoff and any IAM request; a retry that could not finish in time
is not started. Ids are checked against the formats DMS accepts where they come in (the types say so), so no
request ever leaves for another path: only the operations of ``facts/dms_operations.csv`` used by the client
(tasks, scheduled tasks, progress, instances, CTS traces, the IAM project lookup and login) are ever sent.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import Any

import anyio
import httpx2

from bgtask_mcp import facts, ids
from bgtask_mcp.clock import SYSTEM_CLOCK, Clock
from bgtask_mcp.config import CloudSettings, Limits
from bgtask_mcp.dms import context
from bgtask_mcp.dms.credentials import NO_CREDENTIALS, PasswordAuth, Prepared, RequestAuth, build_auth, is_token_refusal
from bgtask_mcp.dms.endpoints import Endpoints
from bgtask_mcp.dms.errors import (
    APIError,
    ConfigurationError,
    DeadlineExceeded,
    DMSError,
    InvalidArgument,
    TaskNotFound,
)
from bgtask_mcp.dms.iam import (
    MAX_TOKEN_RESPONSE_BYTES,
    IssuedToken,
    ProjectScope,
    issued_token,
    login_body,
    project_from,
    refused_login,
)
from bgtask_mcp.dms.retry import RetryPolicy, with_retries
from bgtask_mcp.dms.transport import Reply, Transport
from bgtask_mcp.dms.wire import WireInstanceList, WireProgress, WireTaskList, WireTracePage
from bgtask_mcp.ids import InstanceId, ProjectId, TaskId
from bgtask_mcp.observability.telemetry import NO_TELEMETRY, Telemetry, dms_span
from bgtask_mcp.redaction import get_logger, protect_loggers
from bgtask_mcp.vocabulary import PROGRESS_ENGINES

log = get_logger("bgtask_mcp.dms")

EXPIRED_STATIC_ADVICE = (
    "the static token in BGTASK_IAM_TOKEN has expired (or was revoked): set a fresh one, or use AK/SK or password login"
)
REFUSED_FRESH_ADVICE = "a freshly issued IAM token was refused too: check that the user may access this project"
MISSING_PREFIX = "bgtask-mcp is not set up to reach DMS yet: it needs "
MISSING_SUFFIX = ". Set them and restart; to try the server without a cloud account, start it with --simulator"


def missing_settings(cloud: CloudSettings, endpoints: Endpoints) -> str | None:
    """One message naming everything a cloud still lacks (region or endpoint, credentials), or None."""
    missing = []
    if not endpoints.default_region and not endpoints.explicit:
        missing.append(
            "a region (BGTASK_REGION, e.g. eu-de or eu-nl for Open Telekom Cloud, ap-southeast-1 for "
            "Huawei Cloud) or an endpoint (BGTASK_ENDPOINT)"
        )
    if cloud.credentials.mode == "none":
        missing.append(NO_CREDENTIALS)
    if not missing:
        return None
    where = "" if cloud.source == "the environment" else f" (for {cloud.source})"
    return MISSING_PREFIX + " and ".join(missing) + where + MISSING_SUFFIX


class DMSClient:
    """Talks to one cloud. Create once per server; close with ``aclose()``."""

    def __init__(
        self,
        cloud: CloudSettings,
        limits: Limits,
        *,
        overrides: dict[tuple[str, str], str] | None = None,
        ca_file: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        transport: httpx2.AsyncBaseTransport | None = None,
        jitter: Callable[[float, float], float] = random.uniform,
        telemetry: Telemetry = NO_TELEMETRY,
    ) -> None:
        protect_loggers()  # the HTTP stack traces response headers at DEBUG, an IAM login's X-Subject-Token among them
        self.cloud = cloud
        self.telemetry = telemetry
        self.endpoints = cloud.endpoints(overrides or {})
        self._limits = limits
        self._clock = clock
        self._jitter = jitter
        self.policy = RetryPolicy(limits.max_attempts, limits.backoff_base, limits.backoff_cap)
        self.http = Transport(limits, ca_file=ca_file, transport=transport)
        self.problem = missing_settings(cloud, self.endpoints)
        self.auth: RequestAuth | None = None
        if cloud.credentials.mode != "none":
            self.auth = build_auth(cloud.credentials, self._login, clock)
        self._projects: dict[str, ProjectId] = {}
        if cloud.project_id:
            self._projects[cloud.region or ""] = ids.project_id(cloud.project_id)
        self._project_locks: dict[str, anyio.Lock] = {}
        self._engines: dict[tuple[str, str], str] = {}  # (region, instance) -> engine, from list_instances
        self._no_progress: set[tuple[str, str]] = set()  # instances whose progress endpoint does not exist

    async def aclose(self) -> None:
        await self.http.aclose()

    async def __aenter__(self) -> DMSClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- where a call goes ------------------------------------------------------------------------------------

    def region(self, value: str | None) -> str:
        """The region a call is for (``value`` in any case, or the cloud's default); unknown ones are refused."""
        return self.endpoints.region(value)

    def known_project(self, region: str, given: str | None = None) -> ProjectId | None:
        """The project id for a region when no request is needed to know it (given, configured, looked up)."""
        return ids.project_id(given) if given else self._projects.get(region)

    async def project(self, region: str, given: str | None = None) -> ProjectId:
        """The project id for a region: the one given, the configured one, or IAM's (looked up once)."""
        if given:
            return ids.project_id(given)
        known = self._projects.get(region)
        if known:
            return known
        async with self._project_locks.setdefault(region, anyio.Lock()):  # concurrent first calls share it
            if region not in self._projects:
                self._projects[region] = await self._run(lambda: self._lookup_project(region))
            return self._projects[region]

    async def _lookup_project(self, region: str) -> ProjectId:
        auth = self._ready()
        if not region:
            raise ConfigurationError(
                "no project id, and no region to look it up by: set BGTASK_REGION (the server then asks IAM for "
                "its project) or BGTASK_PROJECT_ID"
            )
        name = self.cloud.project_name if region == self.cloud.region and self.cloud.project_name else region
        iam = self._iam(region, required=True)
        if isinstance(auth, PasswordAuth):
            found = await auth.project_of(ProjectScope(iam, project_name=name))
            if not found:
                raise ConfigurationError(f"IAM's token for project {name!r} names no project id; set BGTASK_PROJECT_ID")
            project = ids.project_id(found)  # an id from IAM: checked as it comes in
        else:
            prepared = await auth.prepare(ProjectScope(iam))
            reply = await self.http.request(
                "GET",
                iam + _path("KeystoneListProjects"),
                endpoint=iam,
                query=[("name", name)],
                headers=prepared.headers,
                auth=prepared.auth,
            )
            project = ids.project_id(project_from(reply, name))  # an id from IAM: checked as it comes in
        log.info("project of region %s (%s) found in IAM: %s", region, name, project)
        return project

    def _iam(self, region: str, *, required: bool = False) -> str:
        try:
            return self.endpoints.iam(region)
        except ConfigurationError:
            if required:
                raise
            return ""

    def _ready(self) -> RequestAuth:
        if self.problem is not None:
            raise ConfigurationError(self.problem)
        assert self.auth is not None
        return self.auth

    # -- the API ----------------------------------------------------------------------------------------------

    async def show_task(self, region: str, project: ProjectId, instance: InstanceId, task: TaskId) -> WireTaskList:
        """ShowBackgroundTask. Raises ``TaskNotFound`` when DMS answers with an empty envelope."""
        path = _path("ShowBackgroundTask", project_id=project, instance_id=instance, task_id=task)
        reply = await self._get("ShowBackgroundTask", region, instance, path, [], project, too_large=_LARGE_TASK)
        result = WireTaskList.from_json(reply.json_object(self.endpoints.dms(region)), simulated=reply.simulated)
        if not result.tasks:
            raise TaskNotFound(task, instance, reply.request_id)
        return result

    async def list_tasks(
        self,
        region: str,
        project: ProjectId,
        instance: InstanceId,
        *,
        start: int = 1,
        limit: int = 10,
        begin_time: str | None = None,
        end_time: str | None = None,
    ) -> WireTaskList:
        """ListBackgroundTasks: one page, newest first; ``task_count`` is the total matching."""
        query = _page_query(start, limit, begin_time, end_time)
        path = _path("ListBackgroundTasks", project_id=project, instance_id=instance)
        reply = await self._get("ListBackgroundTasks", region, instance, path, query, project)
        return WireTaskList.from_json(reply.json_object(self.endpoints.dms(region)), simulated=reply.simulated)

    async def list_scheduled_tasks(
        self,
        region: str,
        project: ProjectId,
        instance: InstanceId,
        *,
        start: int = 1,
        limit: int = 10,
        begin_time: str | None = None,
        end_time: str | None = None,
    ) -> WireTaskList:
        """ListScheduledTasks: one page of the instance's scheduled tasks (``job_count`` read as the total)."""
        query = _page_query(start, limit, begin_time, end_time)
        path = _path("ListScheduledTasks", project_id=project, instance_id=instance)
        reply = await self._get("ListScheduledTasks", region, instance, path, query, project)
        return WireTaskList.from_scheduled(reply.json_object(self.endpoints.dms(region)), simulated=reply.simulated)

    def engine_of(self, region: str, instance: str) -> str | None:
        """The instance's engine, when a list_instances answer named it."""
        return self._engines.get((region, instance.lower()))

    async def task_progress(
        self, region: str, project: ProjectId, instance: InstanceId, task: TaskId
    ) -> WireProgress | None:
        """ShowBackgroundTaskProgress (Kafka and RocketMQ; scale-out tasks): read once, never retried; None when
        the engine has no such endpoint or the task has no progress."""
        key = (region, instance.lower())
        if key in self._no_progress or self.engine_of(region, instance) not in (None, *PROGRESS_ENGINES):
            return None  # RabbitMQ has no progress endpoint: never asked once its engine is known
        path = _path("ShowBackgroundTaskProgress", project_id=project, instance_id=instance, task_id=task)
        try:
            reply = await self._get("ShowBackgroundTaskProgress", region, instance, path, [], project, attempts=1)
        except APIError as exc:
            if exc.status in (400, 404) and not exc.retryable:
                if exc.error_code == "DMS.00404001":  # no such endpoint for this instance: not asked again
                    self._no_progress.add(key)
                return None
            raise
        return WireProgress.from_json(reply.json_object(self.endpoints.dms(region)))

    async def list_instances(
        self,
        region: str,
        project: ProjectId,
        engine: str,
        *,
        name: str | None = None,
        status: str | None = None,
        offset: int = 0,
        limit: int = 50,
    ) -> WireInstanceList:
        """ListInstances of one engine: one page (``offset`` from 0, ``limit`` 1..50), instances that failed to be
        created included (the API hides them without ``include_failure=true``)."""
        query = [("engine", engine), ("offset", str(offset)), ("limit", str(limit)), ("include_failure", "true")]
        query += [(k, v) for k, v in (("name", name), ("status", status)) if v]
        path = _path("ListInstances", project_id=project)
        reply = await self._get("ListInstances", region, None, path, query, project, engine=engine)
        raw = reply.json_object(self.endpoints.dms(region, engine))
        result = WireInstanceList.from_json(raw, simulated=reply.simulated)
        for instance in result.instances:
            if ids.INSTANCE.matches(instance.instance_id.lower()):
                self._engines[(region, instance.instance_id.lower())] = engine
        return result

    async def list_traces(
        self,
        region: str,
        project: ProjectId,
        *,
        since_ms: int,
        until_ms: int,
        resource_id: InstanceId | None = None,
        marker: str | None = None,
        limit: int = 200,
    ) -> WireTracePage:
        """CTS ListTraces of DMS (management traces) in ``[since_ms, until_ms]``, newest first; ``marker`` is the
        previous page's ``meta_data.marker`` (older traces)."""
        query = [
            ("trace_type", "system"),
            ("service_type", "DMS"),
            ("from", str(since_ms)),
            ("to", str(until_ms)),
            ("limit", str(limit)),
        ]
        if resource_id:
            query.append(("resource_id", resource_id))
        if marker:
            query.append(("next", _marker(marker)))
        path = _path("ListTraces", project_id=project)
        reply = await self._get("ListTraces", region, None, path, query, project, service="cts")
        return WireTracePage.from_json(reply.json_object(self.endpoints.cts(region)), simulated=reply.simulated)

    # -- one request, retried within the call's budget --------------------------------------------------------

    async def _get(
        self,
        operation: str,
        region: str,
        instance: str | None,
        path: str,
        query: list[tuple[str, str]],
        project: str,
        *,
        engine: str | None = None,
        attempts: int | None = None,
        too_large: str = "ask for fewer tasks (a smaller limit)",
        service: str = "dms",
    ) -> Reply:
        auth = self._ready()
        engine = engine or (self._engines.get((region, instance.lower())) if instance else None)
        endpoint = self.endpoints.cts(region) if service == "cts" else self.endpoints.dms(region, engine)
        headers = {"X-Project-Id": project}
        scope = ProjectScope(self._iam(region), project_id=headers["X-Project-Id"])
        attempt = _Attempt(self.http, auth, scope, endpoint, path, query, headers, too_large)
        with dms_span(operation, "GET", facts.operations()[operation].path) as span:
            started = time.perf_counter()
            status = "error"
            try:
                reply: Reply = await self._run(attempt, attempts)
                status = str(reply.status)
                return reply
            except APIError as exc:
                status = str(exc.status)
                raise
            except DMSError as exc:
                status = type(exc).__name__
                raise
            finally:
                budget = context.current()
                span.set_attribute("http.response.status_code", status)
                span.set_attribute("dms.attempts", attempt.sent)
                span.set_attribute("dms.request_id", (budget.request_id if budget else None) or "")
                self.telemetry.dms_request(operation, status, attempt.sent, time.perf_counter() - started)

    async def _run(self, attempt: Callable[[], Awaitable[Any]], attempts: int | None = None) -> Any:
        """``attempt`` with retries, inside the current call's budget (or a budget of its own)."""
        policy = self.policy if attempts is None else replace(self.policy, max_attempts=attempts)
        with context.call_scope(self._clock, self._limits.call_deadline) as budget:
            left = budget.remaining()
            if left <= 0:
                raise DeadlineExceeded(
                    "the tool call's time budget was spent before this DMS request could be sent (earlier requests "
                    "of the same call took it). Next step: retry; for a filtered list, narrow the time window"
                )
            try:
                with self._clock.limit(left):
                    return await with_retries(attempt, policy, budget, self._jitter)
            except TimeoutError:
                raise DeadlineExceeded(
                    f"DMS did not answer within the call's {budget.seconds:.3g} s deadline (after {budget.requests} "
                    f"request(s), last X-Request-Id: {budget.request_id or 'none'}); the request in flight was "
                    f"abandoned. Next step: retry later; if it persists, check the region's endpoint and the network"
                ) from None

    async def _login(self, scope: ProjectScope) -> IssuedToken:
        """The password login (``PasswordAuth`` calls it): one POST to IAM, inside the current call's budget."""
        if not scope.iam:
            raise ConfigurationError("password login needs an IAM endpoint: set BGTASK_IAM_ENDPOINT or a region")
        creds = self.cloud.credentials
        try:
            reply = await self.http.request(
                "POST",
                scope.iam + _path("KeystoneCreateUserTokenByPassword"),
                endpoint=scope.iam,
                query=[("nocatalog", "true")],
                json_body=login_body(creds, scope),
                cap=MAX_TOKEN_RESPONSE_BYTES,
                too_large="check that BGTASK_IAM_ENDPOINT is the IAM endpoint",
            )
        except APIError as exc:
            raise refused_login(exc) from None
        return issued_token(reply, scope.iam)


class _Attempt:
    """One attempt at a DMS GET. A token DMS calls expired or revoked (password login) is replaced and the
    request resent once per call, at once: the new login is the fix, not waiting."""

    def __init__(
        self,
        http: Transport,
        auth: RequestAuth,
        scope: ProjectScope,
        endpoint: str,
        path: str,
        query: list[tuple[str, str]],
        headers: dict[str, str],
        too_large: str,
    ) -> None:
        self.http, self.auth, self.scope = http, auth, scope
        self.endpoint, self.path, self.query, self.headers, self.too_large = endpoint, path, query, headers, too_large
        self.sent = 0
        self.refreshed = False

    async def __call__(self) -> Reply:
        prepared = await self.auth.prepare(self.scope)
        try:
            return await self._send(prepared)
        except APIError as exc:
            if not is_token_refusal(exc):
                raise
            if self.auth.mode == "token":
                exc.note = EXPIRED_STATIC_ADVICE
                raise
            if self.refreshed:
                exc.note = REFUSED_FRESH_ADVICE
                raise
            if not self.auth.refused(prepared):
                raise
            self.refreshed = True
            log.info("DMS refused the IAM token (%s, request id %s); logging in again", exc.error_code, exc.request_id)
        return await self()  # at once, with the token of a fresh login

    async def _send(self, prepared: Prepared) -> Reply:
        self.sent += 1
        return await self.http.request(
            "GET",
            self.endpoint + self.path,
            endpoint=self.endpoint,
            query=self.query,
            headers={**self.headers, **prepared.headers},
            auth=prepared.auth,
            too_large=self.too_large,
        )


def _page_query(start: int, limit: int, begin_time: str | None, end_time: str | None) -> list[tuple[str, str]]:
    """The paging and time-window query of ListBackgroundTasks and ListScheduledTasks."""
    query = [("start", str(start)), ("limit", str(limit))]
    return query + [(k, v) for k, v in (("begin_time", begin_time), ("end_time", end_time)) if v]


MARKER = re.compile(r"[A-Za-z0-9_-]{1,128}")


def _marker(value: str) -> str:
    """A CTS page marker (a trace id) as it goes into the query: checked, so no request carries anything else."""
    if not MARKER.fullmatch(value):
        raise InvalidArgument("the CTS page marker is not a trace id, so no request was sent")
    return value


_LARGE_TASK = "the task's answer is unusually large; report its X-Request-Id to support"


def _path(operation: str, **ids: str) -> str:
    """The operation's path from the one table (facts/dms_operations.csv), filled with ids the types say were
    checked (hex or UUIDs): nothing needs, or may get, escaping."""
    return facts.operations()[operation].url_path(**ids)


__all__ = ["DMSClient", "DMSError", "missing_settings"]
