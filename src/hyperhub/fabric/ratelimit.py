"""Warnings that cannot flood the log: one line per kind per period, with a count of the rest."""

from __future__ import annotations

import logging
import time


class WarnEvery:
    """Log at most one warning per `kind` every `period` seconds; say how many were skipped.

    A broken publisher can send thousands of bad payloads a second; the log shows the first,
    then one line per period with the count, and the counters carry the exact numbers.
    """

    def __init__(self, logger: logging.Logger, period: float = 10.0) -> None:
        self.logger = logger
        self.period = period
        self._last: dict[str, float] = {}
        self._skipped: dict[str, int] = {}

    def __call__(self, kind: str, message: str, *args: object) -> None:
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.period:
            self._skipped[kind] = self._skipped.get(kind, 0) + 1
            return
        self._last[kind] = now
        skipped = self._skipped.pop(kind, 0)
        suffix = f" (and {skipped} more like it in the last {self.period:g} s)" if skipped else ""
        self.logger.warning(message + suffix, *args)
