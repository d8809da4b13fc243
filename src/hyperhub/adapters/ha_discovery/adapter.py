"""`HaDiscovery`: devices that announce themselves with Home Assistant's MQTT discovery,
found and run through their own topics (ESPHome, Tasmota, Shelly, OpenMQTTGateway …).

- `<prefix>/…/config` (retained, prefix `homeassistant` unless `prefix:` says otherwise):
  read by `config.read` (abbreviations, `~`, device-based `cmps`); an empty one removes the
  entity. Configs under a node id starting `hyperhub_` are HyperHub's own (its publishing
  side, `publish.py`) and are not taken back. The entities are grouped by their HA device and
  proposed as HyperHub devices (`mapping.propose`); accepted ones are hosted, the others
  wait in `pending`.
- every found entity's state, availability and JSON-attributes topics are followed (the
  broker's retained copies fill a device in before it is accepted); a topic that is not a
  plain topic (a wildcard, `$…`, HyperHub's own tree) makes the entity unusable: left out
  with a warning. On the hub's own broker the adapter's login may only use its `prefix` and
  the `topics:` it lists: an entity with other topics is left out and reported (`refused`,
  and the log), with the filter to add.
- availability: `availability_topic` or the `availability` list (`payload_available` /
  `payload_not_available`, `value_template`), combined as `availability_mode` says (latest,
  the default; all; any). A device is online when every entity it is made of is.
- a command goes to the entity's command topic (payloads, `command_template`); it is done
  when the entity's state topic reports the value it set, or at once when the entity is
  optimistic (no state topic, or `optimistic: true`); `DeviceTimeout` after `timeout_s`.

This is a `PushBackend` for its accepted devices: `DeviceNode` hosts them on the fabric, so
the hub checks, audits and acknowledges their commands like any other device's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt
from paho.mqtt.client import topic_matches_sub

from hyperhub.adapters.base import AdapterCore, Proposal
from hyperhub.adapters.ha_discovery.config import ConfigError, Entity, Removed, read
from hyperhub.adapters.ha_discovery.mapping import (
    ATTRIBUTES,
    Binding,
    group,
    propose,
    rendered,
    text_of,
)
from hyperhub.errors import DeviceTimeout, DeviceUnavailable, FabricDisconnected, NotSupported
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.service import Service
from hyperhub.space import Space
from hyperhub.space.adapters import AdapterDecl, foreign_topics
from hyperhub.spec.backend import DeviceEvent
from hyperhub.topic_names import foreign_topic_problem

log = logging.getLogger("hyperhub.adapters.ha_discovery")
OWN_NODE = "hyperhub_"  # the node ids HyperHub publishes its own devices under
MAX_ENTITIES = 2000  # entities remembered: more are not taken (a flood of configs)
MAX_PAYLOAD = 64 * 1024  # a state or attributes message
REGROUP_S = 0.3  # configs come in bursts (all retained ones at once): proposed after a pause
MAX_TOPIC = 256


@dataclass
class _Waiter:
    """A command waiting for the entity to report the value it set."""

    prop: str
    value: Any
    binding: Binding
    done: asyncio.Future[dict[str, Any]]


@dataclass(frozen=True)
class _Availability:
    """One availability topic of an entity, as its config says."""

    topic: str
    available: str = "online"
    not_available: str = "offline"
    template: str | None = None

    def read(self, payload: bytes | bytearray) -> bool | None:
        text = text_of(payload)
        if self.template:
            said = rendered(self.template, text)
            if said is None:
                return None
            text = str(said)
        if text == self.available:
            return True
        if text == self.not_available:
            return False
        return None


def availability_of(entity: Entity) -> tuple[list[_Availability], str]:
    """An entity's availability topics and its mode (latest, all or any)."""
    c = entity.config
    items = c.get("availability")
    if not isinstance(items, list):  # one topic of its own, its payloads on the entity
        items = [] if not isinstance(c.get("availability_topic"), str) else [{
            "topic": c["availability_topic"],
            "payload_available": c.get("payload_available", "online"),
            "payload_not_available": c.get("payload_not_available", "offline"),
            "value_template": c.get("availability_template"),
        }]  # fmt: skip
    out = [
        _Availability(
            item["topic"],
            str(item.get("payload_available", "online")),
            str(item.get("payload_not_available", "offline")),
            item.get("value_template"),
        )
        for item in items
        if isinstance(item, dict) and isinstance(item.get("topic"), str)
    ]
    mode = str(c.get("availability_mode", "latest"))
    return out, mode if mode in ("latest", "all", "any") else "latest"


