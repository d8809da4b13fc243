"""Failures that repeat on every message log once per period, with a count of the rest."""

from __future__ import annotations

import logging

import pytest

from hyperhub.fabric import feed as feed_module
from hyperhub.fabric.feed import Change, Feed
from hyperhub.fabric.ratelimit import MAX_KINDS, WarnEvery


class ManualClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _fail(limit: WarnEvery, kind: str) -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        limit.exception(kind, "handler for %s failed", kind)


def test_a_failure_on_every_message_logs_once_per_period_with_the_count(caplog) -> None:
    clock = ManualClock()
    limit = WarnEvery(logging.getLogger("t.limit"), 10.0, clock=clock)
    with caplog.at_level(logging.ERROR, "t.limit"):
        for _ in range(100):
            _fail(limit, "a/b")
        _fail(limit, "c/d")  # another kind has its own period
        assert [r.getMessage() for r in caplog.records] == [
            "handler for a/b failed",
            "handler for c/d failed",
        ]
        assert caplog.records[0].exc_info is not None  # with the traceback
        assert limit.skipped("a/b") == 99
        clock.now += 10.0
        _fail(limit, "a/b")
    assert caplog.records[-1].getMessage() == (
        "handler for a/b failed (and 99 more like it in the last 10 s)"
    )
    assert limit.skipped("a/b") == 0


def test_the_kinds_remembered_are_bounded() -> None:
    clock = ManualClock()
    limit = WarnEvery(logging.getLogger("t.bound"), clock=clock)
    for i in range(MAX_KINDS + 50):
        limit(f"kind-{i}", "bad payload")
    assert len(limit._last) == MAX_KINDS and "kind-0" not in limit._last


def test_a_feed_listener_that_always_fails_neither_floods_nor_stops_the_others(
    caplog, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = ManualClock()
    monkeypatch.setattr(feed_module, "_failed", WarnEvery(feed_module.log, clock=clock))
    feed: Feed[Change] = Feed()
    got: list[Change] = []

    def broken(item: Change) -> None:
        raise RuntimeError("listener bug")

    feed.listen(broken)
    feed.listen(got.append)
    with caplog.at_level(logging.ERROR, "hyperhub.fabric.feed"):
        for i in range(1000):
            feed.publish(Change("lamp", {"brightness": i}, float(i)))
    assert len(got) == 1000
    assert [r.getMessage() for r in caplog.records] == ["a listener of Change failed"]


def test_on_a_loop_the_count_is_said_when_the_period_ends_without_another_message(
    caplog,
) -> None:
    """The summary of skipped warnings appeared only with the next bad message."""
    import asyncio

    async def main() -> None:
        limit = WarnEvery(logging.getLogger("t.summary"), 0.05)
        for i in range(5):
            limit("bad", "dropping payload %d", i)
        await asyncio.sleep(0.3)  # bounded: the period is 0.05 s

    with caplog.at_level(logging.WARNING, "t.summary"):
        asyncio.run(main())
    assert [r.getMessage() for r in caplog.records] == [
        "dropping payload 0",
        "dropping payload 4 (the last of 4 like it in the last 0.05 s)",
    ]
