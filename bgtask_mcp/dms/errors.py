"""Typed DMS failures, each able to say what went wrong and what to do next.

Every text a failure produces has the same parts, in this order: what DMS (or the network) said,
the DMS error code and the ``X-Request-Id`` when there was an answer, how many attempts were made
when there was more than one, and ``Next step: ...``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bgtask_mcp import facts


class DMSError(Exception):
    """Base of every failure the DMS client raises. ``describe()`` is text a person can act on."""

    retryable = False

    def describe(self) -> str:
        return str(self)

    def clone(self) -> DMSError:
        """A copy of this failure for another caller that shared the request (never the same object)."""
        twin = type(self).__new__(type(self))  # no __init__: the fields are copied below
        twin.__dict__.update(self.__dict__)
        twin.args = self.args
        return twin


class ConfigurationError(DMSError):
    """The server is not set up to reach DMS (no credentials, no endpoint...)."""


class InvalidArgument(DMSError):
    """An argument was refused before any request was sent."""


class ProjectLookupFailed(DMSError):
    """IAM knows no single project for a region, so no DMS request can be addressed."""

    def __init__(self, region: str, found: list[str], request_id: str | None) -> None:
        self.region = region
        self.found = found
        self.request_id = request_id
        super().__init__(self.describe())

    def describe(self) -> str:
        rid = self.request_id or "none"
        if not self.found:
            what = f"IAM knows no project named {self.region!r} for these credentials (X-Request-Id: {rid})"
            hint = "check the region name, or give the project id (project_id, BGTASK_PROJECT_ID, auth.project_id)"
        else:
            what = f"IAM lists {len(self.found)} projects named {self.region!r}: {', '.join(self.found[:5])}"
            hint = "choose one and pass it as project_id, or configure it (BGTASK_PROJECT_ID, auth.project_id)"
        return f"{what}. Next step: {hint}"

    def __str__(self) -> str:
        return self.describe()


class CallerBusy(DMSError):
    """This caller already has as many DMS requests in flight as the server allows one caller."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(
            f"this caller already had {limit} DMS requests in flight, the most the server allows one caller (so "
            "that one busy agent cannot throttle the whole account), and none finished in time. Next step: wait "
            "for the running calls to finish, then retry; call fewer tools in parallel"
        )


class DeadlineExceeded(DMSError):
    """The call's overall deadline passed (retries included); the request in flight was abandoned."""

    retryable = False


class ResponseTooLarge(DMSError):
    """The answer was bigger than the configured cap; it was not read to the end nor parsed."""

    def __init__(self, *, cap: int, request_id: str | None, announced: int | None = None, hint: str = "") -> None:
        self.cap = cap
        self.request_id = request_id
        self.announced = announced
        self.hint = hint or "ask for fewer tasks (a smaller limit)"
        super().__init__(self.describe())

    def describe(self) -> str:
        if self.announced is not None:
            what = f"DMS announced a {self.announced} byte answer, over the {self.cap} byte limit, so it was not read"
        else:
            what = f"the DMS answer passed the {self.cap} byte limit and was cut off unread"
        return f"{what} (X-Request-Id: {self.request_id or 'none'}). Next step: {self.hint}"

    def __str__(self) -> str:
        return self.describe()


class TransportError(DMSError):
    """The request did not get a complete HTTP answer (connect, TLS, timeout, reset, broken body)."""

    def __init__(self, what: str, endpoint: str, *, timeout: bool = False, retryable: bool = True) -> None:
        self.what = what
        self.endpoint = endpoint
        self.timeout = timeout
        self.retryable = retryable  # type: ignore[misc]
        self.attempts = 1
        self.note: str | None = None
        super().__init__(what)

    def describe(self) -> str:
        if self.timeout:
            hint = "the endpoint did not answer in time; retry, and check the region and network path"
        else:
            hint = "check that the endpoint and region are right and reachable (proxy, firewall, DNS, TLS CA)"
        notes = _attempt_notes(self.attempts, self.note)
        notes = f" ({notes})" if notes else ""
        return f"could not reach DMS at {self.endpoint}: {self.what}{notes}. Next step: {hint}"


