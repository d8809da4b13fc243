"""Bounded polling for the tests: wait until a check is truthy, or fail naming what was
awaited. `wait_until` blocks the calling thread; `until` is its asyncio twin."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_until(check: Callable[[], T], what: str, timeout: float = 15.0, every: float = 0.05) -> T:
    """Call `check()` every `every` seconds until it returns something truthy; return that.

    Raises AssertionError("timed out waiting for <what>") once `timeout` seconds have passed
    (`check` runs at least once).
    """
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(every)


async def until(check: Callable[[], T], what: str, timeout: float = 10.0, every: float = 0.02) -> T:
    """Call `check()` every `every` seconds, yielding to the event loop in between, until it
    returns something truthy; return that.

    Raises AssertionError("timed out waiting for <what>") once `timeout` seconds have passed.
    """
    try:
        async with asyncio.timeout(timeout):
            while True:
                value = check()
                if value:
                    return value
                await asyncio.sleep(every)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None
