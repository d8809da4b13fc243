"""One simulator for every device type: behaviour comes from the type specs, not from code."""

from __future__ import annotations

import logging
import math
import random
from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from hyperhub.clock import Clock, SystemClock
from hyperhub.devices.sim import processes, tuning
from hyperhub.devices.sim.device import DeviceSim
from hyperhub.devices.sim.processes import ProcessMemory
from hyperhub.devices.sim.routes import Point, RouteFollower, as_point
from hyperhub.errors import SpecError, UnknownDevice, ValueNotAllowed
from hyperhub.space import Location, Space
from hyperhub.spec.backend import DeviceEvent

log = logging.getLogger(__name__)

State = dict[str, Any]
Changes = dict[str, dict[str, Any]]


class Simulator:
    """Simulated devices of a space: writes, actions, and their behaviour over time.

    Time comes from `clock`: tests pass a `ManualClock` and call `advance`; a running hub
    uses the system clock and calls `tick`. Writes and calls apply at once and do not
    integrate time; the next `tick` integrates from the previous one.
    """

    def __init__(
        self,
        space: Space,
        clock: Clock | None = None,
        *,
        seed: int = 0,
        state: dict[str, dict] | None = None,
        only: Iterable[str] | None = None,
    ) -> None:
        self.space = space
        self.clock: Clock = clock or SystemClock()
        self.seed = seed
        ids = list(space.devices) if only is None else [space.device(d).id for d in only]
        self._sims: dict[str, DeviceSim] = {}
        self._memory: dict[str, ProcessMemory] = {}
        self._events: deque[DeviceEvent] = deque(maxlen=tuning.MAX_QUEUED_EVENTS)
        overrides = state or {}
        for dev_id in dict.fromkeys(ids):
            device = space.devices[dev_id]
            initial = _copy(device.state)
            initial.update(_valid_overrides(space, dev_id, overrides.get(dev_id) or {}))
            sim = DeviceSim(device, initial, random.Random(f"{seed}:{dev_id}"))
            self._sims[dev_id] = sim
            self._memory[dev_id] = ProcessMemory(ratios=processes.initial_ratios(sim))
            if device.route is not None:
                r = device.route
                self.start_route(dev_id, r.waypoints, r.speed_kmh, r.loop)
        self._last = self.clock.now()

    @property
    def device_ids(self) -> list[str]:
        """The devices this simulator runs."""
        return list(self._sims)

    # -- reading -------------------------------------------------------------------------------

    def state(self, device_id: str) -> State:
        """A copy of the device's current state."""
        return _copy(self._sim(device_id).state)

    def states(self) -> dict[str, State]:
        """A copy of every simulated device's state."""
        return {d: _copy(s.state) for d, s in self._sims.items()}

    def is_moving(self, device_id: str) -> bool:
        """Whether the device follows a route or a property of it travels (a cover opening)."""
        sim = self._sim(device_id)
        return sim.route is not None or bool(sim.travels)

    def drain_events(self) -> list[DeviceEvent]:
        """The events emitted since the last drain, oldest first."""
        out = list(self._events)
        self._events.clear()
        return out

    # -- commands ------------------------------------------------------------------------------

    def set(self, device_id: str, prop: str, value: Any) -> State:
        """Write a property; return the properties whose value changed now.

        Writing an `implies_on` property turns the device on; writing a property that an
        action moves over time (a cover's position) moves it there over time too.
        """
        sim = self._sim(device_id)
        if prop not in sim.state:
            sim.dtype.prop(prop, device_id)  # an unknown name: the spec's error lists the known
            raise SpecError(
                f"device {device_id} ({sim.dtype.type}) does not expose {prop!r}; "
                f"it has: {', '.join(sim.state)}"
            )
        value = sim.dtype.check_write(prop, value, device_id)
        before = _copy(sim.state)
        sim.write(prop, value)
        return _diff(before, sim.state)

    def report(self, device_id: str, values: dict[str, Any]) -> State:
        """Put readings in as the device would report them (read-only ones too: a sensor's
        pm25, a watch's `sleeping`); checked against the spec, all or nothing. Returns what
        changed. For scripted scenarios and tests: commands go through `set` and `call`."""
        sim = self._sim(device_id)
        checked = {}
        for prop, value in values.items():
            if prop not in sim.state:
                raise SpecError(
                    f"device {device_id} ({sim.dtype.type}) does not expose {prop!r}; "
                    f"it has: {', '.join(sim.state)}"
                )
            checked[prop] = sim.dtype.check_write(prop, value, device_id, allow_readonly=True)
        before = _copy(sim.state)
        sim.state.update(checked)
        return _diff(before, sim.state)

    def call(self, device_id: str, action: str, args: dict | None = None) -> State:
        """Run an action's effects (risk is for callers to gate); return what changed now."""
        sim = self._sim(device_id)
        spec = sim.dtype.action(action, device_id)
        checked = sim.dtype.check_args(action, dict(args or {}), device_id)
        if spec.already and sim.holds(spec.already):
            return {}
        before = _copy(sim.state)
        sim.apply(spec.effects, checked)
        self._collect(sim, self.clock.now())
        return _diff(before, sim.state)

    def start_route(
        self,
        device_id: str,
        waypoints: Sequence[Point | Location],
        speed_kmh: float,
        loop: bool = False,
    ) -> State:
        """Put the device at the first waypoint and drive it along the others at `speed_kmh`."""
        sim = self._sim(device_id)
        if sim.location_prop is None:
            raise SpecError(
                f"device {device_id} ({sim.dtype.type}) has no location, "
                "so it cannot follow a route"
            )
        where = f"{device_id} route"
        points = [as_point(w, f"{where} waypoint {i + 1}") for i, w in enumerate(waypoints)]
        if len(points) < 2:
            raise ValueNotAllowed(f"{where}: a route needs at least two waypoints")
        number = isinstance(speed_kmh, int | float) and not isinstance(speed_kmh, bool)
        if not number or not math.isfinite(speed_kmh) or speed_kmh <= 0:
            raise ValueNotAllowed(f"{where}: speed {speed_kmh!r} must be a number above 0 km/h")
        before = _copy(sim.state)
        sim.route = RouteFollower(points, float(speed_kmh), loop)
        sim.show_route_position()
        if sim.route.done:
            sim.route = None
        sim.show_speed(float(speed_kmh) if sim.route else 0.0)
        return _diff(before, sim.state)

    def stop_route(self, device_id: str) -> State:
        """Stop the device where it is; return what changed (its speed drops to 0)."""
        sim = self._sim(device_id)
        before = _copy(sim.state)
        if sim.route is not None:
            sim.route = None
            sim.show_speed(0.0)
        return _diff(before, sim.state)

    # -- time ----------------------------------------------------------------------------------

    def advance(self, seconds: float) -> Changes:
        """Move a manual clock forward and integrate; return per device what changed."""
        if seconds < 0:
            raise ValueError(f"cannot advance by a negative time ({seconds} s)")
        advance = getattr(self.clock, "advance", None)
        if advance is None:
            raise TypeError("advance() needs a clock with advance() (ManualClock); use tick()")
        advance(seconds)
        return self.tick()

    def tick(self) -> Changes:
        """Integrate from the last tick up to the clock's now, in steps of at most 1 s."""
        now = self.clock.now()
        elapsed = now - self._last
        if elapsed <= 0:  # nothing passed, or the wall clock was set back: start from here
            self._last = now
            return {}
        before = self.states()
        step = max(tuning.MAX_STEP_S, elapsed / tuning.MAX_STEPS_PER_TICK)
        count = math.ceil(elapsed / step - 1e-9)
        for k in range(count):
            h = min(step, elapsed - k * step)
            t = self._last + k * step + h
            for dev_id, sim in self._sims.items():
                if sim.idle:
                    continue
                sim.step_route(h)
                sim.step_travels(h)
                processes.step(sim, self._memory[dev_id], h)
                self._collect(sim, t)
        self._last = now
        return self._changes(before)

    def settle(self) -> Changes:
        """Finish every travel at once (a cover at its target); routes and processes go on."""
        before = self.states()
        for sim in self._sims.values():
            sim.settle()
        return self._changes(before)

    # -- internals -----------------------------------------------------------------------------

    def _sim(self, device_id: str) -> DeviceSim:
        try:
            return self._sims[device_id]
        except KeyError:
            self.space.device(device_id)  # raises UnknownDevice with a suggestion
            raise UnknownDevice(
                f"device {device_id!r} is not simulated here; "
                f"simulated: {', '.join(self._sims) or 'none'}"
            ) from None

    def _collect(self, sim: DeviceSim, ts: float) -> None:
        for name, args in sim.events:
            self._events.append(DeviceEvent(sim.device.id, name, args, ts))
        sim.events.clear()

    def _changes(self, before: dict[str, State]) -> Changes:
        out = {d: _diff(before[d], s.state) for d, s in self._sims.items()}
        return {d: c for d, c in out.items() if c}


def _copy(state: State) -> State:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in state.items()}


def _diff(before: State, after: State) -> State:
    """The properties of `after` whose value differs from `before` (copied)."""
    return {
        k: dict(v) if isinstance(v, dict) else v
        for k, v in after.items()
        if k not in before or before[k] != v or type(before[k]) is not type(v)
    }


def _valid_overrides(space: Space, device_id: str, given: dict[str, Any]) -> State:
    """The overrides that fit the device now; others (a changed space or spec) are skipped."""
    device = space.devices[device_id]
    out: State = {}
    for prop, value in given.items():
        if prop not in device.properties:
            log.warning("state of %s: ignoring %r, which it does not expose", device_id, prop)
            continue
        try:
            out[prop] = device.dtype.check_write(prop, value, device_id, allow_readonly=True)
        except ValueNotAllowed as exc:
            log.warning("state of %s: ignoring a value that does not fit: %s", device_id, exc)
    return out
