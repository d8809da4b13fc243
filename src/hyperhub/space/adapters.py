"""Adapters as a space declares them (`adapters:` in the space file), and the file of the
devices accepted from them — as data. The adapters themselves run in `hyperhub.adapters`.

    adapters:
      - id: zigbee                  # unique in the space, [a-z0-9_]+
        kind: zigbee2mqtt           # zigbee2mqtt | owntracks | ha_discovery
        broker: mqtt://127.0.0.1:1883   # optional: the foreign system's broker; default the hub's
        accept: ask                 # ask (default): found devices wait in pending; all: join
        base_topic: zigbee2mqtt     # the kind's own options (see each `…Options`)

Devices accepted from an adapter are kept in `<space file stem>.adapters.yaml` beside the
space file, a plain YAML file a person may edit: ordinary device entries (as in the space
file) with two more keys, `adapter` (its id) and `external` (the device's id in the foreign
system); their `properties` list is exact (a light that cannot dim lists no `brightness`).
The space loader reads it with the space file.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from hyperhub.topic_names import foreign_topic_problem

# a topic level of a foreign system: no wildcards, no empty levels, no leading "$"
_TOPIC = re.compile(r"^(?!\$)[^#+/\x00]+(?:/[^#+/\x00]+)*$")
ADAPTER_KEYS = ("id", "kind", "broker", "accept", "timeout_s")  # the options come on top
ACCEPTED_KEYS = ("adapter", "external")  # an accepted device's keys beyond a device's


def _topic(value: str) -> str:
    if not _TOPIC.match(value):
        raise ValueError(
            f"{value!r} is not a topic prefix (levels separated by /, no # or +, no empty level)"
        )
    return value


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Zigbee2MqttOptions(_Options):
    """`kind: zigbee2mqtt`: Zigbee2MQTT's own MQTT topics."""

    base_topic: str = "zigbee2mqtt"  # Zigbee2MQTT's `mqtt.base_topic`

    _base = field_validator("base_topic")(_topic)


class OwnTracksOptions(_Options):
    """`kind: owntracks`: phones running OwnTracks in MQTT mode (and HTTP mode via the API)."""

    topic: str = "owntracks"  # OwnTracks publishes on <topic>/<user>/<device>
    # "<user>/<device>" → the id of a phone of the space it updates (else it is a new phone)
    users: dict[str, str] = Field(default_factory=dict)

    _topic = field_validator("topic")(_topic)


