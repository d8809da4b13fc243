"""`DeviceNode` against a real Mosquitto: what it announces, how it answers, how it resyncs.

A raw MQTT client (logged in as the hub) plays the hub. "Nothing else arrived" is shown
with a sentinel: one sender's messages arrive in order, so once a later message is here,
anything sent before it would be too.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
from collections.abc import Callable
from typing import Any

import aiomqtt
import pytest
from hyperhub_tests_fabric import until

from hyperhub.devices.sim import ManualClock
from hyperhub.errors import HyperHubError
from hyperhub.fabric.messages import (
    AckMsg,
    CallMsg,
    DiscoveryMsg,
    EventMsg,
    SetMsg,
    StateMsg,
    dump,
    parse,
)
from hyperhub.fabric.node import DeviceNode
from hyperhub.fabric.topics import Topics
from hyperhub.space import Space, parse_space
from hyperhub.spec import builtin_types, parse_type

T0 = 1_700_000_000.0
TOPICS = Topics("test")
KETTLE = {  # a type the hub does not ship: discovery must carry its spec
    "type": "kettle",
    "properties": {
        "on": {"kind": "bool", "default": False},
        "target_temp": {"kind": "int", "unit": "°C", "min": 40, "max": 100, "default": 100},
        "water_temp": {"kind": "float", "unit": "°C", "access": "ro", "default": 20.0},
    },
    "actions": {"boil": {"effects": [{"set": {"on": True}}]}},
}
SPACE = """
space: test
areas:
  - {id: kitchen, name: Kitchen}
devices:
  - id: lamp
    type: light
    name: Lamp
    area: kitchen
    state: {on: false, brightness: 50, color_temp: 2700, color: "#ffffff"}
  - {id: phone, type: phone, name: Phone}
  - {id: kettle, type: kettle, name: Kettle, area: kitchen}
