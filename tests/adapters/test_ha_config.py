"""Home Assistant MQTT discovery messages read: topics, abbreviations, `~`, device-based
configs, removal. The payloads follow the examples of Home Assistant's MQTT documentation
(an abbreviated JSON-schema light, a switch, a motion sensor, a sensor with a value template,
a device-based config with two components)."""

from __future__ import annotations

import json

import pytest

from hyperhub.adapters.ha_discovery.config import (
    ConfigError,
    Entity,
    Removed,
    expand,
    place,
    read,
)

P = "homeassistant"


def config(topic: str, payload: dict | str | bytes) -> list[Entity | Removed]:
    data = (
        payload
        if isinstance(payload, bytes)
        else (payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
    )
    return read(P, topic, data)


def test_an_abbreviated_json_light_with_a_base_topic() -> None:
    (light,) = config(
        "homeassistant/light/kitchen/config",
        {
            "~": "homeassistant/light/kitchen",
            "name": "Kitchen",
            "uniq_id": "kitchen_light",
            "cmd_t": "~/set",
            "stat_t": "~/state",
            "schema": "json",
            "brightness": True,
        },
    )
    assert isinstance(light, Entity)
    assert (light.component, light.node_id, light.object_id, light.key) == (
        "light",
        None,
        "kitchen",
        "kitchen_light",
    )
    assert light.config == {
        "name": "Kitchen",
        "unique_id": "kitchen_light",
        "command_topic": "homeassistant/light/kitchen/set",
        "state_topic": "homeassistant/light/kitchen/state",
        "schema": "json",
        "brightness": True,
    }


def test_a_switch_and_a_motion_sensor_with_their_device() -> None:
    (switch,) = config(
        "homeassistant/switch/irrigation/config",
        {
            "name": "garden",
            "command_topic": "homeassistant/switch/irrigation/set",
            "state_topic": "homeassistant/switch/irrigation/state",
            "payload_on": "ON",
            "payload_off": "OFF",
        },
    )
    assert isinstance(switch, Entity)
    assert switch.key == "switch/irrigation" and switch.device_key is None
    assert switch.config["payload_on"] == "ON"
    (motion,) = config(
        "homeassistant/binary_sensor/garden/config",
        {
            "name": None,
            "dev_cla": "motion",
            "stat_t": "homeassistant/binary_sensor/garden/state",
            "uniq_id": "motion01ad",
            "dev": {"ids": ["01ad"], "name": "Garden", "mf": "Acme", "sa": "Garden"},
        },
    )
    assert isinstance(motion, Entity)
    assert motion.config["device_class"] == "motion"
    assert motion.device == {
        "identifiers": ["01ad"],
        "name": "Garden",
        "manufacturer": "Acme",
        "suggested_area": "Garden",
    }
    assert motion.device_key == "01ad"


def test_a_sensor_with_a_node_id_and_a_value_template() -> None:
    (sensor,) = config(
        "homeassistant/sensor/bedroom/temperature/config",
        {
            "device_class": "temperature",
            "state_topic": "homeassistant/sensor/sensorBedroom/state",
            "unit_of_measurement": "°C",
            "value_template": "{{ value_json.temperature }}",
            "unique_id": "temp01ae",
            "device": {"identifiers": "bedroom01ae", "name": "Bedroom"},
            "avty": [{"t": "bedroom/status", "pl_avail": "up"}, {"topic": "~/lwt"}],
            "~": "bedroom",
        },
    )
    assert isinstance(sensor, Entity)
    assert (sensor.node_id, sensor.object_id, sensor.device_key) == (
        "bedroom",
        "temperature",
        "bedroom01ae",
    )
    assert sensor.config["value_template"] == "{{ value_json.temperature }}"
    assert sensor.config["availability"] == [
        {"topic": "bedroom/status", "payload_available": "up"},
        {"topic": "bedroom/lwt"},
    ]


def test_a_device_based_config_gives_each_component_the_shared_keys() -> None:
    found = config(
        "homeassistant/device/0AFFD2/config",
        {
            "dev": {"ids": "0AFFD2", "name": "Foobar", "mf": "Bla electronics", "sw": "1.0"},
            "o": {"name": "bla2mqtt", "sw": "2.1", "url": "https://bla2mqtt.example.com/support"},
            "cmps": {
                "temp": {"p": "sensor", "dev_cla": "temperature", "unit_of_meas": "°C",
                         "val_tpl": "{{ value_json.temperature }}", "uniq_id": "temp01ae_t"},
                "hum": {"p": "sensor", "dev_cla": "humidity", "unit_of_meas": "%",
                        "val_tpl": "{{ value_json.humidity }}", "uniq_id": "temp01ae_h"},
                "gone": {"p": "binary_sensor"},
            },
            "~": "sensorBedroom",
            "stat_t": "~/state",
            "qos": 2,
        },
    )  # fmt: skip
    temp, hum, gone = found
    assert isinstance(temp, Entity) and isinstance(hum, Entity)
    assert (temp.component, temp.node_id, temp.object_id, temp.key) == (
        "sensor",
        "0AFFD2",
        "temp",
        "temp01ae_t",
    )
    assert temp.config["state_topic"] == hum.config["state_topic"] == "sensorBedroom/state"
    assert temp.config["qos"] == 2 and "origin" not in temp.config
    assert hum.device["manufacturer"] == "Bla electronics" and hum.device_key == "0AFFD2"
    assert gone == Removed("binary_sensor", "0AFFD2", "gone")  # only its platform: removed


def test_an_empty_config_removes_the_entity() -> None:
    assert config("homeassistant/light/kitchen/config", b"") == [Removed("light", None, "kitchen")]


@pytest.mark.parametrize(
    ("topic", "payload", "problem"),
    [
        ("homeassistant/light/kitchen/state", {}, "not a discovery topic"),
        ("homeassistant/light/a/b/c/config", {}, "not a discovery topic"),
        ("homeassistant/light/kit chen/config", {}, "not a discovery topic"),
        ("zigbee2mqtt/light/kitchen/config", {}, "not a discovery topic"),
        ("homeassistant/light/kitchen/config", "{not json", "not JSON"),
        ("homeassistant/light/kitchen/config", "[1, 2]", "a config is a JSON object"),
        ("homeassistant/light/kitchen/config", b"{" + b" " * 70_000 + b"}", "at most 65536"),
        ("homeassistant/device/x/config", {"dev": {"ids": "x"}}, "needs `device` and `components`"),
    ],
)
def test_what_is_not_a_discovery_message_is_named(
    topic: str, payload: object, problem: str
) -> None:
    with pytest.raises(ConfigError, match=problem):
        config(topic, payload)  # type: ignore[arg-type]


def test_places_and_full_names() -> None:
    assert place(P, "homeassistant/cover/garage/config") == ("cover", None, "garage")
    assert place(P, "homeassistant/cover/node-1/garage_door/config") == (
        "cover",
        "node-1",
        "garage_door",
    )
    assert place(P, "homeassistant/status") is None
    assert expand({"state_topic": "a", "unknown_key": 1}) == {"state_topic": "a", "unknown_key": 1}
    assert expand({"pl_lock": "L", "pl_unlk": "U"}) == {"payload_lock": "L", "payload_unlock": "U"}


def test_one_availability_not_in_a_list_and_both_forms_of_a_key() -> None:
    (entity,) = read("homeassistant", "homeassistant/switch/a/config",
                     b'{"state_topic": "full", "stat_t": "short", "avty": {"t": "~/up"}, "~": "dev/a"}')  # fmt: skip
    assert isinstance(entity, Entity)
    assert entity.config["state_topic"] == "short"  # the abbreviation wins, as in HA
    assert entity.config["availability"] == [{"topic": "dev/a/up"}]
