"""`HubFabric` against a real Mosquitto, fed by a plain MQTT client playing the devices.

The registry, the store (a real SQLite file) and `send_command`'s checks, acks, timeouts and
availability, without a node: each test publishes exactly the payloads it is about.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from tests.helpers.wait import until

from hyperhub.clock import ManualClock
from hyperhub.errors import (
    CommandFailed,
    DeviceTimeout,
    DeviceUnavailable,
    NeedsConfirmation,
    SpecError,
    UnknownDevice,
    ValueNotAllowed,
)
from hyperhub.fabric.broker import BrokerLimits
from hyperhub.fabric.client import FabricClient
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.messages import (
    EXPIRED,
    MAX_PAYLOAD,
    AckMsg,
    DiscoveryMsg,
    EventMsg,
    StateMsg,
    dump,
)
from hyperhub.fabric.topics import Topics
from hyperhub.space import parse_space
from hyperhub.spec import builtin_types
from hyperhub.store import StateStore

T0 = 1_700_000_000.0
TOPICS = Topics("test")
KETTLE = {
    "type": "kettle",
    "properties": {
        "on": {"kind": "bool", "default": False},
        "target_temp": {"kind": "int", "min": 40, "max": 100, "default": 100},
    },
    "actions": {"boil": {"effects": [{"set": {"on": True}}]}},
}


def discovery(device: str, type: str, **extra: Any) -> bytes:
    return dump(DiscoveryMsg(device=device, type=type, name=device.title(), node="home", **extra))


def state(ts: float, **values: Any) -> bytes:
    return dump(StateMsg(ts=ts, state=values))


@asynccontextmanager
async def fabric(
    broker: Any, store: StateStore | None = None, **hub_kwargs: Any
) -> AsyncIterator[tuple[HubFabric, FabricClient]]:
    """A connected hub and a connected plain client (logged in as the hub, so it may say
    anything), the client playing the devices."""
    kwargs = broker.url(broker.hub).client_kwargs()
    hub_kwargs.setdefault("clock", ManualClock(T0))
    hub = HubFabric("test", kwargs, types=builtin_types(), store=store, **hub_kwargs)
    async with hub, FabricClient(kwargs, client_id="devices") as devices:
        await hub.wait_connected(10)
        await devices.wait_connected(10)
        yield hub, devices


async def join(hub: HubFabric, devices: FabricClient, device: str, type: str, **extra: Any) -> None:
    """Announce a device (online) and wait until the hub has it."""
    await devices.publish(TOPICS.discovery(device), discovery(device, type, **extra), retain=True)
    await devices.publish(TOPICS.availability(device), "online", retain=True)
    await until(lambda: hub.registry.is_online(device), f"{device} to join")


async def answer_with(
    devices: FabricClient, device: str, reply: Callable[[dict], AckMsg]
) -> list[dict]:
    """Play a device that answers every command with `reply(command)`; returns what it got."""
    got: list[dict] = []

    async def respond(message: aiomqtt.Message) -> None:
        command = json.loads(message.payload)
        got.append({"topic": message.topic.value, **command})
        await devices.publish(TOPICS.ack(device), dump(reply(command)))

    await devices.subscribe(TOPICS.commands_for(device), respond)
    return got


def ok(command: dict) -> AckMsg:
    return AckMsg(
        cid=command["cid"], ok=True, changes={command.get("property", "x"): command.get("value")}
    )


# -- discovery ----------------------------------------------------------------------------
def test_devices_join_with_their_type_or_the_spec_they_bring(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker) as (hub, devices):
            await join(hub, devices, "lamp", "light", properties=["on", "brightness"])
            await join(hub, devices, "kettle", "kettle", spec=KETTLE)
            lamp, kettle = hub.registry.get("lamp"), hub.registry.get("kettle")
            assert lamp is not None and kettle is not None
            assert lamp.dtype is builtin_types().get("light")
            assert lamp.properties == {"on", "brightness"} and lamp.node == "home"
            assert set(kettle.dtype.properties) == {"on", "target_temp"}
            assert "boil" in kettle.dtype.actions

    run(main())


def test_empty_retained_discovery_removes_the_device(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await devices.publish(TOPICS.discovery("lamp"), b"", retain=True)
            await until(lambda: "lamp" not in hub.registry, "lamp to leave")
            with pytest.raises(UnknownDevice, match="lamp"):
                await hub.send_command("lamp", property="on", value=True, actor="test")

    run(main())


def test_unknown_type_without_spec_is_dropped_and_counted(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker) as (hub, devices):
            await devices.publish(
                TOPICS.discovery("toaster"), discovery("toaster", "toaster"), retain=True
            )
            await join(hub, devices, "lamp", "light")  # the sentinel: it came after the toaster
            assert "toaster" not in hub.registry and hub.stats.unknown_type == 1

    run(main())


# -- state --------------------------------------------------------------------------------
def test_state_is_mirrored_into_the_store_with_history(broker, run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            with hub.changes() as changes:
                await devices.publish(TOPICS.state("lamp"), state(T0, on=False, brightness=50))
                await devices.publish(TOPICS.state("lamp"), state(T0 + 1, on=True, brightness=60))
                first, second = await changes.get(10), await changes.get(10)
            await hub.flush()
            assert first.changed == {"on": False, "brightness": 50}
            assert (second.changed, second.ts) == ({"on": True, "brightness": 60}, T0 + 1)
            assert hub.registry.get("lamp").state == {"on": True, "brightness": 60}
            assert hub.stats.written == 2

    run(main())
    with StateStore.open(data_dir=tmp_path) as reopened:  # what is on disk
        assert reopened.current("lamp") == {"on": True, "brightness": 60}
        assert reopened.last_updated("lamp") == T0 + 1
        history = reopened.history("lamp", "brightness", since=0, max_points=None)
        assert [(p.ts, p.value) for p in history] == [(T0, 50), (T0 + 1, 60)]
    store.close()


def test_invalid_values_are_dropped_and_the_rest_kept(broker, run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light", properties=["on", "brightness"])
            await devices.publish(TOPICS.state("lamp"), state(T0, on=True, brightness=40))
            bad = state(T0 + 1, on="yes", brightness=70, color="#00ff00", bogus=1)
            await devices.publish(TOPICS.state("lamp"), bad)
            await until(lambda: hub.registry.get("lamp").ts == T0 + 1, "the second state")
            await hub.flush()
            assert hub.stats.invalid_values == 3  # on="yes", color (not exposed), bogus
            assert store.current("lamp") == {"on": True, "brightness": 70}

    run(main())
    store.close()


def test_a_stale_state_is_ignored(broker, run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await devices.publish(TOPICS.state("lamp"), state(T0 + 10, on=True, brightness=10))
            await devices.publish(TOPICS.state("lamp"), state(T0 + 5, on=False, brightness=90))
            await devices.publish(TOPICS.state("lamp"), state(T0 + 11, on=True, brightness=11))
            await until(lambda: hub.registry.get("lamp").state.get("brightness") == 11, "the last")
            await hub.flush()
            assert hub.stats.stale == 1
            assert [p.value for p in store.history("lamp", "brightness", 0, max_points=None)] == [
                10,
                11,
            ]

    run(main())
    store.close()


def test_malformed_payloads_are_counted_and_never_stored(make_broker, run, tmp_path: Path) -> None:
    # a broker that lets oversized payloads through, so the hub's own limit is what drops them
    broker = make_broker(limits=BrokerLimits(message_size_limit=0, max_packet_size=8 * MAX_PAYLOAD))
    store = StateStore.open(data_dir=tmp_path)
    oversized = json.dumps({"ts": T0, "state": {"on": True, "pad": "x" * MAX_PAYLOAD}})

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            for topic, payload in [
                (TOPICS.state("lamp"), b"{not json"),
                (TOPICS.state("lamp"), b'{"ts": "noon", "state": {}}'),
                (TOPICS.state("lamp"), b'{"ts": 1, "state": [1, 2]}'),
                (TOPICS.state("lamp"), b'{"ts": 1, "state": {}, "extra": 1}'),
                (TOPICS.state("lamp"), oversized.encode()),
                (TOPICS.state("ghost"), state(T0, on=True)),
                (TOPICS.availability("lamp"), b"maybe"),
                (TOPICS.node_availability("home"), b"\xff\xfe"),
                (TOPICS.discovery("lamp"), b'{"device": "lamp"}'),
                (TOPICS.discovery("lamp"), discovery("other", "light")),
                # a "narrowing" of a property that has no named values: refused, not joined
                (TOPICS.discovery("lamp"), discovery("lamp", "light", values={"on": ["yes"]})),
                (TOPICS.ack("lamp"), b'{"cid": "a b", "ok": true}'),
                (TOPICS.event("lamp", "toggled"), dump(EventMsg(ts=T0))),
                (TOPICS.event("lamp", "x"), b"[]"),
            ]:
                await devices.publish(topic, payload)
            await devices.publish(TOPICS.state("lamp"), state(T0, on=True, brightness=5))
            await until(lambda: hub.registry.get("lamp").ts == T0, "the sentinel state")
            await hub.flush()
            stats = hub.stats
            assert (stats.malformed, stats.unknown_device) == (13, 1)
            assert hub.registry.is_online("lamp") and hub.client.connected.is_set()
        assert store.current_all() == {"lamp": {"on": True, "brightness": 5}}

    run(main())
    store.close()


# -- commands: checked before the wire ----------------------------------------------------
def test_invalid_or_risky_commands_never_reach_the_wire(broker, run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await join(hub, devices, "garage", "cover", **{"class": "garage"})
            lamp_got = await answer_with(devices, "lamp", ok)
            garage_got = await answer_with(devices, "garage", ok)
            with pytest.raises(ValueNotAllowed, match=r"lamp\.brightness: 500"):
                await hub.send_command("lamp", property="brightness", value=500, actor="test")
            with pytest.raises(SpecError, match="no property 'volume'"):
                await hub.send_command("lamp", property="volume", value=5, actor="test")
            with pytest.raises(SpecError, match="no action 'explode'"):
                await hub.send_command("lamp", action="explode", actor="test")
            with pytest.raises(
                NeedsConfirmation,
                match=r"Open .* needs confirmation: it opens a way in \(garage\.open\)",
            ):
                await hub.send_command("garage", action="open", actor="test")
            with pytest.raises(NeedsConfirmation, match=r"garage\.position"):
                await hub.send_command("garage", property="position", value=100, actor="test")
            # the sentinels: confirmed / valid commands go out, after everything above
            await hub.send_command("garage", action="open", actor="test", confirm=True)
            ack = await hub.send_command("lamp", property="brightness", value=5, actor="test")
            assert ack.ok and ack.changes == {"brightness": 5}
            assert [c["topic"] for c in lamp_got] == [TOPICS.set("lamp")]
            assert [c["topic"] for c in garage_got] == [TOPICS.call("garage", "open")]
            await hub.flush()
        log = store.audit_log(limit=10)
        assert [(e.device_id, e.kind, e.result, e.code) for e in reversed(log)] == [
            ("lamp", "set", "error", "value_not_allowed"),
            ("lamp", "set", "error", "invalid"),
            ("lamp", "call", "error", "invalid"),
            ("garage", "call", "error", "needs_confirmation"),
            ("garage", "set", "error", "needs_confirmation"),
            ("garage", "call", "ok", ""),
            ("lamp", "set", "ok", ""),
        ]
        assert log[0].actor == "test" and log[0].what == {"property": "brightness", "value": 5}
        assert log[0].message == "brightness → 5" and log[0].changes == {"brightness": 5}
        assert log[-1].changes is None  # a refused command changed nothing

    run(main())
    store.close()


def test_unknown_and_not_yet_joined_devices(broker, run) -> None:
    space = parse_space(
        "space: test\nareas: [{id: home, name: Home}]\n"
        "devices:\n  - {id: lamp, type: light, name: Lamp}\n"
    )

    async def main() -> None:
        async with fabric(broker, known_space=space) as (hub, _):
            with pytest.raises(DeviceUnavailable, match="lamp is not on the fabric"):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            with pytest.raises(UnknownDevice, match="did you mean 'lamp'"):
                await hub.send_command("lamb", property="on", value=True, actor="test")

    run(main())


# -- commands: acks, errors, timeouts, availability ---------------------------------------
def test_a_refusing_ack_raises_the_devices_error(broker, run) -> None:
    def refuse(command: dict) -> AckMsg:
        if command.get("property") == "on":
            return AckMsg(
                cid=command["cid"], ok=False, error="ValueNotAllowed", message="lamp.on: stuck"
            )
        return AckMsg(cid=command["cid"], ok=False, error="BulbBroken", message="filament gone")

    async def main() -> None:
        async with fabric(broker) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await answer_with(devices, "lamp", refuse)
            with pytest.raises(ValueNotAllowed, match=r"lamp\.on: stuck"):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            with pytest.raises(CommandFailed, match="BulbBroken: filament gone"):
                await hub.send_command("lamp", property="brightness", value=3, actor="test")

    run(main())


def test_a_device_that_never_answers_times_out(broker, run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store, command_timeout=0.3) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            got = await answer_with(devices, "lamp", lambda c: AckMsg(cid="someone_else", ok=True))
            with pytest.raises(
                DeviceTimeout, match=r"lamp did not answer \(set on=True\) within 0.3 s"
            ):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            assert len(got) == 1 and hub.stats.timeouts == 1 and hub.stats.acks == 0
            await hub.flush()
        assert store.audit_log()[0].result == "timeout"

    run(main())
    store.close()


def test_offline_devices_fail_fast(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker, command_timeout=20) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await join(hub, devices, "kettle", "kettle", spec=KETTLE)
            await devices.publish(TOPICS.availability("lamp"), "offline", retain=True)
            await until(lambda: not hub.registry.is_online("lamp"), "lamp to go offline")
            with pytest.raises(DeviceUnavailable, match=r"lamp is offline since .*: it reported"):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            await devices.publish(TOPICS.node_availability("home"), "offline", retain=True)
            await until(lambda: not hub.registry.is_online("kettle"), "the node to go offline")
            with pytest.raises(DeviceUnavailable, match="its node 'home' is offline"):
                await hub.send_command("kettle", action="boil", actor="test")

    run(main())


def test_a_command_in_flight_fails_when_its_node_drops(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker, command_timeout=20) as (hub, devices):
            await join(hub, devices, "lamp", "light")

            async def drop(message: aiomqtt.Message) -> None:  # the node dies instead of acking
                await devices.publish(TOPICS.node_availability("home"), "offline", retain=True)

            await devices.subscribe(TOPICS.set("lamp"), drop)
            with pytest.raises(
                DeviceUnavailable, match=r"its node 'home' is offline.*may still run if the device"
            ):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            assert hub.stats.timeouts == 0

    run(main())


def test_an_ack_saying_the_command_came_too_late_is_a_timeout(broker, run, tmp_path) -> None:
    """A node that gets a command after its deadline does not run it (e.g. its clock is
    ahead of the hub's): the hub says so as a timeout."""
    store = StateStore.open(data_dir=tmp_path)

    def too_late(command: dict) -> AckMsg:
        return AckMsg(cid=command["cid"], ok=False, error=EXPIRED, message="past its deadline")

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            await answer_with(devices, "lamp", too_late)
            with pytest.raises(DeviceTimeout, match="past its deadline"):
                await hub.send_command("lamp", property="on", value=True, actor="test")
            await hub.flush()
        assert store.audit_log()[0].result == "timeout"

    run(main())
    store.close()


def test_events_reach_subscribers(broker, run) -> None:
    async def main() -> None:
        async with fabric(broker) as (hub, devices):
            await join(hub, devices, "car", "car")
            with hub.events() as events:
                await devices.publish(TOPICS.event("car", "honked"), dump(EventMsg(ts=T0)))
                event = await events.get(10)
            assert (event.device, event.name, event.ts) == ("car", "honked", T0)

    run(main())


def test_a_hub_started_later_reads_the_retained_fabric(broker, run, tmp_path: Path) -> None:
    async def main() -> None:
        kwargs = broker.url(broker.hub).client_kwargs()
        async with FabricClient(kwargs, client_id="devices") as devices:
            await devices.wait_connected(10)
            await devices.publish(TOPICS.discovery("lamp"), discovery("lamp", "light"), retain=True)
            await devices.publish(TOPICS.availability("lamp"), "online", retain=True)
            await devices.publish(
                TOPICS.state("lamp"), state(T0, on=True, brightness=9), retain=True
            )
        async with fabric(broker) as (hub, _):
            await until(
                lambda: (
                    hub.registry.get("lamp") is not None
                    and hub.registry.get("lamp").state.get("brightness") == 9
                ),
                "the lamp",
            )
            assert hub.registry.is_online("lamp") and hub.stats.unknown_device == 0

    run(main())


def test_set_message_carries_the_checked_value(broker, run) -> None:
    async def main() -> list[dict]:
        async with fabric(broker) as (hub, devices):
            await join(hub, devices, "lamp", "light", properties=["on", "brightness", "color"])
            got = await answer_with(devices, "lamp", ok)
            await hub.send_command("lamp", property="color", value="#AABBCC", actor="test")
            await hub.send_command("lamp", property="brightness", value=30.0, actor="test")
            return got

    sent_after = time.time()
    got = run(main())
    assert [c["value"] for c in got] == ["#aabbcc", 30] and type(got[1]["value"]) is int
    assert all(c["ts"] == T0 and len(c["cid"]) == 16 for c in got)
    # the deadline: wall-clock time of sending plus the hub's timeout (3 s by default)
    assert all(c["expires"] >= sent_after + 3 for c in got)


def test_a_state_from_the_future_is_taken_as_now_and_cannot_freeze_the_device(
    broker, run, tmp_path: Path
) -> None:
    """A state stamped ten years ahead used to win every later comparison: true states were
    then 'stale' and the device looked frozen while its commands were acknowledged."""
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        async with fabric(broker, store) as (hub, devices):
            await join(hub, devices, "lamp", "light")
            now = hub.clock.now()
            far = now + 10 * 365 * 86400
            await devices.publish(TOPICS.state("lamp"), state(far, on=True, brightness=7))
            await until(lambda: hub.registry.get("lamp").state.get("brightness") == 7, "far")
            assert hub.stats.future_ts == 1
            assert hub.registry.get("lamp").ts <= hub.clock.now()  # clamped to the hub's now
            await devices.publish(TOPICS.state("lamp"), state(now + 1, on=True, brightness=60))
            await until(lambda: hub.registry.get("lamp").state.get("brightness") == 60, "now")
            # within the allowed skew a device's own time is kept
            ahead = hub.clock.now() + 30
            await devices.publish(TOPICS.state("lamp"), state(ahead, on=True, brightness=61))
            await until(lambda: hub.registry.get("lamp").ts == ahead, "ahead")
            assert hub.stats.future_ts == 1 and hub.stats.stale == 0
            await hub.flush()
        assert store.current_all()["lamp"]["brightness"] == 61

    run(main())
    store.close()
