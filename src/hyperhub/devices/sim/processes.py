"""The spec's `simulation` processes, integrated over one time step of one device."""

from __future__ import annotations

from dataclasses import dataclass, field

from hyperhub.devices.sim.device import DeviceSim, move_toward
from hyperhub.spec import Process


@dataclass
class ProcessMemory:
    """What a device's processes remember between steps, by process index."""

    reached: dict[int, bool] = field(default_factory=dict)  # approach: on_reach already ran
    elapsed: dict[int, float] = field(default_factory=dict)  # timer: seconds `when` has held
    fired: dict[int, bool] = field(default_factory=dict)  # timer: on_reach already ran
    ratios: dict[int, float] = field(default_factory=dict)  # ratio: property / source


def initial_ratios(sim: DeviceSim) -> dict[int, float]:
    """The ratio each `ratio` process keeps, from the state at the start.

    A source of 0 has no ratio; then the spec defaults give it, or else the ranges' maxima.
    """
    out: dict[int, float] = {}
    for i, proc in enumerate(sim.dtype.simulation):
        numbers = sim.has_number(proc.property) and sim.has_number(proc.source)
        if proc.kind != "ratio" or not numbers:
            continue
        assert proc.property is not None and proc.source is not None
        prop, src = sim.spec(proc.property), sim.spec(proc.source)
        for value, source in (
            (sim.state[proc.property], sim.state[proc.source]),
            (prop.default, src.default),
            (prop.max, src.max),
        ):
            if isinstance(value, int | float) and isinstance(source, int | float) and source > 0:
                out[i] = value / source
                break
    return out


def step(sim: DeviceSim, memory: ProcessMemory, seconds: float) -> None:
    """Integrate every process of `sim` over `seconds`.

    Conditions are read from the state at the start of the step, so an effect that fires in
    this step (a timer that sends the vacuum home) starts counting from the next one.
    """
    procs = sim.dtype.simulation
    holding = [sim.holds(p.when) for p in procs]
    for i, proc in enumerate(procs):
        if proc.kind == "approach":
            _approach(sim, memory, i, proc, holding[i], seconds)
        elif proc.kind == "random_walk":
            _random_walk(sim, proc, holding[i], seconds)
        elif proc.kind == "timer":
            _timer(sim, memory, i, proc, holding[i], seconds)
    # ratios last: they follow what the other processes did to their sources in this step
    for i, proc in enumerate(procs):
        if proc.kind == "ratio" and holding[i] and i in memory.ratios:
            assert proc.property is not None and proc.source is not None
            sim.put_number(proc.property, memory.ratios[i] * sim.number(proc.source))


def _approach(
    sim: DeviceSim, memory: ProcessMemory, i: int, proc: Process, holds: bool, seconds: float
) -> None:
    prop = proc.property
    target = _target(sim, proc)
    if not holds or prop is None or target is None or not sim.has_number(prop):
        memory.reached[i] = False
        return
    x = sim.number(prop)
    if not _at(x, target, proc.direction):
        memory.reached[i] = False
        x = move_toward(x, target, proc.rate * seconds)
        sim.put_number(prop, x)
    if _at(sim.number(prop), target, proc.direction) and not memory.reached.get(i):
        memory.reached[i] = True  # once per reach: again only after leaving the target
        sim.apply(proc.on_reach, {})


def _target(sim: DeviceSim, proc: Process) -> float | None:
    """The number an approach heads for, within its property's range; None if there is none."""
    if proc.property is None or not sim.has_number(proc.property):
        return None
    if isinstance(proc.target, str):
        if not sim.has_number(proc.target):
            return None
        target = sim.number(proc.target)
    elif proc.target is None:
        return None
    else:
        target = float(proc.target)
    return sim.spec(proc.property).within(target)


def _at(x: float, target: float, direction: str) -> bool:
    if direction == "up":
        return x >= target
    if direction == "down":
        return x <= target
    return x == target


def _random_walk(sim: DeviceSim, proc: Process, holds: bool, seconds: float) -> None:
    prop = proc.property
    if not holds or prop is None or not sim.has_number(prop):
        return
    spec = sim.spec(prop)
    lo = max(v for v in (proc.min, spec.min, float("-inf")) if v is not None)
    hi = min(v for v in (proc.max, spec.max, float("inf")) if v is not None)
    x = sim.number(prop)
    reach = proc.step * seconds
    if x < lo:  # outside the band (set so by hand or by another process): drift back in
        x = min(lo, x + reach)
    elif x > hi:
        x = max(hi, x - reach)
    else:
        x = min(hi, max(lo, x + sim.rng.uniform(-reach, reach)))
    sim.put_number(prop, x)


def _timer(
    sim: DeviceSim, memory: ProcessMemory, i: int, proc: Process, holds: bool, seconds: float
) -> None:
    if not holds:  # restarts from zero when `when` holds again
        memory.elapsed[i] = 0.0
        memory.fired[i] = False
        return
    if memory.fired.get(i):
        return
    memory.elapsed[i] = memory.elapsed.get(i, 0.0) + seconds
    if memory.elapsed[i] >= proc.after - 1e-9:
        memory.fired[i] = True
        sim.apply(proc.on_reach, {})
