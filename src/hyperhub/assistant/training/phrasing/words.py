"""The training generator's words, as (English, Chinese) pairs: the vocabulary's own
(`hyperhub.spec.words`: each entry's `say`, `group`, `make_…` and `ask` templates; "{r}" is
the device, "{p}" its possessive, "{a}" an area, "{m}" a message) and everyday speech that
is no entry's (phrases.yaml: politeness, fillers, joins, chatter, things no space has, the
mixes of kinds); colour names are the vocabulary's too."""

from __future__ import annotations

from typing import Any

from hyperhub._yaml import package_data
from hyperhub.spec.words import both, colors

Pair = tuple[tuple[str, ...], tuple[str, ...]]


def _pairs(section: str, facet: str) -> dict[str, Pair]:
    return {k: (tuple(en), tuple(zh)) for k, (en, zh) in both(section, facet).items()}


# type → words for one of them ("the lamp", "客厅的灯"); groups: several ("the lights")
TYPE_REF: dict[str, Pair] = _pairs("types", "say")
CLASS_REF: dict[str, Pair] = _pairs("classes", "say")
GROUP_WORDS: dict[str, Pair] = _pairs("types", "group")
CLASS_GROUPS: dict[str, Pair] = _pairs("classes", "group")

# property → how it is named; questions about it (a true/false property's replace the
# default ones, another's join them)
PROP: dict[str, Pair] = _pairs("properties", "say")
ASK: dict[str, Pair] = _pairs("properties", "ask")

# true/false properties: (English true, English false, Chinese true, Chinese false)
_TRUE, _FALSE = _pairs("properties", "make_true"), _pairs("properties", "make_false")
BOOL: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    p: (t_en, _FALSE[p][0], t_zh, _FALSE[p][1]) for p, (t_en, t_zh) in _TRUE.items()
}
LIGHT_ON, LIGHT_ZH_ON = (tuple(w["on"]) for w in both("types", "make")["light"])

# enum values: how they are named
ENUM: dict[str, Pair] = _pairs("values", "say")

# actions: commands; a media player's pause has its own
ACTIONS: dict[str, Pair] = _pairs("actions", "say")
MEDIA_PAUSE: Pair = _pairs("actions", "say_media_player")["pause"]
_COVER_EN, _COVER_ZH = both("types", "make")["cover"]
COVER: dict[str, Pair] = {how: (tuple(_COVER_EN[how]), tuple(_COVER_ZH[how])) for how in _COVER_EN}

_DATA: dict[str, Any] = package_data(__package__, "phrases.yaml")


def _strs(key: str) -> tuple[str, ...]:
    return tuple(str(x) for x in _DATA[key])


def _twos(key: str) -> tuple[tuple[str, str], ...]:
    return tuple((str(en), str(zh)) for en, zh in _DATA[key])


MIXES: dict[str, dict[str, float]] = {
    mix: {kind: float(w) for kind, w in kinds.items()} for mix, kinds in _DATA["mixes"].items()
}
KINDS, FOCUS_KINDS, GROUP_KINDS = MIXES["catalog"], MIXES["focus"], MIXES["groups"]
# colour names (the vocabulary's, `hyperhub.spec.words`): (English, Chinese, "#rrggbb")
_COLORS_EN, _COLORS_ZH = colors("en"), colors("zh")
COLORS: tuple[tuple[str, str, str], ...] = tuple(
    (_COLORS_EN[h][0], _COLORS_ZH[h][0], h) for h in _COLORS_EN if h in _COLORS_ZH
)
SOURCES = _strs("sources")
MESSAGES = _twos("messages")
ABSENT = _twos("absent")
ABSENT_VERBS = _twos("absent_verbs")
CHATTER = _twos("chatter")
EN_PREFIX = _strs("en_prefix")
EN_PREFIX_ANY = _strs("en_prefix_any")
EN_VERBS = frozenset(_strs("en_verbs"))
EN_SUFFIX = _strs("en_suffix")
ZH_PREFIX = _strs("zh_prefix")
ZH_SUFFIX = _strs("zh_suffix")
Q_PREFIX_EN = _strs("q_prefix_en")
Q_PREFIX_ZH = _strs("q_prefix_zh")
EN_JOIN = _strs("en_join")
ZH_JOIN = _strs("zh_join")
# a room's reading: (properties, English, Chinese)
ROOM_Q: tuple[tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...] = tuple(
    (tuple(q["properties"]), tuple(q["en"]), tuple(q["zh"])) for q in _DATA["room_questions"]
)
# what a device does not have: (properties, actions, types it must not be, English, Chinese)
WRONG: tuple[
    tuple[frozenset[str], frozenset[str], tuple[str, ...], tuple[str, ...], tuple[str, ...]], ...
] = tuple(
    (
        frozenset(w["properties"]),
        frozenset(w["actions"]),
        tuple(w["not_types"]),
        tuple(w["en"]),
        tuple(w["zh"]),
    )
    for w in _DATA["wrong"]
)
