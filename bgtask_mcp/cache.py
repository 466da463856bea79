"""A task cache that is always correct.

- A task in a terminal status never changes again: it is kept (LRU-bounded) and served forever, and shared
  with other replicas through an optional store (``SharedStore``, Redis).
- A task that is still running is served from this process only, for at most ``running_ttl`` seconds.
- Concurrent identical reads share one upstream call (single flight); a caller that shared a failed read
  gets its own copy of the error, never another caller's exception object.
"""

from __future__ import annotations

import copy
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import anyio

from bgtask_mcp.clock import SYSTEM_CLOCK, Clock
from bgtask_mcp.dms.errors import DMSError
from bgtask_mcp.models import TaskList

Event = Callable[[str], None]  # "hit", "miss", "shared_hit": for the metrics


class SharedStore(Protocol):
    """Where finished tasks are shared between replicas. Must never raise: a failure is a miss."""

    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...


@runtime_checkable
class SharedSlots(Protocol):
    """Slots of a caller's share counted across replicas. Must never raise: None means "cannot say"."""

    async def acquire_slot(self, key: str, limit: int, lease: float, token: str) -> bool | None: ...

    async def release_slot(self, key: str, token: str) -> None: ...


@dataclass
class _Flight:
    done: anyio.Event = field(default_factory=anyio.Event)
    result: TaskList | None = None
    error: BaseException | None = None


def cache_key(cloud: str, region: str, project: str, instance: str, task: str) -> str:
    """One task's key: ids are already in their one (lowercase) spelling, so case never splits an entry."""
    return "|".join((cloud, region, project, instance, task))


def _own_copy(error: BaseException) -> BaseException:
    if isinstance(error, DMSError):
        return error.clone()
    try:
        return copy.copy(error)
    except Exception:  # an exception that cannot be copied: a fresh one that says what happened
        return RuntimeError("the shared DMS request failed unexpectedly")


class TaskCache:
    def __init__(
        self,
        *,
        max_entries: int = 4096,
        running_ttl: float = 2.0,
        enabled: bool = True,
        clock: Clock = SYSTEM_CLOCK,
        shared: SharedStore | None = None,
        on_event: Event | None = None,
    ) -> None:
        self._entries: OrderedDict[str, tuple[TaskList, float, bool]] = OrderedDict()
        self._flights: dict[str, _Flight] = {}
        self._max = max_entries
        self._ttl = running_ttl
        self._clock = clock
        self.enabled = enabled
        self.shared = shared
        self._on_event = on_event or (lambda _: None)
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._entries)

    def peek(self, key: str, *, fresh: bool = False) -> TaskList | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        value, stored, terminal = entry
        if terminal or (not fresh and self._clock.now() - stored < self._ttl):
            self._entries.move_to_end(key)
            return value
        return None

    def put(self, key: str, value: TaskList) -> bool:
        """Keep a value; True when it is final (every task in it terminal)."""
        terminal = bool(value.tasks) and all(t.terminal for t in value.tasks)
        self._entries[key] = (value, self._clock.now(), terminal)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return terminal

    async def remember_final(self, key: str, value: TaskList) -> None:
        """A finished task seen elsewhere (in a list): keep it, and share it."""
        if self.enabled and self.put(key, value) and self.shared is not None:
            await self.shared.put(key, value.model_dump_json().encode())

    async def get(self, key: str, fetch: Callable[[], Awaitable[TaskList]], *, fresh: bool = False) -> TaskList:
        """The cached value if it is still correct, else one shared upstream fetch."""
        if not self.enabled:
            return await fetch()
        cached = self.peek(key, fresh=fresh) or await self._from_shared(key)
        if cached is not None:
            self.hits += 1
            self._on_event("hit")
            return cached
        flight = self._flights.get(key)
        if flight is not None:
            await flight.done.wait()
            if flight.result is not None:
                self.hits += 1
                self._on_event("hit")
                return flight.result
            if flight.error is not None and not isinstance(flight.error, anyio.get_cancelled_exc_class()):
                raise _own_copy(flight.error) from None
            return await self.get(key, fetch, fresh=fresh)  # the leader was cancelled: try ourselves
        return await self._lead(key, fetch)

    async def _lead(self, key: str, fetch: Callable[[], Awaitable[TaskList]]) -> TaskList:
        self.misses += 1
        self._on_event("miss")
        flight = self._flights[key] = _Flight()
        try:
            result = await fetch()
            if self.put(key, result) and self.shared is not None:
                await self.shared.put(key, result.model_dump_json().encode())
            flight.result = result
            return result
        except BaseException as exc:
            flight.error = exc
            raise
        finally:
            del self._flights[key]
            flight.done.set()

    async def _from_shared(self, key: str) -> TaskList | None:
        if self.shared is None:
            return None
        raw = await self.shared.get(key)
        if raw is None:
            return None
        try:
            value = TaskList.model_validate_json(raw)
        except ValueError:
            return None  # written by another version, or damaged: read DMS instead
        if not self.put(key, value):
            return None  # only finished tasks are ever shared
        self._on_event("shared_hit")
        return value
