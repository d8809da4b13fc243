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
import time
from collections.abc import Callable
from typing import Any

import aiomqtt
import pytest
from tests.helpers.wait import until

from hyperhub.clock import ManualClock, SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError
from hyperhub.fabric import fastpath
from hyperhub.fabric.client import FabricClient
from hyperhub.fabric.messages import (
    EXPIRED,
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
    """Node "home", hosting every device of the test space (simulated, on its clock)."""
    space = make_space()
    return DeviceNode("home", space, DEVICES, kwargs, **simulated(space, DEVICES, options))


def simulated(space: Space, devices: list[str], options: dict[str, Any]) -> dict[str, Any]:
    """`options` for a `DeviceNode` with a simulator of `devices` on the node's clock."""
    clock = options.setdefault("clock", SystemClock())
    options.setdefault("backend", Simulator(space, clock, only=devices))
    return options


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
    """A TCP relay to the broker that a test can cut (the node loses the network) and mend.

    `black_hole()` and `drop_node_side()` make a half-open link instead: what the broker
    sends is lost, and the node's side closes while the broker still thinks it is connected.
    """

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.up = True
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._node_sides: set[asyncio.StreamWriter] = set()
        self._holes: set[asyncio.StreamWriter] = set()  # node sides that get nothing now

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

    def black_hole(self) -> None:
        """From now on, what the broker sends on the open connections is lost."""
        self._holes.update(self._node_sides)

    def drop_node_side(self) -> None:
        """Close the open connections on the node's side only (it reconnects at once)."""
        for writer in list(self._node_sides):
            writer.transport.abort()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if not self.up:
            writer.transport.abort()
            return
        up_reader, up_writer = await asyncio.open_connection(*self.target)
        self._writers.update((writer, up_writer))
        self._node_sides.add(writer)

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while data := await src.read(65536):
                    if dst in self._holes:
                        continue
                    dst.write(data)
                    await dst.drain()
            if dst is not up_writer or writer not in self._holes:
                dst.transport.abort()  # a half-open link stays open on the broker's side

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))
        self._writers.difference_update((writer, up_writer))
        self._node_sides.discard(writer)


