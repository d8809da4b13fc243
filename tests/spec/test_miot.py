"""Loading Xiaomi MIoT-Spec instances as HyperHub types, and translating values both ways."""

import json
from pathlib import Path

import pytest

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec.miot import MiotCall, MiotType, MiotWrite, load_miot_instance
from hyperhub.spec.policy import Command, is_risky

FIXTURES = Path(__file__).parent / "fixtures" / "miot"
RW = ["read", "write", "notify"]
RO = ["read", "notify"]


def load(name: str) -> MiotType:
    return load_miot_instance(FIXTURES / f"{name}.json")


def prop(iid: int, name: str, fmt: str, access: list[str] = RW, **more: object) -> dict:
    """A MIoT property entry; `value_range` / `value_list` keywords become the dashed keys."""
    entry = {
        "iid": iid,
        "type": f"urn:miot-spec-v2:property:{name}:00000001:test-t1:1",
        "description": name,
        "format": fmt,
        "access": access,
    }
    entry.update({k.replace("_", "-"): v for k, v in more.items()})
    return entry


def service(iid: int, name: str, *props: dict, actions: tuple[dict, ...] = ()) -> dict:
    return {
        "iid": iid,
        "type": f"urn:miot-spec-v2:service:{name}:00007801:test-t1:1",
        "description": name,
        "properties": list(props),
        "actions": list(actions),
    }


def instance(device: str, *services: dict) -> dict:
    return {
        "type": f"urn:miot-spec-v2:device:{device}:0000A001:test-t1:1",
        "description": f"Test {device}",
        "services": list(services),
    }


def choices(*words: str) -> list[dict]:
    return [{"value": i, "description": w} for i, w in enumerate(words)]


# --- loading -----------------------------------------------------------------------------------


def test_loads_the_same_type_from_a_path_json_text_and_a_dict():
    path = FIXTURES / "ceiling_light.json"
    text = path.read_text(encoding="utf-8")
    types = [
        load_miot_instance(doc).device_type for doc in (path, str(path), text, json.loads(text))
    ]
    assert all(t == types[0] for t in types)


def test_origin_names_the_device_urn():
    light = load("ceiling_light")
    assert light.device_type.origin == "miot:" + light.urn
    assert light.urn == "urn:miot-spec-v2:device:light:0000A001:yeelink-ceiling4:1"


def test_model_is_taken_from_the_urn():
    assert load("ceiling_light").model == "yeelink-ceiling4"


def test_type_name_can_be_given_for_a_registry():
    light = load_miot_instance(FIXTURES / "ceiling_light.json", type_name="yeelink_ceiling4")
    assert (light.device_type.type, light.base) == ("yeelink_ceiling4", "light")


@pytest.mark.parametrize(
    ("fixture", "base"),
    [
        ("ceiling_light", "light"),
        ("air_conditioner", "climate"),
        ("fan", "fan"),
        ("curtain", "cover"),
        ("lock", "lock"),
        ("plug", "plug"),
        ("air_purifier", "air_purifier"),
        ("temperature_humidity_sensor", "sensor"),
        ("vacuum", "vacuum"),
        ("speaker", "media_player"),
    ],
)
def test_base_type_comes_from_the_device_urn(fixture, base):
    loaded = load(fixture)
    assert (loaded.base, loaded.device_type.type) == (base, base)


def test_unknown_device_kind_takes_the_base_of_its_main_service():
    doc = instance("wall-lamp", service(2, "light", prop(1, "on", "bool")))
    assert load_miot_instance(doc).base == "light"


def test_unknown_kind_of_device_keeps_everything_as_extras_under_its_own_type():
    doc = instance(
        "rice-cooker",
        service(2, "cooker", prop(1, "cook-mode", "uint8", value_list=choices("Rice", "Soup"))),
    )
    cooker = load_miot_instance(doc)
    assert cooker.base is None
    assert cooker.device_type.type == "rice_cooker"
    assert cooker.device_type.prop("cooker_cook_mode").values == ("rice", "soup")


def test_device_information_service_is_left_out():
    assert not any("manufacturer" in n for n in load("ceiling_light").device_type.properties)


# --- light -------------------------------------------------------------------------------------


def test_light_brightness_keeps_the_device_range_in_percent():
    brightness = load("ceiling_light").device_type.prop("brightness")
    assert (brightness.kind, brightness.unit, brightness.min, brightness.max) == (
        "int",
        "%",
        1,
        100,
    )


