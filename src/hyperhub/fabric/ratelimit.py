"""Warnings that cannot flood the log: one line per kind per period, with a count of the rest."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

MAX_KINDS = 1024  # kinds remembered (a payload problem, a listener, a handler): oldest go first


class WarnEvery:
    """Log at most one warning per `kind` every `period` seconds; say how many were skipped.

    A broken publisher can send thousands of bad payloads a second; the log shows the first,
    then one line per period with the count, and the counters carry the exact numbers.
    `exception(kind, …)` does the same for a failure caught in an `except` block (a listener
    or handler that raises on every message), with its traceback.
    """

    def __init__(
        self,
        logger: logging.Logger,
        period: float = 10.0,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.period = period
        self.clock = clock
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}
        self._latest: dict[str, tuple[str, tuple[object, ...]]] = {}  # the last one skipped
        self._pending: dict[str, asyncio.AbstractEventLoop] = {}  # kind → loop of its summary

    def __call__(self, kind: str, message: str, *args: object) -> None:
        self._log(kind, message, args, exc_info=False)

    def exception(self, kind: str, message: str, *args: object) -> None:
        """Log the exception being handled, at most once per `kind` every `period`."""
        self._log(kind, message, args, exc_info=True)

    def skipped(self, kind: str) -> int:
        """Lines of `kind` not logged since its last one."""
        return self._skipped.get(kind, 0)

    def _log(self, kind: str, message: str, args: tuple[object, ...], exc_info: bool) -> None:
        now = self.clock()
        last = self._last.get(kind)
        if last is not None and now - last < self.period:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            self._latest[kind] = (message, args)
            self._summarise_later(kind, self.period - (now - last))
            return
        if last is None and len(self._last) >= MAX_KINDS:
            oldest = next(iter(self._last))
            del self._last[oldest]
            self._skipped.pop(oldest, None)
            self._latest.pop(oldest, None)
        self._last.pop(kind, None)
        self._last[kind] = now  # (re-inserted: the dict keeps the least recent first)
        self._latest.pop(kind, None)
        skipped = self._skipped.pop(kind, 0)
        suffix = f" (and {skipped} more like it in the last {self.period:g} s)" if skipped else ""
        if exc_info:
            self.logger.error(message + suffix, *args, exc_info=True)
        else:
            self.logger.warning(message + suffix, *args)

    def _summarise_later(self, kind: str, delay: float) -> None:
        """When the period ends, say how many were skipped, even if no more come: the
        summary once waited for the next bad message, which might never arrive. Only on an
        event loop's thread (the hub's); elsewhere the next message carries the count."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return
        if self._pending.get(kind) is loop:
            return
        self._pending[kind] = loop  # (a summary on a loop since closed is replaced)
        loop.call_later(max(0.0, delay), self._summarise, kind)

    def _summarise(self, kind: str) -> None:
        self._pending.pop(kind, None)
        latest = self._latest.pop(kind, None)
        skipped = self._skipped.pop(kind, 0)
        if latest is None or not skipped:
            return
        message, args = latest
        if kind in self._last:
            self._last[kind] = self.clock()  # the next one waits a period again
        self.logger.warning(
            message + f" (the last of {skipped} like it in the last {self.period:g} s)", *args
        )
