"""Fabric benchmark: state floods into the hub, command round trips, 10,000 devices on 10 nodes.

One run measures, side by side (about 2 min at the defaults on 2 cores; `--quick`: seconds):

- **raw**: a flood of state messages read by `mosquitto_sub` (C): what the broker delivers;
- **client**: the same flood read by a `FabricClient` that only counts: the hub's MQTT client;
- **hub**: the same flood into `HubFabric`, registry and a real SQLite store, from the first
  publish until the store holds every update (flush); its ratio to **raw**;
- the same raw and hub figures through the in-process **amqtt** fallback (a smaller flood);
- **commands**: sequential `send_command` → ack to a light hosted by a `DeviceNode` process;
- **nodes**: 10,000 devices from 10 `DeviceNode` processes into a hub in its own process:
  all discovered, and that process's RSS;
- **adapter**: Zigbee2MQTT state messages (`zigbee2mqtt/<friendly name>`, Zigbee2MQTT's
  own JSON) for lights accepted from a Zigbee2MQTT adapter, published as the bridge's login:
  through the adapter (`hyperhub.adapters`), its `DeviceNode` and the hub into the store,
  from the first publish until the store holds every light's last state. The node publishes
  a light's latest state, so bursts for one light may reach the hub as fewer messages;
- **ha_adapter**: the same through a Home Assistant discovery adapter: JSON-schema lights as
  ESPHome announces them (`esphome/lamp<i>/state`).

The flood: `messages` retained QoS 0 state messages, round robin over `devices` devices of a
synthetic space; each is the device's full valid state with one property changed, so every
one is a change the store must write. It comes from another process (`bench.mqtt_flood`,
pre-encoded packets over a plain socket, logged in as a node owning those devices), paced by
the consumer: never more than `window` messages ahead of it, well under the broker's
per-client queue, so a slow consumer is measured at its own speed. Drops are counted anyway
(sent minus received), and the store's final states are compared with the flood's.

    python -m bench.fabric_bench [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import logging
import os
import resource
import sqlite3
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import psutil
from rich.console import Console
from rich.table import Table

from bench.harness import child, distribution
from bench.mqtt_flood import Control, publish_packet, write_flood
from bench.synthetic import synthetic_space_yaml
from hyperhub.fabric.broker import AmqttBroker, Broker, MosquittoBroker, mosquitto_binary
from hyperhub.fabric.broker_url import BrokerURL
from hyperhub.fabric.client import FabricClient, Outgoing
from hyperhub.fabric.credentials import HUB, CredentialStore, node_client_id
from hyperhub.fabric.hosting import discovery_of
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.messages import ONLINE, dump
from hyperhub.fabric.topics import Topics
from hyperhub.space import Device, Space, parse_space
from hyperhub.spec import builtin_types
from hyperhub.spec.model import PropertySpec
from hyperhub.store import StateStore

if TYPE_CHECKING:
    from hyperhub.fabric.node import DeviceNode

ROOT = Path(__file__).resolve().parents[1]
SLUG = "bench"
T0 = 1_700_000_000.0
GOAL_STATE_PER_S = 20_000
GOAL_RATIO = 0.5
GOAL_P50_MS, GOAL_P99_MS = 2.0, 10.0
GOAL_RSS_MB = 500
NODE_TICK_S = 5.0  # 10,000 sensors ticking each second outrun the ACL-bound broker (docs)
FULL: dict[str, int] = {
    "messages": 200_000,
    "devices": 1000,
    "amqtt_messages": 10_000,
    "node_acl_messages": 20_000,
    "commands": 5000,
    "nodes": 10,
    "node_devices": 1000,
    "window": 5000,
    "adapter_messages": 20_000,
    "adapter_devices": 200,
}
QUICK: dict[str, int] = {
    "messages": 2000,
    "devices": 50,
    "amqtt_messages": 500,
    "node_acl_messages": 500,
    "commands": 100,
    "nodes": 2,
    "node_devices": 50,
    "window": 500,
    "adapter_messages": 500,
    "adapter_devices": 20,
}
log = logging.getLogger("bench.fabric")


def run_fabric_bench(
    *, quick: bool = False, on_phase: Callable[[str], None] | None = None, **opts: int
) -> dict[str, Any]:
    """Run every part (bounded) and return the figures; `opts` override `FULL` / `QUICK`."""
    unknown = set(opts) - set(FULL)
    if unknown:
        raise TypeError(f"unknown options: {', '.join(sorted(unknown))}")
    settings = {**(QUICK if quick else FULL), **opts}
    return asyncio.run(_run(settings, on_phase or (lambda _phase: None)))


async def _run(o: dict[str, int], phase: Callable[[str], None]) -> dict[str, Any]:
    started = time.perf_counter()
    figures: dict[str, Any] = {"quick": o["messages"] < FULL["messages"], **o}
    figures["flood_devices"] = figures.pop("devices")  # "devices" is the nodes' count
    with tempfile.TemporaryDirectory(prefix="hyperhub-fabric-bench-") as tmp:
        scratch = Path(tmp)
        space = parse_space(_space_yaml(o["devices"], "f_"), "<flood space>")
        devices = list(space.devices.values())
        credentials = CredentialStore(scratch / "data")
        flooder = credentials.add_node("flood", [d.id for d in devices])
        phase("building the flood")
        big = Flood.build(devices, o["messages"], scratch / "big")
        small = Flood.build(devices, o["amqtt_messages"], scratch / "small")
        acl = Flood.build(devices, o["node_acl_messages"], scratch / "acl")
        if mosquitto_binary() is None:
            raise SystemExit("mosquitto is not installed (apt-get install mosquitto)")
        async with (
            MosquittoBroker(scratch / "data", SLUG, credentials) as mosquitto,
            contextlib.AsyncExitStack() as stack,
        ):
            bench = await stack.enter_async_context(
                Bench(mosquitto, credentials, flooder.name, o["window"], scratch)
            )
            phase("mosquitto: raw rate (mosquitto_sub)")
            figures["raw"] = await bench.raw(big)
            phase("mosquitto: raw rate, published by a node owning the devices")
            figures["raw_node_login"] = await bench.raw(acl, login=flooder.name)
            phase("mosquitto: FabricClient, counting only")
            figures["client"] = await bench.client(big)
            phase("mosquitto: hub with registry and store")
            figures["hub"] = await bench.hub(big, devices)
            phase("command round trips")
            figures["commands"] = await bench.commands(o["commands"])
            phase(f"{o['nodes']} nodes of {o['node_devices']:,} devices")
            figures["nodes"] = await bench.nodes(o["nodes"], o["node_devices"])
            phase("Zigbee2MQTT states through the adapter")
            figures["adapter"] = await bench.adapter(o["adapter_messages"], o["adapter_devices"])
            phase("Home Assistant discovery states through the adapter")
            figures["ha_adapter"] = await bench.ha_adapter(
                o["adapter_messages"], o["adapter_devices"]
            )
        async with (
            AmqttBroker(scratch / "amqtt", SLUG, credentials) as amqtt,
            contextlib.AsyncExitStack() as stack,
        ):
            bench = await stack.enter_async_context(
                Bench(amqtt, credentials, flooder.name, o["window"], scratch)
            )
            phase("amqtt: raw rate (mosquitto_sub)")
            figures["amqtt_raw"] = await bench.raw(small)
            phase("amqtt: hub with registry and store")
            figures["amqtt_hub"] = await bench.hub(small, devices)
    figures.update(_headline(figures))
    figures["total_s"] = round(time.perf_counter() - started, 1)
    return figures


def _headline(f: dict[str, Any]) -> dict[str, Any]:
    """The figures the issue names, at the top level of the JSON."""

    def ratio(part: str, raw: str) -> float:
        return round(f[part]["msgs_per_s"] / f[raw]["msgs_per_s"], 3) if f[raw]["msgs_per_s"] else 0

    return {
        "state_msgs_per_s": f["hub"]["msgs_per_s"],
        "raw_msgs_per_s": f["raw"]["msgs_per_s"],
        "ratio_to_raw": ratio("hub", "raw"),
        "amqtt_state_msgs_per_s": f["amqtt_hub"]["msgs_per_s"],
        "amqtt_ratio_to_raw": ratio("amqtt_hub", "amqtt_raw"),
        "adapter_state_msgs_per_s": f["adapter"]["msgs_per_s"],
        "ha_adapter_state_msgs_per_s": f["ha_adapter"]["msgs_per_s"],
        "cmd_ack_p50_ms": f["commands"]["p50_ms"],
        "cmd_ack_p99_ms": f["commands"]["p99_ms"],
        "devices": f["nodes"]["discovered"],
        "hub_rss_mb": f["nodes"]["hub_rss_mb"],
    }


# -- the flood --------------------------------------------------------------------------------


@dataclass
class Flood:
    """Pre-encoded state messages for some devices, each device's last state in it, and how
    many history rows it makes in a fresh store (a device's first state records every
    property, each later one the property it changes)."""

    count: int
    data: Path
    ends: Path
    final: dict[str, dict[str, Any]]
    topics: list[str]
    history_rows: int

    @classmethod
    def build(
        cls,
        devices: list[Device],
        count: int,
        directory: Path,
        vary: Callable[[Device], tuple[str, list[Any]]] | None = None,
    ) -> Flood:
        """`count` messages, round robin over `devices`, each changing one property: the one
        `vary` names, through its values in turn (default: any property, through its range)."""
        directory.mkdir(parents=True)
        topics = Topics(SLUG)
        varying = [(d, *(vary or _varying)(d)) for d in devices]
        state = {d.id: dict(d.state) for d in devices}
        names = {d.id: topics.state(d.id) for d in devices}
        packets = []
        rows = 0
        encode = json.JSONEncoder(separators=(",", ":")).encode
        for i in range(count):
            device, prop, values = varying[i % len(varying)]
            now = state[device.id]
            now[prop] = values[(i // len(varying)) % len(values)]
            rows += len(now) if i < len(varying) else 1
            payload = encode({"ts": T0 + i * 1e-3, "state": now}).encode()
            packets.append(publish_packet(names[device.id], payload, retain=True))
        data, ends = write_flood(directory, packets)
        return cls(count, data, ends, state, list(names.values()), rows)


def _varying(device: Device) -> tuple[str, list[Any]]:
    """A property of the device and values for it that follow each other, all different."""
    best: tuple[int, str, list[Any]] | None = None
    for prop in device.properties:
        values = _values(device.dtype.properties[prop])
        rank = {"int": 0, "float": 0, "enum": 1, "bool": 2}.get(device.dtype.properties[prop].kind)
        if len(values) >= 2 and rank is not None and (best is None or rank < best[0]):
            best = (rank, prop, values)
    if best is None:
        raise ValueError(f"device {device.id} ({device.type}) has no property to vary")
    return best[1], best[2]


def _values(spec: PropertySpec) -> list[Any]:
    if spec.kind == "bool":
        return [True, False]
    if spec.kind == "enum":
        return list(spec.values or ())
    if spec.kind in ("int", "float"):
        lo = spec.min if spec.min is not None else 0.0
        hi = spec.max if spec.max is not None else lo + 100
        if spec.kind == "int":
            return list(range(int(lo), int(min(hi, lo + 50)) + 1))
        return [round(lo + (hi - lo) * k / 50, 3) for k in range(51)]
    return []


# -- running the parts -----------------------------------------------------------------------

Attach = Callable[[HubFabric, StateStore], contextlib.AbstractAsyncContextManager[Any]]


def _nothing(_hub: HubFabric, _store: StateStore) -> contextlib.AbstractAsyncContextManager[Any]:
    return contextlib.nullcontext()


class Bench:
    """The parts of the benchmark that run against one broker."""

    def __init__(
        self,
        broker: Broker,
        credentials: CredentialStore,
        flooder: str,
        window: int,
        scratch: Path,
    ) -> None:
        self.broker = broker
        self.credentials = credentials
        self.flooder = flooder
        self.window = window
        self.scratch = scratch
        self.topics = Topics(SLUG)
        self._barrier = f"{self.topics.base}/probe/barrier"
        self._back = asyncio.Event()
        self._tidy: FabricClient | None = None

    async def __aenter__(self) -> Bench:
        """Connect the client that tidies up between parts (subscribed once, while idle:
        amqtt 0.12's broadcast loop fails if subscriptions change while it delivers)."""
        self._tidy = FabricClient(self.hub_url.client_kwargs(), client_id="bench-tidy")
        await self._tidy.subscribe(self._barrier, lambda _m: self._back.set(), qos=0)
        self._tidy.start()
        await self._tidy.wait_connected(10)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._tidy is not None:
            await self._tidy.close()

    @property
    def hub_url(self) -> BrokerURL:
        return self.broker.url(self.credentials.hub())

    def url_of(self, name: str) -> BrokerURL:
        principal = self.credentials.principal(name)
        assert principal is not None
        return self.broker.url(principal)

    # -- floods ---------------------------------------------------------------------------

    async def raw(self, flood: Flood, login: str = HUB) -> dict[str, Any]:
        """`mosquitto_sub` reads the flood (published with `login`); rate from the first
        publish to its last line."""
        url = self.hub_url
        probe = f"{self.topics.base}/probe/ready"
        async with self._client(url, "bench-probe") as client:
            await client.publish(probe, "ready", retain=True)
        proc = await asyncio.create_subprocess_exec(
            "mosquitto_sub",
            "-h",
            url.host,
            "-p",
            str(url.port),
            "-u",
            url.username or "",
            "-P",
            url.password or "",
            "-i",
            "bench-raw",
            "-q",
            "0",
            "-C",
            str(flood.count + 1),
            "-t",
            self.topics.all_states(),
            "-t",
            probe,
            stdout=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
        )
        assert proc.stdout is not None
        lines = 0
        try:
            async with asyncio.timeout(10):  # the retained probe says: subscribed
                while lines == 0:
                    chunk = await proc.stdout.read(65536)
                    if not chunk:
                        raise RuntimeError("mosquitto_sub exited before it subscribed")
                    lines += chunk.count(b"\n")
            got: list[int] = [lines - 1]

            async def consume() -> None:
                assert proc.stdout is not None
                while chunk := await proc.stdout.read(1 << 20):
                    got[0] += chunk.count(b"\n")
                    control.consumed = got[0]

            control = self._control()
            async with self._flood(flood, control, login) as publisher:
                reader = asyncio.create_task(consume())
                done = await _wait_until(lambda: got[0] >= flood.count, _limit(flood.count))
                end = time.monotonic_ns()
                reader.cancel()
                await publisher.wait()
            return _rate(flood.count, got[0], control, end, done)
        finally:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            await self._settle()
            await self._clear(flood, probe)

    async def client(self, flood: Flood) -> dict[str, Any]:
        """A `FabricClient` that only counts the flood: the MQTT client's own ceiling."""
        got = [0]

        def count(_message: Any) -> None:
            got[0] += 1

        control = self._control()
        async with self._client(self.hub_url, "bench-count") as client:
            await client.subscribe(self.topics.all_states(), count, qos=0)
            async with self._feed(control, lambda: got[0]), self._flood(flood, control) as pub:
                done = await _wait_until(lambda: got[0] >= flood.count, _limit(flood.count))
                end = time.monotonic_ns()
                await pub.wait()
        await self._clear(flood)
        return _rate(flood.count, got[0], control, end, done)

    async def hub(
        self, flood: Flood, devices: list[Device], attach: Attach | None = None
    ) -> dict[str, Any]:
        """The flood into `HubFabric` with its registry and a real SQLite store; `attach`
        (e.g. a rule engine on the hub) is entered once the hub started, left before it stops."""
        data_dir = Path(tempfile.mkdtemp(prefix="hub-", dir=self.scratch))
        with StateStore.open(data_dir=data_dir) as store:
            hub = HubFabric(SLUG, self.hub_url.client_kwargs(), types=builtin_types(), store=store)
            await self._settle()
            async with hub, (attach or _nothing)(hub, store):
                await hub.wait_connected(10)
                await self._announce(devices, hub)
                # as in a hub that has run a while: what start-up built (registry, rules) is
                # old, so the young collections during the flood do not walk it again
                gc.collect()
                base = hub.stats.received
                control = self._control()

                def taken() -> int:
                    return hub.stats.received - base

                async with self._feed(control, taken), self._flood(flood, control) as pub:
                    done = await _wait_until(lambda: taken() >= flood.count, _limit(flood.count))
                    await hub.flush(60)
                    end = time.monotonic_ns()
                    await pub.wait()
                stats = hub.stats
                writer = hub.store_writer
                stored = await asyncio.to_thread(store.current_all)
                rows = await asyncio.to_thread(_history_rows, data_dir / "hyperhub.db")
            await self._clear(flood, *self._retained_of([d.id for d in devices]))
        figures = _rate(flood.count, taken(), control, end, done)
        figures.update(
            written=stats.written,
            write_dropped=stats.write_dropped,
            malformed=stats.malformed,
            invalid_values=stats.invalid_values,
            stale=stats.stale,
            unknown_device=stats.unknown_device,
            store_writer=writer,
            store_matches=all(stored.get(d) == s for d, s in flood.final.items()),
            history_rows=rows,
            history_matches=rows == flood.history_rows,
        )
        return figures

    async def _announce(self, devices: list[Device], hub: HubFabric) -> None:
        """Publish the devices' discovery and availability; wait until the hub has them all."""
        hello = [
            Outgoing(self.topics.discovery(d.id), dump(discovery_of(d, self.flooder)), True)
            for d in devices
        ]
        hello += [Outgoing(self.topics.availability(d.id), ONLINE, True) for d in devices]

        def joined() -> bool:
            records = [hub.registry.get(d.id) for d in devices]
            return all(r is not None and r.available for r in records)

        # Stay connected until the hub has it all: amqtt may drop what a leaving client sent.
        async with self._client(self.url_of(self.flooder), "bench-announce") as client:
            await client.publish_many(hello)
            if not await _wait_until(joined, 30, every=0.05):
                raise RuntimeError(f"the hub discovered {len(hub.registry)} of {len(devices)}")

    @contextlib.asynccontextmanager
    async def _flood(
        self, flood: Flood, control: Control, login: str = HUB
    ) -> AsyncIterator[asyncio.subprocess.Process]:
        """Run the paced publisher process for `flood`, logged in as `login`; it is gone when
        this exits."""
        await self._settle()
        url = self.url_of(login)
        spec = {
            "host": url.host,
            "port": url.port,
            "username": url.username,
            "password": url.password,
            "client_id": self._client_id(url, "bench-flood"),
            "data": str(flood.data),
            "ends": str(flood.ends),
            "control": str(control.path),
            "window": self.window,
            "timeout": _limit(flood.count),
        }
        code = "from bench.mqtt_flood import main; main()"
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            json.dumps(spec),
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL,
        )
        try:
            yield proc
        finally:
            if proc.returncode is None:
                try:
                    await asyncio.wait_for(proc.wait(), 10)
                except TimeoutError:
                    proc.kill()
                    await proc.wait()

    @contextlib.asynccontextmanager
    async def _feed(self, control: Control, taken: Callable[[], int]) -> AsyncIterator[None]:
        """Tell the publisher, every 5 ms, how much the consumer has taken."""

        async def feed() -> None:
            while True:
                control.consumed = taken()
                await asyncio.sleep(0.005)

        task = asyncio.create_task(feed())
        try:
            yield
        finally:
            task.cancel()

    def _control(self) -> Control:
        return Control(Path(tempfile.mktemp(prefix="control-", dir=self.scratch)), create=True)

    def _client(self, url: BrokerURL, client_id: str) -> _Connected:
        return _Connected(
            FabricClient(url.client_kwargs(), client_id=self._client_id(url, client_id))
        )

    def _client_id(self, url: BrokerURL, name: str) -> str:
        """A node logs in with the one client id its password gives it (the amqtt broker
        refuses any other; `credentials.node_client_id`); the hub's login with any."""
        if url.username in (None, HUB):
            return name
        return node_client_id(self.topics.space, url.username, url.password)

    async def _settle(self) -> None:
        """Let amqtt forget clients that left before a flood starts.

        amqtt 0.12 drops a disconnected client's subscriptions up to 1 s later; if one of its
        broadcasts is running then, it fails for good (it iterates the subscriptions across
        awaits) and the broker stops delivering. Mosquitto needs no such wait.
        """
        inner = getattr(self.broker, "_broker", None)
        sessions = getattr(inner, "_sessions", None)
        if sessions is not None:
            await _wait_until(
                lambda: all(s.transitions.state != "disconnected" for s, _ in sessions.values()),
                5,
                every=0.05,
            )

    def _retained_of(self, devices: list[str]) -> list[str]:
        """The retained topics of some devices, besides their state."""
        t = self.topics
        return [x for d in devices for x in (t.discovery(d), t.availability(d), t.state(d))]

    async def _clear(self, flood: Flood | None, *extra: str) -> None:
        """Remove retained messages (the flood's states and `extra`), so that the next part
        starts clean; return once the broker has handled all of it."""
        topics = [*(flood.topics if flood is not None else ()), *extra]
        assert self._tidy is not None
        self._back.clear()
        await self._tidy.publish_many(Outgoing(t, b"", True) for t in topics)
        await self._tidy.publish(self._barrier, b"")  # one sender's messages stay in order
        await asyncio.wait_for(self._back.wait(), 30)

    # -- commands -------------------------------------------------------------------------

    async def commands(self, count: int, warmup: int = 20) -> dict[str, Any]:
        """Sequential `send_command` to a light on a `DeviceNode` in its own process."""
        yaml_text = _space_yaml(40, "c_")
        space = parse_space(yaml_text, "<commands space>")
        light = next(d for d in space.devices.values() if d.type == "light")
        path = self.scratch / "commands.yaml"
        path.write_text(yaml_text, encoding="utf-8")
        self.credentials.add_node("cmd_node", [light.id])
        await self.broker.reload()
        data_dir = Path(tempfile.mkdtemp(prefix="hub-", dir=self.scratch))
        with StateStore.open(data_dir=data_dir) as store:
            hub = HubFabric(SLUG, self.hub_url.client_kwargs(), types=builtin_types(), store=store)
            async with hub, _node_process(self, "cmd_node", path, [light.id]) as node:
                await hub.wait_connected(10)
                if not await _wait_until(lambda: hub.registry.is_online(light.id), 30):
                    raise RuntimeError(f"the command node's {light.id} did not join")
                times: list[float] = []
                state_first = 0  # commands whose new state the hub had when the ack came
                cpu: dict[str, float] = {}
                for i in range(count + warmup):
                    if i == warmup:
                        pids = self._command_pids(node.pid)
                        cpu = _cpu_seconds(pids)
                    value = 1 + i % 100  # every command changes the light
                    t = time.perf_counter_ns()
                    await hub.send_command(
                        light.id, property="brightness", value=value, actor="bench"
                    )
                    if i >= warmup:
                        times.append((time.perf_counter_ns() - t) / 1e6)
                        record = hub.registry.get(light.id)
                        state_first += record is not None and record.state["brightness"] == value
                spent = _cpu_seconds(pids)
                await hub.flush(30)
                audited = len(await asyncio.to_thread(store.audit_log, limit=count + warmup))
        await self._clear(
            None, *self._retained_of([light.id]), self.topics.node_availability("cmd_node")
        )
        dist = distribution(times)
        return {
            "commands": count,
            "p50_ms": dist["p50"],
            "p99_ms": dist["p99"],
            "max_ms": dist["max"],
            "mean_ms": dist["mean"],
            "audited": audited,
            "state_first": state_first,
            # CPU time per command of each process on the path (load-independent, unlike
            # the latencies): the hub is this process; the store writer is its child
            "cpu_us_per_command": {
                k: round((spent[k] - cpu[k]) / count * 1e6) for k in spent if k in cpu
            },
        }

    def _command_pids(self, node_pid: int) -> dict[str, int]:
        """The processes a command goes through: this one (the hub), its store writer, the
        node and the broker (when it is a process of its own)."""
        pids = {"hub": os.getpid(), "node": node_pid}
        broker_pid = getattr(self.broker, "pid", None)
        if broker_pid:
            pids["broker"] = broker_pid
        for kid in psutil.Process().children():
            if kid.pid not in pids.values() and "store_process" in " ".join(kid.cmdline()):
                pids["store_writer"] = kid.pid
        return pids

    # -- an adapter -----------------------------------------------------------------------

    async def adapter(self, messages: int, lamps: int) -> dict[str, Any]:
        """Zigbee2MQTT state messages for `lamps` accepted lights, as the bridge publishes
        them, through the adapter and its node into the hub and its store."""
        from hyperhub.adapters.zigbee2mqtt.adapter import Zigbee2Mqtt
        from hyperhub.adapters.zigbee2mqtt.exposes import propose

        base = "zigbee2mqtt"
        listed = [_z2m_light(i) for i in range(lamps)]
        proposals = [propose(entry)[0] for entry in listed]
        bright = proposals[0].binding("brightness")
        assert bright is not None
        encode = json.JSONEncoder(separators=(",", ":")).encode

        def report(i: int, level: int) -> tuple[str, bytes, int]:
            entry = listed[i]
            payload = encode({"state": "ON", "brightness": level, "linkquality": 90})
            return f"{base}/{entry['friendly_name']}", payload.encode(), bright.read(level)

        retained = {
            f"{base}/bridge/state": '{"state":"online"}',
            f"{base}/bridge/devices": json.dumps(listed),
        }
        return await self._adapter_flood(
            "z", "{id: z, kind: zigbee2mqtt, timeout_s: 5}", proposals, retained, report,
            messages, lambda decl, space, kwargs: Zigbee2Mqtt(decl, space, kwargs,
                                                              client_id="bench-adapter"),
        )  # fmt: skip

    async def ha_adapter(self, messages: int, lamps: int) -> dict[str, Any]:
        """Home Assistant discovery: JSON-schema lights as ESPHome announces them, their
        state messages through the adapter and its node into the hub and its store."""
        from hyperhub.adapters.ha_discovery.adapter import HaDiscovery
        from hyperhub.adapters.ha_discovery.config import read
        from hyperhub.adapters.ha_discovery.mapping import propose

        configs = {
            f"homeassistant/light/lamp{i}/config": {
                "~": f"esphome/lamp{i}", "name": None, "uniq_id": f"lamp{i}_light",
                "dev": {"ids": [f"lamp{i}"], "name": f"Lamp {i}"}, "schema": "json",
                "cmd_t": "~/set", "stat_t": "~/state", "brightness": True,
            }
            for i in range(lamps)
        }  # fmt: skip
        proposals = [
            propose(read("homeassistant", topic, json.dumps(c).encode()))[0]  # type: ignore[arg-type]
            for topic, c in configs.items()
        ]
        bright = proposals[0].binding("brightness")
        assert bright is not None
        encode = json.JSONEncoder(separators=(",", ":")).encode

        def report(i: int, level: int) -> tuple[str, bytes, int]:
            payload = encode({"state": "ON", "brightness": level}).encode()
            return f"esphome/lamp{i}/state", payload, bright.read(payload)

        retained = {t: json.dumps(c) for t, c in configs.items()}
        return await self._adapter_flood(
            "ha", "{id: ha, kind: ha_discovery, timeout_s: 5, topics: [esphome/#]}", proposals,
            retained, report, messages,
            lambda decl, space, kwargs: HaDiscovery(decl, space, kwargs, client_id="bench-ha"),
            "devices",
        )  # fmt: skip

    async def _adapter_flood(
        self,
        adapter_id: str,
        declared: str,
        proposals: list[Any],
        retained: dict[str, str],
        report: Callable[[int, int], tuple[str, bytes, Any]],
        messages: int,
        make: Callable[[Any, Any, dict[str, Any]], Any],
        sender: str = "bridge",
    ) -> dict[str, Any]:
        """State messages of accepted lights (`report(light, level)` → topic, payload, the
        brightness HyperHub reads), published as the foreign system's login, through the
        adapter (`make`) and its node into the hub and its store; `retained` is what the
        system announces first; `sender` is the system's login that publishes ("devices":
        the firmware of HA-discovery devices)."""
        from hyperhub.adapters.running import bridge_login, node_name
        from hyperhub.fabric.node import DeviceNode
        from hyperhub.space import load_space
        from hyperhub.space.adapters import foreign_topics

        lamps = len(proposals)
        where = Path(tempfile.mkdtemp(prefix="adapter-", dir=self.scratch))
        (where / "a.yaml").write_text(
            f"space: bench\nareas: []\ndevices: []\nadapters: [{declared}]\n"
        )
        entries = [
            {
                **p.entry(),
                "id": f"{adapter_id}_lamp_{i}",
                "adapter": adapter_id,
                "external": p.external,
            }
            for i, p in enumerate(proposals)
        ]
        (where / "a.adapters.yaml").write_text(json.dumps({"devices": entries}))
        space = load_space(where / "a.yaml")
        decl = space.adapters[adapter_id]
        ids = [e["id"] for e in entries]
        name = node_name(adapter_id)
        login = self.credentials.add_node(name, ids, foreign_topics(decl))
        bridge = bridge_login(self.credentials, decl, sender)
        await self.broker.reload()
        packets, final = [], {}
        for i in range(messages):
            level = 1 + (i // lamps) % 254  # every message of a light changes it
            topic, payload, read = report(i % lamps, level)
            packets.append(publish_packet(topic, payload, retain=False))
            final[ids[i % lamps]] = read
        (where / "flood").mkdir()
        data, ends = write_flood(where / "flood", packets)
        flood = Flood(messages, data, ends, {}, [], 0)
        kwargs = self.url_of(login.name).client_kwargs()
        data_dir = Path(tempfile.mkdtemp(prefix="hub-", dir=self.scratch))
        async with self._client(self.url_of(bridge.name), "bench-bridge") as client:
            for topic, text in retained.items():
                await client.publish(topic, text, retain=True)
        with StateStore.open(data_dir=data_dir) as store:
            hub = HubFabric(SLUG, self.hub_url.client_kwargs(), types=builtin_types(), store=store)
            adapter = make(decl, space, kwargs)
            node = DeviceNode(name, space, ids, kwargs, backend=adapter, slug=SLUG)
            async with hub, adapter, node:
                await hub.wait_connected(10)
                await node.wait_ready(30)
                if not await _wait_until(lambda: all(hub.registry.is_online(d) for d in ids), 30):
                    raise RuntimeError(
                        f"the adapter's lights did not join the hub (reachable: "
                        f"{adapter.reachable}, found {len(adapter.found)}, joined "
                        f"{sum(hub.registry.get(d) is not None for d in ids)} of {len(ids)})"
                    )
                gc.collect()
                base_count = adapter.received
                control = self._control()

                def taken() -> int:
                    return int(adapter.received - base_count)

                def arrived() -> bool:
                    return all(
                        (r := hub.registry.get(d)) is not None and r.state.get("brightness") == v
                        for d, v in final.items()
                    )

                async with (
                    self._feed(control, taken),
                    self._flood(flood, control, login=bridge.name) as pub,
                ):
                    done = await _wait_until(
                        lambda: taken() >= messages and arrived(), _limit(messages)
                    )
                    await hub.flush(60)
                    end = time.monotonic_ns()
                    await pub.wait()
                stored = await asyncio.to_thread(store.current_all)
                published = node.stats.published
        await self._clear(
            None,
            *retained,
            *self._retained_of(ids),
            self.topics.node_availability(name),
        )
        figures = _rate(messages, taken(), control, end, done)
        figures.update(
            devices=lamps,
            node_published=published,
            store_matches=all(stored.get(d, {}).get("brightness") == v for d, v in final.items()),
        )
        return figures

    # -- many nodes -----------------------------------------------------------------------

    async def nodes(self, nodes: int, per_node: int) -> dict[str, Any]:
        """`nodes` DeviceNode processes of `per_node` devices each, into a hub process."""
        total = nodes * per_node
        header, lines = _split_space(_space_yaml(total, "n_"))
        paths, owned = [], []
        for n in range(nodes):
            chunk = lines[n * per_node : (n + 1) * per_node]
            path = self.scratch / f"node{n}.yaml"
            path.write_text(header + "\n".join(chunk) + "\n", encoding="utf-8")
            paths.append(path)
            owned.append(_ids_of(chunk))
        for n in range(nodes):
            self.credentials.add_node(f"node{n}", owned[n])
        await self.broker.reload()
        spec = {
            "url": self.hub_url.client_kwargs(),
            "expected": total,
            "data_dir": tempfile.mkdtemp(prefix="hub-", dir=self.scratch),
            "timeout": 30 + total / 50,
        }
        code = "from bench.fabric_bench import hub_process; hub_process()"
        hub = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            code,
            json.dumps(spec),
            cwd=ROOT,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
        )
        assert hub.stdout is not None
        try:
            async with asyncio.timeout(30):
                ready = await hub.stdout.readline()
            if ready.strip() != b"ready":
                raise RuntimeError(f"the hub process did not start: {ready!r}")
            async with contextlib.AsyncExitStack() as stack:
                for n in range(nodes):
                    await stack.enter_async_context(
                        _node_process(self, f"node{n}", paths[n], owned[n])
                    )
                async with asyncio.timeout(spec["timeout"] + 30):
                    out = await hub.stdout.readline()
            if not out.strip():
                raise RuntimeError("the hub process ended without figures (see its stderr)")
            result = json.loads(out)
        finally:
            if hub.returncode is None:
                with contextlib.suppress(ProcessLookupError):
                    hub.kill()
            await hub.wait()
        broker_pid = getattr(self.broker, "pid", None)
        if broker_pid:
            result["broker_rss_mb"] = round(psutil.Process(broker_pid).memory_info().rss / 2**20)
        return {"nodes": nodes, **result}


