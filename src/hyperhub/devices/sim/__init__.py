"""One generic simulator for every device type, driven by the type specs.

`Simulator` holds the state of a space's devices, applies writes and actions with their side
effects, and integrates the specs' processes (approach, random walk, timer, ratio), travels
and scripted routes over time from an injectable `Clock`.
"""

from hyperhub.devices.sim.routes import haversine_km
from hyperhub.devices.sim.simulator import Simulator

__all__ = ["Simulator", "haversine_km"]
