"""Adapters in a running hub (`runtime.serve`, embedded Mosquitto, API): a stand-in
Zigbee2MQTT logs in with its own bridge login, accepted devices are ordinary devices (state,
commands, the assistant), found ones wait in pending (the CLI reads them), and accepting
or rejecting one while the hub runs takes effect at once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.api_hub import Hub, start_hub
from tests.helpers.broker import LoopThread
from tests.helpers.wait import wait_until
from tests.helpers.z2m import FakeZigbee2Mqtt
from typer.testing import CliRunner

from hyperhub.adapters.accepted import accept, reject
from hyperhub.adapters.found import read_found
from hyperhub.adapters.running import bridge_login
from hyperhub.cli.main import app
from hyperhub.fabric.broker import local_url
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.space import Space, load_space

SPACE = """\
space: Adapter home
areas:
  - {id: kitchen, name: Kitchen}
  - {id: bedroom, name: Bedroom}
devices:
  - {id: kettle_plug, type: plug, area: kitchen}
adapters:
  - {id: zigbee, kind: zigbee2mqtt, timeout_s: 2, accept: ACCEPT}
"""
ACCEPTED = """\
# the lamp was accepted earlier
devices:
  - {id: floor_lamp, type: light, name: Floor Lamp, area: kitchen, adapter: zigbee,
     external: "0x00158d0000000001", properties: [on, brightness, color_temp]}
