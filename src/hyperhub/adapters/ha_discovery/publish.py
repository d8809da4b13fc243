"""`HaPublisher`: the space's devices in Home Assistant, through its MQTT discovery (issue 20,
the publishing direction; `adapter.py` is the other one).

For a `kind: ha_discovery` adapter with `publish: true`, every device of the space —
simulated, on a node of its own or brought in by another adapter — is announced to Home
Assistant on the adapter's broker (`<base>` is `<publish_topic>/<space slug>`,
`hyperhub-ha/<slug>` unless `publish_topic:` says otherwise):

    <prefix>/<component>/hyperhub_<slug>/<device>_<key>/config   one retained config an entity
    <base>/status                   "online" (retained, on connecting); "offline": the last
                                    will, and on stopping
    <base>/<device>/state           retained JSON: the device's whole HyperHub state, again
                                    after every change (entities read it with templates)
    <base>/<device>/availability    retained "online" / "offline": the hub's registry
    <base>/<device>/set/<property>  Home Assistant writes a property (payload: its value)
    <base>/<device>/call            Home Assistant runs an action (payload: the action)

Configs use full key names. `key` is the property (or action) the entity stands for, so
`unique_id` is `hyperhub_<slug>_<device>_<key>`, stable across restarts. Each entity is
available while the publisher (`<base>/status`) and its device are (`availability_mode:
all`). Node ids starting `hyperhub_` are not taken back by the consuming side; devices that
side brought in from Home Assistant are not announced back to it.

What each property and action becomes (a device's properties first as a whole, then one
entity each for the rest):

    HyperHub                            Home Assistant
    a light: on, brightness,            light (default schema): ON/OFF; brightness 0-100
      color_temp, color                   (brightness_scale 100); colour temperature in K
                                          (color_temp_kelvin, the spec's min and max); colour
                                          as "r,g,b"
    locked, with actions lock, unlock   lock: payloads lock / unlock on <device>/call
    a cover's position, open, close,    cover: position 0-100 (set_position_topic), the
      stop                                actions on <device>/call, the cover's class
    other writable true/false           switch
    read-only true/false                binary_sensor (contact: class door, on = open, as
                                          HyperHub's true is closed; motion: class motion)
    writable number                     number: the spec's min, max and unit; step 1 or 0.1
    read-only number                    sensor, state_class measurement; a device class by
                                          the unit (°C, lx, µg/m³, hPa, W, km/h, km) or, for
                                          %, the name (humidity, battery)
    writable enum                       select: the values' words as its options
    read-only enum                      sensor, device class enum, the values' words
    read-only text                      sensor
    location                            device_tracker: latitude, longitude as attributes
    an action without required          button: the action's name on <device>/call
      arguments

Anything else (a writable text, a colour outside a light, an action that needs arguments)
is left out, logged at debug. Names are the vocabulary's English words (`spec.words`):
an entity is called what its property or action is ("Brightness", "Flash lights"); a
light, lock or cover type's main entity has no name of its own (Home Assistant shows the
device's). Enum values travel as their words and come back as values.

A command from Home Assistant is parsed by its property's kind (ON/OFF, a number, a value's
words, "r,g,b"); a payload that is no value of that kind is dropped with a warning (one per
period). Everything else is the hub's: the command goes through `HubFabric.send_command` as
actor `home_assistant:<adapter id>`, checked (range, read-only, risky) and audited like any
other; a risky one is confirmed only with `allow_risky: true`. Commands run in tasks of
their own (at most `MAX_IN_FLIGHT`), never in the MQTT reader; a retained command is
ignored (it would run again on every connection).

Every config, state and availability is published again on every (re)connection and when
Home Assistant says `online` on `<prefix>/status` (it restarted). Configs under this
space's node id that are not published now (a device removed while the hub was down) are
cleared (an empty retained message); `refresh(space)` clears those of devices that left.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import re
from dataclasses import dataclass
from typing import Any

import aiomqtt

import hyperhub
from hyperhub.adapters.ha_discovery.mapping import text_of
from hyperhub.errors import (
    FabricDisconnected,
    HyperHubError,
    NeedsConfirmation,
    ValueNotAllowed,
)
from hyperhub.fabric.client import FabricClient, LastWill, Outgoing
from hyperhub.fabric.feed import Subscription
from hyperhub.fabric.hubside import HubFabric
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.service import Service
from hyperhub.space import Space
from hyperhub.space.adapters import AdapterDecl, HaDiscoveryOptions
from hyperhub.space.model import Device
from hyperhub.spec import words
from hyperhub.spec.model import ActionSpec, DeviceType, PropertySpec, ValueSpec
from hyperhub.spec.policy import Command

log = logging.getLogger("hyperhub.adapters.ha_discovery.publish")

NODE_PREFIX = "hyperhub_"  # the node id of a space's configs: hyperhub_<slug>
ONLINE, OFFLINE = "online", "offline"
MAX_IN_FLIGHT = 64  # commands from Home Assistant running at once; more are dropped
MAX_COMMAND = 4096  # bytes of one command payload
SWEEP_S = 5.0  # how often availability is compared with the registry (a missed change)
STOP_S = 5.0  # how long stopping waits for the tasks and the goodbye
ON, OFF = "ON", "OFF"
_ACTION = re.compile(r"^[a-z][a-z0-9_]{0,63}$")

# a read-only number's Home Assistant device class, by its unit; "%" by its name
UNIT_CLASSES = {
    "°C": "temperature",
    "lx": "illuminance",
    "µg/m³": "pm25",
    "hPa": "pressure",
    "W": "power",
    "km/h": "speed",
    "km": "distance",
}
PERCENT_CLASSES = {"humidity": "humidity", "battery": "battery", "battery_soc": "battery"}
# a read-only true/false's device class and whether HyperHub's true is Home Assistant's on
BINARY_CLASSES = {"contact": ("door", False), "motion": ("motion", True)}  # contact: true = closed
COVER_CLASSES = {c: c for c in ("curtain", "blind", "garage", "gate", "window", "door")}
MAIN_ENTITY_TYPES = ("light", "lock", "cover")  # their main entity has the device's name
LIGHT_PROPS = ("on", "brightness", "color_temp", "color")
COVER_ACTIONS = {"open": "payload_open", "close": "payload_close", "stop": "payload_stop"}


@dataclass(frozen=True)
class Layout:
    """The topics of one space's publishing: `prefix` is Home Assistant's discovery prefix,
    `base` is `<publish_topic>/<slug>`."""

    prefix: str
    publish_topic: str
    slug: str

    @property
    def node_id(self) -> str:
        return f"{NODE_PREFIX}{self.slug}"

    @property
    def base(self) -> str:
        return f"{self.publish_topic}/{self.slug}"

    @property
    def status(self) -> str:
        return f"{self.base}/status"

    @property
    def ha_status(self) -> str:
        return f"{self.prefix}/status"

    @property
    def configs(self) -> str:
        """The filter of this space's configs (of every component)."""
        return f"{self.prefix}/+/{self.node_id}/+/config"

    @property
    def commands(self) -> tuple[str, str]:
        return f"{self.base}/+/set/+", f"{self.base}/+/call"

    def config(self, component: str, device: str, key: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id}/{device}-{key}/config"

    def state(self, device: str) -> str:
        return f"{self.base}/{device}/state"

    def availability(self, device: str) -> str:
        return f"{self.base}/{device}/availability"

    def set(self, device: str, prop: str) -> str:
        return f"{self.base}/{device}/set/{prop}"

    def call(self, device: str) -> str:
        return f"{self.base}/{device}/call"

    def unique_id(self, device: str, key: str) -> str:
        """`hyperhub_<slug>-<device>-<key>`: ids have no "-", so no two entities share one
        (with "_" a climate `ac`'s fan_speed was a fan `ac_fan`'s speed)."""
        return f"{self.node_id}-{device}-{key}"


