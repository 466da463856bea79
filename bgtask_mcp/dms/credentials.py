"""How the requests of one cloud authenticate: AK/SK signing, a static IAM token, or a password login.

Password login keeps one token per project scope (a region's project): the first request logs in, the
token is shared by all requests, refreshed ahead of its expiry, and dropped when DMS calls it expired or
revoked (the client then resends that request once with a fresh token). Only one login per scope runs at
a time; concurrent first requests wait for it and share its token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import anyio
import httpx2

from bgtask_mcp.clock import Clock
from bgtask_mcp.config import Credentials
from bgtask_mcp.dms.errors import APIError, ConfigurationError
from bgtask_mcp.dms.iam import TOKEN_EXPIRED_CODES, IssuedToken, ProjectScope
from bgtask_mcp.dms.signer import AkSkSigner
from bgtask_mcp.redaction import register_secret

# Refresh this long before the token's own expiry (at most half its lifetime), so that no request goes out
# with a dying token.
REFRESH_MARGIN_SECONDS = 300.0

Login = Callable[[ProjectScope], Awaitable[IssuedToken]]


@dataclass(frozen=True)
class Prepared:
    """What one request carries: extra headers, and the httpx2 auth flow that signs it (AK/SK)."""

    headers: dict[str, str]
    auth: httpx2.Auth | None = None


class RequestAuth(Protocol):
    mode: str

    async def prepare(self, scope: ProjectScope) -> Prepared: ...

    def refused(self, prepared: Prepared) -> bool:
        """DMS called the credentials of ``prepared`` expired or revoked: True when a fresh login may help."""
        ...


class AkSkAuth:
    mode = "aksk"

    def __init__(self, creds: Credentials) -> None:
        assert creds.access_key is not None and creds.secret_key is not None
        token = creds.security_token.reveal() if creds.security_token else None
        self._signer = AkSkSigner(creds.access_key.reveal(), creds.secret_key.reveal(), security_token=token)

    async def prepare(self, scope: ProjectScope) -> Prepared:
        return Prepared({}, self._signer)

    def refused(self, prepared: Prepared) -> bool:
        return False


class StaticTokenAuth:
    mode = "token"

    def __init__(self, creds: Credentials) -> None:
        assert creds.iam_token is not None
        self._token = creds.iam_token.reveal()

    async def prepare(self, scope: ProjectScope) -> Prepared:
        return Prepared({"X-Auth-Token": self._token})

    def refused(self, prepared: Prepared) -> bool:
        return False  # nothing to refresh: the error says to set a fresh token


@dataclass
class _Held:
    token: str
    project_id: str | None
    refresh_at: float  # clock.now() after which the token is replaced before use


class PasswordAuth:
    mode = "password"

    def __init__(self, login: Login, clock: Clock) -> None:
        self._login = login
        self._clock = clock
        self._held: dict[ProjectScope, _Held] = {}
        self._locks: dict[ProjectScope, anyio.Lock] = {}
        self.logins = 0

    def __repr__(self) -> str:
        return f"PasswordAuth(scopes={len(self._held)}, tokens=***)"

    async def prepare(self, scope: ProjectScope) -> Prepared:
        held = await self.token(scope)
        return Prepared({"X-Auth-Token": held.token})

    async def token(self, scope: ProjectScope) -> _Held:
        lock = self._locks.setdefault(scope, anyio.Lock())
        async with lock:  # the login is an awaited request: the call's deadline and cancellation apply
            held = self._held.get(scope)
            if held is None or self._clock.now() >= held.refresh_at:
                issued = await self._login(scope)
                register_secret(issued.token, ttl=issued.lifetime)  # forgotten when it expires
                margin = min(REFRESH_MARGIN_SECONDS, issued.lifetime / 2)
                held = _Held(issued.token, issued.project_id, self._clock.now() + issued.lifetime - margin)
                self._held[scope] = held
                self.logins += 1
            return held

    async def project_of(self, scope: ProjectScope) -> str | None:
        """The project id of a scope by name, from its token (the login is the lookup); the token then serves
        requests addressed by that id too."""
        held = await self.token(scope)
        if held.project_id:
            self._held.setdefault(ProjectScope(scope.iam, project_id=held.project_id), held)
        return held.project_id

    def refresh_in(self, scope: ProjectScope) -> float | None:
        held = self._held.get(scope)
        return None if held is None else held.refresh_at - self._clock.now()

    def refused(self, prepared: Prepared) -> bool:
        used = prepared.headers.get("X-Auth-Token")
        for scope, held in list(self._held.items()):
            if held.token == used:
                del self._held[scope]  # the next request logs in again
        return used is not None


NO_CREDENTIALS = (
    "credentials (BGTASK_ACCESS_KEY and BGTASK_SECRET_KEY, or the official SDK's HUAWEICLOUD_SDK_AK / "
    "HUAWEICLOUD_SDK_SK; or BGTASK_IAM_TOKEN; or BGTASK_IAM_USER + BGTASK_IAM_PASSWORD + BGTASK_IAM_DOMAIN; or "
    "OS_CLOUD naming a clouds.yaml entry)"
)


def build_auth(creds: Credentials, login: Login, clock: Clock) -> RequestAuth:
    if creds.mode == "aksk":
        return AkSkAuth(creds)
    if creds.mode == "token":
        return StaticTokenAuth(creds)
    if creds.mode == "password":
        return PasswordAuth(login, clock)
    raise ConfigurationError(f"no DMS credentials are configured: set {NO_CREDENTIALS}")


def is_token_refusal(error: APIError) -> bool:
    return error.status == 401 and error.error_code in TOKEN_EXPIRED_CODES
