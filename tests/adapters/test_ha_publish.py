"""HyperHub's devices in Home Assistant (`adapters.ha_discovery.publish`): the retained
discovery configs keep to Home Assistant's own schemas (the key lists of
fixtures/ha_schema_keys.json, read from its source), the state and availability topics
follow the hub, and commands on the entities' topics go through the hub's checks and audit
log. The hub tests run a real hub (`runtime.serve`, its embedded Mosquitto); "Home
Assistant" is a plain MQTT client with the adapter's bridge login, the one Home Assistant
would use on the hub's broker."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiomqtt
import pytest
from tests.helpers.api_hub import Hub, start_hub
from tests.helpers.broker import LoopThread
from tests.helpers.wait import wait_until

from hyperhub.adapters.accepted import reject
from hyperhub.adapters.ha_discovery.publish import (
    HaPublisher,
    Layout,
    announced,
    config,
    entities,
    parse_value,
    value_words,
)
from hyperhub.adapters.running import bridge_login
from hyperhub.config import demo_space
from hyperhub.errors import ValueNotAllowed
from hyperhub.fabric.broker import local_url
from hyperhub.fabric.client import FabricClient
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.space import Space, load_space
from hyperhub.spec import words
from hyperhub.store import StateStore
from hyperhub.store.records import AuditEntry
from hyperhub.templates import render

SCHEMA = json.loads((Path(__file__).parent / "fixtures" / "ha_schema_keys.json").read_text())
SPACE = """\
space: HA home
areas:
  - {id: hall, name: Hall}
  - {id: garage, name: Garage}
devices:
  - {id: hall_light, type: light, name: Hall Light, area: hall,
     state: {color_temp: 3000, color: "#ff8000"}}
  - {id: front_door, type: lock, name: Front Door, area: hall}
  - {id: garage_door, type: cover, class: garage, name: Garage Door, area: garage}
  - {id: hall_sensor, type: sensor, name: Hall Sensor, area: hall,
     state: {temperature: 21.5, humidity: 40, contact: true, motion: false}}
  - {id: heater, type: climate, name: Heater, area: hall}
  - {id: alice_phone, type: phone, name: Alice's Phone}
adapters:
  - {id: ha, kind: ha_discovery, publish: true, discover: false, RISKY}
  - {id: phones, kind: owntracks}
"""
ACCEPTED = """\
devices:
  - {id: bob_phone, type: phone, name: Bob's Phone, adapter: phones, external: bob/iphone,
     properties: [location, battery]}
"""
ACTOR = "home_assistant:ha"


def space_files(where: Path, allow_risky: bool = False) -> Path:
    path = where / "home.yaml"
    path.write_text(SPACE.replace("RISKY", f"allow_risky: {str(allow_risky).lower()}"))
    (where / "home.adapters.yaml").write_text(ACCEPTED)
    return path


def small_space(tmp_path: Path) -> Space:
    return load_space(space_files(tmp_path))


# -- the mapping, against Home Assistant's schemas ------------------------------------------------


def check_config(component: str, body: dict[str, Any]) -> list[str]:
    """What is wrong with one config by Home Assistant's schema of `component` (the keys it
    knows, the ones it needs, and the rules between them that its validators check)."""
    schema = SCHEMA["components"][component]
    problems = [f"unknown key {k!r}" for k in sorted(set(body) - set(schema["allowed"]))]
    problems += [f"missing {k!r}" for k in schema["required"] if k not in body]
    problems += [f"device: unknown key {k!r}" for k in set(body["device"]) - set(SCHEMA["device"])]
    problems += [f"origin: unknown key {k!r}" for k in set(body["origin"]) - set(SCHEMA["origin"])]
    for item in body["availability"]:
        problems += [f"availability: {k!r}" for k in set(item) - set(SCHEMA["availability_item"])]
    if not body["device"].get("identifiers"):
        problems.append("a device needs identifiers")
    enum_only = body.get("device_class") != "enum" or {"unit_of_measurement", "state_class"} & set(
        body
    )
    if component == "sensor" and "options" in body and enum_only:
        problems.append("options only for an enum sensor without unit and state class")
    if component == "cover" and "set_position_topic" in body and "position_topic" not in body:
        problems.append("set_position_topic needs position_topic")
    if component == "device_tracker" and not {"state_topic", "json_attributes_topic"} & set(body):
        problems.append("a device tracker needs state_topic or json_attributes_topic")
    return problems


def all_configs(space: Space, at: Layout) -> list[tuple[str, str, dict[str, Any]]]:
    """(device, component, config) of every entity the space's devices become."""
    out = []
    for device in announced(space):
        made, _ = entities(device, at)
        out += [(device.id, e.component, config(device, space, e, at)) for e in made]
    return out


