"""Home Assistant entities onto the vocabulary: which HyperHub device (or devices) the
entities of one HA device become, and how each property's values travel: switch,
binary_sensor, sensor, light (default and JSON schema; brightness, colour temperature, RGB),
lock, cover, climate and fan.

Entities that share a `device` (its first identifier) become one HyperHub device where the
vocabulary allows it: a switch with a power sensor is a plug; temperature and humidity
sensors are one sensor; a light or a switch takes the device's readings it has no word for
as a sensor of their own. Otherwise they become several devices named after the HA device
("Garden light", "Garden switch").

A value arrives on a state topic and is read by the entity's `value_template` (rendered in
HyperHub's template sandbox with `value` and `value_json`), then its payloads (`payload_on`
/ `state_on` …) and its unit (°F, K, Pa … become HyperHub's °C and hPa); a command is
written with the entity's payloads or `command_template`. A reading of a device's
`json_attributes_topic` whose key is one of HyperHub's readings (`battery`, `temperature` …)
is a property too, once the attributes have been seen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

from hyperhub.adapters.base import Proposal, place, slug
from hyperhub.adapters.colors import hex_of, kelvin_to_mired, mired_to_kelvin, rgb_of
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
# readings a device's JSON attributes may carry under HyperHub's own names
ATTRIBUTES = ("battery", "temperature", "humidity", "illuminance", "pressure", "pm25")
# a unit of HA's → HyperHub's unit of that quantity
UNITS: dict[str, Any] = {
    "°F": lambda x: (x - 32) * 5 / 9,
    "F": lambda x: (x - 32) * 5 / 9,
    "K": lambda x: x - 273.15,
    "Pa": lambda x: x / 100,
    "kPa": lambda x: x * 10,
    "bar": lambda x: x * 1000,
    "psi": lambda x: x * 68.9476,
    "inHg": lambda x: x * 33.8639,
    "mmHg": lambda x: x * 1.33322,
    "kW": lambda x: x * 1000,
}
# HyperHub's value → the unit a device takes (a thermostat set in °F)
UNITS_BACK: dict[str, Any] = {"°F": lambda x: x * 9 / 5 + 32, "F": lambda x: x * 9 / 5 + 32}
# a climate entity's HA modes → HyperHub's (`off` is `on: false`)
CLIMATE_MODES = {"heat": "heat", "cool": "cool", "auto": "auto", "heat_cool": "auto",
                 "dry": "dry", "fan_only": "fan"}  # fmt: skip
FAN_SPEEDS = ("auto", "low", "medium", "high")  # a climate's fan modes HyperHub has
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

    `kind`: "bool" (`on`/`off` payloads), "number" (as is, in `unit`), "level" (0…`scale` ↔
    0…100 %), "range" (a fan's speeds `lo`…`hi` ↔ 1…100 %), "position" (a cover's `lo`
    closed … `hi` open ↔ 0…100 %), "mode" / "mode_on" (a climate's mode, and on = any mode
    but off), "choice" (one of `choices` as is), "color_temp" (mireds, or kelvin with
    `kelvin`; the device's own `lo`…`hi` K), "rgb" ("r,g,b" ↔ "#rrggbb"), "json" (key `key`
    of a JSON state: a JSON-schema light's `state`, `brightness`, `color_temp`, `color`),
    "attribute" (key `key` of the JSON attributes)."""

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
    more_off: tuple[Any, ...] = ()  # further state payloads that mean false (a lock's OPEN)
    jammed: Any = None  # the state payload of a jammed lock (a `jammed` event)
    invert: bool = False  # HA's "on" is HyperHub's false (a door sensor's open)
    scale: float = 100.0  # a level's top (`brightness_scale`)
    lo: float | None = None  # a range's, a position's, a colour temperature's ends
    hi: float | None = None
    choices: tuple[str, ...] = ()  # a climate's own HA modes
    key: str | None = None  # a JSON state's or the attributes' key
    unit: str | None = None  # the device's unit of a number (°F …)
    kelvin: bool = False  # colour temperature in kelvin (else mireds)
    optimistic: bool = False  # it never reports: a command is taken as done
    off_delay: float | None = None  # a motion sensor that only says ON: off after this

    @property
    def settable(self) -> bool:
        return self.command_topic is not None

    def read(self, payload: bytes | bytearray | str) -> Any:
        """The HyperHub value of a state message, or None when it says nothing usable."""
        text = text_of(payload)
        if self.kind in ("json", "attribute"):
            return self._read_json(text)
        raw: Any = text
        if self.value_template:
            raw = rendered(self.value_template, text)
            if raw is None:
                return None
        return self._value(raw)

    def is_jammed(self, payload: bytes | bytearray | str) -> bool:
        """Whether a lock's state message says it is jammed."""
        return self.jammed is not None and text_of(payload) == str(self.jammed)

    def _read_json(self, text: str) -> Any:
        data = _json(text)
        if not isinstance(data, dict) or self.key not in data:
            return None
        raw = data[self.key]
        if self.kind == "attribute":
            return self._value(raw)
        if self.prop == "on":
            return _bool(raw, "ON", "OFF")
        if self.prop == "brightness":
            return _level(raw, self.scale)
        if self.prop == "color":
            if not isinstance(raw, dict):
                return None
            return _hex(raw.get("r"), raw.get("g"), raw.get("b"))
        return self._value(raw)

    def _value(self, raw: Any) -> Any:
        """A raw value (after the template) as HyperHub's value of this kind."""
        if self.kind == "mode_on":  # a climate's mode: anything but off is on
            return None if not isinstance(raw, str) or not raw else raw != "off"
        if self.kind == "mode":
            return CLIMATE_MODES.get(str(raw))
        if self.kind == "choice":
            return str(raw) if str(raw) in self.choices else None
        if self.kind == "bool":
            if any(raw == x or str(raw) == str(x) for x in self.more_off):
                return False
            on = self.said_on if self.said_on is not None else self.on
            off = self.said_off if self.said_off is not None else self.off
            found = _bool(raw, on, off)
            return None if found is None else (not found if self.invert else found)
        if self.kind == "level":
            return _level(raw, self.scale)
        if self.kind == "rgb":
            parts = str(raw).split(",")
            return _hex(*parts) if len(parts) == 3 else None
        number = _number(raw)
        if number is None:
            return None
        if self.kind == "range":  # speed lo…hi: the percentage Home Assistant gives it
            lo, hi = self.lo or 1, self.hi or 100
            return 0 if number < lo else min(100, round((number - lo + 1) * 100 / (hi - lo + 1)))
        if self.kind == "position":
            closed, opened = self.lo or 0, 100 if self.hi is None else self.hi
            if opened == closed:
                return None
            return max(0, min(100, round((number - closed) * 100 / (opened - closed))))
        if self.kind == "color_temp" or self.prop == "color_temp":
            return mired_to_kelvin(number) if not self.kelvin and number > 0 else round(number)
        convert = UNITS.get(self.unit or "")
        return round(convert(number) if convert else number, 2)

    def nearest(self, value: Any) -> Any:
        """What the device will become for `value`: a colour temperature within its own
        range, a speed in its own steps (so that its report confirms the command)."""
        if self.prop == "color_temp" and self.lo is not None and self.hi is not None:
            return max(round(self.lo), min(round(self.hi), int(value)))
        if self.kind == "range" and isinstance(value, int | float) and value > 0:
            return self._value(self._ranged(float(value)))
        return value

    def _ranged(self, percent: float) -> int:
        """A percentage as one of a fan's speeds lo…hi (as Home Assistant rounds: up)."""
        lo, hi = self.lo or 1, self.hi or 100
        return 0 if percent <= 0 else int(math.ceil(percent * (hi - lo + 1) / 100) + lo - 1)

    def write(self, value: Any) -> tuple[str, str] | None:
        """(topic, payload) of a command setting `value`, or None when it cannot be set."""
        if self.command_topic is None:
            return None
        if self.kind == "json":
            return self.command_topic, json.dumps(self._json_command(value))
        payload: Any
        names: dict[str, Any] = {}
        if self.kind in ("bool", "mode_on"):
            payload = self.on if value else self.off
        elif self.kind == "mode":
            payload = next((ha for ha in self.choices if CLIMATE_MODES.get(ha) == value), value)
        elif self.kind == "level":
            payload = round(float(value) * self.scale / 100)
        elif self.kind == "range":
            payload = self._ranged(float(value))
        elif self.kind == "position":
            closed, opened = self.lo or 0, 100 if self.hi is None else self.hi
            payload = round(closed + float(value) * (opened - closed) / 100)
            names = {"position": payload, "position_open": opened, "position_closed": closed}
        elif self.kind == "color_temp":
            payload = int(value) if self.kelvin else kelvin_to_mired(float(value))
        elif self.kind == "rgb":
            red, green, blue = (round(c * 255) for c in rgb_of(str(value)))
            payload = f"{red},{green},{blue}"
            names = {"red": red, "green": green, "blue": blue}
        else:
            back = UNITS_BACK.get(self.unit or "")
            payload = round(back(float(value)), 1) if back else value
        if self.command_template:
            try:
                payload = render(self.command_template, {"value": payload, **names})
            except TemplateFailed:
                return None
        return self.command_topic, str(payload)

    def _json_command(self, value: Any) -> dict[str, Any]:
        """A JSON-schema light's command setting this property."""
        if self.prop == "on":
            return {"state": "ON" if value else "OFF"}
        if self.prop == "brightness":
            return {"state": "ON", "brightness": round(float(value) * self.scale / 100)}
        if self.prop == "color_temp":
            temp = int(value) if self.kelvin else kelvin_to_mired(float(value))
            return {"state": "ON", "color_temp": temp}
        r, g, b = (round(c * 255) for c in rgb_of(str(value)))
        return {"state": "ON", "color": {"r": r, "g": g, "b": b}}

    def confirmed_by(self, value: Any, reported: Any) -> bool:
        """Whether a reported value shows that a command setting `value` was done."""
        if isinstance(value, bool) or isinstance(reported, bool):
            return value == reported
        if isinstance(value, int | float) and isinstance(reported, int | float):
            slack = 1.0
            if self.prop == "color_temp":
                slack = 60.0  # mireds round-trip in steps
            elif self.kind == "range":
                slack = 100 / ((self.hi or 100) - (self.lo or 1) + 1)  # one of its speeds
            return abs(float(value) - float(reported)) <= max(slack, abs(float(value)) * 0.01)
        if isinstance(value, str) and isinstance(reported, str):
            if value.startswith("#") and reported.startswith("#"):
                mine, theirs = rgb_of(value), rgb_of(reported)
                return all(abs(a - b) <= 2 / 255 for a, b in zip(mine, theirs, strict=True))
            return value == reported
        return bool(value == reported)


