"""The simulator's answers in the API's own shapes: the envelope with ``"simulated": true``, and error bodies
as DMS (``error_code``, ``error_msg``) and the API gateway (plus ``request_id``) send them."""

from __future__ import annotations

import json
import uuid
from typing import Any

from starlette.responses import JSONResponse, Response


def error(
    status: int, code: str, msg: str, *, gateway: bool = False, headers: dict[str, str] | None = None
) -> Response:
    rid = uuid.uuid4().hex
    body: dict[str, Any] = {"error_code": code, "error_msg": msg}
    if gateway:
        body["request_id"] = rid
    return JSONResponse(body, status_code=status, headers={"X-Request-Id": rid, **(headers or {})})


def ok(payload: dict[str, Any], *, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        json.dumps({**payload, "simulated": True}, ensure_ascii=False),
        status_code=status,
        media_type="application/json;charset=UTF-8",
        headers={"X-Request-Id": uuid.uuid4().hex, "X-Dms-Simulator": "1", **(headers or {})},
    )
