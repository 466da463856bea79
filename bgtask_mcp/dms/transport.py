"""One HTTP request to DMS or IAM over a pooled ``httpx2`` client: a capped, streamed read, and the one
parser that turns an error answer (JSON, HTML, empty) into an ``APIError``.

It knows nothing of retries or of what the body means. Each request it sends is counted on the current call
budget, whose ``request_id`` it keeps up to date with the answer's ``X-Request-Id``.
"""

from __future__ import annotations

import json
import ssl
import time
from collections.abc import Mapping
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx2

from bgtask_mcp import __version__
from bgtask_mcp.config import Limits
from bgtask_mcp.dms import context
from bgtask_mcp.dms.errors import APIError, ResponseTooLarge, TransportError
from bgtask_mcp.redaction import get_logger

log = get_logger("bgtask_mcp.dms")

USER_AGENT = f"bgtask-mcp/{__version__}"
ERROR_MESSAGE_CHARACTERS = 500


@dataclass(frozen=True)
class Reply:
    """A complete answer with a status below 300."""

    status: int
    headers: httpx2.Headers
    body: bytes
    request_id: str | None

    @property
    def simulated(self) -> bool:
        """True when the embedded simulator answered (it says so in a header; the body is the API's own)."""
        return self.headers.get("X-Dms-Simulator") == "1"

    def json_object(self, endpoint: str) -> dict[str, Any]:
        """The body as a JSON object, or an ``APIError`` saying that something else answered."""
        try:
            data = json.loads(self.body)
        except ValueError:
            raise APIError(
                self.status, None, "the answer was not JSON (a proxy or gateway page?)", self.request_id, endpoint
            ) from None
        if not isinstance(data, dict):
            raise APIError(self.status, None, "the answer was JSON but not an object", self.request_id, endpoint)
        return data


class Transport:
    """The connection pool of one cloud. Built on first use: its TLS context (the CA bundle) and first import
    cost about 40 ms, which would otherwise sit between the spawn of a stdio server and its first answer."""

    def __init__(
        self, limits: Limits, *, ca_file: str | None = None, transport: httpx2.AsyncBaseTransport | None = None
    ) -> None:
        self._limits = limits
        self._ca_file = ca_file
        self._transport = transport
        self._client: httpx2.AsyncClient | None = None

    def client(self) -> httpx2.AsyncClient:
        if self._client is None:
            lim = self._limits
            verify: ssl.SSLContext | bool = True
            if self._ca_file:
                verify = ssl.create_default_context(cafile=self._ca_file)
            self._client = httpx2.AsyncClient(
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
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        endpoint: str,
        query: list[tuple[str, str]] | None = None,
        headers: Mapping[str, str] | None = None,
        auth: httpx2.Auth | None = None,
        json_body: Any = None,
        cap: int | None = None,
        too_large: str = "ask for fewer tasks (a smaller limit)",
    ) -> Reply:
        """Send one request; the answer, or ``APIError`` (status >= 300), ``ResponseTooLarge``, ``TransportError``."""
        client = self.client()
        params: list[tuple[str, str | int | float | bool | None]] | None = list(query) if query else None
        request = client.build_request(method, url, params=params, headers=headers, json=json_body)
        budget = context.current()
        if budget is not None:
            budget.requests += 1
        started = time.perf_counter()
        status, answer_headers, body = await self._send(client, request, auth, cap, too_large, endpoint)
        request_id = answer_headers.get("X-Request-Id")
        log.debug(
            "%s %s -> %d in %.1f ms (request id %s)",
            method,
            request.url.path,
            status,
            (time.perf_counter() - started) * 1000,
            request_id,
        )
        if status >= 300:
            raise parse_error(status, answer_headers, body, request_id, endpoint)
        return Reply(status, answer_headers, body, request_id)

    async def _send(
        self,
        client: httpx2.AsyncClient,
        request: httpx2.Request,
        auth: httpx2.Auth | None,
        cap: int | None,
        too_large: str,
        endpoint: str,
    ) -> tuple[int, httpx2.Headers, bytes]:
        lim = self._limits
        try:
            response = await client.send(request, auth=auth, stream=True)
            try:
                _note_request_id(response.headers.get("X-Request-Id"))
                body = await read_capped(response, cap or lim.max_response_bytes, too_large)
            finally:
                await response.aclose()
        except httpx2.PoolTimeout:
            raise TransportError(
                f"all {lim.max_connections} connections to DMS stayed busy (PoolTimeout)", endpoint, timeout=True
            ) from None
        except httpx2.TimeoutException as exc:
            raise TransportError(f"timed out ({type(exc).__name__})", endpoint, timeout=True) from None
        except httpx2.TransportError as exc:
            raise TransportError(_transport_text(exc), endpoint) from None
        except httpx2.HTTPError as exc:  # e.g. a body that does not decode: retrying would not help
            raise TransportError(_transport_text(exc), endpoint, retryable=False) from None
        return response.status_code, response.headers, body


