"""Fitters: how one MIoT property becomes a HyperHub value (a codec plus ValueSpec fields)."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, NamedTuple

from hyperhub.spec.miot.codecs import Codec, EnumTable, Levels, Linear, Rgb, Same
from hyperhub.spec.miot.document import _Prop

_UNITS = {
    "percentage": "%", "celsius": "°C", "fahrenheit": "°F", "kelvin": "K", "lux": "lx",
    "watt": "W", "kilowatt": "kW", "kWh": "kWh", "seconds": "s", "minutes": "min", "hours": "h",
    "days": "d", "μg/m3": "µg/m³", "mg/m3": "mg/m³", "ppm": "ppm", "pascal": "Pa",
    "arcdegrees": "°", "metre": "m", "meter": "m", "volt": "V", "ampere": "A", "mA": "mA",
}  # fmt: skip


class _Fit(NamedTuple):
    codec: Codec
    spec: dict[str, Any]  # ValueSpec fields of the HyperHub side (min/max or values)


_Fitter = Callable[[_Prop, str], "_Fit | None"]  # (MIoT property, HyperHub kind) → fit or None


def _raws(p: _Prop | None) -> list[Any]:
    return [raw for raw, _ in (p.choices or ())] if p else []


def _slugs(choices: tuple[tuple[Any, str], ...]) -> list[str]:
    """Enum values from value-list descriptions: lowercased, unique (raw appended on clashes)."""
    out: list[str] = []
    for raw, desc in choices:
        slug = re.sub(r"[\s\-/]+", "_", desc.strip().lower()) or str(raw)
        out.append(f"{slug}_{raw}" if slug in out else slug)
    return out


def _words(p: _Prop | None) -> list[tuple[Any, str]]:
    """A value-list as (raw, enum word) pairs; none without a property or a value-list."""
    return list(zip(_raws(p), _slugs(p.choices or ()), strict=True)) if p else []


def _flag(p: _Prop, kind: str) -> _Fit | None:
    return _Fit(Same(), {}) if p.kind == "bool" else None


def _flag_list(true_words: set[str], false_words: set[str]) -> _Fitter:
    def fit(p: _Prop, kind: str) -> _Fit | None:
        if p.kind == "bool" or not p.choices:
            return _flag(p, kind)
        pairs = [(raw, s in true_words) for raw, s in _words(p) if s in true_words | false_words]
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
        raws, slugs = _raws(p), _slugs(p.choices)
        names = [synonyms.get(s, s) for s in slugs]
        if p.writable and len(set(names)) < len(names):
            names = slugs  # a write must pick one raw value: keep the device's own words
        table = EnumTable(tuple(zip(raws, names, strict=True)))
        return _Fit(table, {"values": table.values})

    return fit


def _rgb(p: _Prop, kind: str) -> _Fit | None:
    return _Fit(Rgb(), {}) if p.kind == "int" and not p.choices else None


def _extra_fit(p: _Prop) -> tuple[_Fit, dict[str, Any]]:
    """A property outside the vocabulary: kept as the device gives it (value-lists as enums)."""
    spec: dict[str, Any] = {"kind": p.kind, "description": p.description}
    if p.choices and p.kind != "bool":
        table = EnumTable(tuple(_words(p)))
        return _Fit(table, {}), {**spec, "kind": "enum", "values": table.values}
    if p.kind == "int" and p.unit == "rgb":
        return _Fit(Rgb(), {}), {**spec, "kind": "color"}
    if p.kind in ("int", "float"):
        spec["unit"] = _UNITS.get(p.unit or "", p.unit)
        if p.range:
            spec.update(min=p.range[0], max=p.range[1])
    return _Fit(Same(), {}), spec