def text_of(payload: Any) -> str:
    """A message's payload as text (bytes decoded, anything undecodable replaced)."""
    if isinstance(payload, bytes | bytearray):
        return bytes(payload).decode("utf-8", "replace")
    return str(payload)


def rendered(template: str, text: str) -> Any:
    """A value template of Home Assistant's rendered on a payload's text, as HA does it:
    with `value` and (when the text is JSON) `value_json`; None when it fails."""
    names: dict[str, Any] = {"value": text}
    data = _json(text)
    if data is not None:
        names["value_json"] = data
    try:
        return render(template, names)
    except TemplateFailed:
        return None


def _json(text: str) -> Any:
    """`text` as JSON, or None (also for JSON nested too deep to read)."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def _bool(raw: Any, on: Any, off: Any) -> bool | None:
    if raw == on or str(raw) == str(on):
        return True
    if raw == off or str(raw) == str(off):
        return False
    return None


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool):
        return None
    try:
        number = float(raw)
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def _level(raw: Any, scale: float) -> int | None:
    number = _number(raw)
    if number is None or not scale:
        return None
    return max(0, min(100, round(number * 100 / scale)))


def _hex(r: Any, g: Any, b: Any) -> str | None:
    """ "#rrggbb" of three 0…255 channels, or None."""
    channels = [_number(c) for c in (r, g, b)]
    if any(c is None or not 0 <= c <= 255 for c in channels):
        return None
    return hex_of(tuple(float(c or 0) / 255 for c in channels))  # type: ignore[arg-type]


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


def _num(config: dict[str, Any], key: str, default: float | None) -> float | None:
    """A number option of a config; `default` when it is missing or no number."""
    value = _number(config.get(key))
    return default if value is None else value


def _words(config: dict[str, Any], key: str, default: list[str]) -> list[str]:
    """A list-of-words option of a config (`modes` …); `default` when it is not one."""
    value = config.get(key)
    if not isinstance(value, list):
        return default
    return [str(v) for v in value if isinstance(v, str | int | float)]


def _payload(config: dict[str, Any], key: str, default: str) -> str | None:
    """A command payload: the default when missing; None when given as null (the entity
    has no such command, as Home Assistant reads it)."""
    if key in config and config[key] is None:
        return None
    return str(config.get(key, default))


def _optimistic(c: dict[str, Any], state_key: str = "state_topic") -> bool:
    """Whether the entity never reports what it became (no state topic, or `optimistic`)."""
    return bool(c.get("optimistic")) or not c.get(state_key)


def _kelvin_range(c: dict[str, Any]) -> tuple[float | None, float | None]:
    """A light's own colour temperature range in K (`min_kelvin`…, or from its mireds)."""
    if c.get("min_kelvin") is not None or c.get("max_kelvin") is not None:
        return _num(c, "min_kelvin", None), _num(c, "max_kelvin", None)
    warm, cold = _num(c, "max_mireds", None), _num(c, "min_mireds", None)  # mireds: inverse
    return (
        None if not warm else mired_to_kelvin(warm),
        None if not cold else mired_to_kelvin(cold),
    )


