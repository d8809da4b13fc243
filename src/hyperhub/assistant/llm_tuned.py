"""The tuned prompt: a short catalog of the devices a sentence may mean, then the sentence.

The catalog-tuned model is trained on this prompt and reads it at inference, so it must be
short (training on 2 CPU cores costs about a minute per hundred 90-token examples) and the
same function builds it in both places. It holds:

    Devices:
    den_lamp: Reading Lamp, 阅读灯 [light @den] on brightness=0..100 toggle()
    keting_ac: 柜机, Cabinet AC [climate @keting] on mode=cool|heat|auto|dry|fan ?current_temp
    Areas: keting=客厅, Lounge
    Room: den
    Command: make the reading lamp a bit brighter
    Plan:

and the model continues with the compact plan `llm.parse_compact` reads, after one space,
ending with a newline: ` den_lamp.brightness+=10\\n`.

A device line: id, up to three names (the ones the sentence used first), `[type class
@area]`, the writable properties (`name` for true/false, `name=lo..hi`, `name=a|b|c`,
`name=#rgb`, `name=text`), the readable ones (`?name`), the actions (`name(args)`); an
open / close / lock / unlock / toggle action is left out where a property says the same.
`Areas:` names only the areas the sentence mentions; `Room:` is the speaker's room, when known.

The devices are the candidates the gazetteer of the matcher (`scan.Gazetteer`) finds in the
sentence — named devices, the devices of a named area / floor / type / class, the ones with
a named property, action or value, the speaker's room — plus words within one typo of a name,
ranked, at most `MAX_DEVICES`; then a few distractors (chosen by a hash of the input, so the
prompt is deterministic) while the prompt stays short. They are listed in catalog order, so
their place says nothing about which one is meant.
"""

from __future__ import annotations

import random
import re
import zlib
from dataclasses import dataclass, field

from hyperhub.assistant.lexicon import LANGS, lexicon
from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.numbers import normalize
from hyperhub.assistant.scan import Gazetteer, is_cjk
from hyperhub.space.model import Device, Space

MAX_DEVICES = 8
TOKEN_BUDGET = 90  # distractors are added only while the prompt is estimated below this
MAX_NAMES = 2
STRONG = 5  # a device named, or of a named type / area, scores at least this
RELEVANT = 3  # with a strong candidate, the others must score this much to be shown
_CACHE_SIZE = 64
_REDUNDANT_ACTIONS = ("open", "close", "lock", "unlock")
_WORD = re.compile(r"[a-z0-9][a-z0-9'\-]*")
_CJK_RUN = re.compile(r"[\u3400-\u9fff]+")


def estimate_tokens(text: str) -> float:
    """A rough token count: one per CJK character, one per 3.5 other characters."""
    cjk = sum(1 for ch in text if is_cjk(ch))
    return cjk + (len(text) - cjk) / 3.5


@dataclass
class _SpaceIndex:
    space: Space
    gazetteer: Gazetteer
    words: dict[str, set[tuple[str, str]]]  # ascii word → {("device"|"area"|"type", id)}
    bigrams: dict[str, set[str]]  # CJK bigram of a device name → device ids
    lines: dict[str, str]  # device id → its catalog line without names


_INDEXES: dict[int, _SpaceIndex] = {}


def _index(space: Space) -> _SpaceIndex:
    found = _INDEXES.get(id(space))
    if found is not None and found.space is space:
        return found
    words: dict[str, set[tuple[str, str]]] = {}
    bigrams: dict[str, set[str]] = {}
    for d in space.devices.values():
        for name in (d.name, *d.aliases):
            norm = normalize(name)
            for w in _WORD.findall(norm):
                if len(w) >= 3:
                    words.setdefault(w, set()).add(("device", d.id))
            for run in _CJK_RUN.findall(norm):
                for i in range(len(run) - 1):
                    bigrams.setdefault(run[i : i + 2], set()).add(d.id)
    for a in space.areas.values():
        for name in (a.name, *a.aliases):
            for w in _WORD.findall(normalize(name)):
                if len(w) >= 4:
                    words.setdefault(w, set()).add(("area", a.id))
    types = {d.type for d in space.devices.values()}
    for lang in LANGS:
        for t, ws in (lexicon(lang).get("types") or {}).items():
            if t in types:
                for w in ws:
                    w = normalize(str(w))
                    if w.isascii() and " " not in w and len(w) >= 4:
                        words.setdefault(w, set()).add(("type", t))
    index = _SpaceIndex(
        space, Gazetteer(space), words, bigrams, {d.id: _line(d) for d in space.devices.values()}
    )
    if len(_INDEXES) >= _CACHE_SIZE:
        _INDEXES.pop(next(iter(_INDEXES)))
    _INDEXES[id(space)] = index
    return index


