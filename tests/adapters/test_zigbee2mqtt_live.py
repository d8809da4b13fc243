"""A Zigbee2MQTT bridge's devices on the fabric, end to end, on a real Mosquitto: a stand-in
Zigbee2MQTT (tests/helpers/z2m.py, real device definitions) ↔ the adapter ↔ its DeviceNode
↔ the hub. Commands pass the hub's checks before anything reaches Zigbee2MQTT, are confirmed
when the device reports, time out with a clear error; availability and button presses come
through."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.broker import RunningBroker
from tests.helpers.hosted import hosted
from tests.helpers.wait import until
from tests.helpers.z2m import FakeZigbee2Mqtt

from hyperhub.adapters.zigbee2mqtt.adapter import Zigbee2Mqtt, confirms
from hyperhub.errors import DeviceTimeout, DeviceUnavailable, NeedsConfirmation, NotSupported
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.node import DeviceNode
from hyperhub.space import Space, load_space
from hyperhub.spec.policy import Command

SPACE = """\
space: test
areas:
  - {id: kitchen, name: Kitchen}
  - {id: bedroom, name: Bedroom}
devices:
  - {id: kettle_plug, type: plug}
adapters:
  - {id: zigbee, kind: zigbee2mqtt, timeout_s: 1}
"""
ACCEPTED = """\
devices:
  - {id: floor_lamp, type: light, area: kitchen, adapter: zigbee, external: "0x00158d0000000001",
     properties: [on, brightness, color_temp]}
  - {id: blind, type: cover, class: blind, area: bedroom, adapter: zigbee,
     external: "0x00158d0000000002", properties: [position]}
  - {id: back_door_lock, type: lock, adapter: zigbee, external: "0x00158d0000000009"}
  - {id: bedside_remote, type: button, adapter: zigbee, external: "0x00158d0000000008",
     properties: [battery]}
  - {id: fan_light, type: light, adapter: zigbee, external: "0x00158d000000000b/light",
     properties: [on, brightness]}
  - {id: regulator, type: climate, adapter: zigbee, external: "0x00158d000000000c",
     properties: [on, mode, target_temp, current_temp], values: {mode: [heat]}}