@dataclass(frozen=True)
class HaEntity:
    """One Home Assistant entity of a device: its component, the property or action it
    stands for (`key`), its name (None: the device's own), and its component's keys."""

    component: str
    key: str
    name: str | None
    options: dict[str, Any]


# -- the mapping -------------------------------------------------------------------------------


def value_of(prop: str) -> str:
    """A template expression for property `prop` of the state JSON."""
    return f"value_json[{json.dumps(prop)}]"


def value_words(spec: ValueSpec) -> dict[str, str]:
    """An enum's values and the words people see for them (English); the values themselves
    where two values would read alike."""
    values = spec.values or ()
    said = {v: words.value_word("en", v) for v in values}
    return said if len(set(said.values())) == len(said) else {v: v for v in values}


def _said_template(prop: str, said: dict[str, str]) -> str:
    table = json.dumps(said, ensure_ascii=False)
    return f"{{{{ {table}.get({value_of(prop)}, {value_of(prop)}) }}}}"


def _bool_template(prop: str, on_when: bool = True) -> str:
    on, off = (ON, OFF) if on_when else (OFF, ON)
    return f"{{{{ '{on}' if {value_of(prop)} else '{off}' }}}}"


def _value_template(prop: str) -> str:
    return f"{{{{ {value_of(prop)} }}}}"


