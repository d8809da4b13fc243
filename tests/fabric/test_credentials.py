"""Broker credentials: principals in the data dir, Mosquitto password and ACL files."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest

from hyperhub.errors import BrokerError
from hyperhub.fabric.credentials import (
    AclIndex,
    AclRule,
    CredentialStore,
    acl_rules,
    filter_within,
    mosquitto_hash,
    topic_matches,
)


def test_hub_password_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = CredentialStore(tmp_path).hub()
    again = CredentialStore(tmp_path).hub()
    assert first == again
    assert first.name == "hub" and first.role == "hub" and len(first.password) >= 24


def test_add_node_is_idempotent_and_updates_devices(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    car = store.add_node("car_node", ["car"])
    again = store.add_node("car_node", ["phone", "car", "car"])
    assert again.password == car.password
    assert again.devices == ("car", "phone")
    assert [p.name for p in store.nodes()] == ["car_node"]


def test_nodes_get_different_passwords(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    passwords = {store.add_node(f"node{i}", []).password for i in range(5)}
    assert len(passwords | {store.hub().password}) == 6


def test_a_device_belongs_to_one_node_only(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.add_node("home_node", ["front_door"])
    before = store.path.read_bytes()
    with pytest.raises(
        BrokerError, match="device 'front_door' already belongs to node 'home_node'"
    ):
        store.add_node("car_node", ["car", "front_door"])
    assert store.path.read_bytes() == before
    assert store.principal("car_node") is None


@pytest.mark.parametrize("name", ["Car", "car node", "a/b", "+", "#", "", "hub"])
def test_bad_node_names_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(BrokerError, match="node name"):
        CredentialStore(tmp_path).add_node(name, [])


@pytest.mark.parametrize("device", ["Front Door", "a/b", "+", "discovery", "node"])
def test_bad_or_reserved_device_ids_are_refused(tmp_path: Path, device: str) -> None:
    with pytest.raises(BrokerError, match="device id"):
        CredentialStore(tmp_path).add_node("home_node", [device])


def test_remove_node(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.add_node("car_node", ["car"])
    assert store.remove_node("car_node") is True
    assert store.remove_node("car_node") is False
    assert store.nodes() == []


def test_changes_from_another_process_are_seen(tmp_path: Path) -> None:
    hub_side, cli_side = CredentialStore(tmp_path), CredentialStore(tmp_path)
    hub_side.hub()
    added = cli_side.add_node("car_node", ["car"])
    assert hub_side.principal("car_node") == added
    hub_side.add_node("home_node", ["front_door"])
    assert [p.name for p in cli_side.nodes()] == ["car_node", "home_node"]


def test_verify_checks_name_and_password(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    car = store.add_node("car_node", ["car"])
    assert store.verify("car_node", car.password) == car
    assert store.verify("car_node", car.password + "x") is None
    assert store.verify("hub", car.password) is None
    assert store.verify("nobody", car.password) is None
    assert store.verify(None, None) is None


def test_files_are_private(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.add_node("car_node", ["car"])
    store.write_mosquitto_files("test")
    assert store.dir.stat().st_mode & 0o077 == 0
    for path in (store.path, store.password_file, store.acl_file):
        assert path.stat().st_mode & 0o777 == 0o600, path


def test_password_is_not_in_repr(tmp_path: Path) -> None:
    hub = CredentialStore(tmp_path).hub()
    assert hub.password not in repr(hub)


def test_unreadable_credentials_file_is_a_clear_error(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.dir.mkdir(parents=True)
    store.path.write_text("{not json")
    with pytest.raises(BrokerError, match=r"credentials\.json: cannot read broker credentials"):
        store.nodes()


# -- ACL ----------------------------------------------------------------------------------
def test_node_acl_covers_only_its_own_devices(tmp_path: Path) -> None:
    car = CredentialStore(tmp_path).add_node("car_node", ["phone", "car"])
    assert acl_rules(car, "lin") == [  # the device lines first: they carry the state flood
        AclRule("readwrite", "hyperhub/lin/car/#"),
        AclRule("readwrite", "hyperhub/lin/phone/#"),
        AclRule("write", "hyperhub/lin/discovery/car"),
        AclRule("write", "hyperhub/lin/discovery/phone"),
        AclRule("write", "hyperhub/lin/node/car_node/availability"),
    ]


def test_node_acl_grows_by_two_lines_per_device(tmp_path: Path) -> None:
    node = CredentialStore(tmp_path).add_node("big_node", [f"d{i}" for i in range(1000)])
    assert len(acl_rules(node, "lin")) == 2 * 1000 + 1


OWN = [
    "hyperhub/lin/car/state",
    "hyperhub/lin/car/ack",
    "hyperhub/lin/car/event/honked",
    "hyperhub/lin/car/availability",
    "hyperhub/lin/car/set",
    "hyperhub/lin/car/call/honk",
]
OTHERS = [
    "hyperhub/lin/front_door/state",
    "hyperhub/lin/front_door/ack",
    "hyperhub/lin/front_door/event/opened",
    "hyperhub/lin/front_door/availability",
    "hyperhub/lin/front_door/set",
    "hyperhub/lin/front_door/call/unlock",
    "hyperhub/lin/discovery/front_door",
    "hyperhub/lin/node/home_node/availability",
    "hyperhub/lin/car_2/state",
    "hyperhub/lin/discovery/car_2",
    "hyperhub/other/car/state",
    "hyperhub/lin/discovery",
    "hyperhub/lin",
    "$SYS/broker/uptime",
]


def test_node_acl_keeps_a_node_to_its_own_devices(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    store.add_node("home_node", ["front_door", "car_2"])
    rules = AclIndex(acl_rules(store.add_node("car_node", ["car"]), "lin"))
    writable = [*OWN, "hyperhub/lin/discovery/car", "hyperhub/lin/node/car_node/availability"]
    assert [t for t in writable if not rules.allows_write(t)] == []
    assert [t for t in OWN if not rules.allows_read(t)] == []  # its commands, its own state
    assert [t for t in OTHERS if rules.allows_write(t)] == []
    assert [t for t in OTHERS if rules.allows_read(t)] == []
    assert not rules.allows_read("hyperhub/lin/discovery/car")  # write-only, as before


@pytest.mark.parametrize(
    "topic_filter",
    [
        "hyperhub/lin/car/set",
        "hyperhub/lin/car/call/+",
        "hyperhub/lin/car/state",
        "hyperhub/lin/car/#",
        "hyperhub/lin/+/set",
        "hyperhub/lin/#",
        "hyperhub/#",
        "#",
        "hyperhub/lin/front_door/set",
        "hyperhub/lin/discovery/car",
        "hyperhub/lin/discovery/+",
        "$SYS/#",
        "hyperhub/lin/car",
    ],
)
def test_acl_index_answers_like_a_scan_of_every_rule(tmp_path: Path, topic_filter: str) -> None:
    store = CredentialStore(tmp_path)
    principals = [
        store.hub(),
        store.add_node("car_node", ["car", "phone"]),
        store.add_node("empty_node", []),
    ]
    for principal in principals:
        rules = acl_rules(principal, "lin")
        index = AclIndex(rules)
        assert index.covers_subscription(topic_filter) == any(
            r.covers_subscription(topic_filter) for r in rules
        )
        if "+" not in topic_filter and "#" not in topic_filter:
            topic = topic_filter
            assert index.allows_write(topic) == any(r.allows_write(topic) for r in rules)
            assert index.allows_read(topic) == any(r.allows_read(topic) for r in rules)


def test_hub_acl_is_everything_under_hyperhub_and_sys(tmp_path: Path) -> None:
    hub = CredentialStore(tmp_path).hub()
    assert acl_rules(hub, "lin") == [AclRule("readwrite", "hyperhub/#"), AclRule("read", "$SYS/#")]


def test_mosquitto_files_list_every_principal(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    car = store.add_node("car_node", ["car"])
    passwd, acl = store.write_mosquitto_files("lin")
    users = [line.split(":", 1)[0] for line in passwd.read_text().splitlines()]
    assert users == ["hub", "car_node"]
    assert car.password not in passwd.read_text()
    text = acl.read_text()
    assert "user hub\ntopic readwrite hyperhub/#\ntopic read $SYS/#\n" in text
    assert (
        "user car_node\ntopic readwrite hyperhub/lin/car/#\n"
        "topic write hyperhub/lin/discovery/car\n"
        "topic write hyperhub/lin/node/car_node/availability\n"
    ) in text


@pytest.mark.skipif(shutil.which("mosquitto_passwd") is None, reason="mosquitto_passwd missing")
def test_hash_matches_mosquitto_passwd(tmp_path: Path) -> None:
    passwd = tmp_path / "passwd"
    passwd.touch()
    subprocess.run(
        ["mosquitto_passwd", "-b", str(passwd), "car_node", "s3cret"], check=True, timeout=30
    )
    theirs = passwd.read_text().strip().split(":", 1)[1]
    salt = base64.b64decode(theirs.split("$")[3])
    assert mosquitto_hash("s3cret", salt=salt) == theirs


@pytest.mark.parametrize(
    ("topic_filter", "topic", "matches"),
    [
        ("hyperhub/#", "hyperhub/lin/car/state", True),
        ("hyperhub/#", "hyperhub", True),
        ("hyperhub/lin/car/call/#", "hyperhub/lin/car/call/honk", True),
        ("hyperhub/lin/+/set", "hyperhub/lin/car/set", True),
        ("hyperhub/lin/car/set", "hyperhub/lin/car/set/x", False),
        ("hyperhub/lin/car/state", "hyperhub/lin/lamp/state", False),
        ("#", "$SYS/broker/uptime", False),
        ("$SYS/#", "$SYS/broker/uptime", True),
    ],
)
def test_topic_matches(topic_filter: str, topic: str, matches: bool) -> None:
    assert topic_matches(topic_filter, topic) is matches


@pytest.mark.parametrize(
    ("inner", "outer", "within"),
    [
        ("hyperhub/lin/car/set", "hyperhub/lin/car/set", True),
        ("hyperhub/lin/car/call/+", "hyperhub/lin/car/call/#", True),
        ("hyperhub/lin/car/call/#", "hyperhub/lin/car/call/#", True),
        ("hyperhub/lin/+/set", "hyperhub/lin/car/set", False),
        ("hyperhub/#", "hyperhub/lin/car/set", False),
        ("hyperhub/lin/car/#", "hyperhub/lin/car/call/#", False),
        ("hyperhub/lin/car/set", "hyperhub/#", True),
        ("$SYS/#", "#", False),
    ],
)
def test_filter_within(inner: str, outer: str, within: bool) -> None:
    assert filter_within(inner, outer) is within


def test_credentials_file_is_plain_json(tmp_path: Path) -> None:
    store = CredentialStore(tmp_path)
    car = store.add_node("car_node", ["car"])
    data = json.loads(store.path.read_text())
    assert data["nodes"]["car_node"] == {"password": car.password, "devices": ["car"]}
