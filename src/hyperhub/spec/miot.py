"""Xiaomi MIoT-Spec instances → HyperHub device types, with a two-way value mapping.

A MIoT instance (what `miot-spec.org/miot-spec-v2/instance?type=<urn>` serves) lists services,
each holding properties, actions and events addressed by iids. `load_miot_instance` picks the
HyperHub base type from the device URN, maps known service properties onto the vocabulary
(converting units), keeps everything else as extra `<service>_<property>` properties, and returns
a `MiotMapping` that translates values both ways for an adapter.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec.model import (
    ActionSpec,
    ArgSpec,
    DeviceType,
    Effect,
    EventSpec,
    Process,
    PropertySpec,
    ValueSpec,
)
from hyperhub.spec.registry import builtin_types, parse_type

# --- value conversions: each has decode (MIoT raw → HyperHub) and encode (back) ---------------


@dataclass(frozen=True)
class Same:
    """No conversion."""

    def decode(self, raw: Any) -> Any:
        return raw

    def encode(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Linear:
    """HyperHub value = raw * scale + offset (unit conversion, rescaling to percent)."""

    scale: float = 1.0
    offset: float = 0.0
    raw_int: bool = False  # the MIoT format is an integer
    whole: bool = False  # the HyperHub kind is int

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a number")
        value = raw * self.scale + self.offset
        return round(value) if self.whole else round(value, 2)

    def encode(self, value: Any) -> Any:
        raw = (value - self.offset) / self.scale
        return round(raw) if self.raw_int else round(raw, 2)


@dataclass(frozen=True)
class EnumTable:
    """A MIoT value-list ↔ HyperHub values (enum strings, or booleans for flags)."""

    pairs: tuple[tuple[Any, Any], ...]  # (raw, HyperHub value)

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(v for _, v in self.pairs))

    def decode(self, raw: Any) -> Any:
        for r, v in self.pairs:
            if r == raw:
                return v
        raise ValueError(f"raw {raw!r} is not in the value-list {[r for r, _ in self.pairs]}")

    def encode(self, value: Any) -> Any:
        for r, v in self.pairs:
            if v == value and type(v) is type(value):
                return r
        raise ValueError(f"{value!r} has no MIoT value")


@dataclass(frozen=True)
class Levels:
    """Ordered fan levels ↔ a speed in percent: level i of n is i * 100 / n."""

    raws: tuple[Any, ...]

    def decode(self, raw: Any) -> Any:
        if raw not in self.raws:
            raise ValueError(f"raw {raw!r} is not one of the levels {list(self.raws)}")
        return round((self.raws.index(raw) + 1) * 100 / len(self.raws))

    def encode(self, value: Any) -> Any:
        n = len(self.raws)
        return self.raws[min(n, max(1, math.ceil(value * n / 100))) - 1]


@dataclass(frozen=True)
class Rgb:
    """A MIoT 24-bit RGB integer ↔ "#rrggbb"."""

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 0xFFFFFF:
            raise ValueError(f"{raw!r} is not a 24-bit RGB integer")
        return f"#{raw:06x}"

    def encode(self, value: Any) -> Any:
        return int(value[1:], 16)


Codec = Same | Linear | EnumTable | Levels | Rgb


# --- the mapping an adapter uses --------------------------------------------------------------


class MiotWrite(NamedTuple):
    """Set MIoT property (siid, piid) to a raw value."""

    siid: int
    piid: int
    value: Any


class MiotCall(NamedTuple):
    """Call MIoT action (siid, aiid) with raw `in` values, in the action's order."""

    siid: int
    aiid: int
    args: tuple[Any, ...]


@dataclass(frozen=True)
class MiotPropertyLink:
    """One MIoT property under a HyperHub name, with its value conversion."""

    siid: int
    piid: int
    name: str
    urn: str
    codec: Codec

    def to_hyperhub(self, raw: Any, where: str) -> Any:
        try:
            return self.codec.decode(raw)
        except (ValueError, TypeError) as exc:
            raise ValueNotAllowed(f"{where}: {exc}") from None

    def to_miot(self, value: Any) -> Any:
        return self.codec.encode(value)


@dataclass(frozen=True)
class MiotActionLink:
    """A HyperHub action as a MIoT action (`aiid`, `ins`) or as a fixed write (`piid`, `value`)."""

    name: str
    siid: int
    aiid: int | None = None
    ins: tuple[MiotPropertyLink, ...] = ()
    piid: int | None = None
    value: Any = None


@dataclass(frozen=True)
class MiotEventLink:
    """A MIoT event under a HyperHub event name; `args` are its argument properties."""

    name: str
    siid: int
    eiid: int
    args: tuple[MiotPropertyLink, ...] = ()


