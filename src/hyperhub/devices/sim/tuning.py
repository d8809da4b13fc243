"""The simulator's tunables, in one place."""

from __future__ import annotations

MAX_STEP_S = 1.0
"""Longest integration step; timers and `on_reach` fire within this of the right moment."""

MAX_STEPS_PER_TICK = 100_000
"""Beyond this many steps a long catch-up uses longer steps, so it stays fast."""

TRAVEL_PERCENT_PER_S = 10.0
"""How fast a `travel` effect moves, in percent of the property's range per second."""

TRAVEL_PERCENT_PER_S_BY_CLASS: dict[str, float] = {"garage": 5.0, "gate": 5.0, "door": 20.0}
"""Device classes that travel at another speed than `TRAVEL_PERCENT_PER_S` (heavy or light)."""

TRAVEL_UNITS_PER_S_UNBOUNDED = 10.0
"""Travel speed, in the property's units per second, for a property without min and max."""

FLOAT_DECIMALS = 2
"""Integrated float properties are shown rounded to this many decimals."""

LOCATION_DECIMALS = 6
"""A location on a route is shown to this many decimals of a degree (about 0.1 m)."""

MAX_QUEUED_EVENTS = 10_000
"""Events nobody drains are dropped oldest first beyond this many."""