def _light(entity: Entity) -> _Part:
    """A light: on, brightness, colour temperature and RGB colour where it has them."""
    c = entity.config
    part = _Part("light", "light")
    kelvin = bool(c.get("color_temp_kelvin"))
    scale = _num(c, "brightness_scale", 255) or 255
    lo, hi = _kelvin_range(c)
    if c.get("schema") == "json":
        topics = (c.get("state_topic"), None, c.get("command_topic"))
        opt = _optimistic(c)
        modes = set(_words(c, "supported_color_modes", []))
        part.bind(Binding("on", "json", *topics, key="state", optimistic=opt))
        if c.get("brightness") or modes - {"onoff"}:
            part.bind(Binding("brightness", "json", *topics, key="brightness", scale=scale,
                              optimistic=opt))  # fmt: skip
        if c.get("color_temp") or "color_temp" in modes:
            part.bind(Binding("color_temp", "json", *topics, key="color_temp", kelvin=kelvin,
                              lo=lo, hi=hi, optimistic=opt))  # fmt: skip
        if modes & {"rgb", "rgbw", "rgbww"}:
            part.bind(Binding("color", "json", *topics, key="color", optimistic=opt))
        return part
    part.bind(_switchy(c))
    if c.get("brightness_command_topic"):
        part.bind(Binding("brightness", "level", c.get("brightness_state_topic"),
                          c.get("brightness_value_template"), c.get("brightness_command_topic"),
                          c.get("brightness_command_template"), scale=scale,
                          optimistic=_optimistic(c, "brightness_state_topic")))  # fmt: skip
    if c.get("color_temp_command_topic"):
        part.bind(Binding("color_temp", "color_temp", c.get("color_temp_state_topic"),
                          c.get("color_temp_value_template"), c.get("color_temp_command_topic"),
                          c.get("color_temp_command_template"), kelvin=kelvin, lo=lo, hi=hi,
                          optimistic=_optimistic(c, "color_temp_state_topic")))  # fmt: skip
    if c.get("rgb_command_topic"):
        part.bind(Binding("color", "rgb", c.get("rgb_state_topic"), c.get("rgb_value_template"),
                          c.get("rgb_command_topic"), c.get("rgb_command_template"),
                          optimistic=_optimistic(c, "rgb_state_topic")))  # fmt: skip
    return part


