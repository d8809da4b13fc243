"""Triggers, conditions and actions as one short line of text each, for people (the API's
rule listing, the dashboard, the CLI):

    car enters home (2 km)
    someone home is false
    set living_room_ac.on = true
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from hyperhub.automation.model import (
    WEEKDAY_GROUPS,
    WEEKDAYS,
    Action,
    Condition,
    Devices,
    Place,
    Trigger,
)

__all__ = [
    "describe_action",
    "describe_condition",
    "describe_trigger",
    "duration_text",
    "value_text",
]


def value_text(value: Any) -> str:
    """A value as written in a rule: true, 22.5, cool, {{ template }}, [a, b]."""
    if isinstance(value, str):
        return value
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, list | tuple):
        return "[" + ", ".join(value_text(v) for v in value) + "]"
    try:
        return json.dumps(value, ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return str(value)


def duration_text(seconds: float) -> str:
    """90 → "1 min 30 s", 3600 → "1 h", 0.5 → "0.5 s"."""
    sign = "-" if seconds < 0 else ""
    left = abs(seconds)
    if left < 60:
        return f"{sign}{left:g} s"
    hours, rest = divmod(left, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(f"{hours:g} h")
    if minutes:
        parts.append(f"{minutes:g} min")
    if secs:
        parts.append(f"{round(secs, 3):g} s")
    return sign + " ".join(parts)


def _ids(devices: Devices | None) -> list[str]:
    if devices is None:
        return []
    return [devices] if isinstance(devices, str) else list(devices)


def _who(devices: Devices | None, type_: str | None = None) -> str:
    """The devices named ("car", "car, phone_li_na"), else "a phone"."""
    ids = _ids(devices)
    if ids:
        return ", ".join(ids)
    return f"a {type_}" if type_ else "a device"


def _dotted(devices: Devices, prop: str) -> str:
    return ", ".join(f"{d}.{prop}" for d in _ids(devices))


def _for(seconds: float | None) -> str:
    return f" for {duration_text(seconds)}" if seconds else ""


def _weekdays(days: tuple[str, ...]) -> str:
    """Empty for every day, else " on workdays" / " on sat, sun"."""
    if tuple(days) == WEEKDAYS:
        return ""
    for group, members in WEEKDAY_GROUPS.items():
        if tuple(days) == members:
            return f" on {group}"
    return " on " + ", ".join(days)


def _offset(seconds: float) -> str:
    if not seconds:
        return ""
    return f" {'+' if seconds > 0 else '-'}{duration_text(abs(seconds))}"


def _km(value: float) -> str:
    return f"{value:g} km"


# ---------------------------------------------------------------------------- triggers


def describe_trigger(trigger: Trigger, places: Mapping[str, Place] | None = None) -> str:
    """One line: what makes the rule fire. `places` (the book's) gives a geofence's
    radius when the trigger does not say it."""
    kind = trigger.kind
    if trigger.state is not None:
        s = trigger.state
        given = s.model_fields_set
        text = f"{_dotted(s.device, s.property)} changes"
        if "from_" in given:
            text += f" from {value_text(s.from_)}"
        if "to" in given:
            text += f" to {value_text(s.to)}"
        return text + _for(s.for_)
    if trigger.numeric is not None:
        n = trigger.numeric
        bounds = []
        if n.above is not None:
            bounds.append(f"above {n.above:g}")
        if n.below is not None:
            bounds.append(f"below {n.below:g}")
        text = f"{_dotted(n.device, n.property)} goes {' and '.join(bounds)}"
        if n.hysteresis:
            text += f" (hysteresis {n.hysteresis:g})"
        return text + _for(n.for_)
    if trigger.event is not None:
        e = trigger.event
        text = f"{_who(e.device)} emits {e.event}"
        if e.args:
            text += " with " + ", ".join(f"{k}={value_text(v)}" for k, v in e.args.items())
        return text
    if trigger.time is not None:
        t = trigger.time
        return f"time {', '.join(t.at)}{_weekdays(t.weekdays)}"
    if trigger.cron is not None:
        return f"cron {trigger.cron}"
    if trigger.sun is not None:
        return f"{trigger.sun.event}{_offset(trigger.sun.offset)}"
    if trigger.geofence is not None:
        g = trigger.geofence
        radius = g.radius_km
        if radius is None and places is not None and g.place in places:
            radius = places[g.place].radius_km
        verb = "enters" if g.event == "enter" else "leaves"
        text = f"{_who(g.device, g.type)} {verb} {g.place}"
        return text + (f" ({_km(radius)})" if radius is not None else "")
    if trigger.offline is not None:
        o = trigger.offline
        return f"{_who(o.device)} goes offline{_for(o.for_)}"
    return kind  # pragma: no cover - every kind is handled above


# ---------------------------------------------------------------------------- conditions


def describe_condition(condition: Condition) -> str:
    """One line: what must hold for the rule to act."""
    c = condition
    if c.state is not None:
        s = c.state
        given = s.model_fields_set
        tests = []
        if "is_" in given:
            tests.append(f"is {value_text(s.is_)}")
        if "is_not" in given:
            tests.append(f"is not {value_text(s.is_not)}")
        if s.above is not None:
            tests.append(f"above {s.above:g}")
        if s.below is not None:
            tests.append(f"below {s.below:g}")
        if "in_" in given:
            tests.append(f"in {value_text(list(s.in_ or []))}")
        return f"{s.device}.{s.property} {' and '.join(tests)}"
    if c.time is not None:
        t = c.time
        if t.after and t.before:
            span = f"{t.after}–{t.before}"
        elif t.after:
            span = f"after {t.after}"
        elif t.before:
            span = f"before {t.before}"
        else:
            span = "any time"
        return f"time {span}{_weekdays(t.weekdays)}"
    if c.sun is not None:
        s = c.sun
        parts = []
        if s.after:
            parts.append(f"after {s.after}{_offset(s.after_offset)}")
        if s.before:
            parts.append(f"before {s.before}{_offset(s.before_offset)}")
        return " and ".join(parts)
    if c.geo is not None:
        g = c.geo
        parts = []
        if g.below_km is not None:
            parts.append(f"within {_km(g.below_km)}")
        if g.above_km is not None:
            parts.append(f"over {_km(g.above_km)}")
        where = f"{g.device} {' and '.join(parts)} of {g.place}" if parts else g.device
        if g.approaching is not None:
            moving = "approaching" if g.approaching else "not approaching"
            where += f", {moving}" if parts else f" {moving} {g.place}"
        return where
    if c.someone_home is not None:
        return f"someone home is {value_text(c.someone_home)}"
    if c.template is not None:
        return f"template {c.template}"
    if c.and_ is not None:
        return "(" + " and ".join(describe_condition(x) for x in c.and_) + ")"
    if c.or_ is not None:
        return "(" + " or ".join(describe_condition(x) for x in c.or_) + ")"
    inner = " and ".join(describe_condition(x) for x in c.not_ or [])
    return f"not {inner}" if inner.startswith("(") else f"not ({inner})"


# ---------------------------------------------------------------------------- actions


def describe_action(action: Action) -> str:
    """One line: what the rule (or scene) does; an `if` shows its branches inline."""
    a = action
    if a.set is not None:
        text = f"set {_dotted(a.set.device, a.set.property)} = {value_text(a.set.value)}"
    elif a.call is not None:
        args = ", ".join(f"{k}={value_text(v)}" for k, v in a.call.args.items())
        text = f"call {', '.join(f'{d}.{a.call.action}' for d in _ids(a.call.device))}({args})"
    elif a.scene is not None:
        text = f"scene {a.scene}"
    elif a.delay is not None:
        text = f"wait {duration_text(a.delay)}"
    elif a.notify is not None:
        who = _ids(a.notify.device)
        text = f"notify {', '.join(who) if who else f'every {a.notify.type}'}: {a.notify.message}"
    else:
        conditions = " and ".join(describe_condition(c) for c in a.if_ or [])
        text = f"if {conditions} then " + "; ".join(describe_action(x) for x in a.then or [])
        if a.else_:
            text += " else " + "; ".join(describe_action(x) for x in a.else_)
    if a.continue_on_error:
        text += " (on error: go on)"
    return text
