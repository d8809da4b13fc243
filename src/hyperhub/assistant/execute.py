"""Check a `Plan` against the spec and run it on devices; say what happened.

The rules every engine's plan goes through, in this order:
1. every step names a device of the space and something it has (else "I didn't understand");
2. relative steps become absolute from the current value, kept inside the range ("a bit
   brighter" at 95 % → 100 %); absolute values out of range are refused with the spec's
   message, and nothing changes — a plan runs whole or not at all;
3. a risky step (spec flag) makes the whole plan wait for a yes (`needs_confirmation`);
4. the steps run; `changes` is exactly what changed; the reply says only what was done.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperhub.assistant.lexicon import lexicon
from hyperhub.assistant.plan import Lang, Plan, Question, Step, asks_value, is_position, opposite
from hyperhub.automation.loader import HOME_RADIUS_KM
from hyperhub.devices.sim.routes import haversine_km
from hyperhub.errors import HyperHubError
from hyperhub.space import Device, Space
from hyperhub.spec.policy import Command
from hyperhub.spec.words import (
    color_name,
    lower_first,
    measure_word,
    name_in,
    noun,
    said_word,
    singular,
    type_label,
    value_word,
)


class States(Protocol):
    """What checking a plan reads: the current state of a device (`Devices` and
    `AsyncDevices` are both; so is a snapshot, or no state at all for a rule's steps)."""

    def state(self, device_id: str) -> dict[str, Any]: ...


class Devices(Protocol):
    """Where plans run at once: a simulator (ask, chat, tests)."""

    def state(self, device_id: str) -> dict[str, Any]: ...

    def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]: ...

    def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]: ...


class AsyncDevices(Protocol):
    """Devices behind the fabric (a running hub): state from the hub's registry, commands
    acknowledged by the device (or a named error: timeout, offline, refused)."""

    def state(self, device_id: str) -> dict[str, Any]: ...

    async def set(self, device_id: str, prop: str, value: Any) -> Any: ...

    async def call(self, device_id: str, action: str, args: dict | None = None) -> Any: ...


@dataclass
class Outcome:
    actions: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    reply: str = ""
    needs_confirmation: bool = False
    done: bool = False  # the plan ran (possibly changing nothing)
    error: str | None = None


