"""Decoded documents (task params, trace requests) with every secret masked, at any depth.

- A secret-like key masks its own value, whatever its type, and nothing else: ``{"privateKey": ..., "topic":
  "orders"}`` keeps its topic.
- A name/value pair whose name is secret-like (``{"name": "ssl.truststore.password", "value": ...}``, in any
  spelling of the two keys) masks every field but its name.
- Arrays: ``["ssl.key.password", "x"]`` masks its second element; in an argument list (``["kafka-configs",
  "--password", "x"]``) a secret flag masks the argument after it (``-p`` unless that is a port).
- Strings go through the text rules; past ``MAX_DEPTH`` levels the rest is masked, never shown.
"""

from __future__ import annotations

from typing import Any, Final

from bgtask_mcp.redaction.keys import is_name_key, is_secret_key, secret_flag
from bgtask_mcp.redaction.rules import DEEP_MASK, MASK, PORT_LIKE
from bgtask_mcp.redaction.text import mask_text

MAX_DEPTH: Final = 32


def mask_value(value: Any, depth: int = 0) -> Any:
    """A decoded JSON value with every secret masked (objects, arrays, strings, at any depth)."""
    if depth >= MAX_DEPTH:
        return DEEP_MASK if isinstance(value, dict | list) else _mask_scalar(value)
    if isinstance(value, dict):
        return _mask_object(value, depth)
    if isinstance(value, list):
        return _mask_array(value, depth)
    return _mask_scalar(value)


def _mask_scalar(value: Any) -> Any:
    return mask_text(value) if isinstance(value, str) else value


def _hidden(item: Any) -> Any:
    return item if item is None or item == "" else MASK


def _mask_object(obj: dict[str, Any], depth: int) -> dict[str, Any]:
    pair_secret = any(is_name_key(k) and isinstance(v, str) and is_secret_key(v) for k, v in obj.items())
    out: dict[str, Any] = {}
    for key, item in obj.items():
        if is_secret_key(key) or (pair_secret and not is_name_key(key)):
            out[key] = _hidden(item)
        else:
            out[key] = mask_value(item, depth + 1)
    return out


def _mask_array(items: list[Any], depth: int) -> list[Any]:
    # ["ssl.key.password", "value"]: a pair written as a two-element array
    if len(items) == 2 and isinstance(items[0], str) and not items[0].startswith("-") and is_secret_key(items[0]):
        return [items[0], _hidden(items[1])]
    out: list[Any] = []
    for index, item in enumerate(items):
        flag = items[index - 1] if index else None
        if flag is not None and secret_flag(flag) and isinstance(item, str) and not item.startswith("-"):
            port = flag == "-p" and PORT_LIKE.fullmatch(item) is not None
            out.append(item if port else _hidden(item))
        else:
            out.append(mask_value(item, depth + 1))
    return out
