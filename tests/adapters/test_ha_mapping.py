"""Home Assistant entities onto the vocabulary: one HyperHub device per HA device where the
vocabulary allows it, values read through payloads and value templates (in the sandbox),
commands written with payloads and command templates. Configs in the shape of Home
Assistant's MQTT documentation examples."""

from __future__ import annotations

import json
from typing import Any

from hyperhub.adapters.ha_discovery.config import Entity, read
from hyperhub.adapters.ha_discovery.mapping import group, propose


def entity(component: str, object_id: str, config: dict[str, Any]) -> Entity:
    (found,) = read("homeassistant", f"homeassistant/{component}/{object_id}/config",
                    json.dumps(config).encode())  # fmt: skip
    assert isinstance(found, Entity)
    return found


PLUG_DEVICE = {
    "ids": ["plug01"],
    "name": "Desk Plug",
    "mf": "Shelly",
    "mdl": "Plug S",
    "sa": "Office",
}


def test_a_switch_with_a_power_sensor_of_the_same_device_is_a_plug() -> None:
    switch = entity("switch", "plug01", {
        "name": None, "uniq_id": "plug01_relay", "stat_t": "shellies/plug01/relay/0",
        "cmd_t": "shellies/plug01/relay/0/command", "pl_on": "on", "pl_off": "off",
        "dev": PLUG_DEVICE,
    })  # fmt: skip
    power = entity("sensor", "plug01_power", {
        "uniq_id": "plug01_power", "dev_cla": "power", "unit_of_meas": "W",
        "stat_t": "shellies/plug01/relay/0/power", "dev": PLUG_DEVICE,
    })  # fmt: skip
    (groups,) = group([switch, power])
    (plug,) = propose(groups, {"office": ["Office"]})
    assert (plug.type, plug.id, plug.name, plug.area, plug.properties) == (
        "plug", "desk_plug", "Desk Plug", "office", ("on", "power_w"),
    )  # fmt: skip
    assert (plug.vendor, plug.model, plug.external) == ("Shelly", "Plug S", "plug01_relay")
    on = plug.binding("on")
    assert (on.read(b"on"), on.read(b"off"), on.read(b"maybe")) == (True, False, None)
    assert on.write(True) == ("shellies/plug01/relay/0/command", "on")
    assert plug.binding("power_w").read(b"41.5") == 41.5


def test_a_door_sensor_is_closed_when_home_assistant_says_off() -> None:
    door = entity("binary_sensor", "front", {
        "name": "Front Door", "dev_cla": "door", "stat_t": "home/front/contact",
        "pl_on": "open", "pl_off": "closed",
    })  # fmt: skip
    motion = entity("binary_sensor", "hall", {
        "name": "Hall Motion", "dev_cla": "motion", "stat_t": "home/hall/motion",
    })  # fmt: skip
    (front,) = propose([door])
    contact = front.binding("contact")
    assert (front.type, contact.read("closed"), contact.read("open")) == ("sensor", True, False)
    (hall,) = propose([motion])
    assert hall.binding("motion").read("ON") is True


def test_a_sensor_reads_its_value_through_its_template_in_the_sandbox() -> None:
    temp = entity("sensor", "bedroomT", {
        "dev_cla": "temperature", "stat_t": "homeassistant/sensor/sensorBedroom/state",
        "unit_of_meas": "°C", "val_tpl": "{{ value_json.temperature }}", "uniq_id": "temp01ae",
        "dev": {"ids": ["bedroom01ae"], "name": "Bedroom"},
    })  # fmt: skip
    hum = entity("sensor", "bedroomH", {
        "dev_cla": "humidity", "stat_t": "homeassistant/sensor/sensorBedroom/state",
        "val_tpl": "{{ value_json.humidity }}", "uniq_id": "temp01ae_h",
        "dev": {"ids": ["bedroom01ae"], "name": "Bedroom"},
    })  # fmt: skip
    (sensor,) = propose([temp, hum])
    assert (sensor.type, sensor.properties) == ("sensor", ("temperature", "humidity"))
    state = b'{"temperature": 23.2, "humidity": 43.7}'
    assert sensor.binding("temperature").read(state) == 23.2
    assert sensor.binding("humidity").read(state) == 43.7
    assert sensor.binding("temperature").read(b"not json") is None  # dropped, no crash
    hostile = entity("sensor", "evil", {
        "dev_cla": "temperature", "stat_t": "x",
        "val_tpl": "{% for i in range(99999) %}{% for j in range(99999) %}{% endfor %}{% endfor %}{{ 1 }}",
    })  # fmt: skip
    assert propose([hostile])[0].binding("temperature").read(b"{}") is None  # bounded


