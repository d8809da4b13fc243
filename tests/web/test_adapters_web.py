"""The dashboard's new devices: a real `hyperhub run` with a Zigbee2MQTT adapter on its own
broker, a stand-in Zigbee2MQTT logged in with `hyperhub adapters login`, Chromium. Found
devices show on Home with Accept; accepting one makes it a tile of its room at once."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from tests.helpers.broker import LoopThread
from tests.helpers.ha_devices import FakeHaDevices
from tests.helpers.wait import wait_until
from tests.helpers.z2m import FakeZigbee2Mqtt

from hyperhub.fabric.broker_url import BrokerURL

from .conftest import PASSWORD, Hub, _api_url, _healthy, _stop, hyperhub, use_token

SPACE = """\
space: Zigbee flat
areas:
  - {id: kitchen, name: Kitchen, floor: ground floor}
  - {id: bedroom, name: Bedroom, floor: ground floor}
devices:
  - {id: kettle_plug, type: plug, name: Kettle, area: kitchen}
adapters:
  - {id: zigbee, kind: zigbee2mqtt, timeout_s: 2}
"""


@contextmanager
def running_hub(where: Path, space_text: str) -> Iterator[tuple[Hub, Path]]:
    """`hyperhub run` of `space_text` with an admin token, its API healthy."""
    space = where / "home.yaml"
    space.write_text(space_text)
    data_dir = where / "data"
    hyperhub("user", "add", "admin", "--admin", "--password-stdin", data_dir=data_dir,
             stdin=PASSWORD + "\n")  # fmt: skip
    token = hyperhub("token", "create", "--scopes", "read,control,control:risky,admin",
                     "--name", "web-tests", data_dir=data_dir).strip()  # fmt: skip
    log = data_dir / "hub-output.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "hyperhub", "run", "--space", str(space),
             "--data-dir", str(data_dir), "--port", "0", "--broker-port", "0"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True,
        )  # fmt: skip
    try:
        url = wait_until(lambda: _api_url(proc, data_dir, log), "hub.json's api_url", 90)
        hub = Hub(url=url.rstrip("/") + "/", data_dir=data_dir, token=token, log=log)
        wait_until(lambda: _healthy(proc, hub), "GET /api/health 200", 90)
        yield hub, space
    finally:
        _stop(proc)


def login_kwargs(hub: Hub, space: Path, *args: str) -> dict[str, object]:
    """Client arguments for `hyperhub adapters login ARGS` on the hub's broker."""
    login = json.loads(hyperhub("adapters", "login", *args, "--space", str(space), "--json",
                                data_dir=hub.data_dir))  # fmt: skip
    return BrokerURL.parse(login["broker"]).client_kwargs()


@pytest.fixture(scope="module")
def zigbee_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Hub, FakeZigbee2Mqtt]]:
    loop = LoopThread()
    z2m = None
    try:
        with running_hub(tmp_path_factory.mktemp("zigbee"), SPACE) as (hub, space):
            z2m = FakeZigbee2Mqtt(login_kwargs(hub, space, "zigbee"),
                                  states={"bedroom/Blind": {"position": 100}})  # fmt: skip
            loop.call(z2m.__aenter__())
            yield hub, z2m
            loop.call(z2m.__aexit__(None, None, None))
            z2m = None
    finally:
        if z2m is not None:
            loop.call(z2m.__aexit__(None, None, None))
        loop.close()


