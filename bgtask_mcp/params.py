"""Decode the ``params`` string of a DMS task into a JSON value a model can read, secrets masked.

The API sends ``params`` as a JSON document encoded in a string, sometimes with a trailing
newline, sometimes not JSON at all (``"[topic-1]"``), sometimes with JSON encoded again inside a
string value. We decode what is really JSON, keep everything else verbatim, and mask the values
of keys that look like they hold credentials.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeAlias

from bgtask_mcp.secrets import MASK

JSONValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None

# JavaScript clients parse numbers as doubles: integers beyond 2**53 would silently change there,
# so they travel as their exact decimal digits instead.
_SAFE_INT = 2**53 - 1
_MAX_DEPTH = 32

_SECRET_KEY = re.compile(
    r"password|passwd|(^|[^a-z])(pwd|pass)($|[^a-z])|secret|token|credential|private[-_]?key|api[-_]?key"
    r"|access[-_]?key|auth[-_]?key|^ak$|^sk$|jaas|signature",
    re.IGNORECASE,
)
_SECRET_IN_TEXT = re.compile(
    r"(?P<key>\b(?:password|passwd|pwd|secret|token|access[-_]?key|secret[-_]?key|private[-_]?key|api[-_]?key)\b"
    r"\s*[=:]\s*)(?P<value>\"[^\"]*\"|'[^']*'|[^\s,;&}]+)",
    re.IGNORECASE,
)


def is_secret_key(key: str) -> bool:
    return bool(_SECRET_KEY.search(key))


def _reject_constant(name: str) -> float:
    raise ValueError(f"{name} is not JSON")


def _loads(text: str) -> Any:
    return json.loads(text, parse_constant=_reject_constant)


def _try_json_container(text: str) -> tuple[bool, Any]:
    """Decode text that is a JSON object or array; anything else (``"123"``, ``"[topic-1]"``) is not."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False, None
    try:
        value = _loads(stripped)
    except (ValueError, RecursionError):
        return False, None
    return isinstance(value, dict | list), value


def _clean(value: Any, depth: int) -> JSONValue:
    if depth > _MAX_DEPTH:
        return json.dumps(value) if not isinstance(value, str) else value
    if isinstance(value, dict):
        return {
            str(k): (MASK if is_secret_key(str(k)) and v not in (None, "") else _clean(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_clean(v, depth + 1) for v in value]
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):
        return value if -_SAFE_INT <= value <= _SAFE_INT else str(value)
    if isinstance(value, str):
        ok, inner = _try_json_container(value)
        if ok:
            return _clean(inner, depth + 1)
        return mask_text(value)
    return str(value)


def mask_text(text: str) -> str:
    """Mask ``password=...``-style pairs inside free text."""
    if not _SECRET_IN_TEXT.search(text):
        return text
    return _SECRET_IN_TEXT.sub(lambda m: m.group("key") + MASK, text)


def decode_params(raw: str | None) -> JSONValue:
    """The decoded ``params`` value: object, array or scalar; text that is not JSON is kept as text."""
    if raw is None:
        return None
    stripped = raw.strip()
    if not stripped:
        return ""
    try:
        value = _loads(stripped)
    except (ValueError, RecursionError):
        return mask_text(raw)
    return _clean(value, 0)
