"""Space files: areas, devices, aliases and initial state, validated with line-precise errors."""

from hyperhub.space.loader import load_space, parse_space
from hyperhub.space.model import Area, Device, Location, Route, Space

__all__ = ["Area", "Device", "Location", "Route", "Space", "load_space", "parse_space"]
