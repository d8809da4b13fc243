"""Trigger watchers: which state changes, events, availability changes and times fire which
rule, with the little memory each trigger needs (a numeric trigger's arming, a geofence's
inside / outside, a `for` that is pending).

`Watches` is built once from a `Book`; its `on_*` methods are called in the hub's ingest path
for every message, so the common case (a device no trigger watches) is one dict lookup.
They return `Fired` items (rule, trigger info); the engine runs them.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import tzinfo
from typing import Any, TypeGuard

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

log = logging.getLogger("hyperhub.automation")
_NONE: list[Fired] = []  # what `on_change` returns when nothing can fire (never appended to)
GEOFENCE_HYSTERESIS = 0.05  # leaving needs the radius plus 5 % (GPS jitter must not flap)
MAX_CATCH_UP = 1  # a time trigger missed while the hub slept fires once, not once per miss


@dataclass
class Fired:
    """A trigger that fired: the rule, what happened (the `trigger` of templates and
    traces), and the device whose change caused it (for loop detection)."""

    rule: str
    info: dict[str, Any]
    device: str | None = None
    prop: str | None = None  # what of the device changed: a property, or "event:<name>"


class _Watch:
    """One trigger on one device, with what the hot path needs worked out once."""

    __slots__ = (
        "above",
        "armed",
        "below",
        "body",
        "device",
        "for_",
        "has_from",
        "has_to",
        "hysteresis",
        "index",
        "inside",
        "key",
        "kind",
        "prop",
        "rule",
        "to",
        "trigger",
    )

    def __init__(self, rule: str, index: int, trigger: Trigger, device: str) -> None:
        self.rule, self.index, self.trigger, self.device = rule, index, trigger, device
        self.kind: str = trigger.kind
        self.body: Any = trigger.body
        self.key = (rule, index, device)
        self.prop: str = getattr(self.body, "property", "location")
        self.for_: float | None = getattr(self.body, "for_", None)
        self.above: float | None = getattr(self.body, "above", None)
        self.below: float | None = getattr(self.body, "below", None)
        self.hysteresis: float = getattr(self.body, "hysteresis", 0.0)
        given = self.body.model_fields_set
        self.has_to, self.has_from = "to" in given, "from_" in given  # `to: null` is a value
        self.to: Any = getattr(self.body, "to", None)
        self.armed = True  # numeric: may fire (re-armed past the hysteresis)
        self.inside: bool | None = None  # geofence: inside the circle (None: not known yet)


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
    by_device: dict[str, dict[str, list[_Watch]]] = field(default_factory=dict)  # → property
    by_event: dict[tuple[str, str], list[_Watch]] = field(default_factory=dict)
    by_offline: dict[str, list[_Watch]] = field(default_factory=dict)
    timed: list[_Timed] = field(default_factory=list)
    pending: dict[tuple[str, int, str], _Pending] = field(default_factory=dict)
    last: dict[str, dict[str, Any]] = field(default_factory=dict)  # watched values, per device
    distances: dict[tuple[str, str], tuple[float, bool]] = field(default_factory=dict)
    # devices whose state was unknown when their watches were armed: their first state is
    # where they are, not a change, so it arms the watches and fires nothing
    unseen: set[str] = field(default_factory=set)
    # moving devices inside the home geofence (with the leave hysteresis): someone_home
    home_inside: dict[str, bool] = field(default_factory=dict)
    on_pending: Callable[[], None] | None = None  # told when a `for` starts
    # device → property → the band of numbers that change nothing in its watches (None:
    # every value must be looked at); see `quiet`. Kept only for devices evaluated since
    # their watches last changed.
    gates: dict[str, dict[str, Band | None]] = field(default_factory=dict)

    # -- building ---------------------------------------------------------------------------

    def add_rule(self, rule: Rule, state_of: Callable[[str], dict[str, Any] | None]) -> None:
        """Watch the triggers of `rule`, armed from the devices' current state."""
        self.gates.clear()
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
                    props = self.by_device.setdefault(device, {})
                    props.setdefault(watch.prop, []).append(watch)
                    state = state_of(device)
                    if not state:
                        self.unseen.add(device)
                    self._arm(watch, state or {})

    def remove_rule(self, rule_id: str) -> None:
        """Stop watching a rule's triggers (and drop its pending `for`s)."""
        self.gates.clear()
        for device, props in list(self.by_device.items()):
            for prop in list(props):
                props[prop] = [w for w in props[prop] if w.rule != rule_id]
                if not props[prop]:
                    del props[prop]
            if not props:
                del self.by_device[device]
                self.unseen.discard(device)
        indexes: tuple[dict[Any, list[_Watch]], ...] = (self.by_event, self.by_offline)
        for index in indexes:
            for key in list(index):
                index[key] = [w for w in index[key] if w.rule != rule_id]
                if not index[key]:
                    del index[key]
        self.timed = [t for t in self.timed if t.rule != rule_id]
        for pending_key in [k for k in self.pending if k[0] == rule_id]:
            del self.pending[pending_key]

    def devices(self, body: Any) -> list[str]:
        """The device ids a trigger (or notify) names: its `device`, or all of its `type`."""
        device = getattr(body, "device", None)
        if device is not None:
            return [device] if isinstance(device, str) else list(device)
        kind = getattr(body, "type", None)
        return [d.id for d in self.space.devices.values() if d.type == kind]

    def _arm(self, watch: _Watch, state: dict[str, Any]) -> None:
        self.gates.pop(watch.device, None)
        body = watch.trigger.body
        if isinstance(body, NumericTrigger):
            value = state.get(body.property)
            watch.armed = not (_is_number(value) and _in_range(body, float(value)))
        elif isinstance(body, GeofenceTrigger):
            distance = self.distance(state.get("location"), body.place)
            if distance is not None:
                watch.inside = distance <= self.radius(body)
        if isinstance(body, StateTrigger):  # (`from` needs the value before)
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
        """Remember a moving device's distance to every place, whether it got closer, and
        whether it is home (inside home's radius; leaving needs the radius + 5 %, as a
        geofence does)."""
        home = self.places.get("home")
        distance = self.distance(location, "home")
        if home is not None and distance is not None:
            was = self.home_inside.get(device, False)
            limit = home.radius_km * (1 + GEOFENCE_HYSTERESIS) if was else home.radius_km
            self.home_inside[device] = distance <= limit
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
        return self.on_changes(((device, changed, 0.0),))

    def on_changes(self, items: Iterable[tuple[str, dict[str, Any], float]]) -> list[Fired]:
        """Triggers fired (now) by a batch of changes (device, changed properties, ts), in
        order; `for`s start or stop.

        The hot path (every state message, in the batches the hub hands over): only the
        watches of the changed properties are looked at, a number that stays out of a
        threshold's range costs a comparison, and the look-ups are bound once per batch.
        """
        fired: list[Fired] = _NONE  # a list of its own once something fires
        props_of = self.by_device.get
        last_of = self.last.get
        unseen = self.unseen
        pending = self.pending  # (mutated in place, never replaced)
        gates = self.gates
        for device, changed, _ts in items:
            if "location" in changed:
                self.track(device, changed["location"])
            props = props_of(device)
            if props is None:
                if device not in gates:
                    gates[device] = _LOCATION_ONLY
                continue
            if unseen and device in unseen:
                unseen.discard(device)
                for group in props.values():
                    for watch in group:
                        self._arm(watch, changed)
                continue
            last = last_of(device)
            for prop, value in changed.items():
                watches = props.get(prop)
                if watches is None:
                    continue
                for watch in watches:
                    kind = watch.kind
                    if kind == "numeric":
                        t = type(value)
                        if t is not float and t is not int:
                            continue
                        above, below = watch.above, watch.below
                        if (above is None or value > above) and (below is None or value < below):
                            if watch.armed:
                                item = self._numeric_fired(watch, value)
                                if item is not None:
                                    fired = [*fired, item]
                            continue
                        if pending and pending.pop(watch.key, None) is not None:
                            watch.armed = True  # its `for` did not run out: it never fired
                            gates.pop(device, None)
                        elif not watch.armed and _beyond_hysteresis(watch, value):
                            watch.armed = True
                            gates.pop(device, None)
                    elif kind == "state":
                        if watch.has_to and value != watch.to and not pending:
                            continue  # not the value it waits for, and no `for` to cancel
                        old = None if last is None else last.get(prop)
                        item = self._state(watch, watch.body, old, value)
                        if item is not None:
                            fired = [*fired, item]
                    elif kind == "geofence":
                        item = self._geofence(watch, watch.body, value)
                        if item is not None:
                            fired = [*fired, item]
                if last is not None and prop in last:
                    last[prop] = value
            if device not in gates:
                gates[device] = self._bands(props)
        return fired

    def quiet(self, device: str, changed: dict[str, Any]) -> bool:
        """True when evaluating this change would change nothing here (no trigger fires,
        none re-arms, no `for` starts or stops, nothing is tracked): the hub may skip it.

        Exact, not a guess: a device's gate holds, per watched property, the band of
        numbers its numeric watches (without `for`) ignore in their current state; any
        other watched property has none, so every value of it is evaluated. A number out of
        its band removes the gate until the engine has evaluated the device again (changes
        queued behind it must not be judged by the watch states before it); a value of a
        property without a band does not (it cannot change the bands)."""
        bands = self.gates.get(device)
        if bands is None:
            return False
        quiet = True
        for prop, value in changed.items():
            band = bands.get(prop, _ANY)
            if band is None:
                quiet = False  # looked at every time; says nothing of the other bands
                continue
            t = type(value)
            if (t is float or t is int) and not band[0] <= value <= band[1]:
                del self.gates[device]
                return False
        return quiet

    def _bands(self, props: dict[str, list[_Watch]]) -> dict[str, Band | None]:
        bands: dict[str, Band | None] = {"location": None}  # tracked for every device
        for prop, watches in props.items():
            bands[prop] = _band(watches)
        return bands

    def on_event(self, device: str, name: str, args: dict[str, Any]) -> list[Fired]:
        fired = []
        for watch in self.by_event.get((device, name), ()):
            wanted = watch.trigger.body.args
            if all(k in args and _same(args[k], v) for k, v in wanted.items()):
                info = self._info(watch, event=name, args=dict(args))
                fired.append(Fired(watch.rule, info, device, f"event:{name}"))
        return fired

    def on_availability(self, device: str, online: bool) -> list[Fired]:
        fired: list[Fired] = []
        for watch in self.by_offline.get(device, ()):
            body: OfflineTrigger = watch.trigger.body
            if online:
                self.pending.pop(watch.key, None)
                continue
            item = self._fire_or_wait(watch, body.for_, self._info(watch, to="offline"))
            if item is not None:
                fired.append(item)
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

    def _state(self, watch: _Watch, body: StateTrigger, old: Any, new: Any) -> Fired | None:
        matches = (not watch.has_to or _same(new, body.to)) and (
            not watch.has_from or _same(old, body.from_)
        )
        if self.pending and watch.key in self.pending and (not matches or not watch.has_to):
            del self.pending[watch.key]  # it did not stay so
        if matches and not _same(old, new):
            info = self._info(watch, property=body.property, **{"from": old, "to": new})
            return self._fire_or_wait(watch, body.for_, info)
        return None

    def _numeric_fired(self, watch: _Watch, value: float) -> Fired | None:
        watch.armed = False
        self.gates.pop(watch.device, None)
        info = self._info(watch, property=watch.prop, value=value)
        info.update(above=watch.above, below=watch.below)
        return self._fire_or_wait(watch, watch.for_, info)

    def _geofence(self, watch: _Watch, body: GeofenceTrigger, location: Any) -> Fired | None:
        distance = self.distance(location, body.place)
        if distance is None:
            return None
        radius = self.radius(body)
        was = watch.inside
        if was is None:
            watch.inside = distance <= radius
            return None
        now_inside = (
            distance <= radius if not was else distance <= radius * (1 + GEOFENCE_HYSTERESIS)
        )
        watch.inside = now_inside
        if was == now_inside:
            return None
        event = "enter" if now_inside else "leave"
        if event != body.event:
            return None
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
        return Fired(watch.rule, info, watch.device, "location")

    def _fire_or_wait(
        self, watch: _Watch, seconds: float | None, info: dict[str, Any]
    ) -> Fired | None:
        """The trigger fires now (returned), or after `seconds` if it still holds then."""
        prop = None if watch.kind == "offline" else watch.prop
        item = Fired(watch.rule, info, watch.device, prop)
        if not seconds:
            return item
        if watch.key not in self.pending:
            info["for_s"] = seconds
            self.pending[watch.key] = _Pending(item, self.now() + seconds)
            if self.on_pending is not None:
                self.on_pending()
        return None

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
        """When a time trigger fires next; None: never (logged, the rule's other triggers
        still work)."""
        trigger = timed.trigger
        try:
            if trigger.time is not None:
                return when.next_time(trigger.time, after, self.tz)
            if trigger.cron is not None:
                return when.next_cron(trigger.cron, after, self.tz)
            assert trigger.sun is not None
            location = self.space.location
            if location is None:
                return None
            return when.next_sun(trigger.sun, after, location, self.tz)
        except (ValueError, OverflowError) as exc:
            kind = trigger.kind
            log.error("rule %s: its %s trigger never fires again: %s", timed.rule, kind, exc)
            return None

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


