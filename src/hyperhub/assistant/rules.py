"""Rules by voice: "when I leave home, lock the door" / "我离开家时锁门" → a proposed `Rule`.

A sentence is a rule request when it starts with a trigger this module knows (in English
the trigger may also end it: "lock the door when I leave"); the rest is an ordinary command,
read by the matcher and checked by the executor like any other, and becomes the rule's
actions (`set` / `call`). Nothing runs now: the answer states the rule in words and waits for
a yes; the yes saves it through a `RuleSaver` (docs/assistant.md, "Rules by voice").

Triggers (their words are in lexicon/*.yaml, section `rules`; the grammar is here):
- leaving / arriving home: "I" / "我" is the phone the space calls "my phone" / "我的手机"
  (without one, every phone: leaving then means everyone has left); "everyone leaves",
  "someone gets home", a device with a location ("the car arrives home", "车到家时");
- a time of day, every day or on some weekdays ("at 7:30 on workdays", "每天早上7点半");
- sunrise / sunset ("at sunset", "日落时");
- a reading above / below a number ("when PM2.5 is above 75", "PM2.5超过75时").
Home and the sun need the space's location.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Protocol

from hyperhub.assistant.execute import Executor, action_label, say
from hyperhub.assistant.lexicon import lexicon
from hyperhub.assistant.matcher import Matcher
from hyperhub.assistant.numbers import cn_number, normalize
from hyperhub.assistant.plan import Lang, Plan, Step
from hyperhub.automation.folder import AutomationFolder, append_rule
from hyperhub.automation.loader import (
    HOME_RADIUS_KM,
    Book,
    automations_path,
    load_automations,
)
from hyperhub.automation.model import (
    WEEKDAYS,
    Action,
    Condition,
    Rule,
    Trigger,
)
from hyperhub.errors import HyperHubError
from hyperhub.ids import unique
from hyperhub.space import Space
from hyperhub.spec.words import noun

RULES_FILE = "assistant.yaml"  # where the assistant's rules go, in the automations folder
MAX_ID = 96  # characters of a generated id (ids may have 100: room for "_2", "_3", …)
MAX_TRIGGER = 160  # characters a trigger may have at the end of a sentence ("… when I leave")
MAX_NAME = 80  # characters of what a trigger names ("the car", "the living room temperature")
_COMMAND_KINDS = {"verb", "action", "rel", "cmp", "particle", "level", "small", "polite", "all"}
_UNITS = r"(?:%|percent|degrees celsius|degrees|degree|°c|°|℃|摄氏度|度|μg/m3|µg/m3|ug/m3)"
_CN_NUM = "零〇一二两三四五六七八九十"


# ---------------------------------------------------------------------------- saving


class RuleSaver(Protocol):
    """Where a confirmed rule goes. `live`: it runs as soon as it is saved (a running hub);
    else from the hub's next start. `save` returns where it was saved, in words; it raises
    `HyperHubError` (or `OSError`) when it cannot. A saver may have `async def asave(rule)`
    too, which `Assistant.aask` prefers."""

    live: bool

    def rule_ids(self) -> set[str]: ...

    def save(self, rule: Rule) -> str: ...

    def cannot_save(self) -> str | None: ...


class FileRuleSaver:
    """Saves into the space's automations: `path` is the automations folder (default: the
    `automations/` next to the space file), where rules go into `assistant.yaml`, or one
    automation file. The demo that ships inside HyperHub is not written to."""

    live = False

    def __init__(self, space: Space, path: Path | None = None) -> None:
        self.space = space
        self.path = Path(path) if path is not None else automations_path(space)

    def target(self) -> Path:
        """The file the rule goes into (`HyperHubError` when there is none): where the
        automations folder puts new rules, `assistant.yaml` in it."""
        return AutomationFolder(self.space, self.path, new_file=RULES_FILE).target()

    def cannot_save(self) -> str | None:
        """Why a rule could not be saved here, in words, or None: asked before proposing a
        rule, so that nobody is asked to say yes to what will then be refused."""
        try:
            self.target()
        except HyperHubError as exc:
            return str(exc)
        return None

    def rule_ids(self) -> set[str]:
        if self.path is None or not self.path.exists():
            return set()
        try:
            return set(load_automations(self.space, self.path).rules)
        except (HyperHubError, OSError):
            return set()

    def write(self, rule: Rule) -> Book:
        """Append the rule (checked with the whole folder first) and read the folder back."""
        append_rule(self.target(), rule, self.space)
        return load_automations(self.space, self.path)

    def save(self, rule: Rule) -> str:
        target = self.target()
        self.write(rule)
        return str(target)


def rule_data(rule: Rule) -> dict[str, Any]:
    """A rule as the answer's `rule` field holds it."""
    data: dict[str, Any] = rule.model_dump(mode="json", by_alias=True, exclude_defaults=True)
    return data


