"""Time as something passed in: deadlines, the retry policy and the poll loop read a ``Clock``, so tests drive
them with a manual clock instead of waiting (and never race the machine's speed)."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from typing import Protocol

import anyio


class Clock(Protocol):
    def now(self) -> float:
        """Monotonic seconds."""
        ...

    async def sleep(self, seconds: float) -> None: ...

    def limit(self, seconds: float) -> AbstractContextManager[object]:
        """Bound the real I/O inside: ``TimeoutError`` when it takes longer than ``seconds``."""
        ...


class SystemClock:
    def now(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await anyio.sleep(seconds)

    def limit(self, seconds: float) -> AbstractContextManager[object]:
        return anyio.fail_after(seconds)


SYSTEM_CLOCK: Clock = SystemClock()
