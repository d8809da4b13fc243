"""Home Assistant entities onto the vocabulary: which HyperHub device (or devices) the
entities of one HA device become, and how each property's values travel (issue 20, second
part: switch, binary_sensor, sensor, light — default and JSON schema —, lock and cover so
far; climate and fan next, then the adapter that runs it).

Entities that share a `device` (its first identifier) become one HyperHub device where the
vocabulary allows it: a switch with a power sensor is a plug; temperature and humidity
sensors are one sensor; a light or a switch takes the device's readings it has no word for
as a sensor of their own. Otherwise they become several devices named after the HA device
("Garden light", "Garden switch").

A value arrives on a state topic and is read by the entity's `value_template` (rendered in
HyperHub's template sandbox with `value` and `value_json`), then its payloads (`payload_on`
/ `state_on` …); a command is written with the entity's payloads or `command_template`.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from hyperhub.adapters.base import Proposal, place, slug
from hyperhub.adapters.ha_discovery.config import Entity
from hyperhub.templates import TemplateFailed, render

# a binary_sensor's device class → (HyperHub reading, whether HA's "on" is HyperHub's true)
BINARY: dict[str, tuple[str, bool]] = {
    "door": ("contact", False),  # HA: on = open; HyperHub: contact true = closed
    "window": ("contact", False),
    "opening": ("contact", False),
    "garage_door": ("contact", False),
    "motion": ("motion", True),
    "occupancy": ("motion", True),
    "presence": ("motion", True),
}
# a sensor's device class → HyperHub reading
READINGS: dict[str, str] = {
    "temperature": "temperature",
    "humidity": "humidity",
    "pressure": "pressure",
    "atmospheric_pressure": "pressure",
    "illuminance": "illuminance",
    "pm25": "pm25",
    "battery": "battery",
}
# a climate entity's HA modes → HyperHub's (`off` is `on: false`)
CLIMATE_MODES = {"heat": "heat", "cool": "cool", "auto": "auto", "heat_cool": "auto",
                 "dry": "dry", "fan_only": "fan"}  # fmt: skip
COVER_CLASSES = {
    "garage": "garage",
    "gate": "gate",
    "door": "door",
    "window": "window",
    "curtain": "curtain",
    "blind": "blind",
    "shade": "blind",
    "shutter": "blind",
}


@dataclass(frozen=True)
class Binding:
    """One HyperHub property of an HA entity: where its value comes from and goes to.

    `kind`: "bool" (`on`/`off` payloads), "number" (as is), "level" (0…`scale` ↔ 0…100 %),
    "json_state" / "json_level" (a JSON-schema light's `state` / `brightness` keys)."""

    prop: str
    kind: str
    state_topic: str | None = None
    value_template: str | None = None
    command_topic: str | None = None
    command_template: str | None = None
    on: Any = "ON"  # the payloads of true and false, as they come and go
    off: Any = "OFF"
    said_on: Any = None  # a different state payload of true (`state_on`), if any
    said_off: Any = None
    invert: bool = False  # HA's "on" is HyperHub's false (a door sensor's open)
    scale: float = 100.0  # a level's top (`brightness_scale`)
    choices: tuple[str, ...] = ()  # a climate's own HA modes

    def read(self, payload: bytes | bytearray | str) -> Any:
        """The HyperHub value of a state message, or None when it says nothing usable."""
        text = (
            payload.decode("utf-8", "replace")
            if isinstance(payload, bytes | bytearray)
            else payload
        )
        if self.kind.startswith("json_"):
            try:
                data = json.loads(text)
            except ValueError:
                return None
            if not isinstance(data, dict):
                return None
            if self.kind == "json_state":
                return _bool(data.get("state"), "ON", "OFF")
            level = data.get("brightness")
            return _level(level, self.scale)
        raw: Any = text
        if self.value_template:
            names: dict[str, Any] = {"value": text}
            with contextlib.suppress(ValueError):
                names["value_json"] = json.loads(text)
            try:
                raw = render(self.value_template, names)
            except TemplateFailed:
                return None
        if self.kind == "mode_on":  # a climate's mode: anything but off is on
            return None if not isinstance(raw, str) or not raw else raw != "off"
        if self.kind == "mode":
            return CLIMATE_MODES.get(str(raw))
        if self.kind == "bool":
            on = self.said_on if self.said_on is not None else self.on
            off = self.said_off if self.said_off is not None else self.off
            found = _bool(raw, on, off)
            return None if found is None else (not found if self.invert else found)
        if self.kind == "level":
            return _level(raw, self.scale)
        try:
            number = float(raw)
        except (TypeError, ValueError):
            return None
        return number

    def write(self, value: Any) -> tuple[str, str] | None:
        """(topic, payload) of a command setting `value`, or None when it cannot be set."""
        if self.command_topic is None:
            return None
        if self.kind == "json_state":
            return self.command_topic, json.dumps({"state": "ON" if value else "OFF"})
        if self.kind == "json_level":
            return self.command_topic, json.dumps(
                {"state": "ON", "brightness": round(float(value) * self.scale / 100)}
            )
        if self.kind in ("bool", "mode_on"):
            payload: Any = self.on if value else self.off
        elif self.kind == "mode":
            payload = next((ha for ha in self.choices if CLIMATE_MODES.get(ha) == value), value)
        elif self.kind == "level":
            payload = round(float(value) * self.scale / 100)
        else:
            payload = value
        if self.command_template:
            try:
                payload = render(self.command_template, {"value": payload})
            except TemplateFailed:
                return None
        return self.command_topic, str(payload)


def _bool(raw: Any, on: Any, off: Any) -> bool | None:
    if raw == on or str(raw) == str(on):
        return True
    if raw == off or str(raw) == str(off):
        return False
    return None


def _level(raw: Any, scale: float) -> int | None:
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return max(0, min(100, round(number * 100 / scale))) if scale else None


@dataclass
class _Part:
    type: str
    label: str  # what the HA entity is, for a name ("light", "switch" …)
    bindings: list[Binding] = field(default_factory=list)
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)
    cls: str | None = None
    entities: list[str] = field(default_factory=list)
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def bind(self, binding: Binding) -> None:
        if all(b.prop != binding.prop for b in self.bindings):
            self.bindings.append(binding)


