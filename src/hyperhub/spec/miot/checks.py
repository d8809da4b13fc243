"""Checks against PropertySpecs: fitting defaults into range, which effects a device can keep."""

from __future__ import annotations

from typing import Any

from hyperhub.errors import ValueNotAllowed
from hyperhub.spec.model import Effect, PropertySpec, ValueSpec


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
