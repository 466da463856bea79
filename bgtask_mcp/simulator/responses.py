"""The simulator's answers in the API's own shapes: JSON bodies marked as simulated by a header (never by a body
field the API does not have), and error bodies as DMS (``error_code``, ``error_msg``) and the API gateway (plus
``request_id``) send them. An error is named by its code only: its HTTP status and message come from the
documented table (``facts/error_codes.csv``), so the simulator cannot answer a code the cloud does not."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import JSONResponse, Response

from bgtask_mcp import facts

SIMULATOR_HEADER = "X-Dms-Simulator"


def error(
    code: str, *, gateway: bool = False, detail: str | None = None, headers: dict[str, str] | None = None
) -> Response:
    """The documented answer for ``code``, with ``detail`` after the documented message when given: the gateway
    says why ("Incorrect IAM authentication information: verify aksk signature fail"), and DMS quotes the
    parameter it refused ("Invalid request parameter: sasl.password=... does not meet the password policy")."""
    known = facts.error_codes().get(code)
    if known is None:
        raise KeyError(f"{code} is not a documented error code; add it with its source to facts/error_codes.csv")
    rid = uuid.uuid4().hex
    message = f"{known.message.rstrip('.')}: {detail}" if detail else known.message
    body: dict[str, Any] = {"error_code": code, "error_msg": message}
    if gateway:
        body["request_id"] = rid
    return JSONResponse(
        body, status_code=known.http_status, headers={"X-Request-Id": rid, SIMULATOR_HEADER: "1", **(headers or {})}
    )


def ok(payload: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps(payload, ensure_ascii=False),
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers={"X-Request-Id": uuid.uuid4().hex, SIMULATOR_HEADER: "1", **(headers or {})},
    )
