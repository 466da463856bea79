"""One cloud (account) as configured: its credentials, region, project and endpoints. ``config`` builds these
from the environment, ``clouds`` from clouds.yaml; both import this module, neither the other."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

from bgtask_mcp import ids
from bgtask_mcp.dms.endpoints import Endpoints
from bgtask_mcp.redaction import Secret
from bgtask_mcp.settings_env import ConfigError


@dataclass(frozen=True)
class Credentials:
    """What one cloud authenticates with; all optional so the server can start without any."""

    access_key: Secret | None = None
    secret_key: Secret | None = None
    security_token: Secret | None = None
    iam_token: Secret | None = None
    iam_user: str | None = None  # password login (POST /v3/auth/tokens)
    iam_password: Secret | None = None
    iam_domain: str | None = None

    def secrets(self) -> tuple[Secret | None, ...]:
        return (self.access_key, self.secret_key, self.security_token, self.iam_token, self.iam_password)

    @property
    def mode(self) -> Literal["aksk", "token", "password", "none"]:
        if self.access_key and self.secret_key:
            return "aksk"
        if self.iam_token:
            return "token"
        if self.iam_user and self.iam_password and self.iam_domain:
            return "password"
        return "none"


@dataclass(frozen=True)
class CloudSettings:
    """One account in one place: its credentials, its default region and project, its endpoints."""

    name: str = "default"
    region: str | None = None
    project_id: str | None = None  # of ``region``
    project_name: str | None = None  # what IAM calls that project, when not the region's name
    credentials: Credentials = field(default_factory=Credentials)
    endpoint: str | None = None  # DMS endpoint of ``region`` (BGTASK_ENDPOINT)
    iam_endpoint: str | None = None  # base URL, without /v3
    cts_endpoint: str | None = None  # CTS endpoint of ``region`` (BGTASK_CTS_ENDPOINT)
    source: str = "the environment"

    def endpoints(self, overrides: Mapping[tuple[str, str], str]) -> Endpoints:
        return Endpoints(self.region, self.endpoint, self.iam_endpoint, overrides, self.cts_endpoint)


def configured_project(value: object, setting: str) -> str | None:
    """A configured project id in its one spelling, or a refusal naming where it was set."""
    if not value:
        return None
    lowered = str(value).strip().lower()
    if not ids.PROJECT.matches(lowered):
        raise ConfigError(f"{setting}={str(value)[:40]!r} is not a project id ({ids.PROJECT.accepted})")
    return lowered