def _z2m_light(i: int) -> dict[str, Any]:
    """A dimmable light as Zigbee2MQTT lists it on `bridge/devices` (the shape of its
    `light` expose: state ON/OFF/TOGGLE, brightness 0–254)."""
    state = {"type": "binary", "name": "state", "property": "state", "access": 7,
             "value_on": "ON", "value_off": "OFF", "value_toggle": "TOGGLE"}  # fmt: skip
    brightness = {"type": "numeric", "name": "brightness", "property": "brightness",
                  "access": 7, "value_min": 0, "value_max": 254}  # fmt: skip
    return {
        "ieee_address": f"0x{0x00158D0000100000 + i:016x}",
        "friendly_name": f"bench/lamp {i}",
        "type": "Router",
        "supported": True,
        "definition": {
            "model": "BENCH-LIGHT",
            "vendor": "bench",
            "description": "a dimmable light",
            "exposes": [{"type": "light", "features": [state, brightness]}],
        },
    }


def _history_rows(db: Path) -> int:
    """History rows in a store's SQLite file."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        return int(conn.execute("SELECT count(*) FROM history").fetchone()[0])


def _space_yaml(devices: int, prefix: str) -> str:
    """A synthetic space whose device ids start with `prefix` (parts must not share ids)."""
    head, rest = _split_space(synthetic_space_yaml(devices))
    return head + "\n".join(line.replace("{id: ", "{id: " + prefix, 1) for line in rest) + "\n"


def _split_space(text: str) -> tuple[str, list[str]]:
    head, _, devices = text.partition("devices:\n")
    return head + "devices:\n", [line for line in devices.splitlines() if line.strip()]


def _ids_of(lines: list[str]) -> list[str]:
    return [line.split("id: ", 1)[1].split(",", 1)[0] for line in lines]


@contextlib.asynccontextmanager
async def _node_process(
    bench: Bench, name: str, space_file: Path, devices: list[str]
) -> AsyncIterator[asyncio.subprocess.Process]:
    """A `DeviceNode` for `devices` in its own process; stopped (goodbye) on exit."""
    spec = {
        "name": name,
        "space": str(space_file),
        "devices": devices,
        "url": bench.url_of(name).client_kwargs(),
    }
    code = "from bench.fabric_bench import node_process; node_process()"
    async with child(code, json.dumps(spec)) as proc:
        yield proc


class _Connected:
    """`async with`: a started `FabricClient`, connected (10 s at most), closed after."""

    def __init__(self, client: FabricClient) -> None:
        self.client = client

    async def __aenter__(self) -> FabricClient:
        self.client.start()
        await self.client.wait_connected(10)
        return self.client

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()


def _cpu_seconds(pids: dict[str, int]) -> dict[str, float]:
    """User and system CPU time so far of each process that is still there."""
    spent = {}
    for name, pid in pids.items():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            spent[name] = times.user + times.system
    return spent


async def _wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.005) -> bool:
    """Poll `condition` until true or `timeout` seconds passed; return whether it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        await asyncio.sleep(every)
    return True


