"""Questions about one device's property, and about a room's reading."""

from __future__ import annotations

from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase
from hyperhub.assistant.training.phrasing.words import ASK, BOOL, PROP, ROOM_Q


class QuestionPhrases(PhraserBase):
    def _question(self) -> Clause | None:
        rng = self.rng
        # "how warm is it in the den": the one device of the room that reads it
        if rng.random() < 0.2:
            clause = self._room_question()
            if clause is not None:
                return clause
        d = self._pick(
            lambda d: any(p in PROP or p in BOOL or p in ASK for p, _ in device_props(d))
        )
        if d is None:
            return None
        props = [p for p, _ in device_props(d) if p in PROP or p in BOOL or p in ASK]
        prop = rng.choice(props)
        spec = d.dtype.properties[prop]
        ref = self._ref(d)
        if ref is None:
            return None
        if spec.kind == "bool":
            en, zh = ASK.get(
                prop, (("is {r} " + prop.replace("_", " ") + "?",), ("{r}" + prop + "吗",))
            )
            pool: tuple[str, ...] | list[str] = en if self._lang == "en" else zh
        else:
            en_p, zh_p = PROP[prop]
            if self._lang == "en":
                pw = rng.choice(en_p)
                pool = [
                    f"what's the {pw} of {{r}}?",
                    f"what is {{p}} {pw}?",
                    f"{{p}} {pw}?",
                    f"tell me {{p}} {pw}",
                    f"check the {pw} on {{r}}",
                    f"what {pw} is {{r}} at",
                    f"how about {{p}} {pw}?",
                ]
                pool += list(ASK.get(prop, ((), ()))[0])
            else:
                pw = rng.choice(zh_p)
                pool = [
                    f"{{r}}的{pw}是多少",
                    f"{{r}}{pw}多少",
                    f"查一下{{r}}的{pw}",
                    f"{{r}}现在{pw}是多少",
                    f"看看{{r}}{pw}",
                    f"告诉我{{r}}的{pw}",
                ]
                pool += list(ASK.get(prop, ((), ()))[1])
        text = self._fill(self._t(pool), ref.text)
        return Clause(text, [f"{d.id}.{prop}?"], "question", ref.area)

    def _room_question(self) -> Clause | None:
        rng = self.rng
        areas = list(self.by_area)
        rng.shuffle(areas)
        for area in areas:
            for props, en, zh in ROOM_Q:
                readers = [
                    (d, p) for d in self.by_area[area] for p in props if p in dict(device_props(d))
                ]
                if len({d.id for d, _ in readers}) != 1:
                    continue
                d, p = readers[0]
                name = self._area_name(area)
                pool = en if self._lang == "en" else zh
                text = self._t(pool).replace("{a}", name)
                return Clause(text, [f"{d.id}.{p}?"], "question")
        return None
