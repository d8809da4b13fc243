"""The fast deterministic engine: phrases from the live catalog → a `Plan`.

How it reads a sentence (the same way in English and Chinese):
1. `scan.Gazetteer` finds known phrases: the space's device, area and floor names and the
   lexicon's words for types, properties, actions, enum values, verbs and numbers.
2. The sentence splits into clauses at conjunctions ("and", "然后", "，", "和"). A clause with
   no intent takes the previous clause's ("turn off the kitchen light and the bedroom light");
   one with no target takes the previous clause's targets ("…, 温度设成23度", "make it …"); a
   clause with only a target followed by one with only an intent is one command ("robot dog,
   sit").
3. Targets: named devices; else the devices of the named areas / floors, narrowed by the named
   types / classes ("the bedroom lights", "楼上的灯"); with no area, "the lights" means the
   speaker's room when the input gives one, else every light. With neither, a property or
   action word picks the devices that have it ("set the charge limit to 90%").
4. Per target, the intent becomes steps from the device's spec: an action word → that action;
   an enum value word → the property that has the value; a number / level / relative change
   → the numeric property the words or the unit point to (°C → a temperature, % → the first
   % property of the type); on/off/open/close/lock/unlock → the property or action of that
   meaning the device has.
A sentence with words the matcher does not know gets a confidence below 1 and names them,
so the pipeline can hand it to the LLM.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

from hyperhub.assistant.lexicon import LANGS, lexicon
from hyperhub.assistant.numbers import normalize
from hyperhub.assistant.plan import Lang, Plan, Question, Step, is_position, opposite
from hyperhub.assistant.scan import Gazetteer, Meaning, Token, is_cjk
from hyperhub.space import Device, Space
from hyperhub.spec.words import singular

SMALL_STEP = {"%": 10.0, "°C": 1.0}  # "a bit brighter" = +10 points; "warmer" = +1 °C
DEFAULT_STEP = 10.0  # other units: 10 points of the range
FULL_CONFIDENCE = 1.0
PARTIAL_CONFIDENCE = 0.5  # the plan ignored words it does not know
_ABSOLUTE_BEFORE = re.compile(r"(?:\bto|\buntil|到|至|成|为|為)\s*$")
_BY_BEFORE = re.compile(r"(?:\bby|了)\s*$")
_POLAR = {"on": True, "off": False, "open": True, "close": False, "lock": True, "unlock": False,
          "stop": False}  # fmt: skip
# what a yes/no question's verb asks about: (the property's value) or open / closed
_ASKED = {"on": True, "off": False, "stop": False, "lock": True, "unlock": False,
          "open": "open", "close": "closed"}  # fmt: skip
# levels without a number, as a share of the range ("halfway", "a quarter", "最大")
_LEVELS = {"max": 1.0, "min": 0.0, "half": 0.5, "quarter": 0.25, "three_quarters": 0.75}
# what a setting is felt as: a question about feeling warm asks the temperature measured
_READING_OF = {
    "target_temp": ("current_temp", "temperature"),
    "cabin_target_temp": ("cabin_temp",),
    "brightness": ("illuminance",),
}
# "…吗", "…开着没(有)": a sentence ending in these asks
_QUESTION_END = re.compile(r"(?:\?|？|吗|嗎|呢|么|没|没有)\s*$")  # (嘛 softens a command)


@dataclass
class Clause:
    tokens: list[Token]
    text: str = ""
    devices: list[str] = field(default_factory=list)
    owners: list[str] = field(default_factory=list)  # "王磊": the devices named as his
    areas: list[str] = field(default_factory=list)
    floors: list[str] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    weak_types: list[str] = field(default_factory=list)  # from words that are verbs too
    weak_actions: list[str] = field(default_factory=list)  # from words that name devices too
    pure_props: list[str] = field(default_factory=list)  # from words that only name properties
    rest: list[str] = field(default_factory=list)  # words after an action word (its argument)
    kind_words: list[str] = field(default_factory=list)  # the type words used
    nouns: list[str] = field(default_factory=list)  # the type and class words used
    here: bool = False  # "in here", "这里": the speaker's room
    outside: bool = False  # "outside", "外面": what is named as outside the home
    no_room: str | None = None  # a room word the space has no room for ("the bathroom")
    implied: bool = False  # "晚安", "I'm off to bed": a request by what the speaker does
    where: bool = False  # "where is the kettle", "水壶在哪": which room it is in
    inverted: bool = False  # "which doors are not locked", "哪扇门没锁": the opposite state
    polite: bool = False  # "could you …?": a request, not a question
    classes: list[str] = field(default_factory=list)
    props: list[tuple[str, bool]] = field(default_factory=list)
    values: list[str] = field(default_factory=list)
    weak_values: list[str] = field(default_factory=list)  # from words that name devices too
    colors: list[str] = field(default_factory=list)  # "#rrggbb" of a colour word
    feeling: bool = False  # "I'm cold", "太暗了": a change asked for without a device
    feel_names: tuple[str, ...] = ()  # where nothing has its property: these devices go on
    negated: bool = False  # "don't turn off …", "别关…": nothing to do
    asks: bool = False  # an A-not-A question ("是不是", "有没有")
    rel_verbs: list[str] = field(default_factory=list)  # "lower", "raise": also close / open
    actions: list[str] = field(default_factory=list)
    verbs: list[str] = field(default_factory=list)
    particles: list[str] = field(default_factory=list)
    rel: list[str] = field(default_factory=list)
    cmp: list[Meaning] = field(default_factory=list)
    small: bool = False
    levels: list[str] = field(default_factory=list)
    numbers: list[tuple[float, str | None, bool]] = field(default_factory=list)  # (v, unit, abs)
    all: bool = False
    count: bool = False  # "how many …", "有几个…"
    any: bool = False  # "is any window open?"
    every: bool = False  # "devices", "设备": every kind of device
    which: bool = False  # "which …", "哪些…": with a kind and no state, asks for a list
    when: str | None = None  # "the music": a kind said by what it is doing ("playing")
    amount: bool = False  # "how much …", "多少": a number is asked, not a yes or no
    pronoun: bool = False
    question: bool = False
    yes_no: bool = False  # "is it …?", "…吗": answered yes or no first
    unknown: list[str] = field(default_factory=list)

    @property
    def has_intent(self) -> bool:
        return bool(
            self.actions
            or self.values
            or self.colors
            or self.numbers
            or self.levels
            or self.rel
            or self.cmp
            or self.small
            or self.question
            or self.particles
            or [v for v in self.verbs if v != "set"]
            or self.pure_props
        )

    @property
    def has_target(self) -> bool:
        return bool(
            self.devices
            or self.owners
            or self.areas
            or self.floors
            or self.types
            or self.classes
            or self.pronoun
            or self.every
            or self.outside
        )

    @property
    def has_state(self) -> bool:
        """Whether the clause names a state or a change (not only devices and question
        words)."""
        return bool(
            self.props
            or self.values
            or self.actions
            or self.particles
            or self.numbers
            or self.colors
            or self.levels
            or self.rel
            or self.cmp
            or [v for v in self.verbs if v != "set"]
        )

    @property
    def lists(self) -> bool:
        """A question for the devices themselves: "how many sensors do we have", "客房里有
        哪些设备", "what devices are in the kitchen"."""
        return (
            self.question
            and (self.count or self.any or self.every or self.which)
            and bool(self.types or self.classes or self.every)
            and not self.has_state
            and not self.devices
        )

    def take_intent(self, other: Clause) -> None:
        for name in (
            "props",
            "values",
            "actions",
            "verbs",
            "particles",
            "rel",
            "cmp",
            "levels",
            "numbers",
        ):
            if not getattr(self, name):
                setattr(self, name, list(getattr(other, name)))
        self.small = self.small or other.small
        self.question = self.question or other.question


@dataclass
class Context:
    """What a conversation remembers between sentences."""

    targets: list[str] = field(default_factory=list)
    clause: Clause | None = None