def _limit(count: int) -> float:
    """How long a flood of `count` may take before it counts as stuck (≥ 500 msgs/s)."""
    return 20 + count / 500


def _rate(count: int, got: int, control: Control, end_ns: int, done: bool) -> dict[str, Any]:
    seconds = (end_ns - control.first_ns) / 1e9
    sent = control.sent
    control.close()
    return {
        "messages": count,
        "received": got,
        "dropped": max(0, sent - got),
        "complete": done,
        "seconds": round(seconds, 3),
        "msgs_per_s": round(count / seconds) if done and seconds > 0 else 0,
    }


# -- the other processes ---------------------------------------------------------------------


def simulated_node(spec: dict[str, Any], space: Space) -> DeviceNode:
    """A node process's `DeviceNode`: `spec`'s devices of `space`, simulated."""
    from hyperhub.clock import SystemClock
    from hyperhub.devices.sim import Simulator
    from hyperhub.fabric.node import DeviceNode

    return DeviceNode(
        spec["name"],
        space,
        spec["devices"],
        spec["url"],
        backend=Simulator(space, SystemClock(), only=spec["devices"]),
        slug=SLUG,
        tick_s=NODE_TICK_S,
    )


def node_process() -> None:
    """Entry point of a node process: host the devices until stdin closes."""

    spec = json.loads(sys.argv[1])
    space = parse_space(Path(spec["space"]).read_text(encoding="utf-8"), spec["space"])

    async def main() -> None:
        node = simulated_node(spec, space)
        async with node:
            await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    asyncio.run(main())


