"""Commands that set a property: on / off and other true/false properties, an absolute
level, a relative change, a mode, a colour, a media source."""

from __future__ import annotations

from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.numbers import cn_words, en_words
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase, num, primary_property
from hyperhub.assistant.training.phrasing.words import (
    BOOL,
    COLORS,
    ENUM,
    LIGHT_ON,
    LIGHT_ZH_ON,
    PROP,
    SOURCES,
)


class ControlPhrases(PhraserBase):
    def _switch(self) -> Clause | None:
        picked = self._pick_first(
            lambda d: [p for p, s in device_props(d) if p in BOOL and s.writable]
        )
        if picked is None:
            return None
        d, prop = picked
        value = self.rng.random() < 0.5
        ref = self._ref(d)
        if ref is None:
            return None
        en_t, en_f, zh_t, zh_f = BOOL[prop]
        if self._lang == "en":
            pool = list(en_t if value else en_f)
            if prop == "on" and value and d.type == "light":
                pool += LIGHT_ON
            if prop == "on" and d.type in ("climate", "fan", "air_purifier", "media_player"):
                pool.append("start {r}" if value else "stop {r}")
        else:
            pool = list(zh_t if value else zh_f)
            if prop == "on" and value and d.type == "light":
                pool += LIGHT_ZH_ON
            if prop == "on" and value and d.type in ("climate", "fan", "air_purifier"):
                pool.append("启动{r}")
        text = self._fill(self._t(pool), ref.text)
        item = f"{d.id}.{prop}={'true' if value else 'false'}"
        return Clause(text, [item], "switch", ref.area)

    def _level(self) -> Clause | None:
        d = self._pick(lambda d: bool(self._numeric_props(d)) and d.type != "cover")
        if d is None:
            return None
        prop, spec = self.rng.choice(self._numeric_props(d))
        ref = self._ref(d)
        if ref is None:
            return None
        rng = self.rng
        v = self._pick_value(prop, spec)
        vt = self._value_text(prop, spec, v)
        en_p, zh_p = PROP[prop]
        primary = primary_property(d) == prop
        special = rng.random() < 0.25
        if self._lang == "en":
            pw = rng.choice(en_p)
            pool = [
                f"set {{p}} {pw} to {{v}}",
                f"set the {pw} of {{r}} to {{v}}",
                f"change {{p}} {pw} to {{v}}",
                f"{{r}} {pw} {{v}}",
                f"put {{p}} {pw} at {{v}}",
                f"adjust the {pw} on {{r}} to {{v}}",
                f"I want {{p}} {pw} at {{v}}",
                f"{pw} of {{r}} to {{v}}",
                f"make {{p}} {pw} {{v}}",
            ]
            if primary:
                pool += [
                    "set {r} to {v}",
                    "turn {r} to {v}",
                    "{r} to {v}",
                    "put {r} at {v}",
                    "adjust {r} to {v}",
                    "{r} at {v} please",
                ]
            if prop == "brightness":
                pool += ["dim {r} to {v}", "brighten {r} to {v}", "make {r} {v} bright"]
            if prop in ("target_temp", "cabin_target_temp") and special:
                pool = [
                    "heat {r} to {v}",
                    "cool {r} down to {v}",
                    "I want it {v} in {r}" if d.type == "car" else "keep {r} at {v}",
                ]
            if prop == "charge_limit":
                pool += ["charge {r} to {v}", "limit {p} charging to {v}"]
            if prop == "windows_position":
                pool += ["open {p} windows to {v}", "put {p} windows at {v}"]
        else:
            pw = rng.choice(zh_p)
            pool = [
                f"把{{r}}的{pw}调到{{v}}",
                f"{{r}}{pw}调到{{v}}",
                f"{{r}}的{pw}设为{{v}}",
                f"将{{r}}{pw}设置成{{v}}",
                f"{{r}}{pw}{{v}}",
                f"{{r}}{pw}改成{{v}}",
                f"把{{r}}{pw}调成{{v}}",
                f"{{r}}，{pw}调到{{v}}",
            ]
            if primary:
                pool += ["{r}调到{v}", "把{r}调到{v}", "{r}设成{v}", "{r}开到{v}"]
            if prop == "charge_limit":
                pool += ["{r}充到{v}", "{r}充电充到{v}"]
            if prop == "windows_position":
                pool += ["{r}车窗开到{v}", "把{r}的车窗降到{v}"]
        text = self._fill(self._t(pool), ref.text, v=vt)
        return Clause(text, [f"{d.id}.{prop}={num(v)}"], "level", ref.area)

    def _relative(self) -> Clause | None:
        d = self._pick(lambda d: any(p != "color_temp" for p, _ in self._numeric_props(d)))
        if d is None:
            return None
        props = [(p, s) for p, s in self._numeric_props(d) if p != "color_temp"]
        prop, spec = self.rng.choice(props)
        rng = self.rng
        up = rng.random() < 0.5
        degrees = spec.unit == "°C"
        if degrees:
            step = rng.choice((1, 1, 2, 2, 3, 4, 5)) if rng.random() < 0.7 else None
            amount = step or 1
        else:
            step = rng.choice((5, 10, 15, 20, 25, 30)) if rng.random() < 0.35 else None
            amount = step or 10
        ref = self._ref(d)
        # "make the den warmer": the room's one climate device
        area_ref = None
        if degrees and d.area and d.type == "climate":
            same = [x for x in self.by_area.get(d.area, []) if "target_temp" in x.dtype.properties]
            if len(same) == 1 and rng.random() < 0.35:
                area_ref = self._area_name(d.area)
        if ref is None and area_ref is None:
            return None
        item = f"{d.id}.{prop}{'+=' if up else '-='}{num(amount)}"
        r = area_ref if area_ref is not None else ref.text  # type: ignore[union-attr]
        need = None if area_ref is not None else ref.area  # type: ignore[union-attr]
        en_p, zh_p = PROP[prop]
        if self._lang == "en":
            pw = rng.choice(en_p)
            n = num(amount) if rng.random() < 0.7 else en_words(int(amount))
            if degrees:
                if area_ref is not None:
                    r = "the " + r if rng.random() < 0.7 else r
                word = (
                    rng.choice(("warmer", "hotter", "a bit warmer"))
                    if up
                    else rng.choice(("cooler", "colder", "a bit cooler"))
                )
                if step:
                    word = (
                        rng.choice(
                            (f"{n} degrees", f"{n} degree" if amount == 1 else f"{n} degrees")
                        )
                        + " "
                        + ("warmer" if up else "cooler")
                    )
                pool = [f"make {{r}} {word}", f"{{r}} {word}", f"I'd like {{r}} {word}"]
                verb = (
                    rng.choice(("turn up", "raise", "bump up", "increase"))
                    if up
                    else rng.choice(("turn down", "lower", "drop", "decrease", "reduce"))
                )
                by = (
                    f" by {n} degrees"
                    if step
                    else rng.choice((" a bit", " a little", " a degree", " slightly"))
                )
                pool += [f"{verb} {{p}} {pw}{by}", f"{verb} the {pw} on {{r}}{by}"]
                if area_ref is not None:
                    pool = [
                        f"make {{r}} {word}",
                        f"{verb} the {pw} in {{r}}{by}",
                        f"it's too {'cold' if up else 'warm'} in {{r}}, {verb} the heat{by}"
                        if up
                        else f"it's too warm in {{r}}, make it {word}",
                    ]
            else:
                comp = {
                    "brightness": ("brighter", "dimmer"),
                    "volume": ("louder", "quieter"),
                    "speed": ("faster", "slower"),
                }.get(prop)
                verb = (
                    rng.choice(("turn up", "raise", "increase", "bump up", "push up"))
                    if up
                    else rng.choice(("turn down", "lower", "decrease", "reduce", "bring down"))
                )
                by = (
                    f" by {n}" + rng.choice(("", "%", " percent"))
                    if step
                    else rng.choice((" a bit", " a little", " slightly", " a tad", " a notch", ""))
                )
                pool = [
                    f"{verb} {{p}} {pw}{by}",
                    f"{verb} the {pw} of {{r}}{by}",
                    f"{{p}} {pw} {'up' if up else 'down'}{by}",
                ]
                if comp and not step:
                    c = comp[0] if up else comp[1]
                    pool += [
                        f"make {{r}} {c}",
                        f"{{r}} a bit {c}",
                        f"make {{r}} a little {c}",
                        f"{{r}} {c} please",
                        f"can {{r}} be {c}",
                    ]
                    if prop == "brightness" and not up:
                        pool += ["dim {r} a bit", "dim {r}"]
                if comp and step:
                    c = comp[0] if up else comp[1]
                    pool += [f"make {{r}} {n}% {c}", f"{{r}} {n} percent {c}"]
        else:
            pw = rng.choice(zh_p)
            n = num(amount) if rng.random() < 0.5 else ("两" if amount == 2 else cn_words(amount))
            verb = (
                rng.choice(("调高", "升高", "提高", "加"))
                if up
                else rng.choice(("调低", "降低", "减", "降"))
            )
            if degrees:
                if area_ref is not None:
                    pool = [
                        f"{{r}}温度{verb}{n}度" if step else f"{{r}}温度{verb}一点",
                        f"{{r}}{'暖和一点' if up else '凉快一点'}"
                        if not step
                        else f"把{{r}}温度{verb}{n}度",
                    ]
                elif step:
                    pool = [
                        f"{{r}}{verb}{n}度",
                        f"把{{r}}{verb}{n}度",
                        f"{{r}}{pw}{verb}{n}度",
                        f"{{r}}的{pw}{verb}{n}度",
                        f"{{r}}再{verb}{n}度",
                    ]
                else:
                    pool = [
                        f"{{r}}{verb}一点",
                        f"{{r}}{'暖和一点' if up else '凉快一点'}",
                        f"{{r}}{pw}{verb}一点",
                        f"{{r}}调{'高' if up else '低'}一度",
                        f"{{r}}{'热一点' if up else '冷一点'}",
                    ]
            else:
                if step:
                    pool = [
                        f"{{r}}{pw}{verb}{n}",
                        f"把{{r}}的{pw}{verb}{n}%",
                        f"{{r}}{pw}{verb}百分之{n}" if not n.isdigit() else f"{{r}}{pw}{verb}{n}%",
                    ]
                else:
                    pool = [
                        f"{{r}}{pw}{verb}一点",
                        f"把{{r}}{pw}调{'大' if up else '小'}一点",
                        f"{{r}}{pw}{'高' if up else '低'}一点",
                        f"{{r}}{pw}再{'大' if up else '小'}点",
                    ]
                    if prop == "brightness":
                        pool += [
                            "{r}亮一点" if up else "{r}暗一点",
                            "{r}调亮一点" if up else "{r}调暗一点",
                            "把{r}调亮些" if up else "把{r}调暗些",
                        ]
                    if prop == "volume":
                        pool += [
                            "{r}大声一点" if up else "{r}小声一点",
                            "{r}声音大点" if up else "{r}声音小点",
                        ]
                    if prop == "speed":
                        pool += [
                            "{r}快一点" if up else "{r}慢一点",
                            "{r}风大一点" if up else "{r}风小一点",
                        ]
            # a relative change is one step: 调高一度 is +1 whatever was drawn
            if degrees and not step:
                amount = 1
        text = self._fill(self._t(pool), r)
        item = f"{d.id}.{prop}{'+=' if up else '-='}{num(amount)}"
        return Clause(text, [item], "relative", need)

    def _enum(self) -> Clause | None:
        d = self._pick(lambda d: any(s.writable and s.kind == "enum" for _, s in device_props(d)))
        if d is None:
            return None
        prop, spec = self.rng.choice(
            [(p, s) for p, s in device_props(d) if s.writable and s.kind == "enum"]
        )
        value = self.rng.choice(spec.values or ())
        ref = self._ref(d)
        if ref is None or value not in ENUM:
            return None
        en_w, zh_w = ENUM[value]
        rng = self.rng
        if self._lang == "en":
            w = rng.choice(en_w)
            if prop == "mode":
                pool = [
                    f"set {{r}} to {w} mode",
                    f"switch {{r}} to {w}",
                    f"put {{r}} on {w}",
                    f"{{r}} {w} mode",
                    f"change {{p}} mode to {w}",
                    f"{{r}} mode {w}",
                    f"I want {{r}} on {w}",
                    f"make {{r}} run in {w} mode",
                ]
            elif prop == "fan_speed":
                pool = [
                    f"set {{p}} fan speed to {w}",
                    f"{{r}} fan on {w}",
                    f"fan speed {w} on {{r}}",
                    f"put {{p}} fan at {w}",
                    f"change {{p}} airflow to {w}",
                ]
            else:
                pool = [
                    f"set {{r}} to {w}",
                    f"put {{r}} on {w}",
                    f"switch {{r}} to {w} mode",
                    f"{{r}} {w}",
                    f"change {{p}} ringer to {w}",
                    f"make {{r}} {w}",
                ]
        else:
            w = rng.choice(zh_w)
            if prop == "mode":
                pool = [
                    f"把{{r}}调成{w}模式",
                    f"{{r}}切到{w}",
                    f"{{r}}开{w}",
                    f"{{r}}模式改成{w}",
                    f"{{r}}设为{w}模式",
                    f"{{r}}{w}模式",
                    f"让{{r}}{w}",
                ]
            elif prop == "fan_speed":
                pool = [
                    f"{{r}}风速调到{w}",
                    f"{{r}}风量调成{w}",
                    f"把{{r}}的风速设为{w}",
                    f"{{r}}风速{w}",
                ]
            else:
                pool = [f"{{r}}调成{w}", f"把{{r}}设为{w}", f"{{r}}切换到{w}模式", f"{{r}}改成{w}"]
        text = self._fill(self._t(pool), ref.text)
        return Clause(text, [f"{d.id}.{prop}={value}"], "enum", ref.area)

    def _color(self) -> Clause | None:
        d = self._pick(lambda d: "color" in dict(device_props(d)))
        if d is None:
            return None
        ref = self._ref(d)
        if ref is None:
            return None
        en, zh, hexv = self.rng.choice(COLORS)
        if self._lang == "en":
            pool = [
                f"make {{r}} {en}",
                f"set {{p}} color to {en}",
                f"turn {{r}} {en}",
                f"change {{p}} colour to {en}",
                f"{{r}} {en} please",
                f"I want {{r}} in {en}",
            ]
        else:
            pool = [
                f"把{{r}}调成{zh}",
                f"{{r}}变成{zh}",
                f"{{r}}颜色换成{zh}",
                f"{{r}}调{zh}",
                f"把{{r}}的颜色改成{zh}",
            ]
        return Clause(
            self._fill(self._t(pool), ref.text), [f"{d.id}.color={hexv}"], "color", ref.area
        )

    def _text(self) -> Clause | None:
        d = self._pick(lambda d: "source" in dict(device_props(d)))
        if d is None:
            return None
        ref = self._ref(d)
        if ref is None:
            return None
        src = self.rng.choice(SOURCES)
        if self._lang == "en":
            pool = [
                "switch {r} to {s}",
                "set {p} input to {s}",
                "change {p} source to {s}",
                "{r} input {s}",
                "put {r} on {s}",
            ]
        else:
            pool = ["{r}切换到{s}", "{r}信号源换成{s}", "把{r}的输入源切到{s}", "{r}切到{s}"]
        text = self._fill(self._t(pool), ref.text, s=src)
        return Clause(text, [f"{d.id}.source={src}"], "text", ref.area)