def test_light_color_temperature_is_in_kelvin_with_the_device_range():
    color_temp = load("ceiling_light").device_type.prop("color_temp")
    assert (color_temp.unit, color_temp.min, color_temp.max) == ("K", 2700, 6500)


def test_light_has_no_color_when_its_main_service_has_none():
    assert "color" not in load("ceiling_light").device_type.properties


def test_repeated_service_keeps_its_properties_as_extras_named_with_its_siid():
    props = load("ceiling_light").device_type.properties
    assert {"light_3_on", "light_3_brightness", "light_3_color"} <= set(props)


def test_extra_rgb_property_becomes_a_color():
    light = load("ceiling_light")
    assert light.device_type.prop("light_3_color").kind == "color"
    assert light.mapping.to_hyperhub(3, 3, 0xFF8000) == ("light_3_color", "#ff8000")
    assert light.mapping.to_miot("light_3_color", "#00ff00") == (3, 3, 0x00FF00)


def test_unmapped_value_list_becomes_an_enum_of_lowercased_descriptions():
    mode = load("ceiling_light").device_type.prop("light_mode")
    assert (mode.kind, mode.values, mode.access) == ("enum", ("day", "night", "reading"), "rw")


def test_raw_value_reads_as_the_hyperhub_name_and_value():
    assert load("ceiling_light").mapping.to_hyperhub(2, 2, 50) == ("brightness", 50)


def test_write_gives_siid_piid_and_raw_value():
    assert load("ceiling_light").mapping.to_miot("color_temp", 3000) == MiotWrite(2, 3, 3000)


def test_write_out_of_the_device_range_is_refused():
    with pytest.raises(ValueNotAllowed, match="color_temp"):
        load("ceiling_light").mapping.to_miot("color_temp", 2000)


def test_toggle_action_calls_the_miot_action():
    assert load("ceiling_light").mapping.call("toggle") == MiotCall(2, 1, ())


def test_brightness_in_another_range_is_rescaled_to_percent():
    doc = instance(
        "light",
        service(
            2,
            "light",
            prop(1, "on", "bool"),
            prop(2, "brightness", "uint8", value_range=[0, 255, 1]),
        ),
    )
    light = load_miot_instance(doc)
    assert light.mapping.to_hyperhub(2, 2, 255) == ("brightness", 100)
    assert light.mapping.to_miot("brightness", 50) == (2, 2, 128)


def test_base_action_without_a_miot_command_is_kept_when_it_is_a_plain_write():
    light = load_miot_instance(instance("light", service(2, "light", prop(1, "on", "bool"))))
    assert "toggle" in light.device_type.actions
    assert "toggle" not in light.mapping.actions


def test_calling_an_action_with_no_miot_command_says_to_apply_its_effects():
    light = load_miot_instance(instance("light", service(2, "light", prop(1, "on", "bool"))))
    with pytest.raises(SpecError, match="apply its effects"):
        light.mapping.call("toggle")


# --- air conditioner ---------------------------------------------------------------------------


def test_air_conditioner_mode_values_come_from_the_value_list():
    mode = load("air_conditioner").device_type.prop("mode")
    assert set(mode.values or ()) == {"cool", "heat", "auto", "dry", "fan"}


def test_mode_reads_and_writes_through_the_value_list():
    ac = load("air_conditioner").mapping
    assert ac.to_hyperhub(2, 2, 1) == ("mode", "cool")
    assert ac.to_miot("mode", "heat") == (2, 2, 3)


def test_mode_synonyms_become_vocabulary_words_and_other_words_are_kept():
    doc = instance(
        "air-conditioner",
        service(
            2,
            "air-conditioner",
            prop(2, "mode", "uint8", value_list=choices("Cooling", "Heating", "Sleep")),
        ),
    )
    assert load_miot_instance(doc).device_type.prop("mode").values == ("cool", "heat", "sleep")


def test_target_temperature_keeps_the_device_range_in_celsius():
    target = load("air_conditioner").device_type.prop("target_temp")
    assert (target.kind, target.unit, target.min, target.max) == ("float", "°C", 16, 31)


def test_fahrenheit_target_temperature_is_converted_to_celsius():
    doc = instance(
        "heater",
        service(
            2,
            "heater",
            prop(1, "on", "bool"),
            prop(2, "target-temperature", "uint8", unit="fahrenheit", value_range=[41, 95, 1]),
        ),
    )
    heater = load_miot_instance(doc)
    target = heater.device_type.prop("target_temp")
    assert (target.min, target.max) == (5, 35)
    assert heater.mapping.to_hyperhub(2, 2, 68) == ("target_temp", 20.0)
    assert heater.mapping.to_miot("target_temp", 22) == (2, 2, 72)


