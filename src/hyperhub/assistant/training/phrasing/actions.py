"""Actions (start, dock, honk, notify …), covers (open, close, halfway, a position), a car's
windows, and risky requests (unlock, open a garage, a gate, a door, a trunk)."""

from __future__ import annotations

from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.numbers import cn_words
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase
from hyperhub.assistant.training.phrasing.words import ACTIONS, BOOL, COVER, MEDIA_PAUSE, MESSAGES
from hyperhub.space.model import Device


class ActionPhrases(PhraserBase):
    def _action(self) -> Clause | None:
        def usable(d: Device) -> list[str]:
            has_write = any(s.writable for _, s in device_props(d))
            return [
                a
                for a in d.dtype.actions
                if a in ACTIONS
                and not (has_write and a in ("open", "close", "lock", "unlock"))
                and not (a == "stop" and d.type == "cover")
            ]

        picked = self._pick_first(usable)
        if picked is None:
            return None
        d, action = picked
        ref = self._ref(d)
        if ref is None:
            return None
        en, zh = (
            MEDIA_PAUSE if (action == "pause" and d.type == "media_player") else ACTIONS[action]
        )
        pool = en if self._lang == "en" else zh
        more: dict[str, str] = {}
        args = ""
        if action == "patrol":
            area = self.rng.choice(list(self.space.areas))
            more["a"] = self._area_name(area)
            args = f"area={area}"
        elif action == "follow":
            args = "target=me"
        elif action == "notify":
            m_en, m_zh = self.rng.choice(MESSAGES)
            msg = m_en if self._lang == "en" else m_zh
            more["m"] = msg
            args = f"message={msg}"
        text = self._fill(self._t(pool), ref.text, **more)
        if action == "patrol" and self._lang == "en":
            text = text.replace("the the ", "the ")
        return Clause(text, [f"{d.id}.{action}({args})"], "action", ref.area)

    def _cover(self) -> Clause | None:
        d = self._pick(lambda d: d.type == "cover" or "windows_position" in d.dtype.properties)
        if d is None:
            return None
        if d.type == "car":
            return self._car_windows(d)
        ref = self._ref(d)
        if ref is None:
            return None
        rng = self.rng
        how = rng.choice(("open", "close", "open", "close", "half", "level"))
        value = {"open": 100, "close": 0, "half": 50}.get(how)
        more = {}
        if value is None:
            value = rng.randint(1, 19) * 5
            if self._lang == "en":
                more["v"] = f"{value}" + rng.choice(("%", " percent", "%"))
            else:
                more["v"] = rng.choice((f"{value}%", f"百分之{cn_words(value)}"))
        en, zh = COVER[how]
        pool = en if self._lang == "en" else zh
        text = self._fill(self._t(pool), ref.text, **more)
        return Clause(text, [f"{d.id}.position={value}"], "cover", ref.area)

    def _car_windows(self, d: Device) -> Clause | None:
        ref = self._ref(d)
        if ref is None:
            return None
        up = self.rng.random() < 0.5
        if self._lang == "en":
            pool = (
                ("close {p} windows", "roll up {p} windows", "shut the windows of {r}")
                if up
                else ("open {p} windows", "roll down {p} windows", "open the windows of {r}")
            )
        else:
            pool = (
                ("关上{r}的车窗", "把{r}车窗关上", "{r}车窗升起来")
                if up
                else ("打开{r}的车窗", "把{r}车窗打开", "{r}车窗降下来")
            )
        text = self._fill(self._t(pool), ref.text)
        return Clause(text, [f"{d.id}.windows_position={0 if up else 100}"], "cover", ref.area)

    def _risky_clause(self) -> Clause | None:
        """A request the executor will ask to confirm; its plan is an ordinary one."""
        d = self._pick(
            lambda d: (
                "locked" in d.dtype.properties
                or "trunk_open" in d.dtype.properties
                or d.cls in ("garage", "gate", "door")
            )
        )
        if d is None:
            return None
        ref = self._ref(d)
        if ref is None:
            return None
        rng = self.rng
        if d.type == "cover":
            how = "open" if rng.random() < 0.8 else "half"
            en, zh = COVER[how]
            value = 100 if how == "open" else 50
            text = self._fill(self._t(en if self._lang == "en" else zh), ref.text)
            return Clause(text, [f"{d.id}.position={value}"], "risky", ref.area)
        prop = (
            "trunk_open" if "trunk_open" in d.dtype.properties and rng.random() < 0.4 else "locked"
        )
        en_t, en_f, zh_t, zh_f = BOOL[prop]
        value = prop == "trunk_open"
        if self._lang == "en":
            pool = list(en_t if value else en_f)
            if d.type == "lock":
                pool += ["open {r}", "open up {r}", "let me in through {r}"]
        else:
            pool = list(zh_t if value else zh_f)
            if d.type == "lock":
                pool += ["打开{r}", "把{r}打开", "开一下{r}"]
        text = self._fill(self._t(pool), ref.text)
        return Clause(text, [f"{d.id}.{prop}={'true' if value else 'false'}"], "risky", ref.area)
