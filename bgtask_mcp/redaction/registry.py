"""Secrets the server knows by value (its own credentials, the IAM tokens it obtains), masked wherever they
show up. The registry is bounded: at most ``max_entries`` values, each dropped when it expires (a token at the
end of its life) or, past the bound, oldest first. Configured credentials are pinned: they never expire and are
not counted against the bound. JWT-shaped values are never registered: the JWT rule masks every one already.

Nothing registers on construction: ``Secret`` only wraps a value; the server registers its configured secrets
once, when it starts (``register_configured``).
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from typing import Final

from bgtask_mcp.redaction.rules import MASK

MIN_REGISTERED_LENGTH: Final = 6  # shorter strings would mask ordinary words
MAX_ENTRIES: Final = 512
MAX_VALUE_CHARACTERS: Final = 8192
JWT_SHAPED: Final = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


class Secret:
    """A string that shows ``***`` in ``str``/``repr``; ``reveal()`` is the only way in."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

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


class SecretRegistry:
    """Known secret values, bounded in count and in time."""

    def __init__(self, max_entries: int = MAX_ENTRIES, clock: Callable[[], float] = time.monotonic) -> None:
        self.max_entries = max_entries
        self._clock = clock
        self._pinned: set[str] = set()
        self._expiring: OrderedDict[str, float] = OrderedDict()  # value -> expiry, oldest registration first
        self._lock = threading.Lock()
        self._longest_first: tuple[str, ...] = ()
        self._next_expiry = float("inf")
        self.generation = 0  # grows whenever a value is added: text found clean before may not be any more

    def __len__(self) -> int:
        return len(self._pinned) + len(self._expiring)

    def register(self, value: str, ttl: float | None = None) -> None:
        """Remember ``value`` (pinned when ``ttl`` is None, else for ``ttl`` seconds)."""
        if not _registrable(value):
            return
        with self._lock:
            if ttl is None:
                self._pinned.add(value)
                self._expiring.pop(value, None)
            elif value not in self._pinned:
                self._expiring.pop(value, None)
                self._expiring[value] = self._clock() + ttl
                while len(self._expiring) > self.max_entries:
                    self._expiring.popitem(last=False)
            self._rebuild()

    def mask(self, text: str) -> str:
        """``text`` with every live registered value replaced by ``***`` (a longer one first)."""
        if self._clock() >= self._next_expiry:
            self._expire()
        for value in self._longest_first:
            if value in text:
                text = text.replace(value, MASK)
        return text

    def clear(self) -> None:
        with self._lock:
            self._pinned.clear()
            self._expiring.clear()
            self._rebuild()

    def _expire(self) -> None:
        with self._lock:
            now = self._clock()
            for value in [v for v, expiry in self._expiring.items() if expiry <= now]:
                del self._expiring[value]
            self._rebuild()

    def _rebuild(self) -> None:  # called with the lock held
        self.generation += 1
        values = self._pinned | set(self._expiring)
        self._longest_first = tuple(sorted(values, key=len, reverse=True))  # a secret containing another: whole
        self._next_expiry = min(self._expiring.values(), default=float("inf"))


def _registrable(value: str) -> bool:
    return MIN_REGISTERED_LENGTH <= len(value) <= MAX_VALUE_CHARACTERS and not JWT_SHAPED.fullmatch(value)


REGISTRY: Final = SecretRegistry()  # the process's registry: empty until the server registers what it holds


def register_secret(value: str, ttl: float | None = None) -> None:
    REGISTRY.register(value, ttl)


def register_configured(secrets: Iterable[Secret | None]) -> None:
    """Pin the configured credentials (called once, when a server starts)."""
    for secret in secrets:
        if secret is not None and secret:
            REGISTRY.register(secret.reveal())
