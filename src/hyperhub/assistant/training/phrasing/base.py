"""What every kind of sentence shares: the space, the random source, naming a device, the
politeness and typos around a sentence, and what a sample is. The kinds are in their own
modules (control, actions, questions, groups, nothing); `Phraser` puts them together."""

from __future__ import annotations

import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field

from hyperhub.assistant.llm import parse_compact
from hyperhub.assistant.llm_prompt import device_props, is_chinese
from hyperhub.assistant.numbers import cn_words, en_words
from hyperhub.assistant.training.phrasing.words import (
    CLASS_REF,
    EN_PREFIX,
    EN_PREFIX_ANY,
    EN_SUFFIX,
    EN_VERBS,
    MIXES,
    PROP,
    Q_PREFIX_EN,
    Q_PREFIX_ZH,
    TYPE_REF,
    ZH_PREFIX,
    ZH_SUFFIX,
)
from hyperhub.space.model import Device, Space
from hyperhub.spec import PropertySpec
from hyperhub.spec.policy import Command

# the method that makes each kind of clause
KIND_METHODS = {
    "switch": "_switch",
    "level": "_level",
    "relative": "_relative",
    "enum": "_enum",
    "color": "_color",
    "text": "_text",
    "action": "_action",
    "cover": "_cover",
    "question": "_question",
    "group": "_group",
    "multi": "_multi",
    "none": "_none",
    "risky": "_risky_clause",
    "feeling": "_feeling",
    "implied": "_implied",
    "negation": "_negation",
    "count": "_count",
}


@dataclass
class Ref:
    """How a sentence names a device: the words, and the speaker's room it needs (if any)."""

    text: str
    area: str | None = None  # the words only mean this device when said in this room


@dataclass
class Sample:
    text: str
    items: list[str]  # the plan's items; empty means `none`
    kind: str
    area: str | None = None
    lang: str = "en"
    tags: list[str] = field(default_factory=list)  # polite, typo, mixed, …

    @property
    def answer(self) -> str:
        return ";".join(self.items) if self.items else "none"


@dataclass
class Clause:
    text: str
    items: list[str]
    kind: str
    area: str | None = None  # required speaker room
    no_area: bool = False  # the words change meaning with a speaker room ("all the lights")
    plain: bool = False  # said as it is: no "please …" around it ("I'm cold", "晚安")


def num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def possessive(ref: str) -> str:
    """ "the lamp" → "the lamp's"; "the lamp in the den" → "the den lamp's"; "the lamp in
    here" → "the lamp's" (the speaker's room is given with the sentence)."""
    m = re.match(r"^(?:the )?(.+?) in (?:the )?(.+)$", ref)
    if m and not is_chinese(ref):
        thing, where = m.groups()
        ref = f"the {thing}" if where in ("here", "this room") else f"the {where} {thing}"
    return ref + ("'" if ref.endswith("s") else "'s")


def item_key(item: str) -> str:
    """The device and property / action an item touches."""
    for sep in ("+=", "-=", "=", "?", "("):
        if sep in item:
            return item.split(sep, 1)[0]
    return item


def primary_property(d: Device) -> str | None:
    return {
        "light": "brightness",
        "climate": "target_temp",
        "media_player": "volume",
        "fan": "speed",
        "air_purifier": "speed",
        "cover": "position",
    }.get(d.type)


def lang_of_text(text: str) -> str:
    zh = is_chinese(text)
    latin = re.findall(r"[A-Za-z]{2,}", text)
    if zh and latin:
        return "mixed"
    return "zh" if zh else "en"


_VOWELS = "aeiou"


def typo(text: str, rng: random.Random) -> tuple[str, bool]:
    """Drop, double or swap one letter of one longer English word."""
    words = [m for m in re.finditer(r"[A-Za-z]{4,}", text)]
    if not words:
        return text, False
    m = rng.choice(words)
    w = m.group()
    i = rng.randint(1, len(w) - 2)
    how = rng.choice(("drop", "double", "swap"))
    if how == "drop":
        new = w[:i] + w[i + 1 :]
    elif how == "double":
        new = w[:i] + w[i] + w[i:]
    else:
        new = w[:i] + w[i + 1] + w[i] + w[i + 2 :]
    if new == w:
        return text, False
    return text[: m.start()] + new + text[m.end() :], True


