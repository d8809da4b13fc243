"""The capability model: built-in types, value checks, risk rules."""

import pytest

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec import builtin_types, parse_text, parse_type
from hyperhub.spec.policy import Command, is_risky

VOCABULARY = {
    "light": {"on", "brightness", "color_temp", "color"},
    "switch": {"on"},
    "plug": {"on", "power_w"},
    "climate": {"on", "mode", "target_temp", "fan_speed", "current_temp"},
    "fan": {"on", "speed", "oscillate"},
    "air_purifier": {"on", "speed", "pm25"},
    "cover": {"position"},
    "lock": {"locked"},
    "vacuum": {"status", "battery"},
    "media_player": {"on", "volume", "muted", "playing", "source"},
    "sensor": {"temperature", "humidity", "motion", "contact", "illuminance", "pm25"},
    "car": {
        "locked",
        "hvac_on",
        "cabin_target_temp",
        "cabin_temp",
        "trunk_open",
        "windows_position",
        "charging",
        "charge_limit",
        "battery_soc",
        "range_km",
        "location",
        "speed_kmh",
        "gear",
    },
    "phone": {"location", "battery", "dnd", "ringer"},
    "wearable": {"heart_rate", "steps", "sleeping"},
    "robot_dog": {"posture", "mode", "battery"},
}
ACTIONS = {
    "light": {"toggle"},
    "switch": {"toggle"},
    "plug": {"toggle"},
    "cover": {"open", "close", "stop"},
    "lock": {"lock", "unlock"},
    "vacuum": {"start", "pause", "dock"},
    "media_player": {"play", "pause", "next", "previous"},
    "car": {"lock", "unlock", "honk", "flash_lights"},
    "phone": {"ring", "notify"},
    "wearable": {"notify"},
    "robot_dog": {"stand", "sit", "lie_down", "follow", "patrol", "dock", "stop"},
}
READ_ONLY = {
    ("button", "battery"),
    ("plug", "power_w"),
    ("climate", "current_temp"),
    ("air_purifier", "pm25"),
    ("vacuum", "status"),
    ("vacuum", "battery"),
    ("media_player", "playing"),
    ("car", "cabin_temp"),
    ("car", "battery_soc"),
    ("car", "range_km"),
    ("car", "location"),
    ("car", "speed_kmh"),
    ("car", "gear"),
    ("phone", "location"),
    ("phone", "battery"),
    ("wearable", "heart_rate"),
    ("wearable", "steps"),
    ("wearable", "sleeping"),
    ("robot_dog", "posture"),
    ("robot_dog", "mode"),
    ("robot_dog", "battery"),
}


def test_every_vocabulary_type_ships_with_its_properties_and_actions():
    types = builtin_types()
    for name, props in VOCABULARY.items():
        assert props <= set(types.get(name).properties), name
    for name, actions in ACTIONS.items():
        assert actions == set(types.get(name).actions), name


def test_read_only_properties_follow_the_vocabulary():
    types = builtin_types()
    for dtype in types:
        for prop in dtype.properties.values():
            if dtype.type == "sensor":
                assert not prop.writable
            else:
                assert prop.writable == ((dtype.type, prop.name) not in READ_ONLY), (
                    dtype.type,
                    prop.name,
                )


@pytest.mark.parametrize(
    ("type_", "prop", "low", "high"),
    [
        ("light", "brightness", 0, 100),
        ("light", "color_temp", 2000, 6500),
        ("climate", "target_temp", 16, 30),
        ("car", "charge_limit", 50, 100),
        ("media_player", "volume", 0, 100),
        ("cover", "position", 0, 100),
        ("fan", "speed", 0, 100),
    ],
)
def test_ranges_match_the_vocabulary(type_, prop, low, high):
    spec = builtin_types().get(type_).properties[prop]
    assert (spec.min, spec.max) == (low, high)
    spec.check(low, "x")
    spec.check(high, "x")
    with pytest.raises(ValueNotAllowed):
        spec.check(high + 1, "x")
    with pytest.raises(ValueNotAllowed):
        spec.check(low - 1, "x")


def test_out_of_range_error_names_device_property_value_and_range():
    light = builtin_types().get("light")
    with pytest.raises(ValueNotAllowed) as err:
        light.check_write("brightness", 150, "kitchen_light")
    assert str(err.value) == (
        "kitchen_light.brightness: 150 is not allowed; it must be an integer from 0 to 100 %"
    )


def test_read_only_write_is_refused_by_name():
    with pytest.raises(ValueNotAllowed, match=r"car\.battery_soc is read-only"):
        builtin_types().get("car").check_write("battery_soc", 50, "car")


def test_unknown_property_lists_what_the_type_has():
    with pytest.raises(SpecError, match=r"device fan1 \(fan\) has no property 'colour'; it has: "):
        builtin_types().get("fan").check_write("colour", 1, "fan1")


def test_booleans_are_not_numbers_and_numbers_are_not_booleans():
    light = builtin_types().get("light")
    with pytest.raises(ValueNotAllowed):
        light.check_write("brightness", True)
    with pytest.raises(ValueNotAllowed):
        light.check_write("on", 1)


def test_integral_floats_become_ints_and_fractions_are_refused_for_ints():
    light = builtin_types().get("light")
    assert light.check_write("brightness", 40.0) == 40
    assert isinstance(light.check_write("brightness", 40.0), int)
    with pytest.raises(ValueNotAllowed):
        light.check_write("brightness", 40.5)


