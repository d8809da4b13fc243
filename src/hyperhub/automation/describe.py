"""Triggers, conditions and actions as sentences for people, in English or Chinese: the rule
and scene listings of the API (the dashboard's Rules view) and of the CLI.

    Li Na's Phone leaves Home (within 2 km)              李娜的手机离开家（2 公里内）
    Nobody is home                                       家里没人
    Living Room AC: set target temperature to 24 °C      把客厅空调的目标温度设为 24 °C

Devices, areas, places and scenes are called by their names in the language (in Chinese a
Chinese alias), an unknown id by its words; properties, values, actions, events and device
types by `hyperhub.spec.words`; numbers in their property's unit. A template is never shown:
a value it computes reads "a computed value". The sentences' own words are in `_SENTENCES`,
and nowhere else. Every function is pure: what it needs comes in `Names`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from string import Formatter
from typing import TYPE_CHECKING, Any

from hyperhub.automation.loader import HOME
from hyperhub.automation.model import (
    WEEKDAY_GROUPS,
    WEEKDAYS,
    Action,
    Condition,
    Devices,
    Place,
    Rule,
    Scene,
    Trigger,
    parse_clock,
)
from hyperhub.spec.words import (
    Lang,
    action_label,
    event_text,
    is_cjk,
    lang_of,
    name_in,
    noun,
    state_word,
    type_label,
    unit_word,
    value_word,
)
from hyperhub.templates import is_template

if TYPE_CHECKING:
    from hyperhub.automation.loader import Book
    from hyperhub.space import Space
    from hyperhub.spec.model import ValueSpec

__all__ = [
    "Names",
    "as_read",
    "describe_action",
    "describe_command",
    "describe_condition",
    "describe_fired",
    "describe_states",
    "describe_step",
    "describe_trigger",
    "duration_text",
]


# ---------------------------------------------------------------------------- sentences

# Each sentence once per language; {slots} get names and values already in the language.
# English sentences start in lower case (a name keeps its case): the first letter of a whole
# line is made a capital, so a sentence reads the same inside another ("if nobody is home").
_SENTENCES: dict[str, dict[str, str]] = {
    "en": {
        # triggers
        "turns_on": "{who} turns on",
        "turns_off": "{who} turns off",
        "prop_turns_on": "{who}: {prop} turns on",
        "prop_turns_off": "{who}: {prop} turns off",
        "becomes": "{who}: {prop} becomes {value}",
        "reports": "{who} reports {value}",
        "changes": "{who}: {prop} changes",
        "changes_from": "{who}: {prop} changes from {old}",
        "changes_from_to": "{who}: {prop} changes from {old} to {value}",
        "rises_above": "{prop} of {who} rises above {value}",
        "falls_below": "{prop} of {who} falls below {value}",
        "comes_between": "{prop} of {who} comes between {low} and {high}",
        "again_after_falling": "{text} (again only after falling to {value})",
        "again_after_rising": "{text} (again only after rising to {value})",
        "again_after_leaving": "{text} (again only after leaving the range by {value})",
        "event": "{who} {event}",
        "with_args": "{text} ({args})",
        "arg": "{name}: {value}",
        "at_times": "{days} at {times}",
        "cron": "on the cron schedule {cron}",
        "@hourly": "every hour, on the hour",
        "@daily": "every day at 00:00",
        "@weekly": "every Sunday at 00:00",
        "@monthly": "on the 1st of every month at 00:00",
        "@yearly": "every 1 January at 00:00",
        "at_sun": "at {event}",
        "before_sun": "{offset} before {event}",
        "after_sun": "{offset} after {event}",
        "sunrise": "sunrise",
        "sunset": "sunset",
        "a_type": "{article} {type}",
        "enters": "{who} enters {place}",
        "leaves": "{who} leaves {place}",
        "within": "{text} (within {distance})",
        "run_by": "run now by {who}",
        "the_cli": "the command line",
        "the_assistant": "the assistant ({who})",
        "a_rule": "rule {who}",
        "offline": "{who} goes offline",
        "for": "{text} for {duration}",
        # conditions
        "is_on": "{who} is on",
        "is_off": "{who} is off",
        "prop_is_on": "{who}: {prop} is on",
        "prop_is_off": "{who}: {prop} is off",
        "state_is": "{who}: {prop} {tests}",
        "number_is": "{prop} of {who} {tests}",
        "is": "is {value}",
        "is_state": "is {value}",
        "is_not": "is not {value}",
        "above": "is above {value}",
        "below": "is below {value}",
        "between": "is between {low} and {high}",
        "tests": "{a} and {b}",
        "between_times": "between {after} and {before}",
        "after_time": "after {after}",
        "before_time": "before {before}",
        "any_time": "any time",
        "time_on_days": "{span} on {days}",
        "on_days": "on {days}",
        "after_point": "after {point}",
        "before_point": "before {point}",
        "sun_both": "{after} and {before}",
        "within_of": "{who} is within {distance} of {place}",
        "farther_than": "{who} is more than {distance} from {place}",
        "distance_between": "{who} is between {low} and {high} from {place}",
        "and_approaching": "{text}, getting closer",
        "and_not_approaching": "{text}, not getting closer",
        "approaching": "{who} is getting closer to {place}",
        "not_approaching": "{who} is not getting closer to {place}",
        "someone_home": "someone is home",
        "nobody_home": "nobody is home",
        "template_holds": "a computed condition holds",
        "and": " and ",
        "or": " or ",
        "group": "({text})",
        "not": "not: {text}",
        # actions
        "turn_on": "turn on {who}",
        "turn_off": "turn off {who}",
        "turn_on_prop": "{who}: turn on {prop}",
        "turn_off_prop": "{who}: turn off {prop}",
        "set": "{who}: set {prop} to {value}",
        "call": "{who}: {action}",
        "scene": "run the scene {scene}",
        "wait": "wait {duration}",
        "every_type": "every {type}",
        "notify": "notify {who}: “{message}”",
        "notify_computed": "notify {who} with a computed message",
        "if": "if {conditions}: {then}",
        "otherwise": "{text}; otherwise: {otherwise}",
        "then": ", then ",
        "go_on": "{text} (goes on if this fails)",
        # scene states, values
        "state_item": "{prop} {value}",
        "states": "{who}: {items}",
        "items": ", ",
        "computed": "a computed value",
        "nothing": "nothing",
        "list_and": " and ",
        "list_or": " or ",
        "list_sep": ", ",
        # time words
        "every_day": "every day",
        "every_workday": "every workday",
        "every_days": "every {days}",
        "workdays": "workdays",
        "days_plural": "{day}s",
        "h": "{x} h",
        "min": "{x} min",
        "s": "{x} s",
        "m": "{x} m",
        "km": "{x} km",
    },
    "zh": {
        "turns_on": "{who}打开",
        "turns_off": "{who}关闭",
        "prop_turns_on": "{who}的{prop}打开",
        "prop_turns_off": "{who}的{prop}关闭",
        "becomes": "{who}的{prop}变为{value}",
        "reports": "{who}{value}",
        "changes": "{who}的{prop}有变化",
        "changes_from": "{who}的{prop}不再是{old}",
        "changes_from_to": "{who}的{prop}从{old}变为{value}",
        "rises_above": "{who}的{prop}升到{value}以上",
        "falls_below": "{who}的{prop}降到{value}以下",
        "comes_between": "{who}的{prop}进入{low}到{high}之间",
        "again_after_falling": "{text}（回落到{value}后才会再次触发）",
        "again_after_rising": "{text}（回升到{value}后才会再次触发）",
        "again_after_leaving": "{text}（超出该范围{value}后才会再次触发）",
        "event": "{who}{event}",
        "with_args": "{text}（{args}）",
        "arg": "{name}：{value}",
        "at_times": "{days}{times}",
        "cron": "按 cron 计划 {cron}",
        "@hourly": "每小时整点",
        "@daily": "每天 00:00",
        "@weekly": "每周日 00:00",
        "@monthly": "每月 1 日 00:00",
        "@yearly": "每年 1 月 1 日 00:00",
        "at_sun": "{event}时",
        "before_sun": "{event}前{offset}",
        "after_sun": "{event}后{offset}",
        "sunrise": "日出",
        "sunset": "日落",
        "a_type": "有{type}",
        "enters": "{who}进入{place}",
        "leaves": "{who}离开{place}",
        "within": "{text}（{distance}内）",
        "run_by": "由{who}手动运行",
        "the_cli": "命令行",
        "the_assistant": "助手（{who}）",
        "a_rule": "规则“{who}”",
        "offline": "{who}离线",
        "for": "{text}并持续{duration}",
        "is_on": "{who}开着",
        "is_off": "{who}关着",
        "prop_is_on": "{who}的{prop}开着",
        "prop_is_off": "{who}的{prop}关着",
        "state_is": "{who}的{prop}{tests}",
        "number_is": "{who}的{prop}{tests}",
        "is": "是{value}",
        "is_state": "{value}",
        "is_not": "不是{value}",
        "above": "高于{value}",
        "below": "低于{value}",
        "between": "在{low}到{high}之间",
        "tests": "{a}且{b}",
        "between_times": "{after}到{before}之间",
        "after_time": "{after}以后",
        "before_time": "{before}以前",
        "any_time": "任何时间",
        "time_on_days": "{days}{span}",
        "on_days": "在{days}",
        "after_point": "{point}之后",
        "before_point": "{point}之前",
        "sun_both": "{after}、{before}",
        "within_of": "{who}在{place}{distance}以内",
        "farther_than": "{who}离{place}超过{distance}",
        "distance_between": "{who}离{place}{low}到{high}",
        "and_approaching": "{text}，且正在靠近",
        "and_not_approaching": "{text}，且没有在靠近",
        "approaching": "{who}正在靠近{place}",
        "not_approaching": "{who}没有在靠近{place}",
        "someone_home": "家里有人",
        "nobody_home": "家里没人",
        "template_holds": "计算出的条件成立",
        "and": "，并且",
        "or": "，或者",
        "group": "（{text}）",
        "not": "不满足：{text}",
        "turn_on": "打开{who}",
        "turn_off": "关闭{who}",
        "turn_on_prop": "打开{who}的{prop}",
        "turn_off_prop": "关闭{who}的{prop}",
        "set": "把{who}的{prop}设为{value}",
        "call": "让{who}{action}",
        "scene": "执行场景“{scene}”",
        "wait": "等待{duration}",
        "every_type": "所有{type}",
        "notify": "通知{who}：“{message}”",
        "notify_computed": "给{who}发送计算出的消息",
        "if": "如果{conditions}：{then}",
        "otherwise": "{text}；否则：{otherwise}",
        "then": "，然后",
        "go_on": "{text}（失败也继续）",
        "state_item": "{prop}{value}",
        "states": "{who}：{items}",
        "items": "，",
        "computed": "计算出的值",
        "nothing": "空",
        "list_and": "和",
        "list_or": "或",
        "list_sep": "、",
        "every_day": "每天",
        "every_workday": "每个工作日",
        "every_days": "每{days}",
        "workdays": "工作日",
        "days_plural": "{day}",
        "h": "{x} 小时",
        "min": "{x} 分钟",
        "s": "{x} 秒",
        "m": "{x} 米",
        "km": "{x} 公里",
    },
}
_DAY_NAMES = {
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
    "zh": ("周一", "周二", "周三", "周四", "周五", "周六", "周日"),
}  # in the order of WEEKDAYS
_CRON_NAMES = {"@hourly", "@daily", "@weekly", "@monthly", "@yearly"}
_CRON_SAME = {"@midnight": "@daily", "@annually": "@yearly"}
_TEMPLATE_PART = re.compile(r"\{\{.*?\}\}|\{#.*?#\}", re.S)


# ---------------------------------------------------------------------------- names


@dataclass(frozen=True)
class Names:
    """What a description needs besides the rule: its language, the space (devices' and
    areas' names, their properties' specs) and the book's places and scenes. Without a
    space or a book every id reads as its words ("front_door_lock" → "front door lock")."""

    lang: Lang = "en"
    space: Space | None = None
    places: Mapping[str, Place] = field(default_factory=dict)
    scenes: Mapping[str, Scene] = field(default_factory=dict)
    rules: Mapping[str, Rule] = field(default_factory=dict)

    @classmethod
    def of(cls, lang: str | None, space: Space | None = None, book: Book | None = None) -> Names:
        """`lang` is a tag ("zh-CN", "en", an Accept-Language header, None: English)."""
        if book is None:
            return cls(lang_of(lang), space)
        return cls(lang_of(lang), space, book.places, book.scenes, book.rules)

    def device(self, device_id: str) -> str:
        dev = self.space.devices.get(device_id) if self.space is not None else None
        return _id_words(device_id) if dev is None else dev.name_in(self.lang)

    def area(self, area_id: str) -> str:
        area = self.space.areas.get(area_id) if self.space is not None else None
        return _id_words(area_id) if area is None else area.name_in(self.lang)

    def place(self, place_id: str) -> str:
        place = self.places.get(place_id)
        name = place.name if place is not None else None
        if place_id == HOME and name in (None, "Home"):  # the loader's own name for home
            return "家" if self.lang == "zh" else "Home"
        return name or _id_words(place_id)

    def actor(self, actor: str) -> str:
        """Who sent a command or ran a rule: "api:<token name>" → the token's name, "cli" →
        the command line, "ask:<token name>" → the assistant, "rule:<id>" → the rule."""
        kind, _, rest = actor.partition(":")
        if kind == "cli" and not rest:
            return _say(self, "the_cli")
        if kind == "ask" and rest:
            return _say(self, "the_assistant", who=rest)
        if kind == "rule" and rest:
            rule = self.rules.get(rest)
            return _say(self, "a_rule", who=rule.title if rule is not None else _id_words(rest))
        return rest if kind == "api" and rest else actor

    def scene(self, scene_id: str) -> str:
        scene = self.scenes.get(scene_id)
        if scene is None:
            return _id_words(scene_id)
        return name_in(self.lang, scene.name, scene.aliases)

    def spec(self, devices: Iterable[str], prop: str) -> ValueSpec | None:
        """The spec of `prop` on the first of `devices` that has it."""
        for device_id in devices:
            dev = self.space.devices.get(device_id) if self.space is not None else None
            if dev is not None and prop in dev.dtype.properties:
                return dev.dtype.properties[prop]
        return None

    def arg_spec(
        self, devices: Iterable[str], section: str, name: str, arg: str
    ) -> ValueSpec | None:
        """The spec of argument `arg` of an action or an event (`section`) of `devices`."""
        for device_id in devices:
            dev = self.space.devices.get(device_id) if self.space is not None else None
            found = getattr(dev.dtype, section).get(name) if dev is not None else None
            for spec in found.args if found is not None else ():
                if spec.name == arg:
                    return spec
        return None


def _id_words(ident: str) -> str:
    return ident.replace("_", " ").strip()


# ---------------------------------------------------------------------------- wording


def _say(n: Names, key: str, **slots: Any) -> str:
    """The sentence `key` in `n.lang` with its slots filled; in Chinese a space goes between
    a slot and the text next to it where Chinese meets a letter or a digit ("SU7 离开家")."""
    template = _SENTENCES[n.lang][key]
    if n.lang != "zh":
        return template.format(**slots)
    out = ""
    for text, slot, _, _ in Formatter().parse(template):
        out = _joined(out, text)
        if slot is not None:
            out = _joined(out, str(slots[slot]))
    return out


def _joined(left: str, right: str) -> str:
    if not left or not right:
        return left + right
    a, b = left[-1], right[0]
    if (is_cjk(a) and _is_latin(b)) or (_is_latin(a) and is_cjk(b)):
        return f"{left} {right}"
    return left + right


def _is_latin(ch: str) -> bool:
    return (ch.isascii() and ch.isalnum()) or ch in "#%°³²µ…"


def _cap(n: Names, text: str) -> str:
    """A whole line: its first letter a capital (not a name's like "iPhone")."""
    if n.lang == "en" and text[:1].islower() and not text[1:2].isupper():
        return text[:1].upper() + text[1:]
    return text


def _lower(n: Names, text: str) -> str:
    """A word inside an English sentence: "Locked" → "locked" (but "PM2.5", "AC")."""
    if n.lang == "en" and text[1:2].islower():
        return text[:1].lower() + text[1:]
    return text


def _join(n: Names, key: str, parts: Iterable[str]) -> str:
    """Parts with the separator `key` between them ("; ", " and ", "，并且")."""
    out = ""
    for i, part in enumerate(parts):
        out = _joined(_joined(out, _SENTENCES[n.lang][key]) if i else out, part)
    return out


def _series(n: Names, items: Sequence[str], last: str = "list_and") -> str:
    """Items in a list: "a", "a and b", "a, b and c" / "a、b和c"."""
    if len(items) <= 1:
        return "".join(items)
    return _joined(_joined(_join(n, "list_sep", items[:-1]), _SENTENCES[n.lang][last]), items[-1])


def _ids(devices: Devices | None) -> list[str]:
    if devices is None:
        return []
    return [devices] if isinstance(devices, str) else list(devices)


def _who(n: Names, devices: Devices | None, last: str = "list_and") -> str:
    return _series(n, [n.device(d) for d in _ids(devices)], last)


def _type_word(n: Names, type_: str) -> str:
    return _lower(n, type_label(n.lang, type_))


def _a_type(n: Names, type_: str) -> str:
    word = _type_word(n, type_)
    return _say(n, "a_type", article="an" if word[:1] in "aeiou" else "a", type=word)


def _num(x: float) -> str:
    return f"{round(float(x), 6):g}"


def _number(n: Names, spec: ValueSpec | None, x: float) -> str:
    """A number in its property's unit ("21.5 °C", "72 次/分"), rounded as the unit needs
    unless that would change it (a threshold of 27.25 °C stays 27.25 °C)."""
    if spec is None:
        return _num(x)
    number = spec.text(x).split(" ")[0]
    try:
        if float(number) != float(x):
            number = _num(x)
    except ValueError:
        number = _num(x)
    return f"{number} {unit_word(n.lang, spec.unit)}" if spec.unit else number


def _value(n: Names, prop: str, value: Any, spec: ValueSpec | None) -> str:
    """A value of `prop` for people: "24 °C", "locked", "cool" / "制冷", "#3040ff"."""
    if is_template(value):
        return _say(n, "computed")
    if isinstance(value, bool):
        return _lower(n, state_word(n.lang, prop, value))
    if isinstance(value, list | tuple):
        return _series(n, [_value(n, prop, v, spec) for v in value], "list_or")
    if isinstance(value, str):
        if prop == "area" and n.space is not None and value in n.space.areas:
            return n.area(value)
        if spec is not None and spec.kind == "enum":
            return _lower(n, value_word(n.lang, value))
        return value
    if isinstance(value, int | float):
        return _number(n, spec, value)
    if value is None:
        return _say(n, "nothing")
    if spec is not None:
        return spec.text(value, prop)
    if isinstance(value, dict) and set(value) == {"lat", "lon"}:
        return f"{value['lat']:.4f}, {value['lon']:.4f}"
    return str(value)


def _on_like(n: Names, prop: str) -> bool:
    """A true/false property whose states are on and off (do not disturb, climate)."""
    return all(state_word(n.lang, prop, v) == state_word(n.lang, "on", v) for v in (True, False))


def _says_itself(n: Names, prop: str, word: str) -> bool:
    """Whether a state's word names its property too (motion → "motion", "charging")."""
    name, word = noun(n.lang, prop).lower(), word.lower()
    return name in word or word in name


def _state(n: Names, key: str, who: str, prop: str, value: bool) -> str | None:
    """A true/false state in one of its short forms ("Living Room AC turns on", "Hallway
    Motion Sensor reports motion"), or None for the general one. `key` is turns / is."""
    if prop == "on":
        return _say(n, f"{key}_{'on' if value else 'off'}", who=who)
    if _on_like(n, prop):
        return _say(n, f"prop_{key}_{'on' if value else 'off'}", who=who, prop=noun(n.lang, prop))
    word = _value(n, prop, value, None)
    if _says_itself(n, prop, word):
        return _say(n, "reports", who=who, value=word)
    return None


def _is_number(spec: ValueSpec | None) -> bool:
    return spec is not None and spec.kind in ("int", "float")


def duration_text(seconds: float, lang: str = "en") -> str:
    """90 → "1 min 30 s" / "1 分钟 30 秒", 3600 → "1 h", 0.5 → "0.5 s"."""
    n = Names(lang_of(lang))
    sign = "-" if seconds < 0 else ""
    left = abs(seconds)
    if left < 60:
        return sign + _say(n, "s", x=_num(left))
    hours, rest = divmod(left, 3600)
    minutes, secs = divmod(rest, 60)
    parts = []
    if hours:
        parts.append(_say(n, "h", x=_num(hours)))
    if minutes:
        parts.append(_say(n, "min", x=_num(minutes)))
    if secs:
        parts.append(_say(n, "s", x=_num(round(secs, 3))))
    return sign + " ".join(parts)


def _duration(n: Names, seconds: float) -> str:
    return duration_text(seconds, n.lang)


def _distance(n: Names, km: float) -> str:
    """0.2 → "200 m" / "200 米", 2 → "2 km" / "2 公里"."""
    if km < 1:
        return _say(n, "m", x=_num(round(km * 1000)))
    return _say(n, "km", x=_num(round(km, 2)))


def _for(n: Names, text: str, seconds: float | None) -> str:
    return _say(n, "for", text=text, duration=_duration(n, seconds)) if seconds else text


def _clock(text: str) -> str:
    h, m, s = parse_clock(text)
    return f"{h:02d}:{m:02d}" + (f":{s:02d}" if s else "")


def _group(days: Sequence[str]) -> str | None:
    for group, members in WEEKDAY_GROUPS.items():
        if tuple(days) == members:
            return group
    return None


def _day(n: Names, day: str) -> str:
    return _DAY_NAMES[n.lang][WEEKDAYS.index(day)]


def _every(n: Names, days: Sequence[str]) -> str:
    """When a time trigger fires: "every day", "every workday", "every Monday and Friday"."""
    group = _group(days)
    if group == "daily":
        return _say(n, "every_day")
    if group == "workdays":
        return _say(n, "every_workday")
    return _say(n, "every_days", days=_series(n, [_day(n, d) for d in days]))


def _days(n: Names, days: Sequence[str]) -> str:
    """Which days a time condition holds on: "" (every day), "workdays", "Saturdays and
    Sundays" / "周六和周日"."""
    group = _group(days)
    if group == "daily":
        return ""
    if group == "workdays":
        return _say(n, "workdays")
    return _series(n, [_say(n, "days_plural", day=_day(n, d)) for d in days])


def _sun_point(n: Names, event: str, offset: float) -> str:
    """A sun event, shifted: "sunset", "30 min before sunset" / "日落前 30 分钟"."""
    word = _say(n, event)
    if not offset:
        return word
    key = "before_sun" if offset < 0 else "after_sun"
    return _say(n, key, event=word, offset=_duration(n, abs(offset)))


# ---------------------------------------------------------------------------- triggers


def describe_trigger(trigger: Trigger, names: Names) -> str:
    """What makes the rule fire, as a sentence: "Living Room AC turns on"."""
    return _cap(names, _trigger(trigger, names))


def _trigger(t: Trigger, n: Names) -> str:
    if t.state is not None:
        s = t.state
        ids = _ids(s.device)
        who, spec, given = _who(n, ids, "list_or"), n.spec(ids, s.property), s.model_fields_set
        prop = noun(n.lang, s.property)
        if "from_" in given:
            old = _value(n, s.property, s.from_, spec)
            if "to" in given:
                new = _value(n, s.property, s.to, spec)
                text = _say(n, "changes_from_to", who=who, prop=prop, old=old, value=new)
            else:
                text = _say(n, "changes_from", who=who, prop=prop, old=old)
        elif "to" in given:
            short = _state(n, "turns", who, s.property, s.to) if isinstance(s.to, bool) else None
            value = _value(n, s.property, s.to, spec)
            text = short or _say(n, "becomes", who=who, prop=prop, value=value)
        else:
            text = _say(n, "changes", who=who, prop=prop)
        return _for(n, text, s.for_)
    if t.numeric is not None:
        return _numeric(t, n)
    if t.event is not None:
        e = t.event
        ids = _ids(e.device)
        text = _say(n, "event", who=_who(n, ids, "list_or"), event=event_text(n.lang, e.event))
        return _with_args(n, text, ids, "events", e.event, e.args)
    if t.time is not None:
        times = _series(n, [_clock(at) for at in t.time.at])
        return _say(n, "at_times", days=_every(n, t.time.weekdays), times=times)
    if t.cron is not None:
        cron = t.cron.strip()
        cron = _CRON_SAME.get(cron, cron)
        return _say(n, cron) if cron in _CRON_NAMES else _say(n, "cron", cron=cron)
    if t.sun is not None:
        if not t.sun.offset:
            return _say(n, "at_sun", event=_say(n, t.sun.event))
        return _sun_point(n, t.sun.event, t.sun.offset)
    if t.geofence is not None:
        g = t.geofence
        radius = g.radius_km
        if radius is None and g.place in n.places:
            radius = n.places[g.place].radius_km
        who = _who(n, g.device, "list_or") if g.device is not None else _a_type(n, g.type or "")
        text = _say(
            n, "enters" if g.event == "enter" else "leaves", who=who, place=n.place(g.place)
        )
        return (
            text if radius is None else _say(n, "within", text=text, distance=_distance(n, radius))
        )
    if t.offline is not None:
        o = t.offline
        return _for(n, _say(n, "offline", who=_who(n, o.device, "list_or")), o.for_)
    return t.kind  # pragma: no cover - every kind is handled above


def _with_args(
    n: Names, text: str, ids: list[str], section: str, name: str, args: Mapping[str, Any]
) -> str:
    """An action or event with its arguments: "CyberDog: patrol (area: Entrance)"."""
    if not args:
        return text
    said = [
        _say(
            n, "arg", name=noun(n.lang, k), value=_value(n, k, v, n.arg_spec(ids, section, name, k))
        )
        for k, v in args.items()
    ]
    return _say(n, "with_args", text=text, args=_join(n, "items", said))


def _numeric(t: Trigger, n: Names) -> str:
    body = t.numeric
    assert body is not None
    ids = _ids(body.device)
    spec = n.spec(ids, body.property)
    slots = {"who": _who(n, ids, "list_or"), "prop": noun(n.lang, body.property)}
    above, below, margin = body.above, body.below, body.hysteresis
    if above is not None and below is not None:
        text = _say(
            n, "comes_between", low=_number(n, spec, above), high=_number(n, spec, below), **slots
        )
        again = _say(n, "again_after_leaving", text=text, value=_number(n, spec, margin))
    elif above is not None:
        text = _say(n, "rises_above", value=_number(n, spec, above), **slots)
        again = _say(n, "again_after_falling", text=text, value=_number(n, spec, above - margin))
    else:
        assert below is not None
        text = _say(n, "falls_below", value=_number(n, spec, below), **slots)
        again = _say(n, "again_after_rising", text=text, value=_number(n, spec, below + margin))
    return _for(n, again if margin else text, body.for_)


# ---------------------------------------------------------------------------- conditions


def describe_condition(condition: Condition, names: Names) -> str:
    """What must hold for the rule to act, as a sentence: "Nobody is home"."""
    return _cap(names, _condition(condition, names))


def _condition(c: Condition, n: Names) -> str:
    if c.state is not None:
        return _state_condition(c, n)
    if c.time is not None:
        t = c.time
        if t.after and t.before:
            span = _say(n, "between_times", after=_clock(t.after), before=_clock(t.before))
        elif t.after:
            span = _say(n, "after_time", after=_clock(t.after))
        elif t.before:
            span = _say(n, "before_time", before=_clock(t.before))
        else:
            span = ""
        days = _days(n, t.weekdays)
        if span and days:
            return _say(n, "time_on_days", span=span, days=days)
        if days:
            return _say(n, "on_days", days=days)
        return span or _say(n, "any_time")
    if c.sun is not None:
        s = c.sun
        after = before = ""
        if s.after:
            after = _say(n, "after_point", point=_sun_point(n, s.after, s.after_offset))
        if s.before:
            before = _say(n, "before_point", point=_sun_point(n, s.before, s.before_offset))
        return (
            _say(n, "sun_both", after=after, before=before) if after and before else after or before
        )
    if c.geo is not None:
        return _geo(c, n)
    if c.someone_home is not None:
        return _say(n, "someone_home" if c.someone_home else "nobody_home")
    if c.template is not None:
        return _say(n, "template_holds")
    if c.and_ is not None:
        return _join(n, "and", [_part(x, n) for x in c.and_])
    if c.or_ is not None:
        return _join(n, "or", [_part(x, n) for x in c.or_])
    inner = c.not_ or []  # "not:" holds all that follows: one and / or needs no brackets
    text = (
        _condition(inner[0], n)
        if len(inner) == 1
        else _join(n, "and", [_part(x, n) for x in inner])
    )
    return _say(n, "not", text=text)


def _part(c: Condition, n: Names) -> str:
    """A condition joined with others: bracketed when it joins several itself."""
    text = _condition(c, n)
    several = len(c.and_ or c.or_ or []) > 1
    return _say(n, "group", text=text) if several else text


def _state_condition(c: Condition, n: Names) -> str:
    s = c.state
    assert s is not None
    who, spec, given = n.device(s.device), n.spec([s.device], s.property), s.model_fields_set
    tested = given & {"is_", "is_not", "above", "below", "in_"}
    if len(tested) == 1 and tested <= {"is_", "is_not"}:
        value = s.is_ if "is_" in given else s.is_not
        if isinstance(value, bool):
            short = _state(n, "is", who, s.property, value == ("is_" in given))
            if short is not None:
                return short
    tests = []
    if "is_" in given:
        key = "is_state" if isinstance(s.is_, bool) else "is"
        tests.append(_say(n, key, value=_value(n, s.property, s.is_, spec)))
    if "is_not" in given:
        tests.append(_say(n, "is_not", value=_value(n, s.property, s.is_not, spec)))
    if s.above is not None and s.below is not None:
        low, high = _number(n, spec, s.above), _number(n, spec, s.below)
        tests.append(_say(n, "between", low=low, high=high))
    elif s.above is not None:
        tests.append(_say(n, "above", value=_number(n, spec, s.above)))
    elif s.below is not None:
        tests.append(_say(n, "below", value=_number(n, spec, s.below)))
    if "in_" in given:
        tests.append(_say(n, "is", value=_value(n, s.property, list(s.in_ or []), spec)))
    text = tests[0]
    for more in tests[1:]:
        text = _say(n, "tests", a=text, b=more)
    number = _is_number(spec) or (spec is None and tested <= {"above", "below"})
    key = "number_is" if number else "state_is"
    return _say(n, key, who=who, prop=noun(n.lang, s.property), tests=text)


def _geo(c: Condition, n: Names) -> str:
    g = c.geo
    assert g is not None
    slots = {"who": n.device(g.device), "place": n.place(g.place)}
    if g.below_km is not None and g.above_km is not None:
        low, high = _distance(n, g.above_km), _distance(n, g.below_km)
        text = _say(n, "distance_between", low=low, high=high, **slots)
    elif g.below_km is not None:
        text = _say(n, "within_of", distance=_distance(n, g.below_km), **slots)
    elif g.above_km is not None:
        text = _say(n, "farther_than", distance=_distance(n, g.above_km), **slots)
    else:
        return _say(n, "approaching" if g.approaching else "not_approaching", **slots)
    if g.approaching is None:
        return text
    return _say(n, "and_approaching" if g.approaching else "and_not_approaching", text=text)


# ---------------------------------------------------------------------------- actions


def describe_command(device: str, command: Mapping[str, Any], names: Names) -> str:
    """A command as sent ({"property", "value"} or {"action", "args"}), as a sentence:
    "Kitchen Light: set brightness to 40 %" (a scene report's line)."""
    if "property" in command:
        body = {"device": device, "property": command["property"], "value": command["value"]}
        return describe_action(Action.model_validate({"set": body}), names)
    body = {"device": device, "action": command["action"], "args": command.get("args") or {}}
    return describe_action(Action.model_validate({"call": body}), names)


def describe_fired(trigger: Mapping[str, Any], rule: Rule | None, names: Names) -> str:
    """What set a stored run off, for people: the rule's trigger (a trace keeps its `index`)
    in words, or who ran it now; else the line the engine wrote."""
    kind, index = trigger.get("kind"), trigger.get("index")
    if kind == "manual" and isinstance(trigger.get("by"), str):
        return _cap(names, _say(names, "run_by", who=names.actor(trigger["by"])))
    triggers = rule.triggers if rule is not None else []
    # the same kind at that index: the rule may have changed since
    if isinstance(index, int) and 0 <= index < len(triggers) and triggers[index].kind == kind:
        return describe_trigger(triggers[index], names)
    return str(trigger.get("description") or kind or "")


def describe_step(step: Mapping[str, Any], names: Names, rule: Rule | None = None) -> str:
    """A step of a rule's stored run trace for people: a command it sent in words (a trace
    keeps the `device` and `command`), one of the rule's conditions (it keeps the index)
    as the rule says it, any other step as the engine wrote it."""
    index = step.get("condition")
    conditions = rule.conditions if rule is not None and step.get("kind") == "condition" else []
    if isinstance(index, int) and 0 <= index < len(conditions):
        return describe_condition(conditions[index], names)
    command, device = step.get("command"), step.get("device")
    if step.get("kind") == "action" and isinstance(command, Mapping) and isinstance(device, str):
        try:
            return describe_command(device, command, names)
        except (KeyError, TypeError, ValueError):  # a trace not of this hub's making
            pass
    return str(step.get("what", ""))


def describe_action(action: Action, names: Names) -> str:
    """What the rule (or scene) does, as a sentence; an `if` says its branches inline."""
    return _cap(names, _action(action, names))


def _action(a: Action, n: Names) -> str:
    if a.set is not None:
        text = _set(a, n)
    elif a.call is not None:
        c = a.call
        ids = _ids(c.device)
        text = _say(n, "call", who=_who(n, ids), action=_lower(n, action_label(n.lang, c.action)))
        text = _with_args(n, text, ids, "actions", c.action, c.args)
    elif a.scene is not None:
        text = _say(n, "scene", scene=n.scene(a.scene))
    elif a.delay is not None:
        text = _say(n, "wait", duration=_duration(n, a.delay))
    elif a.notify is not None:
        text = _notify(a, n)
    else:
        conditions = _join(n, "and", [_part(c, n) for c in a.if_ or []])
        then = _join(n, "then", [_action(x, n) for x in a.then or []])
        text = _say(n, "if", conditions=conditions, then=then)
        if a.else_:
            otherwise = _join(n, "then", [_action(x, n) for x in a.else_])
            text = _say(n, "otherwise", text=text, otherwise=otherwise)
    return _say(n, "go_on", text=text) if a.continue_on_error else text


def _set(a: Action, n: Names) -> str:
    s = a.set
    assert s is not None
    ids = _ids(s.device)
    who = _who(n, ids)
    if isinstance(s.value, bool):
        verb = "turn_on" if s.value else "turn_off"
        if s.property == "on":
            return _say(n, verb, who=who)
        if _on_like(n, s.property):
            return _say(n, f"{verb}_prop", who=who, prop=noun(n.lang, s.property))
    value = _value(n, s.property, s.value, n.spec(ids, s.property))
    return _say(n, "set", who=who, prop=noun(n.lang, s.property), value=value)


def _notify(a: Action, n: Names) -> str:
    body = a.notify
    assert body is not None
    who = _who(n, body.device) if body.device is not None else ""
    if not who:
        who = _say(n, "every_type", type=_type_word(n, body.type or ""))
    message = body.message
    if is_template(message):
        # the text around the computed parts, with "…" for each; control blocks decide
        # which text is sent, so a message with one is all computed
        shown = re.sub(r"(…\s*)+…", "…", _TEMPLATE_PART.sub("…", message)).strip()
        if "{%" in message or not shown.replace("…", "").strip():
            return _say(n, "notify_computed", who=who)
        message = shown
    return _say(n, "notify", who=who, message=message)


# ---------------------------------------------------------------------------- for developers


def as_read(item: Rule | Scene) -> dict[str, Any]:
    """A rule or scene as the hub read it (ids, raw templates, durations in seconds): what
    its sentences leave out, for developers (the API's and the CLI's `definition`)."""
    return item.model_dump(mode="json", by_alias=True, exclude_unset=True)


# ---------------------------------------------------------------------------- scene states


def describe_states(device: str, values: Mapping[str, Any], names: Names) -> str:
    """A scene's target states of one device: "Hallway Light: on, brightness 80 %"."""
    n = names
    items = []
    for prop, value in values.items():
        word = _value(n, prop, value, n.spec([device], prop))
        if isinstance(value, bool) and (
            prop == "on" or (_says_itself(n, prop, word) and not _on_like(n, prop))
        ):
            items.append(word)
        else:
            items.append(_say(n, "state_item", prop=noun(n.lang, prop), value=word))
    return _say(n, "states", who=n.device(device), items=_join(n, "items", items))
