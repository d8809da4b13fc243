"""Scripted routes: a location that moves along a polyline at a speed (haversine distances)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from hyperhub.errors import ValueNotAllowed
from hyperhub.space import Location

EARTH_RADIUS_KM = 6371.0088
Point = tuple[float, float]


def haversine_km(a: Point, b: Point) -> float:
    """The great-circle distance between two (lat, lon) points, in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def as_point(waypoint: Point | Location | dict, where: str) -> Point:
    """A waypoint as (lat, lon), or `ValueNotAllowed` naming `where`."""
    if isinstance(waypoint, Location):
        lat, lon = waypoint.lat, waypoint.lon
    elif isinstance(waypoint, dict) and set(waypoint) == {"lat", "lon"}:
        lat, lon = waypoint["lat"], waypoint["lon"]
    elif isinstance(waypoint, Sequence) and not isinstance(waypoint, str) and len(waypoint) == 2:
        lat, lon = waypoint
    else:
        raise ValueNotAllowed(f"{where}: {waypoint!r} is not a waypoint (lat, lon)")
    numbers = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    if not numbers or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        raise ValueNotAllowed(f"{where}: {waypoint!r} must have lat -90..90 and lon -180..180")
    return float(lat), float(lon)


class RouteFollower:
    """Progress along a polyline; a loop drives from the last waypoint back to the first."""

    def __init__(self, points: Sequence[Point], speed_kmh: float, loop: bool = False) -> None:
        self.points = list(points)
        self.speed_kmh = speed_kmh
        self.loop = loop
        ends = self.points[1:] + (self.points[:1] if loop else [])
        self._lengths = [haversine_km(a, b) for a, b in zip(self.points, ends, strict=False)]
        self._total = sum(self._lengths)
        self._segment = 0
        self._along_km = 0.0
        self.done = self._total == 0.0  # nowhere to go: a route of one place ends at once

    def advance(self, seconds: float) -> None:
        """Drive on for `seconds`; `done` turns true at the end of a route that does not loop."""
        remaining = self.speed_kmh * seconds / 3600.0
        if self.loop and remaining > self._total > 0:
            remaining %= self._total
        while remaining > 0 and not self.done:
            left = self._lengths[self._segment] - self._along_km
            if remaining < left:
                self._along_km += remaining
                return
            remaining -= left
            self._segment += 1
            self._along_km = 0.0
            if self._segment == len(self._lengths):
                if self.loop:
                    self._segment = 0
                else:
                    self.done = True

    def position(self) -> Point:
        """Where the follower is now: on its segment, by the fraction of it covered."""
        if self.done and not self.loop:
            return self.points[-1]
        if self.done:
            return self.points[0]
        start = self.points[self._segment]
        end = self.points[(self._segment + 1) % len(self.points)]
        length = self._lengths[self._segment]
        f = self._along_km / length if length else 0.0
        return start[0] + (end[0] - start[0]) * f, start[1] + (end[1] - start[1]) * f
