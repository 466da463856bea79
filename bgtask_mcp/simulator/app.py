"""The embedded DMS simulator: a real HTTP service speaking the DMS background-task API.

It checks AK/SK signatures (with the same canonicalisation the cloud's gateway uses) or IAM
tokens, answers with the real envelope and error bodies, ages live tasks over time, and can inject
faults (latency, throttling, error bursts, HTML pages, malformed or truncated bodies, resets) so
that the client's behaviour under failure is tested over real loopback HTTP.

Control endpoints under ``/_simulator/`` (loopback tooling, not part of DMS) create tasks, set
faults and report request counts.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import re
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message, Receive, Scope, Send

from bgtask_mcp.dms import signer
from bgtask_mcp.simulator import data

UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
HEX32_RE = re.compile(r"^[0-9a-f]{32}$")
AUTH_RE = re.compile(r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$")
TIME_RE = re.compile(r"^\d{14}$")
MAX_SKEW = timedelta(minutes=15)
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 300.0

FAULT_KINDS = (
    "latency",  # sleep latency_s, then answer normally (latency rules add up, and precede any other fault)
    "throttle",  # 429 APIG.0308 with Retry-After
    "flow_control",  # 404 DMS.10240407
    "server_error",  # 500 DMS.00500000
    "busy",  # 503 DMS.111501025
    "html",  # 502 with an HTML page
    "empty",  # 503 with an empty body
    "malformed",  # 200 with broken JSON
    "truncated",  # 200, Content-Length promises more than is sent, then the connection closes
    "reset",  # the connection is aborted before any answer
    "oversized",  # 200 with a body of oversized_bytes (Content-Length announced)
    "oversized_stream",  # 200, chunked (no Content-Length), streaming oversized_bytes in 64 KiB chunks
    "trickle",  # 200, a valid answer sent one byte every latency_s (each read is quick, the whole is slow)
    "unauthorized",  # 401 APIG.0301
    "forbidden",  # 403 DMS.00403002
    "token_expired",  # 401 APIG.0307, as for an expired or revoked IAM token
    "redirect",  # 302 to a login page, as a captive portal or a misconfigured proxy answers
)
FAULT_FIELDS = frozenset(
    {"kind", "instance_id", "path_contains", "count", "probability", "latency_s", "oversized_bytes"}
)


@dataclass
class FaultRule:
    kind: str
    instance_id: str | None = None
    path_contains: str | None = None
    count: int | None = None  # how many requests it hits; None = every matching request
    probability: float = 1.0
    latency_s: float = 0.0
    oversized_bytes: int = 8 * 1024 * 1024
    hits: int = 0

    def matches(self, path: str, instance_id: str | None) -> bool:
        if self.count is not None and self.hits >= self.count:
            return False
        if self.instance_id and self.instance_id != instance_id:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        return self.probability >= 1.0 or random.random() < self.probability


@dataclass
class SimState:
    started: float = field(default_factory=time.time)
    tasks: dict[str, data.SimTask] = field(default_factory=dict)
    faults: list[FaultRule] = field(default_factory=list)
    requests: Counter[str] = field(default_factory=Counter)
    auth_failures: dict[str, list[float]] = field(default_factory=dict)
    issued: set[str] = field(default_factory=set)
    issued_expiry: dict[str, float] = field(default_factory=dict)  # issued IAM token -> time.time() it expires
    iam_token_ttl: float = 24 * 3600.0
    in_flight: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def seeded(cls) -> SimState:
        state = cls()
        for task in data.seed_tasks():
            state.tasks[task.id] = task
        return state

    # -- task life cycle ----------------------------------------------------------------------

    def status_of(self, task: data.SimTask, now: float) -> str:
        if not task.live:
            return task.final_status
        age = now - (self.started + task.created)
        if age < min(1.0, task.duration / 4):
            return "CREATED"
        if age < task.duration:
            return "EXECUTING"
        return task.final_status

    def progress_of(self, task: data.SimTask, now: float) -> int:
        if not task.live:
            return 100
        age = now - (self.started + task.created)
        return max(0, min(100, int(100 * age / task.duration)))

    def wire(self, task: data.SimTask, now: float) -> dict[str, Any]:
        created = self.started + task.created
        status = self.status_of(task, now)
        if status in ("CREATED",):
            updated = created
        elif status == "EXECUTING":
            updated = now
        else:
            updated = created + task.duration
        return {
            "id": task.id,
            "name": task.name,
            "user_name": task.user_name,
            "user_id": data.USERS.get(task.user_name, "0" * 32),
            "params": task.params,
            "status": status,
            "created_at": _rfc3339(created),
            "updated_at": _rfc3339(updated),
        }


def _rfc3339(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(ts * 1000) % 1000:03d}Z"


def _dms_time(text: str) -> float:
    return datetime.strptime(text, "%Y%m%d%H%M%S").replace(tzinfo=UTC).timestamp()


def error(
    status: int, code: str, msg: str, *, gateway: bool = False, headers: dict[str, str] | None = None
) -> Response:
    rid = uuid.uuid4().hex
    body: dict[str, Any] = {"error_code": code, "error_msg": msg}
    if gateway:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": rid, **(headers or {})})


def ok(payload: dict[str, Any]) -> Response:
    payload = {**payload, "simulated": True}
    return Response(
        json.dumps(payload, ensure_ascii=False),
        media_type="application/json;charset=UTF-8",
        headers={"X-Request-Id": uuid.uuid4().hex, "X-Dms-Simulator": "1"},
    )


class Authenticator:
    """Verifies requests like the cloud's gateway: AK/SK signature or IAM token."""

    def __init__(self, state: SimState, access_key: str, secret_key: str) -> None:
        self.state = state
        self.access_key = access_key
        self.secret_key = secret_key

    def check(self, request: Request, body: bytes) -> Response | None:
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            if token == data.SIM_EXPIRED_IAM_TOKEN:
                return error(401, "APIG.0307", "The token must be updated.", gateway=True)
            if not hmac.compare_digest(token.encode(), data.SIM_IAM_TOKEN.encode()) and token not in self.state.issued:
                return error(401, "APIG.0307", "The token must be updated.", gateway=True)
            if self.state.issued_expiry.get(token, float("inf")) <= time.time():
                return error(401, "APIG.0307", "The token must be updated.", gateway=True)
            return None
        header = request.headers.get("Authorization", "")
        match = AUTH_RE.match(header)
        if not match:
            return error(
                401, "APIG.0301", "Incorrect IAM authentication information: Authorization not found", gateway=True
            )
        ak, signed_names, sig = match.groups()
        failures = self.state.auth_failures.setdefault(ak, [])
        now = time.time()
        failures[:] = [t for t in failures if now - t < LOCKOUT_SECONDS]
        if len(failures) >= LOCKOUT_FAILURES:
            return error(401, "APIG.0301", "Incorrect IAM authentication information: access key locked", gateway=True)
        problem = self._verify(request, body, ak, signed_names.split(";"), sig)
        if problem:
            failures.append(now)
            return error(401, "APIG.0301", f"Incorrect IAM authentication information: {problem}", gateway=True)
        failures.clear()
        return None

    def _verify(self, request: Request, body: bytes, ak: str, names: list[str], sig: str) -> str | None:
        if ak != self.access_key:
            return "unknown access key"
        sdk_date = request.headers.get("X-Sdk-Date", "")
        try:
            when = datetime.strptime(sdk_date, signer.DATE_FORMAT).replace(tzinfo=UTC)
        except ValueError:
            return "X-Sdk-Date missing or malformed"
        if abs(datetime.now(UTC) - when) > MAX_SKEW:
            return "request time is more than 15 minutes from the server time (clock skew)"
        if "host" not in names or "x-sdk-date" not in names:
            return "host and x-sdk-date must be signed"
        if any(request.headers.get(name) is None for name in names):
            return "a signed header is missing"
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        pairs = parse_qsl(request.scope.get("query_string", b"").decode("latin-1"), keep_blank_values=True)
        headers = {name: request.headers[name] for name in names}
        canonical = signer.canonical_request(request.method, raw_path.decode("latin-1"), pairs, headers, names, body)
        expected = signer.signature(self.secret_key, sdk_date, canonical)
        if not hmac.compare_digest(expected, sig):
            return "verify aksk signature fail"
        return None


