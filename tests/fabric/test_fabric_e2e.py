"""Hub and nodes together over a real Mosquitto: commands, drops and comebacks, restarts.

Nodes that must die abruptly run as their own process (SIGKILL closes the socket without a
goodbye, SIGSTOP freezes it until the broker's keepalive gives up), like `hyperhub node`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.wait import until

from hyperhub.clock import ManualClock, SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import DeviceUnavailable, NeedsConfirmation, ValueNotAllowed
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.node import DeviceNode
from hyperhub.space import Space, load_space
from hyperhub.spec import builtin_types
from hyperhub.store import StateStore

T0 = 1_700_000_000.0
DEVICES = ["lamp", "front_door", "garage_door", "phone"]
SPACE = """
space: test
areas:
  - {id: home, name: Home}
devices:
  - {id: lamp, type: light, name: Lamp, area: home, state: {on: false, brightness: 50}}
  - {id: front_door, type: lock, name: Front Door, area: home, state: {locked: true}}
  - {id: garage_door, type: cover, class: garage, name: Garage Door, area: home}
  - {id: phone, type: phone, name: Phone}
"""
NODE_PROCESS = """
import asyncio, json, os, signal
from hyperhub.clock import SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.node import DeviceNode
from hyperhub.space import load_space

async def main():
    cfg = json.loads(os.environ["NODE"])
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    kwargs = BrokerURL.parse(cfg["url"]).client_kwargs()
    space = load_space(cfg["space"])
    node = DeviceNode(cfg["name"], space, cfg["devices"], kwargs, keepalive=cfg["keepalive"],
                      tick_s=0.2, backend=Simulator(space, SystemClock(), only=cfg["devices"]))
    async with node:
        await stop.wait()

