"""Every masking rule of bgtask-mcp. It fails closed: when in doubt, mask; and a harmless value next to a secret
stays readable, because it is what a model needs to explain a change.

- ``keys``: which keys name a secret (and which name a setting about one: ``ssl.truststore.location``).
- ``registry``: the values the server knows to be secret, bounded in count and time.
- ``rules``: the named rules for free text (PEM, JWT, URL credentials, Authorization values, command-line
  flags in every form, XML elements and attributes, ``key=value`` chains); ``text``: their order and
  ``mask_text``; ``loose_json``: JSON-like text that does not parse.
- ``documents``: decoded documents (``mask_value``); ``logs``: log records.
"""

from __future__ import annotations

import re

from bgtask_mcp.redaction.documents import MAX_DEPTH, mask_value
from bgtask_mcp.redaction.keys import is_name_key, is_secret_key, key_words
from bgtask_mcp.redaction.logs import (
    HTTP_LOGGERS,
    FieldLine,
    RedactingFilter,
    get_logger,
    loggable,
    protect_loggers,
)
from bgtask_mcp.redaction.registry import REGISTRY, Secret, SecretRegistry, register_configured, register_secret
from bgtask_mcp.redaction.rules import DEEP_MASK, MASK
from bgtask_mcp.redaction.text import MASKING, RULES, mask_text

__all__ = [
    "DEEP_MASK", "HTTP_LOGGERS", "MASK", "MASKING", "MAX_DEPTH", "REGISTRY", "RULES", "FieldLine", "RedactingFilter",
    "Secret", "SecretRegistry", "get_logger", "is_name_key", "is_secret_key", "key_words", "loggable", "mask_text",
    "mask_value", "protect_loggers", "register_configured", "register_secret", "shown",
]  # fmt: skip

_UNSHOWN = re.compile(r"[^\x20-\x7e]|['\"\\=:@`]")


def shown(value: object, limit: int = 80) -> str:
    """A value a caller sent, quoted for an error message: printable ASCII only, without the quotes, ``=``, ``:``
    and ``@`` that could pair with our own words into something the masking would take for a secret."""
    text = value if isinstance(value, str) else repr(value)
    return "'" + _UNSHOWN.sub("?", text[:limit]) + "'" + ("..." if len(text) > limit else "")