@dataclass(frozen=True)
class MiotMapping:
    """(siid, piid) ↔ HyperHub names and values, for one MIoT device type."""

    device_type: DeviceType
    reads: dict[tuple[int, int], MiotPropertyLink]  # what a readable MIoT property means
    writes: dict[str, MiotPropertyLink]  # where a HyperHub property write goes
    actions: dict[str, MiotActionLink]
    events: dict[tuple[int, int], MiotEventLink]

    def to_hyperhub(self, siid: int, piid: int, raw: Any) -> tuple[str, Any]:
        """The HyperHub (name, value) of a raw MIoT property value."""
        link = self.reads.get((siid, piid))
        if link is None:
            known = ", ".join(f"{s}.{p}" for s, p in self.reads) or "none"
            raise SpecError(
                f"{self.device_type.origin}: no readable property siid={siid} piid={piid}; "
                f"readable (siid.piid): {known}"
            )
        where = f"{self.device_type.type}.{link.name} (siid={siid} piid={piid})"
        return link.name, self.device_type.prop(link.name).check(
            link.to_hyperhub(raw, where), where
        )

    def to_miot(self, name: str, value: Any) -> MiotWrite:
        """The MIoT (siid, piid, raw) write for setting HyperHub property `name` to `value`."""
        value = self.device_type.check_write(name, value)
        link = self.writes[name]  # every writable property has a write link
        return MiotWrite(link.siid, link.piid, link.to_miot(value))

    def call(self, name: str, args: dict[str, Any] | None = None) -> MiotCall | MiotWrite:
        """The MIoT command for HyperHub action `name`; `SpecError` if it has none."""
        args = self.device_type.check_args(name, args or {})
        link = self.actions.get(name)
        if link is None:
            raise SpecError(
                f"{self.device_type.type}.{name} has no MIoT command; apply its effects as writes"
            )
        if link.aiid is None:
            return MiotWrite(link.siid, link.piid or 0, link.value)
        return MiotCall(link.siid, link.aiid, tuple(a.to_miot(args[a.name]) for a in link.ins))

    def event(
        self, siid: int, eiid: int, arguments: Iterable[dict[str, Any]] = ()
    ) -> tuple[str, dict[str, Any]]:
        """The HyperHub (name, args) of a MIoT event; `arguments` as [{"piid": …, "value": …}]."""
        link = self.events.get((siid, eiid))
        if link is None:
            raise SpecError(f"{self.device_type.origin}: no event siid={siid} eiid={eiid}")
        by_piid = {a.piid: a for a in link.args}
        out: dict[str, Any] = {}
        for item in arguments:
            arg = by_piid.get(item.get("piid"))
            if arg is None:
                raise SpecError(f"event {link.name}: unknown argument piid={item.get('piid')}")
            out[arg.name] = arg.to_hyperhub(item.get("value"), f"event {link.name}({arg.name})")
        return link.name, out


@dataclass(frozen=True)
class MiotType:
    """A loaded MIoT instance: the HyperHub type, its base, and the value mapping."""

    urn: str
    base: str | None  # the built-in type it extends, or None for an unknown kind of device
    device_type: DeviceType
    mapping: MiotMapping

    @property
    def model(self) -> str:
        """The model part of the URN, e.g. "yeelink-ceiling4"."""
        parts = self.urn.split(":")
        return parts[5] if len(parts) > 5 else ""


# --- the parsed instance ----------------------------------------------------------------------

_FORMATS = {"bool": "bool", "float": "float", "string": "str", "hex": "str"} | {
    f: "int" for f in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64")
}
_UNITS = {
    "percentage": "%", "celsius": "°C", "fahrenheit": "°F", "kelvin": "K", "lux": "lx",
    "watt": "W", "kilowatt": "kW", "kWh": "kWh", "seconds": "s", "minutes": "min", "hours": "h",
    "days": "d", "μg/m3": "µg/m³", "mg/m3": "mg/m³", "ppm": "ppm", "pascal": "Pa",
    "arcdegrees": "°", "metre": "m", "meter": "m", "volt": "V", "ampere": "A", "mA": "mA",
}  # fmt: skip


@dataclass(frozen=True)
class _Prop:
    siid: int
    piid: int
    service: str  # MIoT service name, e.g. "air-conditioner"
    primary: bool  # first service of that name in the instance
    name: str  # MIoT property name, e.g. "target-temperature"
    urn: str
    description: str
    kind: str  # bool / int / float / str
    access: frozenset[str]
    unit: str | None
    range: tuple[float, float] | None
    choices: tuple[tuple[Any, str], ...] | None  # the value-list: (raw, description)

    @property
    def readable(self) -> bool:
        return bool(self.access & {"read", "notify"})

    @property
    def writable(self) -> bool:
        return "write" in self.access


@dataclass(frozen=True)
class _Item:  # an action or an event
    siid: int
    iid: int
    service: str
    primary: bool
    name: str
    description: str
    piids: tuple[int, ...]  # `in` of an action, `arguments` of an event


