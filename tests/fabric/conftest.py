"""Fixtures for the fabric tests: a real, supervised Mosquitto on 127.0.0.1.

`broker` runs on its own event-loop thread, so a test can drive clients with `run(coro)`
(a fresh `asyncio.run`) and the broker keeps running, supervised, between those calls.

Plain helpers for the test modules live here too. The tests are no package (pytest runs
with `--import-mode=importlib`), so this module also registers itself as
`hyperhub_tests_fabric`; pytest loads it before any test module of this directory, which
then says `from hyperhub_tests_fabric import until`.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest

from hyperhub.fabric import fastpath
from hyperhub.fabric.broker import MosquittoBroker, mosquitto_binary
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.credentials import CredentialStore, Principal

T = TypeVar("T")
SPACE = "test"
NO_MOSQUITTO = "mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients)"
sys.modules.setdefault("hyperhub_tests_fabric", sys.modules[__name__])


async def until(condition: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    """Poll `condition` (every 20 ms) until true, at most `timeout` seconds; then fail the
    test naming `what`."""
    try:
        async with asyncio.timeout(timeout):
            while not condition():
                await asyncio.sleep(0.02)
    except TimeoutError:
        raise AssertionError(f"timed out waiting for {what}") from None


class LoopThread:
    """An asyncio event loop running on a daemon thread; `call()` runs a coroutine there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self.loop.run_forever, name="broker-loop", daemon=True
        )
        self._thread.start()

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        future: Future[T] = asyncio.run_coroutine_threadsafe(coro, self.loop)
        return future.result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
        self.loop.close()


@dataclass
class RunningBroker:
    """A supervised Mosquitto for one test, with the hub's login and a way to add nodes."""

    mosquitto: MosquittoBroker
    credentials: CredentialStore
    data_dir: Path
    space: str = SPACE
    _loop: LoopThread = field(repr=False, default_factory=LoopThread)

    @property
    def host(self) -> str:
        return self.mosquitto.host

    @property
    def port(self) -> int:
        return self.mosquitto.port

    @property
    def hub(self) -> Principal:
        return self.credentials.hub()

    @property
    def log_path(self) -> Path:
        return self.mosquitto.log_path

    def url(self, principal: Principal) -> BrokerURL:
        return self.mosquitto.url(principal)

    def add_node(self, name: str, devices: list[str]) -> Principal:
        """Give node `name` these devices and reload the broker so it can log in now."""
        principal = self.credentials.add_node(name, devices)
        self._loop.call(self.mosquitto.reload())
        return principal

    def remove_node(self, name: str) -> None:
        self.credentials.remove_node(name)
        self._loop.call(self.mosquitto.reload())


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