def _rgb_template(prop: str) -> str:
    """A colour's "#rrggbb" as Home Assistant's "r,g,b" (its `int` filter takes a base)."""
    v = value_of(prop)
    return ",".join(f"{{{{ {v}[{i}:{i + 2}] | int(base=16) }}}}" for i in (1, 3, 5))


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def _label(prop: str) -> str:
    return words.label("en", prop)


def _light(device: Device, props: dict[str, PropertySpec], at: Layout) -> HaEntity:
    state = at.state(device.id)
    options: dict[str, Any] = {
        "command_topic": at.set(device.id, "on"),
        "state_topic": state,
        "state_value_template": _bool_template("on"),
        "payload_on": ON,
        "payload_off": OFF,
    }
    if "brightness" in props:
        options |= {
            "brightness_command_topic": at.set(device.id, "brightness"),
            "brightness_state_topic": state,
            "brightness_value_template": _value_template("brightness"),
            "brightness_scale": int(props["brightness"].max or 100),
        }
    if "color_temp" in props:
        spec = props["color_temp"]
        options |= {
            "color_temp_command_topic": at.set(device.id, "color_temp"),
            "color_temp_state_topic": state,
            "color_temp_value_template": _value_template("color_temp"),
            "color_temp_kelvin": True,
        }
        if spec.min is not None:
            options["min_kelvin"] = int(spec.min)
        if spec.max is not None:
            options["max_kelvin"] = int(spec.max)
    if "color" in props:
        options |= {
            "rgb_command_topic": at.set(device.id, "color"),
            "rgb_state_topic": state,
            "rgb_value_template": _rgb_template("color"),
        }
    return HaEntity("light", "on", None, options)


def _is_lock(dtype: DeviceType, props: dict[str, PropertySpec]) -> bool:
    spec = props.get("locked")
    plain = [_without_args(dtype.actions.get(a)) for a in ("lock", "unlock")]
    return spec is not None and spec.kind == "bool" and spec.writable and all(plain)


def _without_args(action: ActionSpec | None) -> bool:
    """An action Home Assistant can run: it exists and needs no arguments."""
    return action is not None and not any(a.required for a in action.args)


def _lock(device: Device, at: Layout) -> HaEntity:
    name = None if device.type in MAIN_ENTITY_TYPES else _label("locked")
    options = {
        "command_topic": at.call(device.id),
        "payload_lock": "lock",
        "payload_unlock": "unlock",
        "state_topic": at.state(device.id),
        "value_template": f"{{{{ 'LOCKED' if {value_of('locked')} else 'UNLOCKED' }}}}",
        "state_locked": "LOCKED",
        "state_unlocked": "UNLOCKED",
    }
    return HaEntity("lock", "locked", name, options)


