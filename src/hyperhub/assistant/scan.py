"""Find the known phrases of a sentence: device, area and floor names from the space, and the
lexicon's words (both languages at once, so mixed sentences work), plus numbers.

`Gazetteer.scan(text)` returns `Token`s left to right, longest match first; what matches
nothing comes back as `unknown` tokens so the matcher can tell how much it understood.
English phrases match whole words only; Chinese ones anywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from hyperhub.assistant.lexicon import LANGS, humanize, lexicon
from hyperhub.assistant.numbers import NUMBER, normalize, read_number
from hyperhub.space import Space
from hyperhub.spec.words import colors

Meaning = tuple[Any, ...]  # (kind, payload…), e.g. ("device", "kitchen_light")


@dataclass
class Token:
    text: str
    start: int
    meanings: list[Meaning] = field(default_factory=list)

    def kinds(self) -> set[str]:
        return {m[0] for m in self.meanings}

    def get(self, kind: str) -> list[Meaning]:
        return [m for m in self.meanings if m[0] == kind]

    def has(self, kind: str) -> bool:
        return any(m[0] == kind for m in self.meanings)


def floor_levels(floors: list[str]) -> dict[int, list[str]]:
    """The space's floor names by level, from the lexicons' floor words (see en.yaml)."""
    known: dict[str, int] = {}
    for lang in LANGS:
        for level, words in (lexicon(lang).get("floors") or {}).items():
            for w in words:
                known[normalize(str(w))] = int(level)
    out: dict[int, list[str]] = {}
    unplaced = []
    for f in floors:
        level = known.get(normalize(f))
        if level is None:
            unplaced.append(f)
        else:
            out.setdefault(level, []).append(f)
    if len(floors) == 2 and len(unplaced) == 1 and len(out) == 1:
        placed = next(iter(out))
        out.setdefault(placed + 1 if placed == 0 else 0, []).append(unplaced[0])
    return out


# "Wang Lei's phone", "王磊的手表": an owner's name, then the thing
_OWNED = re.compile(r"^\s*(.+?)(?:'s\s|’s\s|的)(.+)$")


def _also_without_de(names: Iterable[str]) -> list[str]:
    """Names, and the Chinese ones also without "的": people say "晓雯手机" and "豆豆房间" for
    "晓雯的手机" and "豆豆的房间"."""
    out = list(names)
    out += [n.replace("的", "") for n in out if "的" in n and n.replace("的", "")]
    return out


def _edits(a: str, b: str, limit: int) -> int:
    """Optimal string alignment distance of `a` and `b` (a swap of two letters is one
    edit), or `limit` once it is at least that."""
    prev2: list[int] = []
    prev = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        cur = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                cur[j] = min(cur[j], prev2[j - 2] + 1)
        if min(cur) >= limit:
            return limit
        prev2, prev = prev, cur
    return min(prev[-1], limit)


def _ascii_word(ch: str) -> bool:
    return ch.isascii() and (ch.isalnum() or ch in "'")


def is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff"


class Gazetteer:
    """The phrases of one space in both languages, in a character trie."""

    def __init__(self, space: Space) -> None:
        self.space = space
        self._trie: dict[str, Any] = {}
        self._words: set[str] = set()  # the English words of every phrase (typo fixes)
        self._add_lexicon()
        self._add_space(space)

    # -- building ----------------------------------------------------------------------------

    def add(self, phrase: str, meaning: Meaning) -> None:
        phrase = normalize(phrase)
        if not phrase:
            return
        node = self._trie
        for ch in phrase:
            node = node.setdefault(ch, {})
        found: list[Meaning] = node.setdefault("", [])
        if meaning not in found:
            found.append(meaning)
        self._words.update(w for w in phrase.split() if w.isascii() and w.isalpha())

    def corrected(self, text: str, tokens: list[Token]) -> str | None:
        """`text` with its unknown English words replaced by the one known word each is a
        typo of ("tunr off the big ligth" → "turn off the big light"), or None when there
        is none to fix. A typo is a letter left out or added, or two letters swapped, in a
        word of 4 letters or more; a word with two such fixes stays as it is."""
        fixes: list[tuple[int, int, str]] = []
        for tok in tokens:
            if tok.kinds() != {"unknown"}:
                continue
            for m in re.finditer(r"[a-z]+", tok.text):
                word = m.group()
                fix = self._closest(word)
                if fix is not None:
                    start = tok.start + m.start()
                    fixes.append((start, start + len(word), fix))
        if not fixes:
            return None
        out, at = [], 0
        for start, end, fix in fixes:
            out += [text[at:start], fix]
            at = end
        return "".join(out) + text[at:]

    def _closest(self, word: str) -> str | None:
        if len(word) < 4 or word in self._words:
            return None
        stems = (word[:-1], word[:-2], word[:-3], word[:-3] + "e", word[:-2] + "e")
        if word.endswith(("s", "ed", "ing", "er")) and any(x in self._words for x in stems):
            return None  # "switched", "lights", "dimmer": a known word, inflected
        # a letter left out or added, or two swapped — not one changed, which turns real
        # words into others ("cooking" is not "cooling")
        fits = [
            k
            for k in self._words
            if abs(len(k) - len(word)) <= 1
            and len(k) >= 3
            and (sorted(k) == sorted(word) or len(k) != len(word))
            and _edits(word, k, 2) == 1
        ]
        if len(fits) > 1:  # "opne": "open" (two letters swapped), not "one"
            fits = [k for k in fits if sorted(k) == sorted(word)]
        return fits[0] if len(fits) == 1 else None

    def _add_many(self, phrases: Iterable[str], meaning: Meaning) -> None:
        for p in phrases:
            self.add(str(p), meaning)

    def _add_lexicon(self) -> None:
        # every device's own type: a device may take fewer values than others of its type
        # (an oil heater's modes), so one per type name would lose the others' values
        dtypes = {id(d.dtype): d.dtype for d in self.space.devices.values()}.values()
        space_types = {t.type for t in dtypes}
        props = {p for t in dtypes for p in t.properties}
        actions = {a for t in dtypes for a in t.actions}
        values = {v for t in dtypes for p in t.properties.values() for v in p.values or ()}
        for lang in LANGS:
            lex = lexicon(lang)
            for verb, ws in (lex.get("verbs") or {}).items():
                self._add_many(ws, ("verb", verb))
            for part, ws in (lex.get("particles") or {}).items():
                self._add_many(ws, ("particle", part))
            for direction, ws in (lex.get("relative") or {}).items():
                self._add_many(ws, ("rel", direction))
            for word, spec in (lex.get("comparatives") or {}).items():
                self.add(
                    word, ("cmp", spec["dir"], spec.get("unit"), tuple(spec.get("property") or ()))
                )
                if spec.get("verb"):
                    self.add(word, ("verb", "set"))
            for word, spec in (lex.get("implied") or {}).items():
                names = tuple(str(n) for n in spec.get("names") or ())
                self.add(word, ("implied", spec["verb"], tuple(spec.get("types") or ()), names))
            for word, spec in (lex.get("feelings") or {}).items():
                self.add(word, ("cmp", spec["dir"], None, tuple(spec["property"])))
                self.add(word, ("feeling", tuple(str(n) for n in spec.get("names") or ())))
            if "color" in props:
                for value, ws in colors(lang).items():
                    self._add_many(ws, ("color", value))
            self._add_many(lex.get("small_step") or (), ("small",))
            for level, ws in (lex.get("levels") or {}).items():
                self._add_many(ws, ("level", level))
            self._add_many((lex.get("quantifiers") or {}).get("all") or (), ("all",))
            self._add_many(lex.get("count") or (), ("count",))
            self._add_many(lex.get("negations") or (), ("negation",))
            self._add_many(lex.get("asks") or (), ("asks",))
            self._add_many(lex.get("any") or (), ("any",))
            self._add_many(lex.get("devices") or (), ("devices",))
            self._add_many(lex.get("which") or (), ("which",))
            self._add_many(lex.get("amount") or (), ("amount",))
            self._add_many(lex.get("pronouns") or (), ("pronoun",))
            self._add_many(lex.get("conjunctions") or (), ("conj",))
            self._add_many(lex.get("questions") or (), ("question",))
            self._add_many(lex.get("yes") or (), ("yes",))
            self._add_many(lex.get("no") or (), ("no",))
            self._add_many(lex.get("filler") or (), ("filler",))
            self._add_many(lex.get("injection") or (), ("inject",))
            self._add_many(lex.get("here") or (), ("here",))
            self._add_many(lex.get("outside") or (), ("outside",))
            self._add_many(lex.get("rooms") or (), ("room",))
            for words in (lex.get("floors") or {}).values():  # "upstairs" in a bungalow
                self._add_many(words, ("room",))
            self._add_many(lex.get("where") or (), ("where",))
            self._add_many(lex.get("purpose") or (), ("purpose",))
            self._add_many(lex.get("not_state") or (), ("not",))
            self._add_many(lex.get("polite") or (), ("polite",))
            for t, ws in (lex.get("types") or {}).items():
                if t in space_types:
                    self._add_many(ws, ("type", t))
                    if lang == "en":  # "the ACs", "two TVs": plurals the list does not give
                        self._add_many(
                            (f"{w}s" for w in ws if w[-1:].isalpha() and not w.endswith("s")),
                            ("type", t),
                        )
            for c, ws in (lex.get("classes") or {}).items():
                self._add_many(ws, ("class", c))
            for p, ws in (lex.get("properties") or {}).items():
                if p in props:
                    for w in ws:
                        query_only = w.startswith("?")
                        self.add(w.lstrip("?"), ("prop", p, query_only))
            for v, ws in (lex.get("values") or {}).items():
                if v in values:
                    self._add_many(ws, ("value", v))
            for a, ws in (lex.get("actions") or {}).items():
                if a in actions:
                    self._add_many(ws, ("action", a))
        # every property, action, value and type is at least its own name, where the
        # lexicon does not already give that phrase a meaning ("open" stays a verb)
        for name in props:
            self._fallback(humanize(name), ("prop", name, False))
        for name in actions:
            self._fallback(humanize(name), ("action", name))
        for v in values:
            self._fallback(humanize(v), ("value", v))
        for t in space_types:
            self._fallback(humanize(t), ("type", t))

    def _fallback(self, phrase: str, meaning: Meaning) -> None:
        end, found = self._longest(normalize(phrase), 0)
        if end == len(normalize(phrase)) and found:
            return
        self.add(phrase, meaning)

    def _add_space(self, space: Space) -> None:
        floors: list[str] = []
        for area in space.areas.values():
            for name in _also_without_de((area.name, *area.aliases, area.id, humanize(area.id))):
                self.add(name, ("area", area.id))
            if area.floor and area.floor not in floors:
                floors.append(area.floor)
                self.add(area.floor, ("floor", area.floor))
                if any(ch.isdigit() for ch in area.floor):  # "12" → 12楼, 12层, floor 12
                    f = area.floor
                    for form in (f"{f}楼", f"{f}层", f"{f}f", f"floor {f}", f"level {f}"):
                        self.add(form, ("floor", f))
        for level, floor_names in floor_levels(floors).items():
            for lang in LANGS:
                words = (lexicon(lang).get("floors") or {}).get(str(level)) or []
                for w in words:
                    for f in floor_names:
                        self.add(w, ("floor", f))
        for dev in space.devices.values():
            for name in _also_without_de((dev.name, *dev.aliases, dev.id, humanize(dev.id))):
                self.add(name, ("device", dev.id))
        self._add_owners(space)

    def _add_owners(self, space: Space) -> None:
        """Whose a device is, from its names: "Wang Lei's phone" and "王磊的手表" make "Wang
        Lei" and "王磊" owner words ("王磊今天走了多少步" asks about his watch). Words that own
        the same device are one person ("Wang Lei's phone" is "王磊的手机"), so each means all
        of that person's devices. A name that is an area ("豆豆房间的灯"), or a word the lexicon
        knows ("我的手机"), is not an owner."""
        owned: dict[str, set[str]] = {}
        for dev in space.devices.values():
            for name in (dev.name, *dev.aliases):
                m = _OWNED.match(name)
                if m is None:
                    continue
                owner = normalize(m.group(1))
                end, meanings = self._longest(owner, 0)
                if owner and not (end == len(owner) and meanings):
                    owned.setdefault(owner, set()).add(dev.id)
        for area in space.areas.values():  # "Xiaoyu's fan": the fan in Xiaoyu's Room
            inside = {d.id for d in space.devices.values() if d.area == area.id}
            for name in (area.name, *area.aliases):
                m = _OWNED.match(name)
                if m is None or not inside:
                    continue
                owner = normalize(m.group(1))
                end, meanings = self._longest(owner, 0)
                if owner and not (end == len(owner) and meanings):
                    owned.setdefault(owner, set()).update(inside)
        changed = True
        while changed:  # one person's words share their devices
            changed = False
            for a in owned:
                for b in owned:
                    if owned[a] & owned[b] and owned[a] != owned[b]:
                        owned[a] = owned[b] = owned[a] | owned[b]
                        changed = True
        for owner, ids in owned.items():
            for dev_id in sorted(ids):
                self.add(owner, ("owner", dev_id))

    # -- scanning ----------------------------------------------------------------------------

    def scan(self, text: str) -> list[Token]:
        """Tokens of the (already normalised) `text`, left to right."""
        out: list[Token] = []
        i, n = 0, len(text)
        while i < n:
            ch = text[i]
            if ch == " ":
                i += 1
                continue
            at_word_start = i == 0 or not _ascii_word(text[i - 1])
            end, meanings = (
                self._longest(text, i) if at_word_start or not _ascii_word(ch) else (i, [])
            )
            num_end, number = (
                self._number(text, i) if at_word_start or not _ascii_word(ch) else (i, None)
            )
            named = any(m[0] in ("floor", "area", "device") for m in meanings)
            if number is not None and (num_end > end or (num_end == end and not named)):
                out.append(Token(text[i:num_end], i, [("number", *number)]))
                i = num_end
            elif end > i:
                out.append(Token(text[i:end], i, meanings))
                i = end
            else:
                j = i + 1
                if _ascii_word(ch):
                    while j < n and _ascii_word(text[j]):
                        j += 1
                if (
                    out
                    and out[-1].meanings == [("unknown",)]
                    and is_cjk(ch)
                    and is_cjk(out[-1].text[-1])
                ):
                    out[-1].text += text[i:j]
                else:
                    out.append(Token(text[i:j], i, [("unknown",)]))
                i = j
        return out

    def _matches(self, text: str, i: int) -> list[tuple[int, list[Meaning]]]:
        """Every phrase that starts at `i`, longest first."""
        node = self._trie
        found: list[tuple[int, list[Meaning]]] = []
        j = i
        while j < len(text) and text[j] in node:
            node = node[text[j]]
            j += 1
            if "" in node:
                last = text[j - 1]
                ends_word = j == len(text) or not _ascii_word(text[j]) or not _ascii_word(last)
                if ends_word:
                    found.append((j, list(node[""])))
        found.reverse()
        return found

    def _longest(self, text: str, i: int) -> tuple[int, list[Meaning]]:
        """The phrase at `i`: the longest, unless a shorter one lets the next phrase reach as
        far and mean more than filler ("门锁上" is "门" + "锁上", not "门锁" + "上")."""
        found = self._matches(text, i)
        if not found:
            return i, []
        if len(found) == 1:
            return found[0]

        def reach(end: int) -> tuple[int, bool]:
            k = end
            while k < len(text) and text[k] == " ":
                k += 1
            nxt = self._matches(text, k)
            if not nxt:
                return end, False
            return nxt[0][0], {m[0] for m in nxt[0][1]} != {"filler"}

        best = found[0]
        best_reach = reach(best[0])
        longest_end = best[0]
        for cand in found[1:]:
            r = reach(cand[0])
            if r[0] > longest_end and r > best_reach:
                best, best_reach = cand, r
        return best

    @staticmethod
    def _number(text: str, i: int) -> tuple[int, tuple[float, str | None] | None]:
        m = NUMBER.match(text, i)
        if not m or m.end() == i:
            return i, None
        end = m.end()
        if end < len(text) and _ascii_word(text[end - 1]) and _ascii_word(text[end]):
            return i, None
        value = read_number(m)
        if value is None:
            return i, None
        # drop trailing spaces the unit's \s* may have eaten without a unit
        while end > i and text[end - 1] == " ":
            end -= 1
        return end, value