def _part_of(entity: Entity) -> _Part | None:
    """The HyperHub part one actuator entity makes (None for readings and the unknown)."""
    c = entity.config
    kind = entity.component
    part: _Part | None
    if kind == "light":
        part = _light(entity)
    elif kind == "switch":
        part = _Part("switch", "switch")
        part.bind(_switchy(c))
    elif kind == "lock":
        part = _lock(c)
    elif kind == "climate":
        part = _climate(c)
    elif kind == "fan":
        part = _fan(c)
    elif kind == "cover":
        part = _cover(c)
    else:
        part = None
    if part is not None:
        part.entities.append(entity.key)
    return part


def _lock(c: dict[str, Any]) -> _Part:
    part = _Part("lock", "lock")
    lock, unlock = _get(c, "payload_lock", "LOCK"), _get(c, "payload_unlock", "UNLOCK")
    part.bind(
        Binding("locked", "bool", c.get("state_topic"), c.get("value_template"),
                c.get("command_topic"), c.get("command_template"), on=lock, off=unlock,
                said_on=_get(c, "state_locked", "LOCKED"),
                said_off=_get(c, "state_unlocked", "UNLOCKED"),
                more_off=(_get(c, "state_open", "OPEN"), _get(c, "state_opening", "OPENING")),
                jammed=_get(c, "state_jammed", "JAMMED"), optimistic=_optimistic(c))
    )  # fmt: skip
    if c.get("command_topic"):  # through the property's payloads and command template
        part.actions = {"lock": {"set": {"locked": True}}, "unlock": {"set": {"locked": False}}}
    return part