def test_found_devices_show_on_home_and_accepting_one_adds_its_tile(
    zigbee_hub: tuple[Hub, FakeZigbee2Mqtt], page: object
) -> None:
    from playwright.sync_api import Page, expect

    hub, z2m = zigbee_hub
    assert isinstance(page, Page)
    wait_until(lambda: hub.api("GET", "adapters/pending")[1], "pending devices over the API", 20)
    use_token(page, hub)
    found = page.get_by_role("region", name="New devices found")
    expect(found).to_be_visible()
    # a whole network found at once starts folded, its count in the summary
    expect(found.locator("summary")).to_contain_text("New devices found (13)")
    found.locator("summary").click()
    blind = found.locator("li", has=page.get_by_role("heading", name="Blind", exact=True))
    expect(blind).to_contain_text("Cover")  # its type in words, and who makes it
    expect(blind).to_contain_text("IKEA")
    expect(blind.get_by_role("combobox", name="Area")).to_have_value("bedroom")
    page.screenshot(path=str(hub.data_dir / "found-desktop.png"))
    blind.get_by_role("button", name="Accept").click()
    expect(page.locator(".toast")).to_contain_text("Added Blind.")
    bedroom = page.get_by_role("region", name="Bedroom")
    expect(bedroom.get_by_role("link", name="Details of Blind")).to_be_visible()
    # what the blind reported before it was accepted is its state at once
    expect(bedroom.locator(".tile", has_text="Blind")).to_contain_text("Open")
    expect(found.get_by_role("heading", name="Blind", exact=True)).to_have_count(0)
    status, devices = hub.api("GET", "devices")
    assert status == 200 and "blind" in {d["id"] for d in devices}
    # turned down: it is not offered again
    plug = found.locator("li", has=page.get_by_role("heading", name="desk plug", exact=True))
    plug.get_by_role("button", name="Ignore").click()
    expect(found.get_by_role("heading", name="desk plug", exact=True)).to_have_count(0)
    # accepted elsewhere (the API, the CLI): an open dashboard draws it without a reload
    body = {"key": "zigbee:0x00158d0000000006", "area": "kitchen"}
    status, _ = hub.api("POST", "adapters/accept", body)
    assert status == 200
    expect(page.get_by_role("link", name="Details of Front Door Contact")).to_be_visible()
    page.set_viewport_size({"width": 390, "height": 844})
    expect(found).to_be_visible()
    page.screenshot(path=str(hub.data_dir / "found-phone.png"), full_page=True)
    assert z2m.sets == []  # nothing was sent to the bridge by accepting


HA_SPACE = """\
space: Tasmota flat
areas:
  - {id: office, name: Office}
devices:
  - {id: hall_light, type: light}
adapters:
  - {id: ha, kind: ha_discovery, topics: [tasmota/#]}
"""


def test_home_assistant_discovery_devices_show_and_what_was_left_out_says_why(
    tmp_path: Path, page: object
) -> None:
    from playwright.sync_api import Page, expect

    assert isinstance(page, Page)
    loop = LoopThread()
    with running_hub(tmp_path, HA_SPACE) as (hub, space):
        firmware = FakeHaDevices(login_kwargs(hub, space, "ha", "--devices"), configs={
            "homeassistant/switch/1A2B3C/relay/config": {
                "name": None, "uniq_id": "1A2B3C_RL_1", "stat_t": "tasmota/kettle/POWER",
                "cmd_t": "tasmota/kettle/cmnd/POWER",
                "dev": {"ids": ["1A2B3C"], "name": "Kettle Plug", "mf": "Tasmota", "sa": "Office"},
            },
            "homeassistant/switch/pump/config": {"name": "Garden Pump", "uniq_id": "pump",
                                                 "cmd_t": "shellies/pump/set"},
        })  # fmt: skip
        loop.call(firmware.__aenter__())
        try:
            wait_until(lambda: hub.api("GET", "adapters/pending")[1], "pending over the API", 20)
            use_token(page, hub)
            found = page.get_by_role("region", name="New devices found")
            kettle = found.locator("li", has=page.get_by_role("heading", name="Kettle Plug"))
            expect(kettle).to_contain_text("Switch · Tasmota")
            expect(kettle.get_by_role("combobox", name="Area")).to_have_value("office")
            expect(found).to_contain_text("Left out (an admin can fix it in the space file)")
            expect(found).to_contain_text(
                "Garden Pump (switch pump) left out: its topics shellies/pump/set are not the "
                "adapter's to use on the hub's broker; add shellies/# to the adapter's `topics:`"
            )
            page.set_viewport_size({"width": 390, "height": 844})
            expect(kettle.get_by_role("button", name="Accept")).to_be_visible()
            kettle.get_by_role("button", name="Accept").click()
            expect(page.locator(".toast")).to_contain_text("Added Kettle Plug.")
            office = page.get_by_role("region", name="Office")
            expect(office.get_by_role("link", name="Details of Kettle Plug")).to_be_visible()
        finally:
            loop.call(firmware.__aexit__(None, None, None))
            loop.close()
