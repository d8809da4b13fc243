"""`Ingest`: what devices publish, turned into registry entries, store rows and feed items.

Every payload is parsed strictly and checked against its device's spec. Anything malformed,
from a device that has not joined, invalid or stale is dropped and counted, with at most
one warning per kind per period, so the registry and the store only ever hold valid values.
Handlers are plain functions: they never block the reader, and never raise.
"""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from pydantic_core import from_json

from hyperhub.clock import Clock
from hyperhub.errors import HyperHubError, SpecError
from hyperhub.fabric.feed import Availability, Change, Event, Feed
from hyperhub.fabric.messages import (
    MAX_PAYLOAD,
    ONLINE,
    DiscoveryMsg,
    EventMsg,
    Malformed,
    StateMsg,
    parse,
    parse_availability,
)
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.fabric.registry import DeviceRecord, DeviceRegistry
from hyperhub.fabric.routes import Handler
from hyperhub.fabric.store_writer import BatchWriter
from hyperhub.fabric.topics import Kind, Parsed, Topics, parse_topic
from hyperhub.spec import DeviceType, TypeRegistry, parse_type
from hyperhub.spec.model import PropertySpec

log = logging.getLogger("hyperhub.fabric.hub")
_listener_failed = WarnEvery(log)  # a change listener failing on every change
_MISSING = object()
_INF = float("inf")
_TOPIC_CACHE = 200_000  # state topics whose device id is remembered (bounded)
_SPEC_CACHE = 200_000  # devices whose property specs are remembered (bounded)
GC_THRESHOLD = 20_000  # allocations between collections of the GC's youngest generation
_PropSpecs = dict[str, tuple[PropertySpec, str]]  # property → its spec, "device.property"
_Specs = tuple[DeviceRecord, _PropSpecs]  # a device's record and the properties it exposes


def tune_gc() -> None:
    """Let the youngest GC generation take `GC_THRESHOLD` allocations (Python's default: 700)
    before a collection.

    A flood of small messages otherwise spends about a tenth of the hub's time in the cyclic
    collector: pending updates live just long enough to be promoted and scanned again and
    again. Only reference cycles need the collector (the rest is freed at once), so the cost
    is a little more memory held by cycles between collections. A threshold set higher (or
    0, automatic collection off) is left as it is.
    """
    first, second, third = gc.get_threshold()
    if 0 < first < GC_THRESHOLD:
        gc.set_threshold(GC_THRESHOLD, second, third)


MAX_CLOCK_SKEW = 60.0  # seconds a device's `ts` may run ahead of the hub's clock


@dataclass
class HubStats:
    """Counters of what the hub received and did."""

    received: int = 0  # messages handled
    malformed: int = 0  # payloads that did not parse (or did not match their topic)
    unknown_device: int = 0  # state / events of devices that never joined
    unknown_type: int = 0  # discoveries of a type we do not know, without a usable spec
    invalid_values: int = 0  # property values dropped because they do not fit the spec
    stale: int = 0  # states older than the one we have
    future_ts: int = 0  # states stamped beyond MAX_CLOCK_SKEW ahead, taken as the hub's now
    written: int = 0  # state updates committed to the store
    write_dropped: int = 0  # state updates dropped because the store fell behind
    commands: int = 0  # commands sent
    acks: int = 0  # acks matched to a waiting command
    timeouts: int = 0  # commands that got no ack in time
    events: int = 0  # events handed to subscribers