class Executor:
    def __init__(self, space: Space) -> None:
        self.space = space

    # -- checking ------------------------------------------------------------------------------

    def resolve(self, plan: Plan, devices: States) -> tuple[list[Step], str | None]:
        """The plan's steps made absolute and checked; or the first problem, in words."""
        out: list[Step] = []
        for step in self._relevant(plan.steps, devices):
            dev = self.space.devices.get(step.device)
            if dev is None:
                return [], f"there is no device {step.device!r}"
            try:
                out.append(self._check(dev, step, devices))
            except HyperHubError as exc:
                return [], str(exc)
        return out, None

    def _relevant(self, steps: list[Step], devices: States) -> list[Step]:
        """Relative changes to several devices leave out those that are off when some are on
        ("dim the living room lights" dims the lit ones, it does not light the others); a
        command about what is playing ("mute the music") leaves out the idle players."""

        def is_off(s: Step) -> bool:
            dev = self.space.devices.get(s.device)
            if dev is None or s.property not in dev.dtype.properties:
                return False
            switch = dev.dtype.properties[s.property].switch
            return switch is not None and devices.state(s.device).get(switch) is False

        relative = [s for s in steps if s.delta is not None]
        off = [s for s in relative if is_off(s)]
        if off and len(off) < len(relative):
            steps = [s for s in steps if not any(s is o for o in off)]
        # "mute the music": the speakers that are playing, when some are
        meant = [s for s in steps if s.when is not None]
        idle = [s for s in meant if devices.state(s.device).get(s.when or "") is not True]
        if idle and len(idle) < len(meant):
            steps = [s for s in steps if not any(s is i for i in idle)]
        return steps

    def _check(self, dev: Device, step: Step, devices: States) -> Step:
        t = dev.dtype
        if step.action is not None:
            args = t.check_args(step.action, dict(step.args), dev.id)
            return Step(dev.id, action=step.action, args=args)
        prop = step.property or ""
        if prop not in dev.properties:
            t.prop(prop, dev.id)
            raise HyperHubError(f"{dev.id} does not have {prop!r}")
        spec = t.properties[prop]
        value = step.value
        switch = spec.switch
        if step.or_on and switch and devices.state(dev.id).get(switch) is False:
            modes = t.properties["mode"].values if "mode" in t.properties else None
            if (step.delta or 0) < 0 and modes and not {"cool", "auto"} & set(modes):
                # "热死了" by a heater that only heats and is off: it stays off
                return Step(dev.id, property=switch, value=False)
            return Step(dev.id, property=switch, value=t.check_write(switch, True, dev.id))
        if step.delta is not None:
            current = devices.state(dev.id).get(prop)
            if not isinstance(current, int | float) or isinstance(current, bool):
                raise HyperHubError(f"{dev.id}.{prop} is not a number to change by {step.delta:g}")
            value = current + step.delta
            if spec.min is not None:
                value = max(spec.min, value)
            if spec.max is not None:
                value = min(spec.max, value)
            if spec.kind == "int":
                value = round(value)
        value = t.check_write(prop, value, dev.id)
        return Step(dev.id, property=prop, value=value)

    def is_risky(self, step: Step) -> bool:
        """Whether `step` needs a yes first (`spec.policy`, as for every command)."""
        dev = self.space.devices[step.device]
        if step.action is not None:
            return dev.is_risky(Command(dev.id, action=step.action, args=step.args))
        return dev.is_risky(Command(dev.id, step.property or "", step.value))

    # -- running -------------------------------------------------------------------------------

    def check(
        self,
        plan: Plan,
        devices: Devices | AsyncDevices,
        *,
        confirmed: bool = False,
        lang: Lang | None = None,
    ) -> tuple[list[Step], Outcome | None]:
        """The plan's steps ready to apply, or the outcome that ends it here (a refused value,
        a risky step waiting for a yes)."""
        lang = lang or plan.lang
        steps, problem = self.resolve(plan, devices)
        if problem is not None:
            out = Outcome(error=problem)
            out.reply = say(lang, "invalid", problem=problem.rstrip("."))
            return [], out
        if steps and not confirmed and any(self.is_risky(s) for s in steps):
            out = Outcome(actions=[s.as_contract() for s in steps], needs_confirmation=True)
            out.reply = say(lang, "confirm", actions=self.describe(steps, lang))
            return steps, out
        return steps, None

    def run(
        self, plan: Plan, devices: Devices, *, confirmed: bool = False, lang: Lang | None = None
    ) -> Outcome:
        """Check and run a plan on devices that answer at once (a simulator)."""
        lang = lang or plan.lang
        steps, ended = self.check(plan, devices, confirmed=confirmed, lang=lang)
        if ended is not None:
            return ended
        before = {d: devices.state(d) for d in dict.fromkeys(s.device for s in steps)}
        for s in steps:
            if s.action is not None:
                devices.call(s.device, s.action, s.args)
            else:
                devices.set(s.device, s.property or "", s.value)
        settle = getattr(devices, "settle", None)
        if callable(settle):
            settle()
        return self.report(plan, steps, before, devices, lang)

    async def arun(
        self,
        plan: Plan,
        devices: AsyncDevices,
        *,
        confirmed: bool = False,
        lang: Lang | None = None,
    ) -> Outcome:
        """Check and run a plan on devices behind the fabric (a running hub): each step waits
        for its device's ack; a step that fails stops the rest and the reply says which."""
        lang = lang or plan.lang
        steps, ended = self.check(plan, devices, confirmed=confirmed, lang=lang)
        if ended is not None:
            return ended
        before = {d: devices.state(d) for d in dict.fromkeys(s.device for s in steps)}
        failed: str | None = None
        done_steps: list[Step] = []
        for s in steps:
            try:
                if s.action is not None:
                    await devices.call(s.device, s.action, s.args)
                else:
                    await devices.set(s.device, s.property or "", s.value)
            except HyperHubError as exc:
                failed = str(exc)
                break
            done_steps.append(s)
        out = self.report(plan, done_steps, before, devices, lang)
        if failed is not None:
            out.error = failed
            out.reply = (out.reply + " " if done_steps else "") + say(
                lang, "invalid", problem=failed.rstrip(".")
            )
        return out

    def report(
        self,
        plan: Plan,
        steps: list[Step],
        before: dict[str, dict[str, Any]],
        devices: Devices | AsyncDevices,
        lang: Lang,
    ) -> Outcome:
        """What changed since `before`, the answers to the plan's questions, and the reply."""
        out = Outcome(actions=[s.as_contract() for s in steps])
        changes: dict[str, dict[str, Any]] = {}
        for d, old in before.items():
            new = devices.state(d)
            diff = {k: v for k, v in new.items() if old.get(k) != v or k not in old}
            if diff:
                changes[d] = diff
        out.changes = changes
        out.done = True
        parts = self.answers(plan.questions, devices, lang)
        if steps:
            # an action that only emits events (honk, ring, next track) did something too
            signals = [
                s
                for s in steps
                if s.action is not None
                and s.device not in changes
                and any(
                    e.event for e in self.space.devices[s.device].dtype.actions[s.action].effects
                )
            ]
            same = [s for s in steps if s.device not in changes and s not in signals]
            done = []
            if changes:
                done.append(self.describe_changes(changes, lang))
            if signals:
                done.append(self.describe(signals, lang))
            if done:
                parts.insert(0, say(lang, "ok", changes=_join(done, lang)))
            if same:
                parts.insert(
                    len(done) > 0,
                    say(lang, "nothing", states=self.describe_states(same, devices, lang)),
                )
        out.reply = " ".join(p for p in parts if p)
        return out

    # -- words ---------------------------------------------------------------------------------

    def name(self, device_id: str, lang: Lang) -> str:
        dev = self.space.devices[device_id]  # a reply to the speaker: their word (我的手机)
        return name_in(lang, dev.name, dev.aliases, to_speaker=True)

    def words_of(self, ids: dict[str, str], lang: Lang) -> dict[str, str]:
        """A reply's ids in words: a device's name, a property's noun, an enum value's label."""
        out = dict(ids)
        if "device" in ids:
            out["device"] = self.name(ids["device"], lang)
        if "property" in ids:
            out["property"] = noun(lang, ids["property"])
        if "value" in ids:
            out["value"] = value_word(lang, ids["value"])
        return out

    def value_words(self, device_id: str, prop: str, value: Any, lang: Lang) -> str:
        spec = self.space.devices[device_id].dtype.properties[prop]
        states = lexicon(lang).get("states") or {}
        if isinstance(value, bool):
            if prop == "locked":
                return str(states.get("locked" if value else "unlocked"))
            if prop.endswith("_open"):
                return str(states.get("open" if value else "closed"))
            return str(states.get("on" if value else "off"))
        if spec.kind == "enum" and isinstance(value, str):
            return value_label(lang, value)
        if prop == "color" and isinstance(value, str):  # "red", not "#ff0000"
            return color_name(lang, value)
        if isinstance(value, dict):  # a location: at home, or how far from it
            return self._place_words(value, lang)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        unit = spec.unit or ""
        if unit == "%":
            return f"{value}%"
        return f"{value} {unit}".strip()

    def _place_words(self, where: dict[str, Any], lang: Lang) -> str:
        """ "at home" / "3.2 km from home" (the space's location), never raw coordinates."""
        home = self.space.location
        try:
            point = (float(where["lat"]), float(where["lon"]))
        except (KeyError, TypeError, ValueError):
            return say(lang, "place_unknown")
        if home is None:
            return say(lang, "place_unknown")
        km = haversine_km(point, (home.lat, home.lon))
        if km <= HOME_RADIUS_KM:
            return say(lang, "place_home")
        return say(lang, "place_away", km=f"{km:.1f}" if km < 10 else f"{km:.0f}")

    def describe(self, steps: list[Step], lang: Lang) -> str:
        parts = []
        for s in steps:
            who = self.name(s.device, lang)
            if s.action is not None:
                verb = action_label(lang, s.action)
                parts.append(f"{verb} {who}" if lang == "en" else f"{verb}{who}")
            else:
                label = noun(lang, s.property or "")
                val = self.value_words(s.device, s.property or "", s.value, lang)
                parts.append(
                    f"set {who} {label} to {val}" if lang == "en" else f"把{who}的{label}设为{val}"
                )
        return _join(parts, lang)

    def describe_changes(self, changes: dict[str, dict[str, Any]], lang: Lang) -> str:
        parts = []
        for d, props in changes.items():
            who = self.name(d, lang)
            bits = []
            for p, v in props.items():
                if p in ("on", "locked"):
                    bits.append(self.value_words(d, p, v, lang))
                elif isinstance(v, bool):  # "muted", "not muted", "静音了"
                    bits.append(said_word(lang, p, v, named=True))
                elif is_position(p) and self.state_words(d, p, v, lang):  # "closed"
                    bits.append(self.state_words(d, p, v, lang))
                else:
                    label = noun(lang, p)
                    bits.append(
                        f"{label} {self.value_words(d, p, v, lang)}"
                        if lang == "en"
                        else f"{label}{self.value_words(d, p, v, lang)}"
                    )
            sep = ", " if lang == "en" else "，"
            parts.append(f"{who} {sep.join(bits)}" if lang == "en" else f"{who}{sep.join(bits)}")
        return _join(parts, lang)

    def describe_states(
        self, steps: list[Step], devices: Devices | AsyncDevices, lang: Lang
    ) -> str:
        parts = []
        for s in steps:
            who = self.name(s.device, lang)
            if s.property is not None:
                v = devices.state(s.device).get(s.property)
                words = self.value_words(s.device, s.property, v, lang)
                if isinstance(v, bool) and s.property not in ("on", "locked"):
                    words = said_word(lang, s.property, v, named=True)
                elif is_position(s.property) and self.state_words(s.device, s.property, v, lang):
                    words = self.state_words(s.device, s.property, v, lang)  # "closed"
                elif s.property not in ("on", "locked"):  # "Lamp brightness is already 100%"
                    parts.append(self._already_value(s.device, s.property, v, lang))
                    continue
                parts.append(say(lang, "already", device=who, state=words))
            else:
                one = self._touched(s, devices)
                if len(one) == 1 and one[0] not in ("on", "locked") and not is_position(one[0]):
                    # "Robot Vacuum status is already docked", not "already status docked"
                    v = devices.state(s.device).get(one[0])
                    parts.append(self._already_value(s.device, one[0], v, lang))
                    continue
                parts.append(say(lang, "already", device=who, state=self._status(s, devices, lang)))
        return _join(list(dict.fromkeys(parts)), lang)

    def _already_value(self, device: str, prop: str, value: Any, lang: Lang) -> str:
        """ "Lamp brightness is already 100%", "扫地机器人的状态已经是已回充" """
        words = self.value_words(device, prop, value, lang)
        who = self.name(device, lang)
        return say(lang, "already_value", device=who, property=noun(lang, prop), value=words)

    def _touched(self, step: Step, devices: Devices | AsyncDevices) -> list[str]:
        """The properties an action sets or checks that the device reports."""
        state = devices.state(step.device)
        spec = self.space.devices[step.device].dtype.actions[step.action or ""]
        touched: list[str] = []
        for eff in spec.effects:
            touched += [
                *(eff.set or {}),
                *(eff.travel or {}),
                *([eff.toggle] if eff.toggle else []),
            ]
        touched += list(spec.already)
        return [p for p in dict.fromkeys(touched) if p in state]

    def _status(self, step: Step, devices: Devices | AsyncDevices, lang: Lang) -> str:
        """The state an action that changed nothing found: the properties it would touch."""
        state = devices.state(step.device)
        bits = []
        for p in self._touched(step, devices):
            words = self.value_words(step.device, p, state[p], lang)
            said = self.state_words(step.device, p, state[p], lang) if is_position(p) else ""
            bits.append(said or (words if p in ("on", "locked") else f"{noun(lang, p)} {words}"))
        return ", ".join(bits) if bits else ("as asked" if lang == "en" else "如此")

    def answers(
        self, questions: list[Question], devices: Devices | AsyncDevices, lang: Lang
    ) -> list[str]:
        """The replies to a plan's questions: one each, but one for all the devices a "how
        many", "is any" or "are all" question asked about."""
        out: list[str] = []
        groups: dict[tuple[str, str, Any], list[Question]] = {}
        lists: dict[tuple[str, str | None], list[str]] = {}
        for q in questions:
            if q.how == "list":
                lists.setdefault((q.kind, q.area), []).append(q.device)
            elif q.how == "where":
                out.append(self._where(q, devices, lang))
            elif q.how is not None and q.expect is not None:
                groups.setdefault((q.how, q.kind, q.expect), []).append(q)
            else:
                out.append(self.answer(q, devices, lang))
        for (how, kind, expect), asked in groups.items():
            if len(asked) == 1 and how != "count":
                out.append(self.answer(asked[0], devices, lang))
            else:
                out.append(self._together(how, kind, expect, asked, devices, lang))
        for (kind, area), ids in lists.items():
            out.append(self._inventory(kind, area, ids, lang))
        return out

    def _kind_word(self, kind: str, device: str, n: int, lang: Lang) -> str:
        """The word `n` devices are counted by: the one said, else the type's; in English
        singular for one, plural for more ("1 heater", "2 windows")."""
        word = kind or lower_first(lang, type_label(lang, self.space.devices[device].type))
        if lang != "en":
            return word
        return singular(word) if n == 1 else word if word.endswith("s") else word + "s"

    def _where(self, q: Question, devices: Devices | AsyncDevices, lang: Lang) -> str:
        """ "Kettle is in the Back Kitchen." / "烧水壶在后厨。"; a phone or a car: "Seal is
        at home.", "小雨的手机离家2.7公里。" """
        area = self.space.devices[q.device].area
        who = self.name(q.device, lang)
        if q.property:
            place = self._place_words(devices.state(q.device).get(q.property) or {}, lang)
            return say(lang, "where_place", device=who, place=place)
        if area not in self.space.areas:
            return say(lang, "where_none", device=who)
        return say(lang, "where", device=who, area=self.space.areas[area].name_in(lang))

    def _inventory(self, kind: str, area: str | None, ids: list[str], lang: Lang) -> str:
        """ "2 devices in Guest Room: Guest Room Lamp and Dehumidifier." """
        n = len(ids)
        word = self._kind_word(kind, ids[0], n, lang)
        where = self.space.areas[area].name_in(lang) if area in self.space.areas else ""
        names = _join([self.name(d, lang) for d in ids], lang)
        key = "inventory_in" if where else "inventory"
        mw = measure_word(lang, self.space.devices[ids[0]].type)
        return say(lang, key, mw=mw, n=n, kind=word, where=where, devices=names)

    def _together(
        self,
        how: str,
        kind: str,
        expect: Any,
        asked: list[Question],
        devices: Devices | AsyncDevices,
        lang: Lang,
    ) -> str:
        """ "Yes, all 5 lights are off." / "2 of 4 windows are open: Study and Bedroom." """
        values = {q.device: devices.state(q.device).get(q.property) for q in asked}
        holding = {q.device: self.holds(q, values[q.device]) for q in asked}
        held = [q for q in asked if holding[q.device]]
        others = [q for q in asked if not holding[q.device]]
        first = asked[0]
        state = self._expected_words(first, expect, lang)
        other = self._expected_words(first, opposite(expect), lang)
        n, m = len(asked), len(held)
        mw = measure_word(lang, self.space.devices[first.device].type)  # 盏, 台, 个
        word = self._kind_word(kind, first.device, n, lang)

        def names(qs: list[Question]) -> str:
            return _join([self._named(q, values[q.device], lang) for q in qs], lang)

        be = say(lang, "be_one" if m == 1 else "be_many")
        if n == 1:  # "All 1 heaters are on": the one there is, by name
            one = names(asked)
            yes, no = (
                ("only_yes", "only_no")
                if how in ("all", "any")
                else ("only_count", "only_count_none")
            )
            return say(
                lang, yes if held else no, mw=mw, kind=word, device=one, state=state, other=other
            )
        if how == "all":
            if not others:
                return say(lang, "all_yes", mw=mw, n=n, kind=word, state=state)
            be = say(lang, "be_one" if len(others) == 1 else "be_many")
            return say(lang, "all_no", mw=mw, m=len(others), n=n, kind=word, be=be, other=other,
                       devices=names(others))  # fmt: skip
        if how == "any":
            if not held:
                return say(lang, "any_no", mw=mw, n=n, kind=word, state=state)
            return say(lang, "any_yes", mw=mw, m=m, n=n, kind=word, be=be, state=state,
                       devices=names(held))  # fmt: skip
        if not held:
            return say(lang, "count_none", mw=mw, n=n, kind=word, state=state)
        if not others:
            return say(lang, "count_all", mw=mw, n=n, kind=word, state=state)
        return say(
            lang, "count", mw=mw, m=m, n=n, kind=word, be=be, state=state, devices=names(held)
        )

    def _named(self, q: Question, value: Any, lang: Lang) -> str:
        """A device in a list: its name, with its level when it is only partly open."""
        spec = self.space.devices[q.device].dtype.properties[q.property]
        who = self.name(q.device, lang)
        partly = (
            isinstance(value, int | float)
            and not isinstance(value, bool)
            and spec.max is not None
            and (spec.min or 0) < value < spec.max
        )
        if partly:
            return (
                f"{who} ({self.value_words(q.device, q.property, value, lang)})"
                if lang == "en"
                else f"{who}（{self.value_words(q.device, q.property, value, lang)}）"
            )
        return who

    def holds(self, q: Question, value: Any) -> bool:
        """Whether `value` is the state `q` asks about ("open", "closed", True, False)."""
        expect = q.expect
        spec = self.space.devices[q.device].dtype.properties[q.property]
        if asks_value(expect):
            return bool(value == expect)  # an enum's value ("silent")
        if expect in ("open", "closed"):
            if q.property in ("contact", "locked"):  # a closed door sensor says true
                is_open = value is False
            elif isinstance(value, bool):
                is_open = value
            elif isinstance(value, int | float):
                is_open = value > (spec.min or 0)
            else:
                return False
            return is_open == (expect == "open")
        return isinstance(value, bool) and value == expect

    def _expected_words(self, q: Question, expect: Any, lang: Lang) -> str:
        """How a reply says the state asked about: "closed", "off", "locked", "开着"."""
        if asks_value(expect):
            return value_label(lang, expect)
        if expect in ("open", "closed"):
            if q.property == "contact":
                return said_word(lang, "contact", expect == "closed")
            return said_word(lang, "_open", expect == "open")
        return said_word(lang, q.property, bool(expect))

    def state_words(self, device_id: str, prop: str, value: Any, lang: Lang) -> str:
        """A state as people say it: "closed", "open (40%)", "on", "unlocked", "关着"."""
        spec = self.space.devices[device_id].dtype.properties[prop]
        if isinstance(value, bool):
            return said_word(lang, prop, value)
        if is_position(prop) and isinstance(value, int | float) and spec.max is not None:
            if value <= (spec.min or 0):
                return said_word(lang, "_open", False)
            words = said_word(lang, "_open", True)
            if value < spec.max:
                level = self.value_words(device_id, prop, value, lang)
                words += f" ({level})" if lang == "en" else f"（{level}）"
            return words
        return ""

    def answer(self, q: Question, devices: Devices | AsyncDevices, lang: Lang) -> str:
        value = devices.state(q.device).get(q.property)
        who = self.name(q.device, lang)
        said = self.state_words(q.device, q.property, value, lang)
        if asks_value(q.expect):  # "is my phone on silent?"
            key = "yes_value" if value == q.expect else "no_value"
            words = self.value_words(q.device, q.property, value, lang)
            return say(lang, key, device=who, property=noun(lang, q.property), value=words)
        if said and q.expect is not None:  # a yes/no question: yes or no first
            yes = self.holds(q, value)
            if yes and lang == "zh" and said.endswith("着"):
                said += "呢"  # "是的，前门锁着呢。"
            return say(lang, "yes_is" if yes else "no_is", device=who, state=said)
        if said:
            return say(lang, "is", device=who, state=said)
        words = self.value_words(q.device, q.property, value, lang)
        label = noun(lang, q.property)
        return say(lang, "value", device=who, property=label, value=words) + (
            "." if lang == "en" else "。"
        )


def action_label(lang: Lang, action: str) -> str:
    lex = lexicon(lang)
    for section in ("verbs", "actions"):
        found = (lex.get(section) or {}).get(action)
        if found:
            return str(found[0])
    return action.replace("_", " ")


def value_label(lang: Lang, value: str) -> str:
    return lower_first(lang, value_word(lang, value))


def say(lang: Lang, key: str, **fields: Any) -> str:
    template = str((lexicon(lang).get("replies") or {}).get(key) or key)
    return template.format(**fields)


def _join(parts: list[str], lang: Lang) -> str:
    if not parts:
        return ""
    if len(parts) == 1:
        return parts[0]
    sep = str((lexicon(lang).get("replies") or {}).get("list_sep", ", "))
    last = str((lexicon(lang).get("replies") or {}).get("and", " and "))
    return sep.join(parts[:-1]) + last + parts[-1]
