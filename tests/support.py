"""Test helpers that are not fixtures: a manual clock, and a journal of everything the server emitted."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import anyio.lowlevel


class ManualClock:
    """A clock that moves only when slept on: retries, deadlines and polls run at once, in a known order.

    ``limit`` does not bound real I/O (a manual clock has no real time to bound it with); tests of the
    real-time cut-off use the system clock and a request that never answers.
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.t = start
        self.sleeps: list[float] = []
        self.on_sleep: list[Callable[[float], Awaitable[None]]] = []

    def now(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds
        for hook in self.on_sleep:
            await hook(seconds)
        await anyio.lowlevel.checkpoint()

    def limit(self, seconds: float) -> AbstractContextManager[object]:
        return nullcontext()


async def until(condition: Callable[[], object], what: str, seconds: float = 30.0) -> None:
    """Wait for an event another process reports (a request counted, a connection closed, a log line). It is
    polled because it happens elsewhere; the cap only turns a broken server into a failure instead of a hang."""
    with anyio.fail_after(seconds):
        while not condition():  # noqa: ASYNC110 (the event is in another process: nothing here to await)
            await anyio.sleep(0.02)


@dataclass
class Journal:
    """Everything the server emitted during the suite: log records, tool results, logs of server processes."""

    records: list[str] = field(default_factory=list)
    results: list[str] = field(default_factory=list)
    log_dir: Path | None = None

    def add_result(self, result: Any) -> None:
        self.results.append(repr(getattr(result, "content", result)))
        structured = getattr(result, "structured_content", None)
        if structured is not None:
            self.results.append(json.dumps(structured))
        for content in getattr(result, "contents", []) or []:  # resources
            self.results.append(str(getattr(content, "text", "")))
        for message in getattr(result, "messages", []) or []:  # prompts
            self.results.append(repr(message))

    def texts(self) -> list[tuple[str, str]]:
        found = [("log record", r) for r in self.records] + [("tool result", r) for r in self.results]
        if self.log_dir is not None:
            for path in sorted(self.log_dir.rglob("*")):
                if path.is_file():
                    found.append((f"server output {path.name}", path.read_text(errors="replace")))
        return found

    def leaks(self, markers: tuple[str, ...]) -> list[str]:
        """Where each marker shows up, with what surrounds it."""
        found = []
        for where, text in self.texts():
            for marker in markers:
                at = text.find(marker)
                if at >= 0:
                    found.append(f"{where}: ...{text[max(0, at - 120) : at + 60]}...")
        return found


class JournalHandler(logging.Handler):
    def __init__(self, journal: Journal) -> None:
        super().__init__(logging.DEBUG)
        self.journal = journal

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.journal.records.append(record.getMessage())
        except Exception:  # a broken record is the logger's problem, not the journal's
            return
        if record.exc_info:
            self.journal.records.append(logging.Formatter().formatException(record.exc_info))
