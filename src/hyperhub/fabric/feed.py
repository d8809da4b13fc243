"""`Feed`: fan-out of changes to any number of async consumers, each with a bounded queue.

    with hub.changes() as changes:
        async for change in changes:
            ...

A consumer that falls behind loses its oldest items (counted in `Feed.dropped`); it never
slows down the hub.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any, Generic, NamedTuple, Self, TypeVar

from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.service import Closing

T = TypeVar("T")

log = logging.getLogger("hyperhub.fabric.feed")
_failed = WarnEvery(log)  # a listener failing on every item logs once per period


class Change(NamedTuple):
    """A device's properties that changed, at the device's time `ts`."""

    device: str
    changed: dict[str, Any]
    ts: float


class Event(NamedTuple):
    """An event a device emitted."""

    device: str
    name: str
    args: dict[str, Any]
    ts: float


class Availability(NamedTuple):
    """A device came online or went offline (itself, or with its node), at hub time `ts`."""

    device: str
    online: bool
    ts: float


class Subscription(Closing, Generic[T]):
    """One consumer's queue; iterate it, or `await get(timeout)`. Close it when done."""

    def __init__(self, feed: Feed[T], maxsize: int) -> None:
        self._feed = feed
        self.queue: asyncio.Queue[T] = asyncio.Queue(maxsize)

    async def get(self, timeout: float) -> T:
        """The next item; `TimeoutError` after `timeout` seconds."""
        return await asyncio.wait_for(self.queue.get(), timeout)

    def close(self) -> None:
        self._feed._subs.discard(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        return await self.queue.get()


class Feed(Generic[T]):
    """Hands each published item to every open subscription."""

    def __init__(self) -> None:
        self._subs: set[Subscription[T]] = set()
        self._listeners: list[Callable[[T], None]] = []
        self.dropped = 0

    def __bool__(self) -> bool:
        """True while anyone is subscribed (so a publisher can skip building items)."""
        return bool(self._subs) or bool(self._listeners)

    def listen(self, listener: Callable[[T], None]) -> Callable[[], None]:
        """Call `listener` with each item as it is published, in the publisher's call (it must
        be quick and must not raise: an exception is logged and the item goes on); returns a
        function that stops it. For consumers that must not lose items (the rule engine)."""
        self._listeners.append(listener)

        def stop() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return stop

    def subscribe(self, maxsize: int = 1000) -> Subscription[T]:
        sub = Subscription(self, maxsize)
        self._subs.add(sub)
        return sub

    def publish(self, item: T) -> None:
        for listener in self._listeners:
            try:
                listener(item)
            except Exception:
                kind = type(item).__name__
                _failed.exception(str(id(listener)), "a listener of %s failed", kind)
        for sub in self._subs:
            if sub.queue.full():
                sub.queue.get_nowait()
                self.dropped += 1
            sub.queue.put_nowait(item)


def listening(listeners: list[Any], listener: Any, first: bool = False) -> Callable[[], None]:
    """Add `listener` to a list of callbacks (at the front when `first`); returns the
    function that takes it out again."""
    listeners.insert(0, listener) if first else listeners.append(listener)

    def stop() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return stop
