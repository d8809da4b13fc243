"""`Routes`: which handler gets a message, by MQTT topic filter (with `+` and `#`)."""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable, Iterable

import aiomqtt
from paho.mqtt.matcher import MQTTMatcher

Handler = Callable[[aiomqtt.Message], Awaitable[None] | None]
_CACHE = 100_000  # topics whose handlers are remembered (a space has a bounded set of topics)


class Routes:
    """Topic filters with their handler and QoS, in the order they were added."""

    def __init__(self) -> None:
        self.qos: dict[str, int] = {}  # filter → qos
        self._matcher = MQTTMatcher()
        self._cache: dict[str, list[Handler]] = {}

    def add(self, filters: Iterable[str], handler: Handler, qos: int) -> None:
        """Route `filters` to `handler` (replacing an earlier handler of the same filter)."""
        for f in filters:
            self._matcher[f] = handler
            self.qos[f] = qos
        self._cache.clear()

    def remove(self, filters: Iterable[str]) -> None:
        for f in filters:
            self.qos.pop(f, None)
            with contextlib.suppress(KeyError):
                del self._matcher[f]
        self._cache.clear()

    def handlers(self, topic: str) -> list[Handler]:
        """The handlers of every filter that matches `topic`."""
        found = self._cache.get(topic)
        if found is None:
            if len(self._cache) >= _CACHE:
                self._cache.clear()
            found = self._cache[topic] = list(self._matcher.iter_match(topic))
        return found