class Ingest:
    """Handlers for discovery, availability, state and events of one space."""

    def __init__(
        self,
        topics: Topics,
        types: TypeRegistry,
        registry: DeviceRegistry,
        stats: HubStats,
        clock: Clock,
        writer: BatchWriter | None,
        warn: WarnEvery,
        on_offline: Callable[[str], None],
    ) -> None:
        self.topics = topics
        self.types = types
        self.registry = registry
        self.stats = stats
        self.clock = clock
        self.writer = writer
        self.warn = warn
        self.on_offline = on_offline  # called with each device that just went offline
        self.changes: Feed[Change] = Feed()
        # called with (device, changed, ts) for every change, before the feed: no item is
        # built for them (the rule engine looks at every state message)
        self.change_listeners: list[Callable[[str, dict[str, Any], float], None]] = []
        self.state_taps: list[Callable[[str], None]] = []  # each state message's topic, first
        self.events: Feed[Event] = Feed()
        self.availability: Feed[Availability] = Feed()
        self._state_topics: dict[str, str] = {}  # topic → device, saves parsing each time
        self._specs: dict[str, _Specs] = {}  # device → its record and the specs it exposes

    def handlers(self) -> list[tuple[str, Handler]]:
        """Topic filters and their handlers; discovery first, so states find their devices."""
        t = self.topics
        return [
            (t.all_discovery(), self.on_discovery),
            (t.all_nodes(), self.on_node),
            (t.all_availability(), self.on_availability),
            (t.all_states(), self.on_state),
            (t.all_events(), self.on_event),
        ]

    def topic(self, message: aiomqtt.Message, kind: Kind) -> Parsed | None:
        """The message's topic taken apart, if it is of `kind` (counts it as received)."""
        self.stats.received += 1
        parsed = parse_topic(self.topics, message.topic.value)
        return parsed if parsed is not None and parsed.kind == kind else None

    def malformed(self, kind: str, topic: str, why: object) -> None:
        self.stats.malformed += 1
        self.warn(f"malformed-{kind}", "dropping a malformed %s on %s: %s", kind, topic, why)

    # -- devices joining and leaving --------------------------------------------------------

    def on_discovery(self, message: aiomqtt.Message) -> None:
        parsed = self.topic(message, "discovery")
        if parsed is None:
            return
        topic, device = message.topic.value, parsed.device
        if not message.payload:
            if self.registry.leave(device):
                log.info("device %s left the fabric", device)
            return
        try:
            info: DiscoveryMsg = parse(DiscoveryMsg, message.payload)
        except Malformed as exc:
            return self.malformed("discovery", topic, exc)
        if info.device != device:
            return self.malformed("discovery", topic, f"it describes {info.device!r}")
        dtype = self._type_of(info)
        if dtype is not None and info.values:
            try:
                dtype = dtype.narrowed(info.values, f"device {device}")
            except SpecError as exc:
                return self.malformed("discovery", topic, str(exc))
        if dtype is not None:
            self.registry.join(info, dtype)
            log.debug("device %s (%s) joined from node %s", device, info.type, info.node)

    def _type_of(self, info: DiscoveryMsg) -> DeviceType | None:
        """Our own type of that name, else the spec the device brought, else None (counted)."""
        if info.type in self.types:
            return self.types.get(info.type)
        if info.spec is not None:
            try:
                dtype = parse_type(info.spec, f"discovery of {info.device} from {info.node}")
            except SpecError as exc:
                self.stats.unknown_type += 1
                self.warn("type", "device %s has a broken spec: %s", info.device, exc)
                return None
            if dtype.type == info.type:
                return dtype
        self.stats.unknown_type += 1
        self.warn("type", "device %s has unknown type %r and no spec", info.device, info.type)
        return None

    # -- availability -----------------------------------------------------------------------

    def on_node(self, message: aiomqtt.Message) -> None:
        said = self._availability(message, "node", "node availability")
        if said is None:
            return
        node, online, now = said
        devices = self.registry.set_node(node, online, now)
        if devices:
            word = "online" if online else "offline"
            log.info("node %s is %s (%d devices)", node, word, len(devices))
        for device in devices:
            self._went(device, online, now)

    def on_availability(self, message: aiomqtt.Message) -> None:
        said = self._availability(message, "availability", "availability")
        if said is None:
            return
        device, online, now = said
        if self.registry.set_available(device, online, now):
            self._went(device, online, now)

    def _availability(
        self, message: aiomqtt.Message, kind: Kind, what: str
    ) -> tuple[str, bool, float] | None:
        """(device or node, online, now) of an availability message of `kind`; None when it
        is of another kind, or malformed (counted as `what`)."""
        parsed = self.topic(message, kind)
        if parsed is None:
            return None
        try:
            online = parse_availability(message.payload) == ONLINE
        except Malformed as exc:
            self.malformed(what, message.topic.value, exc)
            return None
        return parsed.device, online, self.clock.now()

    def _went(self, device: str, online: bool, now: float) -> None:
        """A device (or its node) came or went: say so to whoever listens; the feed gets
        the device's availability as a whole (online only when it and its node are)."""
        if not online:
            self.on_offline(device)
        if self.availability:
            self.availability.publish(Availability(device, self.registry.is_online(device), now))

    # -- state and events -------------------------------------------------------------------

    def on_state(self, message: aiomqtt.Message) -> None:
        """The hot path: one call per state message (kept lean, measured by the benchmark)."""
        self.stats.received += 1
        topic = message.topic.value
        if self.state_taps:
            for tap in self.state_taps:
                tap(topic)
        device = self._state_topics.get(topic)
        if device is None:
            parsed = parse_topic(self.topics, topic)
            if parsed is None or parsed.kind != "state":
                return
            device = parsed.device
            if len(self._state_topics) >= _TOPIC_CACHE:
                self._state_topics.clear()
            self._state_topics[topic] = device
        record = self.registry.get(device)
        if record is None:
            self.stats.unknown_device += 1
            self.warn("unknown", "dropping state of %s, which has not joined", device)
            return
        payload = message.payload
        plain = read_state(payload) if len(payload) <= MAX_PAYLOAD else None
        if plain is not None:
            ts, values = plain
        else:  # pydantic decides (it takes a little more, e.g. "ts": "5"), or says what is wrong
            try:
                msg: StateMsg = parse(StateMsg, payload)
            except Malformed as exc:
                return self.malformed("state", topic, exc)
            ts, values = msg.ts, msg.state
        now = self.clock.now()
        if ts > now + MAX_CLOCK_SKEW:
            # last writer wins by `ts`: a time far ahead would make every later (true) state
            # look stale and freeze the device; it is taken as the hub's now, and counted
            self.stats.future_ts += 1
            self.warn(
                "future",
                "%s sent a state %.0f s ahead of the hub's clock; taken as now (is its clock set?)",
                device,
                ts - now,
            )
            ts = now
        if record.ts is not None and ts < record.ts:
            self.stats.stale += 1
            return
        specs = self._specs.get(device)
        if specs is None or specs[0] is not record:  # new, or joined again
            specs = self._specs_of(record)
        changed = self._changes(record, specs[1], values)
        first = record.ts is None
        record.ts = ts
        if not changed:
            return
        state = record.state = {**record.state, **changed}  # a new dict: the store keeps it
        if self.writer is not None:
            self.writer.add((device, state, None if first else changed, ts))
        for listener in self.change_listeners:
            try:
                listener(device, changed, ts)
            except Exception:
                _listener_failed.exception(
                    str(id(listener)), "a listener of %s's changes failed", device
                )
        if self.changes:
            self.changes.publish(Change(device, changed, ts))

    def _changes(
        self, record: DeviceRecord, specs: _PropSpecs, state: dict[str, Any]
    ) -> dict[str, Any]:
        """The values of `state` that fit the device's spec (normalised) and differ from what
        it has; values that do not fit are counted.

        A value equal to the one the device has, and of the same type, passed these checks
        before (that one was normalised by them): it is taken as it is, i.e. unchanged.
        """
        changed: dict[str, Any] = {}
        known = record.state
        for prop, value in state.items():
            old = known.get(prop, _MISSING)
            if old is not _MISSING and type(old) is type(value) and old == value:
                continue
            try:
                checked = specs.get(prop)
                if checked is None:
                    raise SpecError(f"device {record.id} does not expose {prop!r}")
                norm = checked[0].check(value, checked[1])
            except HyperHubError as exc:
                self.stats.invalid_values += 1
                self.warn("invalid", "dropping a value in state of %s: %s", record.id, exc)
                continue
            if old is _MISSING or old != norm:  # values are normalised by the spec
                changed[prop] = norm
        return changed

    def _specs_of(self, record: DeviceRecord) -> _Specs:
        """The specs of the properties a device exposes, with their names for messages."""
        specs = {p: (record.dtype.properties[p], f"{record.id}.{p}") for p in record.properties}
        if len(self._specs) >= _SPEC_CACHE:
            self._specs.clear()
        found = self._specs[record.id] = (record, specs)
        return found

    def on_event(self, message: aiomqtt.Message) -> None:
        parsed = self.topic(message, "event")
        if parsed is None or parsed.name is None:
            return
        record = self.registry.get(parsed.device)
        if record is None:
            self.stats.unknown_device += 1
            self.warn("unknown", "dropping an event of %s, which has not joined", parsed.device)
            return
        try:
            msg: EventMsg = parse(EventMsg, message.payload)
        except Malformed as exc:
            return self.malformed("event", message.topic.value, exc)
        if parsed.name not in record.dtype.events:
            return self.malformed("event", message.topic.value, "not an event of its type")
        self.stats.events += 1
        self.events.publish(Event(parsed.device, parsed.name, dict(msg.args), msg.ts))


def read_state(payload: bytes | bytearray | str) -> tuple[float, dict[str, Any]] | None:
    """`ts` and `state` of a plain state payload, as `StateMsg` would give them, at a third of
    its cost (no model is built); None for anything else (not JSON, other keys, a `ts` that
    is not a finite number >= 0…), which then goes to `StateMsg` as it always did."""
    try:
        data = from_json(payload)
    except ValueError:
        return None
    if type(data) is dict and len(data) == 2:
        ts, state = data.get("ts"), data.get("state")
        if type(state) is dict and (type(ts) is float or type(ts) is int) and 0 <= ts < _INF:
            return float(ts), state
    return None
