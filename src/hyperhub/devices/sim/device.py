"""One simulated device: its visible state, exact numeric values, travels, route and effects."""

from __future__ import annotations

import random
from typing import Any

from hyperhub.devices.sim import tuning
from hyperhub.devices.sim.routes import RouteFollower
from hyperhub.errors import SpecError
from hyperhub.space import Device
from hyperhub.spec import Effect, PropertySpec

SPEED = "speed_kmh"  # reports a route's speed while moving, 0 when stopped
GEAR = "gear"  # D while a route moves the device, P when it stops


class DeviceSim:
    """The simulated state of one device and what changes it.

    Numbers that processes and travels integrate keep an exact float behind the visible
    value, so an int battery still drains at 0.01 %/s and floats show only a few decimals.
    """

    def __init__(self, device: Device, state: dict[str, Any], rng: random.Random) -> None:
        self.device = device
        self.dtype = device.dtype
        self.state = state
        self.rng = rng
        self.travels: dict[str, float] = {}  # property → target it moves toward
        self.route: RouteFollower | None = None
        self.events: list[tuple[str, dict[str, Any]]] = []  # emitted, not yet stamped
        self._exact: dict[str, float] = {}
        self._specs = self.dtype.properties
        self._numbers = frozenset(
            p for p in device.properties if self._specs[p].kind in ("int", "float")
        )
        self.travel_props = _travel_properties(device)
        self.location_prop = next(
            (p for p in device.properties if self._specs[p].kind == "location"), None
        )

    # -- reading and writing numbers ---------------------------------------------------------

    def spec(self, prop: str) -> PropertySpec:
        return self._specs[prop]

    def has_number(self, prop: str | None) -> bool:
        return prop in self._numbers

    @property
    def idle(self) -> bool:
        """Nothing to integrate: no process, travel or route."""
        return not (self.dtype.simulation or self.travels or self.route)

    def number(self, prop: str) -> float:
        """The exact value of a numeric property."""
        exact = self._exact.get(prop)
        if exact is None:  # never integrated, or written since
            exact = self._exact[prop] = float(self.state[prop])
        return exact

    def put_number(self, prop: str, value: float) -> None:
        """Store an integrated value, clamped to the property's range."""
        value = self.spec(prop).within(value)
        self._exact[prop] = value
        self.state[prop] = self._visible(prop, value)

    def _visible(self, prop: str, value: float) -> float | int:
        spec = self.spec(prop)
        if spec.kind == "int":
            return int(spec.within(round(value), whole=True))
        return round(value, tuning.FLOAT_DECIMALS)

    def holds(self, when: dict[str, Any]) -> bool:
        """Whether every condition holds: each named property equals its value."""
        return all(k in self.state and _equal(self.state[k], v) for k, v in when.items())

    # -- writes and effects ------------------------------------------------------------------

    def write(self, prop: str, value: Any) -> None:
        """Apply an already validated write, with its side effects."""
        switch = self.spec(prop).switch
        if switch is not None and self.state.get(switch) is False:
            self._assign(switch, True)
        if prop in self.travel_props:
            self.start_travel(prop, value)
        else:
            self._assign(prop, value)

    def start_travel(self, prop: str, target: float) -> None:
        """Move `prop` toward `target` over time; nothing to do if it is already there."""
        target = self.spec(prop).within(float(target))
        if self.number(prop) == target:
            self.travels.pop(prop, None)
        else:
            self.travels[prop] = target

    def fit(self, prop: str, value: Any) -> Any:
        """`value` normalised for `prop` (read-only ones too: effects may set them)."""
        return self.dtype.check_write(prop, value, self.device.id, allow_readonly=True)

    def check_effects(self, effects: tuple[Effect, ...], args: dict[str, Any]) -> None:
        """Raise before anything changes if an effect would write a value its property refuses."""
        for eff in effects:
            for prop, value in (eff.set or {}).items():
                if prop in self.state:
                    self.fit(prop, value)
            for prop, arg in (eff.set_arg or {}).items():
                if prop in self.state and arg in args:
                    self.fit(prop, args[arg])
            toggled = eff.toggle
            if toggled is not None and toggled in self.state and self.spec(toggled).kind != "bool":
                raise SpecError(f"{self.device.id}.{toggled}: only a bool can be toggled")
            for prop in eff.travel or {}:
                if prop in self.state and not self.has_number(prop):
                    raise SpecError(f"{self.device.id}.{prop}: only a number can travel")

    def apply(self, effects: tuple[Effect, ...], args: dict[str, Any]) -> None:
        """Run effects; properties this device does not expose are left alone."""
        self.check_effects(effects, args)
        for eff in effects:
            for prop, value in (eff.set or {}).items():
                if prop in self.state:
                    self._assign(prop, self.fit(prop, value))
            for prop, arg in (eff.set_arg or {}).items():
                if prop in self.state and arg in args:
                    self._assign(prop, self.fit(prop, args[arg]))
            if eff.toggle in self.state:
                self._assign(eff.toggle, not self.state[eff.toggle])
            for prop, target in (eff.travel or {}).items():
                if prop in self.state:
                    self.start_travel(prop, target)
            if eff.halt:
                self.travels.pop(eff.halt, None)
            if eff.event:
                self.events.append((eff.event, dict(args)))

    def _assign(self, prop: str, value: Any) -> None:
        self.travels.pop(prop, None)
        self._exact.pop(prop, None)
        self.state[prop] = value

    # -- time ----------------------------------------------------------------------------------

    def step_travels(self, seconds: float) -> None:
        for prop, target in list(self.travels.items()):
            speed = travel_speed(self.spec(prop), self.device.cls)
            x = move_toward(self.number(prop), target, speed * seconds)
            self.put_number(prop, x)
            if x == target:
                del self.travels[prop]

    def settle(self) -> None:
        """Put every travelling property at its target now."""
        for prop, target in self.travels.items():
            self.put_number(prop, target)
        self.travels.clear()

    def step_route(self, seconds: float) -> None:
        if self.route is None or self.location_prop is None:
            return
        self.route.advance(seconds)
        self.show_route_position()
        if self.route.done:
            self.route = None
            self.show_speed(0.0)

    def show_route_position(self) -> None:
        assert self.route is not None and self.location_prop is not None
        lat, lon = self.route.position()
        digits = tuning.LOCATION_DECIMALS
        self.state[self.location_prop] = {"lat": round(lat, digits), "lon": round(lon, digits)}

    def show_speed(self, speed_kmh: float) -> None:
        """Show the route's speed, and a gear that fits it: D while moving, P when stopped
        (a car does not drive 40 km/h in park)."""
        if self.has_number(SPEED):
            self.put_number(SPEED, speed_kmh)
        gear = self.dtype.properties.get(GEAR)
        if gear is not None and GEAR in self.state and {"D", "P"} <= set(gear.values or ()):
            self.state[GEAR] = "D" if speed_kmh > 0 else "P"


def _travel_properties(device: Device) -> frozenset[str]:
    """Properties some action moves over time: writing them moves them too."""
    return frozenset(
        prop
        for action in device.dtype.actions.values()
        for eff in action.effects
        for prop in eff.travel or {}
    )


def _equal(a: Any, b: Any) -> bool:
    """Equality that keeps True apart from 1 (Python's bool is an int)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return bool(a == b)


def move_toward(x: float, target: float, distance: float) -> float:
    """`x` moved by at most `distance` toward `target`, landing on it exactly."""
    if abs(target - x) <= distance:
        return target
    return x + distance if target > x else x - distance


def travel_speed(spec: PropertySpec, device_class: str | None) -> float:
    """Units per second a travel moves `spec`'s property, for a device of this class."""
    percent = tuning.TRAVEL_PERCENT_PER_S_BY_CLASS.get(
        device_class or "", tuning.TRAVEL_PERCENT_PER_S
    )
    if spec.min is None or spec.max is None:
        return tuning.TRAVEL_UNITS_PER_S_UNBOUNDED
    return (spec.max - spec.min) * percent / 100.0