def _range(spec) -> str:
    if spec.kind == "enum":
        return "|".join(spec.values or ())
    if spec.kind in ("int", "float"):
        lo = "" if spec.min is None else _num(spec.min)
        hi = "" if spec.max is None else _num(spec.max)
        return f"{lo}..{hi}"
    return {"color": "#rgb", "str": "text"}.get(spec.kind, spec.kind)


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _line(d: Device) -> str:
    """The part of a device's line after its names."""
    props = device_props(d)
    writes = []
    reads = []
    for p, s in props:
        if not s.writable or s.kind == "location":
            reads.append(f"?{p}")
        elif s.kind == "bool":
            writes.append(p)
        else:
            writes.append(f"{p}={_range(s)}")
    has_write = bool(writes)
    acts = [
        f"{a}({','.join(x.name for x in spec.args if x.required)})"
        for a, spec in d.dtype.actions.items()
        if not (has_write and a in _REDUNDANT_ACTIONS)
    ]
    kind = f"{d.type} {d.cls}" if d.cls else d.type
    where = f" @{d.area}" if d.area else ""
    return " ".join([f"[{kind}{where}]", *writes, *reads, *acts])


def _within_one(a: str, b: str) -> bool:
    """True when `a` and `b` differ by at most one dropped / added / changed / swapped letter."""
    if a == b:
        return True
    la, lb = len(a), len(b)
    if abs(la - lb) > 1:
        return False
    if la == lb:
        diff = [i for i in range(la) if a[i] != b[i]]
        if len(diff) == 1:
            return True
        return (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
    if la > lb:
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    return a[i:] == b[i + 1 :]


@dataclass
class Candidates:
    """What the prompt shows for one sentence."""

    devices: list[str]  # the device ids, in catalog order
    areas: list[str]  # the areas the sentence names
    names: dict[str, list[str]]  # device id → the names the sentence used
    floors: list[str]  # the floors the sentence names
    area_names: dict[str, list[str]] = field(default_factory=dict)  # area id → names to show


def candidates(space: Space, text: str, area: str | None = None) -> Candidates:
    """The devices (and areas) the tuned prompt shows for `text` said in `area`."""
    index = _index(space)
    norm = normalize(text)
    tokens = index.gazetteer.scan(norm)
    score: dict[str, float] = dict.fromkeys(space.devices, 0.0)
    named_areas: list[str] = []
    named_floors: list[str] = []
    area_used: dict[str, list[str]] = {}
    used: dict[str, list[str]] = {}
    devices = list(space.devices.values())

    def add(pred, points: float) -> None:
        for d in devices:
            if pred(d):
                score[d.id] += points

    for tok in tokens:
        for m in tok.meanings:
            kind = m[0]
            if kind == "device":
                score[m[1]] += 100
                used.setdefault(m[1], []).append(tok.text)
            elif kind == "area":
                if m[1] not in named_areas:
                    named_areas.append(m[1])
                area_used.setdefault(m[1], []).append(tok.text)
                add(lambda d, a=m[1]: d.area == a, 10)
            elif kind == "floor":
                on_floor = {a.id for a in space.areas.values() if a.floor == m[1]}
                if m[1] not in named_floors:
                    named_floors.append(m[1])
                for a in sorted(on_floor):
                    if a not in named_areas:
                        named_areas.append(a)
                add(lambda d, f=on_floor: d.area in f, 8)
            elif kind == "type":
                add(lambda d, t=m[1]: d.type == t, 5)
            elif kind == "class":
                add(lambda d, c=m[1]: d.cls == c, 6)
            elif kind == "prop":
                add(lambda d, p=m[1]: p in d.dtype.properties and p in _exposed(d), 2)
            elif kind == "action":
                add(lambda d, a=m[1]: a in d.dtype.actions, 2)
            elif kind == "value":
                add(lambda d, v=m[1]: any(v in (s.values or ()) for _, s in device_props(d)), 1)
            elif kind == "unknown":
                _fuzzy(index, tok.text, score, named_areas, used)
    if area is not None and area in space.areas:
        # the speaker's room makes a device more likely, a lot more if the words fit it
        for d in devices:
            if d.area == area:
                score[d.id] += 3 if score[d.id] > 0 else 1
    best = max(score.values(), default=0)
    floor = RELEVANT if best >= STRONG else 1
    ranked = sorted((d.id for d in devices if score[d.id] >= floor), key=lambda i: -score[i])[
        :MAX_DEVICES
    ]
    chosen = set(ranked)
    rest = [d.id for d in devices if d.id not in chosen]
    rng = random.Random(zlib.crc32(f"{space.name}\n{area}\n{text}".encode()))
    rng.shuffle(rest)
    want = rng.randint(0, 2) if chosen else rng.randint(2, 3)
    names = {d: _names(space.devices[d], used.get(d, [])) for d in space.devices}
    size = estimate_tokens(text) + 12 + sum(_size(index, names, d) for d in chosen)
    for device_id in rest:
        if want <= 0 or len(chosen) >= MAX_DEVICES:
            break
        extra = _size(index, names, device_id)
        if size + extra > TOKEN_BUDGET and chosen:
            continue
        chosen.add(device_id)
        size += extra
        want -= 1
    order = [d.id for d in devices if d.id in chosen]
    return Candidates(
        order,
        named_areas[:5] if named_floors else named_areas[:3],
        {d: names[d] for d in order},
        named_floors,
        {
            a: _first_used([space.areas[a].name, *space.areas[a].aliases], area_used.get(a, []))
            for a in named_areas
        },
    )


def _exposed(d: Device) -> tuple[str, ...]:
    return d.properties or tuple(d.dtype.properties)


def _size(index: _SpaceIndex, names: dict[str, list[str]], dev: str) -> float:
    return estimate_tokens(f"{dev}: {', '.join(names[dev])} {index.lines[dev]}\n")


def _fuzzy(
    index: _SpaceIndex,
    text: str,
    score: dict[str, float],
    named_areas: list[str],
    used: dict[str, list[str]],
) -> None:
    """Words the gazetteer did not know: one typo away from a name word, or (Chinese) sharing
    two characters in a row with a device's name."""
    space = index.space
    for w in _WORD.findall(text):
        if len(w) < 3:
            continue
        for known, meanings in index.words.items():
            if abs(len(known) - len(w)) > 1 or not _within_one(w, known):
                continue
            if len(w) < 5 and w != known:
                continue  # short words: exact only ("lamp" / "lump")
            for kind, ident in sorted(meanings):
                if kind == "device":
                    score[ident] += 20
                elif kind == "area":
                    if ident not in named_areas:
                        named_areas.append(ident)
                    for d in space.devices.values():
                        if d.area == ident:
                            score[d.id] += 8
                else:
                    for d in space.devices.values():
                        if d.type == ident:
                            score[d.id] += 5
    for run in _CJK_RUN.findall(text):
        hits: dict[str, int] = {}
        for i in range(len(run) - 1):
            for dev in sorted(index.bigrams.get(run[i : i + 2], ())):
                hits[dev] = hits.get(dev, 0) + 1
        for dev, n in hits.items():
            score[dev] += 10 + 5 * n


def _names(d: Device, used: list[str]) -> list[str]:
    """Up to `MAX_NAMES` names: the ones the sentence used first, then the others in order."""
    return _first_used([d.name, *d.aliases], used)


def _first_used(all_names: list[str], used: list[str]) -> list[str]:
    first = [n for n in all_names if any(normalize(n) == normalize(u) for u in used)]
    return list(dict.fromkeys([*first, *all_names]))[:MAX_NAMES]


def _area_text(space: Space, cands: Candidates, area_id: str) -> str:
    a = space.areas[area_id]
    names = cands.area_names.get(area_id) or [a.name, *a.aliases][:MAX_NAMES]
    floor = f" ({a.floor})" if a.floor and a.floor in cands.floors else ""
    return f"{a.id}={', '.join(names)}{floor}"


def render_tuned(space: Space, cands: Candidates, text: str, area: str | None) -> str:
    index = _index(space)
    lines = ["Devices:"]
    for dev in cands.devices:
        lines.append(f"{dev}: {', '.join(cands.names[dev])} {index.lines[dev]}")
    if cands.areas:
        lines.append("Areas: " + "; ".join(_area_text(space, cands, a) for a in cands.areas))
    if area is not None and area in space.areas:
        lines.append(f"Room: {area}")
    text = " ".join(text.split())[:300]
    lines.append(f"Command: {text}")
    lines.append("Plan:")
    return "\n".join(lines)


def tuned_prompt(space: Space, text: str, area: str | None = None) -> str:
    """The prompt of the catalog-tuned model for `text` said in `area` (deterministic). The
    model's answer follows it: a space, the compact plan, a newline."""
    return render_tuned(space, candidates(space, text, area), text, area)
