"""When a failed DMS request is tried again, and after how long: a pure policy plus the loop that applies it.

- Retried: throttling (429 ``APIG.0308``, 404 ``DMS.10240407``), 5xx and transport failures; never 400, 401
  (five bad signatures lock the key), 403 or a 404 that means "not found" (``DMSError.retryable``).
- Capped exponential backoff with jitter over its upper half, so concurrent callers spread out; a
  ``Retry-After`` is a floor. A retry that could not finish before the call's deadline is not started, nor
  is one after a ``Retry-After`` longer than ``max_retry_after``: the last error is returned at once.
- A timed-out attempt that leaves no time for another is the deadline passing: ``with_retries`` raises
  ``TimeoutError`` then, exactly as when the deadline cuts an attempt short, so the caller reports one
  outcome however the slow requests happened to line up with the clock.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from bgtask_mcp.dms.context import CallBudget
from bgtask_mcp.dms.errors import APIError, TransportError
from bgtask_mcp.redaction import get_logger

log = get_logger("bgtask_mcp.dms")

T = TypeVar("T")
Jitter = Callable[[float, float], float]


@dataclass(frozen=True)
class Retry:
    delay: float


@dataclass(frozen=True)
class GiveUp:
    note: str | None = None
    out_of_time: bool = False  # another attempt would not finish before the call's deadline


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    base: float = 0.25
    cap: float = 5.0
    max_retry_after: float = 60.0

    def backoff(self, failures: int, jitter: Jitter = random.uniform) -> float:
        ceiling = min(self.cap, self.base * 2 ** (failures - 1))
        return jitter(ceiling / 2, ceiling)

    def decide(
        self, error: APIError | TransportError, failures: int, remaining: float, jitter: Jitter = random.uniform
    ) -> Retry | GiveUp:
        """What to do after the ``failures``-th failed attempt with ``remaining`` seconds of the deadline left."""
        if not error.retryable or failures >= self.max_attempts:
            return GiveUp()
        retry_after = error.retry_after if isinstance(error, APIError) else None
        delay = self.backoff(failures, jitter)
        if retry_after is not None:
            delay = max(delay, retry_after)
        if delay >= remaining or (retry_after is not None and retry_after > self.max_retry_after):
            asked = f"DMS asked to wait {retry_after:g} s; " if retry_after is not None else ""
            return GiveUp(
                f"{asked}no further attempt: it could not finish within the call's deadline",
                out_of_time=delay >= remaining,
            )
        return Retry(delay)


async def with_retries(
    attempt: Callable[[], Awaitable[T]], policy: RetryPolicy, budget: CallBudget, jitter: Jitter = random.uniform
) -> T:
    """Run ``attempt`` until it succeeds or the policy gives up; sleeps on the budget's clock."""
    failures = 0
    while True:
        try:
            return await attempt()
        except (APIError, TransportError) as exc:
            failures += 1
            exc.attempts = failures
            decision = policy.decide(exc, failures, budget.remaining(), jitter)
            if isinstance(decision, GiveUp):
                if decision.out_of_time and isinstance(exc, TransportError) and exc.timeout:
                    raise TimeoutError from exc
                if decision.note:
                    exc.note = decision.note
                raise
            budget.retries += 1
            log.info(
                "retrying DMS request after %s (attempt %d of %d, sleeping %.2f s, request id %s)",
                exc.error_code if isinstance(exc, APIError) else type(exc).__name__,
                failures,
                policy.max_attempts,
                decision.delay,
                budget.request_id,
            )
            await budget.clock.sleep(decision.delay)
