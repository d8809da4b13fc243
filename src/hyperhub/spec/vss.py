"""`car` properties ↔ COVESA VSS 4.x signals, both ways.

The table is the `vss:` field of each property in the built-in `car` type (one source of truth).
Where VSS means something else than our property, values are converted:

- `location` {lat, lon} is two VSS signals, `Vehicle.CurrentLocation.Latitude` / `.Longitude`;
- `gear` P/R/N/D ↔ `Vehicle.Powertrain.Transmission.SelectedGear` (int8: 126 = park,
  127 = drive, 0 = neutral, negative = reverse, 1..n = a forward gear, read as D);
- `range_km` ↔ `Vehicle.Powertrain.Range`, which is in metres (uint32);
- `cabin_target_temp` ↔ `…HVAC.Station.Row1.Driver.Temperature`, an int8 °C: rounded on the way out;
- `speed_kmh` ↔ `Vehicle.Speed`, which may be negative when reversing: we keep its magnitude.

Window `Position` (0 = closed, 100 = open), state of charge and charge limit are percent, as ours.
`locked` and `windows_position` stand for the whole car but read the Row1.DriverSide signals;
`hvac_on` is VSS `IsAirConditioningActive`, the nearest VSS 4.x has to "climate on".
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import cache
from typing import Any

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec.model import DeviceType
from hyperhub.spec.registry import builtin_types

_LAT, _LON = ".Latitude", ".Longitude"
_GEAR_TO_VSS = {"P": 126, "R": -1, "N": 0, "D": 127}


def _gear_from_vss(raw: Any) -> str:
    if not isinstance(raw, int) or isinstance(raw, bool) or not -128 <= raw <= 127:
        raise ValueError(f"{raw!r} is not an int8 gear")
    if raw == 126:
        return "P"
    return "N" if raw == 0 else "R" if raw < 0 else "D"


def _number(convert: Callable[[float], Any]) -> Callable[[Any], Any]:
    def apply(raw: Any) -> Any:
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a number")
        return convert(raw)

    return apply


# property → (VSS value → ours, ours → VSS value); properties not listed pass through unchanged
_CONVERT: dict[str, tuple[Callable[[Any], Any], Callable[[Any], Any]]] = {
    "gear": (_gear_from_vss, _GEAR_TO_VSS.__getitem__),
    "range_km": (_number(lambda m: m / 1000), lambda km: round(km * 1000)),
    "cabin_target_temp": (_number(float), round),
    "speed_kmh": (_number(abs), lambda kmh: kmh),
}


@cache
def _car() -> DeviceType:
    return builtin_types().get("car")


@cache
def _paths() -> dict[str, str]:
    return {name: spec.vss for name, spec in _car().properties.items() if spec.vss}


@cache
def _props() -> dict[str, str]:
    out = {path: name for name, path in _paths().items()}
    location = _paths().get("location")
    if location:
        out.update({location + _LAT: "location", location + _LON: "location"})
    return out


def vss_table() -> dict[str, str]:
    """Every `car` property with its VSS path (a copy)."""
    return dict(_paths())


def vss_path(prop: str) -> str:
    """The VSS path of a `car` property (`location` gives the branch of its two signals)."""
    try:
        return _paths()[prop]
    except KeyError:
        known = ", ".join(sorted(_paths()))
        raise SpecError(f"car has no property {prop!r} with a VSS path; it has: {known}") from None


def car_property(vss_path: str) -> str:
    """The `car` property a VSS path means (the Latitude/Longitude signals mean `location`)."""
    try:
        return _props()[vss_path]
    except KeyError:
        raise SpecError(f"VSS signal {vss_path!r} maps to no car property") from None


def _value(datapoint: Any) -> Any:
    # a KUKSA Datapoint (`.value`), a JSON datapoint {"value": …}, or a bare value
    if isinstance(datapoint, Mapping) and "value" in datapoint:
        return datapoint["value"]
    return getattr(datapoint, "value", datapoint)


def vss_to_state(signals: Mapping[str, Any]) -> dict[str, Any]:
    """A partial `car` state from VSS datapoints; unknown signals are ignored (`unknown_signals`).

    Datapoints without a value are skipped; `location` needs both Latitude and Longitude.
    Raises `ValueNotAllowed` naming the signal when a value does not fit its property.
    """
    state: dict[str, Any] = {}
    location = _paths().get("location")
    for path, datapoint in signals.items():
        name, raw = _props().get(path), _value(datapoint)
        if name is None or raw is None or name == "location":
            continue
        where = f"{path} → car.{name}"
        decode = _CONVERT.get(name, (lambda v: v, None))[0]
        try:
            value = decode(raw)
        except (ValueError, TypeError) as exc:
            raise ValueNotAllowed(f"{where}: {exc}") from None
        state[name] = _car().prop(name).check(value, where)
    if location:
        lat, lon = (_value(signals.get(location + s)) for s in (_LAT, _LON))
        if lat is not None and lon is not None:
            where = f"{location}.Latitude/Longitude → car.location"
            state["location"] = _car().prop("location").check({"lat": lat, "lon": lon}, where)
    return state


def unknown_signals(signals: Mapping[str, Any]) -> list[str]:
    """The VSS paths in `signals` that `vss_to_state` ignores because no property means them."""
    return sorted(path for path in signals if path not in _props())


def state_to_vss(state: Mapping[str, Any]) -> dict[str, Any]:
    """VSS signal values (path → value) for a partial `car` state; `SpecError` on unknown names."""
    out: dict[str, Any] = {}
    for name, value in state.items():
        path = vss_path(name)
        value = _car().prop(name).check(value, f"car.{name} → {path}")
        if name == "location":
            out[path + _LAT], out[path + _LON] = value["lat"], value["lon"]
        else:
            encode = _CONVERT.get(name, (None, lambda v: v))[1]
            out[path] = encode(value)
    return out
