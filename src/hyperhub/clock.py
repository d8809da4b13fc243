"""Where time comes from: the wall clock for a running hub, a manual one for tests (every
layer that tells the time takes a `Clock`, so tests never sleep)."""

from __future__ import annotations

import time
from typing import Protocol


class Clock(Protocol):
    """Tells the time in UNIX seconds."""

    def now(self) -> float: ...


class SystemClock:
    """The wall clock (`time.time()`)."""

    def now(self) -> float:
        return time.time()


class ManualClock:
    """A clock that moves only when told to, so tests never sleep."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)

    def now(self) -> float:
        return self._now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (never backward)."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back: advance({seconds})")
        self._now += seconds
