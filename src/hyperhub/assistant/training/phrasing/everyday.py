"""Everyday shapes (the `everyday` mix): feelings ("I'm cold", "太暗了") as a change in the
speaker's room, requests said as what the speaker is doing ("I'm going to bed", "烧壶水"),
negated commands (nothing is done), and "how many / are all / is any" questions (a question
about each device meant). The words are the matcher's own (`assistant/lexicon`: `feelings`,
`implied`, `negations`), so the model learns the same grammar the matcher reads."""

from __future__ import annotations

from typing import Any

from hyperhub.assistant.lexicon import lexicon
from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase, num
from hyperhub.assistant.training.phrasing.words import GROUP_WORDS, TYPE_REF

# the step of a feeling's change, by unit (as the matcher: docs/assistant.md)
_STEP = {"°C": 1.0, "%": 10.0}
_EN_ME = ("i'm", "i am", "i'm so", "i'm really", "i feel")
_EN_IT = ("it's", "it's a bit", "it's way", "it is")


def _words(section: str, lang: str) -> dict[str, Any]:
    return dict(lexicon(lang).get(section) or {})


class EverydayPhrases(PhraserBase):
    def _feeling(self) -> Clause | None:
        rng = self.rng
        feelings = _words("feelings", self._lang)
        word = rng.choice(sorted(feelings))
        spec = feelings[word]
        areas = [
            a
            for a, devs in self.by_area.items()
            if any(p in d.properties for d in devs for p in spec["property"])
        ]
        if not areas:
            return None
        area = rng.choice(areas)
        items = []
        for d in self.by_area[area]:
            prop = next((p for p in spec["property"] if p in d.properties), None)
            if prop is None or not d.dtype.properties[prop].writable:
                continue
            step = _STEP.get(d.dtype.properties[prop].unit or "", 10.0)
            sign = "+=" if spec["dir"] == "up" else "-="
            items.append(f"{d.id}.{prop}{sign}{num(step)}")
        if not items:
            return None
        if self._lang == "en":
            if word.startswith("too ") or word in ("pitch black", "noisy"):
                text = f"{rng.choice(_EN_IT)} {word}" + rng.choice(("", " in here", ""))
            elif word.startswith("can't"):
                text = f"i {word} " + rng.choice(("anything", "a thing", "it"))
            else:
                text = f"{rng.choice(_EN_ME)} {word}"
        else:
            text = rng.choice((f"{word}了", f"{word}啊", f"屋里{word}", f"这里{word}了", word))
        return Clause(text, items, "feeling", area, plain=True)

    def _implied(self) -> Clause | None:
        rng = self.rng
        implied = _words("implied", self._lang)
        word = rng.choice(sorted(implied))
        spec = implied[word]
        value = "true" if spec["verb"] == "on" else "false"
        area = None
        if spec.get("types"):
            areas = [
                a
                for a, devs in self.by_area.items()
                if any(d.type in spec["types"] and "on" in d.properties for d in devs)
            ]
            if not areas:
                return None
            area = rng.choice(areas)
            devs = [d for d in self.by_area[area] if d.type in spec["types"]]
        else:
            words = [str(w).casefold() for w in spec.get("names") or ()]
            devs = [
                d
                for d in self.devices
                if any(w in n.casefold() for w in words for n in (d.name, *d.aliases))
            ]
        devs = [d for d in devs if "on" in d.properties and d.dtype.properties["on"].writable]
        if not devs:
            return None
        if self._lang == "en":
            lead = "i'm " if word.startswith(("going", "off to")) else ""
            text = rng.choice(("", "ok ", "right, ")) + lead + word
            text = text[:1].upper() + text[1:] if rng.random() < 0.3 else text
        else:
            lead = "我" if word.startswith(("要", "去")) else ""
            text = rng.choice(("", "好了，", "")) + lead + word
        return Clause(text, [f"{d.id}.on={value}" for d in devs], "implied", area, plain=bool(area))

    def _negation(self) -> Clause | None:
        rng = self.rng
        inner = self._clause("switch")  # (a level's "把…调到…" and topic forms read badly negated)
        if inner is None:
            return None
        text = inner.text.rstrip("。！!.?？")
        if self._lang == "en":
            text = rng.choice(("don't ", "please don't ", "do not ", "no need to ")) + text
        else:
            text = rng.choice(("别", "不要", "先别", "不用")) + text.rstrip("了吧")
        return Clause(text, [], "none", inner.area, plain=True)

    def _count(self) -> Clause | None:
        rng = self.rng
        types: dict[str, list[Any]] = {}
        for d in self.devices:
            if "on" in dict(device_props(d)) and d.type in GROUP_WORDS:
                types.setdefault(d.type, []).append(d)
        # (a few: the model learns that these ask, the matcher answers them all at once)
        types = {t: ds for t, ds in types.items() if 2 <= len(ds) <= 5}
        if not types:
            return None
        kind = rng.choice(sorted(types))
        devs = types[kind]
        en_g, zh_g = GROUP_WORDS[kind]
        state = rng.random() < 0.5
        if self._lang == "en":
            g = rng.choice(en_g)
            on = "on" if state else "off"
            text = rng.choice(
                (
                    f"how many {g} are {on}?",
                    f"are all the {g} {on}?",
                    f"is any {TYPE_REF.get(kind, ((g,), ()))[0][0]} {on}?",
                    f"are any of the {g} still {on}?",
                    f"which {g} are {on}?",
                )
            )
        else:
            g = rng.choice(zh_g)
            on = "开着" if state else "关着"
            text = rng.choice(
                (f"有几个{g}{on}", f"{g}都{on}吗", f"有没有{g}{on}", f"哪些{g}还{on}")
            )
        return Clause(text, [f"{d.id}.on?" for d in devs], "count", no_area=True)
