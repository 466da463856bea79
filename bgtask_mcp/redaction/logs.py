"""Log records masked at the source: ``protect_loggers`` puts the redacting filter on bgtask-mcp's loggers and on
the HTTP stack's (which trace an IAM login's ``X-Subject-Token`` at DEBUG) when a server or a DMS client is
built, never as a side effect of importing anything."""

from __future__ import annotations

import logging
import re
from typing import Final

from bgtask_mcp.redaction.keys import is_secret_key
from bgtask_mcp.redaction.text import mask_text


class RedactingFilter(logging.Filter):
    """Masks secrets in a record's final message (arguments included), its traceback and stack."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "bgtask_masked", False):
            return True  # masked by the filter on its logger already; handlers need not do it again
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to the handler to report
            return True
        cleaned = mask_text(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        record.bgtask_masked = True
        if record.exc_info and record.exc_info[1] is not None:
            record.exc_text = mask_text(logging.Formatter().formatException(record.exc_info))
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = mask_text(record.exc_text)
        if record.stack_info:
            record.stack_info = mask_text(record.stack_info)
        return True


_FILTER = RedactingFilter()
# loggers that trace request and response headers (an IAM login's X-Subject-Token among them) at DEBUG
HTTP_LOGGERS: Final = (
    "httpx2",
    "httpcore2.connection",
    "httpcore2.http11",
    "httpcore2.http2",
    "httpcore2.proxy",
    "httpcore2.socks",
)


OUR_LOGGERS: Final = "bgtask_mcp"


def protect_loggers(*names: str) -> None:
    """Put the redacting filter on the loggers themselves (idempotent): bgtask-mcp's own and the HTTP stack's, or
    ``names``. What they log is then masked before any handler, ours or anyone's, sees it. Called when a server
    or client is built, never on import."""
    wanted = names or (*HTTP_LOGGERS, *_ours())
    for name in wanted:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def _ours() -> list[str]:
    known = list(logging.Logger.manager.loggerDict)
    return [OUR_LOGGERS, *(n for n in known if n.startswith(OUR_LOGGERS + "."))]


def get_logger(name: str) -> logging.Logger:
    """The logger of a bgtask-mcp module; ``protect_loggers`` masks it at the source when a server starts."""
    return logging.getLogger(name)


def loggable(value: object, limit: int = 64) -> str:
    """Visible ASCII only, at most ``limit`` characters ("" for nothing): a client or a model chooses these values
    (a path, a tool name, an id) and must not forge log lines."""
    if not isinstance(value, str) or not value:
        return ""
    value = value[:limit]
    if value.isascii() and value.isprintable() and " " not in value:
        return value  # the usual case: an id
    return "".join(c if "!" <= c <= "~" else "?" for c in value)


_FIELD = re.compile(r"(?:^|(?<= ))([a-z_]+)=%[-0-9.]*[sdfi]")
_PLACEHOLDER = re.compile(r"%[-0-9.]*[sdfi]")


class FieldLine:
    """A log line of ``key=%s`` fields that bgtask-mcp writes on every call (the access and audit lines).

    Every placeholder follows a fixed ``key=`` that names no secret (checked when the line is defined), so masking
    each argument on its own masks everything the line can carry, without running the ``key=value`` rules over
    our own keys on every call. The record is made without looking up the caller's source line, which no
    bgtask-mcp format shows.
    """

    def __init__(self, logger: logging.Logger, fmt: str) -> None:
        keys = _FIELD.findall(fmt)
        if len(keys) != len(_PLACEHOLDER.findall(fmt)) or any(is_secret_key(key) for key in keys):
            raise ValueError(f"not a line of non-secret key=value fields: {fmt!r}")
        self.logger = logger
        self.fmt = fmt

    def info(self, *args: object) -> None:
        logger = self.logger
        if not logger.isEnabledFor(logging.INFO):
            return
        masked = tuple(mask_text(a) if isinstance(a, str) else a for a in args)
        record = logger.makeRecord(logger.name, logging.INFO, logger.name, 0, self.fmt, masked, None)
        record.bgtask_masked = True
        logger.handle(record)