@dataclass(frozen=True)
class _Instance:
    urn: str
    kind: str  # the device kind in the URN, e.g. "air-conditioner"
    description: str
    services: tuple[str, ...]
    props: tuple[_Prop, ...]
    actions: tuple[_Item, ...]
    events: tuple[_Item, ...]


def _read(doc: dict | str | Path) -> tuple[Any, str]:
    if isinstance(doc, dict):
        return doc, "MIoT instance"
    if isinstance(doc, str) and doc.lstrip().startswith(("{", "[")):
        source, text = "MIoT instance", doc
    elif isinstance(doc, str | Path):
        source = str(doc)
        try:
            text = Path(doc).read_text(encoding="utf-8")
        except OSError as exc:
            raise SpecError(f"{source}: cannot read: {exc.strerror}") from None
    else:
        return doc, "MIoT instance"
    try:
        return json.loads(text), source
    except json.JSONDecodeError as exc:
        raise SpecError(f"{source}: not valid JSON: {exc.msg} at line {exc.lineno}") from None


def _urn_name(urn: Any, kind: str, where: str) -> str:
    parts = urn.split(":") if isinstance(urn, str) else []
    if len(parts) < 4 or parts[0] != "urn" or parts[2] != kind or not parts[3]:
        shape = f"urn:<namespace>:{kind}:<name>:…"
        raise SpecError(f"{where}: {urn!r} is not a MIoT {kind} URN ({shape})")
    return parts[3]


def _iid(entry: dict, where: str) -> int:
    iid = entry.get("iid")
    if not isinstance(iid, int) or isinstance(iid, bool) or iid < 0:
        raise SpecError(f"{where}.iid: {iid!r} is not an instance id (a whole number)")
    return iid


def _entries(parent: dict, key: str, where: str) -> list[dict]:
    items = parent.get(key) or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise SpecError(f"{where}.{key}: must be a list of objects")
    return items


def _parse(data: dict, source: str) -> _Instance:
    urn = data.get("type")
    kind = _urn_name(urn, "device", f"{source}: type")
    services = _entries(data, "services", source)
    if not services:
        raise SpecError(f"{source}: services: the instance has no services")
    props: list[_Prop] = []
    actions: list[_Item] = []
    events: list[_Item] = []
    siids: set[int] = set()
    names: list[str] = []
    for i, srv in enumerate(services):
        where = f"{source}: services[{i}]"
        siid, sname = _iid(srv, where), _urn_name(srv.get("type"), "service", f"{where}.type")
        if siid in siids:
            raise SpecError(f"{where}.iid: siid {siid} is used twice")
        siids.add(siid)
        primary = sname not in names
        names.append(sname)
        piids: set[int] = set()
        for j, raw in enumerate(_entries(srv, "properties", where)):
            prop = _property(raw, siid, sname, primary, f"{where}.properties[{j}]")
            if prop.piid in piids:
                raise SpecError(f"{where}.properties[{j}].iid: piid {prop.piid} is used twice")
            piids.add(prop.piid)
            props.append(prop)
        for key, out, args in (("actions", actions, "in"), ("events", events, "arguments")):
            for j, raw in enumerate(_entries(srv, key, where)):
                item_where = f"{where}.{key}[{j}]"
                name = _urn_name(raw.get("type"), key[:-1], f"{item_where}.type")
                refs = raw.get(args) or []
                if not isinstance(refs, list) or not all(r in piids for r in refs):
                    raise SpecError(f"{item_where}.{args}: {refs!r} must be piids of this service")
                desc = str(raw.get("description") or "")
                iid = _iid(raw, item_where)
                out.append(_Item(siid, iid, sname, primary, name, desc, tuple(refs)))
    return _Instance(
        urn,
        kind,
        str(data.get("description") or ""),
        tuple(names),
        tuple(props),
        tuple(actions),
        tuple(events),
    )


def _property(raw: dict, siid: int, service: str, primary: bool, where: str) -> _Prop:
    piid = _iid(raw, where)
    name = _urn_name(raw.get("type"), "property", f"{where}.type")
    fmt = raw.get("format")
    if fmt not in _FORMATS:
        known = ", ".join(_FORMATS)
        raise SpecError(f"{where}.format: unknown format {fmt!r}; expected one of {known}")
    access = raw.get("access") or []
    if not isinstance(access, list) or not all(isinstance(a, str) for a in access):
        raise SpecError(f'{where}.access: {access!r} must be a list like ["read", "write"]')
    unit = raw.get("unit")
    unit = None if unit in (None, "", "none", "null") else str(unit)
    rng = raw.get("value-range")
    if rng is not None:
        nums = (
            isinstance(rng, list)
            and len(rng) in (2, 3)
            and all(isinstance(x, int | float) and not isinstance(x, bool) for x in rng)
        )
        if not nums or rng[0] > rng[1]:
            raise SpecError(f"{where}.value-range: {rng!r} must be [min, max, step], min <= max")
        rng = (rng[0], rng[1])
    choices = raw.get("value-list")
    if choices is not None:
        if not isinstance(choices, list) or not all(
            isinstance(c, dict) and isinstance(c.get("value"), int | float) for c in choices
        ):
            raise SpecError(f"{where}.value-list: each entry needs a numeric `value`")
        choices = tuple((c["value"], str(c.get("description") or "")) for c in choices) or None
    return _Prop(
        siid,
        piid,
        service,
        primary,
        name,
        raw["type"],
        str(raw.get("description") or ""),
        _FORMATS[fmt],
        frozenset(access),
        unit,
        rng,
        choices,
    )


