"""Accepting and rejecting found devices: edits of the accepted-devices file that keep what a
person wrote, and refuse — leaving the file as it was — what would break the space."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhub.adapters.accepted import accept, free_id, reject, rejected
from hyperhub.adapters.found import Found, FoundList, read_found, split_key, write_found
from hyperhub.errors import AdapterError, SpaceError
from hyperhub.space import Space, load_space, parse_space

SPACE = """\
space: Edit flat
areas:
  - {id: kitchen, name: Kitchen}
devices:
  - {id: lamp, type: light}
adapters:
  - {id: zigbee, kind: zigbee2mqtt}
"""
LAMP = Found(
    "zigbee",
    "0x01",
    {"id": "floor_lamp", "type": "light", "name": "Floor Lamp", "properties": ["on", "brightness"]},
    "kitchen/Floor Lamp",
    "LED1545G12",
    "IKEA",
)
PLUG = Found("zigbee", "0x02", {"id": "lamp", "type": "plug", "name": "Lamp Plug"})


@pytest.fixture
def path(tmp_path: Path) -> Path:
    p = tmp_path / "home.yaml"
    p.write_text(SPACE)
    return p


def test_accepting_writes_a_device_entry_and_keeps_what_a_person_wrote(path: Path) -> None:
    accepted = path.with_name("home.adapters.yaml")
    accepted.write_text("# my notes on the zigbee devices\ndevices: []\n")
    entry = accept(load_space(path), LAMP, area="kitchen", aliases=["落地灯"])
    assert entry["area"] == "kitchen" and entry["aliases"] == ["落地灯"]
    text = accepted.read_text()
    assert text.startswith("# my notes on the zigbee devices")
    device = load_space(path).devices["floor_lamp"]
    assert (device.adapter, device.external, device.area) == ("zigbee", "0x01", "kitchen")
    assert device.aliases == ("落地灯",) and device.properties == ("on", "brightness")
    with pytest.raises(AdapterError, match="accepted already, as device floor_lamp"):
        accept(load_space(path), LAMP)


@pytest.mark.parametrize(
    ("changes", "problem"),
    [
        ({"area": "attic"}, "no area 'attic' in the space; areas: kitchen"),
        ({"device_id": "lamp"}, "the space has a device 'lamp' already"),
        ({"device_id": "Floor Lamp"}, "bad device id 'Floor Lamp'"),
    ],
)
def test_a_bad_accept_is_refused_and_nothing_is_written(
    path: Path, changes: dict, problem: str
) -> None:
    with pytest.raises(AdapterError, match=problem):
        accept(load_space(path), LAMP, **changes)
    assert not path.with_name("home.adapters.yaml").exists()


def test_an_accept_the_space_cannot_load_leaves_the_file_as_it_was(path: Path) -> None:
    accept(load_space(path), LAMP)
    before = path.with_name("home.adapters.yaml").read_bytes()
    broken = Found("zigbee", "0x03", {"id": "odd", "type": "light", "properties": ["colour"]})
    with pytest.raises(SpaceError, match="unknown property 'colour'"):
        accept(load_space(path), broken)
    assert path.with_name("home.adapters.yaml").read_bytes() == before
    with pytest.raises(AdapterError, match=r"has a device 'lamp' already; .*--id lamp_2"):
        accept(load_space(path), PLUG)  # its proposed id is the space file's lamp
    assert path.with_name("home.adapters.yaml").read_bytes() == before


def test_rejecting_a_found_device_or_removing_an_accepted_one(path: Path) -> None:
    space = load_space(path)
    assert reject(space, "zigbee", "0x02") == "rejected zigbee:0x02; it is not offered again"
    assert reject(load_space(path), "zigbee", "0x02") == "zigbee:0x02 was rejected already"
    accept(load_space(path), LAMP)
    said = reject(load_space(path), "zigbee", "floor_lamp")
    assert said.startswith("removed device floor_lamp (zigbee:0x01)")
    space = load_space(path)
    assert "floor_lamp" not in space.devices
    assert rejected(space) == {("zigbee", "0x02"), ("zigbee", "0x01")}
    accept(space, LAMP)  # accepted after all: no longer rejected
    assert rejected(load_space(path)) == {("zigbee", "0x02")}
    with pytest.raises(AdapterError, match="no adapter 'zwave'"):
        reject(load_space(path), "zwave", "0x01")


def test_free_ids() -> None:
    space_text = SPACE.replace(
        "  - {id: lamp, type: light}", "  - {id: lamp, type: light}\n  - {id: lamp_2, type: light}"
    )
    space = parse_space(space_text)
    assert free_id(space, "plug") == "plug"
    assert free_id(space, "lamp") == "lamp_3"
    assert free_id(space, "plug", ["plug"]) == "plug_2"


def test_what_an_adapter_found_is_read_back_for_the_cli(tmp_path: Path) -> None:
    write_found(tmp_path, "edit_flat", FoundList("zigbee", "zigbee2mqtt", 1.5, True, [LAMP]))
    back = read_found(tmp_path, "edit_flat", "zigbee", "zigbee2mqtt")
    assert (back.updated, back.online, back.found) == (1.5, True, [LAMP])
    assert LAMP.key == "zigbee:0x01" and split_key(LAMP.key) == ("zigbee", "0x01")
    assert split_key("phones:bob/iphone") == ("phones", "bob/iphone")
    assert split_key("nocolon") is None and split_key(":x") is None and split_key("z:") is None
    empty = read_found(tmp_path, "edit_flat", "other", "zigbee2mqtt")
    assert empty.found == [] and empty.updated == 0


def _space_without(path: Path) -> Space:
    """The space file alone (the loader refuses it with the broken accepted file)."""
    return parse_space(path.read_text(), str(path), file=path)
