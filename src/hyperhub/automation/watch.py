"""Trigger watchers: which state changes, events, availability changes and times fire which
rule, with the little memory each trigger needs (a numeric trigger's arming, a geofence's
inside / outside, a `for` that is pending).

`Watches` is built once from a `Book`; its `on_*` methods are called in the hub's ingest path
for every message, so the common case (a device no trigger watches) is one dict lookup.
They return `Fired` items (rule, trigger info); the engine runs them.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any

from hyperhub.automation import when
from hyperhub.automation.model import (
    GeofenceTrigger,
    NumericTrigger,
    OfflineTrigger,
    Place,
    Rule,
    StateTrigger,
    Trigger,
)
from hyperhub.space import Location, Space

GEOFENCE_HYSTERESIS = 0.05  # leaving needs the radius plus 5 % (GPS jitter must not flap)
MAX_CATCH_UP = 1  # a time trigger missed while the hub slept fires once, not once per miss


@dataclass
class Fired:
    """A trigger that fired: the rule, what happened (the `trigger` of templates and
    traces), and the device whose change caused it (for loop detection)."""

    rule: str
    info: dict[str, Any]
    device: str | None = None


@dataclass
class _Watch:
    rule: str
    index: int
    trigger: Trigger
    device: str
    armed: bool = True  # numeric: may fire; geofence: unused
    inside: bool | None = None  # geofence: inside the circle (None until a location is known)

    @property
    def key(self) -> tuple[str, int, str]:
        return (self.rule, self.index, self.device)


@dataclass
class _Timed:
    rule: str
    index: int
    trigger: Trigger
    due: float | None


@dataclass
class _Pending:
    """A trigger whose `for` is running: fires at `due` unless cancelled first."""

    fired: Fired
    due: float


@dataclass
class Watches:
    """Every trigger of a book's enabled rules, indexed by what can fire it."""

    space: Space
    places: dict[str, Place]
    tz: tzinfo
    now: Callable[[], float]
    by_device: dict[str, list[_Watch]] = field(default_factory=dict)
    by_event: dict[tuple[str, str], list[_Watch]] = field(default_factory=dict)
    by_offline: dict[str, list[_Watch]] = field(default_factory=dict)
    timed: list[_Timed] = field(default_factory=list)
    pending: dict[tuple[str, int, str], _Pending] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # watched values, per device
    distances: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------

    def add_rule(self, rule: Rule, state_of: Callable[[str], dict[str, Any] | None]) -> None:
        """Watch the triggers of `rule`, armed from the devices' current state."""
        for index, trigger in enumerate(rule.triggers):
            kind, body = trigger.kind, trigger.body
            if kind in ("time", "cron", "sun"):
                timed = _Timed(rule.id, index, trigger, None)
                timed.due = self._next_due(timed, self.now())
                self.timed.append(timed)
                continue
            for device in self.devices(body):
                watch = _Watch(rule.id, index, trigger, device)
                if kind == "event":
                    self.by_event.setdefault((device, body.event), []).append(watch)
                elif kind == "offline":
                    self.by_offline.setdefault(device, []).append(watch)
                else:
                    self.by_device.setdefault(device, []).append(watch)
                    self._arm(watch, state_of(device) or {})

    def remove_rule(self, rule_id: str) -> None:
        """Stop watching a rule's triggers (and drop its pending `for`s)."""
        for index in (self.by_device, self.by_event, self.by_offline):
            for key in list(index):
                index[key] = [w for w in index[key] if w.rule != rule_id]
                if not index[key]:
                    del index[key]
        self.timed = [t for t in self.timed if t.rule != rule_id]
        for key in [k for k in self.pending if k[0] == rule_id]:
            del self.pending[key]

    def devices(self, body: Any) -> list[str]:
        """The device ids a trigger (or notify) names: its `device`, or all of its `type`."""
        device = getattr(body, "device", None)
        if device is not None:
            return [device] if isinstance(device, str) else list(device)
        kind = getattr(body, "type", None)
        return [d.id for d in self.space.devices.values() if d.type == kind]

    def _arm(self, watch: _Watch, state: dict[str, Any]) -> None:
        body = watch.trigger.body
        if isinstance(body, NumericTrigger):
            value = state.get(body.property)
            watch.armed = not (_is_number(value) and _in_range(body, float(value)))
        elif isinstance(body, GeofenceTrigger):
            distance = self.distance(state.get("location"), body.place)
            if distance is not None:
                watch.inside = distance <= self.radius(body)
        if isinstance(body, StateTrigger | NumericTrigger):
            self.last.setdefault(watch.device, {})[body.property] = state.get(body.property)

    # -- geometry ---------------------------------------------------------------------------

    def place(self, place: str) -> Place | None:
        return self.places.get(place)

    def radius(self, body: GeofenceTrigger) -> float:
        if body.radius_km is not None:
            return body.radius_km
        place = self.places.get(body.place)
        return place.radius_km if place is not None else 0.2

    def distance(self, location: Any, place: str) -> float | None:
        """km from a `location` value to a place; None when either is unknown."""
        target = self.places.get(place)
        if target is None or not isinstance(location, dict):
            return None
        lat, lon = location.get("lat"), location.get("lon")
        if not (_is_number(lat) and _is_number(lon)):
            return None
        return when.distance_km({"lat": lat, "lon": lon}, {"lat": target.lat, "lon": target.lon})

    def track(self, device: str, location: Any) -> None:
        """Remember a moving device's distance to every place, and whether it got closer."""
        for place in self.places:
            distance = self.distance(location, place)
            if distance is None:
                continue
            before = self.distances.get((device, place))
            approaching = before is not None and distance < before[0] - 1e-6
            if before is not None and abs(distance - before[0]) <= 1e-6:
                approaching = before[1]  # not moving: keep what it was doing
            self.distances[(device, place)] = (distance, approaching)

    # -- what fires -------------------------------------------------------------------------

    def on_change(self, device: str, changed: dict[str, Any]) -> list[Fired]:
        """Triggers fired (now) by a device's changed properties; `for`s start or stop."""
        if "location" in changed:
            self.track(device, changed["location"])
        watches = self.by_device.get(device)
        if not watches:
            return []
        fired: list[Fired] = []
        last = self.last.setdefault(device, {})
        for watch in watches:
            body = watch.trigger.body
            if isinstance(body, StateTrigger):
                if body.property in changed:
                    old = last.get(body.property)
                    self._state(watch, body, old, changed[body.property], fired)
            elif isinstance(body, NumericTrigger):
                if body.property in changed:
                    self._numeric(watch, body, changed[body.property], fired)
            elif isinstance(body, GeofenceTrigger) and "location" in changed:
                self._geofence(watch, body, changed["location"], fired)
        for prop, value in changed.items():
            if prop in last:
                last[prop] = value
        return fired

    def on_event(self, device: str, name: str, args: dict[str, Any]) -> list[Fired]:
        fired = []
        for watch in self.by_event.get((device, name), ()):
            wanted = watch.trigger.body.args
            if all(args.get(k) == v for k, v in wanted.items()):
                info = self._info(watch, event=name, args=dict(args))
                fired.append(Fired(watch.rule, info, device))
        return fired

    def on_availability(self, device: str, online: bool) -> list[Fired]:
        fired: list[Fired] = []
        for watch in self.by_offline.get(device, ()):
            body: OfflineTrigger = watch.trigger.body
            if online:
                self.pending.pop(watch.key, None)
                continue
            self._fire_or_wait(watch, body.for_, self._info(watch, to="offline"), fired)
        return fired

    def due(self, now: float) -> list[Fired]:
        """Time triggers and `for`s whose moment has come (each fires once)."""
        fired: list[Fired] = []
        for timed in self.timed:
            if timed.due is not None and timed.due <= now:
                info = {
                    "kind": timed.trigger.kind,
                    "index": timed.index,
                    "id": timed.trigger.id,
                    "at": timed.due,
                    "description": self.describe_timed(timed),
                }
                fired.append(Fired(timed.rule, info))
                timed.due = self._next_due(timed, max(now, timed.due))
        for key, pending in list(self.pending.items()):
            if pending.due <= now:
                del self.pending[key]
                fired.append(pending.fired)
        return fired

    def next_due(self) -> float | None:
        """The earliest moment `due` has something to fire."""
        times = [t.due for t in self.timed if t.due is not None]
        times += [p.due for p in self.pending.values()]
        return min(times) if times else None

    # -- the kinds --------------------------------------------------------------------------

    def _state(
        self, watch: _Watch, body: StateTrigger, old: Any, new: Any, fired: list[Fired]
    ) -> None:
        given = body.model_fields_set
        matches = (not given & {"to"} or _same(new, body.to)) and (
            not given & {"from_"} or _same(old, body.from_)
        )
        if watch.key in self.pending and (not matches or "to" not in given):
            del self.pending[watch.key]  # it did not stay so
        if matches and not _same(old, new):
            info = self._info(watch, property=body.property, **{"from": old, "to": new})
            self._fire_or_wait(watch, body.for_, info, fired)

    def _numeric(self, watch: _Watch, body: NumericTrigger, value: Any, fired: list[Fired]) -> None:
        if not _is_number(value):
            return
        x = float(value)
        if _in_range(body, x):
            if watch.armed:
                watch.armed = False
                info = self._info(watch, property=body.property, value=value)
                info.update(above=body.above, below=body.below)
                self._fire_or_wait(watch, body.for_, info, fired)
            return
        self.pending.pop(watch.key, None)
        if not watch.armed and _beyond_hysteresis(body, x):
            watch.armed = True

    def _geofence(
        self, watch: _Watch, body: GeofenceTrigger, location: Any, fired: list[Fired]
    ) -> None:
        distance = self.distance(location, body.place)
        if distance is None:
            return
        radius = self.radius(body)
        was = watch.inside
        if was is None:
            watch.inside = distance <= radius
            return
        now_inside = distance <= radius if not was else distance <= radius * (
            1 + GEOFENCE_HYSTERESIS
        )
        watch.inside = now_inside
        if was == now_inside:
            return
        event = "enter" if now_inside else "leave"
        if event != body.event:
            return
        approaching = self.distances.get((watch.device, body.place), (distance, False))[1]
        info = self._info(
            watch,
            event=event,
            place=body.place,
            radius_km=radius,
            distance_km=round(distance, 3),
            approaching=approaching,
            location=dict(location),
        )
        fired.append(Fired(watch.rule, info, watch.device))

    def _fire_or_wait(
        self, watch: _Watch, seconds: float | None, info: dict[str, Any], fired: list[Fired]
    ) -> None:
        item = Fired(watch.rule, info, watch.device)
        if not seconds:
            fired.append(item)
        elif watch.key not in self.pending:
            info["for_s"] = seconds
            self.pending[watch.key] = _Pending(item, self.now() + seconds)

    def _info(self, watch: _Watch, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "kind": watch.trigger.kind,
            "index": watch.index,
            "id": watch.trigger.id,
            "device": watch.device,
            "at": self.now(),
        }
        info.update(extra)
        info["description"] = describe_fired(info)
        return info

    def _next_due(self, timed: _Timed, after: float) -> float | None:
        trigger = timed.trigger
        if trigger.time is not None:
            return when.next_time(trigger.time, after, self.tz)
        if trigger.cron is not None:
            return when.next_cron(trigger.cron, after, self.tz)
        assert trigger.sun is not None
        location = self.space.location
        if location is None:
            return None
        return when.next_sun(trigger.sun, after, location, self.tz)

    def describe_timed(self, timed: _Timed) -> str:
        trigger = timed.trigger
        if trigger.time is not None:
            return f"time {', '.join(trigger.time.at)}"
        if trigger.cron is not None:
            return f"cron {trigger.cron}"
        assert trigger.sun is not None
        offset = trigger.sun.offset
        shift = f" {'+' if offset >= 0 else '-'}{abs(offset) / 60:g} min" if offset else ""
        return f"{trigger.sun.event}{shift}"