# -- announcing ---------------------------------------------------------------------------
def test_node_announces_its_devices_retained(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> None:
        space = make_space()
        options = simulated(space, DEVICES, {"clock": ManualClock(T0)})
        async with DeviceNode("home", space, DEVICES, login, **options) as node:
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
        space = make_space()
        DeviceNode("Home Node", space, DEVICES, {}, **simulated(space, DEVICES, {}))


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


# -- commands while the link is down ------------------------------------------------------
def went_offline(m: aiomqtt.Message) -> bool:
    return m.topic.value == TOPICS.node_availability("home") and m.payload == b"offline"


def ack_of(cid: str) -> Callable[[aiomqtt.Message], bool]:
    return lambda m: m.topic.value.endswith("/ack") and parse(AckMsg, m.payload).cid == cid


def test_commands_sent_while_the_link_is_down_run_on_reconnect_unless_expired(broker, run) -> None:
    """The node's session is persistent: the broker keeps the commands for it while its link
    is down (its last will has fired) and delivers them when it is back. One whose deadline
    has passed by then is not run: it is answered `CommandExpired` and counted."""
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()
    filters = TOPICS.ack("lamp"), TOPICS.state("lamp"), TOPICS.node_availability("home")

    async def main() -> tuple[AckMsg, AckMsg, list[StateMsg], DeviceNode]:
        async with (
            Wire(broker.host, broker.port) as wire,
            Recorder(hub, *filters) as rec,
            home_node(wire.kwargs(login), clock=ManualClock(T0)) as node,
        ):
            await node.wait_ready(10)
            wire.cut()
            await rec.wait_for(went_offline)  # the broker knows: the hub fails commands now
            now = time.time()
            stale = SetMsg(cid="stale", property="brightness", value=5, expires=now - 1)
            fresh = SetMsg(cid="fresh", property="brightness", value=80, expires=now + 600)
            await rec.publish(TOPICS.set("lamp"), dump(stale))
            await rec.publish(TOPICS.set("lamp"), dump(fresh))
            assert node.backend.state("lamp")["brightness"] == 50  # nothing ran yet
            before = len(rec.got)
            wire.mend()
            fresh_ack = await rec.wait_for(ack_of("fresh"), 20)
            stale_ack = await rec.wait_for(ack_of("stale"))
            states = [
                parse(StateMsg, m.payload)
                for m in rec.got[before:]
                if m.topic.value == TOPICS.state("lamp")
            ]
            return (
                parse(AckMsg, stale_ack.payload),
                parse(AckMsg, fresh_ack.payload),
                states,
                node,
            )

    stale, fresh, states, node = run(main(), timeout=60)
    assert (stale.ok, stale.error) == (False, EXPIRED) and "deadline" in stale.message
    assert fresh.ok and fresh.changes == {"on": True, "brightness": 80}
    assert node.backend.state("lamp")["brightness"] == 80
    assert states and all(s.state["brightness"] != 5 for s in states)
    assert (node.stats.expired, node.stats.commands) == (1, 2)


def test_an_expired_command_is_not_run_on_a_live_link(broker, run) -> None:
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> tuple[AckMsg, DeviceNode]:
        async with home_node(login) as node, Recorder(hub, TOPICS.ack("lamp")) as rec:
            await node.wait_ready(10)
            late = CallMsg(cid="late", expires=time.time() - 5)
            await rec.publish(TOPICS.call("lamp", "toggle"), dump(late))
            return parse(AckMsg, (await rec.wait_for(ack_of("late"))).payload), node

    ack, node = run(main())
    assert (ack.ok, ack.error, node.stats.expired) == (False, EXPIRED, 1)
    assert "clocks" in ack.message and node.backend.state("lamp")["on"] is False


def test_an_answer_that_could_not_go_out_is_sent_on_reconnect(broker, run) -> None:
    """A command handled while the link was down (it had arrived just before): its new state
    and its ack wait for the next connection, the state first."""
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> list[aiomqtt.Message]:
        filters = TOPICS.ack("lamp"), TOPICS.state("lamp")
        async with (
            Wire(broker.host, broker.port) as wire,
            Recorder(hub, *filters) as rec,
            home_node(wire.kwargs(login), clock=ManualClock(T0)) as node,
        ):
            await node.wait_ready(10)
            wire.cut()
            await until(lambda: not node.client.connected.is_set(), "the link to drop")
            cmd = SetMsg(cid="c1", property="brightness", value=70, expires=time.time() + 600)
            node._on_command(aiomqtt.Message(TOPICS.set("lamp"), dump(cmd), 1, False, 9, None))
            assert node.backend.state("lamp")["brightness"] == 70
            before = len(rec.got)
            wire.mend()
            await rec.wait_for(ack_of("c1"), 20)
            return rec.got[before:]

    got = run(main(), timeout=60)
    ack_at = next(i for i, m in enumerate(got) if m.topic.value == TOPICS.ack("lamp"))
    states = [parse(StateMsg, m.payload) for m in got[:ack_at] if "state" in m.topic.value]
    assert states and states[-1].state["brightness"] == 70
    assert parse(AckMsg, got[ack_at].payload).ok


def test_a_command_delivered_again_is_answered_again_not_run_again(broker, run) -> None:
    """The broker delivers a command again (MQTT DUP) when the link dropped before it had the
    node's PUBACK; if it ran already, the node only repeats its ack."""
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> tuple[list[AckMsg], DeviceNode]:
        async with home_node(login) as node, Recorder(hub, TOPICS.ack("lamp")) as rec:
            await node.wait_ready(10)
            payload = dump(CallMsg(cid="t1"))
            first = aiomqtt.Message(TOPICS.call("lamp", "toggle"), payload, 1, False, 7, None)
            again = aiomqtt.Message(TOPICS.call("lamp", "toggle"), payload, 1, False, 7, None)
            again.dup = True  # type: ignore[attr-defined]
            node._on_command(first)
            node._on_command(again)
            await until(lambda: len(rec.on(TOPICS.ack("lamp"))) == 2, "both acks")
            return [parse(AckMsg, m.payload) for m in rec.on(TOPICS.ack("lamp"))], node

    acks, node = run(main())
    assert acks[0] == acks[1] and acks[0].ok
    assert node.backend.state("lamp")["on"] is True  # toggled once
    assert (node.stats.duplicates, node.stats.commands) == (1, 2)


def test_a_persistent_session_gets_again_what_it_had_not_handled(broker, run) -> None:
    """A QoS 1 message is acknowledged only once handled: if the link drops first, a client
    with a persistent session gets it again (flagged DUP) when it is back."""
    hub = broker.url(broker.hub).client_kwargs()
    topic = "hyperhub/test/probe/x"

    async def main() -> list[aiomqtt.Message]:
        got: list[aiomqtt.Message] = []
        async with Wire(broker.host, broker.port) as wire, Recorder(hub) as sender:

            async def handle(message: aiomqtt.Message) -> None:
                got.append(message)
                if len(got) == 1:
                    wire.cut()  # the link drops while it is being handled
                    await asyncio.Event().wait()  # until the session ends

            client = FabricClient(wire.kwargs(hub), client_id="probe", clean_session=False)
            await client.subscribe(topic, handle)
            async with client:
                await client.wait_connected(10)
                await sender.publish(topic, b"once")
                await until(lambda: len(got) == 1, "the message")
                await until(lambda: not client.connected.is_set(), "the link to drop")
                wire.mend()
                await until(lambda: len(got) == 2, "the message again", 20)
        return got

    got = run(main(), timeout=60)
    assert [m.payload for m in got] == [b"once", b"once"]
    if fastpath.enabled():  # paho's own reads keep no DUP flag (and ack on arrival)
        assert getattr(got[1], "dup", False) and not getattr(got[0], "dup", False)


def test_a_retained_command_is_never_run(broker, run) -> None:
    """The hub never retains a command; one left retained (by a node, say) is stale."""
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> DeviceNode:
        async with Recorder(hub) as rec:
            left = dump(SetMsg(cid="old", property="brightness", value=1))
            await rec.publish(TOPICS.set("lamp"), left, retain=True)
        async with home_node(login) as node, Recorder(hub, TOPICS.ack("lamp")) as rec:
            await node.wait_ready(10)
            await until(lambda: node.stats.retained_commands == 1, "the retained command")
            await rec.publish(
                TOPICS.set("lamp"), dump(SetMsg(cid="new", property="on", value=True))
            )
            await rec.wait_for(ack_of("new"))
            assert not [m for m in rec.got if ack_of("old")(m)]
            return node

    node = run(main())
    assert node.backend.state("lamp")["brightness"] == 50 and node.stats.commands == 2


def test_a_command_lost_on_a_half_open_link_runs_once_the_node_is_back(broker, run) -> None:
    """The link dies without the broker noticing: it sends the command into the void. The
    node reconnects (same client id, persistent session) before the broker's keepalive
    gives up on the old connection; the broker hands the session over and sends the
    command again (DUP), and the node runs it, once."""
    login = node_login(broker)
    hub = broker.url(broker.hub).client_kwargs()

    async def main() -> tuple[AckMsg, DeviceNode]:
        async with (
            Wire(broker.host, broker.port) as wire,
            Recorder(hub, TOPICS.ack("lamp")) as rec,
            home_node(wire.kwargs(login), clock=ManualClock(T0)) as node,
        ):
            await node.wait_ready(10)
            connections = node.stats.connections
            wire.black_hole()
            cmd = CallMsg(cid="blind", expires=time.time() + 600)
            await rec.publish(TOPICS.call("lamp", "toggle"), dump(cmd))  # the broker took it
            assert node.stats.commands == 0  # …and sent it into the void
            wire.drop_node_side()
            await until(lambda: node.stats.connections > connections, "a reconnection", 20)
            ack = parse(AckMsg, (await rec.wait_for(ack_of("blind"), 20)).payload)
            return ack, node

    ack, node = run(main(), timeout=60)
    assert ack.ok and node.backend.state("lamp")["on"] is True  # toggled, once
    assert (node.stats.commands, node.stats.duplicates) == (1, 0)
