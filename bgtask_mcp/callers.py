"""Who is calling: the identity of the current request, what each caller has seen, and how much of the account
each caller may use at once.

The HTTP transport sets the caller of each request (the OAuth token's subject or client id, ``static-token``
for the shared bearer token); over stdio it is ``local``. Completions offer each caller only the ids and
names that caller has seen, and one caller cannot hold more than ``limit`` DMS requests in flight.
"""

from __future__ import annotations

import hashlib
import uuid
from collections import OrderedDict
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

import anyio
from mcp.server.auth.middleware.auth_context import get_access_token
from mcp.server.auth.provider import AccessToken

from bgtask_mcp.cache import SharedSlots
from bgtask_mcp.dms.errors import CallerBusy

LOCAL = "local"
STATIC_CALLER = "static-token"  # the caller name of the shared bearer token
ANONYMOUS = "anonymous"
MAX_CALLERS = 1000  # callers remembered at once (least recently active forgotten first)
MAX_REMEMBERED = 500  # values of each kind remembered per caller
MAX_VALUE_CHARACTERS = 200  # a longer name is not remembered for completions (memory is bounded in bytes too)

_caller: ContextVar[str] = ContextVar("bgtask_caller", default=LOCAL)


def caller_of(token: AccessToken) -> str:
    """A token's caller: its subject (the person or service it was issued to), else its client id."""
    return token.subject or token.client_id or ANONYMOUS


def current_caller() -> str:
    token = get_access_token()  # set by the SDK's bearer authentication for the current HTTP request
    return caller_of(token) if token is not None else _caller.get()


def set_caller(caller: str) -> None:
    """Set for the current context (an HTTP request and the tasks the SDK starts for it)."""
    _caller.set(caller)


def caller_key(caller: str) -> str:
    """The key a caller is remembered under: itself, or a digest of a very long one (never a prefix: two
    callers sharing a prefix must not share what they have seen)."""
    if len(caller) <= MAX_VALUE_CHARACTERS:
        return caller
    return "sha256:" + hashlib.sha256(caller.encode("utf-8", "surrogatepass")).hexdigest()


def _bounded_add(store: OrderedDict[str, None], value: str) -> None:
    if not value or len(value) > MAX_VALUE_CHARACTERS:
        return
    store[value] = None
    store.move_to_end(value)
    if len(store) > MAX_REMEMBERED:
        store.popitem(last=False)


@dataclass
class Seen:
    """What one caller has seen: values for completions, most recent last."""

    instances: OrderedDict[str, None] = field(default_factory=OrderedDict)
    instance_names: OrderedDict[str, None] = field(default_factory=OrderedDict)
    task_names: OrderedDict[str, None] = field(default_factory=OrderedDict)
    tasks: OrderedDict[str, None] = field(default_factory=OrderedDict)
    regions: OrderedDict[str, None] = field(default_factory=OrderedDict)


@dataclass
class Exchange:
    """What the HTTP request line says about the calls it carried; filled in while the request runs (tasks the
    SDK starts for the request inherit the context, so they see the same object)."""

    caller: str = ANONYMOUS
    tool: str = "-"
    dms_request_id: str | None = None


_exchange: ContextVar[Exchange | None] = ContextVar("bgtask_exchange", default=None)


def begin_exchange() -> Exchange:
    exchange = Exchange()
    _exchange.set(exchange)
    return exchange


def note_call(tool: str, dms_request_id: str | None) -> None:
    exchange = _exchange.get()
    if exchange is not None:
        exchange.caller = current_caller()
        exchange.tool = tool
        exchange.dms_request_id = dms_request_id or exchange.dms_request_id


