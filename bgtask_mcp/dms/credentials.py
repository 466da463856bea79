"""How requests authenticate: AK/SK signing, a static IAM token, or a password -> token exchange.

Password login (``PasswordTokenAuth``): the first request logs in with ``POST {iam}/auth/tokens``
(201, token in ``X-Subject-Token``); the token is cached and shared by all requests, refreshed ahead
of its expiry, and dropped when DMS calls it expired or revoked (APIG.0307): the client then retries
that request once with a fresh token (see ``DMSClient``). Only one login runs at a time.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Generator
from datetime import datetime
from email.utils import parsedate_to_datetime

import anyio
import httpx2

from bgtask_mcp.config import Credentials
from bgtask_mcp.dms.errors import APIError, ConfigurationError, ResponseTooLarge
from bgtask_mcp.dms.signer import AkSkSigner, TokenAuth
from bgtask_mcp.secrets import register_secret

# Refresh this long before the token's own expiry (at most half its lifetime), so that no request goes
# out with a dying token.
REFRESH_MARGIN_SECONDS = 300.0
DEFAULT_TOKEN_LIFETIME = 24 * 3600.0
TOKEN_EXPIRED_CODES = frozenset({"APIG.0307", "DMS.10240102", "DMS.10240101"})
# IAM answers a token request with the token's metadata; without the service catalogue it is a few KiB.
MAX_TOKEN_RESPONSE_BYTES = 1024 * 1024

NO_CREDENTIALS = (
    "no DMS credentials are configured. Set BGTASK_ACCESS_KEY and BGTASK_SECRET_KEY (or the official SDK's "
    "HUAWEICLOUD_SDK_AK / HUAWEICLOUD_SDK_SK), or BGTASK_IAM_TOKEN, or BGTASK_IAM_USER + BGTASK_IAM_PASSWORD + "
    "BGTASK_IAM_DOMAIN, then restart the server. To try the server without a cloud account, start it with "
    "--simulator"
)


def error_code_of(body: bytes) -> str | None:
    try:
        data = json.loads(body)
    except ValueError:
        return None
    return str(data.get("error_code")) if isinstance(data, dict) and data.get("error_code") else None


async def read_capped(response: httpx2.Response, cap: int, hint: str) -> bytes:
    """The whole body, or ``ResponseTooLarge`` as soon as it passes ``cap`` (announced or streamed)."""
    request_id = response.headers.get("X-Request-Id")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > cap:
        raise ResponseTooLarge(cap=cap, request_id=request_id, announced=int(declared), hint=hint)
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(cap=cap, request_id=request_id, hint=hint)
        chunks.append(chunk)
    return b"".join(chunks)


class PasswordTokenAuth(httpx2.Auth):
    """Exchanges user name, password and domain for an IAM token, caches it, and refreshes it before
    expiry. ``invalidate(token)`` drops it when DMS says it was revoked, so the next request logs in again."""

    def __init__(
        self,
        creds: Credentials,
        iam_endpoint: str,
        project_id: str | None,
        *,
        max_response_bytes: int = MAX_TOKEN_RESPONSE_BYTES,
    ) -> None:
        if not (creds.iam_user and creds.iam_password and creds.iam_domain):
            raise ConfigurationError("password login needs BGTASK_IAM_USER, BGTASK_IAM_PASSWORD and BGTASK_IAM_DOMAIN")
        self._creds = creds
        self._iam = iam_endpoint.rstrip("/")
        self._project_id = project_id
        self._token: str | None = None
        self._expires_at = 0.0  # time.monotonic() after which the token is refreshed before use
        self._lock = anyio.Lock()
        self._cap = min(max_response_bytes, MAX_TOKEN_RESPONSE_BYTES)
        self._http: httpx2.AsyncClient | None = None
        self.exchanges = 0

    def __repr__(self) -> str:
        return f"PasswordTokenAuth(user={self._creds.iam_user!r}, password=***, token={'***' if self._token else None})"

    @property
    def has_token(self) -> bool:
        return self._token is not None

    @property
    def refresh_in(self) -> float:
        """Seconds until the cached token is refreshed (negative: at the next request)."""
        return self._expires_at - time.monotonic()

    def expire_now(self) -> None:
        """Treat the cached token as due for refresh (it is replaced at the next request)."""
        self._expires_at = 0.0

    def invalidate(self, used_token: str | None) -> bool:
        """DMS refused ``used_token`` as expired or revoked: drop it unless a newer one is already cached."""
        if used_token is not None and used_token == self._token:
            self._token = None
            self._expires_at = 0.0
            return True
        return False

    def _token_request(self, http: httpx2.AsyncClient) -> httpx2.Request:
        assert self._creds.iam_password is not None
        scope: dict[str, object] = (
            {"project": {"id": self._project_id}} if self._project_id else {"domain": {"name": self._creds.iam_domain}}
        )
        body = {
            "auth": {
                "identity": {
                    "methods": ["password"],
                    "password": {
                        "user": {
                            "name": self._creds.iam_user,
                            "password": self._creds.iam_password.reveal(),
                            "domain": {"name": self._creds.iam_domain},
                        }
                    },
                },
                "scope": scope,
            }
        }
        # nocatalog: the token without the service catalogue (KiB instead of hundreds of KiB). Built by the
        # client, so that its timeouts and headers apply.
        return http.build_request("POST", f"{self._iam}/auth/tokens", params={"nocatalog": "true"}, json=body)

    def _accept(self, response: httpx2.Response, body: bytes) -> None:
        request_id = response.headers.get("X-Request-Id")
        if response.status_code != 201 or not response.headers.get("X-Subject-Token"):
            code = error_code_of(body)
            if response.status_code == 429 or response.status_code >= 500:
                msg = "IAM could not issue a token right now (password login to BGTASK_IAM_ENDPOINT)"
            elif response.status_code == 201:
                msg = "IAM answered without an X-Subject-Token header: BGTASK_IAM_ENDPOINT may not be an IAM endpoint"
            else:
                msg = (
                    "IAM refused the password login (check BGTASK_IAM_USER, BGTASK_IAM_PASSWORD, BGTASK_IAM_DOMAIN "
                    "and BGTASK_IAM_ENDPOINT)"
                )
            raise APIError(
                status=response.status_code,
                error_code=code,
                error_msg=msg,
                request_id=request_id,
                endpoint=self._iam,
            )
        token = response.headers["X-Subject-Token"]
        register_secret(token)
        lifetime = _lifetime(body, response.headers.get("Date"))
        self._token = token
        self._expires_at = time.monotonic() + lifetime - min(REFRESH_MARGIN_SECONDS, lifetime / 2)
        self.exchanges += 1

    def bind(self, http: httpx2.AsyncClient) -> None:
        """The client that sends the login requests (the DMS client's own pool, without auth)."""
        self._http = http

    async def _login(self) -> None:
        http = self._http
        if http is None:
            raise ConfigurationError("internal: PasswordTokenAuth used before bind()")
        request = self._token_request(http)
        response = await http.send(request, auth=None, stream=True)
        try:
            body = await read_capped(response, self._cap, "check that BGTASK_IAM_ENDPOINT is the IAM endpoint")
        finally:
            await response.aclose()
        self._accept(response, body)

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise NotImplementedError("bgtask-mcp uses the async client only")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        # One login at a time: concurrent first requests wait here and share its token. The login is an
        # ordinary awaited request, so the call's deadline and cancellation apply to it too.
        async with self._lock:
            if self._token is None or time.monotonic() >= self._expires_at:
                await self._login()
            token = self._token
        assert token is not None
        request.headers["X-Auth-Token"] = token
        if self._project_id:
            request.headers.setdefault("X-Project-Id", self._project_id)
        yield request


def _lifetime(body: bytes, date_header: str | None) -> float:
    """How long the token lives, by IAM's own clock (``expires_at - issued_at``), so a skewed local clock
    neither refreshes it in a loop nor keeps it past its end."""
    try:
        token = json.loads(body)["token"]
        expires = _parse_time(token["expires_at"])
    except (ValueError, KeyError, TypeError):
        return DEFAULT_TOKEN_LIFETIME
    issued: float | None = None
    try:
        issued = _parse_time(token["issued_at"])
    except (ValueError, KeyError, TypeError):
        if date_header:
            try:
                issued = parsedate_to_datetime(date_header).timestamp()
            except (ValueError, TypeError):
                issued = None
    lifetime = expires - (issued if issued is not None else time.time())
    return min(max(lifetime, 1.0), DEFAULT_TOKEN_LIFETIME)


def _parse_time(text: object) -> float:
    if not isinstance(text, str):
        raise TypeError("not a time")
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def build_auth(
    creds: Credentials, project_id: str | None, iam_endpoint: str | None, *, max_response_bytes: int | None = None
) -> httpx2.Auth:
    mode = creds.mode
    if mode == "aksk":
        assert creds.access_key is not None and creds.secret_key is not None
        return AkSkSigner(
            creds.access_key.reveal(),
            creds.secret_key.reveal(),
            project_id=project_id,
            security_token=creds.security_token.reveal() if creds.security_token else None,
        )
    if mode == "token":
        assert creds.iam_token is not None
        return TokenAuth(creds.iam_token.reveal(), project_id=project_id)
    if mode == "password":
        if not iam_endpoint:
            raise ConfigurationError("password login needs BGTASK_IAM_ENDPOINT or BGTASK_REGION")
        return PasswordTokenAuth(
            creds, iam_endpoint, project_id, max_response_bytes=max_response_bytes or MAX_TOKEN_RESPONSE_BYTES
        )
    raise ConfigurationError(NO_CREDENTIALS)