class PhraserBase:
    """The space, the random source and the helpers every kind of sentence uses."""

    def __init__(self, space: Space, rng: random.Random, mix: str = "catalog") -> None:
        if mix not in MIXES:
            raise ValueError(f"unknown mix {mix!r}; choose one of {', '.join(MIXES)}")
        self.space = space
        self.rng = rng
        self.kinds = MIXES[mix]
        self.balanced = mix != "catalog"  # pick the property / action first, then a device
        self.plural = mix == "groups"  # groups of two or more devices where there are some
        self.devices = list(space.devices.values())
        self.by_area: dict[str, list[Device]] = {}
        for d in self.devices:
            if d.area:
                self.by_area.setdefault(d.area, []).append(d)
        self.known_text = " ".join(" ".join([d.name, *d.aliases]).casefold() for d in self.devices)
        self._lang = "en"
        self._mixed = False

    def sample(self, kind: str | None = None) -> Sample | None:
        rng = self.rng
        roll = rng.random()
        self._lang = "en" if roll < 0.5 else "zh"
        self._mixed = rng.random() < 0.12
        kind = kind or rng.choices(list(self.kinds), list(self.kinds.values()))[0]
        clause = self._clause(kind)
        if clause is None:
            return None
        area = clause.area
        if area is None and not clause.no_area and self.space.areas and rng.random() < 0.3:
            area = rng.choice(list(self.space.areas))
        asks = any(i.endswith("?") for i in clause.items)
        text, tags = (clause.text, []) if clause.plain else self._decorate(clause.text, asks)
        if self._mixed:
            tags.append("mixed")
        kind = clause.kind
        if kind != "multi" and kind != "none" and self._risky(clause.items):
            kind = "risky"
        return Sample(text, clause.items, kind, area, lang_of_text(text), tags)

    def _clause(self, kind: str) -> Clause | None:
        make: Callable[[], Clause | None] = getattr(self, KIND_METHODS[kind])
        return make()

    def _pick(self, pred: Callable[[Device], bool]) -> Device | None:
        found = [d for d in self.devices if pred(d)]
        return self.rng.choice(found) if found else None

    def _t(self, options: tuple[str, ...] | list[str]) -> str:
        return self.rng.choice(options)

    def _pick_first(self, names: Callable[[Device], list[str]]) -> tuple[Device, str] | None:
        """A device and one of its `names` (properties or actions): the device first, or with
        `balanced`, the name first (uniform over the names the space has), then a device."""
        if not self.balanced:
            d = self._pick(lambda d: bool(names(d)))
            return None if d is None else (d, self.rng.choice(names(d)))
        having: dict[str, list[Device]] = {}
        for d in self.devices:
            for n in names(d):
                having.setdefault(n, []).append(d)
        if not having:
            return None
        name = self.rng.choice(sorted(having))
        return self.rng.choice(having[name]), name

    def _fill(self, template: str, ref: str, **more: str) -> str:
        out = template.replace("{p}", possessive(ref)).replace("{r}", ref)
        out = re.sub(r"\bthe (our|my|the) ", r"\1 ", out)
        for k, v in more.items():
            out = out.replace("{" + k + "}", v)
        return out

    def _numeric_props(self, d: Device) -> list[tuple[str, PropertySpec]]:
        return [
            (p, s)
            for p, s in device_props(d)
            if s.writable and s.kind in ("int", "float") and p in PROP
        ]

    def _value_text(self, prop: str, spec: PropertySpec, v: float) -> str:
        rng = self.rng
        unit = spec.unit or ""
        if self._lang == "en":
            digits = num(v)
            if float(v).is_integer() and v <= 100 and rng.random() < 0.15:
                digits = en_words(int(v))
            if unit == "%":
                return digits + rng.choice(("%", " percent", "%", ""))
            if unit == "°C":
                return digits + rng.choice((" degrees", "°C", "°", " degrees celsius", ""))
            if unit == "K":
                return digits + rng.choice(("K", " kelvin", ""))
            return digits
        digits = num(v) if rng.random() < 0.6 or v > 100 else cn_words(v)
        if unit == "%":
            if rng.random() < 0.3:
                return "百分之" + (num(v) if rng.random() < 0.3 else cn_words(v))
            return digits + rng.choice(("%", ""))
        if unit == "°C":
            return digits + rng.choice(("度", "度", "摄氏度", "℃"))
        if unit == "K":
            return num(v) + rng.choice(("K", "k", "开尔文"))
        return digits

    def _pick_value(self, prop: str, spec: PropertySpec) -> float:
        rng = self.rng
        lo = spec.min if spec.min is not None else 0
        hi = spec.max if spec.max is not None else 100
        if spec.unit == "°C":
            v = rng.randint(int(lo), int(hi))
            if spec.kind == "float" and rng.random() < 0.15 and v < hi:
                return v + 0.5
            return v
        if spec.unit == "K":
            return rng.choice(
                [
                    x
                    for x in (2200, 2700, 3000, 3500, 4000, 4500, 5000, 5500, 6000, 6500)
                    if lo <= x <= hi
                ]
            )
        step = rng.choices((10, 5, 1), (0.45, 0.4, 0.15))[0]
        v = rng.randint(int(lo) // step, int(hi) // step) * step
        if prop == "speed" and v < 10:
            v = 10  # "the fan to 3" would mean a fan level, not 3 %
        return min(max(v, lo), hi)

    def _names(self, d: Device) -> list[str]:
        names = list(dict.fromkeys([d.name, *d.aliases]))
        zh = [n for n in names if is_chinese(n)]
        en = [n for n in names if not is_chinese(n)]
        want_zh = (self._lang == "zh") != self._mixed
        return (zh or en) if want_zh else (en or zh)

    def _area_name(self, area_id: str) -> str:
        a = self.space.areas[area_id]
        names = list(dict.fromkeys([a.name, *a.aliases]))
        zh = [n for n in names if is_chinese(n)]
        en = [n for n in names if not is_chinese(n)]
        want_zh = (self._lang == "zh") != self._mixed
        pool = (zh or en) if want_zh else (en or zh)
        name = self.rng.choice(pool)
        return name.lower() if not is_chinese(name) and self.rng.random() < 0.7 else name

    def _ref(self, d: Device) -> Ref | None:
        """Words that name `d` and nothing else (with the speaker's room they need)."""
        rng = self.rng
        en_lang = (self._lang == "en") != self._mixed  # the language of the names
        roll = rng.random()
        words = CLASS_REF.get(d.cls or "") or TYPE_REF.get(d.type)
        if words and roll > 0.6:
            same = [x for x in self.devices if (x.cls == d.cls if d.cls else x.type == d.type)]
            en_w, zh_w = words
            w = rng.choice(en_w if en_lang else zh_w)
            in_area = [x for x in same if x.area == d.area] if d.area else []
            if roll > 0.9 and len(same) == 1:
                return Ref(self._article(w))
            if d.area and len(in_area) == 1:
                if roll > 0.78:
                    here = rng.choice(("", "", " in here")) if self._lang == "en" else ""
                    return Ref(self._article(w) + here if self._lang == "en" else w, area=d.area)
                a = self._area_name(d.area)
                if self._lang == "en":
                    return Ref(rng.choice((f"the {w} in the {a}", f"the {a} {w}", f"{a} {w}")))
                return Ref(rng.choice((f"{a}的{w}", f"{a}{w}", f"{a}那个{w}")))
        name = rng.choice(self._names(d))
        if self._lang != "en":
            return Ref(name)
        low = name.casefold()
        proper = name[:1].isupper() and len(name.split()) == 1 and not name.isupper()
        if (
            is_chinese(name)
            or proper
            or low.startswith(("my ", "the ", "our "))
            or "'" in low
            or " the " in low
        ):
            return Ref(name)
        if rng.random() < 0.1:
            return Ref(name)
        return Ref(
            ("the " if rng.random() < 0.9 else "my ")
            + (name.lower() if rng.random() < 0.6 else name)
        )

    def _article(self, w: str) -> str:
        return w if is_chinese(w) else "the " + w

    def _decorate(self, text: str, asks: bool = False) -> tuple[str, list[str]]:
        rng = self.rng
        tags: list[str] = []
        question = asks or text.rstrip().endswith(("?", "？", "吗", "呢", "多少"))
        if question and rng.random() < 0.2:
            text = rng.choice(Q_PREFIX_EN if self._lang == "en" else Q_PREFIX_ZH) + text
            tags.append("polite")
        if self._lang == "en":
            if not question and rng.random() < 0.3:
                verb_first = text.split(" ", 1)[0].casefold() in EN_VERBS
                prefix = rng.choice(EN_PREFIX if verb_first else EN_PREFIX_ANY)
                text = prefix + text
                tags.append("polite")
                if prefix.strip().startswith(("could", "can", "would")) and rng.random() < 0.6:
                    text += "?"
            elif not question and rng.random() < 0.15:
                text += rng.choice(EN_SUFFIX)
                tags.append("polite")
            if rng.random() < 0.12:
                text, changed = typo(text, rng)
                if changed:
                    tags.append("typo")
            if rng.random() < 0.3:
                text = text[:1].upper() + text[1:]
            if not text.endswith("?") and rng.random() < 0.15:
                text += rng.choice((".", "!"))
        else:
            if not question and rng.random() < 0.35:
                prefix = rng.choice(ZH_PREFIX)
                if not text.startswith(("把", "让", "给")) or prefix not in ("给我",):
                    text = prefix + text
                    tags.append("polite")
                    if prefix in ("能不能", "可以帮我") and rng.random() < 0.5:
                        text += "？"
            if not question and not text.endswith("？") and rng.random() < 0.2:
                text += rng.choice(ZH_SUFFIX)
                tags.append("polite")
            if self._mixed and rng.random() < 0.1:
                text, changed = typo(text, rng)
                if changed:
                    tags.append("typo")
            if rng.random() < 0.1 and not text.endswith(("？", "。", "！", "?")):
                text += rng.choice(("。", "！", "?" if question else "。"))
        return " ".join(text.split()), tags

    def _risky(self, items: list[str]) -> bool:
        steps, _, _ = parse_compact(";".join(items) + "\n", self.space)
        for s in steps:
            d = self.space.devices[s.device]
            if s.action and d.is_risky(Command(d.id, action=s.action)):
                return True
            if (
                s.property
                and s.value is not None
                and d.is_risky(Command(d.id, s.property, s.value))
            ):
                return True
        return False
