"""A loaded, valid space: areas, devices and their initial state, with the types they follow."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hyperhub.errors import HyperHubError, UnknownDevice, did_you_mean
from hyperhub.space.adapters import AdapterDecl
from hyperhub.spec import DeviceType, TypeRegistry
from hyperhub.spec.policy import Command, Target, is_risky
from hyperhub.spec.words import name_in


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

    def name_in(self, lang: str) -> str:
        """What people call it in `lang` (in Chinese, a Chinese alias everyone would say)."""
        return name_in(lang, self.name, self.aliases)


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
    adapter: str | None = None  # the adapter it was accepted from (`space.adapters`)
    external: str | None = None  # its id in that adapter's system

    def name_in(self, lang: str) -> str:
        """What people call it in `lang` (in Chinese, a Chinese alias everyone would say)."""
        return name_in(lang, self.name, self.aliases)

    @property
    def target(self) -> Target:
        """What the command policy needs of it (`spec.policy`): only what it exposes."""
        exposes = self.properties or None
        return Target(self.id, self.dtype, self.cls, self.name, self.aliases, exposes)

    def is_risky(self, cmd: Command) -> bool:
        """Whether `cmd` on this device needs a yes first (`spec.policy.is_risky`)."""
        return is_risky(self.dtype, self.cls, cmd)


@dataclass(frozen=True)
class Space:
    name: str
    areas: dict[str, Area]
    devices: dict[str, Device]
    types: TypeRegistry
    location: Location | None = None
    path: Path | None = None
    timezone: str | None = None  # an IANA name (Asia/Shanghai); None: the machine's own
    adapters: dict[str, AdapterDecl] = field(default_factory=dict)  # by id

    def tz(self) -> tzinfo:
        """The space's timezone: its `timezone`, else the machine's local timezone."""
        if self.timezone:
            return ZoneInfo(self.timezone)
        local = datetime.now().astimezone().tzinfo
        assert local is not None
        return local

    def timezone_name(self) -> str | None:
        """The IANA name of the space's timezone: its `timezone`, else the machine's own
        (TZ, else /etc/localtime's target), "UTC" for an unnamed zero offset, else None."""
        if self.timezone:
            return self.timezone
        return local_zone_name()

    def device(self, device_id: str) -> Device:
        """The device `device_id`, or `UnknownDevice` naming the space."""
        try:
            return self.devices[device_id]
        except KeyError:
            raise UnknownDevice(
                f"no device {device_id!r} in space {self.name!r}"
                f"{did_you_mean(device_id, self.devices)}"
            ) from None

    def find_device(self, text: str) -> Device:
        """A device by id, name or alias, as people write them (any case, spaces or
        underscores: "Living Room Thermometer", "living_room_thermometer", "客厅温度计") —
        what the CLI takes. `UnknownDevice` names the closest devices by name and id, or
        the candidates when several match."""
        found, close = _find(text, self.devices)
        if isinstance(found, Device):
            return found
        if found:
            options = ", ".join(f"{d.name} ({d.id})" for d in found)
            raise UnknownDevice(f"{text!r} could be {options}: give the id")
        hint = f"; did you mean {close}?" if close else ""
        raise UnknownDevice(f"no device {text!r} in space {self.name!r}{hint}")

    def find_area(self, text: str) -> Area:
        """An area by id, name or alias (any case, spaces or underscores: "Kitchen", 厨房)."""
        found, close = _find(text, self.areas)
        if isinstance(found, Area):
            return found
        names = ", ".join(a.name for a in self.areas.values())
        hint = f"did you mean {close}? " if close else ""
        raise HyperHubError(f"no area {text!r} in space {self.name!r}; {hint}areas: {names}")

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

    def restored_state(self, stored: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        """Stored values that still fit the space (known device, exposed property, valid value)."""
        out: dict[str, dict[str, Any]] = {}
        for device in self.devices.values():
            keep = {}
            for prop, value in (stored.get(device.id) or {}).items():
                if prop in device.properties:
                    with contextlib.suppress(HyperHubError):
                        keep[prop] = device.dtype.check_write(
                            prop, value, device.id, allow_readonly=True
                        )
            if keep:
                out[device.id] = keep
        return out

    def initial_state(self) -> dict[str, dict[str, Any]]:
        """A deep-enough copy of every device's initial state."""
        return {d.id: _copy_state(d.state) for d in self.devices.values()}


def _copy_state(state: dict[str, Any]) -> dict[str, Any]:
    return {k: dict(v) if isinstance(v, dict) else v for k, v in state.items()}


def _key(text: str) -> str:
    """How a name is compared: lower case, `_` and `-` as spaces, spaces collapsed."""
    return " ".join(text.casefold().replace("_", " ").replace("-", " ").split())


def _keys(ident: str, name: str, aliases: Iterable[str]) -> set[str]:
    return {_key(ident), _key(name), *(_key(a) for a in aliases)}


def _find(text: str, things: dict[str, Any]) -> tuple[Any, str]:
    """(the one thing `text` names by id, name or alias, or the list of those it could be;
    the closest by label, as "Name (id)", when it names none)."""
    if text in things:
        return things[text], ""
    key = _key(text)
    found = [t for t in things.values() if key in _keys(t.id, t.name, t.aliases)]
    if len(found) == 1:
        return found[0], ""
    labels: dict[str, Any] = {}
    for thing in things.values():
        for label in _keys(thing.id, thing.name, thing.aliases):
            labels.setdefault(label, thing)
    return found, "" if found else _close(key, labels)


def _close(key: str, labels: dict[str, Any]) -> str:
    """The closest things by label, as "Name (id)", or ""."""
    import difflib

    seen: list[Any] = []
    for label in difflib.get_close_matches(key, list(labels), n=5, cutoff=0.6):
        if labels[label] not in seen:
            seen.append(labels[label])
    return " or ".join(f"{x.name} ({x.id})" for x in seen[:2])


def local_zone_name() -> str | None:
    """This machine's IANA timezone name, or None when it has none that a browser knows."""
    candidates = [os.environ.get("TZ", "").lstrip(":")]
    try:
        target = os.path.realpath("/etc/localtime")
        if "zoneinfo/" in target:
            candidates.append(target.split("zoneinfo/", 1)[1])
    except OSError:
        pass
    for name in candidates:
        if not name:
            continue
        try:
            ZoneInfo(name)
        except (ValueError, KeyError, OSError):
            continue
        return name
    offset = datetime.now().astimezone().utcoffset()
    return "UTC" if offset is not None and not offset else None
