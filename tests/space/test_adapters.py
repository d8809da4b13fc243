"""Adapters in a space file, and the devices accepted from them: read, merged, refused with
the file and line of each problem."""

from pathlib import Path

import pytest

from hyperhub.errors import SpaceError
from hyperhub.space import load_space, parse_space
from hyperhub.space.adapters import (
    OwnTracksOptions,
    Zigbee2MqttOptions,
    accepted_path,
    broker_problem,
    shown_broker,
)

SPACE = """\
space: Adapter flat
areas:
  - {id: kitchen, name: Kitchen}
devices:
  - {id: lamp, type: light}
  - {id: alice_phone, type: phone}
adapters:
  - id: zigbee
    kind: zigbee2mqtt
  - id: phones
    kind: owntracks
    broker: mqtts://me:secret@broker.example:8883
    accept: all
    timeout_s: 2
    users: {alice/pixel: alice_phone}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(SpaceError) as err:
        parse_space(text, "s.yaml")
    return err.value.lines


def test_adapters_are_read_with_their_kinds_defaults_and_options():
    space = parse_space(SPACE)
    zigbee, phones = space.adapters["zigbee"], space.adapters["phones"]
    assert (zigbee.kind, zigbee.broker, zigbee.accept, zigbee.timeout_s) == (
        "zigbee2mqtt",
        None,
        "ask",
        5.0,
    )
    assert zigbee.options == Zigbee2MqttOptions(base_topic="zigbee2mqtt")
    assert phones.broker == "mqtts://me:secret@broker.example:8883"
    assert (phones.accept, phones.timeout_s) == ("all", 2.0)
    assert phones.options == OwnTracksOptions(users={"alice/pixel": "alice_phone"})
    assert parse_space(SPACE.split("adapters:")[0]).adapters == {}


@pytest.mark.parametrize(
    ("block", "problem"),
    [
        (
            "  - {id: z, kind: zwave}",
            "s.yaml:8: adapter z: unknown kind 'zwave'; kinds: zigbee2mqtt",
        ),
        ("  - {id: z, kind: zigbee2mqtt, broker: http://x}", "must start with mqtt:// or mqtts://"),
        ("  - {id: z, kind: zigbee2mqtt, broker: 'mqtt://:1883'}", "names no host"),
        ("  - {id: z, kind: zigbee2mqtt, broker: 'mqtt://h:99999'}", "is not a URL"),
        ("  - {id: z, kind: zigbee2mqtt, accept: maybe}", "`accept` must be ask or all"),
        ("  - {id: z, kind: zigbee2mqtt, timeout_s: 0}", "`timeout_s` must be a number"),
        (
            "  - {id: z, kind: zigbee2mqtt, base_topic: 'z2m/#'}",
            "`base_topic`: 'z2m/#' is not a topic prefix",
        ),
        (
            "  - {id: z, kind: zigbee2mqtt, basetopic: z2m}",
            "unknown key 'basetopic' for a zigbee2mqtt adapter; expected one of: id, kind, "
            "broker, accept, timeout_s, base_topic",
        ),
        ("  - {id: Z!, kind: zigbee2mqtt}", "bad adapter id 'Z!'"),
        ("  - kind: zigbee2mqtt", "adapter without `id`"),
        ("  - just text", "an adapter must be a mapping"),
        ("  - {id: z, kind: owntracks, users: [alice]}", "`users`: Input should be a valid"),
    ],
)
def test_a_bad_adapter_block_is_refused_with_its_line(block: str, problem: str):
    text = SPACE.split("adapters:")[0] + "adapters:\n" + block + "\n"
    found = problems(text)
    assert any(problem in line for line in found), found
    assert all(line.startswith("s.yaml:8:") for line in found), found


def test_owntracks_users_name_phones_of_the_space():
    found = problems(SPACE.replace("alice/pixel: alice_phone", "alice/pixel: lamp"))
    assert found == [
        "s.yaml:10: adapter phones: users: 'alice/pixel' names 'lamp', which is not a phone "
        "of the space (phones: alice_phone)"
    ]


def test_two_adapters_may_not_share_an_id():
    text = SPACE.replace("id: phones", "id: zigbee")
    assert any("duplicate adapter id 'zigbee'" in p for p in problems(text))


def test_a_broker_url_is_shown_without_its_login():
    assert shown_broker("mqtt://zb:s3cr@t@host:1883") == "mqtt://***@host:1883"
    assert shown_broker("mqtts://host:8883") == "mqtts://host:8883"


def test_broker_urls():
    assert broker_problem("mqtt://10.0.0.2") is None
    assert broker_problem("mqtts://u:p@host:8883") is None
    assert broker_problem(42) is not None
    assert "port 0" in str(broker_problem("mqtt://host:0"))


ACCEPTED = """\
# accepted with `hyperhub adapters accept`
devices:
  - id: floor_lamp
    type: light
    name: Floor Lamp
    area: kitchen
    adapter: zigbee
    external: "0x000b57fffec6a5b2"
    properties: [on, color_temp]
  - {id: air, type: sensor, properties: [temperature, pressure], adapter: zigbee, external: "0x01"}
