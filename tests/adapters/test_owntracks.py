"""OwnTracks phones in a running hub, both ways the app reports: MQTT (on the hub's broker,
with the adapter's bridge login) and HTTP (`POST /api/adapters/<id>/owntracks`). A phone the
`users:` map names is the space's own phone, now real: its location moves it, its last will
takes it offline, and the leaving-home rule fires from it."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.api_hub import Hub, start_hub
from tests.helpers.broker import LoopThread
from tests.helpers.wait import wait_until

from hyperhub.adapters.running import bridge_login
from hyperhub.automation.loader import parse_automations
from hyperhub.fabric.broker import local_url
from hyperhub.fabric.client import FabricClient
from hyperhub.fabric.credentials import CredentialStore
from hyperhub.space import load_space

HOME = {"lat": 31.2036, "lon": 121.5875}
SPACE = f"""\
space: Phone home
location: {{lat: {HOME["lat"]}, lon: {HOME["lon"]}}}
areas:
  - {{id: hall, name: Hall}}
devices:
  - {{id: hall_light, type: light, area: hall}}
  - {{id: alice_phone, type: phone, name: Alice's Phone,
     state: {{location: {{lat: {HOME["lat"]}, lon: {HOME["lon"]}}}}}}}
adapters:
  - id: phones
    kind: owntracks
    users: {{alice/pixel: alice_phone}}
"""
RULES = """\
rules:
  - id: light_when_alice_leaves
    triggers: [{geofence: {device: alice_phone, event: leave}}]
    actions: [{set: {device: hall_light, property: "on", value: true}}]
