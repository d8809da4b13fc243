"""The automation model: places, scenes and rules, as pydantic models (the files' and the
API's shape).

Triggers, conditions and actions are one-key mappings, the key naming the kind:

    triggers:   - state: {device: car, property: locked, to: false, for: 5m}
    conditions: - someone_home: false
    actions:    - set: {device: living_room_ac, property: on, value: true}

Only the shape is checked here; `loader` checks the names against the space (devices,
properties, values, places, scenes) and reports every problem with its file and line.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

ID_PATTERN = r"^[a-z0-9_]+$"
Id = Annotated[str, Field(pattern=ID_PATTERN, min_length=1, max_length=100)]
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
WEEKDAY_GROUPS = {"workdays": WEEKDAYS[:5], "weekend": WEEKDAYS[5:], "daily": WEEKDAYS}
_DURATION = re.compile(r"^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m(?!s))?(?:(\d+(?:\.\d+)?)s)?$")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)(?::([0-5]\d))?$")


def parse_duration(value: Any) -> float:
    """Seconds from 90, 1.5, "90s", "5m", "1h30m", "-30m" or "00:05:00"; ValueError else."""
    if isinstance(value, bool):
        raise ValueError(f"{value!r} is not a duration")
    if isinstance(value, int | float):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{value!r} is not a duration (e.g. 90, '90s', '5m', '1h30m')")
    text = value.strip().replace(" ", "")
    sign = -1.0 if text.startswith("-") else 1.0
    text = text.lstrip("+-")
    if ":" in text:
        parts = text.split(":")
        if len(parts) in (2, 3) and all(p.isdigit() for p in parts):
            h, m, *s = (int(p) for p in parts)
            return sign * (h * 3600 + m * 60 + (s[0] if s else 0))
    else:
        match = _DURATION.match(text)
        if match and any(match.groups()):
            hours, mins, secs = (float(g) if g else 0.0 for g in match.groups())
            return sign * (hours * 3600 + mins * 60 + secs)
    raise ValueError(f"{value!r} is not a duration (e.g. 90, '90s', '5m', '1h30m', '-30m')")


def parse_clock(value: Any) -> tuple[int, int, int]:
    """(hour, minute, second) from "07:30" or "07:30:15"; ValueError else."""
    match = _CLOCK.match(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValueError(f"{value!r} is not a time of day (HH:MM or HH:MM:SS, 24-hour)")
    h, m, s = match.groups()
    return int(h), int(m), int(s or 0)


def parse_weekdays(value: Any) -> tuple[str, ...]:
    """Weekday names from "workdays" / "weekend" / "daily" or a list of mon…sun."""
    if isinstance(value, str):
        if value in WEEKDAY_GROUPS:
            return WEEKDAY_GROUPS[value]
        value = [value]
    if not isinstance(value, list) or not value:
        raise ValueError("weekdays: a list of mon…sun, or workdays / weekend / daily")
    out = []
    for day in value:
        name = str(day).strip().lower()[:3]
        if name not in WEEKDAYS:
            raise ValueError(f"{day!r} is not a weekday (mon, tue, wed, thu, fri, sat, sun)")
        out.append(name)
    return tuple(dict.fromkeys(out))


class Strict(BaseModel):
    """Unknown keys are errors (a typo must not silently do nothing)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)


Duration = Annotated[float, Field(ge=0)]
Devices = str | list[str]  # one device id, or several


def _seconds(value: Any) -> Any:
    return parse_duration(value) if value is not None else None


def _devices(value: Any) -> Any:
    if isinstance(value, list) and not value:
        raise ValueError("name at least one device")
    return value


class Target(Strict):
    """Devices named by id, or every device of a type (e.g. every phone)."""

    device: Devices | None = None
    type: str | None = None

    _dev = field_validator("device", mode="before")(_devices)

    @model_validator(mode="after")
    def _one(self) -> Target:
        if (self.device is None) == (self.type is None):
            raise ValueError("give either `device` (an id or a list) or `type`")
        return self

    def ids(self) -> list[str]:
        """The ids named (not the devices of `type`: the engine resolves those)."""
        if self.device is None:
            return []
        return [self.device] if isinstance(self.device, str) else list(self.device)