class HaDiscoveryOptions(_Options):
    """`kind: ha_discovery`: Home Assistant's MQTT discovery, both ways.

    Consuming (`discover`), devices that announce themselves under `prefix` are found; their
    state and command topics are their own (`tasmota/…`, `esphome/…`): on the hub's broker
    the adapter may use only the `topics` listed (and `prefix`). Publishing (`publish`), every
    HyperHub device is announced under `prefix`, its state and commands on `publish_topic`.
    """

    prefix: str = "homeassistant"  # Home Assistant's `discovery_prefix`
    discover: bool = True  # find the devices announced under `prefix`
    publish: bool = False  # announce HyperHub's devices to Home Assistant
    publish_topic: str = "hyperhub-ha"  # where published devices' state and commands go
    allow_risky: bool = False  # Home Assistant may unlock, open the garage … (else refused)
    # the foreign devices' own topic filters, on the hub's broker (`tasmota/#`, `esphome/#`)
    topics: tuple[str, ...] = ()

    @field_validator("prefix", "publish_topic")
    @classmethod
    def _own(cls, value: str) -> str:
        why = foreign_topic_problem(_topic(value) + "/#")
        if why:
            raise ValueError(why)
        return value

    @field_validator("topics")
    @classmethod
    def _filters(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for topic in value:
            why = foreign_topic_problem(topic)
            if why:
                raise ValueError(why)
        return value


# what people call each kind's system
KIND_NAMES = {
    "zigbee2mqtt": "Zigbee2MQTT",
    "owntracks": "OwnTracks",
    "ha_discovery": "Home Assistant discovery",
}
ADAPTER_KINDS: dict[str, type[_Options]] = {
    "zigbee2mqtt": Zigbee2MqttOptions,
    "owntracks": OwnTracksOptions,
    "ha_discovery": HaDiscoveryOptions,
}


@dataclass(frozen=True)
class AdapterDecl:
    """One adapter of a space: where it connects, whether found devices join at once, and
    its kind's options."""

    id: str
    kind: str
    options: Any  # the kind's `…Options`
    broker: str | None = None  # a URL; None: the hub's own broker
    accept: Literal["ask", "all"] = "ask"
    timeout_s: float = 5.0  # how long a command waits for the device to report its new state
    line: int = 0  # where the space file declares it


def foreign_topics(decl: AdapterDecl) -> tuple[str, ...]:
    """The topics of the adapter's system, which its login may use on the hub's broker."""
    options = decl.options
    if decl.kind == "zigbee2mqtt":
        return (f"{options.base_topic}/#",)
    if decl.kind == "owntracks":
        return (f"{options.topic}/#",)
    if decl.kind == "ha_discovery":
        return (f"{options.prefix}/#", f"{options.publish_topic}/#", *options.topics)
    return ()


@dataclass(frozen=True)
class BridgeAccess:
    """What a login of the adapter's system may do on the hub's broker (`hyperhub adapters
    login`): `topics` read and write, `reads` only read, `writes` only write."""

    suffix: str  # the login is `<adapter id>_<suffix>`
    topics: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()


def bridge_access(decl: AdapterDecl) -> dict[str, BridgeAccess]:
    """The logins the adapter's system may have on the hub's broker, by name ("bridge" …).

    Zigbee2MQTT and OwnTracks: one, `<id>_bridge`, its own topics. Home Assistant discovery:
    `<id>_bridge` for Home Assistant — the devices' topics, the discovery prefix to read,
    `<prefix>/status` to say it is online, HyperHub's published devices to read and only
    their command topics to write — and `<id>_devices` for the firmware of the devices — its
    topics, the discovery prefix to announce itself (HyperHub's own configs there are put
    back if anyone changes them), nothing of what HyperHub publishes for Home Assistant."""
    if decl.kind != "ha_discovery":
        return {"bridge": BridgeAccess("bridge", foreign_topics(decl))}
    o = decl.options
    prefix, base = o.prefix, o.publish_topic
    return {
        "bridge": BridgeAccess(
            "bridge", tuple(o.topics),  # Home Assistant
            reads=(f"{prefix}/#", f"{base}/#"),
            writes=(f"{prefix}/status", f"{base}/+/+/set/+", f"{base}/+/+/call"),
        ),
        "devices": BridgeAccess(
            "devices", tuple(o.topics),  # the devices' firmware (ESPHome, Tasmota …)
            reads=(f"{prefix}/status",), writes=(f"{prefix}/#",),
        ),
    }  # fmt: skip


def accepted_path(space_file: Path) -> Path:
    """The file of the devices accepted from adapters, beside the space file."""
    return space_file.with_name(f"{space_file.stem}.adapters.yaml")


def broker_problem(url: Any) -> str | None:
    """Why `url` is not a broker URL (mqtt[s]://[user[:password]@]host[:port]), or None."""
    if not isinstance(url, str) or not url.strip():
        return f"`broker` must be a URL such as mqtt://192.168.1.5:1883, not {url!r}"
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError as exc:
        return f"`broker` {url!r} is not a URL: {exc}"
    if parts.scheme not in ("mqtt", "mqtts"):
        return f"`broker` {url!r} must start with mqtt:// or mqtts://"
    if not parts.hostname:
        return f"`broker` {url!r} names no host"
    if port == 0:
        return f"`broker` {url!r}: port 0 is not a port"
    return None


def shown_broker(url: str) -> str:
    """An adapter's broker URL to show people: without its login (a password may hold `@`)."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def read_adapter(node: dict[str, Any], line: int) -> tuple[AdapterDecl | None, list[str]]:
    """One `adapters:` item (id already checked by the caller): the declaration, or the
    problems with it (each a message naming the key)."""
    problems: list[str] = []
    ident = str(node.get("id"))
    kind = node.get("kind")
    if kind not in ADAPTER_KINDS:
        problems.append(
            f"adapter {ident}: unknown kind {kind!r}; kinds: {', '.join(ADAPTER_KINDS)}"
        )
        return None, problems
    broker = node.get("broker")
    if broker is not None:
        why = broker_problem(broker)
        if why:
            problems.append(f"adapter {ident}: {why}")
    accept = node.get("accept", "ask")
    if accept not in ("ask", "all"):
        problems.append(f"adapter {ident}: `accept` must be ask or all, not {accept!r}")
    timeout = node.get("timeout_s", 5.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 0 < timeout <= 60:
        problems.append(f"adapter {ident}: `timeout_s` must be a number of seconds from 0 to 60")
        timeout = 5.0
    given = {k: v for k, v in node.items() if k not in ADAPTER_KEYS}
    options: Any = None
    try:
        options = ADAPTER_KINDS[str(kind)].model_validate(given)
    except ValidationError as exc:
        for err in exc.errors():
            where = ".".join(str(p) for p in err["loc"])
            if err["type"] == "extra_forbidden":
                known = ", ".join([*ADAPTER_KEYS, *ADAPTER_KINDS[str(kind)].model_fields])
                problems.append(
                    f"adapter {ident}: unknown key {where!r} for a {kind} adapter; "
                    f"expected one of: {known}"
                )
            else:
                msg = str(err["msg"]).removeprefix("Value error, ")
                problems.append(f"adapter {ident}: `{where}`: {msg}")
    if problems:
        return None, problems
    decl = AdapterDecl(
        ident,
        str(kind),
        options,
        None if broker is None else str(broker).strip(),
        accept,
        float(timeout),
        line,
    )
    return decl, []