"""
STATES = {
    "kitchen/Floor Lamp": {"state": "ON", "brightness": 254, "color_temp": 370},
    "bedroom/Blind": {"position": 100},
}


def files(where: Path, accept_mode: str) -> Path:
    path = where / "home.yaml"
    path.write_text(SPACE.replace("ACCEPT", accept_mode))
    (where / "home.adapters.yaml").write_text(ACCEPTED)
    return path


class Peer:
    """The stand-in Zigbee2MQTT on its own event-loop thread, logged in as the bridge."""

    def __init__(self, hub: Hub, data_dir: Path, space: Space) -> None:
        login = bridge_login(CredentialStore(data_dir), space.adapters["zigbee"])
        info = hub.status.info
        kwargs = local_url(info.broker_host, info.broker_port, login).client_kwargs()
        self.loop = LoopThread()
        self.z2m = FakeZigbee2Mqtt(kwargs, states=STATES)
        self.loop.call(self.z2m.__aenter__())

    def close(self) -> None:
        self.loop.call(self.z2m.__aexit__(None, None, None))
        self.loop.close()


@pytest.fixture
def running(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Hub, Peer, Path]]:
    mode = getattr(request, "param", "ask")
    path = files(tmp_path, mode)
    data_dir = tmp_path / "data"
    space = load_space(path)
    bridge_login(CredentialStore(data_dir), space.adapters["zigbee"])  # before the broker
    hub = start_hub(data_dir, space)
    peer = Peer(hub, data_dir, space)
    try:
        yield hub, peer, data_dir
    finally:
        peer.close()
        hub._stop()


def on_hub(hub: Hub, coro: Any) -> Any:
    assert hub.loop is not None
    return asyncio.run_coroutine_threadsafe(coro, hub.loop).result(15)


def online(hub: Hub, device: str) -> bool:
    fabric = hub.status.fabric
    return fabric is not None and fabric.registry.is_online(device)


def test_accepted_devices_are_ordinary_devices_and_found_ones_wait(
    running: tuple[Hub, Peer, Path],
) -> None:
    hub, peer, data_dir = running
    wait_until(lambda: online(hub, "floor_lamp"), "the accepted lamp online")
    control = hub.client(hub.token("read", "control"))
    lamp = wait_until(
        lambda: (r := control.get("/api/devices/floor_lamp").json())["state"].get("on") and r,
        "the lamp's state in the API",
    )
    assert lamp["adapter"] == "zigbee" and lamp["state"]["color_temp"] == 2700
    # a command from the API goes through the hub's checks to Zigbee2MQTT, and back
    answer = control.post(
        "/api/devices/floor_lamp/set", json={"property": "brightness", "value": 40}
    )
    assert answer.status_code == 200, answer.text
    assert peer.z2m.sets[-1] == ("kitchen/Floor Lamp", {"brightness": 102})
    # the rest of the bridge waits in pending, for the CLI too (no hub needed to read it)
    found = wait_until(
        lambda: read_found(data_dir, "adapter_home", "zigbee", "zigbee2mqtt").found, "found list"
    )
    assert {f.proposal["id"] for f in found} >= {"floor_lamp", "blind", "desk_plug"}
    result = CliRunner().invoke(
        app,
        [
            "adapters",
            "pending",
            "--space",
            str(hub.space.path),
            "--data-dir",
            str(data_dir),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    pending = {p["key"]: p for p in json.loads(result.stdout)}
    assert "zigbee:0x00158d0000000002" in pending  # the blind
    assert "zigbee:0x00158d0000000001" not in pending  # the lamp is accepted
    assert pending["zigbee:0x00158d0000000002"]["proposal"]["area"] == "bedroom"
    # accepted devices are ordinary devices of `hyperhub devices`, which says where they came from
    listed = CliRunner().invoke(
        app, ["devices", "--space", str(hub.space.path), "--data-dir", str(data_dir), "--json"]
    )
    by_id = {d["id"]: d for d in json.loads(listed.stdout)}
    assert by_id["floor_lamp"]["adapter"] == "zigbee" and by_id["kettle_plug"]["adapter"] is None


def test_accepting_and_rejecting_while_running_takes_effect_at_once(
    running: tuple[Hub, Peer, Path],
) -> None:
    hub, peer, _data_dir = running
    space = hub.space
    wait_until(lambda: online(hub, "floor_lamp"), "the lamp online")
    adapters = hub.status.adapters
    assert adapters is not None
    blind = wait_until(
        lambda: next((f for f in adapters.pending("zigbee") if f.proposal["id"] == "blind"), None),
        "the blind pending",
    )
    entry = accept(space, blind, device_id="bedroom_blind", name="Bedroom Blind")
    assert entry["class"] == "blind"
    added, removed = on_hub(hub, adapters.reload())
    assert (added, removed) == (["bedroom_blind"], [])
    assert space.devices["bedroom_blind"].adapter == "zigbee"
    record = wait_until(
        lambda: hub.status.fabric and hub.status.fabric.registry.get("bedroom_blind"), "joined"
    )
    wait_until(lambda: record.ts, "its first state")
    assert record.ts > 1_700_000_000  # its first state is dated now, not 1970
    wait_until(lambda: online(hub, "bedroom_blind"), "the accepted blind online")
    control = hub.client(hub.token("read", "control"))
    # the assistant knows it by its new name at once
    said = control.post("/api/ask", json={"text": "set the bedroom blind to 40%"})
    assert said.status_code == 200, said.text
    assert said.json()["actions"] == [
        {"device": "bedroom_blind", "property": "position", "value": 40}
    ]
    assert peer.z2m.sets[-1] == ("bedroom/Blind", {"position": 40})
    assert "bedroom_blind" not in {f.proposal["id"] for f in adapters.pending("zigbee")}
    # rejected: it leaves the space and the fabric, and is not offered again
    assert "removed device bedroom_blind" in reject(space, "zigbee", "bedroom_blind")
    added, removed = on_hub(hub, adapters.reload())
    assert (added, removed) == ([], ["bedroom_blind"])
    assert "bedroom_blind" not in space.devices
    wait_until(
        lambda: (
            hub.status.fabric is not None
            and hub.status.fabric.registry.get("bedroom_blind") is None
        ),
        "the blind gone from the fabric",
    )
    assert control.get("/api/devices/bedroom_blind").status_code == 404
    assert not any(f.external == blind.external for f in adapters.pending("zigbee"))


@pytest.mark.parametrize("running", ["all"], indirect=True)
def test_accept_all_takes_every_device_the_bridge_has(running: tuple[Hub, Peer, Path]) -> None:
    hub, _peer, _data_dir = running
    wait_until(lambda: online(hub, "blind"), "the blind accepted and online", timeout=20)
    space = hub.space
    assert {"floor_lamp", "blind", "desk_plug", "back_door_lock", "ceiling_fan"} <= set(
        space.devices
    )
    assert space.devices["ceiling_fan_light"].external == "0x00158d000000000b/light"
    reread = load_space(space.path)  # kept in the file beside the space file
    assert set(reread.devices) == set(space.devices)
    assert hub.status.adapters is not None and hub.status.adapters.pending("zigbee") == []


def test_the_api_lists_accepts_and_rejects_with_the_admin_scope(
    running: tuple[Hub, Peer, Path],
) -> None:
    hub, peer, _data_dir = running
    wait_until(lambda: online(hub, "floor_lamp"), "the lamp online")
    reader = hub.client(hub.token("read", "control"))
    admin = hub.client(hub.token("read", "admin"))
    listed = reader.get("/api/adapters").json()
    assert listed[0]["id"] == "zigbee" and listed[0]["devices"] == ["floor_lamp"]
    assert listed[0]["online"] is True and listed[0]["broker"] is None
    waiting = wait_until(lambda: reader.get("/api/adapters/pending").json(), "pending over the API")
    blind = next(p for p in waiting if p["proposal"]["id"] == "blind")
    assert blind["key"] == "zigbee:0x00158d0000000002" and blind["vendor"]
    # accepting changes the space: admin only, and checked
    body = {"key": blind["key"], "area": "attic"}
    assert reader.post("/api/adapters/accept", json=body).status_code == 403
    refused = admin.post("/api/adapters/accept", json=body)
    assert refused.status_code == 409 and "no area 'attic'" in refused.json()["error"]["message"]
    unknown = admin.post("/api/adapters/accept", json={"key": "zigbee:0xdeadbeef"})
    assert unknown.status_code == 404
    assert admin.post("/api/adapters/accept", json={"key": "nocolon"}).status_code == 422
    done = admin.post("/api/adapters/accept", json={"key": blind["key"], "name": "Blind"})
    assert done.status_code == 200, done.text
    assert done.json()["added"] == ["blind"]
    wait_until(lambda: reader.get("/api/devices/blind").json().get("online"), "the blind online")
    ack = reader.post("/api/devices/blind/set", json={"property": "position", "value": 10})
    assert ack.status_code == 200, ack.text
    assert peer.z2m.sets[-1] == ("bedroom/Blind", {"position": 10})
    gone = admin.post("/api/adapters/reject", json={"key": "zigbee:blind"})
    assert gone.status_code == 200 and gone.json()["removed"] == ["blind"]
    assert reader.get("/api/devices/blind").status_code == 404
