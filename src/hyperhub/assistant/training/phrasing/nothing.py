"""Requests whose plan is `none`: things the space does not have, properties a device does
not have, chatter and injection attempts."""

from __future__ import annotations

from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase
from hyperhub.assistant.training.phrasing.words import ABSENT, ABSENT_VERBS, CHATTER, WRONG


class NothingPhrases(PhraserBase):
    def _none(self) -> Clause | None:
        rng = self.rng
        roll = rng.random()
        if roll < 0.45:
            things = [
                (en, zh)
                for en, zh in ABSENT
                if en not in self.known_text and zh not in self.known_text
            ]
            en, zh = rng.choice(things)
            t_en, t_zh = rng.choice(ABSENT_VERBS)
            if self._lang == "en":
                text = t_en.replace("{x}", en if not self._mixed else zh)
                if rng.random() < 0.3 and self.space.areas:
                    text += " in the " + self._area_name(rng.choice(list(self.space.areas)))
            else:
                x = zh if not self._mixed else en
                if rng.random() < 0.3 and self.space.areas:
                    x = (
                        self._area_name(rng.choice(list(self.space.areas)))
                        + rng.choice(("的", ""))
                        + x
                    )
                text = t_zh.replace("{x}", x)
            return Clause(text, [], "none")
        if roll < 0.8:
            return self._wrong_property()
        en, zh = rng.choice(CHATTER)
        return Clause(en if self._lang == "en" else zh, [], "none")

    def _wrong_property(self) -> Clause | None:
        rng = self.rng
        for _ in range(6):
            d = rng.choice(self.devices)
            props = set(dict(device_props(d)))
            acts = set(d.dtype.actions)
            fits = [
                w for w in WRONG if not (w[0] & props) and not (w[1] & acts) and d.type not in w[2]
            ]
            if not fits:
                continue
            ref = self._ref(d)
            if ref is None:
                continue
            _, _, _, en, zh = rng.choice(fits)
            text = self._fill(self._t(en if self._lang == "en" else zh), ref.text)
            return Clause(text, [], "none", ref.area)
        return None
