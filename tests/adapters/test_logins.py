"""The adapters' broker logins: one per adapter, forgotten with the adapter; a bridge's
login never takes over somebody else's node; the adapters' names are reserved."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhub.adapters.running import Adapters, bridge_login
from hyperhub.errors import AdapterError, HyperHubError
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.runtime import add_node
from hyperhub.space import parse_space

SPACE = """\
space: Logins
areas: []
devices:
  - {id: lamp, type: light}
  - {id: phone, type: phone}
adapters:
  - {id: zigbee, kind: zigbee2mqtt}
  - {id: phones, kind: owntracks, users: {ann/pixel: phone}}
"""


def test_each_adapter_gets_its_login_and_a_removed_one_loses_it(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    space = parse_space(SPACE)
    logins = {p.name: p for p in Adapters.logins(space, store)}
    assert set(logins) == {"adapter_zigbee", "adapter_phones"}
    assert logins["adapter_zigbee"].topics == ("zigbee2mqtt/#",)
    assert logins["adapter_phones"].devices == ("phone",)  # the phone its users: map names
    bridge = bridge_login(store, space.adapters["zigbee"])
    assert (bridge.name, bridge.devices, bridge.topics) == ("zigbee_bridge", (), ("zigbee2mqtt/#",))
    fewer = parse_space(SPACE.split("  - {id: phones")[0])
    Adapters.logins(fewer, store)
    names = {p.name for p in store.nodes()}
    assert "adapter_phones" not in names and "adapter_zigbee" in names
    assert "zigbee_bridge" in names  # its password was given away: it stays


def test_a_bridge_login_never_takes_over_a_node_with_devices(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.add_node("zigbee_bridge", ["lamp"])
    with pytest.raises(AdapterError, match="hosts devices \\(lamp\\)"):
        bridge_login(store, parse_space(SPACE).adapters["zigbee"])
    assert store.principal("zigbee_bridge").devices == ("lamp",)  # type: ignore[union-attr]


def test_the_adapters_node_names_are_reserved(tmp_path: Path) -> None:
    with pytest.raises(HyperHubError, match="are the adapters'"):
        add_node(tmp_path, parse_space(SPACE), "adapter_garage", ["lamp"])


def test_home_assistant_and_the_devices_get_logins_that_keep_to_their_part(
    tmp_path: Path,
) -> None:
    """Home Assistant reads what HyperHub publishes and writes only its command topics; the
    devices' firmware announces itself and cannot reach HyperHub's published devices."""
    from hyperhub.fabric.credentials import acl_rules

    store = CredentialStore(tmp_path)
    space = parse_space(SPACE + "  - {id: ha, kind: ha_discovery, topics: [tasmota/#]}\n")
    decl = space.adapters["ha"]
    ha = bridge_login(store, decl)
    firmware = bridge_login(store, decl, "devices")
    assert (ha.name, firmware.name) == ("ha_bridge", "ha_devices")

    def lines(principal: object) -> set[tuple[str, str]]:
        return {(r.access, r.topic) for r in acl_rules(principal, "logins")}  # type: ignore[arg-type]

    assert lines(ha) - {("write", "hyperhub/logins/node/ha_bridge/availability")} == {
        ("readwrite", "tasmota/#"),
        ("read", "homeassistant/#"),
        ("read", "hyperhub-ha/#"),
        ("write", "homeassistant/status"),
        ("write", "hyperhub-ha/+/+/set/+"),
        ("write", "hyperhub-ha/+/+/call"),
    }
    assert lines(firmware) - {("write", "hyperhub/logins/node/ha_devices/availability")} == {
        ("readwrite", "tasmota/#"),
        ("read", "homeassistant/status"),
        ("write", "homeassistant/#"),
    }
    with pytest.raises(AdapterError, match="no login 'devices'; its logins: bridge"):
        bridge_login(store, space.adapters["zigbee"], "devices")