def test_lights_in_the_default_and_the_json_schema() -> None:
    plain = entity("light", "desk", {
        "name": "Desk Lamp", "cmd_t": "desk/set", "stat_t": "desk/state",
        "bri_cmd_t": "desk/bri/set", "bri_stat_t": "desk/bri", "bri_scl": 100,
    })  # fmt: skip
    (desk,) = propose([plain])
    assert (desk.type, desk.properties) == ("light", ("on", "brightness"))
    assert desk.binding("brightness").write(40) == ("desk/bri/set", "40")
    assert desk.binding("brightness").read("55") == 55
    js = entity("light", "kitchen", {
        "~": "homeassistant/light/kitchen", "name": "Kitchen", "uniq_id": "kitchen_light",
        "cmd_t": "~/set", "stat_t": "~/state", "schema": "json", "brightness": True,
    })  # fmt: skip
    (kitchen,) = propose([js])
    assert kitchen.properties == ("on", "brightness")
    assert kitchen.binding("on").read(b'{"state": "ON", "brightness": 255}') is True
    assert kitchen.binding("brightness").read(b'{"state": "ON", "brightness": 128}') == 50
    topic, payload = kitchen.binding("brightness").write(50)
    assert topic == "homeassistant/light/kitchen/set"
    assert json.loads(payload) == {"state": "ON", "brightness": 128}


def test_a_lock_and_a_cover() -> None:
    lock = entity("lock", "back", {
        "name": "Back Door", "stat_t": "back/lock", "cmd_t": "back/lock/set",
        "pl_lock": "LOCK", "pl_unlk": "UNLOCK", "stat_locked": "LOCKED",
        "stat_unlocked": "UNLOCKED",
    })  # fmt: skip
    (back,) = propose([lock])
    assert (back.type, back.binding("locked").read("UNLOCKED")) == ("lock", False)
    assert back.actions == {"lock": {"set": {"locked": True}}, "unlock": {"set": {"locked": False}}}
    locked = back.binding("locked")  # an open (or opening) lock is not locked; jammed is said
    assert (locked.read("OPEN"), locked.read("LOCKING"), locked.is_jammed("JAMMED")) == (
        False, None, True,
    )  # fmt: skip
    cover = entity("cover", "garage", {
        "name": "Garage Door", "dev_cla": "garage", "cmd_t": "garage/set",
        "pos_t": "garage/pos", "set_pos_t": "garage/pos/set",
    })  # fmt: skip
    (garage,) = propose([cover])
    assert (garage.type, garage.cls, garage.properties) == ("cover", "garage", ("position",))
    assert garage.actions["open"] == {"topic": "garage/set", "payload": "OPEN"}
    assert propose([entity("cover", "x", {"cmd_t": "x/set"})]) == []  # no position: left out


def test_a_device_with_a_light_and_a_switch_becomes_two_named_after_it() -> None:
    dev = {"ids": "garden01", "name": "Garden"}
    light = entity("light", "g_light", {"cmd_t": "g/l/set", "dev": dev})
    switch = entity("switch", "g_pump", {"cmd_t": "g/p/set", "dev": dev})
    lone = entity("switch", "lone", {"name": "Lone", "cmd_t": "lone/set"})
    groups = group([light, switch, lone])
    assert [len(g) for g in groups] == [2, 1]
    first, second = propose(groups[0])
    assert (first.id, first.name, first.external) == (
        "garden_light",
        "Garden light",
        "light/g_light",  # its own entity: whatever else the device gains
    )
    assert (second.id, second.type) == ("garden_switch", "switch")
    (alone,) = propose(groups[1])
    assert (alone.id, alone.external) == ("lone", "switch/lone")


def test_a_climate_and_a_fan() -> None:
    hvac = entity("climate", "study", {
        "name": "Study AC", "modes": ["off", "heat_cool", "cool", "fan_only"],
        "mode_cmd_t": "study/mode/set", "mode_stat_t": "study/mode",
        "temp_cmd_t": "study/temp/set", "temp_stat_t": "study/temp",
        "curr_temp_t": "study/current",
    })  # fmt: skip
    (ac,) = propose([hvac])
    assert (ac.type, ac.properties) == ("climate", ("on", "mode", "target_temp", "current_temp"))
    assert ac.values == {"mode": ("auto", "cool", "fan")}
    assert (ac.binding("on").read("cool"), ac.binding("on").read("off")) == (True, False)
    assert ac.binding("mode").read("heat_cool") == "auto"
    assert ac.binding("mode").write("auto") == ("study/mode/set", "heat_cool")  # its own word
    assert ac.binding("on").write(False) == ("study/mode/set", "off")
    assert ac.binding("target_temp").write(22.5) == ("study/temp/set", "22.5")
    blower = entity("fan", "ceiling", {
        "name": "Ceiling Fan", "cmd_t": "fan/set", "stat_t": "fan/state",
        "pct_cmd_t": "fan/pct/set", "pct_stat_t": "fan/pct", "osc_cmd_t": "fan/osc/set",
        "osc_stat_t": "fan/osc",
    })  # fmt: skip
    (fan,) = propose([blower])
    assert fan.properties == ("on", "speed", "oscillate")
    assert fan.binding("speed").write(40) == ("fan/pct/set", "40")
    assert fan.binding("oscillate").read("oscillate_on") is True


