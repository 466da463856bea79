"""A task cache that is always correct.

- A task in a terminal status never changes again: it is kept (LRU-bounded) and served forever.
- A task that is still running is served from cache for at most ``running_ttl`` seconds.
- Concurrent identical reads share one upstream call (single flight).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field

import anyio

from bgtask_mcp.models import TaskList


@dataclass
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: TaskList | None = None
    error: BaseException | None = None


class TaskCache:
    def __init__(self, *, max_entries: int = 4096, running_ttl: float = 2.0, enabled: bool = True) -> None:
        self._entries: OrderedDict[Hashable, tuple[TaskList, float, bool]] = OrderedDict()
        self._flights: dict[Hashable, _Flight] = {}
        self._max = max_entries
        self._ttl = running_ttl
        self.enabled = enabled
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: Hashable, *, fresh: bool = False) -> TaskList | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, stored, terminal = entry
        if terminal or (not fresh and time.monotonic() - stored < self._ttl):
            self._entries.move_to_end(key)
            return value
        return None

    def put(self, key: Hashable, value: TaskList) -> None:
        terminal = bool(value.tasks) and all(t.terminal for t in value.tasks)
        self._entries[key] = (value, time.monotonic(), terminal)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    async def get(self, key: Hashable, fetch: Callable[[], Awaitable[TaskList]], *, fresh: bool = False) -> TaskList:
        """The cached value if it is still correct, else one shared upstream fetch."""
        if not self.enabled:
            return await fetch()
        cached = self.peek(key, fresh=fresh)
        if cached is not None:
            self.hits += 1
            return cached
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.result is not None:
                self.hits += 1
                return flight.result
            if flight.error is not None and not isinstance(flight.error, anyio.get_cancelled_exc_class()):
                raise flight.error
            return await self.get(key, fetch, fresh=fresh)  # the leader was cancelled: try ourselves
        self.misses += 1
        flight = self._flights[key] = _Flight()
        try:
            result = await fetch()
            self.put(key, result)
            flight.result = result
            return result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()