def hub_process() -> None:
    """Entry point of the hub process: wait until every device joined; print figures."""
    spec = json.loads(sys.argv[1])
    expected, timeout = int(spec["expected"]), float(spec["timeout"])

    async def main() -> dict[str, Any]:
        with StateStore.open(data_dir=Path(spec["data_dir"])) as store:
            hub = HubFabric(SLUG, spec["url"], types=builtin_types(), store=store)
            async with hub:
                await hub.wait_connected(10)
                print("ready", flush=True)
                start = time.perf_counter()

                def complete() -> bool:
                    if len(hub.registry) < expected:
                        return False
                    return all(
                        r.ts is not None and hub.registry.is_online(r.id) for r in hub.registry
                    )

                await _wait_until(lambda: len(hub.registry) >= expected, timeout, every=0.05)
                joined = time.perf_counter() - start
                await _wait_until(complete, 10, every=0.2)  # states are a bonus: bounded
                await hub.flush(60)  # TimeoutError ends the process: the parent reports it
                records = list(hub.registry)
                stats = hub.stats
                me = psutil.Process()
                rss = me.memory_info().rss / 2**20
                writer = sum(c.memory_info().rss for c in me.children()) / 2**20  # its store writer
                stored = len(await asyncio.to_thread(store.current_all))
        return {
            "devices": expected,
            "discovered": len(records),
            "online": sum(hub.registry.is_online(r.id) for r in records),
            "with_state": sum(r.ts is not None for r in records),
            "stored": stored,
            "discovery_s": round(joined, 2),
            "hub_rss_mb": round(rss + writer, 1),  # the hub process and its store writer
            "hub_process_rss_mb": round(rss, 1),
            "store_writer_rss_mb": round(writer, 1),
            "hub_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
            "malformed": stats.malformed,
        }

    print(json.dumps(asyncio.run(main())), flush=True)


