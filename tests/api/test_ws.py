"""`/api/ws`: live state pushed from devices, subscriptions by device / area / type, auth
close codes, revocation, and the bounded per-client queue."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from tests.helpers.api_hub import Hub
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from hyperhub.api.live import LiveClient
from hyperhub.fabric.feed import Availability
from hyperhub.runtime import send_to_running_hub
from hyperhub.store import StateStore

Message = dict[str, Any]


def open_ws(hub: Hub, token: str | None) -> ClientConnection:
    url = hub.ws_url + (f"?token={token}" if token else "")
    return connect(url, open_timeout=10, close_timeout=5)


def next_messages(ws: ClientConnection, timeout: float = 10.0) -> list[Message]:
    """The messages of the next frame (a frame is one object or an array of them)."""
    data = json.loads(ws.recv(timeout=timeout))
    return data if isinstance(data, list) else [data]


def wait_for(
    ws: ClientConnection, match: Callable[[Message], bool], timeout: float = 10.0
) -> tuple[Message, list[Message]]:
    """The first message that matches (bounded), and every message seen before it."""
    deadline = time.monotonic() + timeout
    seen: list[Message] = []
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"no matching message within {timeout} s; saw {seen[-5:]}")
        for message in next_messages(ws, left):
            if match(message):
                return message, seen
            seen.append(message)


def set_by_another_path(hub: Hub, device: str, prop: str, value: Any) -> None:
    """A command through the hub's broker, as `hyperhub set` sends it (not through the API)."""
    with StateStore.open(data_dir=hub.data_dir) as store:
        asyncio.run(
            send_to_running_hub(
                hub.status.info,
                hub.data_dir,
                hub.space,
                store,
                device,
                actor="test",
                confirm=False,
                property=prop,
                value=value,
            )
        )


def subscribe(ws: ClientConnection, **wanted: list[str]) -> list[str]:
    ws.send(json.dumps({"subscribe": wanted}))
    reply, _ = wait_for(ws, lambda m: m["type"] in ("subscribed", "error"))
    assert reply["type"] == "subscribed", reply
    return reply["devices"]


def test_a_state_change_from_another_path_is_pushed_live(hub: Hub):
    set_by_another_path(hub, "hallway_light", "brightness", 11)
    with open_ws(hub, hub.token("read")) as ws:
        hello = next_messages(ws)[0]
        assert hello == {"type": "hello", "space": "Chen family", "devices": len(hub.space.devices)}
        assert subscribe(ws, devices=["hallway_light"]) == ["hallway_light"]
        set_by_another_path(hub, "hallway_light", "brightness", 66)
        change, _ = wait_for(ws, lambda m: m["type"] == "state")
    assert change["device"] == "hallway_light"
    assert change["changes"] == {"brightness": 66}
    assert change["state"]["brightness"] == 66 and isinstance(change["ts"], float)


def test_subscriptions_narrow_by_area_and_type(hub: Hub, owner):
    with open_ws(hub, hub.token("read")) as ws:
        next_messages(ws)
        assert subscribe(ws, areas=["kitchen"], types=["light"]) == ["kitchen_light"]
        owner.post("/api/devices/dining_pendant/set", json={"property": "brightness", "value": 5})
        owner.post("/api/devices/kitchen_light/set", json={"property": "brightness", "value": 7})
        owner.post("/api/devices/kitchen_light/set", json={"property": "brightness", "value": 8})
        last, before = wait_for(ws, lambda m: m.get("changes") == {"brightness": 8})
    assert {m.get("device") for m in [*before, last] if m["type"] == "state"} == {"kitchen_light"}


def test_a_bad_subscribe_gets_an_error_and_the_socket_stays_open(hub: Hub):
    with open_ws(hub, hub.token("read")) as ws:
        next_messages(ws)
        for bad in (
            "not json",
            json.dumps({"subscribe": {"areas": ["attic"]}}),
            json.dumps({"subscribe": {"devices": "car"}}),
            json.dumps({"hello": 1}),
        ):
            ws.send(bad)
            error, _ = wait_for(ws, lambda m: m["type"] == "error")
            assert error["message"]
        assert subscribe(ws, devices=["car"]) == ["car"]
        assert len(subscribe(ws)) == len(hub.space.devices)  # {} = everything


@pytest.mark.parametrize(("scopes", "code"), [(None, 4401), (("control",), 4403)])
def test_no_token_or_no_read_scope_closes_the_socket(hub: Hub, scopes, code):
    token = "hh_forged" if scopes is None else hub.token(*scopes)
    with open_ws(hub, token) as ws, pytest.raises(ConnectionClosed) as closed:
        ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == code


def test_revoking_a_token_closes_its_open_socket(hub: Hub):
    secret, token = hub.auth.create_token("ws-revoke", {"read"})
    with open_ws(hub, secret) as ws:
        next_messages(ws)
        subscribe(ws, devices=["car"])
        hub.auth.revoke(token.id)
        deadline = time.monotonic() + 15
        with pytest.raises(ConnectionClosed) as closed:
            while time.monotonic() < deadline:  # state messages may come before the close
                ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401


def test_a_slow_client_loses_its_oldest_messages_and_they_are_counted(hub: Hub):
    feed = hub.ctx.live
    assert feed is not None
    client = LiveClient(feed, hub.auth.verify(hub.token("read")), maxlen=3)
    before = feed.dropped
    for i in range(5):
        client.push(str(i))
    assert list(client.queue) == ["2", "3", "4"]
    assert client.dropped == 2 and feed.dropped == before + 2


def test_availability_comes_from_the_fabrics_feed_once_per_change(hub: Hub):
    """The live feed looked at the registry four times a second; now it listens to the
    fabric's availability feed and says each change once."""
    _, _, availability = hub.ctx.fabric.feeds
    with open_ws(hub, hub.token("read")) as ws:
        next_messages(ws)
        subscribe(ws, devices=["garden_lights"])
        for online in (False, False, True):  # the second "offline" is not news
            hub.call(lambda o=online: availability.publish(Availability("garden_lights", o, 1.0)))
        gone, _ = wait_for(ws, lambda m: m["type"] == "availability")
        back, between = wait_for(ws, lambda m: m["type"] == "availability")
    assert (gone["device"], gone["online"], back["online"]) == ("garden_lights", False, True)
    assert not [m for m in between if m["type"] == "availability"]
