"""Large synthetic spaces for benchmarks: many areas, every type, valid initial state."""

from __future__ import annotations

import random

from hyperhub.space import Space, parse_space

# The mix of a house scaled up: mostly lights, sensors, plugs and switches.
MIX = [
    ("light", 30, "{on: false, brightness: 60}"),
    ("sensor", 20, "{temperature: 22.5, humidity: 45}"),
    ("plug", 10, "{on: true}"),
    ("switch", 8, "{on: false}"),
    ("climate", 6, "{on: true, mode: cool, target_temp: 25}"),
    ("cover", 6, None),
    ("fan", 4, "{on: false}"),
    ("air_purifier", 3, "{on: true, speed: 40}"),
    ("lock", 3, "{locked: true}"),
    ("media_player", 3, "{on: false, volume: 20}"),
    ("vacuum", 2, "{status: docked}"),
    ("phone", 2, "{dnd: false}"),
    ("wearable", 1, "{steps: 1000}"),
    ("car", 1, "{locked: true, battery_soc: 60}"),
    ("robot_dog", 1, "{}"),
]


Mix = list[tuple[str, int, str | None]]  # (type, weight, initial state or None)


def synthetic_space_yaml(
    devices: int, *, seed: int = 0, per_area: int = 25, mix: Mix | None = None
) -> str:
    """YAML for a space with `devices` devices spread over areas of about `per_area`, their
    types drawn from `mix` (default `MIX`, a house scaled up)."""
    rng = random.Random(seed)
    mix = MIX if mix is None else mix
    kinds = [t for t, weight, _ in mix for _ in range(weight)]
    states = {t: s for t, _, s in mix}
    areas = max(1, devices // per_area)
    lines = [f"space: Synthetic {devices}", "location: {lat: 31.2, lon: 121.5}", "areas:"]
    lines += [f"  - {{id: area_{a}, name: Area {a}, floor: floor {a % 5}}}" for a in range(areas)]
    lines.append("devices:")
    for i in range(devices):
        kind = kinds[rng.randrange(len(kinds))]
        extra = ", class: curtain" if kind == "cover" else ""
        state = f", state: {states[kind]}" if states[kind] else ""
        lines.append(
            f"  - {{id: {kind}_{i}, type: {kind}, name: {kind.title()} {i}, "
            f"area: area_{i % areas}{extra}{state}}}"
        )
    return "\n".join(lines) + "\n"


def synthetic_space(devices: int, *, seed: int = 0) -> Space:
    return parse_space(synthetic_space_yaml(devices, seed=seed), f"<synthetic {devices}>")