class CallerMemory:
    def __init__(self) -> None:
        self._seen: OrderedDict[str, Seen] = OrderedDict()

    def of(self, caller: str) -> Seen:
        caller = caller_key(caller)
        seen = self._seen.get(caller)
        if seen is None:
            seen = self._seen[caller] = Seen()
            if len(self._seen) > MAX_CALLERS:
                self._seen.popitem(last=False)
        self._seen.move_to_end(caller)
        return seen

    def peek(self, caller: str) -> Seen:
        return self._seen.get(caller_key(caller)) or Seen()

    def remember_tasks(self, caller: str, instance: str, region: str, tasks: Iterable[tuple[str, str]]) -> None:
        seen = self.of(caller)
        _bounded_add(seen.instances, instance)
        _bounded_add(seen.regions, region)
        for task_id, name in tasks:
            _bounded_add(seen.tasks, task_id)
            _bounded_add(seen.task_names, name)

    def remember_instances(self, caller: str, region: str, instances: Iterable[tuple[str, str]]) -> None:
        seen = self.of(caller)
        _bounded_add(seen.regions, region)
        for instance_id, name in instances:
            _bounded_add(seen.instances, instance_id)
            _bounded_add(seen.instance_names, name)


class CallerLimiter:
    """At most ``limit`` DMS requests in flight per caller. One more waits for a free slot, at most ``patience``
    seconds (or what is left of its call's budget), then is refused (``CallerBusy``): one busy agent cannot
    starve the others, nor drive the account into throttling."""

    def __init__(
        self, limit: int, patience: float = 10.0, shared: SharedSlots | None = None, lease: float = 60.0
    ) -> None:
        self.limit = limit
        self.patience = patience
        self.shared = shared  # with Redis: the share counts every replica's requests
        self.lease = lease  # how long a shared slot outlives a replica that died holding it
        self._slots: dict[str, anyio.Semaphore] = {}
        self._users: dict[str, int] = {}

    async def _shared_slot(self, caller: str, wait: float) -> str | None:
        if self.shared is None:
            return None
        return await _take_shared(self.shared, caller, self.limit, self.lease, wait)

    def in_flight(self, caller: str) -> int:
        slots = self._slots.get(caller_key(caller))
        return 0 if slots is None else self.limit - slots.value

    @asynccontextmanager
    async def slot(self, caller: str, patience: float | None = None) -> AsyncIterator[None]:
        caller = caller_key(caller)
        slots = self._slots.get(caller)
        if slots is None:  # made only when missing: building a semaphore asks anyio for its backend
            slots = self._slots[caller] = anyio.Semaphore(self.limit)
        self._users[caller] = self._users.get(caller, 0) + 1
        try:
            wait = self.patience if patience is None else max(0.0, patience)
            try:
                slots.acquire_nowait()
            except anyio.WouldBlock:
                with anyio.move_on_after(wait) as waited:
                    await slots.acquire()
                if waited.cancelled_caught:
                    raise CallerBusy(self.limit) from None
            try:
                token = await self._shared_slot(caller, wait)
                try:
                    yield
                finally:
                    if token is not None and self.shared is not None:
                        with anyio.CancelScope(shield=True):
                            await self.shared.release_slot(caller, token)
            finally:
                slots.release()
        finally:
            self._users[caller] -= 1
            if not self._users[caller]:
                del self._users[caller]
                del self._slots[caller]  # an idle caller holds nothing


SHARED_POLL_SECONDS = 0.02  # how often a full shared share is asked again


async def _take_shared(shared: SharedSlots, caller: str, limit: int, lease: float, wait: float) -> str | None:
    """A shared slot's token; None when Redis cannot be asked (this replica's own count then holds alone);
    ``CallerBusy`` when every replica together holds the caller's whole share for ``wait`` seconds."""
    token = uuid.uuid4().hex
    with anyio.move_on_after(wait):
        while True:
            taken = await shared.acquire_slot(caller, limit, lease, token)
            if taken is None:
                return None
            if taken:
                return token
            await anyio.sleep(SHARED_POLL_SECONDS)
    raise CallerBusy(limit)
