"""The one place where failures become what a person or a model reads: tool errors, resource errors, the
readiness probe's reason and the command line's one-line refusals.

The wording of each failure lives with the failure (``dms.errors``, ``ids``, ``settings_env``); this module
decides only how it is delivered, masks it, and writes the call's audit line.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Awaitable, Callable
from typing import Any, ParamSpec, TypeVar, cast

import anyio
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, TextContent
from pydantic import BaseModel
from pydantic_core import to_json

from bgtask_mcp.callers import current_caller, note_call
from bgtask_mcp.dms import context
from bgtask_mcp.dms.errors import DMSError
from bgtask_mcp.redaction import FieldLine, get_logger, loggable, mask_text
from bgtask_mcp.state import AppState, state_of

log = get_logger("bgtask_mcp")

P = ParamSpec("P")
R = TypeVar("R")

INTERNAL_ERROR = (
    "bgtask-mcp hit an internal error (it is in the server's log). Next step: retry once; if it persists, report "
    "it with the server log"
)
AUDIT_LINE = (
    "call caller=%s tool=%s instance=%s region=%s outcome=%s dms_requests=%d retries=%d dms_request_id=%s "
    "duration_ms=%.1f"
)
audit = FieldLine(get_logger("bgtask_mcp.audit"), AUDIT_LINE)


def message_of(error: BaseException) -> str:
    """The text a person reads for a failure: its own description, masked."""
    if isinstance(error, DMSError):
        return mask_text(error.describe())
    return mask_text(str(error))


def _first_dms_error(error: BaseException) -> DMSError | None:
    """A DMS failure, also when it arrives inside an exception group (concurrent reads)."""
    if isinstance(error, DMSError):
        return error
    if isinstance(error, BaseExceptionGroup):
        for inner in error.exceptions:
            found = _first_dms_error(inner)
            if found is not None:
                return found
    return None


def tool_boundary(
    name: str, seconds: Callable[[AppState, dict[str, Any]], float]
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Run a tool inside one call budget of ``seconds(arguments)``; every failure becomes a ``ToolError`` a
    person can act on; one audit line per call (who, what, where, outcome, DMS request id, duration)."""

    def decorate(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(fn)
        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = time.perf_counter()
            outcome = "ok"
            state = state_of(kwargs["ctx"])  # type: ignore[arg-type]
            with context.call_scope(state.service.clock, seconds(state, kwargs)) as budget:
                try:
                    return as_tool_result(await fn(*args, **kwargs))
                except ToolError:
                    outcome = "ToolError"
                    raise
                except anyio.get_cancelled_exc_class():
                    outcome = "cancelled"
                    raise
                except BaseException as exc:
                    failure = _first_dms_error(exc)
                    if failure is not None:
                        outcome = type(failure).__name__
                        raise ToolError(message_of(failure)) from None
                    if not isinstance(exc, Exception):
                        outcome = "interrupted"
                        raise
                    outcome = "internal"
                    log.exception("tool %s failed unexpectedly", name)
                    raise ToolError(INTERNAL_ERROR) from None
                finally:
                    _audit(name, kwargs, budget, outcome, time.perf_counter() - started)
                    state.telemetry.tool_call(name, outcome, time.perf_counter() - started)

        return wrapper

    return decorate


def _audit(tool: str, arguments: dict[str, Any], budget: context.CallBudget, outcome: str, seconds: float) -> None:
    instance = arguments.get("instance_id")
    note_call(tool, budget.request_id)
    audit.info(
        current_caller(),
        tool,
        loggable(instance) if isinstance(instance, str) else "-",
        budget.region or loggable(arguments.get("region")) or "-",
        outcome,
        budget.requests,
        budget.retries,
        budget.request_id or "-",
        seconds * 1000,
    )


def as_tool_result(result: R) -> R:
    """A model result as structuredContent plus the same JSON, compact, as the text block.

    Left to itself the SDK indents that text by 2, which costs a client that shows only the text (and the model
    behind it) about 30% more bytes. The tool's outputSchema still comes from its return annotation, and the SDK
    still checks structuredContent against it.
    """
    if not isinstance(result, BaseModel):
        return result
    structured = result.model_dump(mode="json")  # once; the text is the same data, serialised
    text = TextContent(type="text", text=to_json(structured).decode())
    return cast(R, CallToolResult(content=[text], structured_content=structured))


def resource_boundary(fn: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
    """Resources only have the protocol-error path: a DMS failure becomes a ``ResourceError`` with its text."""

    @functools.wraps(fn)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return await fn(*args, **kwargs)
        except DMSError as exc:
            raise ResourceError(message_of(exc)) from None

    return wrapper


def cli_refusal(error: BaseException) -> str:
    """The one line the command prints before exiting with status 2."""
    return f"bgtask-mcp: {message_of(error)}"
