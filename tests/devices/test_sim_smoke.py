"""Every built-in type runs in the simulator: every action, every write, an hour of time."""

from __future__ import annotations

from typing import Any

import pytest

from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.space import parse_space
from hyperhub.spec import DeviceType, ValueSpec, builtin_types

TYPES = builtin_types()


def valid_value(spec: ValueSpec, current: Any = None) -> Any:
    """A value `spec` accepts, other than `current` where there is a choice."""
    if spec.kind == "bool":
        return not current if isinstance(current, bool) else True
    if spec.kind in ("int", "float"):
        lo = spec.min if spec.min is not None else 0
        hi = spec.max if spec.max is not None else lo + 10
        mid = (lo + hi) / 2
        return round(mid) if spec.kind == "int" else mid
    if spec.kind == "enum":
        values = list(spec.values or ())
        return next((v for v in reversed(values) if v != current), values[0])
    if spec.kind == "str":
        return "smoke test"
    if spec.kind == "color":
        return "#336699"
    return {"lat": 40.0, "lon": 116.0}


def one_device_space(dtype: DeviceType) -> str:
    cls = f", class: {dtype.classes[0]}" if dtype.classes else ""
    props = ", ".join(dtype.properties)
    return (
        "space: Smoke\nareas: []\ndevices:\n"
        f"  - {{id: dev, type: {dtype.type}{cls}, properties: [{props}]}}\n"
    )


@pytest.mark.parametrize("type_name", TYPES.names())
def test_every_builtin_type_runs_its_actions_writes_and_an_hour(type_name: str):
    dtype = TYPES.get(type_name)
    sim = Simulator(parse_space(one_device_space(dtype)), ManualClock(), seed=1)
    for name, action in dtype.actions.items():
        args = {a.name: valid_value(a) for a in action.args}
        sim.call("dev", name, args)
        sim.advance(1)
    for name, prop in dtype.properties.items():
        if prop.writable:
            sim.set("dev", name, valid_value(prop, sim.state("dev")[name]))
    sim.advance(3600)
    sim.settle()
    state = sim.state("dev")
    assert set(state) == set(dtype.properties)
    for name, value in state.items():
        dtype.properties[name].check(value, f"dev.{name}")