def test_enum_colour_and_nan_checks():
    types = builtin_types()
    assert types.get("climate").check_write("mode", "heat") == "heat"
    with pytest.raises(ValueNotAllowed, match="one of cool, heat, auto, dry, fan"):
        types.get("climate").check_write("mode", "turbo")
    assert types.get("light").check_write("color", "#FF8800") == "#ff8800"
    with pytest.raises(ValueNotAllowed):
        types.get("light").check_write("color", "orange")
    with pytest.raises(ValueNotAllowed):
        types.get("climate").check_write("target_temp", float("nan"))


def test_location_needs_lat_and_lon_in_range():
    car = builtin_types().get("car")
    spec = car.properties["location"]
    assert spec.check({"lat": 39.9, "lon": 116}, "car.location") == {"lat": 39.9, "lon": 116.0}
    for bad in ({"lat": 91, "lon": 0}, {"lat": 1}, [1, 2], {"lat": True, "lon": 0}):
        with pytest.raises(ValueNotAllowed):
            spec.check(bad, "car.location")


def test_risky_writes_and_actions_follow_the_design():
    types = builtin_types()
    lock, car, cover = types.get("lock"), types.get("car"), types.get("cover")
    assert is_risky(lock, None, Command("l", "locked", False))
    assert not is_risky(lock, None, Command("l", "locked", True))
    assert is_risky(lock, None, Command("l", action="unlock"))
    assert not is_risky(lock, None, Command("l", action="lock"))
    assert is_risky(car, None, Command("c", action="unlock"))
    assert is_risky(car, None, Command("c", "trunk_open", True))
    assert not is_risky(car, None, Command("c", "trunk_open", False))
    for cls in ("garage", "gate", "door"):
        assert is_risky(cover, cls, Command("c", action="open"))
        assert is_risky(cover, cls, Command("c", "position", 30))
        assert not is_risky(cover, cls, Command("c", "position", 0))
    for cls in ("curtain", "blind", "window"):
        assert not is_risky(cover, cls, Command("c", action="open"))
        assert not is_risky(cover, cls, Command("c", "position", 100))


def test_action_arguments_are_checked():
    phone = builtin_types().get("phone")
    assert phone.check_args("notify", {"message": "hi"}, "phone") == {"message": "hi"}
    with pytest.raises(ValueNotAllowed, match="missing argument 'message'"):
        phone.check_args("notify", {}, "phone")
    with pytest.raises(ValueNotAllowed, match="unknown argument 'volume'"):
        phone.check_args("notify", {"message": "hi", "volume": 3}, "phone")
    with pytest.raises(ValueNotAllowed):
        phone.check_args("notify", {"message": "x" * 501}, "phone")


def test_a_broken_type_spec_is_refused_with_its_origin():
    with pytest.raises(SpecError, match=r"my\.yaml: .*min 10.0 is above max 1.0"):
        parse_type(
            {"type": "t", "properties": {"p": {"kind": "int", "min": 10, "max": 1}}}, "my.yaml"
        )
    with pytest.raises(SpecError, match="unknown property nope"):
        parse_type({"type": "t", "actions": {"a": {"effects": [{"toggle": "nope"}]}}}, "my.yaml")
    with pytest.raises(SpecError, match="an enum needs `values`"):
        parse_type({"type": "t", "properties": {"p": {"kind": "enum"}}}, "my.yaml")


def test_unknown_type_lists_known_types():
    with pytest.raises(SpecError, match="unknown device type 'toaster'; known types: air_purifier"):
        builtin_types().get("toaster")


@pytest.mark.parametrize(
    ("type_", "prop", "text", "value"),
    [
        ("light", "on", "on", True),
        ("light", "on", "False", False),
        ("light", "brightness", "40%", 40),
        ("climate", "target_temp", "22.5", 22.5),
        ("climate", "mode", "cool", "cool"),
        ("phone", "ringer", "silent", "silent"),
    ],
)
def test_text_from_the_command_line_is_parsed_by_kind(type_, prop, text, value):
    spec = builtin_types().get(type_).properties[prop]
    assert parse_text(spec, text, f"d.{prop}") == value


def test_unparseable_text_names_what_is_allowed():
    spec = builtin_types().get("light").properties["brightness"]
    with pytest.raises(ValueNotAllowed, match=r"d\.brightness: 'bright' is not allowed"):
        parse_text(spec, "bright", "d.brightness")


def test_narrowing_a_type_keeps_its_order_and_moves_a_lost_default():
    climate = builtin_types().get("climate")
    heater = climate.narrowed({"mode": ["heat"], "fan_speed": ["high", "auto"]})
    assert heater.properties["mode"].values == ("heat",)
    assert heater.properties["mode"].default == "heat"  # auto is not allowed any more
    assert heater.properties["fan_speed"].values == ("auto", "high")  # the type's order
    assert heater.narrowing(climate) == {"mode": ["heat"], "fan_speed": ["auto", "high"]}
    assert climate.narrowed({}) is climate and climate.narrowing(climate) == {}
    with pytest.raises(ValueNotAllowed, match="must be one of heat"):
        heater.check_write("mode", "cool", "heater")
    assert climate.check_write("mode", "cool") == "cool"  # the type itself is untouched