def test_fan_control_fan_level_becomes_climate_fan_speed():
    ac = load("air_conditioner")
    assert ac.device_type.prop("fan_speed").values == ("auto", "low", "medium", "high")
    assert ac.mapping.to_miot("fan_speed", "high") == (3, 2, 3)


def test_environment_temperature_becomes_read_only_current_temp():
    ac = load("air_conditioner")
    assert ac.device_type.prop("current_temp").access == "ro"
    assert ac.mapping.to_hyperhub(4, 7, 26.5) == ("current_temp", 26.5)


def test_environment_humidity_keeps_its_vocabulary_name():
    assert load("air_conditioner").mapping.to_hyperhub(4, 8, 55) == ("humidity", 55.0)


def test_unmapped_property_is_kept_as_service_underscore_property():
    eco = load("air_conditioner").device_type.prop("air_conditioner_eco")
    assert (eco.kind, eco.access) == ("bool", "rw")


def test_property_without_write_access_is_kept_read_only():
    assert load("air_conditioner").device_type.prop("air_conditioner_fault").access == "ro"


def test_base_simulation_is_kept_when_its_properties_exist():
    assert {p.property for p in load("air_conditioner").device_type.simulation} == {"current_temp"}


# --- fan and purifier --------------------------------------------------------------------------


def test_fan_levels_read_as_speed_percent():
    assert load("fan").mapping.to_hyperhub(2, 2, 2) == ("speed", 50)


@pytest.mark.parametrize(("speed", "level"), [(0, 1), (25, 1), (60, 3), (100, 4)])
def test_speed_percent_writes_the_nearest_level_up(speed, level):
    assert load("fan").mapping.to_miot("speed", speed) == (2, 2, level)


def test_horizontal_swing_becomes_oscillate():
    assert load("fan").mapping.to_hyperhub(2, 5, True) == ("oscillate", True)


def test_physical_controls_lock_is_a_child_lock_not_locked():
    props = load("fan").device_type.properties
    assert "locked" not in props
    assert props["physical_controls_locked"].kind == "bool"


def test_toggle_outside_the_vocabulary_of_the_base_type_is_an_extra_action():
    actions = load("fan").device_type.actions
    assert "fan_toggle" in actions
    assert "toggle" not in actions


def test_purifier_pm25_comes_from_the_environment_service():
    purifier = load("air_purifier")
    pm25 = purifier.device_type.prop("pm25")
    assert (pm25.unit, pm25.access) == ("µg/m³", "ro")
    assert purifier.mapping.to_hyperhub(3, 6, 12) == ("pm25", 12.0)


def test_unknown_service_properties_are_kept_with_their_kind_range_and_unit():
    speed = load("air_purifier").device_type.prop("custom_service_motor_speed")
    assert (speed.kind, speed.min, speed.max, speed.unit, speed.access) == (
        "int",
        0,
        3000,
        "rpm",
        "ro",
    )


def test_writable_property_of_an_unknown_service_can_be_written():
    purifier = load("air_purifier").mapping
    assert purifier.to_miot("custom_service_favorite_level", 7) == (9, 11, 7)


# --- cover -------------------------------------------------------------------------------------


def test_cover_position_reads_current_position():
    assert load("curtain").mapping.to_hyperhub(2, 3, 40) == ("position", 40)


def test_cover_position_writes_target_position():
    assert load("curtain").mapping.to_miot("position", 70) == (2, 7, 70)


def test_target_position_reads_as_its_own_extra():
    assert load("curtain").mapping.to_hyperhub(2, 7, 70) == ("curtain_target_position", 70)


@pytest.mark.parametrize(("action", "raw"), [("open", 1), ("close", 2), ("stop", 0)])
def test_open_close_stop_write_motor_control(action, raw):
    assert load("curtain").mapping.call(action) == MiotWrite(2, 2, raw)


def test_motor_control_is_not_kept_as_an_extra():
    assert "curtain_motor_control" not in load("curtain").device_type.properties


