"""A real, supervised Mosquitto for the fabric tests: `RunningBroker` (what the `broker` and
`make_broker` fixtures of tests/fabric/conftest.py give a test) and `LoopThread`, the
event-loop thread the broker runs on between a test's `run(coro)` calls."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from hyperhub.fabric.broker import MosquittoBroker
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.credentials import CredentialStore, Principal

T = TypeVar("T")
SPACE = "test"
NO_MOSQUITTO = "mosquitto is not installed (Debian: apt-get install mosquitto mosquitto-clients)"


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

    def add_node(self, name: str, devices: list[str], topics: tuple[str, ...] = ()) -> Principal:
        """Give node `name` these devices (and another system's `topics`) and reload the
        broker so it can log in now."""
        principal = self.credentials.add_node(name, devices, topics)
        self._loop.call(self.mosquitto.reload())
        return principal

    def remove_node(self, name: str) -> None:
        self.credentials.remove_node(name)
        self._loop.call(self.mosquitto.reload())