def people_words() -> set[str]:
    """Every name the vocabulary has for a property or an action (English)."""
    vocab = words.vocabulary("en")
    return {words.label("en", p) for p in vocab["properties"]} | {
        words.action_label("en", a) for a in vocab["actions"]
    }


@pytest.mark.parametrize("which", ["demo", "test"])
def test_every_entity_keeps_to_home_assistants_schema(which: str, tmp_path: Path) -> None:
    space = load_space(demo_space()) if which == "demo" else small_space(tmp_path)
    at = Layout("homeassistant", "hyperhub-ha", "home")
    made = all_configs(space, at)
    assert {device for device, _, _ in made} == {d.id for d in announced(space)}
    problems = [(d, c, check_config(c, body)) for d, c, body in made]
    assert [p for p in problems if p[2]] == []
    unique = [body["unique_id"] for _, _, body in made]
    assert len(unique) == len(set(unique))
    assert all(u.startswith("hyperhub_home-") for u in unique)
    # device ids have no "-": each unique id says its device and property or action
    assert sorted((u.split("-")[1], u.split("-")[2]) for u in unique) == sorted(
        (d, body["unique_id"].rsplit("-", 1)[1]) for d, _, body in made
    )
    # names are the vocabulary's words; a light's, lock's or cover's main entity has none
    named = people_words()
    for device, component, body in made:
        if body["name"] is None:
            assert component in ("light", "lock", "cover"), (device, component)
        else:
            assert body["name"] in named, (device, body["name"])
        assert body["device"]["name"] == space.devices[device].name
        assert body["availability_mode"] == "all"
    if which == "demo":  # every component of the mapping is there
        assert {c for _, c, _ in made} == set(SCHEMA["components"])


def test_the_templates_read_hyperhubs_state(tmp_path: Path) -> None:
    space = small_space(tmp_path)
    at = Layout("homeassistant", "hyperhub-ha", "home")
    by_key = {
        (d, body["unique_id"].rsplit("-", 1)[1]): (c, body) for d, c, body in all_configs(space, at)
    }

    def shown(device: str, key: str, template: str) -> Any:
        state = space.devices[device].state
        return render(by_key[(device, key)][1][template], {"value_json": state})

    assert by_key[("hall_light", "on")][0] == "light"
    assert shown("hall_light", "on", "state_value_template") == "OFF"
    assert shown("hall_light", "on", "brightness_value_template") == 100
    assert shown("hall_light", "on", "color_temp_value_template") == 3000
    assert shown("hall_light", "on", "rgb_value_template") == "255,128,0"
    light = by_key[("hall_light", "on")][1]
    assert (light["min_kelvin"], light["max_kelvin"], light["brightness_scale"]) == (
        2000,
        6500,
        100,
    )
    # contact true (closed) is a door that is off; motion false is off
    assert by_key[("hall_sensor", "contact")][1]["device_class"] == "door"
    assert shown("hall_sensor", "contact", "value_template") == "OFF"
    assert shown("hall_sensor", "motion", "value_template") == "OFF"
    assert shown("hall_sensor", "temperature", "value_template") == 21.5
    assert by_key[("hall_sensor", "temperature")][1]["unit_of_measurement"] == "°C"
    assert shown("front_door", "locked", "value_template") == "LOCKED"
    assert shown("garage_door", "position", "position_template") == 0
    assert by_key[("garage_door", "position")][1]["device_class"] == "garage"
    mode = by_key[("heater", "mode")][1]
    assert shown("heater", "mode", "value_template") in mode["options"]
    assert "Fan only" in mode["options"]  # the values' words, not their ids
    attributes = json.loads(shown("alice_phone", "location", "json_attributes_template"))
    assert set(attributes) == {"latitude", "longitude"}
    # buttons for the actions, but none for the lock's and cover's own
    buttons = {key for (d, key), (c, _) in by_key.items() if c == "button"}
    assert {"toggle", "ring"} <= buttons and not {"lock", "unlock", "open", "close"} & buttons