def _is_number(value: Any) -> TypeGuard[float]:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _in_range(body: NumericTrigger, x: float) -> bool:
    return (body.above is None or x > body.above) and (body.below is None or x < body.below)


Band = tuple[float, float]  # lo <= x <= hi
_ANY: Band = (-math.inf, math.inf)  # a property no rule watches: any value is quiet
_LOCATION_ONLY: dict[str, Band | None] = {"location": None}  # a device without watches


def _band(watches: list[_Watch]) -> Band | None:
    """The numbers that change nothing in any of `watches` as they are now (None: no such
    band — a watch that is not numeric, has a `for`, or would need two bands)."""
    lo, hi = -math.inf, math.inf
    for w in watches:
        if w.kind != "numeric" or w.for_:
            return None
        above, below = w.above, w.below
        if w.armed:  # it fires in range, and does nothing out of it
            if below is None and above is not None:
                w_lo, w_hi = -math.inf, above
            elif above is None and below is not None:
                w_lo, w_hi = below, math.inf
            else:
                return None
        else:  # it re-arms beyond the hysteresis, and does nothing short of it
            h = w.hysteresis
            w_lo = -math.inf if above is None else math.nextafter(above - h, math.inf)
            w_hi = math.inf if below is None else math.nextafter(below + h, -math.inf)
        lo, hi = max(lo, w_lo), min(hi, w_hi)
    return (lo, hi) if lo <= hi else None


def _beyond_hysteresis(watch: _Watch, x: float) -> bool:
    """Whether `x` left the range by at least the hysteresis (so the trigger re-arms)."""
    h = watch.hysteresis
    if watch.above is not None and x <= watch.above - h:
        return True
    return watch.below is not None and x >= watch.below + h


def home_of(space: Space, places: dict[str, Place]) -> Location | None:
    """Where home is: the place `home`, else the space's location."""
    place = places.get("home")
    if place is not None:
        return Location(place.lat, place.lon)
    return space.location
