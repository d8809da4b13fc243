"""The capability vocabulary in people's words, one file per language (en.yaml, zh.yaml).

Each property, value, action, type and class has one entry per language, with every word
HyperHub has for it: its `label` (the dashboard through the API, the CLI, rule descriptions
and the assistant's replies), the words the assistant understands (`hear`), the word its
LLM prompt uses (`prompt…`) and the words and templates its training sentences are made
of (`say`, `make_…`, `ask`, `group`). A new property is one entry per language.

A name missing from a language reads as its id in words ("charge_limit" → "Charge limit"),
so a new property works before anyone names it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any, Literal

from hyperhub._yaml import package_data

Lang = Literal["en", "zh"]
LANGS: tuple[Lang, ...] = ("en", "zh")

__all__ = [
    "LANGS",
    "Lang",
    "action_label",
    "both",
    "display",
    "entries",
    "env_lang",
    "error_text",
    "event_text",
    "has_cjk",
    "is_cjk",
    "label",
    "lang_of",
    "lower_first",
    "name_in",
    "noun",
    "risk_why",
    "state_word",
    "type_label",
    "unit_word",
    "value_word",
    "vocabulary",
]


def vocabulary(lang: str) -> dict[str, Any]:
    """All the words of `lang` as plain data (sections: properties, states, values, actions,
    events, types, classes, units, risks, errors); English for a language HyperHub does not
    have."""
    return _load(lang_of(lang))


# the sections whose entries carry a label and the assistant's words
ENTRY_SECTIONS = ("properties", "values", "actions", "types", "classes")


def entries(lang: str, section: str) -> dict[str, dict[str, Any]]:
    """The entries of one of `ENTRY_SECTIONS`, in file order: name → facets."""
    found: dict[str, dict[str, Any]] = vocabulary(lang).get(section) or {}
    return found


def _label_of(lang: str, section: str, key: str) -> str | None:
    found = entries(lang, section).get(key, {}).get("label")
    return None if found is None else str(found)


def both(section: str, facet: str) -> dict[str, tuple[Any, Any]]:
    """`facet` of every entry of `section` that has it in English, with its Chinese:
    name → (English, Chinese); Chinese falls back to English. In the English file's order."""
    zh = entries("zh", section)
    return {
        key: (entry[facet], zh.get(key, {}).get(facet, entry[facet]))
        for key, entry in entries("en", section).items()
        if facet in entry
    }


@cache
def display(lang: str) -> dict[str, Any]:
    """What the dashboard needs (`GET /api/words/<lang>`): the labels of properties
    ({label, short}), values, actions and types, states, units, events and error reasons —
    not the assistant's words."""
    data = vocabulary(lang)
    out: dict[str, Any] = {k: v for k, v in data.items() if k not in ENTRY_SECTIONS}
    out["properties"] = {
        p: {k: e[k] for k in ("label", "short") if k in e}
        for p, e in entries(lang, "properties").items()
        if "label" in e
    }
    for section in ("values", "actions", "types"):
        out[section] = {k: e["label"] for k, e in entries(lang, section).items() if "label" in e}
    return out


@cache
def _load(code: Lang) -> dict[str, Any]:
    # one load per language, whatever tags ("zh-CN", "zh_CN.UTF-8") ask for it
    data: dict[str, Any] = package_data(__package__, f"{code}.yaml")
    return data


def error_text(lang: str, code: str, message: str) -> str:
    """An English error `message` for people in `lang`: as it is in English, else the reason
    its `code` (`HyperHubError.code`, the API's codes) gives, the message after it in
    brackets for its details ("设备离线（device lamp is offline since 14:03）"). A message
    said in `lang` already (`NeedsConfirmation.in_lang`) does not come here."""
    if lang_of(lang) == "en":
        return message
    reason = vocabulary(lang).get("errors", {}).get(code)
    if not reason:
        return message
    return f"{reason}（{message}）" if message else str(reason)


def lang_of(tag: str | None) -> Lang:
    """A language tag ("zh-CN", "zh_CN.UTF-8", "en-GB", None) → "zh" or "en"."""
    return "zh" if tag and tag.strip().lower().startswith("zh") else "en"


def env_lang(environ: Mapping[str, str] | None = None) -> Lang:
    """The language of a terminal: HYPERHUB_LANG, else LC_ALL, LC_MESSAGES, LANG (POSIX)."""
    env = os.environ if environ is None else environ
    for key in ("HYPERHUB_LANG", "LC_ALL", "LC_MESSAGES", "LANG"):
        value = env.get(key)
        if value:
            return lang_of(value)
    return "en"


def _words(name: str) -> str:
    text = name.replace("_", " ").strip()
    return text[:1].upper() + text[1:]


def label(lang: str, prop: str, *, short: bool = False) -> str:
    """A property's name: "Target temperature" / "目标温度"; `short` for a card: "Target"."""
    entry = vocabulary(lang).get("properties", {}).get(prop) or {}
    return str((short and entry.get("short")) or entry.get("label") or _words(prop))


def noun(lang: str, prop: str) -> str:
    """A property's name inside a sentence: "target temperature", but "PM2.5"."""
    return lower_first(lang, label(lang, prop))


