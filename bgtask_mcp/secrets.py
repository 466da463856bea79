"""Secret values that never print themselves, and a logging filter that masks secrets.

Two kinds of masking, both in ``redact()``:

- values registered with ``register_secret()`` (every ``Secret``, every IAM token the server obtains)
  are masked wherever they appear;
- the values of credential-bearing HTTP headers (``Authorization``, ``X-Auth-Token``,
  ``X-Subject-Token``, ``X-Security-Token``, cookies) are masked by their name, so that a token is hidden
  even in the log line that announces it before anyone could register it (the HTTP client's DEBUG trace
  of the response headers of an IAM login).

``RedactingFilter`` applies ``redact()`` to a record's final message and traceback. The server puts it
on its stderr handler, and ``protect_loggers()`` puts it on the HTTP client's own loggers too, so that
even a handler configured by someone else never receives those values.
"""

from __future__ import annotations

import logging
import re
import threading
from typing import Final

MASK: Final = "***"

SENSITIVE_HEADERS: Final = (
    "authorization",
    "proxy-authorization",
    "x-auth-token",
    "x-subject-token",
    "x-security-token",
    "cookie",
    "set-cookie",
)
_NAMES = "|".join(re.escape(name) for name in SENSITIVE_HEADERS)
# (b'x-subject-token', b'VALUE') / ('X-Auth-Token', 'VALUE') / {"x-auth-token": "VALUE"}: header lists and dicts
_QUOTED_PAIR = re.compile(rf"""(?i)(b?(['"])(?:{_NAMES})\2\s*[,:]\s*b?(['"]))(.*?)(\3)""")
# X-Auth-Token: VALUE / authorization=VALUE in free text, up to the end of the line
_PLAIN_PAIR = re.compile(rf"""(?im)(\b(?:{_NAMES})\s*[:=]\s*)([^\s'"][^\r\n'"]*)""")


class Secret:
    """A string that shows ``***`` in ``str``/``repr``; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value
        register_secret(value)

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)


_known: set[str] = set()
_lock = threading.Lock()


def register_secret(value: str) -> None:
    """Remember a secret so that the logging filter masks it wherever it shows up."""
    if len(value) >= 6:  # shorter strings would mask ordinary words
        with _lock:
            _known.add(value)


def redact(text: str) -> str:
    """``text`` with every registered secret and every credential header value replaced by ``***``."""
    with _lock:
        known = sorted(_known, key=len, reverse=True)  # a secret containing another is masked whole
    for value in known:
        if value in text:
            text = text.replace(value, MASK)
    if _NAME_HINT.search(text):
        text = _QUOTED_PAIR.sub(lambda m: m.group(1) + MASK + m.group(5), text)
        text = _PLAIN_PAIR.sub(lambda m: m.group(1) + MASK, text)
    return text


_NAME_HINT = re.compile(rf"(?i){_NAMES}")


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message (arguments included) and in its traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = redact(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


_FILTER = RedactingFilter()
# the loggers of the HTTP stack that trace request and response headers at DEBUG
HTTP_LOGGERS: Final = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


def protect_loggers(*names: str) -> None:
    """Put the redacting filter on these loggers themselves (idempotent): what they log is masked before
    any handler, ours or anyone's, sees it."""
    for name in names or HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)
