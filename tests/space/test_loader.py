"""Space files: loading, YAML 1.2 semantics, and every kind of problem with its line."""

from pathlib import Path

import pytest

from hyperhub.config import demo_space
from hyperhub.errors import SpaceError, UnknownDevice
from hyperhub.space import load_space, parse_space
from hyperhub.spec import builtin_types

GOOD = """\
space: Test flat
location: {lat: 31.2, lon: 121.5}
areas:
  - id: living_room
    name: Living Room
    aliases: [lounge, 客厅]
    floor: ground floor
  - {id: garage, name: Garage}
devices:
  - id: lamp
    type: light
    name: Lamp
    aliases: [台灯]
    area: living_room
    state:
      on: true
      brightness: 40
  - {id: garage_door, type: cover, class: garage, area: garage}
  - {id: thermo, type: sensor, state: {temperature: 21.5}}
  - {id: door_contact, type: sensor, properties: [contact]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpaceError) as err:
        parse_space(text, "s.yaml")
    return err.value.lines


def test_a_good_space_loads_with_areas_devices_and_complete_state():
    space = parse_space(GOOD)
    assert space.name == "Test flat"
    assert space.location is not None and space.location.lat == 31.2
    assert space.areas["living_room"].floor == "ground floor"
    assert space.areas["living_room"].aliases == ("lounge", "客厅")
    lamp = space.device("lamp")
    assert lamp.state == {"on": True, "brightness": 40}
    assert space.device("garage_door").cls == "garage"
    assert space.device("garage_door").name == "Garage Door"


def test_yaml_1_2_keeps_on_as_a_plain_key_and_yes_as_a_string():
    space = parse_space(GOOD)
    assert "on" in space.device("lamp").state
    assert True not in space.device("lamp").state
    lines = problems(GOOD.replace("on: true", "on: yes"))
    assert lines == ["s.yaml:16: lamp.on: 'yes' is not allowed; it must be true or false"]


def test_sensors_expose_only_the_readings_the_space_gives():
    space = parse_space(GOOD)
    assert space.device("thermo").properties == ("temperature",)
    assert space.device("door_contact").properties == ("contact",)
    assert space.device("door_contact").state == {"contact": True}


def test_optional_properties_take_their_default_in_the_property_kind():
    space = parse_space(
        "space: X\nareas: []\ndevices:\n  - {id: lux, type: sensor, properties: [illuminance]}\n"
    )
    value = space.device("lux").state["illuminance"]
    assert value == 300 and isinstance(value, float)


def test_lights_are_tunable_or_coloured_only_where_the_space_says_so():
    space = parse_space(
        "space: X\nareas: []\ndevices:\n  - {id: plain, type: light}\n"
        "  - {id: strip, type: light, state: {color: '#FF0000'}}\n"
    )
    assert space.device("plain").properties == ("on", "brightness")
    assert space.device("strip").properties == ("on", "brightness", "color")
    assert space.device("strip").state["color"] == "#ff0000"


def test_a_device_may_take_fewer_named_values_than_its_type():
    space = parse_space(
        "space: X\nareas: []\ndevices:\n"
        "  - {id: heater, type: climate, values: {mode: [heat], fan_speed: [auto]}}\n"
        "  - {id: ac, type: climate}\n"
    )
    heater = space.device("heater")
    assert heater.dtype.properties["mode"].values == ("heat",)
    assert heater.state["mode"] == "heat"  # the type's default (auto) is not allowed here
    assert space.device("ac").dtype.properties["mode"].values == (
        "cool",
        "heat",
        "auto",
        "dry",
        "fan",
    )


@pytest.mark.parametrize(
    ("values", "problem"),
    [
        ("{mode: [cool, freeze]}", "mode can only be narrowed to some of cool, heat, auto, dry, fan; not 'freeze'"),
        ("{mode: []}", "mode can only be narrowed to some of cool, heat, auto, dry, fan; none were given"),
        ("{target_temp: [20]}", "only a property with named values can be narrowed; target_temp is a number"),
        ("{colour: [red]}", "has no property 'colour'"),
        ("[heat]", "`values` must map a property to a list of its values"),
    ],
)  # fmt: skip
def test_a_narrowing_that_is_not_one_is_refused_with_its_line(values, problem):
    lines = problems(
        f"space: X\nareas: []\ndevices:\n  - {{id: heater, type: climate, values: {values}}}\n"
    )
    assert len(lines) == 1 and lines[0].startswith("s.yaml:4: ") and problem in lines[0], lines


def test_a_state_outside_the_narrowed_values_is_refused():
    lines = problems(
        "space: X\nareas: []\ndevices:\n"
        "  - {id: heater, type: climate, values: {mode: [heat]}, state: {mode: cool}}\n"
    )
    assert any("'cool' is not allowed; it must be one of heat" in line for line in lines), lines


def test_every_problem_is_listed_with_its_line():
    bad = """\