"""
FAR = {"lat": 31.30, "lon": 121.70}  # ~14 km away


def location(where: dict[str, float], tst: int, batt: int = 80) -> dict[str, Any]:
    return {"_type": "location", "lat": where["lat"], "lon": where["lon"], "tst": tst,
            "batt": batt, "acc": 12, "tid": "ap"}  # fmt: skip


@pytest.fixture
def hub(tmp_path: Path) -> Iterator[Hub]:
    path = tmp_path / "home.yaml"
    path.write_text(SPACE)
    space = load_space(path)
    data_dir = tmp_path / "data"
    bridge_login(CredentialStore(data_dir), space.adapters["phones"])
    running = start_hub(data_dir, space, automations=parse_automations(RULES, "r.yaml", space))
    try:
        yield running
    finally:
        running._stop()


class App:
    """The OwnTracks app in MQTT mode, on its own loop thread."""

    def __init__(self, hub: Hub) -> None:
        login = bridge_login(CredentialStore(hub.data_dir), hub.space.adapters["phones"])
        info = hub.status.info
        kwargs = local_url(info.broker_host, info.broker_port, login).client_kwargs()
        self.loop = LoopThread()
        self.client = FabricClient(kwargs, client_id="owntracks-app")

        async def start() -> None:
            self.client.start()
            await self.client.wait_connected(10)

        self.loop.call(start())

    def send(self, who: str, message: dict[str, Any] | str) -> None:
        text = message if isinstance(message, str) else json.dumps(message)
        self.loop.call(self.client.publish(f"owntracks/{who}", text))

    def close(self) -> None:
        self.loop.call(self.client.close())
        self.loop.close()


def state(hub: Hub, device: str) -> dict[str, Any]:
    fabric = hub.status.fabric
    record = None if fabric is None else fabric.registry.get(device)
    return {} if record is None else dict(record.state)


def online(hub: Hub, device: str) -> bool:
    return hub.status.fabric is not None and hub.status.fabric.registry.is_online(device)


def test_a_real_phone_over_mqtt_moves_goes_offline_and_fires_the_leaving_rule(hub: Hub) -> None:
    app = App(hub)
    try:
        assert not online(hub, "alice_phone")  # no longer simulated: real once it reports
        app.send("alice/pixel", location(HOME, 1_000))
        wait_until(lambda: online(hub, "alice_phone"), "the phone online once it reported")
        assert state(hub, "alice_phone")["battery"] == 80
        app.send("alice/pixel", location(FAR, 1_100, batt=75))
        wait_until(lambda: state(hub, "alice_phone")["location"] == FAR, "the phone away")
        wait_until(lambda: state(hub, "hall_light").get("on") is True, "the leaving rule's light")
        # an older report (sent late after an outage) does not move it back
        app.send("alice/pixel", location(HOME, 1_050))
        app.send("alice/pixel", "not json at all")  # dropped; the adapter goes on
        app.send("alice/pixel", location(FAR, 1_200, batt=70))
        wait_until(lambda: state(hub, "alice_phone")["battery"] == 70, "the newest report")
        assert state(hub, "alice_phone")["location"] == FAR
        # the app's last will: offline until it reports again
        app.send("alice/pixel", {"_type": "lwt", "tst": 1_300})
        wait_until(lambda: not online(hub, "alice_phone"), "offline after its last will")
        # a phone nobody mapped waits in pending, as a phone — once it said where it is
        app.send("eve/x", {"_type": "card", "name": "Eve"})
        app.send("bob/iphone", location(HOME, 1_000))
        adapters = hub.status.adapters
        assert adapters is not None
        found = wait_until(lambda: adapters.pending("phones"), "bob's phone pending")
        assert [(f.key, f.proposal["type"], f.proposal["id"]) for f in found] == [
            ("phones:bob/iphone", "phone", "bob_iphone")
        ]
    finally:
        app.close()


def basic(token: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"alice:{token}".encode()).decode()}


def test_the_http_mode_takes_the_same_reports_with_a_token(hub: Hub) -> None:
    url = "/api/adapters/phones/owntracks"
    who = {"X-Limit-U": "alice", "X-Limit-D": "pixel"}
    plain = hub.client()
    control = hub.token("control")
    answer = plain.post(url, json=location(FAR, 2_000), headers={**who, **basic(control)})
    assert answer.status_code == 200 and answer.json() == []
    wait_until(lambda: state(hub, "alice_phone").get("location") == FAR, "moved over HTTP")
    bearer = {"Authorization": f"Bearer {control}"}
    assert plain.post(url, json=location(HOME, 2_100), headers={**who, **bearer}).status_code == 200
    wait_until(lambda: state(hub, "alice_phone").get("location") == HOME, "moved back")
    # refused: no token, a token that may not change state, no names, no OwnTracks JSON
    assert plain.post(url, json=location(FAR, 2_200), headers=who).status_code == 401
    reader = basic(hub.token("read"))
    assert plain.post(url, json=location(FAR, 2_200), headers={**who, **reader}).status_code == 403
    assert plain.post(url, json=location(FAR, 2_200), headers=basic(control)).status_code == 422
    bad = plain.post(url, json={"_type": "location"}, headers={**who, **basic(control)})
    assert bad.status_code == 422 and "lat/lon" in bad.json()["error"]["message"]
    other = plain.post("/api/adapters/nope/owntracks", json={}, headers={**who, **basic(control)})
    assert other.status_code in (404, 409)
    assert state(hub, "alice_phone")["location"] == HOME  # nothing refused moved it
    # a report from the far future (a phone's clock off) is taken as now, not as a wall
    far = 4_000_000_000
    plain.post(url, json=location(FAR, far), headers={**who, **basic(control)})
    wait_until(lambda: state(hub, "alice_phone").get("location") == FAR, "taken as now")
    plain.post(url, json=location(HOME, 2_000_000_000), headers={**who, **basic(control)})
    wait_until(lambda: state(hub, "alice_phone").get("location") == HOME, "later reports count")


def test_a_phone_reporting_through_owntracks_takes_no_commands(hub: Hub) -> None:
    control = hub.client(hub.token("read", "control"))
    plain = hub.client()
    token = hub.token("control")
    who = {"X-Limit-U": "alice", "X-Limit-D": "pixel"}
    plain.post(
        "/api/adapters/phones/owntracks",
        json=location(HOME, 3_000),
        headers={**who, **basic(token)},
    )
    wait_until(lambda: online(hub, "alice_phone"), "online")
    refused = control.post("/api/devices/alice_phone/set", json={"property": "dnd", "value": True})
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "not_supported"
    assert "OwnTracks" in refused.json()["error"]["message"]


def test_a_retained_report_places_a_phone_but_does_not_make_it_online() -> None:
    """The broker's copy of the app's last report, read on connecting, may be days old."""
    from hyperhub.adapters.owntracks.adapter import OwnTracks
    from hyperhub.space import parse_space

    space = parse_space(SPACE)
    phones = OwnTracks(space.adapters["phones"], space, None, clock=lambda: 5_000.0)
    told: list[str] = []
    phones.listen(told.append)
    assert phones.take("alice", "pixel", location(FAR, 4_000), retained=True)
    assert phones.state("alice_phone")["location"] == FAR and told == ["alice_phone"]
    assert not phones.online("alice_phone")
    assert phones.take("alice", "pixel", location(HOME, 4_500))
    assert phones.online("alice_phone") and phones.state("alice_phone")["location"] == HOME
    with pytest.raises(ValueError, match="lat/lon"):
        phones.take("alice", "pixel", {"_type": "location", "lat": "north"})
