"""IAM, as far as DMS needs it: the project of a region (``GET /v3/projects?name=``, as the official SDK
does), and the password login (``POST /v3/auth/tokens``: 201, the token in ``X-Subject-Token``)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

from bgtask_mcp.config import Credentials
from bgtask_mcp.dms.errors import APIError, ProjectLookupFailed
from bgtask_mcp.dms.transport import Reply

DEFAULT_TOKEN_LIFETIME = 24 * 3600.0
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024  # without the service catalogue a token answer is a few KiB
TOKEN_EXPIRED_CODES = frozenset({"APIG.0307", "DMS.10240102", "DMS.10240101"})


@dataclass(frozen=True)
class ProjectScope:
    """What a request is for, as IAM sees it: the IAM that serves the region, and the project by id or (for the
    lookup) by name. A password login's token is scoped to one of these."""

    iam: str
    project_id: str | None = None
    project_name: str | None = None


@dataclass(frozen=True)
class IssuedToken:
    token: str
    project_id: str | None
    lifetime: float  # seconds, by IAM's own clock


def project_from(reply: Reply, name: str) -> str:
    """The one project a ``GET /v3/projects?name=`` answer lists, or a clear error."""
    data = reply.json_object("IAM")
    projects = data.get("projects")
    found = (
        [str(p.get("id")) for p in projects if isinstance(p, dict) and p.get("id")]
        if isinstance(projects, list)
        else []
    )
    if len(found) != 1:
        raise ProjectLookupFailed(name, found, reply.request_id or reply.headers.get("X-IAM-Trace-Id"))
    return found[0].lower()


def login_body(creds: Credentials, scope: ProjectScope) -> dict[str, Any]:
    assert creds.iam_password is not None
    project: dict[str, Any]
    if scope.project_id:
        project = {"id": scope.project_id}
    else:
        project = {"name": scope.project_name, "domain": {"name": creds.iam_domain}}
    user = {"name": creds.iam_user, "password": creds.iam_password.reveal(), "domain": {"name": creds.iam_domain}}
    return {"auth": {"identity": {"methods": ["password"], "password": {"user": user}}, "scope": {"project": project}}}


def issued_token(reply: Reply, endpoint: str) -> IssuedToken:
    token = reply.headers.get("X-Subject-Token")
    if reply.status != 201 or not token:
        raise APIError(
            reply.status,
            None,
            "IAM answered without an X-Subject-Token header: BGTASK_IAM_ENDPOINT may not be an IAM endpoint",
            reply.request_id,
            endpoint,
        )
    try:
        body = json.loads(reply.body).get("token", {})
    except (ValueError, AttributeError):
        body = {}
    project = body.get("project") if isinstance(body, dict) else None
    project_id = str(project["id"]).lower() if isinstance(project, dict) and project.get("id") else None
    return IssuedToken(token, project_id, _lifetime(body, reply.headers.get("Date")))


def refused_login(error: APIError) -> APIError:
    """A failed login, said as what to check; throttling and outages stay retryable."""
    if error.status == 429 or error.status >= 500:
        error.error_msg = "IAM could not issue a token right now (password login to BGTASK_IAM_ENDPOINT)"
    else:
        error.error_msg = (
            "IAM refused the password login (check BGTASK_IAM_USER, BGTASK_IAM_PASSWORD, BGTASK_IAM_DOMAIN and "
            "BGTASK_IAM_ENDPOINT, or auth.* of the cloud in clouds.yaml)"
        )
    return error


def _lifetime(token: Any, date_header: str | None) -> float:
    """How long the token lives, by IAM's own clock (``expires_at - issued_at``), so a skewed local clock
    neither refreshes it in a loop nor keeps it past its end."""
    if not isinstance(token, dict):
        return DEFAULT_TOKEN_LIFETIME
    try:
        expires = _parse_time(token["expires_at"])
    except (ValueError, KeyError, TypeError):
        return DEFAULT_TOKEN_LIFETIME
    issued: float | None
    try:
        issued = _parse_time(token["issued_at"])
    except (ValueError, KeyError, TypeError):
        try:
            issued = parsedate_to_datetime(date_header).timestamp() if date_header else None
        except (ValueError, TypeError):
            issued = None
    lifetime = expires - (issued if issued is not None else time.time())
    return min(max(lifetime, 1.0), DEFAULT_TOKEN_LIFETIME)


def _parse_time(text: object) -> float:
    if not isinstance(text, str):
        raise TypeError("not a time")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