def _fan(c: dict[str, Any]) -> _Part:
    part = _Part("fan", "fan")
    part.bind(_switchy(c))
    if c.get("percentage_command_topic"):
        part.bind(
            Binding("speed", "range", c.get("percentage_state_topic"),
                    c.get("percentage_value_template"), c.get("percentage_command_topic"),
                    c.get("percentage_command_template"),
                    lo=_num(c, "speed_range_min", 1), hi=_num(c, "speed_range_max", 100),
                    optimistic=_optimistic(c, "percentage_state_topic"))
        )  # fmt: skip
    if c.get("oscillation_command_topic"):
        part.bind(
            Binding("oscillate", "bool", c.get("oscillation_state_topic"),
                    c.get("oscillation_value_template"), c.get("oscillation_command_topic"),
                    c.get("oscillation_command_template"),
                    on=_get(c, "payload_oscillation_on", "oscillate_on"),
                    off=_get(c, "payload_oscillation_off", "oscillate_off"),
                    optimistic=_optimistic(c, "oscillation_state_topic"))
        )  # fmt: skip
    return part


def _cover(c: dict[str, Any]) -> _Part | None:
    position = c.get("position_topic") or c.get("set_position_topic")
    if not position:
        return None  # open/close only: no position to report
    part = _Part("cover", "cover")
    part.bind(
        Binding("position", "position", c.get("position_topic"), c.get("position_template"),
                c.get("set_position_topic"), c.get("set_position_template"),
                lo=_num(c, "position_closed", 0), hi=_num(c, "position_open", 100),
                optimistic=_optimistic(c, "position_topic"))
    )  # fmt: skip
    cmd = c.get("command_topic")
    if cmd:  # a cover moves for a while: its position reports come as it goes
        for action, key, default in (("open", "payload_open", "OPEN"),
                                     ("close", "payload_close", "CLOSE"),
                                     ("stop", "payload_stop", "STOP")):  # fmt: skip
            payload = _payload(c, key, default)
            if payload is not None:
                part.actions[action] = {"topic": cmd, "payload": payload}
    part.cls = COVER_CLASSES.get(str(c.get("device_class")), "blind")
    return part