def _attempt_notes(attempts: int, note: str | None) -> str:
    parts = []
    if attempts > 1:
        parts.append(f"after {attempts} attempts")
    if note:
        parts.append(note)
    return "; ".join(parts)


_STATUS_HINTS: dict[int, str] = {
    400: "check the ids and parameters",
    401: "check the credentials (and the local clock for AK/SK)",
    403: "check the IAM permissions of the user (dms:instance:getBackgroundTask)",
    404: "check the instance id, the project and the region (list_instances finds instances by name)",
    429: "wait a few seconds and try again",
}

# A success whose body is not the documented JSON, or a redirect: something between us and DMS answered.
_NOT_JSON_HINT = (
    "retry once; if it persists, something between this server and DMS (an HTTPS proxy, a captive portal, a wrong "
    "BGTASK_ENDPOINT) is answering instead of DMS: check the endpoint and proxy settings, and report the request id"
)

# Statuses that are never retried, whatever the code says (a 401 retried five times locks the key).
NEVER_RETRIED_STATUSES = frozenset({400, 401, 403})


def _gateway_code(code: str | None) -> str:
    """Huawei Cloud's gateway answers ``APIGW.0301`` where Open Telekom Cloud documents ``APIG.0301``."""
    return (code or "").replace("APIGW.", "APIG.", 1)


def advice_for(code: str | None) -> facts.Advice | None:
    """What to do about a code, from the advice table."""
    return facts.advice().get(_gateway_code(code))


@dataclass
class APIError(DMSError):
    """DMS (or its gateway, or IAM) answered with an error status, or with a body that is not JSON."""

    status: int
    error_code: str | None
    error_msg: str | None
    request_id: str | None
    endpoint: str = ""
    retry_after: float | None = None
    attempts: int = 1
    note: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        super().__init__(self.describe())

    def __str__(self) -> str:
        return self.describe()

    @property
    def retryable(self) -> bool:  # type: ignore[override]
        if self.status in NEVER_RETRIED_STATUSES:
            return False
        known = advice_for(self.error_code)
        if known is not None and known.retry:
            return True  # includes DMS.10240407, flow control answered as 404
        return self.status == 429 or self.status >= 500

    @property
    def meaning(self) -> str | None:
        """The documented message of this code, when DMS's own text differs from it (else None)."""
        known = facts.error_codes().get(_gateway_code(self.error_code))
        if known is None or (self.error_msg or "").strip().rstrip(".") == known.message.rstrip("."):
            return None
        return known.message

    @property
    def hint(self) -> str:
        known = advice_for(self.error_code)
        if known is not None:
            return known.next_step
        if self.status < 400:
            return _NOT_JSON_HINT
        if self.status >= 500:
            return "DMS or its gateway failed; retry later and report the request id to support if it persists"
        return _STATUS_HINTS.get(self.status, "check the request")

    def describe(self) -> str:
        code = self.error_code or "no error code"
        msg = self.error_msg or "no error message"
        if self.meaning:
            msg += f" (documented as: {self.meaning})"
        rid = self.request_id or "none"
        notes = _attempt_notes(self.attempts, self.note)
        notes = f"; {notes}" if notes else ""
        return f"DMS answered HTTP {self.status} {code}: {msg} (X-Request-Id: {rid}{notes}). Next step: {self.hint}"


class TaskNotFound(DMSError):
    def __init__(self, task_id: str, instance_id: str, request_id: str | None) -> None:
        self.task_id = task_id
        self.instance_id = instance_id
        self.request_id = request_id
        super().__init__(
            f"no task {task_id} on instance {instance_id} (DMS answered with an empty task list, "
            f"X-Request-Id: {request_id or 'none'}). Next step: check the task id, or call list_background_tasks "
            "to find the task by name; tasks of deleted instances and very old tasks are not kept"
        )