# --- what maps onto the vocabulary: data, one rule a line --------------------------------------


def _snake(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _slugs(choices: tuple[tuple[Any, str], ...]) -> list[str]:
    """Enum values from value-list descriptions: lowercased, unique (raw appended on clashes)."""
    out: list[str] = []
    for raw, desc in choices:
        slug = re.sub(r"[\s\-/]+", "_", desc.strip().lower()) or str(raw)
        out.append(f"{slug}_{raw}" if slug in out else slug)
    return out


class _Fit(NamedTuple):
    codec: Codec
    spec: dict[str, Any]  # ValueSpec fields of the HyperHub side (min/max or values)


_Fitter = Callable[[_Prop, str], "_Fit | None"]  # (MIoT property, HyperHub kind) → fit or None


def _flag(p: _Prop, kind: str) -> _Fit | None:
    return _Fit(Same(), {}) if p.kind == "bool" else None


def _flag_list(true_words: set[str], false_words: set[str]) -> _Fitter:
    def fit(p: _Prop, kind: str) -> _Fit | None:
        if p.kind == "bool" or not p.choices:
            return _flag(p, kind)
        slugs = zip((raw for raw, _ in p.choices), _slugs(p.choices), strict=True)
        pairs = [(raw, s in true_words) for raw, s in slugs if s in true_words | false_words]
        return _Fit(EnumTable(tuple(pairs)), {}) if {v for _, v in pairs} == {True, False} else None

    return fit


def _numeric(units: dict[str | None, tuple[float, float]]) -> _Fitter:
    """A number in one of `units` (MIoT unit → scale, offset to the HyperHub unit)."""

    def fit(p: _Prop, kind: str) -> _Fit | None:
        if p.kind not in ("int", "float") or p.choices or p.unit not in units:
            return None
        scale, offset = units[p.unit]
        codec = Linear(scale, offset, raw_int=p.kind == "int", whole=kind == "int")
        spec = {"min": codec.decode(p.range[0]), "max": codec.decode(p.range[1])} if p.range else {}
        return _Fit(codec, spec)

    return fit


def _percent(p: _Prop, kind: str) -> _Fit | None:
    top = p.range[1] if p.range else 100
    if p.unit not in (None, "percentage") or top <= 0:
        return None
    scale = 1.0 if p.unit == "percentage" or top == 100 else 100 / top
    return _numeric({p.unit: (scale, 0.0)})(p, kind)


def _speed(p: _Prop, kind: str) -> _Fit | None:
    if p.kind == "int" and p.choices:
        return _Fit(Levels(tuple(_raws(p))), {"min": 0, "max": 100})
    if p.kind == "int" and p.range and p.unit is None and p.range[1] - p.range[0] < 10:
        levels = tuple(range(int(p.range[0]), int(p.range[1]) + 1))
        return _Fit(Levels(levels), {"min": 0, "max": 100})
    return _percent(p, kind)


def _enum(synonyms: dict[str, str]) -> _Fitter:
    """A value-list as an enum: descriptions lowercased, known synonyms made canonical."""

    def fit(p: _Prop, kind: str) -> _Fit | None:
        if p.kind != "int" or not p.choices:
            return None
        raws, slugs = [raw for raw, _ in p.choices], _slugs(p.choices)
        names = [synonyms.get(s, s) for s in slugs]
        if p.writable and len(set(names)) < len(names):
            names = slugs  # a write must pick one raw value: keep the device's own words
        table = EnumTable(tuple(zip(raws, names, strict=True)))
        return _Fit(table, {"values": table.values})

    return fit


def _rgb(p: _Prop, kind: str) -> _Fit | None:
    return _Fit(Rgb(), {}) if p.kind == "int" and not p.choices else None


_CELSIUS = _numeric(
    {None: (1, 0), "celsius": (1, 0), "fahrenheit": (5 / 9, -160 / 9), "kelvin": (1, -273.15)}
)
_KELVIN = _numeric({None: (1, 0), "kelvin": (1, 0)})
_WATT = _numeric({None: (1, 0), "watt": (1, 0), "kilowatt": (1000, 0)})
_LUX = _numeric({None: (1, 0), "lux": (1, 0)})
_DENSITY = _numeric({None: (1, 0), "μg/m3": (1, 0)})
# value-list words (lowercased) → the vocabulary's enum values; other words are kept as they are
_MODES = {
    "cooling": "cool", "heating": "heat", "warm": "heat", "automatic": "auto",
    "dehumidify": "dry", "dehumidification": "dry", "fan_only": "fan", "wind": "fan",
    "ventilate": "fan", "air_supply": "fan",
}  # fmt: skip
_FAN_SPEEDS = {
    "level1": "low", "level_1": "low", "middle": "medium", "mid": "medium",
    "level2": "medium", "level_2": "medium", "level3": "high", "level_3": "high",
}  # fmt: skip
_VACUUM = {
    "sweeping": "cleaning", "mopping": "cleaning", "sweeping_and_mopping": "cleaning",
    "busy": "cleaning", "pause": "paused", "charging": "docked", "charging_completed": "docked",
    "go_charging": "returning", "go_home": "returning",
}  # fmt: skip
_LOCKED = _flag_list({"locked", "lock"}, {"unlocked", "unlock"})
_PLAYING = _flag_list({"playing", "play"}, {"paused", "pause", "stopped", "stop", "idle"})
_SENSORS = "environment temperature-humidity-sensor air-monitor"


class _Rule(NamedTuple):
    bases: str  # space-separated HyperHub base types; "*" for any
    services: str  # space-separated MIoT services; "" for the base type's main services
    prop: str  # MIoT property name
    name: str  # HyperHub property name
    fit: _Fitter


_RULES = (
    _Rule("light switch plug climate fan air_purifier media_player", "", "on", "on", _flag),
    _Rule("light", "", "brightness", "brightness", _percent),
    _Rule("light", "", "color-temperature", "color_temp", _KELVIN),
    _Rule("light", "", "color", "color", _rgb),
    _Rule("plug switch", "switch outlet power-consumption", "electric-power", "power_w", _WATT),
    _Rule("climate", "", "mode", "mode", _enum(_MODES)),
    _Rule("climate", "", "target-temperature", "target_temp", _CELSIUS),
    _Rule("climate", "", "temperature", "current_temp", _CELSIUS),
    _Rule("climate", "environment", "temperature", "current_temp", _CELSIUS),
    _Rule("climate", "fan-control", "fan-level", "fan_speed", _enum(_FAN_SPEEDS)),
    _Rule("fan air_purifier", "", "speed-level", "speed", _percent),
    _Rule("fan air_purifier", "", "fan-level", "speed", _speed),
    _Rule("fan", "", "horizontal-swing", "oscillate", _flag),
    _Rule("cover", "", "current-position", "position", _percent),
    _Rule("cover", "", "target-position", "position", _percent),
    _Rule("lock", "", "status", "locked", _LOCKED),
    _Rule("lock", "", "lock-state", "locked", _LOCKED),
    _Rule("vacuum", "", "status", "status", _enum(_VACUUM)),
    _Rule("media_player", "", "volume", "volume", _percent),
    _Rule("media_player", "", "mute", "muted", _flag),
    _Rule("media_player", "play-control", "playing-state", "playing", _PLAYING),
    _Rule("*", "battery", "battery-level", "battery", _percent),
    _Rule("*", _SENSORS, "temperature", "temperature", _CELSIUS),
    _Rule("*", _SENSORS, "relative-humidity", "humidity", _percent),
    _Rule("*", f"{_SENSORS} air-purifier", "pm2.5-density", "pm25", _DENSITY),
    _Rule("*", "motion-sensor", "motion-state", "motion", _flag),
    _Rule("*", "magnet-sensor", "contact-state", "contact", _flag),  # MIoT true = contact = closed
    _Rule("*", "illumination-sensor environment", "illumination", "illuminance", _LUX),
)  # fmt: skip

# MIoT device kind (or main service) → HyperHub base type; the main services of a base are
# the kinds that name it, plus those listed in _MORE_MAIN.
_BASE_OF = {
    "light": "light", "outlet": "plug", "switch": "switch", "air-conditioner": "climate",
    "heater": "climate", "thermostat": "climate", "fan": "fan", "air-purifier": "air_purifier",
    "curtain": "cover", "window-opener": "cover", "motor-controller": "cover", "airer": "cover",
    "lock": "lock", "vacuum": "vacuum", "speaker": "media_player", "television": "media_player",
    "temperature-humidity-sensor": "sensor", "motion-sensor": "sensor", "magnet-sensor": "sensor",
    "illumination-sensor": "sensor", "air-monitor": "sensor",
}  # fmt: skip
_MORE_MAIN = {"plug": {"switch"}}
# (base type, MIoT action) → HyperHub action
_ACTIONS = {
    ("*", "toggle"): "toggle", ("lock", "lock"): "lock", ("lock", "unlock"): "unlock",
    ("vacuum", "start-sweep"): "start", ("vacuum", "start-clean"): "start",
    ("vacuum", "pause-sweeping"): "pause", ("vacuum", "pause"): "pause",
    ("vacuum", "start-charge"): "dock", ("vacuum", "stop-and-gocharge"): "dock",
    ("media_player", "play"): "play", ("media_player", "pause"): "pause",
    ("media_player", "next"): "next", ("media_player", "previous"): "previous",
}  # fmt: skip
# a cover's `motor-control` value-list words → HyperHub action
_MOTOR = {"open": "open", "up": "open", "rise": "open", "close": "close", "down": "close",
          "pause": "stop", "stop": "stop"}  # fmt: skip


def _is_main(base: str, service: str) -> bool:
    return _BASE_OF.get(service) == base or service in _MORE_MAIN.get(base, ())


def _rule_for(p: _Prop, base: str | None) -> tuple[str, _Fit] | None:
    if not p.primary:
        return None
    for rule in _RULES:
        if rule.prop != p.name or (rule.bases != "*" and base not in rule.bases.split()):
            continue
        listed = rule.services.split()
        if not (p.service in listed if listed else _is_main(base or "", p.service)):
            continue
        fit = rule.fit(p, _vocabulary(base)[rule.name].kind)
        if fit:
            return rule.name, fit
    return None


@cache
def _vocabulary(base: str | None) -> dict[str, PropertySpec]:
    """The property specs of `base`, falling back to the same name in other built-in types."""
    out: dict[str, PropertySpec] = {}
    types = builtin_types()
    for dtype in sorted(types, key=lambda t: (t.type != base, t.type)):
        for name, spec in dtype.properties.items():
            out.setdefault(name, spec)
    return out


# --- building the type ------------------------------------------------------------------------


def load_miot_instance(doc: dict | str | Path, *, type_name: str | None = None) -> MiotType:
    """Load a MIoT-Spec instance (dict, JSON text, or a file path) as a HyperHub type + mapping."""
    data, source = _read(doc)
    if not isinstance(data, dict):
        got = type(data).__name__
        raise SpecError(f"{source}: a MIoT instance must be a JSON object, not {got}")
    inst = _parse(data, source)
    base = _BASE_OF.get(inst.kind) or next(
        (_BASE_OF[s] for s in inst.services if s in _BASE_OF), None
    )
    return _Builder(inst, base).build(type_name or base or _snake(inst.kind))


class _Builder:
    """Assembles properties, actions, events and the mapping from a parsed instance."""

    def __init__(self, inst: _Instance, base: str | None) -> None:
        self.inst, self.base_name = inst, base
        self.base = builtin_types().get(base) if base else None
        self.props = {(p.siid, p.piid): p for p in inst.props if p.service != "device-information"}
        self.specs: dict[str, PropertySpec] = {}
        self.links: dict[tuple[int, int], MiotPropertyLink] = {}  # every property, own name
        self.reads: dict[tuple[int, int], MiotPropertyLink] = {}
        self.writes: dict[str, MiotPropertyLink] = {}

    def build(self, type_name: str) -> MiotType:
        done = self._canonical()
        motor = self._motor()
        if motor:
            done.add((motor.siid, motor.piid))
        self._extras(done)
        actions, action_links = self._actions(motor)
        events, event_links = self._events()
        simulation = self._simulation()
        for name, event in self._base_events(actions, simulation).items():
            events.setdefault(name, event)
        base = self.base
        data = {
            "type": type_name,
            "description": self.inst.description or (base.description if base else ""),
            "classes": base.classes if base else (),
            "properties": self.specs,
            "actions": actions,
            "events": events,
            "simulation": simulation,
        }
        dtype = parse_type(data, f"miot:{self.inst.urn}")
        mapping = MiotMapping(dtype, self.reads, self.writes, action_links, event_links)
        return MiotType(self.inst.urn, self.base_name, dtype, mapping)

    def _canonical(self) -> set[tuple[int, int]]:
        """Map vocabulary properties; return the (siid, piid) that need no extra of their own.

        When several MIoT properties map to one name (a cover's current- and target-position),
        the first readable one is read and the first writable one is written.
        """
        found: dict[str, list[tuple[_Prop, _Fit]]] = {}
        for p in self.props.values():
            if hit := _rule_for(p, self.base_name):
                found.setdefault(hit[0], []).append((p, hit[1]))
        done: set[tuple[int, int]] = set()
        for name, cands in found.items():
            reader = next((c for c in cands if c[0].readable), None)
            writer = next((c for c in cands if c[0].writable), None)
            source = reader or writer
            if source is None:
                continue
            vocab = _vocabulary(self.base_name)[name]
            spec = vocab.model_dump(exclude={"name", "vss"}, exclude_none=True)
            spec.update(source[1].spec, optional=False)
            spec["description"] = vocab.description or source[0].description
            spec["access"] = "rw" if writer and vocab.access == "rw" else "ro"
            self.specs[name] = _property_spec(name, spec)
            if reader:
                self.reads[_key(reader[0])] = self._link(reader[0], name, reader[1])
                done.add(_key(reader[0]))
            if writer and spec["access"] == "rw":
                self.writes[name] = self._link(writer[0], name, writer[1])
                if not writer[0].readable:
                    done.add(_key(writer[0]))
        return done

    def _motor(self) -> _Prop | None:
        """A cover's `motor-control` value-list, which carries its open/close/stop actions."""
        if self.base_name != "cover":
            return None
        for p in self.props.values():
            if p.name == "motor-control" and p.primary and p.choices and p.writable:
                return p if _is_main("cover", p.service) else None
        return None

    def _extras(self, done: set[tuple[int, int]]) -> None:
        """Keep every property not mapped (or consumed by an action) as the device gives it."""
        for key, p in self.props.items():
            if key in done:
                continue
            fit, spec = _extra_fit(p)
            link = self._link(p, self._name(p.service, p.siid, p.primary, p.name), fit)
            if not p.access:  # no access: only an action or event argument
                continue
            self.specs[link.name] = _property_spec(
                link.name, {**spec, "access": "rw" if p.writable else "ro"}
            )
            if p.readable:
                self.reads[key] = link
            if p.writable:
                self.writes[link.name] = link

    def _name(self, service: str, siid: int, primary: bool, item: str) -> str:
        return _own_name(service, siid, primary, item, {*self.specs, *self._link_names()})

    def _link_names(self) -> set[str]:
        return {link.name for link in self.links.values()}

    def _link(self, p: _Prop, name: str, fit: _Fit) -> MiotPropertyLink:
        link = MiotPropertyLink(p.siid, p.piid, name, p.urn, fit.codec)
        self.links.setdefault(_key(p), link)
        return link

    def _args(self, item: _Item) -> tuple[tuple[ArgSpec, ...], tuple[MiotPropertyLink, ...]]:
        """An action's `in` or an event's `arguments`, as arguments named like their property."""
        args, links = [], []
        for piid in item.piids:
            p = self.props[(item.siid, piid)]
            if _key(p) not in self.links:  # the motor-control value-list
                self._link(p, self._name(p.service, p.siid, p.primary, p.name), _extra_fit(p)[0])
            link = self.links[_key(p)]
            spec = self.specs.get(link.name) or _property_spec(link.name, _extra_fit(p)[1])
            fields = spec.model_dump(include=set(ValueSpec.model_fields), exclude_none=True)
            args.append(ArgSpec(name=link.name, **fields))
            links.append(link)
        return tuple(args), tuple(links)

    def _actions(self, motor: _Prop | None) -> tuple[dict[str, ActionSpec], dict]:
        specs: dict[str, ActionSpec] = {}
        links: dict[str, MiotActionLink] = {}
        base_actions = self.base.actions if self.base else {}
        for a in self.inst.actions:
            if a.service == "device-information":
                continue
            canon = _ACTIONS.get((self.base_name or "", a.name)) or _ACTIONS.get(("*", a.name))
            if canon not in base_actions or canon in specs or not a.primary:
                canon = None
            name = canon or _own_name(a.service, a.siid, a.primary, a.name, specs)
            args, ins = self._args(a)
            base = base_actions.get(name) if canon else None
            specs[name] = ActionSpec(
                name=name,
                description=(base.description if base else "") or a.description,
                args=args,
                risky=base.risky if base else None,
                effects=self._effects(base.effects) if base else (),
            )
            links[name] = MiotActionLink(name, a.siid, aiid=a.iid, ins=ins)
        words = _slugs(motor.choices or ()) if motor else []
        for raw, word in zip(_raws(motor), words, strict=True):
            name = _MOTOR.get(word)
            if motor and name in base_actions and name not in specs:
                effects = self._effects(base_actions[name].effects)
                specs[name] = base_actions[name].model_copy(update={"effects": effects})
                links[name] = MiotActionLink(name, motor.siid, piid=motor.piid, value=raw)
        for name, action in base_actions.items():  # no MIoT command: kept if effects are writes
            if (
                name not in specs
                and action.effects
                and all(_effect_ok(e, self.specs, set(), writes_only=True) for e in action.effects)
            ):
                specs[name] = action
        return specs, links

    def _effects(self, effects: tuple[Effect, ...]) -> tuple[Effect, ...]:
        events = set(self.base.events) if self.base else set()
        return tuple(e for e in effects if _effect_ok(e, self.specs, events, writes_only=False))

    def _events(self) -> tuple[dict[str, EventSpec], dict[tuple[int, int], MiotEventLink]]:
        specs: dict[str, EventSpec] = {}
        links: dict[tuple[int, int], MiotEventLink] = {}
        for e in self.inst.events:
            name = _own_name(e.service, e.siid, e.primary, e.name, specs)
            args, arg_links = self._args(e)
            specs[name] = EventSpec(name=name, description=e.description, args=args)
            links[(e.siid, e.iid)] = MiotEventLink(name, e.siid, e.iid, arg_links)
        return specs, links

    def _simulation(self) -> tuple[Process, ...]:
        """Base simulation processes that only touch what this device has."""
        events = set(self.base.events) if self.base else set()
        out = []
        for proc in self.base.simulation if self.base else ():
            names = [proc.property, proc.source, *proc.when]
            names += [proc.target] if isinstance(proc.target, str) else []
            ok = all(n is None or n in self.specs for n in names)
            ok = ok and all(_fits(self.specs[k], v) for k, v in proc.when.items())
            ok = ok and all(
                _effect_ok(e, self.specs, events, writes_only=False) for e in proc.on_reach
            )
            if ok:
                out.append(proc)
        return tuple(out)

    def _base_events(self, actions: dict[str, ActionSpec], sim: tuple[Process, ...]) -> dict:
        """Base events that the kept actions or simulation processes emit."""
        effects = [e for a in actions.values() for e in a.effects]
        effects += [e for proc in sim for e in proc.on_reach]
        wanted = {e.event for e in effects if e.event}
        return {n: ev for n, ev in (self.base.events if self.base else {}).items() if n in wanted}


def _key(p: _Prop) -> tuple[int, int]:
    return (p.siid, p.piid)


def _raws(p: _Prop | None) -> list[Any]:
    return [raw for raw, _ in (p.choices or ())] if p else []


def _own_name(service: str, siid: int, primary: bool, item: str, taken: Iterable[str]) -> str:
    """`<service>_<item>` (`<service>_<siid>_<item>` for a repeated service), snake_case."""
    stem = _snake(service) if primary else f"{_snake(service)}_{siid}"
    leaf = _snake(item)
    name = stem if leaf == _snake(service) else f"{stem}_{leaf}"
    name = name if name[:1].isalpha() else f"x_{name}"
    taken = set(taken)
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def _extra_fit(p: _Prop) -> tuple[_Fit, dict[str, Any]]:
    """A property outside the vocabulary: kept as the device gives it (value-lists as enums)."""
    spec: dict[str, Any] = {"kind": p.kind, "description": p.description}
    if p.choices and p.kind != "bool":
        table = EnumTable(tuple(zip(_raws(p), _slugs(p.choices), strict=True)))
        return _Fit(table, {}), {**spec, "kind": "enum", "values": table.values}
    if p.kind == "int" and p.unit == "rgb":
        return _Fit(Rgb(), {}), {**spec, "kind": "color"}
    if p.kind in ("int", "float"):
        spec["unit"] = _UNITS.get(p.unit or "", p.unit)
        if p.range:
            spec.update(min=p.range[0], max=p.range[1])
    return _Fit(Same(), {}), spec


def _property_spec(name: str, spec: dict[str, Any]) -> PropertySpec:
    """A PropertySpec; a vocabulary default the device's range excludes is moved inside it."""
    default = spec.get("default")
    prop = PropertySpec.model_validate({**spec, "name": name, "default": None})
    if default is not None and not _fits(prop, default):
        default = _fit_default(prop, default)
    return prop.model_copy(update={"default": default})


def _fit_default(prop: PropertySpec, default: Any) -> Any:
    if prop.kind == "enum":
        return (prop.values or (None,))[0]
    if prop.kind in ("int", "float") and isinstance(default, int | float):
        low = prop.min if prop.min is not None else default
        high = prop.max if prop.max is not None else default
        value = min(max(default, low), high)
        return int(value) if prop.kind == "int" else float(value)
    return None


def _fits(spec: ValueSpec, value: Any) -> bool:
    try:
        spec.check(value, "value")
    except ValueNotAllowed:
        return False
    return True


def _effect_ok(
    eff: Effect, props: dict[str, PropertySpec], events: set[str], *, writes_only: bool
) -> bool:
    """Whether an effect only touches what exists (and, with `writes_only`, only writes)."""
    if eff.event:
        return not writes_only and eff.event in events
    if eff.halt:
        return not writes_only and eff.halt in props
    if eff.toggle:
        spec = props.get(eff.toggle)
        return bool(spec and spec.kind == "bool" and (spec.writable or not writes_only))
    values = {**(eff.set or {}), **(eff.travel or {})}
    names = [*values, *(eff.set_arg or {})]
    if not all(n in props and (props[n].writable or not writes_only) for n in names):
        return False
    return all(_fits(props[n], v) for n, v in values.items())