asyncio.run(main())
"""


@pytest.fixture
def space_file(tmp_path: Path) -> Path:
    path = tmp_path / "space.yaml"
    path.write_text(SPACE, encoding="utf-8")
    return path


@contextmanager
def node_process(broker: Any, space: Path, keepalive: int = 10) -> Iterator[subprocess.Popen]:
    """`hyperhub node`, in short: a process hosting every device of the space."""
    login = broker.add_node("home", DEVICES)
    cfg = {
        "name": "home",
        "space": str(space),
        "devices": DEVICES,
        "url": broker.url(login).render(show_password=True),
        "keepalive": keepalive,
    }
    log = open(space.parent / "node.log", "ab")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [sys.executable, "-c", NODE_PROCESS],
        env={**os.environ, "NODE": json.dumps(cfg)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield proc
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)
        log.close()


@asynccontextmanager
async def hub_on(
    broker: Any, store: StateStore | None = None, **kwargs: Any
) -> AsyncIterator[HubFabric]:
    url = broker.url(broker.hub)
    async with HubFabric(
        "test", url.client_kwargs(), types=builtin_types(), store=store, **kwargs
    ) as hub:
        await hub.wait_connected(10)
        yield hub


@asynccontextmanager
async def node_on(broker: Any, space: Space, **kwargs: Any) -> AsyncIterator[DeviceNode]:
    login = broker.add_node("home", DEVICES)
    clock = kwargs.setdefault("clock", SystemClock())
    kwargs.setdefault("backend", Simulator(space, clock, only=DEVICES))
    async with DeviceNode(
        "home", space, DEVICES, broker.url(login).client_kwargs(), **kwargs
    ) as node:
        await node.wait_ready(10)
        yield node


def all_online(hub: HubFabric) -> Callable[[], bool]:
    return lambda: all(hub.registry.is_online(d) for d in DEVICES)


# -- commands -----------------------------------------------------------------------------
def test_a_command_changes_the_device_the_registry_and_the_store(
    broker, run, space_file, tmp_path
) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with (
            hub_on(broker, store) as hub,
            node_on(broker, load_space(space_file), clock=ManualClock(T0)) as node,
        ):
            await until(all_online(hub), "every device to join")
            ack = await hub.send_command("lamp", property="brightness", value=80, actor="api:alice")
            assert ack.ok and ack.changes == {"on": True, "brightness": 80}
            # the node sends the new state before the ack, so the hub has it already
            assert hub.registry.get("lamp").state["brightness"] == 80
            assert node.backend.state("lamp")["brightness"] == 80
            await hub.flush()
        assert store.current("lamp") == {"on": True, "brightness": 80}
        entry = store.audit_log(device="lamp")[0]
        assert (entry.actor, entry.kind, entry.result) == ("api:alice", "set", "ok")
        assert entry.what == {"property": "brightness", "value": 80}

    run(main())
    store.close()


def test_timing_tools_tap_commands_states_and_changes_in_order(broker, run, space_file) -> None:
    """The public taps the rules benchmark times with (it used to patch private methods):
    a node's command messages, the hub's state messages before parsing, and a change
    listener that runs before the others."""
    seen: list[tuple[str, str]] = []
    stopped_at = [0]

    async def main() -> None:
        async with (
            hub_on(broker) as hub,
            node_on(broker, load_space(space_file), clock=ManualClock(T0)) as node,
        ):
            await until(all_online(hub), "every device to join")
            hub.listen_changes(lambda device, changed, ts: seen.append(("later", device)))
            hub.listen_changes(
                lambda device, changed, ts: seen.append(("first", device)), first=True
            )
            stop = hub.on_state_message(lambda topic: seen.append(("state", topic)))
            node.on_command(lambda topic, payload: seen.append(("command", topic)))
            await hub.send_command("lamp", property="brightness", value=70, actor="t")
            await until(lambda: ("later", "lamp") in seen, "the change to be heard")
            stop()
            stopped_at[0] = len(seen)
            await hub.send_command("lamp", property="brightness", value=71, actor="t")
            await until(lambda: ("later", "lamp") in seen[stopped_at[0] :], "the second change")

    run(main())
    assert seen.count(("command", "hyperhub/test/lamp/set")) == 2
    assert ("state", "hyperhub/test/lamp/state") in seen[: stopped_at[0]]
    assert not [e for e in seen[stopped_at[0] :] if e[0] == "state"]  # the tap stopped
    changes = [kind for kind, device in seen if kind in ("first", "later") and device == "lamp"]
    assert changes and changes == ["first", "later"] * (len(changes) // 2)


def test_actions_with_args_and_risky_ones_with_confirmation(broker, run, space_file) -> None:
    async def main() -> None:
        async with hub_on(broker) as hub, node_on(broker, load_space(space_file), tick_s=0.05):
            await until(all_online(hub), "every device to join")
            with hub.events() as events:
                ack = await hub.send_command(
                    "phone", action="notify", args={"message": "hi"}, actor="test"
                )
                event = await events.get(10)
            assert ack.ok and (event.device, event.name, event.args) == (
                "phone",
                "notification",
                {"message": "hi"},
            )
            with pytest.raises(NeedsConfirmation):
                await hub.send_command("front_door", action="unlock", actor="test")
            assert hub.registry.get("front_door").state["locked"] is True
            ack = await hub.send_command("front_door", action="unlock", actor="test", confirm=True)
            assert ack.changes == {"locked": False}
            assert hub.registry.get("front_door").state["locked"] is False

    run(main())


def test_a_cleanly_stopped_node_makes_its_devices_unavailable(broker, run, space_file) -> None:
    async def main() -> None:
        async with hub_on(broker) as hub:
            async with node_on(broker, load_space(space_file)):
                await until(all_online(hub), "every device to join")
            await until(lambda: not hub.registry.is_online("lamp"), "the goodbye")
            with pytest.raises(DeviceUnavailable, match="lamp is offline"):
                await hub.send_command("lamp", property="on", value=True, actor="test")

    run(main())


# -- drops and comebacks ------------------------------------------------------------------
def test_a_killed_node_goes_offline_and_a_restarted_one_comes_back(broker, run, space_file) -> None:
    async def main() -> None:
        async with hub_on(broker) as hub:
            with node_process(broker, space_file) as proc:
                await until(all_online(hub), "the node process to join", 20)
                proc.kill()  # no goodbye: the socket closes and the broker sends the last will
                await until(lambda: not hub.registry.is_online("lamp"), "the last will")
            with pytest.raises(DeviceUnavailable, match="its node 'home' is offline"):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            with node_process(broker, space_file):
                await until(all_online(hub), "the new node process to join", 20)
                ack = await hub.send_command("lamp", property="on", value=True, actor="test")
                assert ack.ok

    run(main(), timeout=60)


def test_a_frozen_node_is_dropped_after_keepalive_and_comes_back_by_itself(
    broker, run, space_file
) -> None:
    async def main() -> None:
        async with hub_on(broker) as hub:
            with node_process(broker, space_file, keepalive=1) as proc:
                await until(all_online(hub), "the node process to join", 20)
                proc.send_signal(signal.SIGSTOP)  # alive, connected, silent
                await until(lambda: not hub.registry.is_online("lamp"), "the keepalive to expire")
                with pytest.raises(DeviceUnavailable, match="its node 'home' is offline"):
                    await hub.send_command("lamp", property="on", value=True, actor="test")
                proc.send_signal(signal.SIGCONT)  # the same process finds its socket closed
                await until(all_online(hub), "the node to reconnect", 20)
                ack = await hub.send_command("lamp", property="on", value=True, actor="test")
                assert ack.ok

    run(main(), timeout=60)


def test_hub_and_node_ride_out_a_broker_restart(broker, run, space_file, tmp_path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        clock = ManualClock(T0)
        async with (
            hub_on(broker, store) as hub,
            node_on(broker, load_space(space_file), clock=clock, tick_s=0.05) as node,
        ):
            await until(all_online(hub), "every device to join")
            os.kill(broker.mosquitto.pid, signal.SIGKILL)
            await until(lambda: not node.ready.is_set(), "the node to notice")
            clock.advance(20)
            node.backend.set("lamp", "brightness", 15)  # while nobody can hear it
            await until(
                lambda: hub.registry.get("lamp").state.get("brightness") == 15,
                "the hub to catch up after the restart",
                30,
            )
            await node.wait_ready(10)
            assert hub.registry.get("lamp").ts == T0 + 20 and all_online(hub)()
            ack = await hub.send_command("lamp", property="on", value=False, actor="test")
            assert ack.changes == {"on": False}
            await hub.flush()
        assert store.current("lamp") == {"on": False, "brightness": 15}

    run(main(), timeout=60)


def test_a_device_that_takes_fewer_values_than_its_type_refuses_the_others(
    broker, run, tmp_path
) -> None:
    """An oil heater is a climate that only heats: the node announces the narrowing, and the
    hub refuses "cool" before anything reaches the device."""
    path = tmp_path / "heater.yaml"
    path.write_text(
        "space: test\nareas: [{id: home, name: Home}]\ndevices:\n"
        "  - {id: heater, type: climate, name: Oil Heater, area: home,"
        " values: {mode: [heat], fan_speed: [auto]}}\n"
    )
    space = load_space(path)

    async def main() -> None:
        login = broker.add_node("home", ["heater"])
        async with (
            hub_on(broker) as hub,
            DeviceNode(
                "home",
                space,
                ["heater"],
                broker.url(login).client_kwargs(),
                backend=Simulator(space, SystemClock(), only=["heater"]),
            ) as node,
        ):
            await node.wait_ready(10)
            await until(lambda: hub.registry.is_online("heater"), "the heater to join")
            mode = hub.registry.get("heater").dtype.properties["mode"]
            assert mode.values == ("heat",) and mode.default == "heat"
            with pytest.raises(
                ValueNotAllowed,
                match=r"heater\.mode: 'cool' is not allowed; it must be one of heat",
            ):
                await hub.send_command("heater", property="mode", value="cool", actor="test")
            ack = await hub.send_command("heater", property="mode", value="heat", actor="test")
            assert ack.ok and node.backend.state("heater")["mode"] == "heat"

    run(main())
