"""The simulator's gateway: it checks AK/SK signatures and IAM tokens the way the cloud does.

The signature check is written from the algorithm in the design notes (``SDK-HMAC-SHA256``), on purpose
sharing no code with the client's signer: a canonicalisation bug must not pass both sides. Five failed
signatures lock an access key for five minutes; a request more than 15 minutes off the server's clock is
refused.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import quote, unquote

from starlette.requests import Request

from bgtask_mcp.simulator import data
from bgtask_mcp.simulator.state import SimState

AUTHORIZATION = re.compile(r"^SDK-HMAC-SHA256\s+Access=([^,\s]+),\s*SignedHeaders=([^,\s]+),\s*Signature=([0-9a-f]+)$")
MAX_SKEW = timedelta(minutes=15)
LOCKOUT_FAILURES = 5
LOCKOUT_SECONDS = 300.0
UNRESERVED = "-._~"  # with letters and digits: the only characters left unencoded


class Refused(Exception):
    """The gateway's refusal: an HTTP status, a DMS/APIG code and a message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message

    @property
    def detail(self) -> str | None:
        """What the gateway adds after its documented message ("...: access key locked")."""
        return self.message.partition(": ")[2] or None


def _encode(text: str) -> str:
    return quote(text, safe=UNRESERVED)


def _canonical_uri(raw_path: str) -> str:
    # decoded first, then split: an encoded "/" inside a segment becomes a separator, as the gateway reads it
    segments = [_encode(segment) for segment in unquote(raw_path).split("/")]
    uri = "/".join(segments)
    return uri if uri.endswith("/") else uri + "/"


def _canonical_query(raw_query: str) -> str:
    pairs = []
    for part in raw_query.split("&"):
        if not part:
            continue
        key, _, value = part.partition("=")
        pairs.append((unquote(key), unquote(value)))
    pairs.sort()
    return "&".join(f"{_encode(k)}={_encode(v)}" for k, v in pairs)


def expected_signature(secret_key: str, request: Request, names: list[str], body: bytes) -> str:
    raw_path = (request.scope.get("raw_path") or request.url.path.encode()).decode("latin-1").split("?", 1)[0]
    raw_query = request.scope.get("query_string", b"").decode("latin-1")
    # header values as the client sent them: UTF-8 bytes (starlette's str headers are decoded as latin-1)
    raw = {k.decode("latin-1").lower(): v.decode("utf-8", "replace") for k, v in request.scope.get("headers", [])}
    header_lines = "".join(f"{name}:{raw.get(name, '').strip()}\n" for name in names)
    declared = request.headers.get("x-sdk-content-sha256")
    payload = declared if declared == "UNSIGNED-PAYLOAD" else hashlib.sha256(body).hexdigest()
    canonical = "\n".join(
        [
            request.method.upper(),
            _canonical_uri(raw_path),
            _canonical_query(raw_query),
            header_lines,
            ";".join(names),
            payload,
        ]
    )
    sdk_date = request.headers.get("x-sdk-date", "")
    to_sign = f"SDK-HMAC-SHA256\n{sdk_date}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    return hmac.new(secret_key.encode(), to_sign.encode(), hashlib.sha256).hexdigest()


class Gateway:
    def __init__(self, state: SimState, access_key: str = data.SIM_ACCESS_KEY, secret_key: str = data.SIM_SECRET_KEY):
        self.state = state
        self.access_key = access_key
        self.secret_key = secret_key

    def caller_project(self, request: Request, body: bytes) -> str | None:
        """Check the request's credentials; the project its token is scoped to (None for AK/SK)."""
        token = request.headers.get("X-Auth-Token")
        if token is not None:
            return self._token_project(token)
        self._check_signature(request, body)
        return None

    def _token_project(self, token: str) -> str:
        if hmac.compare_digest(token.encode(), data.SIM_IAM_TOKEN.encode()):
            return data.SIM_PROJECT_ID
        issued = self.state.issued.get(token)
        if issued is None or issued.expires <= time.time():
            raise Refused(401, "APIG.0307", "The token must be updated.")
        return issued.project_id

    def _check_signature(self, request: Request, body: bytes) -> None:
        match = AUTHORIZATION.match(request.headers.get("Authorization", ""))
        if not match:
            raise Refused(401, "APIG.0301", "Incorrect IAM authentication information: Authorization not found")
        access_key, signed, signature = match.groups()
        failures = self.state.auth_failures.setdefault(access_key, [])
        now = time.time()
        failures[:] = [t for t in failures if now - t < LOCKOUT_SECONDS]
        if len(failures) >= LOCKOUT_FAILURES:
            raise Refused(401, "APIG.0301", "Incorrect IAM authentication information: access key locked")
        problem = self._signature_problem(request, body, access_key, signed.split(";"), signature)
        if problem:
            failures.append(now)
            raise Refused(401, "APIG.0301", f"Incorrect IAM authentication information: {problem}")
        failures.clear()

    def _signature_problem(
        self, request: Request, body: bytes, access_key: str, names: list[str], sig: str
    ) -> str | None:
        if access_key != self.access_key:
            return "unknown access key"
        try:
            when = datetime.strptime(request.headers.get("X-Sdk-Date", ""), "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
        except ValueError:
            return "X-Sdk-Date missing or malformed"
        if abs(datetime.now(UTC) - when) > MAX_SKEW:
            return "request time is more than 15 minutes from the server time (clock skew)"
        if "host" not in names or "x-sdk-date" not in names:
            return "host and x-sdk-date must be signed"
        if names != sorted(names) or any(request.headers.get(name) is None for name in names):
            return "the signed headers are not sorted, or one of them is missing"
        if not hmac.compare_digest(expected_signature(self.secret_key, request, names, body), sig):
            return "verify aksk signature fail"
        return None