def topic_problem(topic: Any) -> str | None:
    """Why a topic from a config cannot be followed or written, or None."""
    if not isinstance(topic, str) or not topic:
        return f"{topic!r} is not a topic"
    if len(topic) > MAX_TOPIC:
        return f"a topic of {len(topic)} characters (at most {MAX_TOPIC})"
    if "+" in topic or "#" in topic or "\x00" in topic:
        return f"{topic!r} is a wildcard, not a topic"
    return foreign_topic_problem(topic)


def entity_topics(entity: Entity) -> set[str]:
    """Every topic an entity reads or writes (its keys ending in `_topic`, availability)."""
    found = {v for k, v in entity.config.items() if k.endswith("_topic") and v}
    found.update(a.topic for a in availability_of(entity)[0])
    return found


class HaDiscovery(AdapterCore, Service):
    """Home Assistant MQTT discovery, consumed: `async with HaDiscovery(decl, space, kwargs):`."""

    def __init__(
        self,
        decl: AdapterDecl,
        space: Space,
        client_kwargs: dict[str, Any],
        *,
        client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(decl, space, log)
        self.prefix = str(decl.options.prefix)
        self.clock = clock
        self.client = self.mqtt_client(client_kwargs, client_id)
        self.entities: dict[tuple[str, str | None, str], Entity] = {}  # by place in the tree
        # (component, node id, object id) → why that entity is left out (its topics)
        self.refused: dict[tuple[str, str | None, str], str] = {}
        self.received = 0  # messages taken on the entities' topics (a statistic)
        self._by_key: dict[str, Entity] = {}  # entity key → entity
        self._attributes: dict[str, dict[str, Any]] = {}  # entity key → attributes seen
        self._last: dict[str, bytes] = {}  # topic → its last payload (retained ones too)
        self._routes: dict[str, list[tuple[str, Binding]]] = {}  # topic → (external, binding)
        self._avail_topics: dict[str, list[tuple[str, _Availability]]] = {}  # → (entity, …)
        self._avail_said: dict[tuple[str, str], tuple[bool, int]] = {}  # (entity, topic) →
        self._said = 0  # a counter: which availability came last
        self._attr_topics: dict[str, list[str]] = {}  # topic → entity keys
        self._followed: set[str] = set()
        self._waiters: dict[str, list[_Waiter]] = {}
        self._events: list[DeviceEvent] = []
        self._off_later: dict[tuple[str, str], asyncio.TimerHandle] = {}  # motion, off_delay
        self._regroup: asyncio.TimerHandle | None = None
        self._sync: asyncio.Task[None] | None = None
        self._sync_again = False
        self._warn = WarnEvery(log)
        self.accept_from(space)

    # -- which devices -----------------------------------------------------------------------

    def accept_from(self, space: Space) -> None:
        """Host the devices `space` accepted from this adapter (again after a change)."""
        self.space = space
        before = set(self._accepted.values())
        self._accepted = self.accepted_in(space)
        new = [d for d in self._accepted.values() if d not in before]
        for device_id in new:  # what it said before it joined
            self._replay(device_id)

    @property
    def problems(self) -> list[str]:
        return list(self.refused.values())

    @property
    def reachable(self) -> bool:
        """Whether the broker the devices talk on is connected."""
        return self.client.connected.is_set()

    def _proposal(self, device_id: str) -> Proposal:
        external = str(self.space.device(device_id).external)
        found = self.found.get(external)
        if found is None:
            raise DeviceUnavailable(
                f"device {device_id}: Home Assistant discovery ({self.decl.id}) has no config "
                f"for {external} (removed, or not announced since the hub started)"
            )
        return found

    def _device_of(self, external: str) -> str | None:
        return self._accepted.get(external)

    # -- PushBackend ---------------------------------------------------------------------------

    def online(self, device_id: str) -> bool:
        external = str(self.space.device(device_id).external)
        proposal = self.found.get(external)
        if not self.reachable or proposal is None:
            return False
        return all(self._entity_online(key) for key in proposal.sources)

    def _entity_online(self, key: str) -> bool:
        entity = self._entity(key)
        if entity is None:
            return False
        topics, mode = availability_of(entity)
        if not topics:
            return True
        said = [self._avail_said.get((key, a.topic)) for a in topics]
        known = [s for s in said if s is not None]
        if not known:
            return False  # it has availability and has said nothing yet
        if mode == "all":
            return len(known) == len(topics) and all(ok for ok, _ in known)
        if mode == "any":
            return any(ok for ok, _ in known)
        return max(known, key=lambda s: s[1])[0]

    def _entity(self, key: str) -> Entity | None:
        return self._by_key.get(key)

    def drain_events(self) -> list[DeviceEvent]:
        events, self._events = self._events, []
        return events

    def _settable(self, device_id: str, prop: str) -> tuple[Proposal, Binding]:
        proposal = self._proposal(device_id)
        binding = proposal.binding(prop)
        if binding is None or not binding.settable:
            raise NotSupported(
                f"device {device_id} cannot set {prop} (its Home Assistant config has no "
                "command topic for it)"
            )
        return proposal, binding

    async def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]:
        proposal, binding = self._settable(device_id, prop)
        out = binding.write(value)
        if out is None:
            raise NotSupported(f"device {device_id}: its command template failed for {prop}")
        topic, payload = out
        expect = {prop: binding.nearest(value)}  # what it becomes, in its own steps
        return await self._command(device_id, proposal, topic, payload, expect)

    async def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]:
        proposal = self._proposal(device_id)
        spec = proposal.actions.get(action)
        if spec is None:
            raise NotSupported(f"device {device_id} cannot {action} (not in its HA config)")
        if "set" in spec:  # a lock's lock / unlock: its property, with its command template
            ((prop, value),) = spec["set"].items()
            return await self.set(device_id, prop, value)
        return await self._command(device_id, proposal, spec["topic"], str(spec["payload"]), {})

    async def _command(
        self,
        device_id: str,
        proposal: Proposal,
        topic: str,
        payload: str,
        expect: dict[str, Any],
    ) -> dict[str, Any]:
        if not self.online(device_id):
            raise DeviceUnavailable(f"device {device_id} is offline (Home Assistant discovery)")
        waiting = [
            _Waiter(prop, value, b, asyncio.get_running_loop().create_future())
            for prop, value in expect.items()
            if (b := proposal.binding(prop)) is not None and not b.optimistic
        ]
        self._waiters.setdefault(device_id, []).extend(waiting)
        try:
            await self.client.publish(topic, payload, qos=1)
            optimistic = {p: v for p, v in expect.items() if p not in {w.prop for w in waiting}}
            if optimistic:  # it will not say: taken as done
                self._states[device_id] = {**self._states.get(device_id, {}), **optimistic}
                self._tell([device_id])
            if not waiting:
                return optimistic
            async with asyncio.timeout(self.decl.timeout_s):
                done = await asyncio.gather(*(w.done for w in waiting))
            return {k: v for changes in done for k, v in changes.items()} | optimistic
        except TimeoutError:
            raise DeviceTimeout(
                f"device {device_id} ({proposal.friendly_name}) did not report "
                f"{', '.join(w.prop for w in waiting)} within {self.decl.timeout_s:g} s of the "
                "command (sent on its command topic; is it connected?)"
            ) from None
        finally:
            mine = self._waiters.get(device_id, [])
            for waiter in waiting:
                if waiter in mine:
                    mine.remove(waiter)
                if not waiter.done.done():
                    waiter.done.cancel()

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.decl.options.discover:
            await self.client.subscribe(
                [f"{self.prefix}/+/+/config", f"{self.prefix}/+/+/+/config"], self._on_config
            )
        self.client.on_connect(self._connected)
        self.client.on_disconnect(self._lost)
        self.client.start()

    async def stop(self) -> None:
        if self._regroup is not None:
            self._regroup.cancel()
        if self._sync is not None:
            self._sync.cancel()
        for handle in self._off_later.values():
            handle.cancel()
        self._off_later.clear()
        self.cancel_waiting(self._waiters)
        await self.client.close()

    async def _connected(self) -> None:
        self._tell(self.device_ids)  # online again (the client's `connected` says so)

    def _lost(self) -> None:
        """Without the broker we hear nothing: every device counts as offline."""
        self._tell(self.device_ids)

    # -- configs -----------------------------------------------------------------------------

    def _on_config(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload
        if not isinstance(payload, bytes | bytearray):
            return
        try:
            said = read(self.prefix, topic, payload)
        except ConfigError as exc:
            self._warn("config", "%s: ignoring a discovery message: %s", self.decl.id, exc)
            return
        changed = False
        for item in said:
            if (item.node_id or "").startswith(OWN_NODE):
                continue  # HyperHub's own devices, published: not taken back
            try:
                changed |= self._config(item)
            except Exception as exc:  # one odd component must not cost the others
                self._warn("config", "%s: leaving out %s/%s: %s", self.decl.id,
                           item.component, item.object_id, exc)  # fmt: skip
        if changed:
            self._later()

    def _config(self, item: Entity | Removed) -> bool:
        """Take one entity's config (or its removal); whether what was found changed."""
        where = (item.component, item.node_id, item.object_id)
        if isinstance(item, Removed):
            gone = [where]
            if item.component == "device":  # a whole device-based config
                gone += [p for p in {*self.entities, *self.refused} if p[1] == item.object_id]
            for place in gone:
                self.refused.pop(place, None)
            popped = [self.entities.pop(place, None) for place in gone]  # every one of them
            return any(e is not None for e in popped)
        why = next((p for t in entity_topics(item) if (p := self._topic_problem(t))), None)
        if why is None:
            why = self._not_allowed(item)
        if why is not None:  # left out; an earlier config of it goes too
            name = str(item.device.get("name") or item.config.get("name") or item.object_id)
            why = f"{name[:80]} ({item.component} {item.key[:80]}) left out: {why}"
            if where in self.refused or len(self.refused) < MAX_ENTITIES:
                if self.refused.get(where) != why:
                    self._warn(f"refused-{len(self.refused) % 8}", "%s: %s", self.decl.id, why)
                self.refused[where] = why
            return self.entities.pop(where, None) is not None
        self.refused.pop(where, None)
        if where not in self.entities and len(self.entities) >= MAX_ENTITIES:
            self._warn("full", "%s: more than %d entities; not taking more", self.decl.id,
                       MAX_ENTITIES)  # fmt: skip
            return False
        if self.entities.get(where) == item:
            return False
        self.entities[where] = item
        return True

    def _topic_problem(self, topic: str) -> str | None:
        """Why the adapter will not follow or write `topic` (see `topic_problem`); also the
        publishing side's own topics: a device whose command topic is HyperHub's command
        topic for Home Assistant would make a switch unlock a door."""
        why = topic_problem(topic)
        if why is not None:
            return why
        publish = str(self.decl.options.publish_topic)
        own = topic.startswith(f"{publish}/") or (
            topic.startswith(f"{self.prefix}/")
            and any(level.startswith(OWN_NODE) for level in topic.split("/")[1:])
        )
        return f"{topic!r} is HyperHub's own, published for Home Assistant" if own else None

    def _later(self) -> None:
        """Propose again once the burst of configs is over."""
        if self._regroup is not None:
            self._regroup.cancel()
        self._regroup = asyncio.get_running_loop().call_later(REGROUP_S, self._propose)

    def _propose(self) -> None:
        self._regroup = None
        self._by_key = {e.key: e for e in self.entities.values()}
        areas = {a.id: [a.name, *a.aliases] for a in self.space.areas.values()}
        found: dict[str, Proposal] = {}
        for entities in group(list(self.entities.values())):
            try:
                proposals = propose(entities, areas, self._attributes)
            except Exception as exc:  # one odd HA device must not cost the others
                self._warn("propose", "%s: leaving out %s: %s", self.decl.id,
                           entities[0].key, exc)  # fmt: skip
                continue
            for proposal in proposals:
                found[proposal.external] = proposal
        self.found = found
        self._route()
        for device_id in self.device_ids:
            self._replay(device_id)
        self._tell(self.device_ids)
        self._tell_found()
        self._follow()

    def _route(self) -> None:
        """Which topic feeds which property, availability and attributes; what was kept of
        topics and entities that are gone is forgotten."""
        routes: dict[str, list[tuple[str, Binding]]] = {}
        for proposal in self.found.values():
            for binding in proposal.bindings:
                if binding.state_topic:
                    routes.setdefault(binding.state_topic, []).append((proposal.external, binding))
        avail: dict[str, list[tuple[str, _Availability]]] = {}
        attrs: dict[str, list[str]] = {}
        for entity in self.entities.values():
            for a in availability_of(entity)[0]:
                avail.setdefault(a.topic, []).append((entity.key, a))
            topic = entity.config.get("json_attributes_topic")
            if isinstance(topic, str):
                attrs.setdefault(topic, []).append(entity.key)
        self._routes, self._avail_topics, self._attr_topics = routes, avail, attrs
        topics = {*routes, *avail, *attrs}
        self._last = {t: p for t, p in self._last.items() if t in topics}
        self._avail_said = {
            (key, t): said for (key, t), said in self._avail_said.items() if t in avail
        }
        self._attributes = {k: v for k, v in self._attributes.items() if k in self._by_key}

    def _follow(self) -> None:
        """Subscribe to the topics the entities use (in a task: one at a time)."""
        if self._sync is not None and not self._sync.done():
            self._sync_again = True
            return
        self._sync = asyncio.get_running_loop().create_task(
            self._subscribe(), name=f"adapter-{self.decl.id}-follow"
        )

    async def _subscribe(self) -> None:
        while True:
            self._sync_again = False
            wanted = set(self._routes) | set(self._avail_topics) | set(self._attr_topics)
            new = sorted(wanted - self._followed)
            gone = sorted(self._followed - wanted)
            try:
                if gone:
                    await self.client.unsubscribe(gone)
                    self._followed -= set(gone)
                if new:
                    await self.client.subscribe(new, self._on_topic)
                    self._followed |= set(new)
            except FabricDisconnected:
                pass  # subscribed again on the next connection
            if not self._sync_again:
                return

    def _not_allowed(self, entity: Entity) -> str | None:
        """Why the adapter's login may not use the entity's topics, or None. On the hub's
        own broker it may use only its system's filters (`foreign_topics`): Mosquitto
        grants an MQTT 3.1.1 subscription it then never delivers to, and drops a publish
        without a word, so this is checked here, before anything is followed or sent."""
        if self.decl.broker is not None:
            return None  # the devices' own broker: its logins are not ours to know
        allowed = foreign_topics(self.decl)
        bad = sorted(
            t for t in entity_topics(entity) if not any(topic_matches_sub(f, t) for f in allowed)
        )
        if not bad:
            return None
        first = bad[0].split("/", 1)[0]
        return (
            f"its topics {', '.join(bad)} are not the adapter's to use on the hub's broker; "
            f"add {first}/# to the adapter's `topics:` in the space file"
        )

    # -- what the devices say ----------------------------------------------------------------

    def _on_topic(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD:
            return
        self._last[topic] = bytes(payload)
        self.received += 1
        if topic in self._avail_topics:
            self._availability(topic, payload)
        if topic in self._attr_topics:
            self._attributes_said(topic, payload)
        told = []
        for external, binding in self._routes.get(topic, ()):
            device_id = self._device_of(external)
            if device_id is not None and self._take(device_id, binding, payload, live=True):
                told.append(device_id)
        self._tell(dict.fromkeys(told))

    def _take(
        self, device_id: str, binding: Binding, payload: bytes | bytearray, *, live: bool = False
    ) -> bool:
        """Take one property's report into the device's state; whether it said anything.
        `live`: it came just now (not replayed), so a jammed lock is an event and a motion
        sensor's `off_delay` starts."""
        try:
            return self._taken(device_id, binding, payload, live)
        except Exception as exc:  # a hostile payload or template: this report is dropped
            self._warn("payload", "%s: dropping a report of %s.%s: %s", self.decl.id,
                       device_id, binding.prop, exc)  # fmt: skip
            return False

    def _taken(
        self, device_id: str, binding: Binding, payload: bytes | bytearray, live: bool
    ) -> bool:
        device = self.space.device(device_id)
        if binding.prop not in device.properties:
            return False  # a property found after it was accepted: not this device's
        if live and binding.is_jammed(payload):
            self._events.append(DeviceEvent(device_id, "jammed", {}, self.clock()))
            return True
        value = binding.read(payload)
        if value is None:
            return False
        spec = self.space.types.get(device.type).properties.get(binding.prop)
        if spec is not None and spec.kind in ("int", "float") and not isinstance(value, bool):
            value = spec.within(value, whole=spec.kind == "int")  # beyond it: its nearest end
            value = round(value) if spec.kind == "int" else value
        elif spec is not None and spec.kind == "enum" and value not in (spec.values or ()):
            return False
        self._states[device_id] = {**self._states.get(device_id, {}), binding.prop: value}
        if live and binding.off_delay and value is True:
            self._off_after(device_id, binding)
        for waiter in list(self._waiters.get(device_id, [])):
            if (
                waiter.binding == binding
                and not waiter.done.done()
                and binding.confirmed_by(waiter.value, value)
            ):
                waiter.done.set_result({binding.prop: value})
        return True

    def _off_after(self, device_id: str, binding: Binding) -> None:
        """A sensor that only ever says ON (a PIR): false again `off_delay` s later."""
        key = (device_id, binding.prop)
        old = self._off_later.pop(key, None)
        if old is not None:
            old.cancel()

        def off() -> None:
            self._off_later.pop(key, None)
            self._states[device_id] = {**self._states.get(device_id, {}), binding.prop: False}
            self._tell([device_id])

        delay = max(0.0, min(float(binding.off_delay or 0), 86_400.0))
        self._off_later[key] = asyncio.get_running_loop().call_later(delay, off)

    def _replay(self, device_id: str) -> None:
        """Fill a device in from what its topics last said (retained, before it joined)."""
        proposal = self.found.get(str(self.space.device(device_id).external))
        if proposal is None:
            return
        for binding in proposal.bindings:
            said = self._last.get(binding.state_topic or "")
            if said is not None:
                self._take(device_id, binding, said)

    def _availability(self, topic: str, payload: bytes | bytearray) -> None:
        self._said += 1
        keys = []
        for key, avail in self._avail_topics[topic]:
            ok = avail.read(payload)
            if ok is not None:
                self._avail_said[key, topic] = (ok, self._said)
                keys.append(key)
        self._tell([d for ext, d in self._accepted.items() if self._made_of(ext, keys)])

    def _made_of(self, external: str, keys: list[str]) -> bool:
        proposal = self.found.get(external)
        return proposal is not None and any(k in proposal.sources for k in keys)

    def _attributes_said(self, topic: str, payload: bytes | bytearray) -> None:
        try:
            data = json.loads(payload)
        except (ValueError, RecursionError):
            return
        if not isinstance(data, dict):
            return
        readings = {k: data[k] for k in ATTRIBUTES if k in data}  # only what may be proposed
        grew = False
        for key in self._attr_topics[topic]:
            before = self._attributes.get(key, {})
            grew |= bool(set(readings) - set(before))
            self._attributes[key] = {**before, **readings}
        if grew:  # readings it did not have before may now be proposed
            self._later()