def _cover(device: Device, spec: PropertySpec, at: Layout) -> tuple[HaEntity, set[str]]:
    """The cover entity and the actions it covers."""
    actions = {a for a in COVER_ACTIONS if _without_args(device.dtype.actions.get(a))}
    options: dict[str, Any] = {
        "position_topic": at.state(device.id),
        "position_template": _value_template("position"),
        "set_position_topic": at.set(device.id, "position"),
        "position_open": _num(spec.max if spec.max is not None else 100),
        "position_closed": _num(spec.min if spec.min is not None else 0),
    }
    if actions:
        options["command_topic"] = at.call(device.id)
        for action, key in COVER_ACTIONS.items():
            options[key] = action if action in actions else None  # None: not offered
    if device.cls in COVER_CLASSES:
        options["device_class"] = COVER_CLASSES[device.cls]
    name = None if device.type in MAIN_ENTITY_TYPES else _label("position")
    return HaEntity("cover", "position", name, options), actions


def _property(device: Device, prop: str, spec: PropertySpec, at: Layout) -> HaEntity | None:
    """The entity of one property of its own, or None when Home Assistant gets none."""
    state, name = at.state(device.id), _label(prop)
    read: dict[str, Any] = {"state_topic": state}
    write: dict[str, Any] = {"command_topic": at.set(device.id, prop), "state_topic": state}
    kind = spec.kind
    if kind == "bool" and spec.writable:
        options = write | {
            "value_template": _bool_template(prop),
            "payload_on": ON,
            "payload_off": OFF,
        }
        return HaEntity("switch", prop, name, options)
    if kind == "bool":
        dclass, same = BINARY_CLASSES.get(prop, (None, True))
        options = read | {
            "value_template": _bool_template(prop, same),
            "payload_on": ON,
            "payload_off": OFF,
        }
        if dclass:
            options["device_class"] = dclass
        return HaEntity("binary_sensor", prop, name, options)
    if kind in ("int", "float") and spec.writable:
        if spec.min is None or spec.max is None:
            return None  # Home Assistant's number needs a range
        options = write | {
            "value_template": _value_template(prop),
            "min": _num(spec.min),
            "max": _num(spec.max),
            "step": 1 if kind == "int" else 0.1,
        }
        if spec.unit:
            options["unit_of_measurement"] = spec.unit
        return HaEntity("number", prop, name, options)
    if kind in ("int", "float"):
        options = read | {"value_template": _value_template(prop), "state_class": "measurement"}
        if spec.unit:
            options["unit_of_measurement"] = spec.unit
        dclass = (
            PERCENT_CLASSES.get(prop) if spec.unit == "%" else UNIT_CLASSES.get(spec.unit or "")
        )
        if dclass:
            options["device_class"] = dclass
        return HaEntity("sensor", prop, name, options)
    if kind == "enum":
        said = value_words(spec)
        template = _said_template(prop, said)
        if spec.writable:
            options = write | {"value_template": template, "options": list(said.values())}
            return HaEntity("select", prop, name, options)
        options = read | {
            "value_template": template,
            "device_class": "enum",
            "options": list(said.values()),
        }
        return HaEntity("sensor", prop, name, options)
    if kind == "str" and not spec.writable:
        return HaEntity("sensor", prop, name, read | {"value_template": _value_template(prop)})
    if kind == "location":
        coords = f"{{'latitude': {value_of(prop)}['lat'], 'longitude': {value_of(prop)}['lon']}}"
        options = {
            "json_attributes_topic": state,
            "json_attributes_template": f"{{{{ {coords} | tojson }}}}",
        }
        return HaEntity("device_tracker", prop, name, options)
    return None