# ---------------------------------------------------------------------------- reading


@dataclass
class When:
    """The trigger part of a rule request, as read (before it meets the space)."""

    kind: str  # geofence, time, sun, numeric
    who: str = ""  # geofence: self, everyone, someone, device
    devices: list[str] = field(default_factory=list)
    event: str = ""  # geofence: enter / leave; sun: sunrise / sunset
    at: str = ""  # time: HH:MM
    weekdays: tuple[str, ...] = WEEKDAYS
    readings: list[tuple[list[str], str]] = field(default_factory=list)  # (devices, property)
    above: float | None = None
    below: float | None = None
    unknown: str | None = None  # words that should name a device and do not


@dataclass
class Proposal:
    """What a rule request comes to: a rule to confirm (with the reply stating it), or a
    reply saying why there is none; `plan` is the matcher's reading of the command part when
    that is what was not understood (the pipeline words the usual reply from it)."""

    rule: Rule | None = None
    reply: str = ""
    plan: Plan | None = None


class RuleReader:
    """Reads rule requests of one space (see the module doc)."""

    def __init__(self, space: Space, matcher: Matcher, executor: Executor) -> None:
        self.space = space
        self.matcher = matcher
        self.executor = executor
        self.gaz = matcher.gaz

    def read(
        self,
        norm: str,
        lang: Lang,
        *,
        said: str = "",
        area: str | None = None,
        taken: Callable[[], set[str]] | None = None,
    ) -> Proposal | None:
        """The proposal for a normalised sentence, or None when it is no rule request;
        `taken` gives the rule ids in use (asked only when there is a rule to name)."""
        found = self._split_zh(norm) if lang == "zh" else self._split_en(_expand(norm))
        if found is None:
            return None
        when, command = found
        if when.unknown is not None:
            plan = Plan(lang=lang, unknown=[when.unknown])
            return Proposal(plan=plan)
        triggers = self._triggers(when, lang)
        if isinstance(triggers, str):
            return Proposal(reply=triggers)
        trig, conditions, when_text, slug = triggers
        plan, _ = self.matcher.parse(command, area=area, every_fit=True)
        if plan.problem == "injection":
            return Proposal(reply=say(lang, "injection"))
        if plan.questions and not plan.steps:
            return Proposal(reply=say(lang, "rule_question"))
        if plan.empty or plan.confidence < 1.0 or plan.questions:
            return Proposal(plan=plan)
        relative = [s for s in plan.steps if s.delta is not None]
        if relative:
            return Proposal(reply=say(lang, "rule_relative", what=command.strip(" ,")))
        steps, problem = self.executor.resolve(plan, _NoState())
        if problem is not None:
            return Proposal(reply=say(lang, "invalid", problem=problem.rstrip(".")))
        actions, what, verb = self._actions(steps, lang)
        risky = [s for s in steps if self.executor.is_risky(s)]
        rule_id = unique(_slug(f"{slug}_{verb}"), taken() if taken else set())
        title = f"{when_text}, {what}" if lang == "en" else f"{when_text}，{what}"
        rule = Rule(
            id=rule_id,
            name=title[:1].upper() + title[1:],
            description=f"Said to the assistant: {(said or norm).strip()[:200]}",
            triggers=trig,
            conditions=conditions,
            actions=actions,
        )
        reply = say(lang, "rule_confirm", when=when_text, actions=what)
        if risky:
            reply += say(lang, "rule_risky", actions=self._actions(risky, lang)[1])
        return Proposal(rule=rule, reply=reply)

    # -- English -------------------------------------------------------------------------------

    def _split_en(self, s: str) -> tuple[When, str] | None:
        g = _grammar("en")
        if not g["quick"].search(s):
            return None
        # the trigger first: "when I leave home, lock the door"
        readers = (self._read_geofence, self._numeric_en, self._sun, self._time_en)
        found = self._trigger_first(s, g, readers)
        if found is not None:
            return found
        # the trigger last: "lock the door when I leave home"
        if not self._commandish(s):
            return None
        for m in g["starts"].finditer(s, max(1, len(s) - MAX_TRIGGER)):
            i = m.start()
            tail = s[i:].rstrip(" .!")
            command = s[:i].rstrip(" ,")
            if not command:
                continue
            for reader in (self._read_geofence, self._numeric_en, self._sun, self._time_en):
                got = reader(tail, g)
                if got is not None and got[1] == len(tail):
                    return got[0], command
        return None

    def _read_geofence(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        """Leaving / arriving (either language: the grammar `g` holds the words)."""
        m = g["nobody"].match(s)
        if m:
            return When("geofence", who="everyone", event="leave"), m.end()
        m = g["geofence"].match(s)
        if m is None:
            return None
        event = "leave" if m.group("leave") else "enter"
        return self._who(m.group("subj"), event, g), m.end()

    def _numeric_en(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        m = g["numeric"].match(s)
        if m is None:
            return None
        above = bool(re.fullmatch(g["above"], m.group("cmp")))
        return self._reading(m.group("what"), float(m.group("n")), above), m.end()

    def _time_en(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        m = g["time"].match(s)
        if m is None:
            return None
        text = m.group(0)
        c = g["clock"].search(text)
        assert c is not None
        if c.group("noon"):
            h, minute = 12, 0
        elif c.group("midnight"):
            h, minute = 0, 0
        else:
            h, minute = int(c.group("h")), int(c.group("m") or 0)
            part = _part(text, g)
            if part == "morning" and h == 12:
                h = 0
            elif part == "evening" and h < 12:
                h += 12
        if h > 23 or minute > 59:
            return None
        return When("time", at=f"{h:02d}:{minute:02d}", weekdays=_weekdays(text, g)), m.end()

    # -- Chinese -------------------------------------------------------------------------------

    def _split_zh(self, s: str) -> tuple[When, str] | None:
        g = _grammar("zh")
        if not g["quick"].search(s):
            return None
        readers = (self._read_geofence, self._sun, self._time_zh, self._numeric_zh)
        return self._trigger_first(s, g, readers)

    def _trigger_first(
        self, s: str, g: dict[str, Any], readers: tuple[Any, ...]
    ) -> tuple[When, str] | None:
        """A sentence that opens with its trigger: the first reader that reads one, followed
        by a command (after a separator, or a sentence that reads as a command)."""
        for reader in readers:
            got = reader(s, g)
            if got is not None:
                when, end = got
                command, sep = _after(s[end:], g)
                if command and (sep or self._commandish(command)):
                    return when, command
        return None

    def _time_zh(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        m = g["time"].match(s)
        if m is None:
            return None
        if m.group("hh") is not None:
            h, minute = int(m.group("hh")), int(m.group("mm"))
        else:
            hour = _zh_int(m.group("h"))
            if hour is None:
                return None
            h = hour
            if m.group("half"):
                minute = 30
            elif m.group("q1"):
                minute = 15
            elif m.group("q3"):
                minute = 45
            else:
                minute = _zh_int(m.group("m") or "0") or 0
        part = _part(m.group(0), g)
        if part == "morning" and h == 12:
            h = 0
        elif (part == "evening" and h < 12) or (part == "noon" and h < 11):
            h += 12
        if h > 23 or minute > 59:
            return None
        return When("time", at=f"{h:02d}:{minute:02d}", weekdays=_weekdays(m.group(0), g)), m.end()

    def _numeric_zh(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        m = g["numeric"].match(s)
        if m is None:
            return None
        value = _zh_number(m.group("n"))
        if value is None:
            return None
        above = bool(re.fullmatch(g["above"], m.group("cmp")))
        return self._reading(m.group("what"), value, above), m.end()

    # -- shared --------------------------------------------------------------------------------

    def _sun(self, s: str, g: dict[str, Any]) -> tuple[When, int] | None:
        m = g["sun"].match(s)
        if m is None:
            return None
        event = "sunset" if m.group("sunset") else "sunrise"
        return When("sun", event=event), m.end()

    def _commandish(self, text: str) -> bool:
        """Whether `text` starts like a command (its first word that is not filler is a
        verb, an action word …), not like more of a trigger ("the kitchen, …")."""
        for tok in self.gaz.scan(text[:MAX_NAME]):
            kinds = tok.kinds()
            if kinds <= {"filler", "conj"}:
                continue
            return bool(kinds & _COMMAND_KINDS)
        return False

    def _who(self, subject: str, event: str, g: dict[str, Any]) -> When:
        subject = subject.strip()
        for who in ("self", "everyone", "someone"):
            if re.fullmatch(g[who], subject):
                return When("geofence", who=who, event=event)
        devices = self._located(subject)
        if not devices:
            return When("geofence", who="device", event=event, unknown=subject[:80])
        return When("geofence", who="device", event=event, devices=devices)

    def _located(self, text: str) -> list[str]:
        """The devices with a location that `text` names ("the car", "李娜的手机", "the
        phones"); empty when a word is not one of them."""
        named: list[str] = []
        types: list[str] = []
        for tok in self.gaz.scan(text):
            if tok.kinds() <= {"filler"}:
                continue
            devs = [m[1] for m in tok.get("device") if self._has_location(m[1])]
            if devs:
                named += devs
                continue
            kinds = [m[1] for m in tok.get("type")]
            if kinds:
                types += kinds
                continue
            return []
        if named:
            return list(dict.fromkeys(named))
        return [
            d.id
            for d in self.space.devices.values()
            if d.type in types and self._has_location(d.id)
        ]

    def _has_location(self, device_id: str) -> bool:
        return "location" in self.space.devices[device_id].properties

    def _reading(self, text: str, value: float, above: bool) -> When:
        """A numeric trigger on the readings `text` names ("PM2.5", "the living room
        temperature"): per device the property it has, a reading before a setting."""
        props: list[str] = []
        named: list[str] = []
        areas: list[str] = []
        for tok in self.gaz.scan(text):
            kinds = tok.kinds()
            if kinds <= {"filler"}:
                continue
            if not kinds & {"prop", "device", "area", "type", "class"}:
                return When("numeric", unknown=text.strip())
            props += [m[1] for m in tok.get("prop")]
            named += [m[1] for m in tok.get("device")]
            areas += [m[1] for m in tok.get("area")]
        devices = list(self.space.devices.values())
        if named:
            pool = [d for d in devices if d.id in named]
        elif areas:
            pool = [d for d in devices if d.area in areas]
        else:
            pool = devices

        def prop_of(d: Any) -> str | None:
            numeric = [
                p
                for p in dict.fromkeys(props)
                if p in d.properties and d.dtype.properties[p].kind in ("int", "float")
            ]
            readings = [p for p in numeric if not d.dtype.properties[p].writable]
            if readings:
                return readings[0]
            return numeric[0] if numeric else None

        found = [(d, p) for d in pool if (p := prop_of(d)) is not None]
        if not named:  # "PM2.5", "the living room temperature": the sensors, if any
            sensors = [(d, p) for d, p in found if d.type == "sensor"]
            found = sensors or found
        if not props or not found:
            return When("numeric", unknown=text.strip())
        groups: dict[str, list[str]] = {}
        for d, p in found:
            groups.setdefault(p, []).append(d.id)
        readings = [(ids, p) for p, ids in groups.items()]
        value = float(value) + 0.0  # -0 is 0
        return When(
            "numeric",
            readings=readings,
            above=value if above else None,
            below=None if above else value,
        )

    # -- the rule ------------------------------------------------------------------------------

    def _triggers(
        self, when: When, lang: Lang
    ) -> tuple[list[Trigger], list[Condition], str, str] | str:
        """(triggers, conditions, the trigger in words, an id stem), or a reply why not."""
        needs_home = when.kind in ("geofence", "sun")
        if needs_home and self.space.location is None:
            return say(lang, "rule_no_location")
        if when.kind == "time":
            trig = Trigger.model_validate(
                {"time": {"at": [when.at], "weekdays": list(when.weekdays)}}
            )
            days = _days_words(when.weekdays, lang)
            stem = f"at_{when.at.replace(':', '')}"
            if days is None:
                return [trig], [], say(lang, "rule_daily", time=when.at), stem
            return (
                [trig],
                [],
                say(lang, "rule_days", days=days, time=when.at),
                stem + "_" + _days_slug(when.weekdays),
            )
        if when.kind == "sun":
            trig = Trigger.model_validate({"sun": {"event": when.event}})
            name = _names(lang).get(when.event, when.event)
            return [trig], [], say(lang, "rule_sun", event=name), f"at_{when.event}"
        if when.kind == "numeric":
            key = "above" if when.above is not None else "below"
            value = when.above if when.above is not None else when.below
            assert value is not None
            trigs = [
                Trigger.model_validate(
                    {"numeric": {"device": _one(ids), "property": prop, key: value}}
                )
                for ids, prop in when.readings
            ]
            ids, prop = when.readings[0]
            words = []
            for ids_, prop_ in when.readings:
                who = self._names(ids_, lang, "and")
                label = noun(lang, prop_)
                words.append(f"{who} {label}" if lang == "en" else f"{who}的{label}")
            shown = self.executor.value_words(ids[0], prop, value, lang)
            what = _or(words, lang)
            stem = f"when_{ids[0]}_{prop}_{key}_{_num_slug(value)}"
            return trigs, [], say(lang, f"rule_{key}", what=what, value=shown), stem
        return self._geofence(when, lang)

    def _geofence(
        self, when: When, lang: Lang
    ) -> tuple[list[Trigger], list[Condition], str, str] | str:
        verb = "leaves" if when.event == "leave" else "arrives"
        phones = [
            d.id
            for d in self.space.devices.values()
            if d.type == "phone" and self._has_location(d.id)
        ]
        devices = when.devices
        who = when.who
        if who == "self":
            devices = self._mine()
            if not devices:
                if not phones:
                    return say(lang, "rule_no_phone")
                who = "everyone" if when.event == "leave" else "someone"
        if who in ("everyone", "someone"):
            if not phones:
                return say(lang, "rule_no_phone")
            trig = Trigger.model_validate({"geofence": {"type": "phone", "event": when.event}})
            if who == "everyone" and when.event == "leave":
                cond = [Condition.model_validate({"someone_home": False})]
                return [trig], cond, say(lang, "rule_everyone_left"), "when_everyone_leaves_home"
            if who == "everyone":
                cond = [
                    Condition.model_validate({"geo": {"device": p, "below_km": HOME_RADIUS_KM}})
                    for p in phones
                ]
                return [trig], cond, say(lang, "rule_everyone_home"), "when_everyone_is_home"
            key = "rule_someone_leaves" if when.event == "leave" else "rule_someone_arrives"
            return [trig], [], say(lang, key), f"when_someone_{verb}_home"
        trig = Trigger.model_validate({"geofence": {"device": _one(devices), "event": when.event}})
        names = self._names(devices, lang, "or")
        key = "rule_leave" if when.event == "leave" else "rule_arrive"
        return [trig], [], say(lang, key, who=names), f"when_{devices[0]}_{verb}_home"

    def _mine(self) -> list[str]:
        """The phone(s) the space calls "my phone" / "我的手机" (any language's words)."""
        words = {_norm(w) for lang_ in ("en", "zh") for w in _rules(lang_).get("my_phone") or ()}
        return [
            d.id
            for d in self.space.devices.values()
            if self._has_location(d.id) and {_norm(n) for n in (d.name, *d.aliases)} & words
        ]

    def _names(self, ids: list[str], lang: Lang, joiner: str) -> str:
        names = [self.executor.name(d, lang) for d in ids]
        return _or(names, lang) if joiner == "or" else _and(names, lang)

    def _actions(self, steps: list[Step], lang: Lang) -> tuple[list[Action], str, str]:
        """The steps as rule actions (one per operation, over all its devices), in words,
        and a verb for the id."""
        groups: dict[str, tuple[Step, list[str]]] = {}
        for s in steps:
            if s.action is not None:
                key = f"call {s.action} {json.dumps(s.args, sort_keys=True)}"
            else:
                key = f"set {s.property} {json.dumps(s.value)}"
            groups.setdefault(key, (s, []))[1].append(s.device)
        actions: list[Action] = []
        words: list[str] = []
        verb = ""
        for s, ids in groups.values():
            ids = list(dict.fromkeys(ids))
            names = self._names(ids, lang, "and")
            if s.action is not None:
                body: dict[str, Any] = {"device": _one(ids), "action": s.action}
                if s.args:
                    body["args"] = dict(s.args)
                actions.append(Action.model_validate({"call": body}))
                label = _verb(lang, s.action)
                words.append(f"{label} {names}" if lang == "en" else f"{label}{names}")
                verb = verb or s.action
                continue
            prop = s.property or ""
            actions.append(
                Action.model_validate(
                    {"set": {"device": _one(ids), "property": prop, "value": s.value}}
                )
            )
            if prop == "on" and isinstance(s.value, bool):
                words.append(say(lang, "turn_on" if s.value else "turn_off", devices=names))
                verb = verb or ("turn_on" if s.value else "turn_off")
            elif prop == "locked" and isinstance(s.value, bool):
                action = "lock" if s.value else "unlock"
                label = _verb(lang, action)
                words.append(f"{label} {names}" if lang == "en" else f"{label}{names}")
                verb = verb or action
            else:
                value = self.executor.value_words(ids[0], prop, s.value, lang)
                words.append(
                    say(
                        lang,
                        "set_to",
                        devices=names,
                        property=noun(lang, prop),
                        value=value,
                    )
                )
                verb = verb or f"set_{prop}"
        return actions, _list(words, lang), verb


# ---------------------------------------------------------------------------- grammar


class _NoState:
    """States for checking a rule's steps: none (a rule's steps are absolute)."""

    def state(self, device_id: str) -> dict[str, Any]:
        return {}


def _rules(lang: str) -> dict[str, Any]:
    return dict(lexicon(lang).get("rules") or {})


def _names(lang: str) -> dict[str, str]:
    return {str(k): str(v) for k, v in (_rules(lang).get("names") or {}).items()}


def _norm(text: str) -> str:
    return normalize(text)


def _alt(words: Any) -> str:
    """A regex alternation of the words, longest first."""
    items = sorted({_norm(str(w)) for w in words or ()}, key=len, reverse=True)
    return "(?:" + "|".join(re.escape(w) for w in items if w) + ")" if items else "(?!)"


def _day_alt(lang: str) -> str:
    return _alt(w for ws in (_rules(lang).get("days") or {}).values() for w in ws)


@cache
def _grammar(lang: str) -> dict[str, Any]:
    """The compiled patterns of one language (from its lexicon's `rules` words)."""
    r = _rules(lang)
    w = {k: _alt(v) for k, v in r.items() if isinstance(v, list)}
    day = _day_alt(lang)
    g: dict[str, Any] = {k: w.get(k, "(?!)") for k in ("self", "everyone", "someone", "above")}
    if lang == "en":
        home = rf"(?:{w['home_prep']} )?{w['home']}"
        g["nobody"] = re.compile(rf"{w['lead']} {w['nobody_home']}\b")
        g["geofence"] = re.compile(
            rf"{w['lead']} (?P<subj>[^,;]{{1,{MAX_NAME}}}?) "
            rf"(?:(?P<leave>{w['leave']})(?: (?:from )?{w['home']})?"
            rf"|(?P<arrive>{w['arrive']}) {home}|(?P<alone>{w['arrive_alone']}))\b"
        )
        g["numeric"] = re.compile(
            rf"{w['lead']} (?P<what>[^,;]{{1,{MAX_NAME}}}?) "
            rf"(?:{w['be']} )?(?P<cmp>{w['above']}|{w['below']}) "
            rf"(?P<n>-?\d+(?:\.\d+)?)(?: ?{_UNITS})?(?![\w.])"
        )
        clock = (
            rf"(?:(?P<h>\d{{1,2}})(?:[:.](?P<m>\d{{2}}))?(?: ?(?:{w['morning']}|{w['evening']}"
            rf"|o'clock))?|(?P<noon>{w['noon']})|(?P<midnight>{w['midnight']}))(?![\w:])"
        )
        g["clock"] = re.compile(clock)
        days = (
            rf"(?:{w['every_day']}|{w['workdays']}|{w['weekend']}"
            rf"|(?:{w['day_lead']} )?{day}(?:(?:, | and |, and ){day})*)"
        )
        part = rf"(?:{w['morning']}|{w['evening']})"
        g["time"] = re.compile(
            rf"(?:(?:{days}|{part}),? )*{w['at']} {clock}(?:,? (?:{days}|{part}))*(?![\w:])"
        )
        g["sun"] = re.compile(
            rf"(?:{w['sun_lead']} )?(?:(?P<sunset>{w['sunset']})|(?P<sunrise>{w['sunrise']}))"
            rf"(?:,? {w['every_day']})?\b"
        )
        g["starts"] = re.compile(
            rf"\b(?:{w['lead']}|{w['every_day']}|{w['workdays']}|{w['weekend']}|{w['at']}"
            rf"|{w['day_lead']}|{w['sun_lead']}|{w['morning']}|{w['evening']})\b"
        )
        g["quick"] = re.compile(
            rf"\b(?:{w['lead']}|{w['at']}|{w['every_day']}|{w['workdays']}|{w['weekend']}"
            rf"|{w['sunset']}|{w['sunrise']}|{w['day_lead']} {day})\b"
        )
        g["then"] = re.compile(rf"(?:[,;] ?)?(?:{w['then']}\b ?)?")
    else:
        lead = rf"(?:{w['lead']})?"
        end = w["end"]
        then = w["then"]
        g["nobody"] = re.compile(rf"{lead}{w['nobody_home']}(?:的)?(?:{end})?")
        g["geofence"] = re.compile(
            rf"{lead}(?P<subj>[^,;]{{1,{MAX_NAME}}}?)(?:都)?(?:(?P<leave>{w['leave']})|(?P<arrive>{w['arrive']}))"
            rf"(?:了)?(?:{end}|(?=,? ?{then}))"
        )
        days = (
            rf"(?:{w['every_day']}|{w['workdays']}|{w['weekend']}"
            rf"|(?:每)?{day}(?:(?:、|和|,|到|至){day})*)"
        )
        part = rf"(?:{w['morning']}|{w['noon']}|{w['evening']})"
        num = rf"\d{{1,2}}|[{_CN_NUM}]{{1,3}}"
        g["time"] = re.compile(
            rf"{lead}(?:在)?(?:{days}(?:的)?)?(?:{part}(?:的)?)?"
            rf"(?:(?P<hh>\d{{1,2}}):(?P<mm>\d{{2}})|(?P<h>{num})(?:点|點)"
            rf"(?:(?P<half>半)|(?P<q1>一刻)|(?P<q3>三刻)|(?P<m>{num})分?)?(?:钟|整)?)"
            rf"(?:的时候|时)?"
        )
        g["sun"] = re.compile(
            rf"{lead}(?:每天)?(?:在)?(?:(?P<sunset>{w['sunset']})|(?P<sunrise>{w['sunrise']}))"
            rf"(?:了)?(?:的)?(?:{end})?"
        )
        g["numeric"] = re.compile(
            rf"{lead}(?P<what>[^,;]{{1,{MAX_NAME}}}?)(?:的)?(?P<cmp>{w['above']}|{w['below']})"
            rf"(?P<n>\d+(?:\.\d+)?|[{_CN_NUM}百点]+)(?:{_UNITS})?(?:以上|以下)?(?:的)?(?:{end})?"
        )
        g["quick"] = re.compile(
            rf"{end}|{then}|{w['every_day']}|{w['workdays']}|{w['weekend']}|\d点|[{_CN_NUM}]点"
            rf"|\d:\d|{w['nobody_home']}|{w['sunset']}|{w['sunrise']}|{day}"
        )
        g["then"] = re.compile(rf"(?:[,;] ?)?(?:{then})?(?:[,;] ?)?")
    g["morning_re"] = re.compile(w["morning"])
    g["evening_re"] = re.compile(w["evening"])
    g["noon_re"] = re.compile(w.get("noon", "(?!)"))
    g["every_re"] = re.compile(w["every_day"])
    g["workdays_re"] = re.compile(w["workdays"])
    g["weekend_re"] = re.compile(w["weekend"])
    g["days"] = {
        day_id: re.compile(_alt(words) + (r"(?![a-z])" if lang == "en" else ""))
        for day_id, words in (r.get("days") or {}).items()
    }
    return g


def _after(rest: str, g: dict[str, Any]) -> tuple[str, bool]:
    """The command after a trigger, and whether a separator ("," / "then" / "就") came
    first."""
    rest = rest.lstrip()
    m = g["then"].match(rest)
    sep = bool(m and m.group(0).strip())
    if m:
        rest = rest[m.end() :]
    return rest.strip(" ,;"), sep


def _expand(s: str) -> str:
    """English contractions of the subject: "i'm home" → "i am home"."""
    return re.sub(
        r"\b(i|we|you|they|he|she|it)'(m|re|ve|s)\b",
        lambda m: m.group(1) + " " + {"m": "am", "re": "are", "ve": "have", "s": "is"}[m.group(2)],
        s,
    )


def _part(text: str, g: dict[str, Any]) -> str | None:
    if g["evening_re"].search(text):
        return "evening"
    if g["morning_re"].search(text):
        return "morning"
    if g["noon_re"].search(text):
        return "noon"
    return None


def _weekdays(text: str, g: dict[str, Any]) -> tuple[str, ...]:
    if g["workdays_re"].search(text):
        return WEEKDAYS[:5]
    if g["weekend_re"].search(text):
        return WEEKDAYS[5:]
    named = [d for d in WEEKDAYS if d in g["days"] and g["days"][d].search(text)]
    return tuple(named) if named else WEEKDAYS


def _days_words(days: tuple[str, ...], lang: Lang) -> str | None:
    """None for every day; else "workdays", "weekends", "Monday and Friday" (工作日 …)."""
    if tuple(days) == WEEKDAYS:
        return None
    names = _names(lang)
    if tuple(days) == WEEKDAYS[:5]:
        return names["workdays"]
    if tuple(days) == WEEKDAYS[5:]:
        return names["weekend"]
    items = [names.get(d, d) for d in days]
    return _and(items, lang) if lang == "en" else "、".join(items)


def _days_slug(days: tuple[str, ...]) -> str:
    if tuple(days) == WEEKDAYS[:5]:
        return "workdays"
    if tuple(days) == WEEKDAYS[5:]:
        return "weekends"
    return "_".join(days)


def _zh_int(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    value = cn_number(text)
    return None if value is None or not value.is_integer() else int(value)


def _zh_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return cn_number(text)


def _num_slug(value: float) -> str:
    text = f"{value:g}".replace("-", "minus_").replace(".", "_")
    return text


def _slug(text: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")
    return (slug or "assistant_rule")[:MAX_ID].rstrip("_")


def _one(ids: list[str]) -> str | list[str]:
    return ids[0] if len(ids) == 1 else list(ids)


def _ids(devices: str | list[str]) -> list[str]:
    return [devices] if isinstance(devices, str) else list(devices)


def _verb(lang: Lang, action: str) -> str:
    """How a rule's words name an action: its own name when that is one of its words in
    English ("lock", not "lock up"), else the lexicon's first word."""
    own = action.replace("_", " ")
    lex = lexicon(lang)
    known = [w for s in ("verbs", "actions") for w in (lex.get(s) or {}).get(action) or ()]
    return own if lang == "en" and own in known else action_label(lang, action)


def _and(items: list[str], lang: Lang) -> str:
    if not items:
        return ""
    if len(items) == 1:
        return items[0]
    replies = lexicon(lang).get("replies") or {}
    if lang == "zh":
        return "、".join(items[:-1]) + "和" + items[-1]
    return (
        str(replies.get("list_sep", ", ")).join(items[:-1])
        + str(replies.get("and", " and "))
        + items[-1]
    )


def _list(items: list[str], lang: Lang) -> str:
    """Parts of a reply, as the replies join them ("a, b and c"; "甲，乙，丙")."""
    replies = lexicon(lang).get("replies") or {}
    sep, last = str(replies.get("list_sep", ", ")), str(replies.get("and", " and "))
    return sep.join(items[:-1]) + last + items[-1] if len(items) > 1 else "".join(items)


def _or(items: list[str], lang: Lang) -> str:
    if len(items) == 1:
        return items[0]
    joiner = str((lexicon(lang).get("replies") or {}).get("rule_or", " or "))
    return (
        ", ".join(items[:-1]) + joiner + items[-1]
        if lang == "en"
        else "、".join(items[:-1]) + joiner + items[-1]
    )