def _note_request_id(request_id: str | None) -> None:
    budget = context.current()
    if budget is not None and request_id:
        budget.request_id = request_id


async def read_capped(response: httpx2.Response, cap: int, hint: str) -> bytes:
    """The whole body, or ``ResponseTooLarge`` as soon as it passes ``cap`` (announced or streamed)."""
    request_id = response.headers.get("X-Request-Id")
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit():
        if int(declared) > cap:
            raise ResponseTooLarge(cap=cap, request_id=request_id, announced=int(declared), hint=hint)
        return await response.aread()  # framed by its length: the connection cannot send more
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > cap:
            raise ResponseTooLarge(cap=cap, request_id=request_id, hint=hint)
        chunks.append(chunk)
    return b"".join(chunks)


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
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite: not a delay
        return None
    return max(0.0, seconds)


def parse_error(status: int, headers: httpx2.Headers, body: bytes, request_id: str | None, endpoint: str) -> APIError:
    """The one reading of an error answer: a DMS/gateway JSON body, or whatever else came back."""
    code: str | None = None
    msg: str | None = None
    if status < 400:  # redirects are not followed: DMS never sends them, proxies and portals do
        location = headers.get("Location") or "nowhere"
        msg = f"a redirect to {location[:200]}"
    else:
        try:
            data = json.loads(body)
        except ValueError:
            kind = "an empty body" if not body.strip() else "a non-JSON body (an HTML gateway page?)"
            msg = f"{kind}, content type {headers.get('Content-Type') or 'unknown'}"
        else:
            if isinstance(data, dict):
                code, msg = error_fields(data)
                request_id = request_id or _text(data.get("request_id"))
            else:
                msg = "a JSON body that is not an error object"
    return APIError(
        status=status,
        error_code=code,
        error_msg=msg[:ERROR_MESSAGE_CHARACTERS] if msg else msg,
        request_id=request_id,
        endpoint=endpoint,
        retry_after=parse_retry_after(headers.get("Retry-After")),
    )


# The body shapes DMS, its gateway and IAM use, in the order the official SDK's exception handler tries them.
ERROR_SHAPES = (("error_code", "error_msg"), ("errorCode", "errorMsg"), ("code", "message"))
MAX_ERROR_DEPTH = 4


def error_fields(body: dict[str, Any], depth: int = 0) -> tuple[str | None, str | None]:
    """The code and message of an error body: a known pair of keys at this level, else the first nested
    object that has one (IAM answers ``{"error": {"code": 401, "message": ...}}``)."""
    for code_key, msg_key in ERROR_SHAPES:
        if code_key in body and msg_key in body:
            return _text(body[code_key]), _text(body[msg_key])
    if depth < MAX_ERROR_DEPTH:
        for value in body.values():
            if isinstance(value, dict):
                found = error_fields(value, depth + 1)
                if found != (None, None):
                    return found
    for code_key, msg_key in ERROR_SHAPES:  # half a pair is still worth showing
        if body.get(code_key) is not None or body.get(msg_key) is not None:
            return _text(body.get(code_key)), _text(body.get(msg_key))
    return None, None


def _text(value: object) -> str | None:
    return None if value is None or value == "" else str(value)
