"""Groups (a type in a room, on a floor, everywhere, in the speaker's room) and several
commands in one sentence."""

from __future__ import annotations

from hyperhub.assistant.llm_prompt import device_props
from hyperhub.assistant.numbers import cn_words
from hyperhub.assistant.training.phrasing.base import Clause, PhraserBase, item_key
from hyperhub.assistant.training.phrasing.words import CLASS_GROUPS, EN_JOIN, GROUP_WORDS, ZH_JOIN
from hyperhub.space.model import Device


class GroupPhrases(PhraserBase):
    def _group(self) -> Clause | None:
        rng = self.rng
        options: list[tuple[str, list[Device], tuple[tuple[str, ...], tuple[str, ...]]]] = []
        for t, words in GROUP_WORDS.items():
            members = [d for d in self.devices if d.type == t]
            if members:
                options.append((t, members, words))
        for c, words in CLASS_GROUPS.items():
            members = [d for d in self.devices if d.cls == c]
            if members:
                options.append((c, members, words))
        if self.plural and any(len(o[1]) > 1 for o in options):
            options = [o for o in options if len(o[1]) > 1]
        if not options:
            return None
        if self.plural:  # the bigger groups more often
            _, members, (en_w, zh_w) = rng.choices(options, [len(o[1]) for o in options])[0]
        else:
            _, members, (en_w, zh_w) = rng.choice(options)
        scope = rng.choice(("all", "area", "area", "here", "floor"))
        area = None
        no_area = False
        where_en = where_zh = ""
        if scope == "area" or scope == "here":
            areas = sorted({d.area for d in members if d.area})
            if self.plural:
                several = [a for a in areas if sum(d.area == a for d in members) > 1]
                areas = several or areas
            if not areas:
                return None
            a = rng.choice(areas)
            members = [d for d in members if d.area == a]
            if scope == "here":
                area = a
                where_en = rng.choice(("", "", " in here", " in this room"))
                where_zh = rng.choice(("", "这里", "这个房间"))
            else:
                name = self._area_name(a)
                where_en = name
                where_zh = name
        elif scope == "floor":
            area_floors = (self.space.areas[d.area].floor for d in members if d.area)
            floors = sorted({fl for fl in area_floors if fl})
            if len({a.floor for a in self.space.areas.values()}) < 2 or not floors:
                return None
            f = rng.choice(floors)
            members = [d for d in members if d.area and self.space.areas[d.area].floor == f]
            word = f if not f.isdigit() else rng.choice((f"floor {f}", f"{f}楼"))
            if word[:1].isdigit():
                return None
            where_en = word
            where_zh = word
            no_area = True
        else:
            no_area = True
        kind_of = members[0]
        # what to do with them
        intent = self._group_intent(kind_of)
        if intent is None:
            return None
        en_t, zh_t, make_item = intent
        items = [make_item(d) for d in members]
        if any(i is None for i in items):
            return None
        if self._lang == "en":
            w = rng.choice(en_w)
            all_w = rng.choice(("all the ", "all ", "every one of the ", "the ", "all of the "))
            if scope == "all":
                noun = f"{all_w}{w}" + rng.choice(
                    ("", "", " in the house", " everywhere", " in the whole house")
                )
            elif scope == "here":
                noun = rng.choice(("the ", "all the ")) + w + where_en
            elif scope == "floor":
                noun = rng.choice(
                    (f"the {w} {where_en}", f"all the {where_en} {w}", f"the {where_en} {w}")
                )
                if where_en in ("upstairs", "downstairs"):
                    noun = rng.choice(
                        (f"the {w} {where_en}", f"all the {w} {where_en}", f"the {where_en} {w}")
                    )
                else:
                    noun = rng.choice(
                        (
                            f"the {w} on the {where_en}",
                            f"all the {w} on the {where_en}",
                            f"the {where_en} {w}",
                        )
                    )
            else:
                noun = rng.choice(
                    (
                        f"the {w} in the {where_en}",
                        f"all the {w} in the {where_en}",
                        f"the {where_en} {w}",
                        f"{where_en} {w}",
                    )
                )
            text = rng.choice(en_t).replace("{r}", noun)
        else:
            w = rng.choice(zh_w)
            if scope == "all":
                pre, post = rng.choice(
                    (("所有的", ""), ("全部", ""), ("", "都"), ("家里所有", ""), ("所有", "全部"))
                )
            elif scope == "here":
                pre, post = (
                    (where_zh + rng.choice(("的", "")) if where_zh else ""),
                    rng.choice(("", "都")),
                )
            else:
                pre, post = (
                    where_zh + rng.choice(("的", "", "所有的")),
                    rng.choice(("", "都", "全部")),
                )
            noun = pre + w
            text = rng.choice(zh_t).replace("{r}", noun).replace("{all}", post)
            text = text.replace("{all}", "")
        return Clause(text, [i for i in items if i], "group", area, no_area)

    def _group_intent(self, d: Device):
        rng = self.rng
        props = dict(device_props(d))
        options = []
        if "on" in props:
            options += ["on", "off"]
        if "brightness" in props:
            options.append("brightness")
        if "target_temp" in props:
            options.append("temp")
        if "locked" in props:
            options += ["lock", "lock"]
        if "position" in props:
            options += ["open", "close"]
        if not options:
            return None
        what = rng.choice(options)
        if what == "on":
            return (
                ("turn on {r}", "switch on {r}", "{r} on", "turn {r} on", "power on {r}"),
                ("打开{r}{all}", "把{r}{all}打开", "{r}{all}打开", "开{r}"),
                lambda x: f"{x.id}.on=true",
            )
        if what == "off":
            return (
                (
                    "turn off {r}",
                    "switch off {r}",
                    "{r} off",
                    "turn {r} off",
                    "shut off {r}",
                    "kill {r}",
                ),
                ("关掉{r}{all}", "把{r}{all}关了", "{r}{all}关掉", "关闭{r}", "关{r}"),
                lambda x: f"{x.id}.on=false",
            )
        if what == "brightness":
            v = rng.choice((10, 20, 25, 30, 40, 50, 60, 70, 75, 80, 100))
            return (
                (f"dim {{r}} to {v}%", f"set {{r}} to {v}%", f"{{r}} at {v} percent"),
                (
                    f"把{{r}}{{all}}调到{v}%",
                    f"{{r}}亮度{{all}}调到{v}",
                    f"{{r}}{{all}}调成百分之{cn_words(v)}",
                ),
                lambda x: f"{x.id}.brightness={v}",
            )
        if what == "temp":
            v = rng.randint(18, 28)
            return (
                (f"set {{r}} to {v} degrees", f"{{r}} to {v}°C", f"put {{r}} on {v} degrees"),
                (f"把{{r}}{{all}}调到{v}度", f"{{r}}{{all}}设成{cn_words(v)}度"),
                lambda x: f"{x.id}.target_temp={v}",
            )
        if what == "lock":
            return (
                ("lock {r}", "lock up {r}", "make sure {r} are locked", "secure {r}"),
                ("把{r}{all}锁上", "锁上{r}", "{r}{all}锁好"),
                lambda x: f"{x.id}.locked=true",
            )
        if what == "open":
            return (
                ("open {r}", "open up {r}", "raise {r}"),
                ("打开{r}", "把{r}{all}拉开", "{r}{all}打开"),
                lambda x: f"{x.id}.position=100",
            )
        return (
            ("close {r}", "shut {r}", "draw {r}", "lower {r}"),
            ("关上{r}", "把{r}{all}拉上", "{r}{all}关上"),
            lambda x: f"{x.id}.position=0",
        )

    def _multi(self) -> Clause | None:
        rng = self.rng
        kinds = [
            "switch",
            "level",
            "relative",
            "enum",
            "action",
            "cover",
            "question",
            "switch",
            "group",
        ]
        n = 2 if rng.random() < 0.85 else 3
        parts: list[Clause] = []
        for _ in range(n * 3):
            if len(parts) == n:
                break
            c = self._clause(rng.choice(kinds))
            if c is None:
                continue
            keys = {item_key(i) for p in parts for i in p.items}
            if any(item_key(i) in keys for i in c.items):
                continue
            areas = {p.area for p in parts if p.area} | ({c.area} if c.area else set())
            if len(areas) > 1 or (areas and any(p.no_area for p in [*parts, c])):
                continue
            parts.append(c)
        if len(parts) < 2:
            return None
        texts = [
            p.text.rstrip("?？") if i < len(parts) - 1 else p.text for i, p in enumerate(parts)
        ]
        join = EN_JOIN if self._lang == "en" else ZH_JOIN
        text = texts[0]
        for t in texts[1:]:
            text += rng.choice(join) + t
        items = [i for p in parts for i in p.items]
        area = next((p.area for p in parts if p.area), None)
        return Clause(text, items, "multi", area, any(p.no_area for p in parts))