space: Bad
areas:
  - {id: hall, name: Hall}
  - {id: hall, name: Hall again}
  - {id: Big-Room}
devices:
  - id: l1
    type: light
    area: attic
    state: {brightness: 150, flux: 3}
  - id: l1
    type: light
  - id: t1
    type: toaster
  - type: light
  - id: g1
    type: cover
  - {id: l2, type: light, colour: red}
"""
    assert problems(bad) == [
        "s.yaml:4: duplicate area id 'hall' (first defined on line 3)",
        "s.yaml:5: bad area id 'Big-Room': use only a-z, 0-9 and _",
        "s.yaml:9: device l1: unknown area 'attic'; areas: hall",
        "s.yaml:10: l1.brightness: 150 is not allowed; it must be an integer from 0 to 100 %",
        "s.yaml:10: device l1 (light) has no property 'flux'; it has: brightness, color, color_temp, on",
        "s.yaml:11: duplicate device id 'l1' (first defined on line 7)",
        "s.yaml:14: device t1: unknown type 'toaster'; known types: "
        + ", ".join(builtin_types().names()),
        "s.yaml:15: device without `id`",
        "s.yaml:16: device g1: missing field `class` for a cover; one of: curtain, blind, garage, gate, window, door",
        "s.yaml:18: unknown key 'colour' in a device; expected one of: id, type, name, aliases, area, class, values, state, properties, route",
    ]


def test_yaml_syntax_error_names_the_line():
    lines = problems("space: X\nareas: [\ndevices: []\n")
    assert len(lines) == 1
    assert lines[0].startswith("s.yaml:3: YAML syntax error: expected ',' or ']'")
    assert lines[0].endswith("(while parsing a flow sequence on line 2)")


def test_duplicate_yaml_keys_are_refused():
    lines = problems("space: X\nspace: Y\nareas: []\ndevices: []\n")
    assert len(lines) == 1 and "duplicate key" in lines[0]


def test_missing_top_level_fields_are_named():
    assert problems("areas: []\n") == [
        "s.yaml:1: missing field `space`: the space's name (text)",
        "s.yaml:1: missing field `devices`: a list of devices",
    ]


def test_a_file_that_is_not_a_mapping_is_refused():
    assert problems("- just\n- a list\n") == [
        "s.yaml:1: a space file must be a mapping with `space`, `areas` and `devices`"
    ]


def test_bad_location_and_route_are_refused():
    bad = """\
space: X
location: {lat: 100, lon: 0}
areas: []
devices:
  - id: lamp
    type: light
    route: {waypoints: [{lat: 1, lon: 1}, {lat: 2, lon: 2}]}
  - id: car
    type: car
    route: {waypoints: [{lat: 1, lon: 1}], speed_kmh: -3}
