"""The embedded brokers, against real processes on 127.0.0.1.

"Never receives" is shown without sleeping: after the refused message the same sender
publishes a sentinel it may send, and the broker keeps one sender's messages in order, so
once the sentinel arrives anything refused before it would have arrived already.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import socket
import struct
import subprocess
from collections import deque
from pathlib import Path
from typing import Any

import aiomqtt
import psutil
import pytest
from amqtt.broker import Broker as PlainAmqtt
from amqtt.contexts import Action
from amqtt.session import Session
from tests.helpers.wait import wait_until

from hyperhub.errors import BrokerError
from hyperhub.fabric.amqtt_plugins import PatchedBroker, SnapshotSubscriptions, broker_class
from hyperhub.fabric.broker import (
    AmqttBroker,
    BrokerLimits,
    MosquittoBroker,
    mosquitto_binary,
    start_default_broker,
)
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.credentials import CredentialStore, hub_client_id, node_client_id

requires_mosquitto = pytest.mark.skipif(
    mosquitto_binary() is None, reason="mosquitto is not installed (apt-get install mosquitto)"
)
Received = list[tuple[str, bytes]]


def client(url: BrokerURL, space: str = "test", **kwargs: Any) -> aiomqtt.Client:
    """A client of `url`'s login; a node's with the client id only it can name (the amqtt
    fallback refuses it any other)."""
    if url.username not in (None, "hub") and "identifier" not in kwargs:
        kwargs["identifier"] = node_client_id(space, url.username, url.password)
    return aiomqtt.Client(**url.client_kwargs(), **kwargs)


async def receive_until(
    sub: aiomqtt.Client, topic: str, payload: bytes, timeout: float = 10.0
) -> Received:
    """Everything `sub` receives up to and including (topic, payload)."""
    got: Received = []
    async with asyncio.timeout(timeout):
        async for message in sub.messages:
            got.append((str(message.topic), bytes(message.payload)))
            if got[-1] == (topic, payload):
                return got
    raise AssertionError("unreachable")


def mqtt_packet(kind: int, body: bytes) -> bytes:
    length, remaining = b"", len(body)
    while True:
        remaining, digit = divmod(remaining, 128)
        length += bytes([digit | (0x80 if remaining else 0)])
        if not remaining:
            return bytes([kind]) + length + body


def mqtt_str(text: str | bytes) -> bytes:
    data = text.encode() if isinstance(text, str) else text
    return struct.pack("!H", len(data)) + data


def raw_connect(
    host: str,
    port: int,
    username: str,
    password: str,
    client_id: str,
    will_topic: str | None = None,
) -> socket.socket:
    """A bare MQTT 3.1.1 connection (optionally with a will), for what aiomqtt hides."""
    flags = 0xC2 | (0x04 if will_topic else 0)  # user, password, clean session, [will]
    payload = mqtt_str(client_id)
    if will_topic:
        payload += mqtt_str(will_topic) + mqtt_str(b"offline")
    payload += mqtt_str(username) + mqtt_str(password)
    sock = socket.create_connection((host, port), timeout=10)
    sock.sendall(mqtt_packet(0x10, mqtt_str("MQTT") + bytes([4, flags, 0, 60]) + payload))
    assert sock.recv(4) == b"\x20\x02\x00\x00", "login refused"
    return sock


# -- logging in ---------------------------------------------------------------------------
def test_hub_logs_in_with_its_credentials(broker, run) -> None:
    async def main() -> None:
        async with client(broker.url(broker.hub)) as hub:
            await hub.publish("hyperhub/test/lamp/set", b"{}")

    run(main())


def test_anonymous_client_is_refused(broker, run) -> None:
    async def main() -> None:
        async with aiomqtt.Client(broker.host, broker.port):
            pass

    with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
        run(main())


def test_wrong_password_is_refused(broker, run) -> None:
    url = broker.url(broker.hub).with_credentials("hub", "not-the-password")

    async def main() -> None:
        async with client(url):
            pass

    with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
        run(main())


def test_broker_files_are_private(broker) -> None:
    for name in ("credentials.json", "passwd", "acl"):
        assert (broker.data_dir / "broker" / name).stat().st_mode & 0o077 == 0, name


# -- the ACL ------------------------------------------------------------------------------
def test_node_state_reaches_the_hub(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])

    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub, client(broker.url(car)) as node:
            await hub.subscribe("hyperhub/test/#")
            await node.publish("hyperhub/test/car/state", b'{"locked": true}', qos=1)
            return await receive_until(hub, "hyperhub/test/car/state", b'{"locked": true}')

    assert run(main()) == [("hyperhub/test/car/state", b'{"locked": true}')]


def test_node_cannot_publish_for_a_device_it_does_not_own(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])
    broker.add_node("home_node", ["front_door"])
    forged = [
        "hyperhub/test/front_door/state",
        "hyperhub/test/discovery/front_door",
        "hyperhub/test/front_door/availability",
        "hyperhub/test/front_door/ack",
        "hyperhub/test/front_door/event/opened",
        "hyperhub/test/front_door/set",
        "hyperhub/test/node/home_node/availability",
        "hyperhub/other/car/state",
    ]

    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub, client(broker.url(car)) as node:
            await hub.subscribe("hyperhub/#")
            for topic in forged:
                await node.publish(topic, b'{"locked": false}', qos=1)
            await node.publish("hyperhub/test/car/state", b"sentinel", qos=1)
            return await receive_until(hub, "hyperhub/test/car/state", b"sentinel")

    assert run(main()) == [("hyperhub/test/car/state", b"sentinel")]


def test_node_reads_its_own_commands_but_not_another_nodes(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])
    broker.add_node("home_node", ["front_door"])

    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub, client(broker.url(car)) as node:
            # Mosquitto grants every subscription and filters each message by the ACL.
            await node.subscribe("hyperhub/test/+/set")
            await node.subscribe("hyperhub/test/front_door/call/+")
            await node.subscribe("hyperhub/test/car/call/+")
            await hub.publish("hyperhub/test/front_door/set", b"unlock", qos=1)
            await hub.publish("hyperhub/test/front_door/call/unlock", b"{}", qos=1)
            await hub.publish("hyperhub/test/car/call/honk", b"{}", qos=1)
            await hub.publish("hyperhub/test/car/set", b"lock", qos=1)
            return await receive_until(node, "hyperhub/test/car/set", b"lock")

    assert run(main()) == [
        ("hyperhub/test/car/call/honk", b"{}"),
        ("hyperhub/test/car/set", b"lock"),
    ]


def test_node_reads_back_only_its_own_retained_state(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])
    home = broker.add_node("home_node", ["front_door"])

    async def main() -> Received:
        async with client(broker.url(home)) as other:
            await other.publish("hyperhub/test/front_door/state", b"closed", qos=1, retain=True)
        async with client(broker.url(car)) as node:
            await node.publish("hyperhub/test/car/state", b"parked", qos=1, retain=True)
        async with client(broker.url(car)) as node:  # a restarted node resyncing
            await node.subscribe("hyperhub/test/front_door/state")
            await node.subscribe("hyperhub/test/car/state")
            return await receive_until(node, "hyperhub/test/car/state", b"parked")

    assert run(main()) == [("hyperhub/test/car/state", b"parked")]


def test_will_on_a_foreign_topic_is_never_published(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])

    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub:
            await hub.subscribe("hyperhub/test/#")
            raw_connect(
                broker.host,
                broker.port,
                car.name,
                car.password,
                "forger",
                will_topic="hyperhub/test/front_door/availability",
            ).close()
            await asyncio.to_thread(
                wait_until,
                lambda: b"forger closed its connection" in broker.log_path.read_bytes(),
                "the broker to see the drop",
                timeout=20.0,
            )
            raw_connect(
                broker.host,
                broker.port,
                car.name,
                car.password,
                "honest",
                will_topic="hyperhub/test/node/car_node/availability",
            ).close()
            return await receive_until(hub, "hyperhub/test/node/car_node/availability", b"offline")

    assert run(main()) == [("hyperhub/test/node/car_node/availability", b"offline")]


# -- credentials changing at run time --------------------------------------------------------
def test_node_added_at_run_time_logs_in_after_reload_without_restart(broker, run) -> None:
    pid = broker.mosquitto.pid
    phone = broker.add_node("phone_node", ["phone"])

    async def main() -> None:
        async with client(broker.url(phone)) as node:
            await node.publish("hyperhub/test/phone/state", b"{}")

    run(main())
    assert broker.mosquitto.pid == pid
    assert broker.mosquitto.restarts == 0


def test_removed_node_is_cut_off_and_refused_after_reload(broker, run) -> None:
    phone = broker.add_node("phone_node", ["phone"])

    async def connected_while_removed() -> None:
        async with client(broker.url(phone)) as node:
            await node.subscribe("hyperhub/test/phone/set")
            await asyncio.to_thread(broker.remove_node, "phone_node")
            async for _ in node.messages:  # ends with MqttError: mosquitto drops it at reload
                pass

    async def log_in_again() -> None:
        async with client(broker.url(phone)):
            pass

    with pytest.raises(aiomqtt.MqttError):
        run(connected_while_removed())
    with pytest.raises(aiomqtt.MqttCodeError, match=r"[Nn]ot authori[sz]ed"):
        run(log_in_again())


def test_reload_keeps_connected_clients(broker, run) -> None:
    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub:
            await hub.subscribe("hyperhub/test/#")
            await asyncio.to_thread(broker.add_node, "car_node", ["car"])
            await hub.publish("hyperhub/test/car/set", b"still here")
            return await receive_until(hub, "hyperhub/test/car/set", b"still here")

    assert run(main()) == [("hyperhub/test/car/set", b"still here")]


# -- supervision --------------------------------------------------------------------------
def test_killed_mosquitto_is_restarted_and_clients_reconnect(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])

    async def connected_until_broker_dies() -> None:
        async with client(broker.url(car)) as node:
            await node.subscribe("hyperhub/test/car/set")
            os.kill(broker.mosquitto.pid, signal.SIGKILL)
            async for _ in node.messages:  # ends with MqttError once the socket drops
                pass

    old_pid = broker.mosquitto.pid
    with pytest.raises(aiomqtt.MqttError):
        run(connected_until_broker_dies())
    wait_until(
        lambda: broker.mosquitto.restarts == 1, "the supervisor to restart mosquitto", timeout=20.0
    )
    assert broker.mosquitto.pid not in (None, old_pid)

    async def reconnect() -> Received:
        async with client(broker.url(broker.hub)) as hub, client(broker.url(car)) as node:
            await hub.subscribe("hyperhub/test/car/state")
            await node.publish("hyperhub/test/car/state", b"back", qos=1)
            return await receive_until(hub, "hyperhub/test/car/state", b"back")

    assert run(reconnect()) == [("hyperhub/test/car/state", b"back")]


def test_stop_leaves_no_process_behind(tmp_path: Path, run) -> None:
    if mosquitto_binary() is None:
        pytest.skip("mosquitto is not installed")

    async def main() -> int:
        async with MosquittoBroker(tmp_path, "test") as mosquitto:
            assert mosquitto.pid is not None
            return mosquitto.pid

    pid = run(main())
    assert not psutil.pid_exists(pid)
    assert not (tmp_path / "broker" / "mosquitto.pid").exists()


@requires_mosquitto
def test_mosquitto_left_behind_by_a_crashed_hub_is_stopped(tmp_path: Path, run) -> None:
    broker_dir = tmp_path / "broker"
    broker_dir.mkdir()
    conf = broker_dir / "mosquitto.conf"
    port = socket.create_server(("127.0.0.1", 0)).getsockname()[1]  # closed when collected
    conf.write_text(f"listener {port} 127.0.0.1\nallow_anonymous true\n")
    stale = subprocess.Popen(
        [mosquitto_binary() or "mosquitto", "-c", str(conf)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        (broker_dir / "mosquitto.pid").write_text(f"{stale.pid}\n")

        def listening() -> bool:
            with socket.socket() as probe:
                return probe.connect_ex(("127.0.0.1", port)) == 0

        wait_until(listening, "the stale mosquitto to listen", timeout=20.0)

        async def main() -> None:
            async with MosquittoBroker(tmp_path, "test", port=port) as mosquitto:
                assert mosquitto.pid != stale.pid

        run(main())
        assert stale.wait(timeout=10) is not None
    finally:
        stale.kill()
        stale.wait(timeout=10)


@requires_mosquitto
def test_taken_port_is_a_clear_error(tmp_path: Path, run) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]

        async def main() -> None:
            async with MosquittoBroker(tmp_path, "test", port=port):
                pass

        with pytest.raises(BrokerError, match=rf"127\.0\.0\.1:{port}.*Address already in use"):
            run(main())


def test_broker_that_cannot_start_is_a_clear_error(tmp_path: Path, run) -> None:
    async def main() -> None:
        async with MosquittoBroker(tmp_path, "test", binary=shutil.which("false")):
            pass

    with pytest.raises(BrokerError, match="mosquitto exited with code 1 while starting"):
        run(main())
    assert not (tmp_path / "broker" / "mosquitto.pid").exists()


@requires_mosquitto
def test_default_broker_is_mosquitto_when_installed(tmp_path: Path, run) -> None:
    async def main() -> str:
        async with start_default_broker(tmp_path, "test") as broker:
            return broker.kind

    assert run(main()) == "mosquitto"


# -- limits -------------------------------------------------------------------------------
LIMIT = BrokerLimits().message_size_limit


def test_payload_over_the_limit_is_dropped_and_the_client_stays(broker, run) -> None:
    car = broker.add_node("car_node", ["car"])

    async def main() -> Received:
        async with client(broker.url(broker.hub)) as hub, client(broker.url(car)) as node:
            await hub.subscribe("hyperhub/test/car/state")
            await node.publish("hyperhub/test/car/state", b"x" * (LIMIT + 1), qos=1)
            await node.publish("hyperhub/test/car/state", b"y" * LIMIT, qos=1)
            await node.publish("hyperhub/test/car/state", b"sentinel", qos=1)
            return await receive_until(hub, "hyperhub/test/car/state", b"sentinel")

    got = run(main())
    assert [len(payload) for _, payload in got] == [LIMIT, len(b"sentinel")]


def test_packet_over_max_packet_size_disconnects_the_client(broker) -> None:
    car = broker.add_node("car_node", ["car"])
    huge = b"x" * (BrokerLimits().max_packet_size + 1)
    sock = raw_connect(broker.host, broker.port, car.name, car.password, "car_node")
    try:
        with contextlib.suppress(OSError):  # the broker may hang up while we still send
            sock.sendall(mqtt_packet(0x30, mqtt_str("hyperhub/test/car/state") + huge))
        with contextlib.suppress(ConnectionResetError):  # reset or closed: either way, gone
            assert sock.recv(1) == b""
    finally:
        sock.close()
    wait_until(
        lambda: b"disconnected due to oversize packet" in broker.log_path.read_bytes(),
        "mosquitto to log the oversize packet",
        timeout=20.0,
    )


def test_messages_dropped_for_a_slow_subscriber_are_counted(make_broker, run) -> None:
    broker = make_broker(limits=BrokerLimits(max_queued_messages=10, sys_interval=1))
    hub = broker.hub
    slow = raw_connect(broker.host, broker.port, hub.name, hub.password, "slow")
    slow.sendall(mqtt_packet(0x82, b"\x00\x01" + mqtt_str("hyperhub/test/#") + b"\x00"))
    assert slow.recv(5) == b"\x90\x03\x00\x01\x00"  # SUBACK; from now on it never reads
    flood = raw_connect(broker.host, broker.port, hub.name, hub.password, "flood")
    publish = mqtt_packet(0x30, mqtt_str("hyperhub/test/lamp/state") + b"x" * 1000)
    flood.sendall(publish * 20_000)

    async def dropped() -> int:
        async with client(broker.url(hub)) as watcher:
            await watcher.subscribe("$SYS/broker/publish/messages/dropped")
            async for message in watcher.messages:
                if int(bytes(message.payload)) > 0:
                    return int(bytes(message.payload))
        raise AssertionError("unreachable")

    try:
        assert run(dropped(), timeout=30) > 0
    finally:
        slow.close()
        flood.close()


# -- the amqtt fallback -------------------------------------------------------------------
def test_amqtt_fallback_requires_credentials_and_relays(tmp_path: Path, run) -> None:
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])

    async def main() -> Received:
        async with AmqttBroker(tmp_path, "test", credentials) as broker:
            for url in (
                BrokerURL(broker.host, broker.port),
                broker.url(car).with_credentials("car_node", "wrong"),
            ):
                with pytest.raises(aiomqtt.MqttError):
                    async with client(url):
                        pass
            async with (
                client(broker.url(credentials.hub())) as hub,
                client(broker.url(car)) as node,
            ):
                await hub.subscribe("hyperhub/test/#")
                await node.subscribe("hyperhub/test/car/set")
                await hub.publish("hyperhub/test/car/set", b"lock")
                assert await receive_until(node, "hyperhub/test/car/set", b"lock")
                await node.publish("hyperhub/test/car/state", b"locked")
                return await receive_until(hub, "hyperhub/test/car/state", b"locked")

    assert run(main()) == [
        ("hyperhub/test/car/set", b"lock"),
        ("hyperhub/test/car/state", b"locked"),
    ]


def test_amqtt_fallback_enforces_the_acl(tmp_path: Path, run) -> None:
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])
    credentials.add_node("home_node", ["front_door"])

    async def main() -> tuple[Received, Received, list[int]]:
        async with (
            AmqttBroker(tmp_path, "test", credentials) as broker,
            client(broker.url(credentials.hub())) as hub,
            client(broker.url(car)) as node,
        ):
            await hub.subscribe("hyperhub/test/#")
            await node.publish("hyperhub/test/front_door/state", b"forged")
            await node.publish("hyperhub/test/discovery/front_door", b"forged")
            await node.publish("hyperhub/test/car/state", b"sentinel")
            hub_got = await receive_until(hub, "hyperhub/test/car/state", b"sentinel")
            granted = [
                await node.subscribe(t)
                for t in ("hyperhub/test/front_door/set", "hyperhub/test/+/set", "hyperhub/#")
            ]
            await node.subscribe("hyperhub/test/car/set")
            await hub.publish("hyperhub/test/front_door/set", b"unlock")
            await hub.publish("hyperhub/test/car/set", b"lock")
            node_got = await receive_until(node, "hyperhub/test/car/set", b"lock")
            return hub_got, node_got, [code[0] for code in granted]

    hub_got, node_got, granted = run(main())
    assert hub_got == [("hyperhub/test/car/state", b"sentinel")]
    assert node_got == [("hyperhub/test/car/set", b"lock")]
    assert granted == [0x80, 0x80, 0x80]  # amqtt refuses subscriptions wider than the ACL


def test_amqtt_fallback_lets_a_new_node_in_without_restart(tmp_path: Path, run) -> None:
    credentials = CredentialStore(tmp_path)

    async def main() -> None:
        async with AmqttBroker(tmp_path, "test", credentials) as broker:
            phone = credentials.add_node("phone_node", ["phone"])
            await broker.reload()
            async with client(broker.url(phone)) as node:
                await node.publish("hyperhub/test/phone/state", b"{}")

    run(main())


def test_amqtt_fallback_refuses_a_foreign_will(tmp_path: Path, run) -> None:
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])

    async def main() -> None:
        async with AmqttBroker(tmp_path, "test", credentials) as broker:
            will = aiomqtt.Will("hyperhub/test/front_door/availability", b"offline")
            async with client(broker.url(car), will=will):
                pass

    with pytest.raises(aiomqtt.MqttError):
        run(main())


def test_amqtt_fallback_sends_a_node_no_retained_message_of_other_devices(
    tmp_path: Path, run
) -> None:
    """amqtt 0.12 sends a client logging in the retained messages of every filter anyone
    subscribed to; the patched broker sends only those of its own subscriptions."""
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])
    home = credentials.add_node("home_node", ["front_door"])

    async def main() -> Received:
        async with (
            AmqttBroker(tmp_path, "test", credentials) as broker,
            client(broker.url(credentials.hub())) as hub,
        ):
            await hub.subscribe("hyperhub/test/#")
            async with client(broker.url(home)) as other:
                await other.publish("hyperhub/test/front_door/state", b"closed", qos=1, retain=True)
                await other.publish("hyperhub/test/discovery/front_door", b"{}", qos=1, retain=True)
            await receive_until(hub, "hyperhub/test/discovery/front_door", b"{}")
            async with client(broker.url(car)) as node:
                await node.subscribe("hyperhub/test/car/set")
                await hub.publish("hyperhub/test/car/set", b"sentinel", qos=1)
                return await receive_until(node, "hyperhub/test/car/set", b"sentinel")

    assert run(main()) == [("hyperhub/test/car/set", b"sentinel")]


def test_amqtt_fallback_keeps_delivering_while_subscriptions_change(tmp_path: Path, run) -> None:
    """A subscription added while a broadcast awaits its ACL checks: amqtt 0.12 loses the
    rest of that broadcast ("dictionary changed size during iteration"); patched, every
    subscriber gets every message."""
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])

    async def main() -> tuple[Received, Received]:
        async with (
            AmqttBroker(tmp_path, "test", credentials) as broker,
            client(broker.url(credentials.hub()), identifier="hub") as hub,
            client(broker.url(car)) as node,
        ):
            inner: Any = broker._broker
            check = inner._topic_filtering
            churned: list[bool] = []

            async def churning(session: Session, topic: str, action: Action) -> bool:
                if action == Action.RECEIVE and not churned:
                    churned.append(True)  # the hub subscribes to one more filter meanwhile
                    hub_session = inner.sessions["hub"][0]
                    await inner.add_subscription(("hyperhub/test/+/event/+", 0), hub_session)
                return bool(await check(session, topic, action))

            await hub.subscribe("hyperhub/test/+/state")
            await node.subscribe("hyperhub/test/car/state")
            inner._topic_filtering = churning
            for payload in (b"1", b"2"):
                await hub.publish("hyperhub/test/car/state", payload, qos=1)
            return (
                await receive_until(hub, "hyperhub/test/car/state", b"2"),
                await receive_until(node, "hyperhub/test/car/state", b"2"),
            )

    hub_got, node_got = run(main())
    assert (
        hub_got
        == node_got
        == [("hyperhub/test/car/state", b"1"), ("hyperhub/test/car/state", b"2")]
    )


@pytest.mark.parametrize("broker_type", [PlainAmqtt, PatchedBroker])
def test_amqtt_broadcast_over_subscriptions_that_change_meanwhile(broker_type: type) -> None:
    """The race itself, on one broadcast step: amqtt 0.12's own loop fails; the patched one
    reaches every subscriber it had when it started."""

    async def main() -> tuple[list[str], BaseException | None]:
        amqtt = broker_type(
            {"listeners": {"default": {"type": "tcp", "bind": "127.0.0.1:0"}}, "plugins": {}}
        )  # never started: only the broadcast step runs
        a, b, c = Session(), Session(), Session()
        a.client_id, b.client_id, c.client_id = "a", "b", "c"
        subscriptions = amqtt._subscriptions
        subscriptions["hyperhub/test/+/state"] = [(a, 0)]
        subscriptions["hyperhub/test/car/state"] = [(b, 0), (c, 0)]
        subscriptions["hyperhub/test/#"] = [(a, 0)]
        checked: list[str] = []

        async def checking(session: Session, topic: str, action: Action) -> bool:
            checked.append(str(session.client_id))
            if len(checked) == 1:  # while amqtt awaits the first ACL check:
                subscriptions["hyperhub/test/+/ack"] = [(c, 0)]  # someone subscribes,
                subscriptions["hyperhub/test/car/state"].pop(0)  # and b's session is dropped
            await asyncio.sleep(0)
            return True

        amqtt._topic_filtering = checking
        await amqtt._broadcast_queue.put(
            {"session": None, "topic": "hyperhub/test/car/state", "data": b"x"}
        )
        try:
            await amqtt._run_broadcast(deque())
        except RuntimeError as exc:
            return checked, exc
        return checked, None

    checked, error = asyncio.run(main())
    if broker_type is PlainAmqtt:  # if this fails, amqtt fixed it: PatchedBroker may go
        assert "dictionary changed size during iteration" in str(error)
        assert checked == ["a"]
    else:
        assert error is None
        assert checked == ["a", "b", "c", "a"]


def test_the_patched_amqtt_broker_is_used_for_0_12_only(monkeypatch: pytest.MonkeyPatch) -> None:
    import amqtt

    assert amqtt.__version__.startswith("0.12.")
    assert broker_class() is PatchedBroker
    monkeypatch.setattr(amqtt, "__version__", "0.13.0")
    assert broker_class() is PlainAmqtt


def test_snapshot_subscriptions_iterate_over_a_copy() -> None:
    subs = SnapshotSubscriptions({"a": [1, 2], "b": [3]})  # type: ignore[dict-item]
    for topic_filter, subscribers in subs.items():
        subs["c" + topic_filter] = []
        subs[topic_filter].clear()
        assert subscribers  # the copy, not the list just cleared
    for topic_filter in subs:
        del subs[topic_filter]
    assert subs == {} and isinstance(subs, dict)


# -- client ids: no node can knock another client off ------------------------------------


def _still_connected(sock: socket.socket) -> bool:
    """PINGREQ → PINGRESP on a raw connection; False once the broker has closed it."""
    try:
        sock.sendall(b"\xc0\x00")
        return sock.recv(2) == b"\xd0\x00"
    except OSError:
        return False


@requires_mosquitto
def test_a_node_cannot_knock_another_client_off_by_naming_its_id(broker) -> None:
    """The hardening probe's attack: `mosquitto_pub -i hyperhub-node-<space>-local` in a loop
    disconnected the hub's own node. Client ids now end in an HMAC of the owner's password."""
    victim = broker.add_node("a_node", ["lamp"])
    attacker = broker.add_node("b_node", ["fan"])
    own_id = node_client_id("test", "a_node", victim.password)
    assert own_id.startswith("hyperhub-node-test-a_node-") and len(own_id) > 30
    assert node_client_id("test", "a_node", victim.password) == own_id  # stable: its session
    assert node_client_id("test", "a_node", attacker.password) != own_id
    socks = [raw_connect(broker.host, broker.port, "a_node", victim.password, own_id)]
    try:
        for guess in (
            "hyperhub-node-test-a_node",  # the old, guessable id
            node_client_id("test", "a_node", attacker.password),  # derived without its password
            node_client_id("test", "a_node", None),
        ):
            socks.append(raw_connect(broker.host, broker.port, "b_node", attacker.password, guess))
            assert _still_connected(socks[0]), f"{guess} knocked the node off"
        hub_id = hub_client_id("test")
        assert len(hub_id) >= len("hyperhub-hub-test-") + 16 and hub_id != hub_client_id("test")
    finally:
        for sock in socks:
            sock.close()


def test_amqtt_fallback_binds_client_ids_to_logins(tmp_path: Path, run) -> None:
    credentials = CredentialStore(tmp_path)
    car = credentials.add_node("car_node", ["car"])
    phone = credentials.add_node("phone_node", ["phone"])
    car_id = node_client_id("test", "car_node", car.password)

    async def connects(principal: Any, identifier: str) -> bool:
        try:
            async with aiomqtt.Client(
                **broker.url(principal).client_kwargs(), identifier=identifier, timeout=5
            ):
                return True
        except aiomqtt.MqttError:
            return False

    async def main() -> dict[str, bool]:
        nonlocal broker
        async with AmqttBroker(tmp_path, "test", credentials) as running:
            broker = running
            return {
                "own id": await connects(car, car_id),
                "another node's id": await connects(phone, car_id),
                "a made-up id": await connects(phone, "hyperhub-node-test-car_node"),
                "hub as a node": await connects(credentials.hub(), car_id),
                "hub": await connects(credentials.hub(), hub_client_id("test")),
            }

    broker: Any = None
    assert run(main()) == {
        "own id": True,
        "another node's id": False,
        "a made-up id": False,
        "hub as a node": False,
        "hub": True,
    }
