"""What the capability vocabulary's names are called for people, per language (en.yaml,
zh.yaml): the one place the dashboard (through the API), the CLI, rule descriptions and the
assistant's replies take a property's, a value's, an action's or a type's name from.

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
    """All the names of `lang` as plain data (sections: properties, states, values,
    actions, events, types); English for a language HyperHub does not have."""
    return _load(lang_of(lang))


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


def unit_word(lang: str, unit: str) -> str:
    """A unit as written in `lang`: "bpm" → "次/分" in Chinese; symbols stay ("°C")."""
    return str(vocabulary(lang).get("units", {}).get(unit) or unit)


def value_word(lang: str, value: str) -> str:
    """An enum value: "cool" → "Cool" / "制冷"."""
    return str(vocabulary(lang).get("values", {}).get(value) or _words(value))


def action_label(lang: str, action: str) -> str:
    """An action's name on a button: "flash_lights" → "Flash lights" / "闪灯"."""
    return str(vocabulary(lang).get("actions", {}).get(action) or _words(action))


def event_text(lang: str, event: str) -> str:
    """What a device did, after its name: "charge_complete" → "finished charging"."""
    found = vocabulary(lang).get("events", {}).get(event)
    return str(found or event.replace("_", " "))


def risk_why(lang: str, why: str) -> str:
    """What could happen after a risky command (a spec's English `why`) in `lang`."""
    return str(vocabulary(lang).get("risks", {}).get(why) or why)


def type_label(lang: str, type_: str) -> str:
    """A device type's name: "robot_dog" → "Robot dog" / "机器狗"."""
    return str(vocabulary(lang).get("types", {}).get(type_) or _words(type_))


def is_cjk(ch: str) -> bool:
    """A Chinese character (CJK unified ideographs and extension A)."""
    return "\u4e00" <= ch <= "\u9fff" or "\u3400" <= ch <= "\u4dbf"


def has_cjk(text: str) -> bool:
    """Whether `text` holds a Chinese character: "客厅灯", "SU7 车钥匙", not "SU7"."""
    return any(is_cjk(ch) for ch in text)


# aliases that start so name a thing for one speaker only (me, my wife, my husband)
_ONE_SPEAKER = ("我", "咱", "老婆", "老公", "媳妇")


def name_in(lang: str, name: str, aliases: Sequence[str]) -> str:
    """What people call a thing (a device, an area, a scene) in `lang`: its name, but in
    Chinese, when its name is not, its first Chinese alias that everyone would say ("陈伟的
    手机", not "我的手机" or "老婆的手机")."""
    if lang_of(lang) != "zh" or has_cjk(name):
        return name
    chinese = [a for a in aliases if has_cjk(a)]
    everyones = [a for a in chinese if not a.startswith(_ONE_SPEAKER)]
    return (everyones or chinese or [name])[0]