"""
    assert problems(bad) == [
        "s.yaml:2: `location` must be {lat: -90..90, lon: -180..180}, got {'lat': 100, 'lon': 0}",
        "s.yaml:7: device lamp: a light has no `location`, so it cannot have a route",
        "s.yaml:10: device car: route `speed_kmh` must be a number from 0 to 400",
        "s.yaml:10: device car: a route needs at least two waypoints",
    ]


def test_a_route_is_read_for_devices_with_a_location():
    space = parse_space(
        "space: X\nareas: []\ndevices:\n  - id: car\n    type: car\n"
        "    route: {waypoints: [{lat: 1, lon: 1}, {lat: 1.1, lon: 1}], speed_kmh: 30}\n"
    )
    route = space.device("car").route
    assert route is not None and len(route.waypoints) == 2 and route.speed_kmh == 30


def test_read_only_properties_may_be_given_as_initial_readings():
    space = parse_space(
        "space: X\nareas: []\ndevices:\n  - {id: car, type: car, state: {battery_soc: 55}}\n"
    )
    assert space.device("car").state["battery_soc"] == 55


def test_load_space_reports_unreadable_and_non_utf8_files(tmp_path: Path):
    with pytest.raises(SpaceError, match="cannot read the file"):
        load_space(tmp_path / "missing.yaml")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"\xff\xfe\x00space")
    with pytest.raises(SpaceError, match="not UTF-8"):
        load_space(binary)


def test_unknown_device_suggests_a_close_id():
    space = parse_space(GOOD)
    with pytest.raises(
        UnknownDevice, match="no device 'lmap' in space 'Test flat'; did you mean 'lamp'"
    ):
        space.device("lmap")


def test_select_filters_by_area_type_and_floor():
    space = parse_space(GOOD)
    assert [d.id for d in space.select(area="living_room")] == ["lamp"]
    assert [d.id for d in space.select(type="sensor")] == ["thermo", "door_contact"]
    assert [d.id for d in space.select(floor="ground floor")] == ["lamp"]


def test_demo_space_is_rich_and_valid():
    space = load_space(demo_space())
    assert len(space.devices) >= 30
    assert len(space.areas) >= 6
    assert {t.type for t in builtin_types()} <= {d.type for d in space.devices.values()}
    assert any(any(ord(c) > 0x3000 for c in a) for d in space.devices.values() for a in d.aliases)


def test_ids_the_topic_layout_uses_are_refused_as_device_ids():
    assert problems("space: X\nareas: []\ndevices:\n  - {id: discovery, type: switch}\n") == [
        "s.yaml:4: device id 'discovery' is reserved by the fabric's topic layout"
    ]


DEEP_FILES = {
    "brackets": "space: x\nareas: " + "[" * 30000 + "]" * 30000 + "\n",
    "braces": "space: x\nareas: " + "{a: " * 20000 + "}" * 20000 + "\n",
    "dashes": "space: x\nareas:\n" + "- " * 30000 + "x\n",
}


@pytest.mark.parametrize("kind", sorted(DEEP_FILES))
def test_deep_nesting_is_a_located_problem_not_a_crash(kind: str, tmp_path: Path) -> None:
    """60 kB of brackets used to overflow ruamel's C parser's stack: `hyperhub check` died
    with SIGSEGV (exit 139) and no message. Run as a process: a crash must not take pytest."""
    import subprocess
    import sys

    path = tmp_path / "deep.yaml"
    path.write_text(DEEP_FILES[kind])
    proc = subprocess.run(
        [sys.executable, "-m", "hyperhub", "check", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-500:])
    lines = proc.stderr.strip().splitlines()
    assert lines == [
        f"{path}:{2 if kind != 'dashes' else 3}: the file nests more than 100 levels deep"
    ]


def test_nesting_that_real_files_use_is_fine() -> None:
    text = (
        "space: x\nareas:\n  - {id: a, name: A, aliases: ['[', \"{{\"]}  # [[[[\n"
        "devices:\n  - id: l\n    type: light\n    name: see [docs [[[[[[[\n    area: a\n"
    )
    space = parse_space(text)
    assert space.devices["l"].name == "see [docs [[[[[[["