def describe_fired(info: dict[str, Any]) -> str:
    """One line for a trace: what fired."""
    kind, device = info.get("kind"), info.get("device")
    if kind == "state":
        return f"{device}.{info['property']} changed from {info['from']!r} to {info['to']!r}"
    if kind == "numeric":
        bounds = []
        if info.get("above") is not None:
            bounds.append(f"above {info['above']:g}")
        if info.get("below") is not None:
            bounds.append(f"below {info['below']:g}")
        return f"{device}.{info['property']} is {info['value']!r} ({' and '.join(bounds)})"
    if kind == "event":
        return f"{device} emitted {info['event']}"
    if kind == "geofence":
        verb = "entered" if info["event"] == "enter" else "left"
        return (
            f"{device} {verb} {info['place']} ({info['radius_km']:g} km), "
            f"now {info['distance_km']:.2f} km away"
        )
    if kind == "offline":
        return f"{device} went offline"
    return str(kind)


def _same(a: Any, b: Any) -> bool:
    """Equal, and a bool never equals a number (True is not 1 here)."""
    return a == b and isinstance(a, bool) == isinstance(b, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _in_range(body: NumericTrigger, x: float) -> bool:
    return (body.above is None or x > body.above) and (body.below is None or x < body.below)


def _beyond_hysteresis(body: NumericTrigger, x: float) -> bool:
    """Whether `x` left the range by at least the hysteresis (so the trigger re-arms)."""
    h = body.hysteresis
    if body.above is not None and x <= body.above - h:
        return True
    return body.below is not None and x >= body.below + h


def home_of(space: Space, places: dict[str, Place]) -> Location | None:
    """Where home is: the place `home`, else the space's location."""
    place = places.get("home")
    if place is not None:
        return Location(place.lat, place.lon)
    return space.location
