"""A loaded, valid space: areas, devices and their initial state, with the types they follow."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hyperhub.errors import UnknownDevice
from hyperhub.spec import DeviceType, TypeRegistry


@dataclass(frozen=True)
class Location:
    lat: float
    lon: float

    def as_dict(self) -> dict[str, float]:
        return {"lat": self.lat, "lon": self.lon}


@dataclass(frozen=True)
class Area:
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    floor: str | None = None


@dataclass(frozen=True)
class Route:
    """A scripted route for anything with a `location`: waypoints driven at a speed."""

    waypoints: tuple[Location, ...]
    speed_kmh: float = 40.0
    loop: bool = False


@dataclass(frozen=True)
class Device:
    id: str
    type: str
    name: str
    dtype: DeviceType
    aliases: tuple[str, ...] = ()
    area: str | None = None
    cls: str | None = None  # the space's `class` (cover: curtain, garage, …)
    properties: tuple[str, ...] = ()  # the properties this device exposes
    state: dict[str, Any] = field(default_factory=dict)  # initial state, complete and valid
    route: Route | None = None

    def is_risky_write(self, prop: str, value: Any) -> bool:
        return self.dtype.write_is_risky(prop, value, self.cls)

    def is_risky_call(self, action: str) -> bool:
        return self.dtype.action(action, self.id).is_risky(self.cls)


@dataclass(frozen=True)
class Space:
    name: str
    areas: dict[str, Area]
    devices: dict[str, Device]
    types: TypeRegistry
    location: Location | None = None
    path: Path | None = None
    timezone: str | None = None  # an IANA name (Asia/Shanghai); None: the machine's own

    def tz(self) -> tzinfo:
        """The space's timezone: its `timezone`, else the machine's local timezone."""
        if self.timezone:
            return ZoneInfo(self.timezone)
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local

    def device(self, device_id: str) -> Device:
        """The device `device_id`, or `UnknownDevice` naming the space."""
        try:
            return self.devices[device_id]
        except KeyError:
            raise UnknownDevice(
                f"no device {device_id!r} in space {self.name!r}"
                f"{_did_you_mean(device_id, self.devices)}"
            ) from None

    def select(
        self, *, area: str | None = None, type: str | None = None, floor: str | None = None
    ) -> list[Device]:
        """Devices in an area / of a type / on a floor (each filter optional)."""
        out: Iterable[Device] = self.devices.values()
        if area is not None:
            out = [d for d in out if d.area == area]
        if type is not None:
            out = [d for d in out if d.type == type]
        if floor is not None:
            out = [d for d in out if d.area and self.areas[d.area].floor == floor]
        return list(out)

    def initial_state(self) -> dict[str, dict[str, Any]]:
        """A deep-enough copy of every device's initial state."""
        return {d.id: _copy_state(d.state) for d in self.devices.values()}


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in state.items()}


def _did_you_mean(name: str, known: Iterable[str]) -> str:
    import difflib

    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""