def build_app(
    state: SimState | None = None,
    *,
    access_key: str = data.SIM_ACCESS_KEY,
    secret_key: str = data.SIM_SECRET_KEY,
) -> Starlette:
    state = state or SimState.seeded()
    auth = Authenticator(state, access_key, secret_key)

    async def guarded(request: Request) -> Response | None:
        """Authentication, then id validation shared by every task route."""
        project = request.path_params["project_id"]
        instance = request.path_params["instance_id"]
        body = await request.body()
        denied = auth.check(request, body)
        if denied:
            return denied
        if not HEX32_RE.match(project):
            return error(400, "DMS.00400002", "The project ID format is invalid.")
        header_project = request.headers.get("X-Project-Id")
        if header_project and header_project != project:
            return error(401, "DMS.10240104", "The project ID in the token does not match the project ID in the URL.")
        if not UUID_RE.match(instance):
            return error(400, "DMS.00400030", "The instance ID format is invalid.")
        if project != data.SIM_PROJECT_ID or instance not in {i.id for i in data.INSTANCES}:
            return error(404, "DMS.00404022", "This instance does not exist.")
        return None

    def find(task_id: str, instance: str, project: str) -> data.SimTask | None:
        task = state.tasks.get(task_id)
        if task and task.instance_id == instance and task.project_id == project:
            return task
        return None

    async def show(request: Request) -> Response:
        denied = await guarded(request)
        if denied:
            return denied
        task_id = request.path_params["task_id"]
        if not (HEX32_RE.match(task_id) or UUID_RE.match(task_id)):
            return error(400, "DMS.00400070", "The task ID format is invalid.")
        task = find(task_id, request.path_params["instance_id"], request.path_params["project_id"])
        if task is None:
            return ok({"task_count": "0", "tasks": []})
        return ok({"task_count": "1", "tasks": [state.wire(task, time.time())]})

    async def listing(request: Request) -> Response:
        denied = await guarded(request)
        if denied:
            return denied
        q = request.query_params
        try:
            start = int(q.get("start", "1"))
            limit = int(q.get("limit", "10"))
        except ValueError:
            return error(400, "DMS.00400001", "Invalid parameter: start and limit must be integers.")
        if start < 1 or not 1 <= limit <= 100:
            return error(400, "DMS.00400001", "Invalid parameter: start must be >= 1 and limit between 1 and 100.")
        begin, end = q.get("begin_time"), q.get("end_time")
        for value in (begin, end):
            if value is not None and not TIME_RE.match(value):
                return error(400, "DMS.00400001", "Invalid parameter: begin_time/end_time must be yyyyMMddHHmmss.")
        now = time.time()
        instance = request.path_params["instance_id"]
        chosen = [t for t in state.tasks.values() if t.instance_id == instance and state.started + t.created <= now]
        if begin:
            chosen = [t for t in chosen if state.started + t.created >= _dms_time(begin)]
        if end:
            chosen = [t for t in chosen if state.started + t.created <= _dms_time(end)]
        chosen.sort(key=lambda t: t.created, reverse=True)
        page = chosen[start - 1 : start - 1 + limit]
        return ok({"task_count": str(len(chosen)), "tasks": [state.wire(t, now) for t in page]})

    async def delete(request: Request) -> Response:
        denied = await guarded(request)
        if denied:
            return denied
        task = find(
            request.path_params["task_id"], request.path_params["instance_id"], request.path_params["project_id"]
        )
        if task is None:
            return error(404, "DMS.00404001", "The task does not exist.")
        if state.status_of(task, time.time()) in ("CREATED", "EXECUTING"):
            return error(400, "DMS.00400017", "A background task of this instance is still running.")
        del state.tasks[task.id]
        return Response(status_code=204, headers={"X-Request-Id": uuid.uuid4().hex})

    async def progress(request: Request) -> Response:
        denied = await guarded(request)
        if denied:
            return denied
        task = find(
            request.path_params["task_id"], request.path_params["instance_id"], request.path_params["project_id"]
        )
        if task is None or not task.progress_steps:
            return error(400, "DMS.00400070", "The progress can be queried only during Kafka capacity expansion.")
        now = time.time()
        pct = state.progress_of(task, now)
        steps = task.progress_steps
        done = len(steps) * pct // 100
        step_list = [
            {"name": name, "statue": "COMPLETED" if i < done else ("IN_PROGRESS" if i == done else "WAITING")}
            for i, name in enumerate(steps)
        ]
        remain = max(0, int(state.started + task.created + task.duration - now))
        return ok({"progress_percentage": pct, "remain_time": remain, "step_list": step_list})

    async def iam_tokens(request: Request) -> Response:
        try:
            body = json.loads(await request.body())
            user = body["auth"]["identity"]["password"]["user"]
            good = (
                user["name"] == data.SIM_IAM_USER
                and hmac.compare_digest(str(user["password"]).encode(), data.SIM_IAM_PASSWORD.encode())
                and user["domain"]["name"] == data.SIM_IAM_DOMAIN
            )
        except (ValueError, KeyError, TypeError):
            return error(400, "APIG.0201", "Request body is invalid.", gateway=True)
        if not good:
            return error(
                401, "APIG.0301", "Incorrect IAM authentication information: wrong user or password", gateway=True
            )
        token = "SIM-ISSUED-" + uuid.uuid4().hex
        state.issued.add(token)
        state.requests["iam:token"] += 1
        issued = datetime.now(UTC)
        expires = issued + timedelta(seconds=state.iam_token_ttl)
        state.issued_expiry[token] = expires.timestamp()
        stamp = "%Y-%m-%dT%H:%M:%S.%fZ"
        return JSONResponse(
            {
                "token": {
                    "expires_at": expires.strftime(stamp),
                    "issued_at": issued.strftime(stamp),
                    "methods": ["password"],
                }
            },
            status_code=201,
            headers={"X-Subject-Token": token, "X-Request-Id": uuid.uuid4().hex},
        )

    # -- control endpoints --------------------------------------------------------------------

    async def control_tasks(request: Request) -> Response:
        body = await request.json()
        params = body.get("params", "{}")
        new = data.SimTask(
            id=body.get("id") or uuid.uuid4().hex,
            instance_id=body.get("instance_id", data.KAFKA.id),
            name=body.get("name", "resizeInstance"),
            user_name=body.get("user_name", "ops-alice"),
            params=params if isinstance(params, str) else json.dumps(params),
            created=time.time() - state.started + float(body.get("delay_s", 0.0)),
            final_status=body.get("final_status", "SUCCESS"),
            duration=max(0.01, float(body.get("duration_s", 3.0))),
            live=True,
            progress_steps=list(body.get("progress_steps", [])),
        )
        state.tasks[new.id] = new
        return JSONResponse({"id": new.id, "project_id": new.project_id, "instance_id": new.instance_id})

    async def control_faults(request: Request) -> Response:
        if request.method == "DELETE":
            state.faults.clear()
            return JSONResponse({"faults": 0})
        body = await request.json()
        raw_rules = body.get("rules", []) if isinstance(body, dict) else None
        if not isinstance(raw_rules, list) or not all(isinstance(rule, dict) for rule in raw_rules):
            return JSONResponse({"error": 'expected {"rules": [{...}, ...]}'}, status_code=400)
        for raw in raw_rules:
            unknown = set(raw) - FAULT_FIELDS
            if unknown or raw.get("kind") not in FAULT_KINDS:
                return JSONResponse(
                    {
                        "error": f"unknown fault kind {raw.get('kind')!r} or fields {sorted(unknown)}",
                        "kinds": FAULT_KINDS,
                        "fields": sorted(FAULT_FIELDS),
                    },
                    status_code=400,
                )
        state.faults[:] = [FaultRule(**rule) for rule in raw_rules]
        return JSONResponse({"faults": len(state.faults)})

    async def control_iam(request: Request) -> Response:
        """Lifetime of the IAM tokens issued from now on (tests of the refresh ahead of expiry)."""
        body = await request.json()
        state.iam_token_ttl = max(0.1, float(body.get("token_ttl_s", 24 * 3600.0)))
        return JSONResponse({"token_ttl_s": state.iam_token_ttl})

    async def control_stats(request: Request) -> Response:
        if request.method == "DELETE":
            state.requests.clear()
        return JSONResponse({"requests": dict(state.requests), "total": sum(state.requests.values())})

    async def control_reset(request: Request) -> Response:
        state.faults.clear()
        state.requests.clear()
        state.auth_failures.clear()
        state.iam_token_ttl = 24 * 3600.0
        return JSONResponse({"ok": True})

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok", "simulated": True, "tasks": len(state.tasks)})

    base = "/v2/{project_id}/instances/{instance_id}/tasks"
    routes = [
        Route(base, listing, methods=["GET"]),
        Route(base + "/{task_id}", show, methods=["GET"]),
        Route(base + "/{task_id}", delete, methods=["DELETE"]),
        Route(base + "/{task_id}/progress", progress, methods=["GET"]),
        Route("/v3/auth/tokens", iam_tokens, methods=["POST"]),
        Route("/_simulator/tasks", control_tasks, methods=["POST"]),
        Route("/_simulator/faults", control_faults, methods=["POST", "DELETE"]),
        Route("/_simulator/iam", control_iam, methods=["POST"]),
        Route("/_simulator/stats", control_stats, methods=["GET", "DELETE"]),
        Route("/_simulator/reset", control_reset, methods=["POST"]),
        Route("/_simulator/health", health, methods=["GET"]),
    ]
    app = Starlette(routes=routes)

    async def not_found(request: Request, exc: Exception) -> Response:
        return error(
            404, "APIG.0101", "The API does not exist or has not been published in the environment.", gateway=True
        )

    app.add_exception_handler(404, not_found)
    return FaultInjector(app, state)  # type: ignore[return-value]