def test_colour_temperature_and_rgb_in_both_light_schemas() -> None:
    plain = entity("light", "bulb", {
        "name": "Bulb", "cmd_t": "b/set", "stat_t": "b/state",
        "clr_temp_cmd_t": "b/ct/set", "clr_temp_stat_t": "b/ct",
        "rgb_cmd_t": "b/rgb/set", "rgb_stat_t": "b/rgb",
    })  # fmt: skip
    (bulb,) = propose([plain])
    assert bulb.properties == ("on", "color_temp", "color")
    assert bulb.binding("color_temp").read("250") == 4000  # mireds → K
    assert bulb.binding("color_temp").write(2500) == ("b/ct/set", "400")
    assert bulb.binding("color").read("255,128,0") == "#ff8000"
    assert bulb.binding("color").write("#00ff80") == ("b/rgb/set", "0,255,128")
    assert bulb.binding("color").read("300,0,0") is None  # out of range: says nothing
    js = entity("light", "strip", {
        "name": "Strip", "schema": "json", "cmd_t": "s/set", "stat_t": "s",
        "sup_clrm": ["color_temp", "rgb"], "color_temp_kelvin": True,
    })  # fmt: skip
    (strip,) = propose([js])
    assert strip.properties == ("on", "brightness", "color_temp", "color")
    report = b'{"state": "ON", "color_temp": 3000, "color": {"r": 0, "g": 0, "b": 255}}'
    assert strip.binding("color_temp").read(report) == 3000
    assert strip.binding("color").read(report) == "#0000ff"
    assert json.loads(strip.binding("color_temp").write(2700)[1]) == {
        "state": "ON",
        "color_temp": 2700,
    }
    assert json.loads(strip.binding("color").write("#ff0000")[1]) == {
        "state": "ON", "color": {"r": 255, "g": 0, "b": 0},
    }  # fmt: skip


def test_units_become_hyperhubs_and_a_thermostat_in_fahrenheit_is_set_in_fahrenheit() -> None:
    outdoor = entity("sensor", "out", {"dev_cla": "temperature", "stat_t": "o",
                                       "unit_of_meas": "°F"})  # fmt: skip
    assert propose([outdoor])[0].binding("temperature").read("212") == 100.0
    baro = entity("sensor", "baro", {"dev_cla": "pressure", "stat_t": "p", "unit_of_meas": "Pa"})
    assert propose([baro])[0].binding("pressure").read("101325") == 1013.25
    hvac = entity("climate", "den", {
        "temp_cmd_t": "den/t/set", "temp_stat_t": "den/t", "temperature_unit": "F",
        "fan_mode_cmd_t": "den/fan/set", "fan_modes": ["auto", "low", "high", "turbo"],
    })  # fmt: skip
    (den,) = propose([hvac])
    assert den.binding("target_temp").read("68") == 20.0
    assert den.binding("target_temp").write(20) == ("den/t/set", "68.0")
    assert den.values["fan_speed"] == ("auto", "low", "high")  # turbo: no word for it
    assert den.binding("fan_speed").read("turbo") is None
    assert den.binding("fan_speed").optimistic  # no state topic: a command is taken as done


def test_attributes_add_readings_and_two_relays_are_named_after_their_entities() -> None:
    dev = {"ids": ["frontlock"], "name": "Front Lock"}
    lock = entity("lock", "front", {"cmd_t": "f/set", "stat_t": "f/state",
                                    "json_attr_t": "f/attrs", "uniq_id": "front_lock",
                                    "dev": dev})  # fmt: skip
    (alone,) = propose([lock])
    assert alone.type == "lock"  # its attributes not seen yet
    lock_part, battery = propose([lock], attributes={"front_lock": {"battery": 87, "rssi": -60}})
    assert (lock_part.id, battery.type, battery.properties) == (
        "front_lock_lock",
        "sensor",
        ("battery",),
    )
    assert battery.binding("battery").read(b'{"battery": 86, "rssi": -61}') == 86
    assert battery.sources == ("front_lock",)
    relays = {"ids": "dual1", "name": "Dual Relay"}
    one = entity("switch", "r1", {"name": "Pump", "cmd_t": "d/1/set", "dev": relays})
    two = entity("switch", "r2", {"name": "Heater", "cmd_t": "d/2/set", "dev": relays})
    pump, heater = propose([one, two])
    assert (pump.id, pump.name, heater.id, heater.external) == (
        "dual_relay_pump", "Dual Relay Pump", "dual_relay_heater", "switch/r2",
    )  # fmt: skip
    assert pump.binding("on").optimistic and pump.binding("on").write(True) == ("d/1/set", "ON")