# -- reporting -------------------------------------------------------------------------------


def results_table(r: dict[str, Any]) -> list[Table]:
    """The figures as Rich tables: floods side by side, then commands and nodes."""
    flood = Table(
        title=f"State flood: {r['messages']:,} messages of {r['flood_devices']:,} "
        f"devices (amqtt: {r['amqtt_messages']:,})"
    )
    for name, justify in (
        ("consumer", "left"),
        ("Mosquitto msgs/s", "right"),
        ("amqtt msgs/s", "right"),
        ("dropped", "right"),
        ("goal", "right"),
    ):
        flood.add_column(name, justify=justify)  # type: ignore[arg-type]

    def rate(part: dict[str, Any] | None) -> str:
        return "" if part is None else f"{part['msgs_per_s']:,}"

    def drops(*parts: dict[str, Any] | None) -> str:
        return " / ".join(str(p["dropped"]) for p in parts if p is not None)

    flood.add_row(
        "mosquitto_sub (raw broker rate)",
        rate(r["raw"]),
        rate(r["amqtt_raw"]),
        drops(r["raw"], r["amqtt_raw"]),
        "",
    )
    flood.add_row(
        f"mosquitto_sub, sent by a node owning the devices ({r['node_acl_messages']:,})",
        rate(r["raw_node_login"]),
        "",
        drops(r["raw_node_login"]),
        "",
    )
    flood.add_row("FabricClient, counting only", rate(r["client"]), "", drops(r["client"]), "")
    flood.add_row(
        "HubFabric: registry + SQLite store",
        rate(r["hub"]),
        rate(r["amqtt_hub"]),
        drops(r["hub"], r["amqtt_hub"]),
        f">= {GOAL_STATE_PER_S:,}",
    )
    a = r["adapter"]
    flood.add_row(
        f"Zigbee2MQTT → adapter → node → hub + store ({a['messages']:,} of {a['devices']} lights)",
        rate(a),
        "",
        drops(a),
        "",
    )
    h = r["ha_adapter"]
    flood.add_row(
        f"HA discovery → adapter → node → hub + store ({h['messages']:,} of {h['devices']} lights)",
        rate(h),
        "",
        drops(h),
        "",
    )
    flood.add_row(
        "hub / raw",
        f"{r['ratio_to_raw']:.2f}",
        f"{r['amqtt_ratio_to_raw']:.2f}",
        "",
        f">= {GOAL_RATIO}",
    )
    hub = r["hub"]
    adapter_note = (
        f"; adapters: the store holds every light's last state: Zigbee2MQTT "
        f"{a['store_matches']} ({a['node_published']:,} messages from its node), HA discovery "
        f"{h['store_matches']} ({h['node_published']:,})"
    )
    flood.caption = (
        f"hub: {hub['written']:,} updates written (store writer: {hub['store_writer']}), "
        f"{hub['write_dropped']} dropped by the writer, {hub['malformed']} malformed, "
        f"{hub['stale']} stale; store matches the flood: {hub['store_matches']} (history "
        f"rows: {hub['history_matches']}); paced at most {r['window']:,} messages ahead; "
        f"sent as the hub's login except where a node is named (its ACL: 2 lines per device)"
        + adapter_note
    )
    other = Table(title="Commands and many devices")
    other.add_column("metric")
    other.add_column("value", justify="right")
    other.add_column("goal", justify="right")
    c, n = r["commands"], r["nodes"]
    other.add_row(
        f"command → ack p50, ms ({c['commands']:,} sequential)",
        f"{c['p50_ms']:.2f}",
        f"< {GOAL_P50_MS:g}",
    )
    other.add_row("command → ack p99, ms", f"{c['p99_ms']:.2f}", f"< {GOAL_P99_MS:g}")
    cpu = c.get("cpu_us_per_command", {})
    if cpu:
        other.add_row(
            f"CPU per command, µs ({' / '.join(cpu)})", " / ".join(str(v) for v in cpu.values()), ""
        )
    if "state_first" in c:
        other.add_row(
            "commands whose state the hub had with the ack",
            f"{c['state_first']:,} / {c['commands']:,}",
            "all",
        )
    other.add_row(
        f"devices discovered ({n['nodes']} node processes)",
        f"{n['discovered']:,} / {n['devices']:,}",
        "all",
    )
    other.add_row(
        "hub RSS (with its store writer process), MB", f"{n['hub_rss_mb']:.0f}", f"< {GOAL_RSS_MB}"
    )
    other.add_row("time until all discovered, s", f"{n['discovery_s']:.1f}", "")
    if "broker_rss_mb" in n:
        other.add_row("Mosquitto RSS, MB", f"{n['broker_rss_mb']}", "")
    other.caption = f"total run {r['total_s']:.0f} s"
    return [flood, other]


def sized_main(
    argv: list[str] | None,
    name: str,
    full: dict[str, int],
    run: Callable[..., dict[str, Any]],
    tables: Callable[[dict[str, Any]], list[Table]],
    doc: str | None,
) -> dict[str, Any]:
    """`python -m bench.X`: --quick, --json and one --size option per key of `full`; runs
    with a status line, prints the tables (or one JSON object with --json)."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="tiny numbers, for a smoke run")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    for key, value in full.items():
        parser.add_argument(
            f"--{key.replace('_', '-')}", type=int, default=None, help=f"default {value:,}"
        )
    args = parser.parse_args(argv)
    opts = {k: v for k in full if (v := getattr(args, k)) is not None}
    console = Console(stderr=args.json)
    with console.status(f"{name} benchmark") as status:
        figures = run(
            quick=args.quick, on_phase=lambda p: status.update(f"{name} benchmark: {p}"), **opts
        )
    if args.json:
        print(json.dumps(figures))
    else:
        for table in tables(figures):
            console.print(table)
    return figures


def main(argv: list[str] | None = None) -> dict[str, Any]:
    return sized_main(argv, "fabric", FULL, run_fabric_bench, results_table, __doc__)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    main()