def test_payloads_are_read_by_the_propertys_kind(tmp_path: Path) -> None:
    types = small_space(tmp_path).types
    light = types.get("light").properties
    assert parse_value(light["on"], "ON", "on") is True
    assert parse_value(light["on"], "off", "on") is False
    assert parse_value(light["brightness"], "40", "b") == 40
    assert parse_value(light["brightness"], "40.0", "b") == 40
    assert parse_value(light["brightness"], "140", "b") == 140  # the hub says no, not this
    assert parse_value(light["color_temp"], "2700", "t") == 2700
    assert parse_value(light["color"], "255,128,0", "c") == "#ff8000"
    mode = types.get("climate").properties["mode"]
    assert parse_value(mode, "Fan only", "mode") == "fan"
    assert parse_value(mode, "cool", "mode") == "cool"
    assert value_words(mode)["fan"] == "Fan only"
    for spec, bad in [
        (light["on"], "maybe"),
        (light["brightness"], "bright"),
        (light["brightness"], "nan"),
        (light["color"], "300,0,0"),
        (light["color"], "red"),
    ]:
        with pytest.raises(ValueNotAllowed):
            parse_value(spec, bad, "x")


def test_a_retained_command_is_not_run(tmp_path: Path) -> None:
    """The broker's retained copy of a command, handed over on every connection, would run
    again each time: it is ignored."""
    space = small_space(tmp_path)
    publisher = HaPublisher(space.adapters["ha"], space, None, {}, slug="home")  # type: ignore[arg-type]
    publisher._plan(space)
    topic = publisher.at.set("hall_light", "on")
    message = SimpleNamespace(topic=SimpleNamespace(value=topic), payload=b"ON", retain=True)
    publisher._on_command(message)  # type: ignore[arg-type]
    assert publisher.commands == 0 and not publisher._commands


# -- a running hub ---------------------------------------------------------------------------------


class HomeAssistant:
    """A stand-in Home Assistant: an MQTT client with the adapter's bridge login that keeps
    the last message of every topic under the discovery prefix and the publishing topic
    (`which="devices"`: a device's firmware, with the devices' login)."""

    def __init__(self, hub: Hub, which: str = "bridge") -> None:
        login = bridge_login(CredentialStore(hub.data_dir), hub.space.adapters["ha"], which)
        info = hub.status.info
        kwargs = local_url(info.broker_host, info.broker_port, login).client_kwargs()
        self.seen: dict[str, tuple[bytes, bool]] = {}  # topic → (payload, retained)
        self.times: dict[str, int] = {}  # topic → how many messages came on it
        self._lock = threading.Lock()
        self.loop = LoopThread()
        self.client = FabricClient(kwargs, client_id=f"home-assistant-{id(self):x}")

        async def start() -> None:
            await self.client.subscribe(["homeassistant/#", "hyperhub-ha/#"], self._keep)
            self.client.start()
            await self.client.wait_connected(10)

        self.loop.call(start())

    def _keep(self, message: aiomqtt.Message) -> None:
        payload = message.payload
        assert isinstance(payload, bytes | bytearray)
        with self._lock:
            self.seen[message.topic.value] = (bytes(payload), bool(message.retain))
            self.times[message.topic.value] = self.times.get(message.topic.value, 0) + 1

    def last(self, topic: str) -> bytes | None:
        with self._lock:
            got = self.seen.get(topic)
        return None if got is None else got[0]

    def configs(self) -> dict[str, dict[str, Any]]:
        """The configs it holds now (not the cleared ones)."""
        with self._lock:
            seen = dict(self.seen)
        return {
            t: json.loads(p)
            for t, (p, _) in seen.items()
            if t.startswith("homeassistant/") and t.endswith("/config") and p
        }

    def retained(self, topic: str) -> bool:
        with self._lock:
            return self.seen[topic][1]

    def send(self, topic: str, payload: str | bytes, retain: bool = False) -> None:
        self.loop.call(self.client.publish(topic, payload, retain=retain))

    def close(self) -> None:
        self.loop.call(self.client.close())
        self.loop.close()


@pytest.fixture
def home(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Hub, HomeAssistant]]:
    space = load_space(space_files(tmp_path, allow_risky=getattr(request, "param", False)))
    data_dir = tmp_path / "data"
    for which in ("bridge", "devices"):  # before the broker starts
        bridge_login(CredentialStore(data_dir), space.adapters["ha"], which)
    hub = start_hub(data_dir, space)
    ha = HomeAssistant(hub)
    try:
        yield hub, ha
    finally:
        ha.close()
        hub._stop()