def test_a_parts_external_id_stays_when_its_device_gains_entities_or_attributes() -> None:
    dev = {"ids": ["plug9"], "name": "Plug"}
    relay = entity("switch", "p9", {"uniq_id": "p9_relay", "cmd_t": "p9/set", "dev": dev,
                                    "json_attr_t": "p9/attrs"})  # fmt: skip
    (alone,) = propose([relay])
    temp = entity("sensor", "p9t", {"uniq_id": "p9_temp", "dev_cla": "temperature",
                                    "stat_t": "p9/t", "dev": dev})  # fmt: skip
    plug, sensor = propose([relay, temp], attributes={"p9_relay": {"battery": 80}})
    assert alone.external == plug.external == "p9_relay"
    assert sensor.external == "plug9/sensor" and sensor.properties == ("temperature", "battery")


def test_covers_fans_and_colour_temperature_in_the_devices_own_terms() -> None:
    cover = entity("cover", "awning", {
        "cmd_t": "a/set", "pos_t": "a/pos", "set_pos_t": "a/pos/set", "pos_open": 0,
        "pos_clsd": 255, "pl_stop": None, "set_pos_tpl": '{"pos": {{ position }}}',
    })  # fmt: skip
    (awning,) = propose([cover])
    position = awning.binding("position")
    assert (position.read("0"), position.read("255"), position.read("128")) == (100, 0, 50)
    assert position.write(100) == ("a/pos/set", '{"pos": 0}')
    assert set(awning.actions) == {"open", "close"}  # payload_stop null: it cannot stop
    blower = entity("fan", "f3", {"cmd_t": "f/set", "pct_cmd_t": "f/pct/set",
                                  "pct_stat_t": "f/pct", "spd_rng_min": 1, "spd_rng_max": 3})  # fmt: skip
    speed = propose([blower])[0].binding("speed")
    assert [speed.write(p)[1] for p in (10, 40, 50, 80, 100)] == ["1", "2", "2", "3", "3"]
    assert [speed.read(x) for x in ("1", "2", "3")] == [33, 67, 100]
    assert speed.nearest(40) == 67 and speed.confirmed_by(40, 67)
    bulb = entity("light", "ct", {"cmd_t": "c/set", "clr_temp_cmd_t": "c/ct/set",
                                  "min_mirs": 153, "max_mirs": 370,
                                  "rgb_cmd_t": "c/rgb/set",
                                  "rgb_cmd_tpl": "{{ '#%02x%02x%02x' | format(red, green, blue) }}"})  # fmt: skip
    (lamp,) = propose([bulb])
    assert lamp.binding("color_temp").nearest(2000) == 2700  # its warmest is 370 mireds
    assert lamp.binding("color").write("#ff8000") == ("c/rgb/set", "#ff8000")
    hvac = entity("climate", "modes_only", {"mode_cmd_t": "m/set", "modes": ["off", "cool"]})
    assert propose([hvac])[0].properties == ("on", "mode")  # no temperature topic: no target


def test_broken_options_do_not_break_the_mapping() -> None:
    odd = [
        entity("light", "a", {"cmd_t": "a/set", "bri_cmd_t": "a/b", "bri_scl": "max"}),
        entity("fan", "b", {"cmd_t": "b/set", "pct_cmd_t": "b/p", "spd_rng_max": "x"}),
        entity("climate", "c", {"mode_cmd_t": "c/m", "modes": 5, "fan_modes": {"a": 1}}),
        entity("light", "d", {"schema": "json", "cmd_t": "d/set", "sup_clrm": [{}, "rgb"]}),
    ]
    made = [p for e in odd for p in propose([e])]
    assert [p.type for p in made] == ["light", "fan", "climate", "light"]
    assert made[0].binding("brightness").write(100) == ("a/b", "255")  # the default scale


def test_what_has_no_word_is_listed_with_the_device() -> None:
    dev = {"ids": ["plug7"], "name": "Plug 7"}
    relay = entity("switch", "p7", {"uniq_id": "p7_relay", "cmd_t": "p7/set", "dev": dev})
    volts = entity("sensor", "p7v", {"uniq_id": "p7_v", "name": "Voltage", "dev_cla": "voltage",
                                     "stat_t": "p7/v", "dev": dev})  # fmt: skip
    (plug,) = propose([relay, volts])
    assert plug.unmapped == ("sensor Voltage",)