"""
STATES = {
    "kitchen/Floor Lamp": {"state": "ON", "brightness": 254, "color_temp": 370},
    "bedroom/Blind": {"position": 100, "battery": 80},
    "Back Door Lock": {"state": "LOCK", "lock_state": "locked", "battery": 90},
    "Bedside Remote": {"battery": 70},
    "Ceiling Fan": {"fan_state": "OFF", "fan_mode": "low", "state": "OFF", "brightness": 10},
    "study/Heating Regulator": {"system_mode": "heat", "occupied_heating_setpoint": 21},
}


@dataclass
class Rig:
    z2m: FakeZigbee2Mqtt
    adapter: Zigbee2Mqtt
    hub: HubFabric
    node: DeviceNode
    space: Space

    def record(self, device: str) -> Any:
        return self.hub.registry.get(device)


@pytest.fixture
def space(tmp_path: Path) -> Space:
    (tmp_path / "home.yaml").write_text(SPACE)
    (tmp_path / "home.adapters.yaml").write_text(ACCEPTED)
    return load_space(tmp_path / "home.yaml")


@asynccontextmanager
async def rig(broker: RunningBroker, space: Space) -> AsyncIterator[Rig]:
    accepted = [d.id for d in space.devices.values() if d.adapter == "zigbee"]
    adapter_login = broker.add_node("adapter_zigbee", accepted, topics=("zigbee2mqtt/#",))
    z2m_login = broker.add_node("zigbee2mqtt", [], topics=("zigbee2mqtt/#",))
    decl = space.adapters["zigbee"]
    async with FakeZigbee2Mqtt(broker.url(z2m_login).client_kwargs(), states=STATES) as z2m:
        adapter = Zigbee2Mqtt(decl, space, broker.url(adapter_login).client_kwargs())
        async with hosted(broker, space, adapter, adapter_login) as (hub, node):
            yield Rig(z2m, adapter, hub, node, space)


def test_found_devices_come_in_with_their_state(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            lamp = await until(
                lambda: (rec := r.record("floor_lamp")) and rec.state.get("on") and rec,
                "the lamp's reported state at the hub",
            )
            assert lamp.state == {"on": True, "brightness": 100, "color_temp": 2700}
            assert r.hub.registry.is_online("floor_lamp")
            assert lamp.info.node == "adapter_zigbee"
            await until(lambda: r.record("blind") and r.record("blind").state, "the blind")
            assert r.record("blind").state == {"position": 100}
            # what the bridge has that the space did not accept waits in pending
            pending = {p.id for p in r.adapter.pending()}
            assert {"living_room_climate_sensor", "desk_plug", "ceiling_fan"} <= pending
            assert not pending & {"floor_lamp", "blind", "back_door_lock", "fan_light"}

    run(scenario())


def test_a_command_is_checked_sent_in_zigbee2mqtts_words_and_confirmed_by_the_report(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("floor_lamp"), "the lamp online")
            ack = await r.hub.send(Command("floor_lamp", "brightness", 50), actor="test")
            assert ack.ok and ack.changes == {"brightness": 50}
            assert r.z2m.sets[-1] == ("kitchen/Floor Lamp", {"brightness": 127})
            await until(lambda: r.record("floor_lamp").state["brightness"] == 50, "50 %")
            await r.hub.send(Command("floor_lamp", "color_temp", 4000), actor="test")
            assert r.z2m.sets[-1] == ("kitchen/Floor Lamp", {"color_temp": 250})
            await r.hub.send(Command("floor_lamp", action="toggle"), actor="test")
            assert r.z2m.sets[-1] == ("kitchen/Floor Lamp", {"state": "TOGGLE"})
            await until(lambda: r.record("floor_lamp").state["on"] is False, "toggled off")
            await r.hub.send(Command("blind", action="close"), actor="test")
            assert r.z2m.sets[-1] == ("bedroom/Blind", {"state": "CLOSE"})
            # the fan's light is a part of the fan: its own state keys, the fan's topic
            await r.hub.send(Command("fan_light", "on", True), actor="test")
            assert r.z2m.sets[-1] == ("Ceiling Fan", {"state": "ON"})
            sent = len(r.z2m.sets)
            # the hub's checks come first: nothing reaches Zigbee2MQTT
            with pytest.raises(NeedsConfirmation):
                await r.hub.send(Command("back_door_lock", action="unlock"), actor="test")
            with pytest.raises(Exception, match="does not expose 'color'"):
                await r.hub.send(Command("floor_lamp", "color", "#ff0000"), actor="test")
            with pytest.raises(Exception, match="brightness"):
                await r.hub.send(Command("floor_lamp", "brightness", 150), actor="test")
            assert len(r.z2m.sets) == sent
            ack = await r.hub.send(
                Command("back_door_lock", action="unlock"), actor="test", confirm=True
            )
            assert ack.changes == {"locked": False}
            assert r.z2m.sets[-1] == ("Back Door Lock", {"state": "UNLOCK"})

    run(scenario())


def test_a_thermostat_switched_on_again_goes_back_to_its_mode(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("regulator"), "the regulator online")
            await until(lambda: r.record("regulator").state.get("on") is True, "its state")
            await r.hub.send(Command("regulator", "on", False), actor="test")
            assert r.z2m.sets[-1] == ("study/Heating Regulator", {"system_mode": "off"})
            await r.hub.send(Command("regulator", "on", True), actor="test")
            assert r.z2m.sets[-1] == ("study/Heating Regulator", {"system_mode": "heat"})

    run(scenario())


def test_a_device_that_does_not_report_times_out_with_a_clear_error(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("floor_lamp"), "the lamp online")
            r.z2m.mute.add("kitchen/Floor Lamp")
            with pytest.raises(DeviceTimeout, match=r"did not report brightness within 1 s"):
                await r.hub.send(Command("floor_lamp", "brightness", 20), actor="test")
            assert r.z2m.sets[-1] == ("kitchen/Floor Lamp", {"brightness": 51})
            r.z2m.mute.clear()  # and it works again
            await r.hub.send(Command("floor_lamp", "brightness", 20), actor="test")

    run(scenario())


def test_availability_follows_the_device_and_the_bridge(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("back_door_lock"), "the lock online")
            await r.z2m.availability("Back Door Lock", False)
            await until(lambda: not r.hub.registry.is_online("back_door_lock"), "lock offline")
            with pytest.raises(DeviceUnavailable, match="offline"):
                await r.hub.send(Command("back_door_lock", action="lock"), actor="test")
            assert r.hub.registry.is_online("floor_lamp")
            await r.z2m.availability("Back Door Lock", True)
            await until(lambda: r.hub.registry.is_online("back_door_lock"), "lock back")
            await r.z2m.publish("bridge/state", {"state": "offline"}, retain=True)
            await until(
                lambda: not any(r.hub.registry.is_online(d) for d in r.adapter.device_ids),
                "every device offline with the bridge",
            )
            await r.z2m.publish("bridge/state", "online", retain=True)  # 1.x's bare word
            await until(lambda: r.hub.registry.is_online("floor_lamp"), "back with the bridge")

    run(scenario())


def test_a_button_press_is_an_event_and_reports_update_state(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            events = r.hub.events()
            await until(lambda: r.hub.registry.is_online("bedside_remote"), "the remote online")
            await r.z2m.press("Bedside Remote", "brightness_move_up")
            event = await events.get(timeout=5)
            assert (event.device, event.name, event.args) == (
                "bedside_remote",
                "pressed",
                {"action": "brightness_move_up"},
            )
            await r.z2m.report("bedroom/Blind", position=40)
            await until(lambda: r.record("blind").state["position"] == 40, "the blind at 40")
            # a malformed report is dropped; the adapter goes on
            await r.z2m.publish("bedroom/Blind", "{not json")
            await r.z2m.report("bedroom/Blind", position=30)
            await until(lambda: r.record("blind").state["position"] == 30, "the blind at 30")

    run(scenario())


def test_a_command_the_device_cannot_do_is_refused_before_it_is_sent(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("bedside_remote"), "online")
            sent = len(r.z2m.sets)
            with pytest.raises(NotSupported, match="cannot set battery"):
                await r.adapter.set("bedside_remote", "battery", 50)
            assert len(r.z2m.sets) == sent

    run(scenario())


@pytest.mark.parametrize(
    ("sent", "reported", "ok"),
    [
        ({"brightness": 127}, {"brightness": 127, "state": "ON"}, True),
        ({"brightness": 127}, {"brightness": 128}, True),
        ({"brightness": 127}, {"brightness": 90}, False),
        ({"brightness": 127}, {"state": "ON"}, False),
        ({"state": "TOGGLE"}, {"state": "OFF"}, True),
        ({"state": "STOP"}, {"position": 40}, True),
        ({"state": "lock"}, {"state": "LOCK"}, True),
        ({"color": {"x": 0.3, "y": 0.6}}, {"color": {"x": 0.3005, "y": 0.5999}}, True),
        ({"color": {"x": 0.3, "y": 0.6}}, {"color": {"x": 0.4, "y": 0.6}}, False),
    ],
)
def test_which_report_confirms_a_command(sent: dict, reported: dict, ok: bool) -> None:
    assert confirms(sent, reported) is ok


def test_devices_come_online_when_the_bridge_describes_them_late(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    """The bridge says it is online before it lists its devices (a restarting
    Zigbee2MQTT): the devices come online once it has listed them."""

    async def scenario() -> None:
        broker = make_broker()
        async with rig(broker, space) as r:
            await until(lambda: r.hub.registry.is_online("floor_lamp"), "online at first")
            await r.z2m.publish("bridge/devices", [], retain=True)  # a bridge that lost them
            await until(lambda: not r.hub.registry.is_online("floor_lamp"), "gone with the list")
            await r.z2m.publish("bridge/devices", r.z2m.devices, retain=True)
            await until(lambda: r.hub.registry.is_online("floor_lamp"), "back once listed")

    run(scenario())


def test_a_device_renamed_in_zigbee2mqtt_is_followed(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    """Zigbee2MQTT republishes bridge/devices after a rename: the adapter knows the device
    by its IEEE address, so it reads and commands it under its new name."""

    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.hub.registry.is_online("back_door_lock"), "the lock online")
            await r.z2m.rename("Back Door Lock", "porch/Back Door Lock")
            await until(lambda: "porch/Back Door Lock" in r.adapter.names, "the new name")
            await r.hub.send(Command("back_door_lock", action="lock"), actor="test")
            assert r.z2m.sets[-1] == ("porch/Back Door Lock", {"state": "LOCK"})
            await r.z2m.report("porch/Back Door Lock", state="UNLOCK")
            await until(lambda: r.record("back_door_lock").state["locked"] is False, "read there")

    run(scenario())
