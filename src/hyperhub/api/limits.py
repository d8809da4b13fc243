"""In-process rate limits: token buckets by key (a client address, a token id)."""

from __future__ import annotations

import time
from collections import OrderedDict

from hyperhub.api.errors import ApiError


class RateLimit:
    """Token buckets by key: `per_minute` requests a minute, in bursts of up to that many."""

    def __init__(self, per_minute: int, *, max_keys: int = 10_000) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0
        self.max_keys = max_keys
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()

    def take(self, key: str) -> None:
        """Take one request from `key`'s bucket; 429 with Retry-After when it is empty."""
        now = time.monotonic()
        level, at = self._buckets.pop(key, (self.capacity, now))
        level = min(self.capacity, level + (now - at) * self.rate)
        if level < 1.0:
            self._buckets[key] = (level, now)
            wait = max(1, int((1.0 - level) / self.rate + 0.999))
            raise ApiError(
                429,
                "rate_limited",
                f"too many requests; try again in {wait} s",
                {"Retry-After": str(wait)},
            )
        self._buckets[key] = (level - 1.0, now)
        while len(self._buckets) > self.max_keys:  # forget the least recently seen
            self._buckets.popitem(last=False)
