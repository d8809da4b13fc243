"""Fixtures for the fabric tests: a real, supervised Mosquitto on 127.0.0.1.

`broker` runs on its own event-loop thread, so a test can drive clients with `run(coro)`
(a fresh `asyncio.run`) and the broker keeps running, supervised, between those calls.

Plain helpers for the test modules (`until`, `RunningBroker`, ...) live in tests/helpers.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from tests.helpers.broker import NO_MOSQUITTO, SPACE, LoopThread, RunningBroker

from hyperhub.fabric import fastpath
from hyperhub.fabric.broker import MosquittoBroker, mosquitto_binary
from hyperhub.fabric.credentials import CredentialStore

T = TypeVar("T")


@pytest.fixture
def run() -> Callable[..., Any]:
    """`run(coro, timeout=30)`: run a coroutine to completion on a fresh event loop, bounded."""

    def run_bounded(coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        async def bounded() -> T:
            return await asyncio.wait_for(coro, timeout)

        return asyncio.run(bounded())

    return run_bounded


@pytest.fixture
def make_broker(tmp_path: Path) -> Iterator[Callable[..., RunningBroker]]:
    """`make_broker(**kwargs)`: start a supervised Mosquitto; kwargs go to `MosquittoBroker`.

    Each call gets its own data dir under tmp_path; all are stopped after the test.
    """
    if mosquitto_binary() is None:
        pytest.skip(NO_MOSQUITTO)
    loop = LoopThread()
    started: list[MosquittoBroker] = []

    def start(**kwargs: Any) -> RunningBroker:
        data_dir = tmp_path / f"data{len(started)}"
        credentials = CredentialStore(data_dir)
        mosquitto = MosquittoBroker(data_dir, SPACE, credentials, **kwargs)
        loop.call(mosquitto.__aenter__())
        started.append(mosquitto)
        return RunningBroker(mosquitto, credentials, data_dir, _loop=loop)

    try:
        yield start
    finally:
        for mosquitto in started:
            loop.call(mosquitto.stop())
        loop.close()


@pytest.fixture(params=["fast path", "paho"])
def broker(
    request: pytest.FixtureRequest,
    make_broker: Callable[..., RunningBroker],
    monkeypatch: pytest.MonkeyPatch,
) -> RunningBroker:
    """A real Mosquitto on 127.0.0.1 (free port), supervised, for space "test". Every test
    with a broker runs twice: with the MQTT fast path (fabric/fastpath.py) and with paho's
    own reads and writes (HYPERHUB_MQTT_FASTPATH=0; node processes inherit it)."""
    monkeypatch.setenv(fastpath.ENV, "1" if request.param == "fast path" else "0")
    return make_broker()