"""
DEVICES = ["lamp", "phone", "kettle"]


def make_space() -> Space:
    types = builtin_types().copy()
    types.add(parse_type(KETTLE, "tests/kettle"))
    return parse_space(SPACE, "test.yaml", types)


def home_node(kwargs: dict[str, Any], **options: Any) -> DeviceNode:
    """Node "home", hosting every device of the test space."""
    return DeviceNode("home", make_space(), DEVICES, kwargs, **options)


def node_login(broker: Any) -> dict[str, Any]:
    """Client kwargs of node "home" (its own credentials: it may only use its devices' topics)."""
    return broker.url(broker.add_node("home", DEVICES)).client_kwargs()


class Recorder:
    """A raw MQTT client that keeps everything it receives, in order."""

    def __init__(self, kwargs: dict[str, Any], *filters: str) -> None:
        self.client = aiomqtt.Client(**kwargs)
        self.filters = filters
        self.got: list[aiomqtt.Message] = []
        self._new = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Recorder:
        await self.client.__aenter__()
        for f in self.filters:
            await self.client.subscribe(f, qos=1)
        self._task = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        self._task.cancel()
        await asyncio.wait({self._task}, timeout=5)
        await self.client.__aexit__(None, None, None)

    async def _read(self) -> None:
        with contextlib.suppress(aiomqtt.MqttError):
            async for message in self.client.messages:
                self.got.append(message)
                self._new.set()

    async def publish(self, topic: str, payload: bytes | str, retain: bool = False) -> None:
        await self.client.publish(topic, payload, qos=1, retain=retain)

    async def wait_for(
        self, match: Callable[[aiomqtt.Message], bool], timeout: float = 10.0
    ) -> aiomqtt.Message:
        """The first message so far or to come that `match`es."""
        async with asyncio.timeout(timeout):
            seen = 0
            while True:
                for message in self.got[seen:]:
                    if match(message):
                        return message
                seen = len(self.got)
                self._new.clear()
                await self._new.wait()

    def on(self, topic: str) -> list[aiomqtt.Message]:
        return [m for m in self.got if m.topic.value == topic]


def topic_is(topic: str) -> Callable[[aiomqtt.Message], bool]:
    return lambda m: m.topic.value == topic


def state_where(device: str, check: Callable[[StateMsg], bool]) -> Callable[[Any], bool]:
    def match(m: aiomqtt.Message) -> bool:
        return m.topic.value == TOPICS.state(device) and check(parse(StateMsg, m.payload))

    return match


class Wire:
    """A TCP relay to the broker that a test can cut (the node loses the network) and mend."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> Wire:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()

    def kwargs(self, kwargs: dict[str, Any]) -> dict[str, Any]:
        return {**kwargs, "hostname": "127.0.0.1", "port": self.port}

    def cut(self) -> None:
        self.up = False
        for writer in list(self._writers):
            writer.transport.abort()

    def mend(self) -> None:
        self.up = True

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))


# -- announcing ---------------------------------------------------------------------------
def test_node_announces_its_devices_retained(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        space = make_space()
        async with DeviceNode("home", space, DEVICES, login, clock=ManualClock(T0)) as node:
            await node.wait_ready(10)
        # after a clean stop, a newcomer still finds discovery and the last state retained
        async with Recorder(hub, "hyperhub/test/#") as rec:

            async def retained(topic: str) -> bytes:
                return (await rec.wait_for(topic_is(topic))).payload

            lamp = parse(DiscoveryMsg, await retained(TOPICS.discovery("lamp")))
            kettle = parse(DiscoveryMsg, await retained(TOPICS.discovery("kettle")))
            state = parse(StateMsg, await retained(TOPICS.state("lamp")))
            offline = await retained(TOPICS.availability("lamp"))
            node_offline = await retained(TOPICS.node_availability("home"))
        assert (lamp.type, lamp.node, lamp.area, lamp.spec) == ("light", "home", "kitchen", None)
        assert set(lamp.properties) == {"on", "brightness", "color_temp", "color"}
        assert kettle.spec is not None
        assert (
            parse_type(kettle.spec, "wire").properties == space.devices["kettle"].dtype.properties
        )
        assert state.ts == T0 and state.state["brightness"] == 50
        assert offline == node_offline == b"offline"  # the clean stop said goodbye

    run(main())


def test_node_says_online_for_itself_and_each_device(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        filters = "hyperhub/test/+/availability", "hyperhub/test/node/+/availability"
        async with Recorder(hub, *filters) as rec, home_node(login) as node:
            await node.wait_ready(10)
            for device in DEVICES:
                await rec.wait_for(topic_is(TOPICS.availability(device)))
            online = {m.topic.value: m.payload for m in rec.got}
        assert online[TOPICS.node_availability("home")] == b"online"
        assert all(online[TOPICS.availability(d)] == b"online" for d in DEVICES)

    run(main())


# -- commands -----------------------------------------------------------------------------
def test_set_is_answered_with_new_state_then_ack(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        async with home_node(login, clock=ManualClock(T0)) as node:
            await node.wait_ready(10)
            async with Recorder(hub, TOPICS.state("lamp"), TOPICS.ack("lamp")) as rec:
                await rec.wait_for(topic_is(TOPICS.state("lamp")))  # the retained one
                before = len(rec.got)
                await rec.publish(
                    TOPICS.set("lamp"), dump(SetMsg(cid="c1", property="brightness", value=80))
                )
                await rec.wait_for(topic_is(TOPICS.ack("lamp")))
                state_msg, ack_msg = rec.got[before:]
            assert node.stats.commands == 1
        assert state_msg.topic.value == TOPICS.state("lamp")
        assert parse(StateMsg, state_msg.payload).state["brightness"] == 80
        ack = parse(AckMsg, ack_msg.payload)
        assert (ack.cid, ack.ok, ack.changes) == ("c1", True, {"on": True, "brightness": 80})

    run(main())


def test_call_with_args_emits_its_event(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> EventMsg:
        clock = ManualClock(T0)
        async with home_node(login, clock=clock, tick_s=0.05) as node:
            await node.wait_ready(10)
            async with Recorder(hub, TOPICS.ack("phone"), "hyperhub/test/phone/event/+") as rec:
                await rec.publish(
                    TOPICS.call("phone", "notify"),
                    dump(CallMsg(cid="n1", args={"message": "dinner"})),
                )
                ack = parse(AckMsg, (await rec.wait_for(topic_is(TOPICS.ack("phone")))).payload)
                assert ack.ok and ack.cid == "n1"
                event = await rec.wait_for(topic_is(TOPICS.event("phone", "notification")))
                return parse(EventMsg, event.payload)

    event = run(main())
    assert event.args == {"message": "dinner"} and event.ts == T0


def test_refused_commands_are_acked_with_the_error_name(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> dict[str, AckMsg]:
        async with home_node(login) as node:
            await node.wait_ready(10)
            async with Recorder(hub, "hyperhub/test/+/ack") as rec:
                await rec.publish(
                    TOPICS.set("lamp"), dump(SetMsg(cid="range", property="brightness", value=250))
                )
                await rec.publish(
                    TOPICS.set("kettle"), dump(SetMsg(cid="ro", property="water_temp", value=90))
                )
                await rec.publish(TOPICS.call("lamp", "explode"), dump(CallMsg(cid="unknown")))
                await rec.publish(
                    TOPICS.call("phone", "notify"), dump(CallMsg(cid="args", args={}))
                )
                await rec.wait_for(lambda m: parse(AckMsg, m.payload).cid == "args")
                return {a.cid: a for a in (parse(AckMsg, m.payload) for m in rec.got)}

    acks = run(main())
    assert {cid: (a.ok, a.error) for cid, a in acks.items()} == {
        "range": (False, "ValueNotAllowed"),
        "ro": (False, "ValueNotAllowed"),
        "unknown": (False, "SpecError"),
        "args": (False, "ValueNotAllowed"),
    }
    assert "250" in acks["range"].message and "read-only" in acks["ro"].message


def test_malformed_commands_are_counted_and_acked_only_with_a_cid(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        async with home_node(login) as node:
            await node.wait_ready(10)
            async with Recorder(hub, TOPICS.ack("lamp")) as rec:
                await rec.publish(TOPICS.set("lamp"), b"{not json")
                await rec.publish(
                    TOPICS.set("lamp"), b'{"property": "on", "value": true}'
                )  # no cid
                await rec.publish(TOPICS.set("lamp"), b'{"cid": "bad1", "property": 5}')
                await rec.publish(TOPICS.call("lamp", "toggle"), b'{"cid": "bad2", "extra": 1}')
                await rec.publish(TOPICS.call("lamp", "toggle"), dump(CallMsg(cid="good")))
                await rec.wait_for(lambda m: b'"good"' in m.payload)
                acks = [parse(AckMsg, m.payload) for m in rec.got]
            assert [(a.cid, a.ok, a.error) for a in acks] == [
                ("bad1", False, "Malformed"),
                ("bad2", False, "Malformed"),
                ("good", True, None),
            ]
            assert node.stats.malformed == 4 and node.stats.commands == 5

    run(main())


# -- time and events ----------------------------------------------------------------------
def test_changes_made_at_the_device_are_published(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> StateMsg:
        clock = ManualClock(T0)
        async with home_node(login, clock=clock, tick_s=0.05) as node:
            await node.wait_ready(10)
            async with Recorder(hub, TOPICS.state("lamp")) as rec:
                clock.advance(7)
                node.backend.set("lamp", "on", True)  # someone pressed the wall switch
                message = await rec.wait_for(state_where("lamp", lambda s: s.state["on"]))
                return parse(StateMsg, message.payload)

    state = run(main())
    assert state.ts == T0 + 7 and state.state["on"] is True


# -- losing the broker --------------------------------------------------------------------
def test_offline_node_keeps_state_and_bounded_events_then_catches_up(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        clock = ManualClock(T0)
        async with Wire(broker.host, broker.port) as wire, Recorder(hub, "hyperhub/test/#") as rec:
            kwargs = wire.kwargs(login)
            async with home_node(kwargs, clock=clock, tick_s=0.05, max_queued_events=2) as node:
                await node.wait_ready(10)
                wire.cut()
                await rec.wait_for(
                    lambda m: (
                        m.topic.value == TOPICS.node_availability("home")
                        and m.payload == b"offline"
                    )
                )  # its last will
                clock.advance(30)
                node.backend.set("lamp", "brightness", 10)
                for _ in range(3):
                    node.backend.call("phone", "ring")
                await until(lambda: node.stats.dropped_events == 1, "the oldest event to drop")
                assert not node.ready.is_set()
                wire.mend()
                await node.wait_ready(15)
                await rec.wait_for(state_where("lamp", lambda s: s.state["brightness"] == 10))
                rang = TOPICS.event("phone", "rang")
                await until(lambda: len(rec.on(rang)) == 2, "the two queued events")
            back = [m.payload for m in rec.on(TOPICS.node_availability("home"))]
        assert back[-3:] == [b"offline", b"online", b"offline"]  # will, reconnect, clean stop

    run(main())


def test_node_survives_a_broker_restart_and_republishes(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> StateMsg:
        clock = ManualClock(T0)
        async with home_node(login, clock=clock, tick_s=0.05) as node:
            await node.wait_ready(10)
            connections = node.stats.connections
            os.kill(broker.mosquitto.pid, signal.SIGKILL)  # the supervisor starts a new one
            await until(lambda: not node.ready.is_set(), "the node to notice")
            clock.advance(5)
            node.backend.set("lamp", "color_temp", 3000)
            await until(lambda: node.stats.connections > connections, "a reconnection", 20)
            await node.wait_ready(10)
            async with Recorder(hub, TOPICS.state("lamp")) as rec:  # a newcomer: retained only
                message = await rec.wait_for(topic_is(TOPICS.state("lamp")))
                return parse(StateMsg, message.payload)

    state = run(main())
    assert state.ts == T0 + 5 and state.state["color_temp"] == 3000


def test_resync_keeps_a_newer_local_state(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> tuple[StateMsg, DeviceNode]:
        clock = ManualClock(T0)
        async with Wire(broker.host, broker.port) as wire:
            kwargs = wire.kwargs(login)
            async with home_node(kwargs, clock=clock) as node:
                await node.wait_ready(10)
                wire.cut()
                await until(lambda: not node.ready.is_set(), "the node to lose the broker")
                clock.advance(50)
                node.backend.set("lamp", "brightness", 10)
                node.poll()
                wire.mend()
                await node.wait_ready(15)
                async with Recorder(hub, TOPICS.state("lamp")) as rec:
                    message = await rec.wait_for(state_where("lamp", lambda s: s.ts == T0 + 50))
                return parse(StateMsg, message.payload), node

    state, node = run(main())
    assert state.state["brightness"] == 10 and node.stats.adopted == 0


def test_resync_adopts_a_newer_retained_state(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()
    newer = {"on": True, "brightness": 77, "color_temp": 4000, "color": "#ffffff"}

    async def main() -> tuple[dict[str, Any], float, list[StateMsg]]:
        clock = ManualClock(T0)
        async with (
            Wire(broker.host, broker.port) as wire,
            Recorder(hub, TOPICS.state("lamp")) as rec,
        ):
            kwargs = wire.kwargs(login)
            async with home_node(kwargs, clock=clock) as node:
                await node.wait_ready(10)
                wire.cut()
                await until(lambda: not node.ready.is_set(), "the node to lose the broker")
                clock.advance(50)
                node.backend.set("lamp", "brightness", 10)  # older than what the fabric will hold
                node.poll()
                await rec.publish(
                    TOPICS.state("lamp"), dump(StateMsg(ts=T0 + 100, state=newer)), retain=True
                )
                wire.mend()
                await node.wait_ready(15)
                adopted = node.backend.state("lamp"), node.changed_at("lamp")
                await node.stop()
            states = [parse(StateMsg, m.payload) for m in rec.got]
        return *adopted, states

    lamp, changed_at, states = run(main())
    assert lamp == newer and changed_at == T0 + 100
    assert all(s.ts != T0 + 50 for s in states)  # its older local state never went out


def test_a_fresh_node_restores_the_retained_state(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()
    known = {"on": True, "brightness": 33, "color_temp": 2700, "color": "#ff8800"}

    async def main() -> dict[str, Any]:
        async with Recorder(hub) as rec:
            await rec.publish(
                TOPICS.state("lamp"), dump(StateMsg(ts=T0 - 10, state=known)), retain=True
            )
        async with home_node(login, clock=ManualClock(T0)) as node:
            await node.wait_ready(10)
            return node.backend.state("lamp")

    assert run(main()) == known


def test_node_refuses_a_name_that_is_not_a_topic_level() -> None:
    with pytest.raises(HyperHubError, match="node name"):
        DeviceNode("Home Node", make_space(), DEVICES, {})


def test_retained_garbage_does_not_stop_a_resync(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> dict[str, Any]:
        async with Recorder(hub) as rec:
            await rec.publish(TOPICS.state("lamp"), b"\x00garbage", retain=True)
            await rec.publish(TOPICS.state("phone"), json.dumps({"ts": "x"}), retain=True)
        async with home_node(login, clock=ManualClock(T0)) as node:
            await node.wait_ready(10)
            return node.backend.state("lamp")

    assert run(main())["brightness"] == 50