def _get(config: dict[str, Any], key: str, default: Any = None) -> Any:
    value = config.get(key, default)
    return default if value is None else value


def _part_of(entity: Entity) -> _Part | None:
    """The HyperHub part one actuator entity makes (None for readings and the unknown)."""
    c = entity.config
    kind = entity.component
    if kind in ("switch", "light"):
        part = _Part(kind, kind)
        if kind == "light" and c.get("schema") == "json":
            part.bind(
                Binding("on", "json_state", c.get("state_topic"), None, c.get("command_topic"))
            )
            modes = c.get("supported_color_modes") or []
            if c.get("brightness") or (isinstance(modes, list) and set(modes) - {"onoff"}):
                scale = float(_get(c, "brightness_scale", 255))
                part.bind(Binding("brightness", "json_level", c.get("state_topic"), None,
                                  c.get("command_topic"), scale=scale))  # fmt: skip
        else:
            part.bind(_switchy(c))
            if kind == "light" and c.get("brightness_command_topic"):
                part.bind(
                    Binding(
                        "brightness",
                        "level",
                        c.get("brightness_state_topic"),
                        c.get("brightness_value_template"),
                        c.get("brightness_command_topic"),
                        c.get("brightness_command_template"),
                        scale=float(_get(c, "brightness_scale", 255)),
                    )
                )
        part.entities.append(entity.key)
        return part
    if kind == "lock":
        part = _Part("lock", "lock")
        lock, unlock = _get(c, "payload_lock", "LOCK"), _get(c, "payload_unlock", "UNLOCK")
        part.bind(
            Binding("locked", "bool", c.get("state_topic"), c.get("value_template"),
                    c.get("command_topic"), c.get("command_template"), on=lock, off=unlock,
                    said_on=_get(c, "state_locked", "LOCKED"),
                    said_off=_get(c, "state_unlocked", "UNLOCKED"))
        )  # fmt: skip
        if c.get("command_topic"):
            part.actions = {"lock": {"payload": lock}, "unlock": {"payload": unlock}}
        part.entities.append(entity.key)
        return part
    if kind == "climate":
        return _climate(entity)
    if kind == "fan":
        part = _Part("fan", "fan")
        part.bind(_switchy(c))
        if c.get("percentage_command_topic"):
            part.bind(
                Binding("speed", "level", c.get("percentage_state_topic"),
                        c.get("percentage_value_template"), c.get("percentage_command_topic"),
                        c.get("percentage_command_template"),
                        scale=float(_get(c, "speed_range_max", 100)))
            )  # fmt: skip
        if c.get("oscillation_command_topic"):
            part.bind(
                Binding("oscillate", "bool", c.get("oscillation_state_topic"),
                        c.get("oscillation_value_template"), c.get("oscillation_command_topic"),
                        c.get("oscillation_command_template"),
                        on=_get(c, "payload_oscillation_on", "oscillate_on"),
                        off=_get(c, "payload_oscillation_off", "oscillate_off"))
            )  # fmt: skip
        part.entities.append(entity.key)
        return part
    if kind == "cover":
        position = c.get("position_topic") or c.get("set_position_topic")
        if not position:
            return None  # open/close only: no position to report
        part = _Part("cover", "cover")
        part.bind(
            Binding("position", "number", c.get("position_topic"), c.get("position_template"),
                    c.get("set_position_topic"), c.get("set_position_template"))
        )  # fmt: skip
        if c.get("command_topic"):
            part.actions = {
                "open": {"payload": _get(c, "payload_open", "OPEN")},
                "close": {"payload": _get(c, "payload_close", "CLOSE")},
                "stop": {"payload": _get(c, "payload_stop", "STOP")},
            }
        part.cls = COVER_CLASSES.get(str(c.get("device_class")), "blind")
        part.entities.append(entity.key)
        return part
    return None