class Matcher:
    """Compiled once per space; `parse` is pure apart from the context it returns."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self.gaz = Gazetteer(space)
        self.named_kinds = self._named_kinds()
        self._longer = self._longer_names()
        self._room_named = self._named_after_room()
        self._types = {d.type for d in space.devices.values()}
        self._type_words = [  # every type's words, both languages: (type, word)
            (str(kind), normalize(str(w)))
            for lang in LANGS
            for kind, words in (lexicon(lang).get("types") or {}).items()
            for w in words
        ]
        self._subkinds = self._named_subkinds()
        self._outside = self._named_outside()
        # properties some device here takes a number for
        self._numeric_props = {
            p
            for d in space.devices.values()
            for p, spec in d.dtype.properties.items()
            if spec.writable and spec.kind in ("int", "float")
        }

    def _named_with(self, words: tuple[str, ...]) -> list[str]:
        """The devices one of whose names has one of `words` ("kettle", "水壶")."""
        out = []
        for d in self.space.devices.values():
            names = [normalize(n) for n in (d.name, *d.aliases)]
            if any(normalize(w) in n for w in words for n in names):
                out.append(d.id)
        return out

    def _meant(self, word: str, candidates: list[str]) -> str | None:
        """The one of several devices a singular word means, if one stands out: the only
        one called by that word ("the lamp in the bedroom": Bedside Lamp, not the ceiling
        light), else the only one named after its room ("the light in the living room":
        Living Room Light, not the LED strip). Only within one room: "unlock the door" of a
        home with several stays a question."""
        if len({self.space.devices[d].area for d in candidates}) != 1:
            return None
        w = normalize(word)
        called = [
            d
            for d in candidates
            if any(
                normalize(n).endswith(w)
                for n in (self.space.devices[d].name, *self.space.devices[d].aliases)
            )
        ]
        if len(called) == 1:
            return called[0]
        main = [d for d in (called or candidates) if d in self._room_named]
        return main[0] if len(main) == 1 else None

    def _named_after_room(self) -> set[str]:
        """Devices named after their room and kind ("Kids' Room Light", "儿童房灯", "书房的
        台灯"): "the light" of that room when it has several."""
        out: set[str] = set()
        for d in self.space.devices.values():
            if d.area not in self.space.areas:
                continue
            area = self.space.areas[d.area]
            rooms = {normalize(n) for n in (area.name, *area.aliases)}
            kinds = {
                normalize(str(w))
                for lang in LANGS
                for w in (lexicon(lang).get("types") or {}).get(d.type, ())
            }
            kinds |= {w for ws in self.named_kinds.get(d.id, {}).values() for w in ws}
            for name in (d.name, *d.aliases):
                n = normalize(name).replace("的", "")
                if any(n in (f"{r} {k}", f"{r}{k}") for r in rooms for k in kinds):
                    out.add(d.id)
        return out

    def _longer_names(self) -> dict[str, list[Device]]:
        """Per device, the devices whose names extend one of its names: "Front Door Sensor"
        for "Front Door", "后门门磁" for "后门" (what a question about a state the first lacks
        is about)."""
        names = {
            d.id: [normalize(n) for n in (d.name, *d.aliases)] for d in self.space.devices.values()
        }
        out: dict[str, list[Device]] = {}
        for d in self.space.devices.values():
            out[d.id] = [
                e
                for e in self.space.devices.values()
                if e.id != d.id
                and any(
                    m.startswith(n) and (is_cjk(n[-1]) or m[len(n) : len(n) + 1] == " ")
                    for n in names[d.id]
                    for m in names[e.id]
                    if len(m) > len(n)
                )
            ]
        return out

    def _named_kinds(self) -> dict[str, dict[str, set[str]]]:
        """Kinds a device's own name gives it besides its type, with the words that gave
        them: a switch called "Garage Light" / "车库灯" is one of "the lights" too (but a
        plug called "Water Heater" is a heater, not one of "the air conditioners")."""
        out: dict[str, dict[str, set[str]]] = {}
        for dev in self.space.devices.values():
            for name in (dev.name, *dev.aliases):
                norm = normalize(name)
                for lang in LANGS:
                    lex = lexicon(lang)
                    for section, prefix in (("types", ""), ("classes", "class:")):
                        for kind, words in (lex.get(section) or {}).items():
                            for w in words:
                                w = normalize(str(w))
                                if _says(norm, w) and kind != dev.type and kind != dev.cls:
                                    kinds = out.setdefault(dev.id, {})
                                    kinds.setdefault(prefix + kind, set()).add(w)
        return out

    def _named_subkinds(self) -> dict[str, set[str]]:
        """The kinds within its type a device's name gives it (lexicon `subkinds`): an oil
        heater of type climate is a "heater", not an "air conditioner"."""
        out: dict[str, set[str]] = {}
        for dev in self.space.devices.values():
            names = [normalize(n) for n in (dev.name, *dev.aliases)]
            for sub, words in _subkind_words(dev.type).items():
                if any(_says(n, w) for n in names for w in words):
                    out.setdefault(dev.id, set()).add(sub)
        return out

    def _of_subkind(self, pool: list[Device], nouns: list[str]) -> list[Device]:
        """`pool` less the devices whose names say another kind than the one said ("有几个
        空调开着" does not count the 取暖器; "the TV in the bedroom" is not its radio)."""
        keep = []
        for d in pool:
            said = {
                sub
                for sub, words in _subkind_words(d.type).items()
                if any(normalize(n) in words for n in nouns)
            }
            mine = self._subkinds.get(d.id)
            if not said or not mine or said & mine:
                keep.append(d)
        return keep

    def _named_outside(self) -> set[str]:
        """Devices named as outside the home, or in an area so named ("Outdoor Sensor",
        "室外温度计", "Outside Lights")."""
        words = {normalize(str(w)) for lang in LANGS for w in lexicon(lang).get("outside") or ()}
        out: set[str] = set()
        for dev in self.space.devices.values():
            names = [dev.name, *dev.aliases]
            if dev.area in self.space.areas:
                area = self.space.areas[dev.area]
                names += [area.name, *area.aliases]
            if any(_says(normalize(n), w, anywhere=True) for n in names for w in words):
                out.add(dev.id)
        return out

    def _named_fit(self, d: Device, kinds: list[str], nouns: list[str]) -> bool:
        """Whether `d`'s name makes it one of `kinds` as said with `nouns` ("lights")."""
        mine = self.named_kinds.get(d.id, {})
        words = {w for k in kinds for w in mine.get(k, ())}
        if not words:
            return False
        return not nouns or any(singular(n) == singular(w) for n in nouns for w in words)

    # -- entry ---------------------------------------------------------------------------------

    def parse(
        self,
        text: str,
        *,
        area: str | None = None,
        context: Context | None = None,
        normalized: str | None = None,
        every_fit: bool = False,
    ) -> tuple[Plan, Context]:
        """The plan of `text`. `every_fit`: a singular word that fits several devices ("lock
        the door") means all of them instead of a question back (a rule's actions, which
        are shown before they are saved)."""
        norm = normalized if normalized is not None else normalize(text)
        lang: Lang = "zh" if any(is_cjk(ch) for ch in norm) else "en"
        ctx = context or Context()
        plan = Plan(engine="matcher", lang=lang)
        tokens = self.gaz.scan(norm)
        fixed = self.gaz.corrected(norm, tokens)  # "tunr off the big ligth"
        if fixed is not None:
            norm, tokens = fixed, self.gaz.scan(fixed)
        if any(t.has("inject") for t in tokens):
            plan.problem = "injection"
            return plan, ctx
        clauses = self._clauses(norm, tokens)
        sentence_question = bool(_QUESTION_END.search(norm))
        if sentence_question:
            for c in clauses:
                c.question = c.question or not (c.polite and self._commandish(c))
        if clauses and self._asks_first(norm, lang) and not clauses[0].polite:
            # "is the garage door closed": a question, whatever command words it has
            clauses[0].question = clauses[0].yes_no = True
        for c in clauses:
            c.yes_no = c.yes_no or (
                c.question and (lang == "zh") and bool(_QUESTION_END.search(norm))
            )
        for c in clauses:  # "…, the sign and the speaker": a device by a word of its name
            if not c.devices and not c.owners and not c.types and c.unknown:
                c.devices = self._partly_named(c)
        clauses = self._link(clauses, ctx)
        # "I'm expecting a delivery, can you unlock the front door?": words before a whole
        # command that name nothing and ask nothing are its reason, not a request
        # ("we're closing up, …", "打烊了：…": an unknown word, perhaps a verb, and no device)
        # ("Xiaoyu is studying, so …": a person and an unknown word; "good night: …" before
        # the commands that say what to do)
        reasons: list[int] = []
        for i, c in enumerate(clauses):
            loose = {"unknown", "filler", "rel", "verb", "particle", "owner", "question"}
            if (
                not all(t.kinds() <= {"unknown", "filler"} for t in c.tokens)
                and not (
                    all(t.kinds() <= loose for t in c.tokens)
                    and any(t.kinds() == {"unknown"} for t in c.tokens)
                    and not (c.devices or c.types or c.classes or c.areas or c.floors)
                    and not c.numbers
                )
                and not ((c.implied or c.feeling) and not c.devices and not c.areas)
            ):
                break
            rest = clauses[i + 1 :]
            if any(r.has_intent and r.has_target and not r.unknown for r in rest):
                c.unknown, c.question = [], False
                if c.implied or c.feeling or c.owners:  # no request of their own
                    reasons.append(id(c))
        for i, c in enumerate(clauses):  # "把灯打开，因为我要看书": a reason after a command
            first = next((t for t in c.tokens if t.kinds() != {"filler"}), None)
            said = first is not None and first.has("purpose")
            whole = any(b.has_intent and b.has_target for b in clauses[:i])
            if said and whole and not (c.devices or c.types or c.classes or c.areas):
                reasons.append(id(c))
        clauses = [c for c in clauses if id(c) not in reasons]
        unknown: list[str] = []
        targets_seen: list[str] = []
        last_clause: Clause | None = None
        for clause in clauses:
            if not clause.has_intent and not clause.has_target:
                unknown += clause.unknown
                continue
            devices, problem = self._targets(clause, area, ctx)
            unknown += clause.unknown  # (less a word that named a device by part of its name)
            if problem:
                plan.unknown.append(problem)
                continue
            steps, questions = self._intent(clause, devices)
            if clause.negated and steps:  # "don't turn off the porch light": not done
                plan.negated = True
                continue
            if not steps and not questions:
                plan.cannot = plan.cannot or self._cannot(clause, devices)
                if clause.question and clause.pure_props and clause.areas:
                    # "what's the temperature in the study" where nothing measures it
                    word = next(t.text for t in clause.tokens if t.has("prop"))
                    plan.missing = (word, self.space.areas[clause.areas[0]].name_in(lang))
                continue
            which = None if every_fit else self._ambiguous(clause, steps)
            if which is not None:
                main = self._meant(*which)
                if main is None:
                    plan.ambiguous = which
                    continue
                steps = [s for s in steps if s.device == main]  # "the light in the study"
            plan.steps += steps
            plan.questions += questions
            targets_seen = list(
                dict.fromkeys([s.device for s in steps] + [q.device for q in questions])
            )
            ctx = Context(targets=targets_seen, clause=clause)
            last_clause = clause
        plan.unknown += unknown
        # a question, however it is worded: no engine's reading of it may change anything
        plan.asked = any(c.question for c in clauses) and not any(
            not c.question and c.has_intent for c in clauses
        )
        if plan.empty:
            plan.confidence = 0.0
        else:
            plan.confidence = PARTIAL_CONFIDENCE if unknown else FULL_CONFIDENCE
        if last_clause is None:
            ctx = context or Context()
        return plan, ctx

    @staticmethod
    def _asks_first(norm: str, lang: Lang) -> bool:
        """Whether the sentence starts with a word that makes it a question ("is", "are",
        "does" …)."""
        words = [str(w) for w in lexicon(lang).get("asks_first") or ()]
        return any(re.match(rf"{re.escape(w)}\b", norm) for w in words)

    # -- clauses -------------------------------------------------------------------------------

    def _clauses(self, norm: str, tokens: list[Token]) -> list[Clause]:
        out: list[Clause] = []
        current = Clause(tokens=[])
        for tok in tokens:
            if (tok.has("conj") and len(tok.meanings) == 1) or tok.meanings == [("conj",)]:
                out.append(current)
                current = Clause(tokens=[])
                continue
            if tok.has("conj") and not (tok.kinds() - {"conj", "filler"}):
                out.append(current)
                current = Clause(tokens=[])
                continue
            current.tokens.append(tok)
        out.append(current)
        for c in out:
            self._fill(c, norm)
        # ("Doudou, go and patrol the garden": "go" alone says nothing)
        return [c for c in out if c.tokens and any(t.kinds() != {"filler"} for t in c.tokens)]

    def _fill(self, c: Clause, norm: str) -> None:
        if c.tokens:
            c.text = norm[c.tokens[0].start : c.tokens[-1].start + len(c.tokens[-1].text)]
        prev_text = ""
        for i, tok in enumerate(c.tokens):
            kinds = tok.kinds()
            meanings = tok.meanings
            if prev_text == "的" and kinds & {"type", "class", "prop"}:
                # "后门的锁": after 的 a word that is a verb and a noun is the noun
                meanings = [m for m in meanings if m[0] != "verb"]
                kinds = {m[0] for m in meanings}
            after = c.tokens[i + 1].text if i + 1 < len(c.tokens) else ""
            then = c.tokens[i + 2] if i + 2 < len(c.tokens) else None
            said_of = then is not None and bool(then.kinds() & {"type", "class", "all"})
            if after == "的" and kinds & {"verb", "particle"} and said_of:
                # "开着的都关掉": a state before 的 says which devices, it is no command
                if any(m[0] in ("verb", "particle") and m[1] in ("on", "open") for m in meanings):
                    c.when = c.when or "on"
                meanings = [m for m in meanings if m[0] not in ("verb", "particle")]
                kinds = {m[0] for m in meanings}
            prev_text = tok.text
            verbish = bool(kinds & {"verb", "action", "rel"})
            for m in meanings:
                kind = m[0]
                if kind == "device":
                    c.devices.append(m[1])
                elif kind == "owner":
                    c.owners.append(m[1])
                elif kind == "area":
                    c.areas.append(m[1])
                elif kind == "floor":
                    c.floors.append(m[1])
                elif kind == "type":
                    (c.weak_types if verbish else c.types).append(m[1])
                    if not verbish and tok.text not in c.kind_words:
                        c.kind_words.append(tok.text)
                    if not verbish and tok.text not in c.nouns:
                        c.nouns.append(tok.text)
                elif kind == "class":
                    (c.weak_types if verbish else c.classes).append("class:" + m[1])
                    if not verbish and tok.text not in c.nouns:
                        c.nouns.append(tok.text)
                elif kind == "prop":
                    c.props.append((m[1], m[2]))
                    if kinds == {"prop"} and not m[2]:
                        c.pure_props.append(m[1])
                    if m[2] and "type" in kinds:  # "the music": players that are playing
                        c.when = c.when or m[1]
                    elif m[2]:
                        c.question = True
                elif kind == "value":
                    # "turn the heating off": a device called like a mode is the device
                    (c.weak_values if kinds & {"device", "type"} else c.values).append(m[1])
                elif kind == "color":
                    c.colors.append(m[1])
                elif kind == "feeling":
                    c.feeling = True
                    c.feel_names = m[1] if len(m) > 1 else ()
                elif kind == "implied":  # "I'm going to bed": the lights off
                    c.implied = True
                    c.verbs.append(m[1])
                    c.types += [t for t in m[2] if t in self._types]
                    c.devices += self._named_with(m[3]) if not m[2] else []
                elif kind == "negation":
                    c.negated = True
                elif kind == "asks":  # "是不是开着": asks, whatever command words it has
                    c.question = c.yes_no = c.asks = True
                elif kind == "action":
                    if kinds & {"device", "type"}:
                        c.weak_actions.append(m[1])
                    else:
                        c.actions.append(m[1])
                        c.rest = [
                            norm[t.start : t.start + len(t.text)]
                            for t in c.tokens
                            if t.start > tok.start and not t.has("conj")
                        ]
                elif kind == "verb":
                    if "rel" not in kinds or m[1] == "set":
                        c.verbs.append(m[1])
                    elif m[1] in ("open", "close"):
                        c.rel_verbs.append(m[1])  # "lower the blind": all the way down
                elif kind == "particle":
                    c.particles.append(m[1])
                elif kind == "rel":
                    c.rel.append(m[1])
                elif kind == "cmp":
                    c.cmp.append(m)
                elif kind == "small":
                    c.small = True
                elif kind == "level":
                    c.levels.append(m[1])
                elif kind == "number":
                    before = norm[: tok.start]
                    absolute = bool(_ABSOLUTE_BEFORE.search(before)) or (
                        not _BY_BEFORE.search(before) and not (c.rel or c.cmp)
                    )
                    c.numbers.append((m[1], m[2], absolute))
                elif kind == "all":
                    c.all = True
                elif kind == "count":
                    c.count = c.question = True
                elif kind == "any":
                    c.any = True
                elif kind == "devices":
                    c.every = True
                    if tok.text not in c.nouns:
                        c.nouns.append(tok.text)
                elif kind == "which":
                    c.which = c.question = True
                elif kind == "amount":
                    c.amount = c.question = True
                elif kind == "here":
                    c.here = True
                elif kind == "outside":
                    c.outside = True
                elif kind == "where":
                    c.where = c.question = True
                elif kind == "room" and not kinds & {"area", "device", "floor"}:
                    c.no_room = c.no_room or tok.text
                elif kind == "polite":
                    c.polite = True
                elif kind == "pronoun":
                    c.pronoun = True
                elif kind == "question":
                    c.question = True
                elif kind == "unknown":
                    c.unknown.append(tok.text)
        # "open the back door for the delivery guy": unknown words after a purpose word that
        # follows a whole command are its reason
        purpose = next((t.start for t in c.tokens if t.has("purpose")), None)
        if purpose is not None and c.has_intent and c.has_target:
            first = [t for t in c.tokens if t.start < purpose]
            named = {"device", "type", "class", "area", "prop"}
            if any(t.kinds() & named for t in first) and all(
                t.start > purpose for t in c.tokens if t.kinds() == {"unknown"}
            ):
                # ("pop the boot so Rosa can load the shopping": not Rosa's devices)
                c.unknown = []
                c.owners = [m[1] for t in first for m in t.get("owner")]
                c.devices = [
                    d for d in c.devices if any(("device", d) in t.meanings for t in first)
                ]
                c.areas = [a for a in c.areas if any(("area", a) in t.meanings for t in first)]
        if c.feeling:  # "it's too noisy": "it" is no device
            c.pronoun = False
        if c.negated and not c.actions and not [v for v in c.verbs if v != "set"]:
            ends = [str(w) for lang in LANGS for w in lexicon(lang).get("stop_doing") or ()]
            text = c.text.rstrip("?!.。！？ ")
            if any(text.endswith(w) for w in ends):  # "别给车充电了": stop charging it
                c.negated = False
                c.verbs.append("stop")
        # "the garage lights", "车库的灯": a room word that also names a kind is the room when
        # another word names the kind
        roomy = [t for t in c.tokens if t.has("area") and (t.has("type") or t.has("class"))]
        if roomy and any(
            (t.has("type") or t.has("class")) and not t.has("area") and not t.has("device")
            for t in c.tokens
        ):
            for t in roomy:
                drop_types = {m[1] for m in t.get("type")}
                drop_classes = {"class:" + m[1] for m in t.get("class")}
                c.types = [k for k in c.types if k not in drop_types]
                c.classes = [k for k in c.classes if k not in drop_classes]
                c.kind_words = [w for w in c.kind_words if w != t.text]
                c.nouns = [w for w in c.nouns if w != t.text]
        # "什么状态", "what mode": a which-word before a property asks the property's value
        words = [t for t in c.tokens if t.kinds() != {"filler"}]
        for a, b in pairwise(words):
            if a.has("which") and b.has("prop") and not (b.has("type") or b.has("class")):
                c.which = False
            if a.has("not") and (
                b.has("verb") or not b.kinds() & {"device", "type", "class", "area", "unknown"}
            ):
                c.inverted = True  # (only a question reads it)
        if c.weak_actions and not c.has_intent:
            c.actions = c.weak_actions
        if c.weak_values and not c.has_intent:
            c.values = c.weak_values
        # a number met before its relative word ("两度" after "调高" is fine; "2 degrees warmer")
        if c.rel or c.cmp:
            c.numbers = [
                (v, u, a and bool(_ABSOLUTE_BEFORE.search(norm[: t.start])))
                for (v, u, a), t in zip(
                    c.numbers, [t for t in c.tokens if t.has("number")], strict=False
                )
            ]
        if c.when and not (self._commandish(c) or c.pure_props):  # "厨房的音乐?"
            c.question = True
        # a question word that only starts a command ("can you …") does not make a question
        if (
            c.question
            and not (c.count or c.any or c.asks or c.which)  # "有几个窗帘关着", "哪扇门没锁"
            and self._commandish(c)
            and (not _QUESTION_END.search(norm) or c.polite)
        ):
            c.question = False

    @staticmethod
    def _commandish(c: Clause) -> bool:
        """Whether the clause has a command's words (a verb, a value, a number, an action)."""
        return bool(
            c.actions
            or c.values
            or c.colors
            or c.numbers
            or c.levels
            or c.rel
            or c.cmp
            or [v for v in c.verbs if v != "set"]
            or (c.particles and "set" in c.verbs)  # "can you turn the light on?"
        )

    def _link(self, clauses: list[Clause], ctx: Context) -> list[Clause]:
        """Share intents and targets between clauses (see the module doc)."""
        merged: list[Clause] = []
        for c in clauses:
            prev = merged[-1] if merged else None
            only_asks = (
                c.question
                and not c.polite  # ", please?": no question of its own
                and not c.has_target
                and not (c.props or c.actions or c.values or c.numbers or c.verbs or c.unknown)
            )
            if prev is not None and only_asks:  # "车的续航 | 还有 | 多少"
                prev.question = True
                continue
            if (
                prev is not None
                and prev.has_target
                and not prev.has_intent
                and c.has_intent
                and not c.has_target
            ):
                c.devices, c.areas, c.floors = prev.devices, prev.areas, prev.floors
                c.types, c.classes, c.weak_types = prev.types, prev.classes, prev.weak_types
                c.all = prev.all
                merged[-1] = c
                continue
            merged.append(c)
        for a, b in pairwise(merged):
            self._share_room(a, b)
        for i, c in enumerate(merged[:-1]):
            after = merged[i + 1]  # "书房的风扇和灯都关了吧": the fan is turned off too
            if c.has_target and not c.has_intent and after.has_intent and after.has_target:
                c.take_intent(after)
                c.all = c.all or after.all
                sent = after.areas and not (after.devices or after.types or after.classes)
                if sent and c.devices and self._area_is_arg(after, c.devices):
                    c.areas, c.rest = after.areas, after.rest  # "robot dog, patrol the shop"
                    after.tokens = []
        merged = [c for c in merged if c.tokens]
        for i, c in enumerate(merged):
            before = merged[i - 1] if i else ctx.clause
            if before is None:
                continue
            if not before.has_intent and i:  # "…, the sign and the speaker": the last verb
                said = [b for b in merged[:i] if b.has_intent]
                before = said[-1] if said else before
            if not c.has_intent and c.has_target:
                c.take_intent(before)
                if i == 0 and not (c.devices or c.types or c.classes) and ctx.targets:
                    # "and the kitchen too": the same kind of device as before
                    c.types = list(
                        dict.fromkeys(
                            self.space.devices[d].type
                            for d in ctx.targets
                            if d in self.space.devices
                        )
                    )
        return merged

    def _share_room(self, a: Clause, b: Clause) -> None:
        """Kinds joined by "and" share the room said with them: "the study fan and light",
        "书房的风扇和灯" (a room before the first), "the fan and the lamp in the study" (a room
        after the last) — where that room has such devices."""

        def kinds_only(c: Clause) -> bool:
            return bool(c.types or c.classes) and not (
                c.devices or c.owners or c.areas or c.floors or c.here
            )

        def room_first(c: Clause) -> bool:
            rooms = [t.start for t in c.tokens if t.has("area") or t.has("floor")]
            kinds = [t.start for t in c.tokens if t.has("type") or t.has("class")]
            return bool(rooms and kinds) and min(rooms) < min(kinds)

        def fits(c: Clause, areas: list[str], floors: list[str]) -> bool:
            kinds = set(c.types + c.classes)
            return any(
                (d.type in kinds or f"class:{d.cls}" in kinds)
                and (
                    d.area in areas
                    or (d.area is not None and self.space.areas[d.area].floor in floors)
                )
                for d in self.space.devices.values()
            )

        if kinds_only(b) and (a.areas or a.floors) and (a.types or a.classes):
            if fits(b, a.areas, a.floors):
                b.areas, b.floors = list(a.areas), list(a.floors)
        elif (
            kinds_only(a)
            and (b.areas or b.floors)
            and (b.types or b.classes)
            and not b.devices
            and not room_first(b)
            and fits(a, b.areas, b.floors)
        ):
            a.areas, a.floors = list(b.areas), list(b.floors)

    # -- targets -------------------------------------------------------------------------------

    def _targets(
        self, c: Clause, speaker_area: str | None, ctx: Context
    ) -> tuple[list[Device], str | None]:
        devices = self.space.devices
        if not c.devices and not c.owners and c.unknown:
            c.devices = self._partly_named(c)
        if c.no_room and not (c.areas or c.floors):
            return [], c.no_room  # "the lights in the bathroom", "the bedroom AC": no such room
        named = list(dict.fromkeys(c.devices))
        if len(named) > 1:  # "车里的空调": a name that is a property of another named device
            prop_words = {p for p, _ in c.props}
            keep = []
            for d in named:
                others = [devices[o] for o in named if o != d]
                as_prop = [p for p in prop_words if any(p in o.properties for o in others)]
                if as_prop and self._only_prop_word(c, d):
                    continue
                keep.append(d)
            named = keep or named
        if named and c.areas and not self._area_is_arg(c, named):
            # "the bedroom air conditioner" is not the one in the lounge
            elsewhere = [d for d in named if devices[d].area not in c.areas]
            for d in elsewhere:
                for tok in c.tokens:
                    if ("device", d) in tok.meanings:
                        c.types += [m[1] for m in tok.get("type")]
                        c.classes += ["class:" + m[1] for m in tok.get("class")]
            named = [d for d in named if d not in elsewhere]
        weak = [d for d in named if self._kind_named(c, devices[d])]
        if named and weak == named and (c.count or c.all or c.which or self._any_first(c)):
            named = []  # "有几个房间的空调开着": every AC, not the one called "空调"
        elif named and weak == named and not c.areas and speaker_area in self.space.areas:
            said = {devices[d].type for d in named}
            local = [x for x in devices.values() if x.area == speaker_area and x.type in said]
            if local and not any(devices[d].area == speaker_area for d in named):
                return local, None  # "把空调关了" in the bedroom: the bedroom's
        if named:
            return [devices[d] for d in named], None
        owner = self._unknown_owner(c)
        if owner is not None and not (c.areas or c.owners or c.floors):
            return [], owner  # "冰箱温度调低", "打开厨方灯": what the home does not have
        pool = list(devices.values())
        scoped = False
        if (c.here or c.feeling) and not c.areas and speaker_area in self.space.areas:
            c.areas = [speaker_area]  # "it's too dark in here", "I'm cold": the speaker's room
        if c.owners:  # "王磊今天走了多少步": his devices
            pool = [d for d in pool if d.id in c.owners]
            scoped = True
        if c.outside and not c.areas and not c.floors:
            out = self._outside
            pool = [d for d in pool if d.id in out] or pool
            scoped = len(pool) < len(devices)
        if c.areas:
            pool = [d for d in pool if d.area in c.areas]
            scoped = True
        elif c.floors:
            pool = [d for d in pool if d.area and self.space.areas[d.area].floor in c.floors]
            scoped = True
        kinds = c.types + c.classes
        if not kinds and c.every:  # "every device in the kitchen"
            return pool, None
        if not kinds and scoped and c.weak_types:  # "light up the hall", "lock the garage"
            kinds = c.weak_types
        if (
            not kinds
            and not scoped
            and not c.pronoun
            and not c.props
            and not c.actions
            and not c.values
            and not c.cmp
        ):
            kinds = c.weak_types
        if kinds:
            pool = [
                d
                for d in pool
                if d.type in kinds
                or f"class:{d.cls}" in kinds
                or self._named_fit(d, kinds, c.nouns)
            ]
            pool = self._of_subkind(pool, c.nouns)
            if not scoped and not c.all and speaker_area and speaker_area in self.space.areas:
                here = [d for d in pool if d.area == speaker_area]
                pool = here or pool
            if not pool:
                props = {p for p, _ in c.props}
                recent = [
                    devices[d]
                    for d in ctx.targets
                    if d in devices and props & set(devices[d].properties)
                ]
                if recent:  # "lock the car and close the windows"
                    return recent, None
                return [], " ".join(t.text for t in c.tokens if t.has("type") or t.has("class"))
            return pool, None
        if scoped:
            return pool, None
        if c.pronoun or (not c.props and not c.actions and not c.values and not c.cmp):
            if ctx.targets:
                return [devices[d] for d in ctx.targets if d in devices], None
            if c.unknown:
                return [], " ".join(c.unknown)
            return [], None
        # a property / action / value word alone picks the devices that have it: those just
        # talked about if they have it ("…，温度设成23度"), else any in the space
        props = {p for p, _ in c.props}
        # a comparative's properties in order: the first any device has ("I'm cold": the
        # home's target temperatures, not the car's cabin)
        cmp_order = [p for m in c.cmp for p in m[3]]
        present = [p for p in cmp_order if any(p in d.properties for d in pool)]
        cmp_props = set(present[:1])

        def fits(d: Device) -> bool:
            return bool(
                props & set(d.properties)
                or set(c.actions) & set(d.dtype.actions)
                or any(
                    v in (d.dtype.properties[p].values or ())
                    for v in c.values
                    for p in d.properties
                )
                or (cmp_props & set(d.properties))
                or (c.question and _readings(c) & set(d.properties))
            )

        recent = [devices[d] for d in ctx.targets if d in devices and fits(devices[d])]
        if recent:
            return recent, None
        pool = [d for d in pool if fits(d)]
        # "set the fan speed to 70": a property word with a kind in it is that kind's
        typed = [d for d in pool if d.type in self._kinds_in_props(c)]
        pool = typed or pool
        if len(set(c.actions)) > 1:  # the devices that have most of the action words

            def score(d: Device) -> int:
                return len(set(c.actions) & set(d.dtype.actions))

            best = max((score(d) for d in pool), default=0)
            pool = [d for d in pool if score(d) == best]
        if ctx.targets and (c.cmp or c.rel) and not props:
            return [devices[d] for d in ctx.targets if d in devices], None
        if speaker_area and speaker_area in self.space.areas:
            here = [d for d in pool if d.area == speaker_area]
            pool = here or pool
        if not pool and c.unknown:
            return [], " ".join(c.unknown)
        return pool, None

    @staticmethod
    def _ambiguous(c: Clause, steps: list[Step]) -> tuple[str, list[str]] | None:
        """An English singular type word ("turn on the light") that fits several devices is
        a question back, not a guess; plurals ("the lights"), "all", names, rooms of one such
        device and Chinese (no plural) are not ambiguous."""
        if c.all or c.devices or not c.kind_words or c.question:
            return None
        mass = set(lexicon("en").get("mass_nouns") or ())
        if any(is_cjk(w[0]) or w.endswith("s") or w in mass for w in c.kind_words):
            return None
        devices = list(dict.fromkeys(s.device for s in steps))
        return (c.kind_words[0], devices) if len(devices) > 1 else None

    def _cannot(self, c: Clause, devices: list[Device]) -> tuple[str, dict[str, str]] | None:
        """Why the one device a command named cannot do it: a reading it was told to set
        ("把室外温度改成二十度"), a mode it does not have ("put the heater in cooling mode")."""
        if len(devices) != 1 or not (c.devices or c.owners or c.types):
            return None
        d = devices[0]
        specs = d.dtype.properties
        if c.question:  # "奶奶的手环电量多少": a reading the device does not have
            said = [p for p in c.pure_props if p not in d.properties]
            if said and len(said) == len(c.pure_props) and not c.verbs:
                return ("no_property", {"device": d.id, "property": said[0]})
            return None
        switches = [p for p, _ in c.props if p in d.properties and specs[p].kind == "bool"]
        for v in c.values if not switches else ():  # ("小度静音": its mute, not a ringer)
            enums = [p for p in d.properties if specs[p].writable and specs[p].values]
            if not any(v in (specs[p].values or ()) for p in enums):
                return ("cannot_value", {"device": d.id, "value": v})
        sets = c.numbers or c.levels or c.rel or c.cmp or [v for v in c.verbs if v != "set"]
        readings = [p for p, _ in c.props if p in d.properties and not specs[p].writable]
        if sets and readings:
            return ("read_only", {"device": d.id, "property": readings[0]})
        return None

    def _partly_named(self, c: Clause) -> list[str]:
        """A device named by a word of its name the sentence did not otherwise know ("室外" of
        "室外温度计", "outdoor" of "Outdoor Thermometer"), when one device has it."""
        for word in c.unknown:
            w = normalize(word)
            if len(w) < (2 if is_cjk(w[0]) else 4):
                continue
            hits = []
            for d in self.space.devices.values():
                for name in (d.name, *d.aliases):
                    n = normalize(name)
                    if (w in n) if is_cjk(w[0]) else re.search(rf"\b{re.escape(w)}\b", n):
                        hits.append(d.id)
                        break
            props = {p for p, _ in c.props} | {p for m in c.cmp for p in m[3]}
            kinds = set(c.types + c.classes)
            fit = [
                h
                for h in hits
                if props & set(self.space.devices[h].properties)
                or self.space.devices[h].type in kinds
                or not (props or kinds)
            ]
            if len(fit) == 1:
                c.unknown.remove(word)
                return fit
        return []

    @staticmethod
    def _any_first(c: Clause) -> bool:
        """Whether "any" comes before the kind ("is any TV on"), not after it ("is the TV
        playing anything")."""
        anys = [t.start for t in c.tokens if t.has("any")]
        named = [t.start for t in c.tokens if t.has("device")]
        return bool(anys and named) and min(anys) < min(named)

    def _area_is_arg(self, c: Clause, named: list[str]) -> bool:
        """Whether the room said is where a named device is sent ("patrol the shop"), not
        where it is."""
        for d in named:
            actions = self.space.devices[d].dtype.actions
            for a in c.actions:
                if a in actions and any(arg.name == "area" for arg in actions[a].args):
                    return True
        return False

    def _kinds_in_props(self, c: Clause) -> set[str]:
        """The types whose words are part of the clause's property words ("fan speed")."""
        return {
            kind
            for tok in c.tokens
            if tok.has("prop") and not tok.has("type")
            for kind, w in self._type_words
            if _says(tok.text, w, anywhere=True)
        }

    @staticmethod
    def _unknown_owner(c: Clause) -> str | None:
        """An unknown word right before a property word (fillers between): the device the
        sentence names and the space does not have ("冰箱的温度", "the fridge temperature")."""
        words = [t for t in c.tokens if t.kinds() != {"filler"}]
        for a, b in pairwise(words):
            if a.kinds() == {"unknown"} and b.has("prop"):
                return a.text
            # "打开厨方灯": two or more unknown characters naming a kind's device
            kind = b.has("type") or b.has("class")
            if a.kinds() == {"unknown"} and kind and is_cjk(a.text[0]) and len(a.text) >= 2:
                return a.text
        return None

    @staticmethod
    def _kind_named(c: Clause, d: Device) -> bool:
        """Whether `d` was named by a word that is also its kind's ("空调" for the one AC
        called so, "the car")."""
        return any(
            ("device", d.id) in tok.meanings
            and (("type", d.type) in tok.meanings or ("class", d.cls) in tok.meanings)
            for tok in c.tokens
        )

    def _only_prop_word(self, c: Clause, device_id: str) -> bool:
        """Whether `device_id` was named by a word that is also a property noun."""
        return any(("device", device_id) in tok.meanings and tok.has("prop") for tok in c.tokens)

    # -- intents -------------------------------------------------------------------------------

    def _intent(self, c: Clause, devices: list[Device]) -> tuple[list[Step], list[Question]]:
        steps: list[Step] = []
        questions: list[Question] = []
        explicit = bool(c.devices)
        if c.where and c.devices and not c.areas:
            return [], [  # (a phone or a car: where it is now)
                Question(d.id, "location" if "location" in d.properties else "", how="where")
                for d in devices
            ]
        if c.lists and c.when:  # "开着的灯有哪些": which of them are on
            kind = c.nouns[-1] if c.nouns else ""
            return [], [
                Question(d.id, c.when, expect=True, how="count", kind=kind)
                for d in devices
                if c.when in d.properties
            ]
        if c.lists:
            where = c.areas[0] if len(c.areas) == 1 else None
            kind = c.nouns[-1] if c.nouns else ""
            return [], [Question(d.id, "", how="list", kind=kind, area=where) for d in devices]
        if c.question:
            if explicit:
                devices = list({e.id: e for e in (self._opened_by(c, d) for d in devices)}.values())
            asked = [q for d in devices for q in self._ask(c, d)]
            if not asked and explicit:  # "is the front door closed": its sensor, not its lock
                asked = [q for d in devices for e in self._longer[d.id] for q in self._ask(c, e)]
            has_ro = [q for q in asked if not self._writable(q.device, q.property)]
            if (
                has_ro and "set" not in c.verbs
            ):  # a reading beats a setting: "the temperature in the study"
                ro_devices = {q.device for q in has_ro}
                asked = [q for q in asked if q.device not in ro_devices or q in has_ro]
            return [], asked
        for d in devices:
            mine = self._command(c, d)
            if c.when in d.properties:  # "mute the music": where it is playing
                for s in mine:
                    s.when = c.when
            if mine:
                steps += mine
            elif explicit and len(devices) == 1:
                return [], []
        return steps, questions

    def _writable(self, device_id: str, prop: str) -> bool:
        return self.space.devices[device_id].dtype.properties[prop].writable

    def _ask(self, c: Clause, d: Device) -> list[Question]:
        props = [p for p, _ in c.props if p in d.properties]
        if c.amount:  # "how much charge": the battery level, not whether it is charging
            props = [p for p in props if d.dtype.properties[p].kind in ("int", "float")] or props
            # (and a reading before a setting the same word names: not the charge limit)
            props = [p for p in props if not d.dtype.properties[p].writable] or props
        if not props and c.values:  # "is my phone on silent?": the property with that value
            props = [
                p for p in d.properties if set(c.values) & set(d.dtype.properties[p].values or ())
            ]
        if not props and c.cmp:  # "is it cold in the study?", "冷不冷": the reading it is about
            props = [p for p in d.properties if p in _readings(c)] or [
                p for m in c.cmp for p in m[3] if p in d.properties
            ]
        if not props:  # "is the door locked", "锁了吗", "is the garage door closed"
            props = self._verb_props(c, d)
        if not props:
            # a property word the device lacks is not about it, unless the same word named
            # its kind ("空调" is a car's climate switch and the type air conditioner)
            typed = any(tok.has("prop") and ("type", d.type) in tok.meanings for tok in c.tokens)
            # ("status" of a device without one: its main state, "what's the lock's status")
            generic = all(p == "status" for p, _ in c.props)
            if (c.props and not typed and not generic) or not (
                c.devices or c.types or c.classes or c.every
            ):
                return []
            main = "on" if "on" in d.properties else (d.properties[0] if d.properties else None)
            if "set" in c.verbs and not (c.yes_no or c.particles):  # "what's the heating set to"
                specs = d.dtype.properties
                main = next(
                    (
                        p
                        for p in d.properties
                        if specs[p].writable and specs[p].kind in ("int", "float") and specs[p].unit
                    ),
                    main,
                )
            props = [main] if main else []
        props = list(dict.fromkeys(props))
        if "set" in c.verbs:  # "what is the AC set to": the setting, not the reading
            specs = d.dtype.properties
            rw = [p for p in props if specs[p].writable]
            if not rw and all(q for _, q in c.props):  # "设的是多少度": the setting in the unit
                units = {specs[p].unit for p in props if specs[p].unit}
                rw = [
                    p
                    for p in d.properties
                    if specs[p].writable and specs[p].unit in units and p != "on"
                ]
            if rw:
                return [self._question(c, d, p) for p in rw]
        ro = [p for p in props if not d.dtype.properties[p].writable]
        return [self._question(c, d, p) for p in (ro or props)]

    @staticmethod
    def _verb_props(c: Clause, d: Device) -> list[str]:
        """The properties a question's verb asks about on `d`: locked, on, or whether it is
        open (a cover's position, a window's `…_open`, a door sensor's contact)."""
        props: list[str] = []
        for v in [*c.verbs, *c.particles]:
            if v in ("lock", "unlock") and "locked" in d.properties:
                props.append("locked")
            elif v in ("on", "off") and "on" in d.properties:
                props.append("on")
            elif v in ("open", "close", "on", "off"):
                props += [
                    p
                    for p in d.properties
                    if is_position(p) or p.endswith("_open") or p == "contact"
                ]
        return list(dict.fromkeys(props))

    def _opened_by(self, c: Clause, d: Device) -> Device:
        """The device a question about whether `d` is open or closed is about: `d`, or,
        when `d` cannot say (a lock), a device named after it that can ("Front Door
        Sensor" for "the front door")."""
        if not set(c.verbs) & {"open", "close"} or "on" in d.properties:
            return d
        if self._verb_props(c, d):
            return d
        return next((e for e in self._longer[d.id] if self._verb_props(c, e)), d)

    def _question(self, c: Clause, d: Device, prop: str) -> Question:
        """A question about `prop` of `d`, with the state a yes/no, "how many" or "are all"
        question asks about (its verb: on, off, open, closed, locked …)."""
        how = "count" if c.count or c.which else "any" if c.any else "all" if c.all else None
        kind = c.nouns[0] if c.nouns else ""  # (the type and class words said)
        expect = None
        asked_values = [v for v in c.values if v in (d.dtype.properties[prop].values or ())]
        if asked_values and (c.yes_no or how):
            return Question(d.id, prop, expect=asked_values[0], how=how, kind=kind)
        if c.yes_no or how:
            verb = next((v for v in c.verbs if v in _ASKED), None)
            if verb is None and c.particles:
                verb = c.particles[-1]
            expect = _ASKED.get(verb or "")
            if prop == "locked" and verb in ("on", "off", "open", "close"):  # "后门关好了吗"
                expect = verb in ("off", "close")
            if expect is None and prop in ("contact",):  # "is the back door closed" (a sensor)
                expect = "closed"
            if expect is None and d.dtype.properties[prop].kind == "bool":
                expect = True  # "is it charging?", "is motion detected?"
            opens = is_position(prop) or prop == "contact" or prop.endswith("_open")
            if opens and isinstance(expect, bool) and verb is not None:  # open or closed
                expect = "open" if expect else "closed"  # ("车库门关着吗")
            if c.inverted and expect is not None:  # "哪扇门没锁"
                expect = opposite(expect)
        return Question(d.id, prop, expect=expect, how=how, kind=kind)

    def _command(self, c: Clause, d: Device) -> list[Step]:
        t = d.dtype
        props = d.properties
        if c.pure_props and not set(c.pure_props) & set(props):
            return []  # "the bedroom temperature" is not about the bedroom's lights
        hints = [p for p, q in c.props if p in props and not q and t.properties[p].writable]
        # 1. action words
        acts = [a for a in c.actions if a in t.actions]
        if len(acts) > 1:  # "暂停扫地": pause is the action, 扫地 says which device
            acts = acts[:1]
        if acts:
            return [Step(d.id, action=a, args=self._args(c, d, a)) for a in dict.fromkeys(acts)]
        # 1b. colour words: a light that takes colours
        if c.colors:
            if "color" in props and t.properties["color"].writable:
                number = self._numeric(c, d, hints, None) if c.numbers or c.levels else None
                # "make the strip red at twenty percent": the colour and the brightness
                return [Step(d.id, property="color", value=c.colors[0])] + (
                    [number] if number is not None else []
                )
            return []
        # 2. enum value words
        for v in c.values:
            cands = [
                p for p in props if t.properties[p].writable and v in (t.properties[p].values or ())
            ]
            cands.sort(key=lambda p: p not in hints)
            if cands and self._polarity(c) == "off":  # "take the phone off silent"
                spec = t.properties[cands[0]]
                other = [x for x in (spec.values or ()) if x != v]
                back = spec.default if spec.default in other else (other or [v])[0]
                return [Step(d.id, property=cands[0], value=back)]
            if not cands:  # "send the vacuum home": the action that brings it to that state
                action = self._action_to(d, v)
                if action is not None:
                    return [Step(d.id, action=action)]
            if cands:
                chosen = [Step(d.id, property=cands[0], value=v)]
                if c.numbers:
                    number = self._numeric(c, d, hints, self._polarity(c))
                    if number is not None:
                        chosen.append(number)
                return chosen
        if c.values and not c.numbers and not [p for p in hints if t.properties[p].kind == "bool"]:
            return []  # "cooling mode" on a heat-only heater: not another thing
        steps: list[Step] = []
        polar = self._polarity(c)
        opens = any(is_position(p) for p in props)
        if opens and "on" not in props and polar in ("on", "off"):  # "开一下院门": open it
            polar = "open" if polar == "on" else "close"
        # "pull the shutter down": a bare up / down moves a cover all the way
        bare = [
            "open" if m[1] == "up" else "close"
            for t in c.tokens
            if t.has("filler")
            for m in t.get("rel")
        ]
        moved = c.rel_verbs or bare
        if moved and opens and not (c.numbers or c.small or c.levels or hints):
            step = self._polar_step(c, d, hints, moved[0])  # "lower the blind"
            if step is not None:
                return [step]
        # 3. numbers, levels and relative changes
        numeric = self._numeric(c, d, hints, polar)
        if polar in ("on",) or polar == "preheat":
            if numeric is None:
                on = self._switch(c, d, hints, True, preheat=polar == "preheat")
                if on is None and polar == "on":
                    on = self._lock_as_door(d, True)
                if on is not None:
                    steps.append(on)
        elif polar is not None and numeric is None:
            step = self._polar_step(c, d, hints, polar)
            if step is not None:
                steps.append(step)
        if (
            numeric is not None
            and (polar != "off" or "close" in c.verbs)
            and not (polar == "close" and not (c.levels or c.numbers))
        ):
            steps.append(numeric)
        if steps:
            for s in steps:
                s.or_on = c.feeling and s.delta is not None  # "I'm cold": an AC that is off goes on
            return steps
        if (
            c.feeling
            and c.feel_names
            and d.id in self._named_with(c.feel_names)
            and "on" in props
            and t.properties["on"].writable
        ):  # "I'm freezing" where only a heater warms: the heater on
            return [Step(d.id, property="on", value=True)]
        # 4. a bool property named alone: "make it oscillate", "mute the speaker"
        bools = [p for p in hints if t.properties[p].kind == "bool"]
        if bools and polar is None:
            return [Step(d.id, property=bools[0], value=True)]
        return []

    @staticmethod
    def _action_to(d: Device, value: str) -> str | None:
        """The action (without arguments) that ends in a state with `value` (a reading's:
        "docked" is what `dock()` leads to)."""
        for name, spec in d.dtype.actions.items():
            if any(a.required for a in spec.args):
                continue
            if value in spec.already.values() or any(
                value in (eff.set or {}).values() for eff in spec.effects
            ):
                return name
        return None

    def _args(self, c: Clause, d: Device, action: str) -> dict[str, Any]:
        """Text arguments of an action from the words after it ("follow me", "patrol the
        garden"); other required arguments stay missing, and the executor says so."""
        spec = d.dtype.actions[action]
        text = " ".join(c.rest).strip()
        if not text:
            for tok in c.tokens:
                if ("action", action) in tok.meanings:
                    words = tok.text.split()
                    name = action.replace("_", " ")
                    if len(words) > 1 and tok.text.startswith(name):
                        text = tok.text[len(name) :].strip()
        if not text:  # "follow me", "跟着我": the speaker
            for tok in c.tokens:
                if ("action", action) in tok.meanings:
                    me = [w for lang in LANGS for w in lexicon(lang).get("me") or ()]
                    if any(w in tok.text.split() or (is_cjk(w[0]) and w in tok.text) for w in me):
                        text = "me"
        out: dict[str, Any] = {}
        for arg in spec.args:
            if arg.name == "area" and len(c.areas) == 1:  # "让旺财去店里巡逻": the room said
                out[arg.name] = self.space.areas[c.areas[0]].name[: arg.max_length]
            elif arg.kind == "str" and arg.required and text:
                out[arg.name] = text[: arg.max_length]
        return out

    def _polarity(self, c: Clause) -> str | None:
        verbs = [v for v in c.verbs if v != "set"]
        for v in verbs:  # the first one said: "unlock the front door lock" unlocks it
            if v in ("lock", "unlock", "preheat"):
                return v
        if verbs:
            return (
                verbs[0]
                if verbs[0] not in ("open", "close") or not (set(verbs) & {"on", "off"})
                else ("on" if verbs[0] == "open" or "on" in verbs else "off")
            )
        if c.particles:
            return c.particles[-1]
        return None

    def _switch(
        self, c: Clause, d: Device, hints: list[str], value: bool, *, preheat: bool = False
    ) -> Step | None:
        t = d.dtype
        bool_hints = [p for p in hints if t.properties[p].kind == "bool"]
        if bool_hints:
            return Step(d.id, property=bool_hints[0], value=value)
        num_hints = [p for p in hints if t.properties[p].kind in ("int", "float")]
        if num_hints and not preheat:
            spec = t.properties[num_hints[0]]
            if spec.min is not None and spec.max is not None:
                return Step(
                    d.id, property=num_hints[0], value=_whole(spec, spec.max if value else spec.min)
                )
        if preheat:
            for p in d.properties:
                sw = t.properties[p].switch
                if sw and sw in d.properties and t.properties[p].unit == "°C":
                    return Step(d.id, property=sw, value=value)
        if "open" in t.actions and "open" in c.verbs and value:
            return Step(d.id, action="open")
        if "on" in d.properties and t.properties["on"].writable:
            return Step(d.id, property="on", value=value)
        if value and "start" in t.actions and not c.props:
            return Step(d.id, action="start")
        return None

    def _polar_step(self, c: Clause, d: Device, hints: list[str], polar: str) -> Step | None:
        t = d.dtype
        value = _POLAR.get(polar, True)
        if polar in ("lock", "unlock"):
            if polar in t.actions:
                return Step(d.id, action=polar)
            if "locked" in d.properties:
                return Step(d.id, property="locked", value=value)
            return None
        if polar in ("open", "close"):
            if hints:
                return self._switch(c, d, hints, value)
            if polar in t.actions:
                return Step(d.id, action=polar)
            step = self._switch(c, d, hints, value)
            return step if step is not None else self._lock_as_door(d, value)
        if polar == "stop" and not hints:  # "stop the vacuum": it stops where it is
            for a in ("stop", "pause"):
                if a in t.actions:
                    return Step(d.id, action=a)
            polar = "off"
        if polar in ("off", "stop"):
            if "close" in c.verbs and "close" in t.actions and not hints:
                return Step(d.id, action="close")
            step = self._switch(c, d, hints, False)
            if step is None and not hints:
                for a in ("stop", "dock", "pause"):
                    if a in t.actions:
                        return Step(d.id, action=a)
            return step if step is not None else self._lock_as_door(d, False)
        step = self._switch(c, d, hints, value)
        return step if step is not None else self._lock_as_door(d, value)

    @staticmethod
    def _lock_as_door(d: Device, open_it: bool) -> Step | None:
        """Opening a lock is unlocking it ("开一下家门"); closing it, locking it."""
        if "locked" not in d.properties or "on" in d.properties:
            return None
        action = "unlock" if open_it else "lock"
        if action in d.dtype.actions:
            return Step(d.id, action=action)
        return Step(d.id, property="locked", value=not open_it)

    def _numeric(self, c: Clause, d: Device, hints: list[str], polar: str | None) -> Step | None:
        if not (c.numbers or c.levels or c.rel or c.cmp or c.small):
            return None
        t = d.dtype
        cands = [
            p
            for p in d.properties
            if t.properties[p].writable and t.properties[p].kind in ("int", "float")
        ]
        if not cands:
            return None
        unit = next((u for _, u, _ in c.numbers if u), None)
        cmp_units = [m[2] for m in c.cmp if m[2]]
        cmp_props = [p for m in c.cmp for p in m[3]]
        chosen: list[str] = [p for p in hints if p in cands]
        if not chosen and c.pure_props:
            # "set the fan speed to 70": not an AC's temperature; "only charge the car to 30
            # percent": not its windows — a number said of a property is that property's
            return None
        if not chosen and cmp_props:
            chosen = [p for p in cmp_props if p in cands]
            if not chosen:
                return None
        want_unit = unit or (cmp_units[0] if cmp_units else None)
        if want_unit is None and polar == "preheat":
            want_unit = "°C"  # "heat the car to 25"

        if not chosen and want_unit:
            chosen = [p for p in cands if t.properties[p].unit == want_unit]
            if not chosen and want_unit != "%":
                return None
        if not chosen and polar in ("open", "close"):
            chosen = [p for p in cands if is_position(p)]
        if not chosen:
            chosen = [p for p in cands if t.properties[p].unit == "%"] or cands
        prop = chosen[0]
        spec = t.properties[prop]
        direction = None
        if c.rel:
            direction = c.rel[0]
        elif c.cmp:
            direction = c.cmp[0][1]
        if direction is not None and not (c.levels and not c.numbers):  # "dim it to a quarter"
            sign = 1.0 if direction == "up" else -1.0
            rel_numbers = [(v, u) for v, u, a in c.numbers if not a]
            if rel_numbers:
                return Step(d.id, property=prop, delta=sign * rel_numbers[0][0])
            abs_numbers = [v for v, _, a in c.numbers if a]
            if abs_numbers:
                return Step(d.id, property=prop, value=_whole(spec, abs_numbers[0]))
            step = SMALL_STEP.get(spec.unit or "", DEFAULT_STEP)
            if spec.unit not in SMALL_STEP and spec.min is not None and spec.max is not None:
                step = (spec.max - spec.min) / 10
            return Step(d.id, property=prop, delta=sign * step)
        if c.numbers:
            return Step(d.id, property=prop, value=_whole(spec, c.numbers[0][0]))
        if c.levels and spec.min is not None and spec.max is not None:
            level = c.levels[0]
            if direction is not None and level in ("max", "min"):  # "lower it all the way"
                level = "max" if direction == "up" else "min"
            elif polar in ("open", "close") and level in ("max", "min"):  # "close it all the way"
                level = "max" if polar == "open" else "min"
            x = spec.min + _LEVELS.get(level, 0.5) * (spec.max - spec.min)
            return Step(d.id, property=prop, value=_whole(spec, x))
        return None


def _readings(c: Clause) -> set[str]:
    """The readings a comparative or a feeling in a question asks about ("is it cold": the
    temperatures measured)."""
    return {r for m in c.cmp for p in m[3] for r in _READING_OF.get(p, ())}


def _subkind_words(dtype: str) -> dict[str, set[str]]:
    """Lexicon `subkinds` of a type, both languages: {"heater": {"heater", "取暖器", …}}."""
    out: dict[str, set[str]] = {}
    for lang in LANGS:
        for sub, words in ((lexicon(lang).get("subkinds") or {}).get(dtype) or {}).items():
            out.setdefault(str(sub), set()).update(normalize(str(w)) for w in words)
    return out


def _says(name: str, word: str, anywhere: bool = False) -> bool:
    """Whether a (normalized) name ends with `word` (or has it anywhere), as a whole word
    in English."""
    if is_cjk(word[0]):
        return word in name if anywhere else name.endswith(word)
    end = "" if anywhere else "$"
    return bool(re.search(rf"(?<![a-z0-9]){re.escape(word)}(?![a-z0-9]){end}", name))


def _whole(spec: Any, x: float) -> Any:
    if spec.kind == "int" and float(x).is_integer():
        return int(x)
    return x
