"""The MQTT fast path's guard: it is on or off by the environment, it takes over a
connection only when the paho underneath has what it needs, and it fails loudly, naming
what is missing, rather than misbehave on a paho it was not written for."""

from __future__ import annotations

from typing import Any

import paho.mqtt.client as paho
import pytest

from hyperhub.errors import BrokerError
from hyperhub.fabric import fastpath
from hyperhub.fabric.client import FabricClient


def test_the_switch_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(fastpath.ENV, raising=False)
    assert fastpath.enabled()  # on unless told otherwise
    monkeypatch.setenv(fastpath.ENV, "0")
    assert not fastpath.enabled()


def test_the_pinned_paho_has_every_part_the_fast_path_uses() -> None:
    assert fastpath.missing(paho.Client(paho.CallbackAPIVersion.VERSION2)) == []


def test_a_paho_without_those_parts_stops_the_start_with_a_clear_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class OtherPaho(paho.Client):
        """A paho release that reads its socket some other way."""

        def __getattribute__(self, name: str) -> Any:
            if name in ("_sock_recv", "_out_messages"):
                raise AttributeError(name)
            return super().__getattribute__(name)

    monkeypatch.setattr(fastpath.paho, "Client", OtherPaho)
    monkeypatch.setattr(fastpath, "_checked", False)
    monkeypatch.delenv(fastpath.ENV, raising=False)
    client = FabricClient({"hostname": "127.0.0.1", "port": 1}, client_id="probe")
    with pytest.raises(BrokerError, match=r"_sock_recv, _out_messages.*HYPERHUB_MQTT_FASTPATH=0"):
        client.start()
    monkeypatch.setenv(fastpath.ENV, "0")  # the way out the message names
    fastpath.check_paho()


def test_a_connection_uses_it_exactly_when_it_is_on(broker: Any, run: Any) -> None:
    """The broker fixture runs each test both ways (conftest.py); here it says which."""

    async def main() -> bool:
        async with FabricClient(broker.url(broker.hub).client_kwargs(), client_id="t") as c:
            await c.wait_connected(10)
            return c.fast

    assert run(main()) is fastpath.enabled()
