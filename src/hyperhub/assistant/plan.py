"""What an engine makes of a sentence: a `Plan` of steps and questions, before anything runs.

Engines (matcher, local LLM, remote LLM) only *propose*; `execute.Executor` checks a plan
against the spec (values, risk) and applies it. So every engine gets the same safety rules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Lang = Literal["en", "zh"]


def is_position(prop: str) -> bool:
    """Whether a property is how far something is open (a cover's `position`, a car's
    `window_position`): 0 closed, above it open."""
    return prop == "position" or prop.endswith("_position")


def asks_value(expect: Any) -> bool:
    """Whether a question's `expect` is an enum value ("silent"), not a state (True, False,
    "open", "closed")."""
    return isinstance(expect, str) and expect not in ("open", "closed")


@dataclass
class Step:
    """One device action: write `property` (absolute `value`, or `delta` relative to the current
    value), or call `action` with `args`."""

    device: str
    property: str | None = None
    value: Any = None
    delta: float | None = None
    action: str | None = None
    args: dict[str, Any] = field(default_factory=dict)
    or_on: bool = False  # a feeling's change ("I'm cold"): a device that is off only goes on
    # "mute the music": the devices meant are those where this true/false property is true
    # ("playing"), when some are
    when: str | None = None

    def as_contract(self) -> dict[str, Any]:
        """The step as the assistant contract prints it (design.md)."""
        if self.action is not None:
            out: dict[str, Any] = {"device": self.device, "action": self.action}
            if self.args:
                out["args"] = dict(self.args)
            return out
        return {"device": self.device, "property": self.property, "value": self.value}

    def compact(self) -> str:
        """`device.prop=value` / `device.prop+=delta` / `device.action()`: the LLM's format."""
        if self.action is not None:
            inner = ",".join(f"{k}={v}" for k, v in self.args.items())
            return f"{self.device}.{self.action}({inner})"
        if self.delta is not None:
            sign = "+" if self.delta >= 0 else "-"
            return f"{self.device}.{self.property}{sign}={_num(abs(self.delta))}"
        return f"{self.device}.{self.property}={_show(self.value)}"


@dataclass
class Question:
    """Asks for the value of `property` of `device`. A yes/no question says which state it
    asks about (`expect`: True / False for a true/false property, "open" / "closed" for
    anything that opens); `how` ("all", "any", "count") asks it of all the clause's devices
    at once, which `kind` names ("lights", "窗帘"); `how` "list" (no property) asks which
    devices there are ("how many sensors do we have", "客房里有哪些设备"); `how` "where"
    (no property) asks which room a device is in ("where is the kettle", "水壶在哪")."""

    device: str
    property: str
    expect: Any = None
    how: str | None = None
    kind: str = ""
    area: str | None = None  # the room a "list" question named ("which devices are in …")

    def compact(self) -> str:
        return f"{self.device}.{self.property}?" if self.property else f"{self.device}?"


@dataclass
class Plan:
    """An engine's reading of one sentence.

    `negated`: the sentence said what not to do ("别关门廊灯"): nothing is done.
    `confidence` is in [0, 1]: the matcher gives 1.0 to a full parse; the LLM gives the
    probability of its output. `unknown` names what was not understood (a device name, a
    word) so the reply can say so. A plan with no steps and no questions did not understand.
    """

    steps: list[Step] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)
    engine: str = "matcher"
    confidence: float = 0.0
    lang: Lang = "en"
    unknown: list[str] = field(default_factory=list)
    problem: str | None = None  # a reason to refuse that the engine already knows (range)
    # a singular word ("the light") that fits several devices: (the word, the devices)
    ambiguous: tuple[str, list[str]] | None = None
    # a question about something no device there measures: (what, where)
    missing: tuple[str, str] | None = None
    # what the named device cannot do, as a reply key and its words' ids: ("read_only",
    # {"device": …, "property": …}) or ("cannot_value", {"device": …, "value": …})
    cannot: tuple[str, dict[str, str]] | None = None
    negated: bool = False  # a command said not to be done
    asked: bool = False  # the sentence is a question: nothing it leads to may act

    @property
    def empty(self) -> bool:
        return not self.steps and not self.questions

    def compact(self) -> str:
        return ";".join([s.compact() for s in self.steps] + [q.compact() for q in self.questions])


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return _num(value)
    return str(value)


def opposite(expect: Any) -> Any:
    """The other state a yes/no question can ask about: open ↔ closed, True ↔ False."""
    if expect in ("open", "closed"):
        return "closed" if expect == "open" else "open"
    return not expect
