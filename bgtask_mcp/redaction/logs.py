"""Log records masked at the source: the redacting filter sits on bgtask-mcp's loggers (and on the HTTP stack's,
which trace an IAM login's ``X-Subject-Token`` at DEBUG) when ``get_logger``/``protect_loggers`` are called,
never as a side effect of importing anything."""

from __future__ import annotations

import logging
from typing import Final

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


def protect_loggers(*names: str) -> None:
    """Put the redacting filter on these loggers themselves (idempotent): what they log is masked before any
    handler, ours or anyone's, sees it."""
    for name in names or HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _FILTER not in logger.filters:
            logger.addFilter(_FILTER)


def get_logger(name: str) -> logging.Logger:
    """A logger whose records are masked at the source, before any handler (ours or anyone's) sees them."""
    logger = logging.getLogger(name)
    if _FILTER not in logger.filters:
        logger.addFilter(_FILTER)
    return logger
