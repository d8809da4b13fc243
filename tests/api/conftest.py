"""A real hub for the API tests: broker on 127.0.0.1, the demo space's simulated devices, a
SQLite store and the API on a free port, run by `runtime.serve` on its own event-loop thread.

Tests talk to it over HTTP / WebSocket like any client; `hub.ctx` is the API's context (to
tighten a rate limit for one test). The helpers (`Hub`, `start_hub`, `error_of`, ...) are in
tests/helpers/api_hub.py; the fixtures are here.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from tests.helpers.api_hub import Hub, start_hub

from hyperhub.config import demo_space
from hyperhub.space import load_space


@pytest.fixture(scope="session")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """One hub of the demo space for the API tests of this session."""
    running = start_hub(tmp_path_factory.mktemp("hub"), load_space(demo_space()))
    try:
        yield running
    finally:
        running.auth.close()
        running._stop()


@pytest.fixture
def reader(hub: Hub) -> httpx.Client:
    with hub.client(hub.token("read", name="reader")) as client:
        yield client


@pytest.fixture
def controller(hub: Hub) -> httpx.Client:
    """read + control: everything but risky confirmations and admin."""
    with hub.client(hub.token("read", "control", name="controller")) as client:
        yield client


@pytest.fixture
def owner(hub: Hub) -> httpx.Client:
    """Every scope."""
    token = hub.token("read", "control", "control:risky", "admin", name="owner")
    with hub.client(token) as client:
        yield client
