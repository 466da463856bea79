"""Decode the ``params`` string of a DMS task into the JSON value it holds (masking is redaction's job).

The API sends ``params`` as a JSON document encoded in a string: sometimes with a trailing newline,
sometimes not JSON at all (``"[topic-1]"``), sometimes with JSON encoded again inside a string value.
What is really JSON is decoded (nested encoded objects and arrays too); everything else stays text.
"""

from __future__ import annotations

import json
from typing import Any, TypeAlias

JSONValue: TypeAlias = dict[str, Any] | list[Any] | str | int | float | bool | None

# JavaScript clients parse numbers as doubles: integers beyond 2**53 would silently change there, so they
# travel as their exact decimal digits instead; so do numbers too large for a double (1e400).
SAFE_INT = 2**53 - 1
MAX_INT_DIGITS = 4000  # below Python's own limit on int() of a decimal string
MAX_DEPTH = 32  # encoded JSON inside strings is decoded this deep; masking covers the rest


class _NotJSON(ValueError):
    pass


def _constant(name: str) -> Any:
    raise _NotJSON(f"{name} is not JSON")


def _number(text: str) -> int | float | str:
    if "." in text or "e" in text or "E" in text:
        value = float(text)
        return value if value not in (float("inf"), float("-inf")) else text
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        return text
    number = int(text)
    return number if -SAFE_INT <= number <= SAFE_INT else text


def _loads(text: str) -> Any:
    return json.loads(
        text,
        parse_constant=_constant,
        parse_int=_number,
        parse_float=_number,  # type: ignore[arg-type]
    )


def _container(text: str) -> tuple[bool, Any]:
    """Decode text that is a JSON object or array; anything else (``"123"``, ``"[topic-1]"``) is not one."""
    stripped = text.strip()
    if not stripped or stripped[0] not in "[{":
        return False, None
    try:
        value = _loads(stripped)
    except (ValueError, RecursionError):
        return False, None
    return isinstance(value, dict | list), value


def _nested(value: Any, depth: int) -> JSONValue:
    if depth >= MAX_DEPTH:
        return value  # type: ignore[no-any-return]
    if isinstance(value, dict):
        return {str(k): _nested(v, depth + 1) for k, v in value.items()}
    if isinstance(value, list):
        return [_nested(v, depth + 1) for v in value]
    if isinstance(value, str):
        ok, inner = _container(value)
        return _nested(inner, depth + 1) if ok else value
    return value  # type: ignore[no-any-return]


def decode_params(raw: str | None) -> JSONValue:
    """The decoded ``params``: object, array or scalar; text that is not JSON is kept as text."""
    if raw is None:
        return None
    stripped = raw.strip()
    if not stripped:
        return ""
    try:
        value = _loads(stripped)
    except (ValueError, RecursionError):
        return raw
    return _nested(value, 0)