def _climate(c: dict[str, Any]) -> _Part | None:
    """A climate entity: `on` and `mode` from its mode topics, `target_temp`, `current_temp`,
    `fan_speed` from its fan modes (those HyperHub has words for)."""
    if not c.get("temperature_command_topic") and not c.get("mode_command_topic"):
        return None
    part = _Part("climate", "climate")
    modes = _words(c, "modes", ["auto", "off", "cool", "heat", "dry", "fan_only"])
    ours = [m for m in modes if m in CLIMATE_MODES]
    mode_t, mode_tpl = c.get("mode_state_topic"), c.get("mode_state_template")
    mode_cmd, mode_cmd_tpl = c.get("mode_command_topic"), c.get("mode_command_template")
    opt = _optimistic(c, "mode_state_topic")
    if "off" in modes and ours:
        part.bind(Binding("on", "mode_on", mode_t, mode_tpl, mode_cmd, mode_cmd_tpl,
                          on=ours[0], off="off", optimistic=opt))  # fmt: skip
    if ours:
        part.bind(Binding("mode", "mode", mode_t, mode_tpl, mode_cmd, mode_cmd_tpl,
                          choices=tuple(ours), optimistic=opt))  # fmt: skip
    unit = "°F" if str(c.get("temperature_unit", "")).upper() in ("F", "°F") else None
    if c.get("temperature_command_topic") or c.get("temperature_state_topic"):
        part.bind(
            Binding("target_temp", "number", c.get("temperature_state_topic"),
                    c.get("temperature_state_template"), c.get("temperature_command_topic"),
                    c.get("temperature_command_template"), unit=unit,
                    optimistic=_optimistic(c, "temperature_state_topic"))
        )  # fmt: skip
    if c.get("current_temperature_topic"):
        part.bind(Binding("current_temp", "number", c.get("current_temperature_topic"),
                          c.get("current_temperature_template"), unit=unit))  # fmt: skip
    fan_modes = _words(c, "fan_modes", ["auto", "low", "medium", "high"])
    speeds = tuple(m for m in fan_modes if m in FAN_SPEEDS)
    if c.get("fan_mode_command_topic") and speeds:
        part.bind(Binding("fan_speed", "choice", c.get("fan_mode_state_topic"),
                          c.get("fan_mode_state_template"), c.get("fan_mode_command_topic"),
                          c.get("fan_mode_command_template"), choices=speeds,
                          optimistic=_optimistic(c, "fan_mode_state_topic")))  # fmt: skip
        part.values["fan_speed"] = speeds
    if ours:
        part.values["mode"] = tuple(dict.fromkeys(CLIMATE_MODES[m] for m in ours))
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
        optimistic=_optimistic(c),
    )


def _reading(entity: Entity) -> Binding | None:
    """The HyperHub reading a sensor or binary_sensor gives, or None."""
    c = entity.config
    cls = str(c.get("device_class") or "")
    if entity.component == "binary_sensor" and cls in BINARY:
        prop, same = BINARY[cls]
        return Binding(prop, "bool", c.get("state_topic"), c.get("value_template"),
                       on=_get(c, "payload_on", "ON"), off=_get(c, "payload_off", "OFF"),
                       invert=not same, off_delay=_num(c, "off_delay", None))  # fmt: skip
    unit = c.get("unit_of_measurement")
    unit = unit if isinstance(unit, str) else None
    if entity.component == "sensor" and cls in READINGS:
        return Binding(READINGS[cls], "number", c.get("state_topic"), c.get("value_template"),
                       unit=unit)  # fmt: skip
    if entity.component == "sensor" and cls == "power":
        return Binding("power_w", "number", c.get("state_topic"), c.get("value_template"),
                       unit=unit)  # fmt: skip
    return None