def publisher(hub: Hub) -> HaPublisher:
    assert hub.status.adapters is not None
    return hub.status.adapters.publishers["ha"]


def state(hub: Hub, device: str) -> dict[str, Any]:
    record = None if hub.status.fabric is None else hub.status.fabric.registry.get(device)
    return {} if record is None else dict(record.state)


def on_hub(hub: Hub, coro: Any) -> Any:
    assert hub.loop is not None
    return asyncio.run_coroutine_threadsafe(coro, hub.loop).result(15)


def audit(hub: Hub, device: str) -> list[AuditEntry]:
    with StateStore.open(data_dir=hub.data_dir) as store:
        return [e for e in store.audit_log(device=device) if e.actor == ACTOR]


def every_config(hub: Hub, ha: HomeAssistant) -> dict[str, dict[str, Any]]:
    wanted = set(publisher(hub).configs)

    def complete() -> dict[str, dict[str, Any]] | None:
        got = ha.configs()
        return got if set(got) >= wanted else None

    return wait_until(complete, "every config")


def test_every_device_is_announced_with_its_state_and_availability(
    home: tuple[Hub, HomeAssistant],
) -> None:
    hub, ha = home
    space = hub.space
    at = publisher(hub).at
    configs = every_config(hub, ha)
    for topic, body in configs.items():
        component = topic.split("/")[1]
        assert topic.split("/")[2] == f"hyperhub_{at.slug}"
        assert check_config(component, body) == [], topic
    devices = {
        body["device"]["identifiers"][0].removeprefix(f"hyperhub_{at.slug}_")
        for body in configs.values()
    }
    assert devices == set(space.devices)  # simulated, and bob's phone from the other adapter
    unique = [body["unique_id"] for body in configs.values()]
    assert len(unique) == len(set(unique))
    # what a Home Assistant connecting now is handed: all of it, retained
    late = HomeAssistant(hub)
    try:
        assert set(every_config(hub, late)) == set(configs)
        assert all(late.retained(topic) for topic in configs)
        assert late.last(at.status) == b"online" and late.retained(at.status)
        for device in ("hall_light", "front_door", "hall_sensor"):
            wait_until(lambda d=device: late.last(at.availability(d)) == b"online", "online")
            shown = wait_until(lambda d=device: late.last(at.state(d)), "a state")
            assert json.loads(shown) == state(hub, device)
        assert late.last(at.availability("bob_phone")) == b"offline"  # it never reported
    finally:
        late.close()
    # a config left under this space's node id (a device removed while the hub was down)
    ghost = f"homeassistant/switch/hyperhub_{at.slug}/gone-on/config"
    firmware = HomeAssistant(hub, "devices")  # a device, which may announce itself
    firmware.send(ghost, json.dumps({"name": "Gone", "command_topic": "x"}), retain=True)
    wait_until(lambda: ha.last(ghost) == b"", "the left-over config cleared")
    # Home Assistant restarted: every config again
    light = at.config("light", "hall_light", "on")
    before = ha.times[light]
    ha.send("homeassistant/status", "online")
    wait_until(lambda: ha.times[light] > before, "the light's config published again")
    assert json.loads(ha.last(light) or b"") == configs[light]
    # someone else changed (or cleared) one of HyperHub's configs: it is HyperHub's again
    for tampered in (json.dumps({"name": "Mine now", "command_topic": "x"}), b""):
        before = ha.times[light]
        firmware.send(light, tampered, retain=True)
        wait_until(lambda b=before: ha.times[light] >= b + 2, "changed, then announced again")
        assert json.loads(ha.last(light) or b"") == configs[light]
    firmware.close()
    # Home Assistant's login may read these and send commands, not write configs or states
    forged = {light: json.dumps({"name": "Forged"}), at.state("hall_light"): '{"on": true}'}
    before_times = {t: ha.times.get(t, 0) for t in forged}
    for topic, payload in forged.items():
        ha.send(topic, payload, retain=True)
    ha.send("homeassistant/status", "sentinel")  # after the forged ones, on one connection
    wait_until(lambda: ha.last("homeassistant/status") == b"sentinel", "the sentinel")
    assert {t: ha.times.get(t, 0) for t in forged} == before_times