# ---------------------------------------------------------------------------- triggers


class StateTrigger(Strict):
    """A property changes (optionally from / to a value, and stays so `for` a while)."""

    device: Devices
    property: str
    to: Any = None
    from_: Any = Field(None, alias="from")
    for_: float | None = Field(None, alias="for", ge=0)

    _s = field_validator("for_", mode="before")(_seconds)
    _dev = field_validator("device", mode="before")(_devices)


class NumericTrigger(Strict):
    """A number crosses into a range (above / below), re-armed once it leaves the range by
    `hysteresis`."""

    device: Devices
    property: str
    above: float | None = None
    below: float | None = None
    hysteresis: float = Field(0.0, ge=0)
    for_: float | None = Field(None, alias="for", ge=0)

    _s = field_validator("for_", mode="before")(_seconds)
    _dev = field_validator("device", mode="before")(_devices)

    @model_validator(mode="after")
    def _range(self) -> NumericTrigger:
        if self.above is None and self.below is None:
            raise ValueError("give `above`, `below` or both")
        if self.above is not None and self.below is not None and self.above >= self.below:
            raise ValueError(f"`above` ({self.above:g}) must be less than `below` ({self.below:g})")
        return self


class EventTrigger(Strict):
    """A device emits an event (optionally with these arguments)."""

    device: Devices
    event: str
    args: dict[str, Any] = Field(default_factory=dict)

    _dev = field_validator("device", mode="before")(_devices)