def entities(device: Device, at: Layout) -> tuple[list[HaEntity], list[str]]:
    """What Home Assistant gets of `device`: its entities, and what is left out (names of
    properties and actions, for the log)."""
    dtype = device.dtype
    props = {p: dtype.properties[p] for p in device.properties if p in dtype.properties}
    out: list[HaEntity] = []
    done: set[str] = set()  # properties an entity of the whole device carries
    covered: set[str] = set()  # actions it carries
    if dtype.type == "light" and "on" in props:
        out.append(_light(device, props, at))
        done |= set(LIGHT_PROPS) & set(props)
    if _is_lock(dtype, props):
        out.append(_lock(device, at))
        done.add("locked")
        covered |= {"lock", "unlock"}
    if dtype.type == "cover" and "position" in props and props["position"].writable:
        entity, actions = _cover(device, props["position"], at)
        out.append(entity)
        done.add("position")
        covered |= actions
    skipped: list[str] = []
    for prop, spec in props.items():
        if prop in done:
            continue
        single = _property(device, prop, spec, at)
        if single is None:
            skipped.append(prop)
        else:
            out.append(single)
    for name, action in dtype.actions.items():
        if name in covered:
            continue
        if not _without_args(action):
            skipped.append(f"{name} (an action with arguments)")
            continue
        key = name if name not in dtype.properties else f"call_{name}"
        options = {"command_topic": at.call(device.id), "payload_press": name}
        out.append(HaEntity("button", key, words.action_label("en", name), options))
    return out, skipped


def device_block(device: Device, space: Space, at: Layout) -> dict[str, Any]:
    """The `device` of every entity of `device`: one Home Assistant device."""
    block: dict[str, Any] = {
        "identifiers": [f"{at.node_id}_{device.id}"],
        "name": device.name,
        "manufacturer": "HyperHub",
        "model": words.type_label("en", device.type),
        "model_id": device.type,
    }
    area = space.areas.get(device.area) if device.area else None
    if area is not None:
        block["suggested_area"] = area.name
    return block


def config(device: Device, space: Space, entity: HaEntity, at: Layout) -> dict[str, Any]:
    """The discovery config of one entity, with full key names."""
    return {
        "name": entity.name,
        "unique_id": at.unique_id(device.id, entity.key),
        "device": device_block(device, space, at),
        "origin": {"name": "HyperHub", "sw_version": hyperhub.__version__},
        "availability": [{"topic": at.status}, {"topic": at.availability(device.id)}],
        "availability_mode": "all",
        "qos": 1,
        **entity.options,
    }


def announced(space: Space) -> list[Device]:
    """The devices announced to Home Assistant: all of the space's but those a
    Home Assistant discovery adapter brought in (they are Home Assistant's already)."""
    from_ha = {a.id for a in space.adapters.values() if a.kind == "ha_discovery"}
    return [d for d in space.devices.values() if d.adapter not in from_ha]


# -- commands ----------------------------------------------------------------------------------


def parse_value(spec: ValueSpec, text: str, prop: str) -> Any:
    """A command payload of Home Assistant as a value of `spec`'s kind (whether it is allowed
    is the hub's to say); `ValueNotAllowed` when it is no value of that kind at all."""
    kind = spec.kind
    word = text.strip()
    if kind == "bool":
        found = {"on": True, "off": False, "true": True, "false": False, "1": True, "0": False}
        if word.lower() in found:
            return found[word.lower()]
    elif kind in ("int", "float"):
        try:
            number = float(word)
        except ValueError:
            pass
        else:
            if math.isfinite(number):
                return int(number) if number.is_integer() else number
    elif kind == "enum":
        by_words = {said: value for value, said in value_words(spec).items()}
        return by_words.get(word, word)
    elif kind == "str":
        return text
    elif kind == "color":
        if word.startswith("#"):
            return word  # as HyperHub writes it: the hub checks it
        parts = word.split(",")
        if len(parts) == 3 and all(p.strip().isdigit() for p in parts):
            rgb = [int(p) for p in parts]
            if all(0 <= c <= 255 for c in rgb):
                return "#" + "".join(f"{c:02x}" for c in rgb)
    raise ValueNotAllowed(f"{prop}: {text[:80]!r} is not {spec.allowed()}")


# -- the publisher -----------------------------------------------------------------------------