def test_commands_from_home_assistant_go_through_the_hubs_checks(
    home: tuple[Hub, HomeAssistant],
) -> None:
    hub, ha = home
    at = publisher(hub).at
    light = every_config(hub, ha)[at.config("light", "hall_light", "on")]
    wait_until(lambda: state(hub, "hall_light"), "the light's state")
    assert state(hub, "hall_light")["on"] is False
    ha.send(light["command_topic"], light["payload_on"])
    ha.send(light["brightness_command_topic"], "40")
    wait_until(lambda: state(hub, "hall_light").get("brightness") == 40, "brightness 40")
    assert state(hub, "hall_light")["on"] is True
    shown = wait_until(
        lambda: (
            (s := json.loads(ha.last(at.state("hall_light")) or b"{}")).get("brightness") == 40
            and s
        ),
        "the state topic following",
    )
    assert shown == state(hub, "hall_light")
    assert render(light["brightness_value_template"], {"value_json": shown}) == 40
    # out of range (the hub refuses it, audited) and not a number (dropped here)
    ha.send(light["brightness_command_topic"], "140")
    ha.send(light["brightness_command_topic"], "bright")
    refused = wait_until(
        lambda: [e for e in audit(hub, "hall_light") if e.result == "error"], "the refusal"
    )
    assert refused[0].what == {"property": "brightness", "value": 140}
    assert refused[0].code == "value_not_allowed"
    assert state(hub, "hall_light")["brightness"] == 40
    ha.send(light["rgb_command_topic"], "0,0,255")  # the hub goes on
    wait_until(lambda: state(hub, "hall_light").get("color") == "#0000ff", "the colour")
    wait_until(
        lambda: any(e.what["value"] == "#0000ff" for e in audit(hub, "hall_light")),
        "the colour audited",
    )
    assert state(hub, "hall_light")["brightness"] == 40
    # a risky one without allow_risky: refused, and the audit log says so
    lock = every_config(hub, ha)[at.config("lock", "front_door", "locked")]
    ha.send(lock["command_topic"], lock["payload_unlock"])
    row = wait_until(lambda: audit(hub, "front_door"), "the unlock audited")[0]
    assert (row.what, row.result, row.code) == (
        {"action": "unlock", "args": {}},
        "error",
        "needs_confirmation",
    )
    assert state(hub, "front_door")["locked"] is True


@pytest.mark.parametrize("home", [True], indirect=True)
def test_with_allow_risky_home_assistant_may_unlock(home: tuple[Hub, HomeAssistant]) -> None:
    hub, ha = home
    at = publisher(hub).at
    lock = every_config(hub, ha)[at.config("lock", "front_door", "locked")]
    wait_until(lambda: state(hub, "front_door"), "the lock's state")
    ha.send(lock["command_topic"], lock["payload_unlock"])
    wait_until(lambda: state(hub, "front_door").get("locked") is False, "unlocked")
    wait_until(
        lambda: json.loads(ha.last(at.state("front_door")) or b"{}").get("locked") is False,
        "the state topic unlocked",
    )
    row = wait_until(lambda: audit(hub, "front_door"), "the unlock audited")[0]
    assert (row.what, row.result) == ({"action": "unlock", "args": {}}, "ok")


def test_a_device_that_leaves_the_space_leaves_home_assistant(
    home: tuple[Hub, HomeAssistant],
) -> None:
    hub, ha = home
    at = publisher(hub).at
    configs = every_config(hub, ha)
    bobs = [t for t, body in configs.items() if body["device"]["name"] == "Bob's Phone"]
    assert len(bobs) == 3  # location, battery, and the ring button
    assert "removed device bob_phone" in reject(hub.space, "phones", "bob_phone")
    assert hub.status.adapters is not None
    assert on_hub(hub, hub.status.adapters.reload()) == ([], ["bob_phone"])
    for topic in bobs:
        wait_until(lambda t=topic: ha.last(t) == b"", f"{topic} cleared")
    wait_until(lambda: ha.last(at.availability("bob_phone")) == b"", "its availability cleared")
    assert set(ha.configs()) == set(configs) - set(bobs)


def test_unique_ids_are_the_same_after_a_restart(tmp_path: Path) -> None:
    space = load_space(space_files(tmp_path))
    data_dir = tmp_path / "data"
    bridge_login(CredentialStore(data_dir), space.adapters["ha"])
    runs = []
    for _ in range(2):
        hub = start_hub(data_dir, load_space(space_files(tmp_path)))
        ha = HomeAssistant(hub)
        try:
            runs.append(every_config(hub, ha))
        finally:
            ha.close()
            hub._stop()
    first, second = runs
    assert first == second
    assert sorted(b["unique_id"] for b in first.values()) == sorted(
        b["unique_id"] for b in second.values()
    )