class TimeTrigger(Strict):
    """A time of day (in the space's timezone), optionally on some weekdays only."""

    at: list[str] = Field(min_length=1)
    weekdays: tuple[str, ...] = WEEKDAYS

    @field_validator("at", mode="before")
    @classmethod
    def _at(cls, value: Any) -> Any:
        items = value if isinstance(value, list) else [value]
        for item in items:
            parse_clock(item)
        return items

    @field_validator("weekdays", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return parse_weekdays(value)


class SunTrigger(Strict):
    """Sunrise or sunset at the space's location, shifted by `offset` ("-30m": before)."""

    event: Literal["sunrise", "sunset"]
    offset: float = 0.0

    @field_validator("offset", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return parse_duration(value)


class GeofenceTrigger(Strict):
    """A device with a `location` (a phone, the car) enters or leaves a circle around a
    place (`home` is the space's location)."""

    device: Devices | None = None
    type: str | None = None
    place: str = "home"
    radius_km: float | None = Field(None, gt=0)
    event: Literal["enter", "leave"]

    _dev = field_validator("device", mode="before")(_devices)

    @model_validator(mode="after")
    def _one(self) -> GeofenceTrigger:
        if (self.device is None) == (self.type is None):
            raise ValueError("give either `device` (an id or a list) or `type` (e.g. phone)")
        return self

    def target(self) -> Target:
        return Target(device=self.device, type=self.type)


class OfflineTrigger(Strict):
    """A device goes offline (and stays offline `for` a while)."""

    device: Devices
    for_: float | None = Field(None, alias="for", ge=0)

    _s = field_validator("for_", mode="before")(_seconds)
    _dev = field_validator("device", mode="before")(_devices)


TRIGGER_KINDS = ("state", "numeric", "event", "time", "cron", "sun", "geofence", "offline")


class Trigger(Strict):
    """One trigger: exactly one of its keys."""

    state: StateTrigger | None = None
    numeric: NumericTrigger | None = None
    event: EventTrigger | None = None
    time: TimeTrigger | None = None
    cron: str | None = None
    sun: SunTrigger | None = None
    geofence: GeofenceTrigger | None = None
    offline: OfflineTrigger | None = None
    id: str | None = None  # names the trigger in traces and templates (trigger.id)

    @field_validator("time", mode="before")
    @classmethod
    def _time(cls, value: Any) -> Any:
        return {"at": value} if isinstance(value, str | list) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Trigger:
        _exactly_one(self, TRIGGER_KINDS, "trigger")
        return self

    @property
    def kind(self) -> str:
        return _kind(self, TRIGGER_KINDS)

    @property
    def body(self) -> Any:
        return getattr(self, self.kind)


# ---------------------------------------------------------------------------- conditions


class StateCondition(Strict):
    """A property compared with a value: is / is_not / above / below / in."""

    device: str
    property: str
    is_: Any = Field(None, alias="is")
    is_not: Any = None
    above: float | None = None
    below: float | None = None
    in_: list[Any] | None = Field(None, alias="in")

    @model_validator(mode="after")
    def _some(self) -> StateCondition:
        fields = ("is_", "is_not", "above", "below", "in_")
        if not set(fields) & self.model_fields_set:
            raise ValueError("compare with at least one of `is`, `is_not`, `above`, `below`, `in`")
        return self


class TimeCondition(Strict):
    """Now is within a time window (it may wrap midnight), optionally on some weekdays."""

    after: str | None = None
    before: str | None = None
    weekdays: tuple[str, ...] = WEEKDAYS

    @field_validator("after", "before")
    @classmethod
    def _clock(cls, value: Any) -> Any:
        if value is not None:
            parse_clock(value)
        return value

    @field_validator("weekdays", mode="before")
    @classmethod
    def _days(cls, value: Any) -> Any:
        return parse_weekdays(value)


class SunCondition(Strict):
    """The last sun event was `after` (it is dark "after: sunset"), and / or the next one
    is `before`; offsets shift the events."""

    after: Literal["sunrise", "sunset"] | None = None
    before: Literal["sunrise", "sunset"] | None = None
    after_offset: float = 0.0
    before_offset: float = 0.0

    @field_validator("after_offset", "before_offset", mode="before")
    @classmethod
    def _off(cls, value: Any) -> Any:
        return parse_duration(value)

    @model_validator(mode="after")
    def _some(self) -> SunCondition:
        if self.after is None and self.before is None:
            raise ValueError("give `after`, `before` or both (sunrise / sunset)")
        return self


class GeoCondition(Strict):
    """A device's distance to a place, in km, and whether it is getting closer."""

    device: str
    place: str = "home"
    below_km: float | None = Field(None, ge=0)
    above_km: float | None = Field(None, ge=0)
    approaching: bool | None = None

    @model_validator(mode="after")
    def _some(self) -> GeoCondition:
        if self.below_km is None and self.above_km is None and self.approaching is None:
            raise ValueError("give `below_km`, `above_km` and / or `approaching`")
        return self


CONDITION_KINDS = ("state", "time", "sun", "geo", "someone_home", "template", "and", "or", "not")


class Condition(Strict):
    """One condition: exactly one of its keys."""

    state: StateCondition | None = None
    time: TimeCondition | None = None
    sun: SunCondition | None = None
    geo: GeoCondition | None = None
    someone_home: bool | None = None
    template: str | None = None
    and_: list[Condition] | None = Field(None, alias="and")
    or_: list[Condition] | None = Field(None, alias="or")
    not_: list[Condition] | None = Field(None, alias="not")

    @field_validator("not_", mode="before")
    @classmethod
    def _not(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Condition:
        _exactly_one(self, CONDITION_KINDS, "condition")
        return self

    @property
    def kind(self) -> str:
        return _kind(self, CONDITION_KINDS)

    @property
    def body(self) -> Any:
        return getattr(self, _field(self.kind))


# ---------------------------------------------------------------------------- actions


class SetAction(Strict):
    """Write a property of one or more devices; `value` may be a template."""

    device: Devices
    property: str
    value: Any

    _dev = field_validator("device", mode="before")(_devices)


class CallAction(Strict):
    """Run an action of one or more devices; `args` values may be templates."""

    device: Devices
    action: str
    args: dict[str, Any] = Field(default_factory=dict)

    _dev = field_validator("device", mode="before")(_devices)


class NotifyAction(Strict):
    """Send a message to phones or wearables (their `notify` action); a template."""

    device: Devices | None = None
    type: str | None = None
    message: str = Field(min_length=1, max_length=1000)

    _dev = field_validator("device", mode="before")(_devices)

    @model_validator(mode="after")
    def _one(self) -> NotifyAction:
        if (self.device is None) == (self.type is None):
            raise ValueError("give either `device` (an id or a list) or `type` (phone, wearable)")
        return self

    def target(self) -> Target:
        return Target(device=self.device, type=self.type)


ACTION_KINDS = ("set", "call", "scene", "delay", "notify", "if")


class Action(Strict):
    """One action: exactly one of set / call / scene / delay / notify / if (with then,
    else)."""

    set: SetAction | None = None
    call: CallAction | None = None
    scene: str | None = None
    delay: float | None = None
    notify: NotifyAction | None = None
    if_: list[Condition] | None = Field(None, alias="if")
    then: list[Action] | None = None
    else_: list[Action] | None = Field(None, alias="else")
    continue_on_error: bool = False

    @field_validator("delay", mode="before")
    @classmethod
    def _delay(cls, value: Any) -> Any:
        if value is None:
            return None
        seconds = parse_duration(value)
        if seconds < 0:
            raise ValueError("a delay cannot be negative")
        return seconds

    @field_validator("if_", mode="before")
    @classmethod
    def _if(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @model_validator(mode="after")
    def _exactly_one(self) -> Action:
        _exactly_one(self, ACTION_KINDS, "action")
        if self.if_ is None and (self.then is not None or self.else_ is not None):
            raise ValueError("`then` and `else` belong to an `if` action")
        if self.if_ is not None and self.then is None:
            raise ValueError("an `if` action needs `then` (a list of actions)")
        return self

    @property
    def kind(self) -> str:
        return _kind(self, ACTION_KINDS)


# ---------------------------------------------------------------------------- rules, scenes


class Place(Strict):
    """A named place for geofences (`home` is the space's location unless given here)."""

    id: Id
    name: str | None = None
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(0.2, gt=0, le=20_000)


class Scene(Strict):
    """Target states and actions applied together, in parallel."""

    id: Id
    name: str = Field(min_length=1, max_length=200)
    aliases: list[str] = Field(default_factory=list)
    states: dict[str, dict[str, Any]] = Field(default_factory=dict)
    actions: list[Action] = Field(default_factory=list)

    @model_validator(mode="after")
    def _some(self) -> Scene:
        if not self.states and not self.actions:
            raise ValueError(f"scene {self.id!r} sets no `states` and has no `actions`")
        return self


class Rule(Strict):
    """When a trigger fires and the conditions hold, run the actions."""

    id: Id
    name: str | None = None
    description: str | None = None
    enabled: bool = True
    mode: Literal["single", "restart", "queue"] = "single"
    max_queued: int = Field(10, ge=1, le=1000)
    triggers: list[Trigger] = Field(min_length=1)
    conditions: list[Condition] = Field(default_factory=list)
    actions: list[Action] = Field(min_length=1)

    @field_validator("triggers", "conditions", "actions", mode="before")
    @classmethod
    def _listify(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @property
    def title(self) -> str:
        return self.name or self.id.replace("_", " ").capitalize()


class AutomationFile(Strict):
    """One file of a space's automations: places, scenes and rules (each optional)."""

    places: list[Place] = Field(default_factory=list)
    scenes: list[Scene] = Field(default_factory=list)
    rules: list[Rule] = Field(default_factory=list)


# ---------------------------------------------------------------------------- helpers


def _field(kind: str) -> str:
    return f"{kind}_" if kind in ("and", "or", "not", "if", "else", "is", "in", "from") else kind


def _kind(model: BaseModel, kinds: tuple[str, ...]) -> str:
    for kind in kinds:
        if getattr(model, _field(kind)) is not None:
            return kind
    raise AssertionError("validated models have a kind")


def _exactly_one(model: BaseModel, kinds: tuple[str, ...], what: str) -> None:
    given = [k for k in kinds if getattr(model, _field(k)) is not None]
    if len(given) != 1:
        names = ", ".join(kinds)
        if not given:
            article = "an" if what[0] in "aeiou" else "a"
            raise ValueError(f"{article} {what} needs one of: {names}")
        raise ValueError(f"a {what} has one kind, not {' and '.join(given)} (one of: {names})")


for _model in (Condition, Action):
    _model.model_rebuild()