class HaPublisher(Service):
    """The space's devices announced to Home Assistant on the broker of `client_kwargs`:
    `async with HaPublisher(decl, space, fabric, client_kwargs, slug=…):`; `refresh(space)`
    after devices joined or left the space."""

    def __init__(
        self,
        decl: AdapterDecl,
        space: Space,
        fabric: HubFabric,
        client_kwargs: dict[str, Any],
        *,
        slug: str,
        client_id: str | None = None,
    ) -> None:
        options: HaDiscoveryOptions = decl.options
        self.decl = decl
        self.space = space
        self.fabric = fabric
        self.allow_risky = bool(options.allow_risky)
        self.actor = f"home_assistant:{decl.id}"
        self.at = Layout(str(options.prefix), str(options.publish_topic), slug)
        self.client = FabricClient(
            client_kwargs,
            client_id=client_id or f"hyperhub-ha-publish-{decl.id}-{id(self):x}",
            will=LastWill(self.at.status, OFFLINE, retain=True),
        )
        self.configs: dict[str, bytes] = {}  # config topic → its payload, as published now
        self.devices: dict[str, Device] = {}  # announced device id → device
        self._said: dict[str, bool] = {}  # device id → the availability published last
        self._tasks: set[asyncio.Task[None]] = set()  # the feeds and resyncs
        self._commands: set[asyncio.Task[None]] = set()
        self._feeds: list[Subscription[Any]] = []
        self._resync: asyncio.Task[None] | None = None
        self._lock = asyncio.Lock()  # one batch of retained messages at a time, in order
        self._warn = WarnEvery(log)
        self.commands = 0  # commands handed to the hub (a statistic)

    # -- what is announced ---------------------------------------------------------------------

    def _plan(self, space: Space) -> None:
        """Work out every device's configs (`configs`, `devices`) for `space`."""
        configs: dict[str, bytes] = {}
        devices: dict[str, Device] = {}
        for device in announced(space):
            made, skipped = entities(device, self.at)
            if skipped:
                log.debug(
                    "%s: not announcing %s of %s", self.decl.id, ", ".join(skipped), device.id
                )
            devices[device.id] = device
            for entity in made:
                topic = self.at.config(entity.component, device.id, entity.key)
                body = config(device, space, entity, self.at)
                configs[topic] = json.dumps(body, ensure_ascii=False, sort_keys=True).encode()
        self.space, self.configs, self.devices = space, configs, devices

    def _state(self, device: str) -> Outgoing | None:
        record = self.fabric.registry.get(device)
        if record is None or not record.state:
            return None
        body = json.dumps(record.state, ensure_ascii=False, sort_keys=True)
        return Outgoing(self.at.state(device), body, True)

    def _availability(self, device: str) -> Outgoing:
        online = self.fabric.registry.is_online(device)
        self._said[device] = online
        return Outgoing(self.at.availability(device), ONLINE if online else OFFLINE, True)

    def _everything(self) -> list[Outgoing]:
        out = [Outgoing(topic, body, True) for topic, body in self.configs.items()]
        for device in self.devices:
            state = self._state(device)
            if state is not None:
                out.append(state)
            out.append(self._availability(device))
        out.append(Outgoing(self.at.status, ONLINE, True))
        return out

    async def _publish(self, messages: list[Outgoing], what: str) -> None:
        """Publish `messages` in order, one batch at a time; a lost connection is logged
        (everything is published again on the next one)."""
        if not messages:
            return
        try:
            batches = 2 + len(messages) // 1000  # publish_many's chunks, and the lock
            async with self._lock, asyncio.timeout(self.client.publish_timeout * batches):
                await self.client.publish_many(messages)
        except (FabricDisconnected, TimeoutError) as exc:
            log.info("%s: %s not published (again on reconnecting): %s", self.decl.id, what, exc)

    # -- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        self._plan(self.space)
        self._feeds = [self.fabric.changes(), self.fabric.availability()]
        await self.client.subscribe(self.at.configs, self._on_config)
        await self.client.subscribe(self.at.ha_status, self._on_ha_status)
        await self.client.subscribe(list(self.at.commands), self._on_command)
        self.client.on_connect(self._on_connected)
        self._own(self._follow_changes(self._feeds[0]), "changes")
        self._own(self._follow_availability(self._feeds[1]), "availability")
        self.client.start()
        log.info(
            "%s: announcing %d devices (%d entities) to Home Assistant under %s/",
            self.decl.id,
            len(self.devices),
            len(self.configs),
            self.at.prefix,
        )

    async def stop(self) -> None:
        tasks = [*self._tasks, *self._commands]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=STOP_S)
        for feed in self._feeds:
            feed.close()
        self._feeds = []
        if self.client.connected.is_set():  # entities unavailable while the hub is away
            with contextlib.suppress(FabricDisconnected, TimeoutError):
                async with asyncio.timeout(STOP_S):
                    await self.client.publish(self.at.status, OFFLINE, retain=True)
        await self.client.close()

    async def refresh(self, space: Space) -> None:
        """Devices joined or left `space`: announce the new ones, clear what is gone."""
        was, had = self.configs, set(self.devices)
        self._plan(space)
        messages = [Outgoing(topic, b"", True) for topic in was if topic not in self.configs]
        for device in had - set(self.devices):
            self._said.pop(device, None)
            messages += [
                Outgoing(self.at.state(device), b"", True),
                Outgoing(self.at.availability(device), b"", True),
            ]
        messages += [
            Outgoing(t, body, True) for t, body in self.configs.items() if was.get(t) != body
        ]
        for device in set(self.devices) - had:
            state = self._state(device)
            if state is not None:
                messages.append(state)
            messages.append(self._availability(device))
        gone, new = len(had - set(self.devices)), len(set(self.devices) - had)
        log.info(
            "%s: %d devices announced to Home Assistant (%d new, %d gone)",
            self.decl.id,
            len(self.devices),
            new,
            gone,
        )
        await self._publish(messages, "the changed devices")

    def _own(self, coro: Any, name: str) -> asyncio.Task[None]:
        task = asyncio.get_running_loop().create_task(
            coro, name=f"ha-publish-{self.decl.id}-{name}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    # -- keeping Home Assistant up to date -----------------------------------------------------

    async def _on_connected(self) -> None:
        await self._publish(self._everything(), "the devices")

    def _on_ha_status(self, message: aiomqtt.Message) -> None:
        """Home Assistant (re)started: it wants every config, state and availability."""
        if text_of(message.payload).strip().lower() != ONLINE:
            return
        if self._resync is not None and not self._resync.done():
            return  # one is under way
        log.info("%s: Home Assistant is online; announcing the devices again", self.decl.id)
        self._resync = self._own(self._publish(self._everything(), "the devices"), "resync")

    def _on_config(self, message: aiomqtt.Message) -> None:
        """A config under this space's node id that is not announced now (left from a device
        removed while the hub was down): cleared. One that someone else changed: ours again."""
        topic = message.topic.value
        ours = self.configs.get(topic)
        if ours is not None:
            if bytes(message.payload or b"") != bytes(ours):
                log.warning("%s: %s was changed by someone else; announcing ours again",
                            self.decl.id, topic)  # fmt: skip
                self._send(Outgoing(topic, ours, True))
            return
        if not message.payload:
            return
        log.info("%s: clearing %s (no such entity any more)", self.decl.id, topic)
        with contextlib.suppress(FabricDisconnected):
            self.client.send(topic, b"", retain=True)

    def _send(self, message: Outgoing | None) -> None:
        if message is None:
            return
        with contextlib.suppress(FabricDisconnected):  # all again on reconnecting
            self.client.send(message.topic, message.payload, retain=message.retain)

    async def _follow_changes(self, changes: Subscription[Any]) -> None:
        """Each device whose state changed: its state (once for a burst of changes)."""
        while True:
            try:
                first = await changes.get(SWEEP_S)
            except TimeoutError:
                self._sweep()
                continue
            changed = {first.device}
            while not changes.queue.empty():
                changed.add(changes.queue.get_nowait().device)
            for device in changed:
                if device in self.devices:
                    self._send(self._state(device))
                    if self._said.get(device) != self.fabric.registry.is_online(device):
                        self._send(self._availability(device))  # (joined: no availability event)

    async def _follow_availability(self, went: Subscription[Any]) -> None:
        while True:
            try:
                item = await went.get(SWEEP_S)
            except TimeoutError:
                continue
            if item.device in self.devices:
                self._send(self._availability(item.device))

    def _sweep(self) -> None:
        """Availability as the registry has it, for any change a feed missed."""
        for device in self.devices:
            if self._said.get(device) != self.fabric.registry.is_online(device):
                self._send(self._availability(device))

    # -- commands from Home Assistant ----------------------------------------------------------

    def _on_command(self, message: aiomqtt.Message) -> None:
        """Parse a command (quickly, in the MQTT reader) and run it in a task of its own."""
        topic = message.topic.value
        if message.retain:
            self._warn("retained", "%s: ignoring a retained command on %s", self.decl.id, topic)
            return
        try:
            cmd = self._parse(topic, message.payload)
        except ValueNotAllowed as exc:
            self._warn(
                f"bad-{topic}", "%s: dropping a command from Home Assistant: %s", self.decl.id, exc
            )
            return
        if len(self._commands) >= MAX_IN_FLIGHT:
            self._warn(
                "busy",
                "%s: %d commands from Home Assistant are running; dropping %s on %s",
                self.decl.id,
                len(self._commands),
                cmd.summary(),
                cmd.device,
            )
            return
        task = asyncio.get_running_loop().create_task(
            self._run(cmd), name=f"ha-publish-{self.decl.id}-command"
        )
        self._commands.add(task)
        task.add_done_callback(self._commands.discard)

    def _parse(self, topic: str, payload: Any) -> Command:
        rest = topic.removeprefix(self.at.base + "/").split("/")
        device = self.devices.get(rest[0])
        if device is None:
            raise ValueNotAllowed(f"{topic}: no device {rest[0]!r} is announced")
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_COMMAND:
            raise ValueNotAllowed(
                f"{topic}: the payload is not text of at most {MAX_COMMAND} bytes"
            )
        text = text_of(payload)
        if rest[1:] == ["call"]:
            action = text.strip()
            if not _ACTION.match(action):
                raise ValueNotAllowed(f"{topic}: {text[:80]!r} names no action")
            return Command(device.id, action=action)
        prop = rest[2]
        spec = device.dtype.properties.get(prop)  # its kind says how to read the payload
        if spec is None:
            raise ValueNotAllowed(f"{topic}: a {device.type} has no property {prop!r}")
        return Command(device.id, prop, parse_value(spec, text, f"{device.id}.{prop}"))

    async def _run(self, cmd: Command) -> None:
        """One command through the hub's checks and audit; nothing it raises gets further."""
        self.commands += 1
        try:
            async with asyncio.timeout(self.fabric.command_timeout + STOP_S):
                await self.fabric.send_command(
                    cmd.device,
                    property=cmd.property,
                    value=cmd.value,
                    action=cmd.action,
                    actor=self.actor,
                    confirm=self.allow_risky,
                )
        except NeedsConfirmation as exc:
            self._warn(
                f"risky-{cmd.device}-{cmd.summary()}",
                "%s: refused %s on %s from Home Assistant: it is risky (%s); to let Home "
                "Assistant do it, set `allow_risky: true` on adapter %s in the space file",
                self.decl.id,
                cmd.summary(),
                cmd.device,
                exc,
                self.decl.id,
            )
        except HyperHubError as exc:
            self._warn(
                f"refused-{cmd.device}",
                "%s: %s on %s from Home Assistant failed: %s",
                self.decl.id,
                cmd.summary(),
                cmd.device,
                exc,
            )
        except TimeoutError:
            self._warn(
                f"late-{cmd.device}",
                "%s: %s on %s from Home Assistant got no answer",
                self.decl.id,
                cmd.summary(),
                cmd.device,
            )
        except Exception:
            log.exception(
                "%s: %s on %s from Home Assistant", self.decl.id, cmd.summary(), cmd.device
            )
