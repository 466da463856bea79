"""How requests authenticate: AK/SK signing, a static IAM token, or a password -> token exchange."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, Generator
from datetime import datetime

import anyio
import httpx2

from bgtask_mcp.config import Credentials
from bgtask_mcp.dms.errors import APIError, ConfigurationError
from bgtask_mcp.dms.signer import AkSkSigner, TokenAuth
from bgtask_mcp.secrets import register_secret

# Refresh this long before the token's own expiry, so no request goes out with a dying token.
REFRESH_MARGIN_SECONDS = 300.0
TOKEN_EXPIRED_CODES = frozenset({"APIG.0307", "DMS.10240102", "DMS.10240101"})

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


class PasswordTokenAuth(httpx2.Auth):
    """Exchanges user name, password and domain for an IAM token, caches it, refreshes it before expiry
    and once more when the gateway says it was revoked (APIG.0307)."""

    def __init__(self, creds: Credentials, iam_endpoint: str, project_id: str | None) -> None:
        if not (creds.iam_user and creds.iam_password and creds.iam_domain):
            raise ConfigurationError("password login needs BGTASK_IAM_USER, BGTASK_IAM_PASSWORD and BGTASK_IAM_DOMAIN")
        self._creds = creds
        self._iam = iam_endpoint.rstrip("/")
        self._project_id = project_id
        self._token: str | None = None
        self._expires_at = 0.0
        self._lock = anyio.Lock()
        self.exchanges = 0

    def __repr__(self) -> str:
        return "PasswordTokenAuth(user=***)"

    def _token_request(self) -> httpx2.Request:
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
        return httpx2.Request("POST", f"{self._iam}/auth/tokens", json=body)

    def _accept(self, response: httpx2.Response) -> None:
        if response.status_code != 201 or not response.headers.get("X-Subject-Token"):
            code = error_code_of(response.content)
            raise APIError(
                status=response.status_code,
                error_code=code,
                error_msg="IAM refused the password login (check BGTASK_IAM_USER, BGTASK_IAM_PASSWORD, "
                "BGTASK_IAM_DOMAIN and BGTASK_IAM_ENDPOINT)",
                request_id=response.headers.get("X-Request-Id"),
                endpoint=self._iam,
            )
        token = response.headers["X-Subject-Token"]
        register_secret(token)
        lifetime = 24 * 3600.0
        try:
            expires = json.loads(response.content)["token"]["expires_at"]
            lifetime = datetime.fromisoformat(expires.replace("Z", "+00:00")).timestamp() - time.time()
        except (ValueError, KeyError, TypeError):
            pass
        self._token = token
        self._expires_at = time.monotonic() + max(lifetime - REFRESH_MARGIN_SECONDS, 30.0)
        self.exchanges += 1

    def _apply(self, request: httpx2.Request) -> None:
        assert self._token is not None
        request.headers["X-Auth-Token"] = self._token
        if self._project_id:
            request.headers.setdefault("X-Project-Id", self._project_id)

    def sync_auth_flow(self, request: httpx2.Request) -> Generator[httpx2.Request, httpx2.Response, None]:
        raise NotImplementedError("bgtask-mcp uses the async client only")

    async def async_auth_flow(self, request: httpx2.Request) -> AsyncGenerator[httpx2.Request, httpx2.Response]:
        for attempt in range(2):
            async with self._lock:
                if self._token is None or time.monotonic() >= self._expires_at:
                    token_response = yield self._token_request()
                    await token_response.aread()
                    self._accept(token_response)
            self._apply(request)
            response = yield request
            if response.status_code != 401 or attempt == 1:
                return
            await response.aread()
            if error_code_of(response.content) not in TOKEN_EXPIRED_CODES:
                return
            self._token = None  # revoked early: log in once more, then give up


def build_auth(creds: Credentials, project_id: str | None, iam_endpoint: str | None) -> httpx2.Auth:
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
        return PasswordTokenAuth(creds, iam_endpoint, project_id)
    raise ConfigurationError(NO_CREDENTIALS)