"""


def write_space(tmp_path: Path, accepted: str | None) -> Path:
    path = tmp_path / "home.yaml"
    path.write_text(SPACE)
    if accepted is not None:
        accepted_path(path).write_text(accepted)
    return path


def test_accepted_devices_are_ordinary_devices_of_the_space(tmp_path: Path):
    path = write_space(tmp_path, ACCEPTED)
    assert accepted_path(path) == tmp_path / "home.adapters.yaml"
    space = load_space(path)
    assert list(space.devices) == ["lamp", "alice_phone", "floor_lamp", "air"]
    lamp = space.devices["floor_lamp"]
    assert (lamp.adapter, lamp.external, lamp.area) == ("zigbee", "0x000b57fffec6a5b2", "kitchen")
    assert lamp.properties == ("on", "color_temp")  # exactly what it lists: it cannot dim
    assert space.devices["air"].properties == ("temperature", "pressure")
    assert space.devices["lamp"].adapter is None
    (tmp_path / "bare").mkdir()
    assert load_space(write_space(tmp_path / "bare", None)).devices.keys() == {
        "lamp",
        "alice_phone",
    }


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (
            ("adapter: zigbee\n", "adapter: zwave\n"),
            "home.adapters.yaml:7: device floor_lamp: "
            "unknown adapter 'zwave' (adapters of the space: zigbee, phones)",
        ),
        (
            ("id: floor_lamp", "id: lamp"),
            "home.adapters.yaml:3: device id 'lamp' is taken by a device of the space file",
        ),
        (
            ('external: "0x01"', 'external: "0x000b57fffec6a5b2"'),
            "home.adapters.yaml:10: device air: zigbee:0x000b57fffec6a5b2 is accepted "
            "already (line 3)",
        ),
        (
            ("area: kitchen", "area: attic"),
            "home.adapters.yaml:6: device floor_lamp: unknown area 'attic'",
        ),
        (('    external: "0x000b57fffec6a5b2"\n', ""), "device floor_lamp: `external` must be"),
        (("type: light", "type: lamp"), "unknown type 'lamp'"),
        (("devices:", "devices: 7\nextra:"), "unknown key 'extra'"),
    ],
)
def test_a_bad_accepted_file_is_refused_naming_it(
    tmp_path: Path, change: tuple[str, str], problem: str
):
    path = write_space(tmp_path, ACCEPTED.replace(*change))
    with pytest.raises(SpaceError) as err:
        load_space(path)
    assert err.value.path == str(accepted_path(path))
    assert any(problem in line for line in err.value.lines), err.value.lines


def test_an_accepted_file_that_is_no_yaml_names_its_line(tmp_path: Path):
    path = write_space(tmp_path, "devices:\n  - {id: x\n")
    with pytest.raises(SpaceError, match=r"home\.adapters\.yaml:\d+:"):
        load_space(path)
