"""The capability model as data: device types with properties, actions, events and simulation.

A type is one YAML file under `spec/types/`; these pydantic models are its schema. Values are
checked with `ValueSpec.check`, which names the device, property, value and what is allowed.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec import words

Kind = Literal["bool", "int", "float", "enum", "str", "color", "location"]
_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class ValueSpec(_Strict):
    """What values a property or an action argument takes."""

    kind: Kind
    unit: str | None = None
    min: float | None = None
    max: float | None = None
    values: tuple[str, ...] | None = None  # the allowed strings of an enum
    max_length: int = 1000  # for str
    description: str = ""

    @model_validator(mode="after")
    def _consistent(self) -> ValueSpec:
        if self.kind == "enum" and not self.values:
            raise ValueError("an enum needs `values`")
        if self.kind != "enum" and self.values:
            raise ValueError(f"`values` only fits kind enum, not {self.kind}")
        if (self.min is not None or self.max is not None) and self.kind not in ("int", "float"):
            raise ValueError(f"`min`/`max` only fit int or float, not {self.kind}")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self

    def within(self, value: float, *, whole: bool = False) -> float:
        """`value` within [min, max] (rounded inward to whole numbers with `whole`): how a
        simulated device stops, and how a real device's reading beyond the vocabulary's
        range is read (as its nearest end)."""
        lo, hi = self.min, self.max
        if whole:
            lo = None if lo is None else math.ceil(lo)
            hi = None if hi is None else math.floor(hi)
        if lo is not None and value < lo:
            return float(lo)
        if hi is not None and value > hi:
            return float(hi)
        return value

    def allowed(self) -> str:
        """A short phrase for what this spec accepts, used in error messages."""
        unit = f" {self.unit}" if self.unit else ""
        if self.kind in ("int", "float"):
            noun = "an integer" if self.kind == "int" else "a number"
            if self.min is not None and self.max is not None:
                return f"{noun} from {_num(self.min)} to {_num(self.max)}{unit}"
            if self.min is not None:
                return f"{noun} of at least {_num(self.min)}{unit}"
            if self.max is not None:
                return f"{noun} of at most {_num(self.max)}{unit}"
            return f"{noun}{unit}"
        return {
            "bool": "true or false",
            "enum": "one of " + ", ".join(self.values or ()),
            "str": f"a text of at most {self.max_length} characters",
            "color": 'a colour "#rrggbb"',
            "location": "a location {lat: -90..90, lon: -180..180}",
        }[self.kind]

    def text(self, value: Any, name: str = "", lang: str = "en") -> str:
        """`value` for people in `lang`, in this spec's unit, rounded to what the unit needs:
        "70 %", "21.5 °C", "3500 K", "12.3 km"; a true/false property in its state words
        ("Locked" / "Unlocked", "Clear"), named when the words alone say nothing ("Climate
        off", not "Off"); an enum value in words ("Heat" / "制热"); a location as "31.2036,
        121.5875". The words come from `hyperhub.spec.words`."""
        if isinstance(value, bool):
            word = words.state_word(lang, name, value)
            if name and name != "on" and word == words.state_word(lang, "on", value):
                return f"{words.label(lang, name, short=True)} {words.lower_first(lang, word)}"
            return word
        if isinstance(value, int | float):
            digits = _DIGITS.get(self.unit or "", 0 if self.kind == "int" else 2)
            number = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
            return f"{number} {words.unit_word(lang, self.unit)}" if self.unit else number
        if isinstance(value, str) and self.kind == "enum":
            return words.value_word(lang, value)
        if isinstance(value, dict) and set(value) == {"lat", "lon"}:
            return f"{value['lat']:.4f}, {value['lon']:.4f}"
        if value is None:
            return "—"
        return str(value)

    def check(self, value: Any, where: str) -> Any:
        """Return `value` normalised to this spec, or raise `ValueNotAllowed` naming `where`."""
        ok, norm = _normalise(self, value)
        if not ok:
            raise ValueNotAllowed(f"{where}: {value!r} is not allowed; it must be {self.allowed()}")
        return norm


_UNIT_WORDS = ("_kmh", "_km", "_pct", "_soc", "_w")  # range_km → "range": the unit says it


def label(name: str) -> str:
    """A property's name as words: "color_temp" → "color temp", "range_km" → "range"."""
    for suffix in _UNIT_WORDS:
        if name.endswith(suffix) and len(name) > len(suffix):
            name = name[: -len(suffix)]
            break
    return name.replace("_", " ").strip()


_DIGITS = {"%": 0, "K": 0, "°C": 1, "km": 1, "km/h": 0, "W": 1, "kWh": 1, "µg/m³": 0, "lx": 0}


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _in_range(spec: ValueSpec, x: float) -> bool:
    return (spec.min is None or x >= spec.min) and (spec.max is None or x <= spec.max)


def _normalise(spec: ValueSpec, value: Any) -> tuple[bool, Any]:
    kind = spec.kind
    if kind == "bool":
        return isinstance(value, bool), value
    if isinstance(value, bool):
        return False, value  # True is an int in Python; never accept it as a number
    if kind == "int":
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        return isinstance(value, int) and _in_range(spec, value), value
    if kind == "float":
        if not isinstance(value, int | float) or not math.isfinite(value):
            return False, value
        return _in_range(spec, value), float(value)
    if kind == "enum":
        return isinstance(value, str) and value in (spec.values or ()), value
    if kind == "str":
        return isinstance(value, str) and len(value) <= spec.max_length, value
    if kind == "color":
        ok = isinstance(value, str) and bool(_COLOR.match(value))
        return ok, value.lower() if ok else value
    # location
    if not isinstance(value, dict) or set(value) != {"lat", "lon"}:
        return False, value
    lat, lon = value["lat"], value["lon"]
    nums = all(isinstance(v, int | float) and not isinstance(v, bool) for v in (lat, lon))
    if not nums or not (-90 <= lat <= 90 and -180 <= lon <= 180):
        return False, value
    return True, {"lat": float(lat), "lon": float(lon)}


class RiskRule(_Strict):
    """When a write or an action is risky. Empty means always; fields narrow it down."""

    values: tuple[Any, ...] | None = None  # writing one of these values is risky
    above: float | None = None  # writing a value above this is risky
    why: str = ""  # what could happen, for people: "anyone could walk in"
    classes: tuple[str, ...] | None = None  # only devices of these classes
    # whether a command is risky by this rule is decided in one place: `spec.policy`


class PropertySpec(ValueSpec):
    """A property of a device type."""

    name: str = ""
    access: Literal["rw", "ro"] = "rw"
    optional: bool = False  # a device exposes it only if the space gives it (sensors)
    # writing it on a device that is off also turns it on: True means the `on` property,
    # a name means that bool property (a car's cabin temperature starts its climate control)
    implies_on: bool | str = False
    risky: RiskRule | None = None
    default: Any = None
    vss: str | None = None  # the COVESA VSS signal this property means (car)

    @property
    def writable(self) -> bool:
        return self.access == "rw"

    @property
    def switch(self) -> str | None:
        """The bool property that writing this one turns on, if any."""
        if self.implies_on is True:
            return "on"
        return self.implies_on or None

    @model_validator(mode="after")
    def _default_fits(self) -> PropertySpec:
        if self.default is not None:
            ok, _ = _normalise(self, self.default)
            if not ok:
                raise ValueError(f"default {self.default!r} is not {self.allowed()}")
        return self


class ArgSpec(ValueSpec):
    """An argument of an action or an event."""

    name: str = ""
    required: bool = True


class Effect(_Strict):
    """One thing an action does to a simulated device; exactly one field is set."""

    set: dict[str, Any] | None = None  # set properties to values
    toggle: str | None = None  # flip a bool property
    travel: dict[str, float] | None = None  # move a numeric property toward a value over time
    halt: str | None = None  # stop a travelling property where it is
    set_arg: dict[str, str] | None = None  # set a property to the value of an argument
    event: str | None = None  # emit an event, with the action's arguments

    @model_validator(mode="after")
    def _one(self) -> Effect:
        given = [k for k, v in self.__dict__.items() if v is not None]
        if len(given) != 1:
            raise ValueError(
                f"an effect sets exactly one of set/toggle/travel/halt/set_arg/event, got {given}"
            )
        return self


class ActionSpec(_Strict):
    name: str = ""
    description: str = ""
    args: tuple[ArgSpec, ...] = ()
    risky: RiskRule | None = None
    effects: tuple[Effect, ...] = ()
    # the action has nothing to do while the device's state holds these values (a vacuum
    # told to dock while docked): it changes nothing and emits nothing
    already: dict[str, Any] = Field(default_factory=dict)


class EventSpec(_Strict):
    name: str = ""
    description: str = ""
    args: tuple[ArgSpec, ...] = ()


class Process(_Strict):
    """A simulated behaviour over time. `kind` says which; the other fields configure it.

    - approach: `property` moves toward `target` (a property name or a number) at `rate`
      per second while `when` holds; `on_reach` effects run once it gets there. With
      `direction` up (down) it only rises (falls): at or past the target counts as reached.
    - random_walk: `property` wanders by up to `step` per second within [`min`, `max`].
    - timer: after `after` seconds with `when` holding, `on_reach` effects run.
    - ratio: `property` keeps the ratio to `source` it had at the start (range ↔ charge).
    """

    kind: Literal["approach", "random_walk", "timer", "ratio"]
    property: str | None = None
    target: str | float | None = None
    rate: float = 0.0
    when: dict[str, Any] = Field(default_factory=dict)
    on_reach: tuple[Effect, ...] = ()
    direction: Literal["both", "up", "down"] = "both"
    step: float = 0.0
    min: float | None = None
    max: float | None = None
    after: float = 0.0
    source: str | None = None


class DeviceType(_Strict):
    """A device type: the contract every device of this type keeps."""

    type: str
    description: str = ""
    classes: tuple[str, ...] = ()  # kinds the space may name in `class` (cover)
    properties: dict[str, PropertySpec] = Field(default_factory=dict)
    actions: dict[str, ActionSpec] = Field(default_factory=dict)
    events: dict[str, EventSpec] = Field(default_factory=dict)
    simulation: tuple[Process, ...] = ()
    origin: str = "builtin"  # builtin, or where the type was loaded from

    @model_validator(mode="before")
    @classmethod
    def _names(cls, data: Any) -> Any:
        # Let spec files give names as mapping keys only; copy them into each entry.
        if isinstance(data, dict):
            data = dict(data)
            for section in ("properties", "actions", "events"):
                entries = data.get(section) or {}
                if isinstance(entries, dict):
                    data[section] = {
                        k: {**(v or {}), "name": k} if isinstance(v or {}, dict) else v
                        for k, v in entries.items()
                    }
        return data

    @model_validator(mode="after")
    def _coherent(self) -> DeviceType:
        for name in [*self.properties, *self.actions, *self.events]:
            if not _NAME.match(name):
                raise ValueError(f"name {name!r} must match [a-z][a-z0-9_]*")
        props = self.properties
        for prop in props.values():
            switch = prop.switch
            target = props.get(switch) if switch else None
            if switch not in (None, "on") and (target is None or target.kind != "bool"):
                raise ValueError(
                    f"property {prop.name}: implies_on names {switch}, not a bool property"
                )
        for action in self.actions.values():
            for name in action.already:
                if name not in props:
                    raise ValueError(
                        f"action {action.name}: `already` names unknown property {name}"
                    )
            for eff in action.effects:
                for touched in _effect_props(eff):
                    if touched not in props:
                        raise ValueError(f"action {action.name} touches unknown property {touched}")
                if eff.event and eff.event not in self.events:
                    raise ValueError(f"action {action.name} emits unknown event {eff.event}")
                if eff.set_arg:
                    names = {a.name for a in action.args}
                    for arg in eff.set_arg.values():
                        if arg not in names:
                            raise ValueError(f"action {action.name} has no argument {arg}")
        for proc in self.simulation:
            for named in (proc.property, proc.source, *proc.when):
                if named is not None and named not in props:
                    raise ValueError(f"simulation {proc.kind} names unknown property {named}")
            if isinstance(proc.target, str) and proc.target not in props:
                raise ValueError(f"simulation {proc.kind} targets unknown property {proc.target}")
        return self

    def prop(self, name: str, device: str | None = None) -> PropertySpec:
        """The property `name`, or a `SpecError` naming what the type has."""
        try:
            return self.properties[name]
        except KeyError:
            raise _unknown("property", name, self.properties, self.type, device) from None

    def action(self, name: str, device: str | None = None) -> ActionSpec:
        try:
            return self.actions[name]
        except KeyError:
            raise _unknown("action", name, self.actions, self.type, device) from None

    def check_write(
        self, prop: str, value: Any, device: str | None = None, *, allow_readonly: bool = False
    ) -> Any:
        """Validate a write of `value` to `prop`; return the normalised value."""
        spec = self.prop(prop, device)
        where = f"{device or self.type}.{prop}"
        if not spec.writable and not allow_readonly:
            raise ValueNotAllowed(f"{where} is read-only; it cannot be set")
        return spec.check(value, where)

    def check_args(self, action: str, args: dict[str, Any], device: str | None = None) -> dict:
        """Validate the arguments of a call; return them normalised."""
        spec = self.action(action, device)
        where = f"{device or self.type}.{action}"
        known = {a.name: a for a in spec.args}
        extra = sorted(set(args) - set(known))
        if extra:
            takes = ", ".join(known) or "no arguments"
            raise ValueNotAllowed(f"{where}: unknown argument {extra[0]!r}; it takes {takes}")
        out = {}
        for name, arg in known.items():
            if name in args:
                out[name] = arg.check(args[name], f"{where}({name})")
            elif arg.required:
                raise ValueNotAllowed(f"{where}: missing argument {name!r} ({arg.allowed()})")
        return out

    def narrowed(self, values: Mapping[str, Sequence[str]], where: str = "") -> DeviceType:
        """This type for one device that takes only some of an enum's values (an oil heater
        is a climate that only heats: `{mode: [heat]}`). Narrowing never widens: each list
        must be a non-empty part of the property's values; a `SpecError` names the problem.
        The default moves to the first allowed value when the type's is not among them."""
        if not values:
            return self
        subject = where or f"type {self.type}"
        props = dict(self.properties)
        for name, allowed in values.items():
            spec = props.get(name)
            if spec is None:
                raise _unknown("property", name, self.properties, self.type, where or None)
            if spec.kind != "enum":
                raise SpecError(
                    f"{subject}: only a property with named values can be narrowed; "
                    f"{name} is {spec.allowed()}"
                )
            given = [str(v) for v in allowed]
            wrong = [v for v in given if v not in (spec.values or ())]
            if wrong or not given:
                raise SpecError(
                    f"{subject}: {name} can only be narrowed to some of "
                    f"{', '.join(spec.values or ())}"
                    + (f"; not {', '.join(map(repr, wrong))}" if wrong else "; none were given")
                )
            kept = tuple(v for v in spec.values or () if v in given)  # the type's order
            default = spec.default if spec.default in kept else kept[0]
            props[name] = spec.model_copy(update={"values": kept, "default": default})
        return self.model_copy(update={"properties": props})

    def narrowing(self, base: DeviceType) -> dict[str, list[str]]:
        """The enum values this type leaves out of `base` (of the same name): what
        `narrowed` was given, for a discovery message."""
        out = {}
        for name, spec in self.properties.items():
            wide = base.properties.get(name)
            if wide is not None and spec.kind == "enum" and spec.values != wide.values:
                out[name] = list(spec.values or ())
        return out


def _effect_props(eff: Effect) -> list[str]:
    out: list[str] = []
    for mapping in (eff.set, eff.travel, eff.set_arg):
        out.extend(mapping or {})
    out.extend(p for p in (eff.toggle, eff.halt) if p)
    return out


def _unknown(what: str, name: str, known: dict, type_: str, device: str | None):
    from hyperhub.errors import SpecError

    subject = f"device {device} ({type_})" if device else f"type {type_}"
    has = ", ".join(sorted(known)) or "none"
    return SpecError(f"{subject} has no {what} {name!r}; it has: {has}")
