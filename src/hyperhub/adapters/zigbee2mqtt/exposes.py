"""Zigbee2MQTT devices onto the capability vocabulary, from their `definition.exposes` alone.

Zigbee2MQTT describes every device it supports by what it *exposes* (the retained
`<base>/bridge/devices` list): generic features (`binary`, `numeric`, `enum`, `text`,
`composite`, `list`) and specific groups of them (`light`, `switch`, `cover`, `lock`,
`climate`, `fan`), each with its `property` (the key in the device's state and in `/set`),
`access` bits (1 published, 2 settable, 4 gettable), units and ranges. The mapping reads only
those — never model names — so any of the thousands of devices Zigbee2MQTT supports maps the
same way as the few the tests hold.

One Zigbee2MQTT device becomes one HyperHub device, of the first of these it exposes:
climate, lock, cover, fan, light, switch (a plug when it also measures `power`), readings
(a sensor) or an `action` (a button, whose actions are `pressed` events). What else it
exposes becomes further devices where the vocabulary has a type for it (the light of a
ceiling fan: `<ieee>/light`; the endpoints of a two-gang switch: `<ieee>/l1`, `<ieee>/l2`).
Exposes the vocabulary has no word for (link quality, voltage, effects, schedules, settings)
are left out and listed in `Proposal.unmapped`, never an error.

Units are converted both ways: brightness 0–254 ↔ 0–100 %, colour temperature mireds ↔
kelvin, colour xy / hue-saturation ↔ "#rrggbb", `state` ON/OFF ↔ `on`, LOCK/UNLOCK ↔
`locked`, a thermostat's `system_mode` off ↔ `on`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from hyperhub.adapters.base import Proposal, place, slug
from hyperhub.adapters.colors import (
    hex_to_xy,
    hs_to_hex,
    kelvin_to_mired,
    mired_to_kelvin,
    xy_to_hex,
)
from hyperhub.errors import NotSupported

PUBLISHED, SETTABLE, GETTABLE = 1, 2, 4
_SLUG = re.compile(r"[^a-z0-9]+")

# HyperHub's enum values for a thermostat's Zigbee2MQTT `system_mode` (off is `on: false`)
_MODES = {"heat": "heat", "cool": "cool", "auto": "auto", "dry": "dry", "fan_only": "fan"}
_FAN_SPEEDS = {"low": 33, "medium": 66, "high": 100}  # a fan's `fan_mode` as a speed in %
_CLIMATE_FAN = {"auto": "auto", "low": "low", "medium": "medium", "high": "high"}
# a cover's class, from words of its definition's description (the vocabulary's classes)
_COVER_WORDS = (
    ("garage", "garage"),
    ("gate", "gate"),
    ("curtain", "curtain"),
    ("window", "window"),
    ("door", "door"),
)
# top-level readings: Zigbee2MQTT property → (HyperHub property, lowest, highest)
_READINGS: dict[str, tuple[str, float, float]] = {
    "temperature": ("temperature", -40, 80),
    "humidity": ("humidity", 0, 100),
    "pressure": ("pressure", 300, 1100),
    "illuminance": ("illuminance", 0, 100_000),
    "illuminance_lux": ("illuminance", 0, 100_000),
    "pm25": ("pm25", 0, 1000),
    "battery": ("battery", 0, 100),
}
_WHOLE = {"battery"}  # integer properties of the vocabulary (Zigbee2MQTT may say 74.5)
_BINARY_READINGS = {"occupancy": "motion", "presence": "motion", "contact": "contact"}


@dataclass(frozen=True)
class Binding:
    """One HyperHub property on one Zigbee2MQTT property: how values convert both ways.

    `kind`: "bool" (binary `on`/`off` values), "level" (0…`hi` ↔ 0…100 %), "kelvin"
    (mireds ↔ K), "color" (xy or hue/saturation ↔ "#rrggbb"), "enum" (`values`: HyperHub →
    Zigbee2MQTT), "speed" (an enum of speeds ↔ %), "number" (as is, kept in `lo`…`hi`),
    "power" (a thermostat's `system_mode`: off ↔ `on` false).
    """

    prop: str
    key: str
    kind: str
    settable: bool = False
    on: Any = None
    off: Any = None
    lo: float | None = None
    hi: float | None = None
    values: tuple[tuple[str, str], ...] = ()  # (HyperHub, Zigbee2MQTT)

    def read(self, value: Any) -> Any:
        """The HyperHub value of a reported Zigbee2MQTT value; None when it is not one."""
        kind = self.kind
        if kind == "bool":
            if value == self.on:
                return True
            return False if value == self.off else None
        if kind == "power":
            return None if not isinstance(value, str) else value != "off"
        if isinstance(value, bool):
            return None
        if kind == "level" and isinstance(value, int | float) and self.hi:
            return max(0, min(100, round(value * 100 / self.hi)))
        if kind == "kelvin" and isinstance(value, int | float) and value > 0:
            return max(2000, min(6500, mired_to_kelvin(value)))
        if kind in ("number", "whole") and isinstance(value, int | float):
            low = self.lo if self.lo is not None else value
            high = self.hi if self.hi is not None else value
            kept = max(low, min(high, float(value)))
            return round(kept) if kind == "whole" else round(kept, 2)
        if kind == "color" and isinstance(value, dict):
            x, y = value.get("x"), value.get("y")
            if isinstance(x, int | float) and isinstance(y, int | float):
                return xy_to_hex(float(x), float(y))
            hue, sat = value.get("hue"), value.get("saturation")
            if isinstance(hue, int | float) and isinstance(sat, int | float):
                return hs_to_hex(float(hue), float(sat))
            return None
        if kind in ("enum", "speed"):
            for ours, theirs in self.values:
                if value == theirs:
                    return _speed(ours) if kind == "speed" else ours
        return None

    def write(self, value: Any) -> dict[str, Any]:
        """The `/set` payload for a HyperHub value (already checked against the spec)."""
        kind = self.kind
        if kind == "bool":
            return {self.key: self.on if value else self.off}
        if kind == "power":
            if value:
                return {self.key: self.on}
            if self.off is None:
                raise NotSupported(f"this device cannot be switched off ({self.key})")
            return {self.key: self.off}
        if kind == "level":
            return {self.key: round(float(value) * float(self.hi or 254) / 100)}
        if kind == "kelvin":  # within the device's own range: it would clamp, and not confirm
            mired = kelvin_to_mired(float(value))
            if self.lo is not None and self.hi is not None:
                mired = int(max(self.lo, min(self.hi, mired)))
            return {self.key: mired}
        if kind == "color":
            x, y = hex_to_xy(str(value))
            return {self.key: {"x": x, "y": y}}
        if kind in ("number", "whole"):
            return {self.key: value}
        if kind == "speed":
            best = min(self.values, key=lambda v: abs(_speed(v[0]) - float(value)))
            return {self.key: best[1]}
        for ours, theirs in self.values:
            if ours == value:
                return {self.key: theirs}
        raise NotSupported(f"this device has no {self.prop} {value!r}")


def _speed(name: str) -> int:
    return _FAN_SPEEDS.get(name, 100)


def _features(expose: dict[str, Any]) -> list[dict[str, Any]]:
    found = expose.get("features")
    return [f for f in found if isinstance(f, dict)] if isinstance(found, list) else []


def _by_name(features: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {str(f.get("name")): f for f in features if f.get("property")}


def _settable(feature: dict[str, Any]) -> bool:
    access = feature.get("access")
    return isinstance(access, int) and bool(access & SETTABLE)


def _number(value: Any) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


class _Part:
    """One HyperHub device being made from some exposes."""

    def __init__(self, type_: str, suffix: str = "") -> None:
        self.type = type_
        self.suffix = suffix
        self.props: list[str] = []
        self.bindings: list[Binding] = []
        self.values: dict[str, tuple[str, ...]] = {}
        self.actions: dict[str, dict[str, Any]] = {}
        self.events: str | None = None
        self.cls: str | None = None

    def bind(self, binding: Binding) -> None:
        if binding.prop not in self.props:
            self.props.append(binding.prop)
            self.bindings.append(binding)


def _binary(prop: str, feature: dict[str, Any]) -> Binding:
    return Binding(
        prop,
        str(feature["property"]),
        "bool",
        _settable(feature),
        on=feature.get("value_on", True),
        off=feature.get("value_off", False),
    )


def _light(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    if "state" in f:
        part.bind(_binary("on", f["state"]))
    if "brightness" in f:
        hi = _number(f["brightness"].get("value_max")) or 254
        part.bind(
            Binding(
                "brightness",
                f["brightness"]["property"],
                "level",
                _settable(f["brightness"]),
                hi=hi,
            )
        )
    if "color_temp" in f:
        ct = f["color_temp"]
        low, high = _number(ct.get("value_min")), _number(ct.get("value_max"))
        part.bind(Binding("color_temp", ct["property"], "kelvin", _settable(ct), lo=low, hi=high))
    colour = f.get("color_xy") or f.get("color_hs")
    if colour is not None:
        part.bind(Binding("color", str(colour["property"]), "color", _settable(colour)))
    _toggle(f, part)
    return "on" in part.props


def _switch(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    if "state" in f:
        part.bind(_binary("on", f["state"]))
        _toggle(f, part)
    return "on" in part.props


def _toggle(f: dict[str, dict[str, Any]], part: _Part) -> None:
    state = f.get("state")
    if state is not None and state.get("value_toggle") is not None and _settable(state):
        part.actions["toggle"] = {state["property"]: state["value_toggle"]}


def _cover(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    if "position" not in f:
        return False  # an open/close-only cover has no position to report
    part.bind(
        Binding(
            "position", f["position"]["property"], "number", _settable(f["position"]), lo=0, hi=100
        )
    )
    state = f.get("state")
    if state is not None:
        values = {str(v).upper(): v for v in state.get("values") or ()}
        key = str(state["property"])
        for action, word in (("open", "OPEN"), ("close", "CLOSE"), ("stop", "STOP")):
            if word in values:
                part.actions[action] = {key: values[word]}
    words = description.casefold()
    part.cls = next((cls for word, cls in _COVER_WORDS if word in words), "blind")
    return True


def _lock(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    state = f.get("state")
    if state is None:
        return False
    binding = Binding(
        "locked",
        str(state["property"]),
        "bool",
        _settable(state),
        on=state.get("value_on", "LOCK"),
        off=state.get("value_off", "UNLOCK"),
    )
    part.bind(binding)
    part.actions["lock"] = {binding.key: binding.on}
    part.actions["unlock"] = {binding.key: binding.off}
    return True


def _climate(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    setpoint = next(
        (
            f[n]
            for n in (
                "occupied_heating_setpoint",
                "current_heating_setpoint",
                "occupied_cooling_setpoint",
            )
            if n in f
        ),
        None,
    )
    if setpoint is None:
        return False
    mode = f.get("system_mode")
    modes = [str(v) for v in (mode.get("values") or ())] if mode is not None else []
    if mode is not None:
        part.bind(
            Binding("on", str(mode["property"]), "power", _settable(mode),
                    on=next((m for m in modes if m != "off"), None),
                    off="off" if "off" in modes else None)
        )  # fmt: skip
    else:
        part.bind(Binding("on", str(setpoint["property"]), "power", False))
    ours = tuple((_MODES[m], m) for m in modes if m in _MODES)
    if mode is not None and ours:
        part.bind(Binding("mode", str(mode["property"]), "enum", _settable(mode), values=ours))
        part.values["mode"] = tuple(o for o, _ in ours)
    part.bind(
        Binding(
            "target_temp", str(setpoint["property"]), "number", _settable(setpoint), lo=16, hi=30
        )
    )
    fan = f.get("fan_mode")
    if fan is not None:
        speeds = tuple(
            (_CLIMATE_FAN[str(v)], str(v))
            for v in fan.get("values") or ()
            if str(v) in _CLIMATE_FAN
        )
        if speeds:
            part.bind(
                Binding("fan_speed", str(fan["property"]), "enum", _settable(fan), values=speeds)
            )
            part.values["fan_speed"] = tuple(o for o, _ in speeds)
    if "local_temperature" in f:
        part.bind(
            Binding(
                "current_temp", str(f["local_temperature"]["property"]), "number", lo=-40, hi=60
            )
        )
    return True


def _fan(expose: dict[str, Any], part: _Part, description: str) -> bool:
    f = _by_name(_features(expose))
    state = f.get("fan_state") or f.get("state")
    if state is None:
        return False
    part.bind(_binary("on", state))
    mode = f.get("fan_mode") or f.get("mode")
    if mode is not None:
        speeds = tuple((str(v), str(v)) for v in mode.get("values") or () if str(v) in _FAN_SPEEDS)
        if speeds:
            part.bind(
                Binding("speed", str(mode["property"]), "speed", _settable(mode), values=speeds)
            )
    return True


# the specific exposes, in the order of precedence: the first one a device has says its type
_MAPPERS = {
    "climate": _climate,
    "lock": _lock,
    "cover": _cover,
    "fan": _fan,
    "light": _light,
    "switch": _switch,
}


def propose(
    device: dict[str, Any], areas: Mapping[str, Iterable[str]] | None = None
) -> list[Proposal]:
    """What one entry of `<base>/bridge/devices` becomes: its HyperHub devices (none for the
    coordinator, an unsupported or disabled device, or one that exposes nothing the
    vocabulary has a word for)."""
    definition = device.get("definition")
    ieee = device.get("ieee_address")
    friendly = device.get("friendly_name")
    if device.get("type") == "Coordinator" or not isinstance(definition, dict):
        return []
    if device.get("disabled") or not isinstance(ieee, str) or not isinstance(friendly, str):
        return []
    exposes = [e for e in definition.get("exposes") or () if isinstance(e, dict)]
    description = str(definition.get("description") or "")
    parts: list[_Part] = []
    used: set[int] = set()
    specific = sorted(
        (i for i, e in enumerate(exposes) if e.get("type") in _MAPPERS),
        key=lambda i: (list(_MAPPERS).index(str(exposes[i]["type"])), i),
    )
    for i in specific:  # the specific groups first, by precedence: they say what it is
        kind, endpoint = str(exposes[i]["type"]), exposes[i].get("endpoint")
        made = _Part(kind)
        if _MAPPERS[kind](exposes[i], made, description):
            made.suffix = str(endpoint) if endpoint else ("" if not parts else kind)
            parts.append(made)
            used.add(i)
    readings = _Part("sensor")
    for i, e in enumerate(exposes):
        if i in used:
            continue
        key = e.get("property")
        access = e.get("access")
        if not isinstance(key, str) or not isinstance(access, int) or not access & PUBLISHED:
            continue
        if e.get("type") == "numeric" and key == "power":
            plug = next((p for p in parts if p.type == "switch" and not p.suffix), None)
            if plug is not None:
                plug.type = "plug"
                plug.bind(Binding("power_w", key, "number", lo=0, hi=4000))
                used.add(i)
            continue
        if e.get("type") == "numeric" and key in _READINGS:
            prop, lo, hi = _READINGS[key]
            kind = "whole" if prop in _WHOLE else "number"
            readings.bind(Binding(prop, key, kind, lo=lo, hi=hi))
            used.add(i)
        elif e.get("type") == "binary" and key in _BINARY_READINGS:
            readings.bind(_binary(_BINARY_READINGS[key], e))
            used.add(i)
        elif e.get("type") == "enum" and key == "action":
            readings.events = key
            used.add(i)
    dropped = _place_readings(parts, readings)
    name, area = place(friendly, areas or {})
    base = slug(name) or f"{parts[0].type if parts else 'device'}_{ieee.removeprefix('0x')[-4:]}"
    out: list[Proposal] = []
    unmapped = tuple(
        str(e.get("property") or e.get("name") or e.get("type"))
        for i, e in enumerate(exposes)
        if i not in used
    ) + tuple(dropped)
    for made in parts:
        if not made.props and made.events is None:
            continue
        suffix = made.suffix
        out.append(
            Proposal(
                external=ieee if not suffix else f"{ieee}/{suffix}",
                friendly_name=friendly,
                type=made.type,
                id=base if not suffix else f"{base}_{slug(suffix)}",
                name=name if not suffix else f"{name} {suffix}",
                area=area,
                cls=made.cls,
                properties=tuple(made.props),
                values=dict(made.values),
                bindings=tuple(made.bindings),
                actions=dict(made.actions),
                events=made.events,
                model=str(definition.get("model") or ""),
                vendor=str(definition.get("vendor") or ""),
                description=description,
                unmapped=unmapped if not out else (),
            )
        )
    return out


def _place_readings(parts: list[_Part], readings: _Part) -> list[str]:
    """Readings (and button events) make a sensor (or, with only an action, a button) of
    a device that has no other part; beside an actuator, a sensor of their own. Returns
    the Zigbee2MQTT properties this leaves out."""
    if not readings.props and readings.events is None:
        return []
    if not parts:
        only_events = readings.events is not None and set(readings.props) <= {"battery"}
        readings.type = "button" if only_events else "sensor"
        dropped = []
        if readings.type == "sensor" and readings.events is not None:
            dropped.append(readings.events)
            readings.events = None
        parts.append(readings)
        return dropped
    # beside an actuator, readings make a sensor of their own; its battery (not in the
    # actuators' vocabulary) is left out
    rest = [b for b in readings.bindings if b.prop != "battery"]
    if rest:
        sensor = _Part("sensor", "sensor")
        for b in rest:
            sensor.bind(b)
        parts.append(sensor)
    left = [b.key for b in readings.bindings if b.prop == "battery" or not rest]
    return left + ([readings.events] if readings.events else [])