def singular(word: str) -> str:
    """An English noun in the singular, roughly ("lights" → "light", "switches" → "switch");
    other words as they are."""
    if not word[:1].isascii() or not word.endswith("s") or word.endswith("ss"):
        return word
    return word[:-2] if word.endswith(("ches", "shes", "xes", "sses")) else word[:-1]


def lower_first(lang: str, text: str) -> str:
    """English words inside a sentence: "Charge limit" → "charge limit" (but "PM2.5")."""
    if lang_of(lang) == "en" and text[1:2].islower():
        return text[:1].lower() + text[1:]
    return text


def state_word(lang: str, prop: str, value: bool) -> str:
    """A true/false property's state: locked → "Locked" / "Unlocked", on → "On" / "Off"."""
    states = vocabulary(lang).get("states", {})
    pair = states.get(prop) or states.get("_default") or ["On", "Off"]
    return str(pair[0] if value else pair[1])


def said_word(lang: str, prop: str, value: bool, *, named: bool = False) -> str:
    """A true/false state as a reply says it in a sentence: contact → "closed" / "open",
    "关着" / "开着"; `_open` for anything that opens. `named`: a property with no words of
    its own is named too ("do not disturb off", "免打扰关着"), as a change is reported."""
    said = vocabulary(lang).get("said", {})
    own = said.get(prop)
    pair = own or said.get("_default") or ["on", "off"]
    word = str(pair[0] if value else pair[1])
    if named and not own and prop != "on":
        label = noun(lang, prop)
        return f"{label} {word}" if lang_of(lang) == "en" else f"{label}{word}"
    return word


def colors(lang: str) -> dict[str, list[str]]:
    """The colour names of `lang`: "#rrggbb" → the words for it ("red", "红色")."""
    return {str(k): [str(w) for w in v] for k, v in vocabulary(lang).get("colors", {}).items()}


def color_name(lang: str, value: str) -> str:
    """A colour as people say it: "#ff0000" → "red" / "红色"; another by the named colour
    nearest to it ("#3366ff" → "blue")."""
    named = colors(lang)
    v = value.lower()
    if v in named:
        return named[v][0]
    try:
        rgb = [int(v[i : i + 2], 16) for i in (1, 3, 5)]
    except ValueError:
        return value
    best, dist = None, 10**9
    for h, words in named.items():
        other = [int(h[i : i + 2], 16) for i in (1, 3, 5)]
        d = sum((a - b) ** 2 for a, b in zip(rgb, other, strict=True))
        if d < dist:
            best, dist = words[0], d
    return best if best is not None else value


def unit_word(lang: str, unit: str) -> str:
    """A unit as written in `lang`: "bpm" → "次/分" in Chinese; symbols stay ("°C")."""
    return str(vocabulary(lang).get("units", {}).get(unit) or unit)


def value_word(lang: str, value: str) -> str:
    """An enum value: "cool" → "Cool" / "制冷"."""
    return _label_of(lang, "values", value) or _words(value)


def action_label(lang: str, action: str) -> str:
    """An action's name on a button: "flash_lights" → "Flash lights" / "闪灯"."""
    return _label_of(lang, "actions", action) or _words(action)


def event_text(lang: str, event: str) -> str:
    """What a device did, after its name: "charge_complete" → "finished charging"."""
    found = vocabulary(lang).get("events", {}).get(event)
    return str(found or event.replace("_", " "))


def risk_why(lang: str, why: str) -> str:
    """What could happen after a risky command (a spec's English `why`) in `lang`."""
    return str(vocabulary(lang).get("risks", {}).get(why) or why)


def measure_word(lang: str, type_: str) -> str:
    """The word a count of `type_` takes: "盏" (灯), "台" (空调), "个" by default; none in
    English."""
    if lang_of(lang) == "en":
        return ""
    return str((vocabulary(lang).get("measures") or {}).get(type_, "个"))


def type_label(lang: str, type_: str) -> str:
    """A device type's name: "robot_dog" → "Robot dog" / "机器狗"."""
    return _label_of(lang, "types", type_) or _words(type_)


def is_cjk(ch: str) -> bool:
    """A Chinese character (CJK unified ideographs and extension A)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def has_cjk(text: str) -> bool:
    """Whether `text` holds a Chinese character: "客厅灯", "SU7 车钥匙", not "SU7"."""
    return any(is_cjk(ch) for ch in text)


# aliases that start so name a thing for one speaker only (me, my wife, my husband)
_ONE_SPEAKER = ("我", "咱", "老婆", "老公", "媳妇")


def name_in(lang: str, name: str, aliases: Sequence[str], *, to_speaker: bool = False) -> str:
    """What people call a thing (a device, an area, a scene) in `lang`: its name, but in
    Chinese, when its name is not, its first Chinese alias that everyone would say ("陈伟的
    手机", not "我的手机" or "老婆的手机"); `to_speaker` (the assistant's reply to the one who
    spoke): their own first word for it ("我的手机")."""
    if lang_of(lang) != "zh" or has_cjk(name):
        return name
    chinese = [a for a in aliases if has_cjk(a)]
    everyones = [a for a in chinese if not a.startswith(_ONE_SPEAKER)]
    return ((chinese if to_speaker else everyones) or chinese or [name])[0]