def _climate(entity: Entity) -> _Part | None:
    """A climate entity: `on` and `mode` from its mode topics, `target_temp`, `current_temp`."""
    c = entity.config
    if not c.get("temperature_command_topic") and not c.get("mode_command_topic"):
        return None
    part = _Part("climate", "climate")
    modes = [str(m) for m in _get(c, "modes", ["auto", "off", "cool", "heat", "dry", "fan_only"])]
    ours = [m for m in modes if m in CLIMATE_MODES]
    mode_t, mode_tpl = c.get("mode_state_topic"), c.get("mode_state_template")
    mode_cmd, mode_cmd_tpl = c.get("mode_command_topic"), c.get("mode_command_template")
    if "off" in modes and ours:
        part.bind(Binding("on", "mode_on", mode_t, mode_tpl, mode_cmd, mode_cmd_tpl,
                          on=ours[0], off="off"))  # fmt: skip
    if ours:
        part.bind(Binding("mode", "mode", mode_t, mode_tpl, mode_cmd, mode_cmd_tpl,
                          choices=tuple(ours)))  # fmt: skip
    part.bind(
        Binding("target_temp", "number", c.get("temperature_state_topic"),
                c.get("temperature_state_template"), c.get("temperature_command_topic"),
                c.get("temperature_command_template"))
    )  # fmt: skip
    if c.get("current_temperature_topic"):
        part.bind(Binding("current_temp", "number", c.get("current_temperature_topic"),
                          c.get("current_temperature_template")))  # fmt: skip
    part.values = {"mode": tuple(dict.fromkeys(CLIMATE_MODES[m] for m in ours))} if ours else {}
    part.entities.append(entity.key)
    return part


def _switchy(c: dict[str, Any]) -> Binding:
    return Binding(
        "on",
        "bool",
        c.get("state_topic"),
        c.get("value_template") or c.get("state_value_template"),
        c.get("command_topic"),
        c.get("command_template"),
        on=_get(c, "payload_on", "ON"),
        off=_get(c, "payload_off", "OFF"),
        said_on=c.get("state_on"),
        said_off=c.get("state_off"),
    )


def _reading(entity: Entity) -> Binding | None:
    """The HyperHub reading a sensor or binary_sensor gives, or None."""
    c = entity.config
    cls = str(c.get("device_class") or "")
    if entity.component == "binary_sensor" and cls in BINARY:
        prop, same = BINARY[cls]
        return Binding(prop, "bool", c.get("state_topic"), c.get("value_template"),
                       on=_get(c, "payload_on", "ON"), off=_get(c, "payload_off", "OFF"),
                       invert=not same)  # fmt: skip
    if entity.component == "sensor" and cls in READINGS:
        return Binding(READINGS[cls], "number", c.get("state_topic"), c.get("value_template"))
    if entity.component == "sensor" and cls == "power":
        return Binding("power_w", "number", c.get("state_topic"), c.get("value_template"))
    return None


def propose(entities: list[Entity], areas: dict[str, list[str]] | None = None) -> list[Proposal]:
    """The HyperHub devices the entities of one HA device (or one lone entity) become."""
    if not entities:
        return []
    first = entities[0]
    device_name = str(first.device.get("name") or first.config.get("name") or first.object_id)
    suggested = first.device.get("suggested_area")
    name, area = place(f"{suggested}/{device_name}" if suggested else device_name, areas or {})
    parts = [p for p in (_part_of(e) for e in entities) if p is not None]
    readings = [(e, b) for e in entities if (b := _reading(e)) is not None]
    power = [b for _, b in readings if b.prop == "power_w"]
    switch = next((p for p in parts if p.type == "switch"), None)
    if switch is not None and power:
        switch.type = "plug"
        switch.bind(power[0])
    rest = [(e, b) for e, b in readings if b.prop != "power_w" or switch is None]
    if rest:
        sensor = _Part("sensor", "sensor")
        for e, b in rest:
            if b.prop != "power_w":
                sensor.bind(b)
                sensor.entities.append(e.key)
        if sensor.bindings:
            parts.append(sensor)
    base = slug(name) or f"ha_{slug(first.key)[-8:]}"
    key = first.device_key or first.key
    several = len(parts) > 1
    out = []
    for part in parts:
        out.append(
            Proposal(
                external=key if not several else f"{key}/{part.label}",
                friendly_name=device_name,
                type=part.type,
                id=base if not several else f"{base}_{part.label}",
                name=name if not several else f"{name} {part.label}",
                area=area,
                cls=part.cls,
                properties=tuple(b.prop for b in part.bindings),
                values=dict(part.values),
                bindings=tuple(part.bindings),
                actions=dict(part.actions),
                model=str(first.device.get("model") or ""),
                vendor=str(first.device.get("manufacturer") or ""),
            )
        )
    return out


def group(entities: list[Entity]) -> list[list[Entity]]:
    """Entities by their HA device (its first identifier); one without a device alone."""
    by_device: dict[str, list[Entity]] = {}
    alone: list[list[Entity]] = []
    for entity in entities:
        key = entity.device_key
        if key is None:
            alone.append([entity])
        else:
            by_device.setdefault(key, []).append(entity)
    return [*by_device.values(), *alone]