class FaultInjector:
    """ASGI wrapper: counts task requests and applies the fault rules.

    Every matching ``latency`` rule adds its delay; then the first matching rule of another kind
    answers (after its own ``latency_s``). While a delay runs, a client that goes away is noticed and
    counted as ``disconnected`` in the stats (what a cancelled upstream request looks like from here);
    ``max_in_flight`` is the most requests served at once since the last reset, and ``fault:<kind>`` how
    many requests each kind of fault hit.
    """

    def __init__(self, app: Starlette, state: SimState) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/_simulator/"):
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        requests = self.state.requests
        kind = _route_kind(path)
        if kind != path:  # a task route: also counted by kind (list, show, progress)
            requests[f"{scope['method']} {kind}"] += 1
        requests["all"] += 1
        requests[f"{scope['method']} {path}"] += 1
        self.state.in_flight += 1
        requests["max_in_flight"] = max(requests["max_in_flight"], self.state.in_flight)
        try:
            await self._serve(path, scope, receive, send)
        finally:
            self.state.in_flight -= 1

    async def _serve(self, path: str, scope: Scope, receive: Receive, send: Send) -> None:
        parts = path.split("/")
        instance = parts[4] if len(parts) > 4 and parts[3] == "instances" else None
        delay = 0.0
        rule: FaultRule | None = None
        for candidate in self.state.faults:
            if candidate.kind == "latency":
                if candidate.matches(path, instance):
                    candidate.hits += 1
                    self.state.requests["fault:latency"] += 1
                    delay += candidate.latency_s
            elif rule is None and candidate.matches(path, instance):
                candidate.hits += 1
                self.state.requests[f"fault:{candidate.kind}"] += 1
                rule = candidate
                if rule.kind != "trickle":
                    delay += rule.latency_s
        if delay > 0:
            receive = await self._sleep_unless_gone(delay, receive)
            if receive is _GONE:
                self.state.requests["disconnected"] += 1
                return
        if rule is None:
            await self.app(scope, receive, send)
            return
        await self._apply(rule, scope, receive, send)

    async def _sleep_unless_gone(self, seconds: float, receive: Receive) -> Receive:
        """Sleep, unless the client disconnects first (then ``_GONE``). Returns a receive that replays what
        was read meanwhile (the request body) for the app behind."""
        buffered: list[Message] = []
        gone = asyncio.Event()

        async def watch() -> None:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    gone.set()
                    return
                buffered.append(message)

        watcher = asyncio.ensure_future(watch())
        waiter = asyncio.ensure_future(gone.wait())
        try:
            await asyncio.wait({waiter}, timeout=seconds)
        finally:
            watcher.cancel()
            waiter.cancel()
        if gone.is_set():
            return _GONE

        async def replay() -> Message:
            if buffered:
                return buffered.pop(0)
            return await receive()

        return replay

    async def _apply(self, rule: FaultRule, scope: Scope, receive: Receive, send: Send) -> None:
        kind = rule.kind
        transport = getattr(getattr(send, "__self__", None), "transport", None)
        if kind == "reset":
            if transport is not None:
                transport.abort()
                return
            raise ConnectionResetError("simulated reset")
        if kind == "truncated":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"content-length", b"4096")],
                }
            )
            await send(
                {"type": "http.response.body", "body": b'{"task_count": "1", "tasks": [{"id"', "more_body": True}
            )
            if transport is not None:
                transport.abort()
            return
        if kind == "oversized_stream":
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [(b"content-type", b"application/json"), (b"x-request-id", uuid.uuid4().hex.encode())],
                }
            )
            chunk = b"x" * 65536
            await send(
                {"type": "http.response.body", "body": b'{"task_count": "0", "tasks": [], "pad": "', "more_body": True}
            )
            sent = 0
            while sent < rule.oversized_bytes:
                if transport is not None and transport.is_closing():
                    self.state.requests["disconnected"] += 1
                    return
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
                sent += len(chunk)
            await send({"type": "http.response.body", "body": b'"}', "more_body": False})
            return
        if kind == "trickle":
            body = json.dumps({"task_count": "0", "tasks": [], "simulated": True}).encode()
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()),
                        (b"x-request-id", uuid.uuid4().hex.encode()),
                    ],
                }
            )
            for i in range(len(body)):
                if transport is not None and transport.is_closing():
                    self.state.requests["disconnected"] += 1
                    return
                await send({"type": "http.response.body", "body": body[i : i + 1], "more_body": i + 1 < len(body)})
                await asyncio.sleep(rule.latency_s)
            return
        response = _fault_response(rule)
        await response(scope, receive, send)


