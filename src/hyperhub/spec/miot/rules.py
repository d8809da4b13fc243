"""What maps onto the vocabulary: property rules, base types, action names, one rule a line."""

from __future__ import annotations

from functools import cache
from typing import NamedTuple

from hyperhub.spec.miot.document import _Prop
from hyperhub.spec.miot.fits import (
    _enum,
    _Fit,
    _Fitter,
    _flag,
    _flag_list,
    _numeric,
    _percent,
    _rgb,
    _speed,
)
from hyperhub.spec.model import PropertySpec
from hyperhub.spec.registry import builtin_types

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