def test_cover_keeps_its_risky_rules_for_garage_doors():
    cover = load("curtain").device_type
    assert is_risky(cover, "garage", Command("c", action="open"))
    assert is_risky(cover, "gate", Command("c", "position", 50))
    assert not is_risky(cover, "curtain", Command("c", action="open"))


# --- lock --------------------------------------------------------------------------------------


def test_lock_status_value_list_reads_as_locked():
    lock = load("lock").mapping
    assert lock.to_hyperhub(2, 5, 1) == ("locked", True)
    assert lock.to_hyperhub(2, 5, 2) == ("locked", False)


def test_locked_from_a_read_only_status_cannot_be_written():
    with pytest.raises(ValueNotAllowed, match="read-only"):
        load("lock").mapping.to_miot("locked", False)


def test_lock_keeps_its_risky_flags():
    lock = load("lock").device_type
    assert is_risky(lock, None, Command("l", "locked", False))
    assert is_risky(lock, None, Command("l", action="unlock"))
    assert not is_risky(lock, None, Command("l", action="lock"))


def test_unlock_calls_the_miot_unlock_action():
    assert load("lock").mapping.call("unlock") == MiotCall(2, 2, ())


def test_battery_level_becomes_battery():
    assert load("lock").mapping.to_hyperhub(4, 1, 87) == ("battery", 87)


def test_property_with_no_access_is_only_an_event_argument():
    lock = load("lock")
    assert "lock_operation_method" not in lock.device_type.properties
    assert [a.name for a in lock.device_type.events["lock_lock_event"].args] == [
        "lock_operation_method",
        "lock_operation_id",
    ]


def test_event_arguments_are_translated():
    event = load("lock").mapping.event(2, 1, [{"piid": 1, "value": 2}, {"piid": 2, "value": 7}])
    assert event == (
        "lock_lock_event",
        {"lock_operation_method": "finger_print", "lock_operation_id": 7},
    )


def test_unknown_event_is_refused():
    with pytest.raises(SpecError, match="eiid=9"):
        load("lock").mapping.event(2, 9)


# --- plug, sensor, vacuum, speaker -------------------------------------------------------------


def test_plug_power_comes_from_electric_power_in_watts_read_only():
    power = load("plug").device_type.prop("power_w")
    assert (power.unit, power.access, power.max) == ("W", "ro", 3680)


def test_energy_total_is_kept_as_an_extra_in_kwh():
    assert load("plug").device_type.prop("power_consumption").unit == "kWh"


def test_sensor_in_fahrenheit_reads_in_celsius():
    sensor = load("temperature_humidity_sensor")
    assert sensor.mapping.to_hyperhub(2, 1, 71.6) == ("temperature", 22.0)
    assert (
        sensor.device_type.prop("temperature").min,
        sensor.device_type.prop("temperature").max,
    ) == (-30, 60)


def test_sensor_readings_are_not_optional_when_the_device_has_them():
    assert not load("temperature_humidity_sensor").device_type.prop("humidity").optional


def test_vacuum_status_words_become_vocabulary_words():
    vacuum = load("vacuum").mapping
    assert vacuum.to_hyperhub(2, 1, 2)[1] == "cleaning"
    assert vacuum.to_hyperhub(2, 1, 7)[1] == "cleaning"
    assert vacuum.to_hyperhub(2, 1, 6)[1] == "returning"
    assert vacuum.to_hyperhub(2, 1, 1)[1] == "idle"


def test_vacuum_actions_map_onto_start_pause_dock():
    actions = load("vacuum").mapping.actions
    assert {n: (a.siid, a.aiid) for n, a in actions.items() if n in ("start", "pause", "dock")} == {
        "start": (2, 1),
        "pause": (2, 3),
        "dock": (3, 1),
    }


def test_miot_action_outside_the_vocabulary_is_an_extra_action():
    assert "vacuum_stop_sweeping" in load("vacuum").device_type.actions


def test_playing_state_reads_as_playing():
    speaker = load("speaker").mapping
    assert speaker.to_hyperhub(3, 1, 1) == ("playing", True)
    assert speaker.to_hyperhub(3, 1, 2) == ("playing", False)


def test_action_arguments_are_checked_and_passed_in_order():
    speaker = load("speaker").mapping
    call = speaker.call("intelligent_speaker_play_text", {"intelligent_speaker_text_content": "hi"})
    assert call == MiotCall(5, 3, ("hi",))


def test_action_with_a_missing_argument_is_refused():
    with pytest.raises(ValueNotAllowed, match="missing argument"):
        load("speaker").mapping.call("intelligent_speaker_play_text")