async def _gone() -> Message:
    return {"type": "http.disconnect"}


_GONE: Receive = _gone


def _fault_response(rule: FaultRule) -> Response:
    rid = {"X-Request-Id": uuid.uuid4().hex}
    match rule.kind:
        case "throttle":
            return error(429, "APIG.0308", "The request is throttled.", gateway=True, headers={"Retry-After": "0.2"})
        case "flow_control":
            return error(404, "DMS.10240407", "Flow control: requests are too frequent.")
        case "server_error":
            return error(500, "DMS.00500000", "Internal service error.")
        case "busy":
            return error(503, "DMS.111501025", "The system is busy. Try again later.")
        case "html":
            page = "<html><head><title>502 Bad Gateway</title></head><body><h1>502 Bad Gateway</h1></body></html>"
            return Response(page, status_code=502, media_type="text/html", headers=rid)
        case "empty":
            return Response(b"", status_code=503, headers=rid)
        case "malformed":
            return Response(b'{"task_count": "1", "tasks": [{"id": ', media_type="application/json", headers=rid)
        case "oversized":
            filler = json.dumps({"task_count": "1", "tasks": [], "pad": "x" * rule.oversized_bytes})
            return Response(filler, media_type="application/json", headers=rid)
        case "unauthorized":
            return error(
                401, "APIG.0301", "Incorrect IAM authentication information: verify aksk signature fail", gateway=True
            )
        case "forbidden":
            return error(403, "DMS.00403002", "No permission to perform this operation.")
        case "token_expired":
            return error(401, "APIG.0307", "The token must be updated.", gateway=True)
        case "redirect":
            return Response(status_code=302, headers={**rid, "Location": "http://portal.invalid/login"})
    raise ValueError(rule.kind)


def _route_kind(path: str) -> str:
    if path.endswith("/progress"):
        return "progress"
    if path.rstrip("/").endswith("/tasks"):
        return "list"
    if "/tasks/" in path:
        return "show"
    return path
