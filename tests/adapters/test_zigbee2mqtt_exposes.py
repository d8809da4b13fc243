"""Zigbee2MQTT devices onto the vocabulary, from real device definitions
(fixtures/z2m_bridge_devices.json, generated from zigbee-herdsman-converters by
scripts/z2m_fixture) and from made-up exposes of the same shapes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperhub.adapters.colors import (
    hex_to_hs,
    hex_to_xy,
    hs_to_hex,
    kelvin_to_mired,
    mired_to_kelvin,
    xy_to_hex,
)
from hyperhub.adapters.zigbee2mqtt.exposes import NotSupported, Proposal, place, propose, slug
from hyperhub.spec import builtin_types

FIXTURE = json.loads((Path(__file__).parent / "fixtures" / "z2m_bridge_devices.json").read_text())
AREAS = {
    "kitchen": ["Kitchen", "厨房"],
    "bedroom": ["Bedroom"],
    "living_room": ["Living Room"],
    "hall": ["Hallway", "hall"],
    "office": ["Office"],
    "study": ["Study"],
}
TYPES = {t.type: t for t in builtin_types()}


def device(name: str) -> dict[str, Any]:
    return next(d for d in FIXTURE["devices"] if d["friendly_name"] == name)


def proposals(name: str) -> list[Proposal]:
    return propose(device(name), AREAS)


def one(name: str) -> Proposal:
    found = proposals(name)
    assert len(found) == 1, found
    return found[0]


def test_the_fixture_is_real_zigbee2mqtt_data():
    assert FIXTURE["package"] == "zigbee-herdsman-converters"
    assert FIXTURE["version"]
    models = {d["definition"]["model"] for d in FIXTURE["devices"] if d.get("definition")}
    assert {"LED1545G12", "E1757", "WSDCGQ11LM", "ZNCZ04LM"} <= models


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (
            "kitchen/Floor Lamp",
            ("floor_lamp", "Floor Lamp", "kitchen", "light", ("on", "brightness", "color_temp")),
        ),
        ("bedroom/Blind", ("blind", "Blind", "bedroom", "cover", ("position",))),
        (
            "Living Room Climate Sensor",
            (
                "living_room_climate_sensor",
                "Living Room Climate Sensor",
                None,
                "sensor",
                ("battery", "temperature", "humidity", "pressure"),
            ),
        ),
        ("office/desk plug", ("desk_plug", "desk plug", "office", "plug", ("on", "power_w"))),
        (
            "hall/Colour Bulb",
            ("colour_bulb", "Colour Bulb", "hall", "light", ("on", "brightness", "color_temp", "color")),
        ),
        ("Front Door Contact", ("front_door_contact", "Front Door Contact", None, "sensor", ("battery", "contact"))),
        ("hall/Motion Sensor", ("motion_sensor", "Motion Sensor", "hall", "sensor", ("battery", "motion", "illuminance"))),
        ("Bedside Remote", ("bedside_remote", "Bedside Remote", None, "button", ("battery",))),
        ("Back Door Lock", ("back_door_lock", "Back Door Lock", None, "lock", ("locked",))),
        (
            "living room/Radiator",
            ("radiator", "Radiator", "living_room", "climate", ("on", "mode", "target_temp", "current_temp")),
        ),
    ],
)  # fmt: skip
def test_real_devices_map_onto_the_vocabulary(name: str, expected: tuple[Any, ...]):
    p = one(name)
    assert (p.id, p.name, p.area, p.type, p.properties) == expected
    assert p.external.startswith("0x") and "/" not in p.external
    dtype = TYPES[p.type].narrowed({k: list(v) for k, v in p.values.items()})
    assert set(p.properties) <= set(dtype.properties)  # every one a word of the vocabulary
    for prop in p.properties:
        assert p.binding(prop) is not None


def test_every_proposal_of_the_fixture_is_a_valid_accepted_device(tmp_path: Path):
    """What `accept` would write loads as a device of a space, for every real device."""
    from ruamel.yaml import YAML

    from hyperhub.space import load_space

    found = [p for d in FIXTURE["devices"] for p in propose(d, AREAS)]
    assert len(found) >= 12
    space = tmp_path / "home.yaml"
    space.write_text(
        "space: Z\nareas:\n"
        + "".join(f"  - {{id: {a}, name: {n[0]}}}\n" for a, n in AREAS.items())
        + "devices: []\nadapters:\n  - {id: zigbee, kind: zigbee2mqtt}\n"
    )
    entries = [{**p.entry(), "adapter": "zigbee", "external": p.external} for p in found]
    YAML().dump({"devices": entries}, tmp_path / "home.adapters.yaml")
    loaded = load_space(space)
    for p in found:
        assert set(loaded.devices[p.id].properties) == set(p.properties)
        assert loaded.devices[p.id].external == p.external


def test_a_fan_with_a_light_becomes_two_devices():
    fan, light = proposals("Ceiling Fan")
    assert (fan.type, fan.properties, fan.external) == (
        "fan",
        ("on", "speed"),
        "0x00158d000000000b",
    )
    assert (light.type, light.id, light.external) == (
        "light",
        "ceiling_fan_light",
        "0x00158d000000000b/light",
    )
    assert light.binding("on").key == "state" and fan.binding("on").key == "fan_state"


def test_units_convert_both_ways():
    lamp = one("kitchen/Floor Lamp")
    brightness, kelvin, on = (lamp.binding(p) for p in ("brightness", "color_temp", "on"))
    assert brightness.read(254) == 100 and brightness.read(127) == 50
    assert brightness.write(50) == {"brightness": 127}
    assert kelvin.read(250) == 4000 and kelvin.read(454) == 2200
    assert kelvin.write(2700) == {"color_temp": 370}
    assert kelvin.read(100) == 6500  # outside the vocabulary's range: the nearest it has
    assert kelvin.write(6500) == {"color_temp": 250}  # the bulb's coolest: it would clamp
    assert (on.read("ON"), on.read("OFF"), on.read("maybe")) == (True, False, None)
    assert on.write(False) == {"state": "OFF"}
    assert lamp.actions["toggle"] == {"state": "TOGGLE"}


def test_colour_lights_take_and_give_hex_colours():
    color = one("hall/Colour Bulb").binding("color")
    assert color.key == "color"
    assert color.read({"x": 0.6401, "y": 0.33}) == "#ff0000"
    assert color.read({"hue": 240, "saturation": 100}) == "#0000ff"
    payload = color.write("#00ff00")
    assert payload == {"color": {"x": 0.3, "y": 0.6}}
    assert color.read(payload["color"]) == "#00ff00"
    assert color.read("red") is None


def test_locks_and_covers_act_through_their_state():
    lock = one("Back Door Lock")
    locked = lock.binding("locked")
    assert (locked.read("LOCK"), locked.read("UNLOCK")) == (True, False)
    assert lock.actions == {"lock": {"state": "LOCK"}, "unlock": {"state": "UNLOCK"}}
    blind = one("bedroom/Blind")
    assert blind.cls == "blind"
    assert blind.actions == {
        "open": {"state": "OPEN"},
        "close": {"state": "CLOSE"},
        "stop": {"state": "STOP"},
    }
    assert blind.binding("position").write(40) == {"position": 40}


def test_a_thermostat_that_only_heats_cannot_be_switched_off():
    radiator = one("living room/Radiator")
    assert radiator.values == {"mode": ("heat",)}
    on = radiator.binding("on")
    assert on.read("heat") is True and on.write(True) == {"system_mode": "heat"}
    with pytest.raises(NotSupported, match="cannot be switched off"):
        on.write(False)
    target = radiator.binding("target_temp")
    assert target.key == "occupied_heating_setpoint"
    assert target.write(21.5) == {"occupied_heating_setpoint": 21.5}
    assert target.read(35) == 30  # beyond the vocabulary's range: its end
    regulator = one("study/Heating Regulator")
    assert regulator.binding("on").write(False) == {"system_mode": "off"}
    assert regulator.binding("on").read("off") is False


def test_half_percent_batteries_read_as_whole_percent():
    sensor = one("Living Room Climate Sensor")
    assert sensor.binding("battery").read(74.6) == 75
    assert sensor.binding("temperature").read(21.37) == 21.37


def test_a_button_sends_its_actions_as_events():
    remote = one("Bedside Remote")
    assert remote.events == "action"
    assert "linkquality" in remote.unmapped


def test_what_the_vocabulary_has_no_word_for_is_left_out_and_listed():
    plug = one("office/desk plug")
    assert {"energy", "voltage", "current", "linkquality"} <= set(plug.unmapped)
    radiator = one("living room/Radiator")
    assert "pi_heating_demand" not in radiator.properties
    assert {"battery", "action"} <= set(one("Back Door Lock").unmapped)  # left out, said so
    assert "battery" in one("bedroom/Blind").unmapped
    assert len(radiator.unmapped) > 10


def test_the_coordinator_and_disabled_devices_propose_nothing():
    coordinator = FIXTURE["devices"][0]
    assert coordinator["type"] == "Coordinator" and propose(coordinator) == []
    assert propose({**device("bedroom/Blind"), "disabled": True}) == []
    assert propose({**device("bedroom/Blind"), "definition": None}) == []


def _switch(endpoint: str) -> dict[str, Any]:
    return {
        "type": "switch",
        "endpoint": endpoint,
        "features": [
            {
                "type": "binary",
                "name": "state",
                "property": f"state_{endpoint}",
                "access": 7,
                "value_on": "ON",
                "value_off": "OFF",
            }
        ],
    }


def made_up(exposes: list[dict[str, Any]], name: str = "Wall Switch") -> dict[str, Any]:
    return {
        "ieee_address": "0xabc",
        "friendly_name": name,
        "type": "Router",
        "definition": {"model": "X", "vendor": "Y", "description": "", "exposes": exposes},
    }


def test_each_endpoint_of_a_multi_gang_switch_is_a_device():
    left, right = propose(made_up([_switch("l1"), _switch("l2")]))
    assert (left.external, left.id, left.name) == ("0xabc/l1", "wall_switch_l1", "Wall Switch l1")
    assert right.binding("on").key == "state_l2"
    assert "toggle" not in left.actions  # it has no toggle value


def test_a_light_that_cannot_dim_exposes_only_on():
    light = {"type": "light", "features": [_switch("x")["features"][0] | {"property": "state"}]}
    (p,) = propose(made_up([light], "Porch Light"))
    assert (p.type, p.properties) == ("light", ("on",))
    assert p.entry() == {
        "id": "porch_light",
        "type": "light",
        "name": "Porch Light",
        "properties": ["on"],
    }


def test_a_cover_that_only_opens_and_closes_is_left_out():
    cover = {
        "type": "cover",
        "features": [
            {
                "type": "enum",
                "name": "state",
                "property": "state",
                "access": 3,
                "values": ["OPEN", "CLOSE"],
            }
        ],
    }
    assert propose(made_up([cover])) == []


@pytest.mark.parametrize(
    ("friendly", "expected"),
    [
        ("kitchen/Floor Lamp", ("Floor Lamp", "kitchen")),
        ("Floor Lamp", ("Floor Lamp", None)),
        ("home/hallway/ceiling", ("ceiling", "hall")),
        ("厨房/吊灯", ("吊灯", "kitchen")),
        ("garden/Lamp", ("Lamp", None)),
        ("a//b/", ("b", None)),
    ],
)
def test_a_friendly_name_proposes_a_name_and_an_area(friendly: str, expected: tuple[str, Any]):
    assert place(friendly, AREAS) == expected


def test_slugs_and_ids_for_names_without_latin_letters():
    assert slug("Floor Lamp") == "floor_lamp"
    assert slug("  Büro-Licht 2 ") == "b_ro_licht_2"
    assert slug("!!!") == slug("厨房") == ""
    (p,) = propose(made_up([_switch("x")], "厨房/吊灯"))
    assert (p.id, p.name, p.area) == ("switch_abc_x", "吊灯 x", None)


@pytest.mark.parametrize(
    "color", ["#ff0000", "#00ff00", "#0000ff", "#ffffff", "#ffa500", "#ff00ff"]
)
def test_colours_round_trip_through_xy_and_hue_saturation(color: str):
    assert xy_to_hex(*hex_to_xy(color)) == color
    assert hs_to_hex(*hex_to_hs(color)) == color


def test_a_colour_has_no_brightness_in_xy():
    assert xy_to_hex(*hex_to_xy("#800080")) == "#ff00ff"  # the brightest of that purple
    assert xy_to_hex(0.3, 0.0) == "#000000"


def test_mireds_and_kelvin():
    assert mired_to_kelvin(370) == 2700 and kelvin_to_mired(2700) == 370
    assert mired_to_kelvin(0) == 0 and kelvin_to_mired(0) == 0