# --- mapping errors ----------------------------------------------------------------------------


def test_reading_an_unknown_property_is_refused_naming_siid_and_piid():
    with pytest.raises(SpecError, match="siid=7 piid=1"):
        load("ceiling_light").mapping.to_hyperhub(7, 1, True)


def test_raw_value_outside_the_value_list_is_refused():
    with pytest.raises(ValueNotAllowed, match="value-list"):
        load("air_conditioner").mapping.to_hyperhub(2, 2, 9)


def test_writing_an_unknown_property_is_refused_naming_it():
    with pytest.raises(SpecError, match="'volume'"):
        load("ceiling_light").mapping.to_miot("volume", 10)


def test_calling_an_unknown_action_is_refused_naming_it():
    with pytest.raises(SpecError, match="'fly'"):
        load("ceiling_light").mapping.call("fly")


# --- instance errors ---------------------------------------------------------------------------


def test_missing_file_is_refused_naming_the_path(tmp_path):
    with pytest.raises(SpecError, match=r"nope\.json: cannot read"):
        load_miot_instance(tmp_path / "nope.json")


def test_invalid_json_is_refused(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text('{"type": ', encoding="utf-8")
    with pytest.raises(SpecError, match=r"broken\.json: not valid JSON"):
        load_miot_instance(path)


def test_json_that_is_not_an_object_is_refused():
    with pytest.raises(SpecError, match="must be a JSON object, not list"):
        load_miot_instance("[1, 2]")


def test_type_that_is_not_a_device_urn_is_refused_naming_the_field():
    doc = instance("light", service(2, "light", prop(1, "on", "bool")))
    doc["type"] = "urn:miot-spec-v2:service:light:00007802:test-t1:1"
    with pytest.raises(SpecError, match=r"type: .* is not a MIoT device URN"):
        load_miot_instance(doc)


def test_instance_without_services_is_refused():
    with pytest.raises(SpecError, match="services: the instance has no services"):
        load_miot_instance(instance("light"))


def test_unknown_format_is_refused_naming_the_property():
    doc = instance("light", service(2, "light", prop(1, "on", "uint128")))
    with pytest.raises(SpecError, match=r"services\[0\]\.properties\[0\]\.format: .*'uint128'"):
        load_miot_instance(doc)


def test_bad_value_range_is_refused_naming_the_field():
    doc = instance(
        "light", service(2, "light", prop(2, "brightness", "uint8", value_range=[100, 1, 1]))
    )
    with pytest.raises(SpecError, match=r"properties\[0\]\.value-range"):
        load_miot_instance(doc)


def test_value_list_entry_without_a_value_is_refused():
    doc = instance(
        "light", service(2, "light", prop(4, "mode", "uint8", value_list=[{"description": "Day"}]))
    )
    with pytest.raises(SpecError, match=r"value-list: each entry needs a numeric `value`"):
        load_miot_instance(doc)


def test_property_without_an_iid_is_refused():
    bad = prop(1, "on", "bool")
    del bad["iid"]
    with pytest.raises(SpecError, match=r"properties\[0\]\.iid"):
        load_miot_instance(instance("light", service(2, "light", bad)))


def test_service_id_used_twice_is_refused():
    doc = instance("light", service(2, "light", prop(1, "on", "bool")), service(2, "battery"))
    with pytest.raises(SpecError, match=r"services\[1\]\.iid: siid 2 is used twice"):
        load_miot_instance(doc)


def test_action_argument_that_is_no_property_of_its_service_is_refused():
    toggle = {"iid": 1, "type": "urn:miot-spec-v2:action:toggle:00002811:test-t1:1", "in": [9]}
    doc = instance("light", service(2, "light", prop(1, "on", "bool"), actions=(toggle,)))
    with pytest.raises(SpecError, match=r"actions\[0\]\.in"):
        load_miot_instance(doc)


def test_events_of_the_device_information_service_are_skipped_like_its_actions():
    doc = json.loads((FIXTURES / "ceiling_light.json").read_text())
    info = next(s for s in doc["services"] if "device-information" in s["type"])
    info["events"] = [
        {
            "iid": 1,
            "type": "urn:miot-spec-v2:event:firmware-updated:00005001:x:1",
            "description": "Firmware Updated",
            "arguments": [1],
        }
    ]
    loaded = load_miot_instance(doc)
    assert not any("firmware" in name for name in loaded.device_type.events)
