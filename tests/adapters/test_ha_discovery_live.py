"""Devices that announce themselves with Home Assistant's MQTT discovery, on the fabric, end
to end on a real Mosquitto: stand-in firmware (tests/helpers/ha_devices.py) ↔ the adapter ↔
its DeviceNode ↔ the hub. Found devices wait in pending; accepted ones come in with their
retained state, take commands through the hub's checks in their own payloads, confirmed by
their state topic (or at once when optimistic), follow their availability and go away with
an empty config."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.broker import RunningBroker
from tests.helpers.ha_devices import FakeHaDevices, echo, json_light
from tests.helpers.hosted import hosted
from tests.helpers.wait import until

from hyperhub.adapters.ha_discovery.adapter import HaDiscovery
from hyperhub.errors import DeviceTimeout, DeviceUnavailable, NeedsConfirmation
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.node import DeviceNode
from hyperhub.space import Space, load_space
from hyperhub.space.adapters import foreign_topics
from hyperhub.spec.policy import Command

SPACE = """\
space: test
areas:
  - {id: office, name: Office}
  - {id: kitchen, name: Kitchen}
devices:
  - {id: hall_light, type: light}
adapters:
  - {id: ha, kind: ha_discovery, timeout_s: 1, topics: [shellies/#, esphome/#, tasmota/#]}
"""
ACCEPTED = """\
devices:
  - {id: desk_plug, type: plug, area: office, adapter: ha, external: plug01_relay,
     properties: [on, power_w]}
  - {id: kitchen, type: light, area: kitchen, adapter: ha, external: kitchen_light,
     properties: [on, brightness]}
  - {id: back_door, type: lock, adapter: ha, external: backdoor01_bolt}
  - {id: bedroom, type: sensor, adapter: ha, external: bedroom01ae/sensor,
     properties: [temperature, humidity]}
  - {id: porch_relay, type: switch, adapter: ha, external: switch/porch}
  - {id: hall_motion, type: sensor, adapter: ha, external: hall_motion, properties: [motion]}
"""
PLUG = {"ids": ["plug01"], "name": "Desk Plug", "mf": "Shelly", "mdl": "Plug S", "sa": "Office"}
BEDROOM = {"ids": ["bedroom01ae"], "name": "Bedroom"}
CONFIGS: dict[str, dict[str, Any]] = {
    # a switch with payload_on / payload_off, and a power sensor of the same device: a plug
    "homeassistant/switch/plug01/relay/config": {
        "name": None, "uniq_id": "plug01_relay", "stat_t": "shellies/plug01/relay/0",
        "cmd_t": "shellies/plug01/relay/0/command", "pl_on": "on", "pl_off": "off",
        "avty_t": "shellies/plug01/online", "pl_avail": "true", "pl_not_avail": "false",
        "dev": PLUG,
    },
    "homeassistant/sensor/plug01/power/config": {
        "uniq_id": "plug01_power", "dev_cla": "power", "unit_of_meas": "W",
        "stat_t": "shellies/plug01/relay/0/power", "dev": PLUG,
    },
    # the abbreviated JSON-schema light with `~`
    "homeassistant/light/kitchen/config": {
        "~": "esphome/kitchen", "name": "Kitchen", "uniq_id": "kitchen_light",
        "cmd_t": "~/set", "stat_t": "~/state", "schema": "json", "brightness": True,
    },
    # a device-based config: a lock and its door sensor
    "homeassistant/device/backdoor01/config": {
        "dev": {"ids": "backdoor01", "name": "Back Door"},
        "o": {"name": "stand-in firmware"},
        "cmps": {
            "bolt": {"p": "lock", "uniq_id": "backdoor01_bolt", "stat_t": "tasmota/back/lock",
                     "cmd_t": "tasmota/back/lock/set"},
            "door": {"p": "binary_sensor", "dev_cla": "door", "uniq_id": "backdoor01_door",
                     "stat_t": "tasmota/back/door"},
        },
    },
    # two sensors with value templates on one state topic
    "homeassistant/sensor/sensorBedroomT/config": {
        "dev_cla": "temperature", "stat_t": "esphome/bedroom/state", "unit_of_meas": "°C",
        "val_tpl": "{{ value_json.temperature }}", "uniq_id": "temp01ae_t", "dev": BEDROOM,
    },
    "homeassistant/sensor/sensorBedroomH/config": {
        "dev_cla": "humidity", "stat_t": "esphome/bedroom/state", "unit_of_meas": "%",
        "val_tpl": "{{ value_json.humidity }}", "uniq_id": "temp01ae_h", "dev": BEDROOM,
    },
    # a relay with no state topic: optimistic
    "homeassistant/switch/porch/config": {"name": "Porch", "cmd_t": "tasmota/porch/set"},
    # a PIR that only ever says ON
    "homeassistant/binary_sensor/hall/motion/config": {
        "name": "Hall Motion", "dev_cla": "motion", "stat_t": "esphome/hall/motion",
        "uniq_id": "hall_motion", "off_dly": 1,
    },
}  # fmt: skip
STATES = {
    "shellies/plug01/relay/0": "off",
    "shellies/plug01/relay/0/power": "0.0",
    "shellies/plug01/online": "true",
    "esphome/kitchen/state": json.dumps({"state": "ON", "brightness": 255}),
    "tasmota/back/lock": "LOCKED",
    "tasmota/back/door": "OFF",
    "esphome/bedroom/state": json.dumps({"temperature": 21.5, "humidity": 40}),
}


def answers() -> dict[str, Any]:
    kitchen = {"state": "ON", "brightness": 255}
    return {
        "shellies/plug01/relay/0/command": echo("shellies/plug01/relay/0"),
        "esphome/kitchen/set": json_light("esphome/kitchen/state", kitchen),
        "tasmota/back/lock/set": echo(
            "tasmota/back/lock", {"LOCK": "LOCKED", "UNLOCK": "UNLOCKED"}
        ),
        "tasmota/porch/set": lambda payload: [],
    }


@dataclass
class Rig:
    devices: FakeHaDevices
    adapter: HaDiscovery
    hub: HubFabric
    node: DeviceNode
    space: Space

    def state(self, device: str) -> dict[str, Any]:
        record = self.hub.registry.get(device)
        return {} if record is None else dict(record.state)

    def online(self, device: str) -> bool:
        return self.hub.registry.is_online(device)


@pytest.fixture
def space(tmp_path: Path) -> Space:
    (tmp_path / "home.yaml").write_text(SPACE)
    (tmp_path / "home.adapters.yaml").write_text(ACCEPTED)
    return load_space(tmp_path / "home.yaml")


FIRMWARE_TOPICS = ("homeassistant/#", "shellies/#", "esphome/#", "tasmota/#", "hmd/#")


@asynccontextmanager
async def rig(
    broker: RunningBroker,
    space: Space,
    topics: tuple[str, ...] | None = None,
    configs: dict[str, dict[str, Any]] | None = None,
) -> AsyncIterator[Rig]:
    accepted = [d.id for d in space.devices.values() if d.adapter == "ha"]
    allowed = topics or foreign_topics(space.adapters["ha"])  # as the hub gives them
    adapter_login = broker.add_node("adapter_ha", accepted, topics=allowed)
    firmware = broker.add_node("firmware", [], topics=FIRMWARE_TOPICS)
    fake = FakeHaDevices(
        broker.url(firmware).client_kwargs(),
        configs=CONFIGS if configs is None else configs,
        states=STATES,
        answers=answers(),
    )
    async with fake:
        adapter = HaDiscovery(
            space.adapters["ha"], space, broker.url(adapter_login).client_kwargs()
        )
        async with hosted(broker, space, adapter, adapter_login) as (hub, node):
            yield Rig(fake, adapter, hub, node, space)


def test_found_devices_are_proposed_and_accepted_ones_come_in_with_their_state(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.online("desk_plug") and r.online("bedroom"), "online")
            await until(lambda: r.state("bedroom").get("humidity") == 40, "the bedroom")
            assert r.state("bedroom") == {"temperature": 21.5, "humidity": 40}
            assert r.state("desk_plug") == {"on": False, "power_w": 0.0}
            await until(lambda: r.state("kitchen").get("brightness") == 100, "the kitchen")
            assert r.state("kitchen") == {"on": True, "brightness": 100}
            await until(lambda: r.state("back_door").get("locked") is True, "the lock")
            proposed = {p.external: (p.type, p.id, p.area) for p in r.adapter.found.values()}
            assert proposed["plug01_relay"] == ("plug", "desk_plug", "office")
            assert proposed["backdoor01_bolt"] == ("lock", "back_door_lock", None)
            assert proposed["backdoor01/sensor"] == ("sensor", "back_door_sensor", None)
            pending = {p.id for p in r.adapter.pending()}
            assert pending == {"back_door_sensor"}
            # a reading the device reports on its own
            await r.devices.say("esphome/bedroom/state", '{"temperature": 22.25, "humidity": 41}')
            await until(lambda: r.state("bedroom").get("temperature") == 22.25, "22.25 °C")
            # beyond the vocabulary's range (a sensor reads -40…80 °C): read as its nearest end
            await r.devices.say("esphome/bedroom/state", '{"temperature": 95, "humidity": 41}')
            await until(lambda: r.state("bedroom").get("temperature") == 80, "80 °C")

    run(scenario())


def test_commands_pass_the_hubs_checks_go_out_in_the_devices_payloads_and_are_confirmed(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.online("desk_plug") and r.online("kitchen"), "online")
            ack = await r.hub.send(Command("desk_plug", "on", True), actor="test")
            assert ack.ok and ack.changes == {"on": True}
            assert r.devices.received[-1] == ("shellies/plug01/relay/0/command", "on")
            ack = await r.hub.send(Command("kitchen", "brightness", 50), actor="test")
            assert ack.changes == {"brightness": 50}
            topic, payload = r.devices.received[-1]
            assert (topic, json.loads(payload)) == (
                "esphome/kitchen/set", {"state": "ON", "brightness": 128},
            )  # fmt: skip
            await until(lambda: r.state("kitchen")["brightness"] == 50, "50 % at the hub")
            # the hub's checks come first: nothing reaches the device
            sent = len(r.devices.received)
            with pytest.raises(Exception, match="brightness"):
                await r.hub.send(Command("kitchen", "brightness", 150), actor="test")
            with pytest.raises(NeedsConfirmation):
                await r.hub.send(Command("back_door", action="unlock"), actor="test")
            assert len(r.devices.received) == sent
            ack = await r.hub.send(Command("back_door", action="unlock"), actor="test",
                                   confirm=True)  # fmt: skip
            assert ack.changes == {"locked": False}
            assert r.devices.received[-1] == ("tasmota/back/lock/set", "UNLOCK")
            # no state topic: taken as done at once, and the state follows the command
            ack = await r.hub.send(Command("porch_relay", "on", True), actor="test")
            assert ack.changes == {"on": True}
            await until(lambda: r.state("porch_relay") == {"on": True}, "the porch on")

    run(scenario())


def test_a_device_that_does_not_report_times_out_with_a_clear_error(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.online("desk_plug"), "online")
            r.devices.mute.add("shellies/plug01/relay/0/command")
            with pytest.raises(DeviceTimeout, match=r"desk_plug \(Desk Plug\) did not report on"):
                await r.adapter.set("desk_plug", "on", True)

    run(scenario())


def test_availability_and_removal_follow_the_devices_configs(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.online("desk_plug"), "the plug online")
            await r.devices.say("shellies/plug01/online", "false")
            await until(lambda: not r.online("desk_plug"), "the plug offline")
            with pytest.raises(DeviceUnavailable, match="offline"):
                await r.hub.send(Command("desk_plug", "on", True), actor="test")
            assert r.online("kitchen")
            await r.devices.say("shellies/plug01/online", "true")
            await until(lambda: r.online("desk_plug"), "the plug back")
            # an empty retained config removes the entity: the device is gone with it
            await r.devices.configure("homeassistant/light/kitchen/config", "")
            await until(lambda: not r.online("kitchen"), "the kitchen light removed")
            with pytest.raises(DeviceUnavailable):
                await r.adapter.set("kitchen", "on", False)
            # a device-based config removed whole
            await r.devices.configure("homeassistant/device/backdoor01/config", "")
            await until(lambda: not r.online("back_door"), "the back door removed")
            assert r.online("desk_plug")

    run(scenario())


SLOW = "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}{{ 1 }}"


def test_bad_configs_and_payloads_are_left_out_and_the_adapter_goes_on(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            await until(lambda: r.online("bedroom") and r.online("desk_plug"), "online")
            bad = {
                "homeassistant/switch/broken/config": "{not json",
                "homeassistant/switch/list/config": "[1, 2]",
                "homeassistant/switch/wild/config": {"name": "Wild", "cmd_t": "tasmota/+/set",
                                                     "stat_t": "tasmota/#"},
                "homeassistant/switch/ours/config": {"name": "Ours",
                                                     "cmd_t": "hyperhub/test/hall_light/set"},
                # HyperHub's command topic for Home Assistant: a switch must not unlock a door
                "homeassistant/switch/sly/config": {"name": "Sly", "pl_on": "unlock",
                                                    "cmd_t": "hyperhub-ha/test/back_door/call"},
                "homeassistant/light/odd/config": {"name": "Odd", "cmd_t": "esphome/odd/set",
                                                   "bri_cmd_t": "esphome/odd/b", "bri_scl": "max"},
                "homeassistant/climate/odder/config": {"name": "Odder", "mode_cmd_t": "esphome/o",
                                                       "modes": 5, "stat_t": ["a", "b"]},
                # the bedroom's temperature, now read by a template that would run for ever
                "homeassistant/sensor/sensorBedroomT/config": {
                    **CONFIGS["homeassistant/sensor/sensorBedroomT/config"], "val_tpl": SLOW,
                },
                "homeassistant/switch/later/config": {"name": "Later", "cmd_t": "esphome/l/set"},
            }  # fmt: skip
            for topic, config in bad.items():
                await r.devices.configure(topic, config)
            names = await until(
                lambda: (n := {p.friendly_name for p in r.adapter.found.values()}) >= {"Later"} and n,
                "a good device announced after the bad ones",
            )  # fmt: skip
            assert names >= {"Odd", "Odder"}  # taken, their broken options as the defaults
            assert not names & {"Wild", "Ours", "Sly"}
            assert any(p.startswith("Sly (switch switch/sly) left out: 'hyperhub-ha/test/back_door/call'")
                       for p in r.adapter.problems)  # fmt: skip
            deep = "[" * 30_000 + "]" * 30_000  # JSON nested too deep to read
            await r.devices.say("esphome/bedroom/state", deep)
            await r.devices.say("esphome/bedroom/state", "not json at all")
            await r.devices.say("esphome/bedroom/state", '{"temperature": 19, "humidity": 50}')
            await until(lambda: r.state("bedroom").get("humidity") == 50, "the next report")
            assert r.state("bedroom") == {"temperature": 21.5, "humidity": 50}  # slow: unread
            # the adapter goes on: the plug still takes commands
            ack = await r.hub.send(Command("desk_plug", "on", True), actor="test")
            assert ack.changes == {"on": True}

    run(scenario())


def test_topics_the_adapters_login_may_not_use_are_named_with_the_fix(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], tmp_path: Path
) -> None:
    (tmp_path / "home.yaml").write_text(SPACE.replace("shellies/#, ", ""))
    (tmp_path / "home.adapters.yaml").write_text(ACCEPTED)
    space = load_space(tmp_path / "home.yaml")

    async def scenario() -> None:
        topics = ("homeassistant/#", "esphome/#", "tasmota/#")  # no shellies/#
        async with rig(make_broker(), space, topics) as r:
            why = await until(
                lambda: next((p for p in r.adapter.problems if "plug01_relay" in p), None),
                "the plug's topics refused",
            )
            assert why.startswith("Desk Plug (switch plug01_relay) left out: its topics ")
            assert why.endswith("add shellies/# to the adapter's `topics:` in the space file")
            await until(lambda: r.online("bedroom"), "the others work")

    run(scenario())


GREENHOUSE_SPACE = """\
space: test
areas: [{id: garden, name: Garden}]
devices: []
adapters:
  - {id: ha, kind: ha_discovery, timeout_s: 2, topics: [hmd/#]}
"""
GREENHOUSE_ACCEPTED = """\
devices:
  - {id: pump, type: switch, adapter: ha, external: greenhouse_pump}
  - {id: greenhouse, type: sensor, adapter: ha, external: greenhouse01/sensor,
     properties: [temperature, contact]}
"""


def test_a_real_third_party_producer_ha_mqtt_discoverable(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], tmp_path: Path
) -> None:
    """`ha-mqtt-discoverable` (PyPI), the library Python projects use to appear in Home
    Assistant, announces a greenhouse: its pump switch answers HyperHub's commands."""
    hmd = pytest.importorskip("ha_mqtt_discoverable")
    from ha_mqtt_discoverable import sensors

    (tmp_path / "home.yaml").write_text(GREENHOUSE_SPACE)
    (tmp_path / "home.adapters.yaml").write_text(GREENHOUSE_ACCEPTED)
    space = load_space(tmp_path / "home.yaml")
    broker = make_broker()
    login = broker.add_node("hmd_producer", [], topics=FIRMWARE_TOPICS)
    mqtt = hmd.Settings.MQTT(host=broker.host, port=broker.port, username=login.name,
                             password=login.password)  # fmt: skip
    device = hmd.DeviceInfo(name="Greenhouse", identifiers="greenhouse01", manufacturer="Acme")
    made: list[Any] = []
    commands: list[str] = []

    def produce() -> None:
        def on_command(client: Any, user_data: Any, message: Any) -> None:
            word = message.payload.decode()
            commands.append(word)
            pump.on() if word == "ON" else pump.off()

        pump = sensors.Switch(
            hmd.Settings(mqtt=mqtt, entity=sensors.SwitchInfo(
                name="Pump", unique_id="greenhouse_pump", device=device)),
            on_command, retain=True,
        )  # fmt: skip
        made.append(pump)
        pump.off()
        temperature = sensors.Sensor(
            hmd.Settings(mqtt=mqtt, entity=sensors.SensorInfo(
                name="Temperature", unique_id="greenhouse_t", device_class="temperature",
                unit_of_measurement="°C", device=device)), retain=True,
        )  # fmt: skip
        made.append(temperature)
        temperature.set_state(24.5)
        door = sensors.BinarySensor(
            hmd.Settings(mqtt=mqtt, entity=sensors.BinarySensorInfo(
                name="Door", unique_id="greenhouse_door", device_class="door", device=device)),
            retain=True,
        )  # fmt: skip
        made.append(door)
        door.on()  # open

    def stop() -> None:
        for entity in made:
            entity.mqtt_client.loop_stop()
            entity.mqtt_client.disconnect()

    async def scenario() -> None:
        async with rig(broker, space, configs={}) as r:
            await asyncio.to_thread(produce)
            try:
                await until(lambda: r.online("pump") and r.online("greenhouse"), "online")
                await until(lambda: r.state("greenhouse") == {"temperature": 24.5,
                                                              "contact": False}, "its readings")  # fmt: skip
                await until(lambda: r.state("pump") == {"on": False}, "the pump off")
                ack = await r.hub.send(Command("pump", "on", True), actor="test")
                assert ack.changes == {"on": True} and commands == ["ON"]
                await until(lambda: r.state("pump") == {"on": True}, "the pump on at the hub")
            finally:
                await asyncio.to_thread(stop)

    run(scenario())


def test_what_devices_say_in_home_assistants_own_terms(
    make_broker: Callable[..., RunningBroker], run: Callable[..., Any], space: Space
) -> None:
    """A lock that reports OPEN is not locked, and JAMMED is the lock's event; a PIR that
    only says ON is off again after its off_delay; availability read through a template on
    its JSON (as Zigbee2MQTT announces it); a device that gains an entity keeps its
    accepted part."""

    async def scenario() -> None:
        async with rig(make_broker(), space) as r:
            events = r.hub.events()
            await until(lambda: r.online("back_door") and r.online("hall_motion"), "online")
            await r.devices.say("tasmota/back/lock", "OPEN")
            await until(lambda: r.state("back_door").get("locked") is False, "the lock open")
            await r.devices.say("tasmota/back/lock", "JAMMED", retain=False)
            event = await events.get(timeout=5)
            assert (event.device, event.name) == ("back_door", "jammed")
            assert r.state("back_door") == {"locked": False}
            await r.devices.say("esphome/hall/motion", "ON", retain=False)
            await until(lambda: r.state("hall_motion").get("motion") is True, "motion")
            await until(lambda: r.state("hall_motion").get("motion") is False, "off after 1 s")
            plug = dict(CONFIGS["homeassistant/switch/plug01/relay/config"])
            for key in ("avty_t", "pl_avail", "pl_not_avail"):
                plug.pop(key)
            plug["avty"] = [{"t": "shellies/plug01/status", "val_tpl": "{{ value_json.state }}"}]
            await r.devices.configure("homeassistant/switch/plug01/relay/config", plug)
            await until(lambda: not r.online("desk_plug"), "offline until its status says")
            await r.devices.say("shellies/plug01/status", '{"state": "online"}')
            await until(lambda: r.online("desk_plug"), "online by its JSON status")
            # the plug gains a temperature sensor: its accepted part is still the same
            await r.devices.configure("homeassistant/sensor/plug01/temp/config", {
                "uniq_id": "plug01_temp", "dev_cla": "temperature", "stat_t": "shellies/plug01/t",
                "dev": PLUG,
            })  # fmt: skip
            await until(lambda: "plug01/sensor" in r.adapter.found, "its new sensor found")
            assert r.online("desk_plug") and "plug01_relay" in r.adapter.found
            ack = await r.hub.send(Command("desk_plug", "on", True), actor="test")
            assert ack.changes == {"on": True}

    run(scenario())