def _attribute_readings(
    entities: list[Entity], attributes: dict[str, dict[str, Any]], taken: set[str]
) -> list[tuple[Entity, Binding]]:
    """Readings the entities' JSON attributes carry under HyperHub's names (a battery level
    beside a lock's state), those seen so far and not given by an entity of their own."""
    out = []
    for e in entities:
        topic = e.config.get("json_attributes_topic")
        seen = attributes.get(e.key, {})
        if not isinstance(topic, str) or not seen or e.config.get("json_attributes_template"):
            continue
        for key in ATTRIBUTES:
            if key in seen and key not in taken:
                taken.add(key)
                out.append((e, Binding(key, "attribute", topic, key=key)))
    return out


def propose(
    entities: list[Entity],
    areas: dict[str, list[str]] | None = None,
    attributes: dict[str, dict[str, Any]] | None = None,
) -> list[Proposal]:
    """The HyperHub devices the entities of one HA device (or one lone entity) become;
    `attributes` (entity key → its JSON attributes seen so far) may add readings."""
    if not entities:
        return []
    first = entities[0]
    device_name = str(first.device.get("name") or first.config.get("name") or first.object_id)
    suggested = first.device.get("suggested_area")
    name, area = place(f"{suggested}/{device_name}" if suggested else device_name, areas or {})
    parts = [p for p in (_part_of(e) for e in entities) if p is not None]
    readings = [(e, b) for e in entities if (b := _reading(e)) is not None]
    taken = {b.prop for _, b in readings} | {b.prop for p in parts for b in p.bindings}
    readings += _attribute_readings(entities, attributes or {}, taken)
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
    _name_parts(parts, entities)
    base = slug(name) or f"ha_{slug(first.key)[-8:]}"
    used = {key for part in parts for key in part.entities}
    unmapped = tuple(  # what the vocabulary has no word for (a voltage, a text, a number …)
        f"{e.component} {e.config.get('name') or e.object_id}"
        for e in entities
        if e.key not in used
    )
    several = len(parts) > 1
    out = []
    for part in parts:
        out.append(
            Proposal(
                external=_external(part, first),
                friendly_name=device_name,
                type=part.type,
                id=base if not several else f"{base}_{slug(part.label)}",
                name=name if not several else f"{name} {part.label}",
                area=area,
                cls=part.cls,
                properties=tuple(b.prop for b in part.bindings),
                values=dict(part.values),
                bindings=tuple(part.bindings),
                actions=dict(part.actions),
                model=str(first.device.get("model") or ""),
                vendor=str(first.device.get("manufacturer") or ""),
                sources=tuple(dict.fromkeys(part.entities)),
                unmapped=unmapped,
            )
        )
    return out


def _external(part: _Part, first: Entity) -> str:
    """What identifies a part for good, whatever else its HA device gains or loses: an
    actuator's entity key (its `unique_id`); a device's readings, `<device>/sensor`."""
    if part.type != "sensor" or first.device_key is None:
        return part.entities[0]
    return f"{first.device_key}/sensor"


def _name_parts(parts: list[_Part], entities: list[Entity]) -> None:
    """Parts of one kind (a double relay's two switches) take their entity's own name
    ("Relay 1") or object id instead of the kind's."""
    names = {e.key: str(e.config.get("name") or e.object_id) for e in entities}
    labels = [p.label for p in parts]
    for part in parts:
        if labels.count(part.label) > 1 and part.entities:
            part.label = names.get(part.entities[0], part.label)


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
