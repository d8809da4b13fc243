"""Random synthetic spaces for training data: areas, floors, devices, names and aliases in
English and Chinese, every device type of the vocabulary.

A space is built as a document, written as JSON text (JSON is YAML 1.2) and read with the
space loader (`parse_space`), so every generated space passes the same validation as a
space file. Names are put together from word tables (a room, a modifier, a thing), so the
same table gives many homes; nothing here comes from an evaluation set.
"""

from __future__ import annotations

import json
import random
from typing import Any

from hyperhub.assistant.training.exclude import Exclusions
from hyperhub.space import Space, parse_space
from hyperhub.spec import builtin_types

# (id stem, pinyin id, English names, Chinese names)
ROOMS: tuple[tuple[str, str, tuple[str, ...], tuple[str, ...]], ...] = (
    (
        "living_room",
        "keting",
        ("living room", "lounge", "front room", "sitting room"),
        ("客厅", "起居室"),
    ),
    ("kitchen", "chufang", ("kitchen", "galley", "cookhouse"), ("厨房", "灶间")),
    ("master_bedroom", "zhuwo", ("master bedroom", "main bedroom", "our room"), ("主卧", "主卧室")),
    ("guest_room", "kewo", ("guest room", "spare room", "guest bedroom"), ("客卧", "次卧", "客房")),
    (
        "kids_room",
        "ertongfang",
        ("kids room", "children's room", "playroom"),
        ("儿童房", "孩子房间"),
    ),
    ("study", "shufang", ("study", "home office", "office", "den"), ("书房", "办公室")),
    ("dining_room", "canting", ("dining room", "dining area", "eating area"), ("餐厅", "饭厅")),
    (
        "bathroom",
        "weishengjian",
        ("bathroom", "washroom", "restroom"),
        ("卫生间", "浴室", "洗手间"),
    ),
    ("balcony", "yangtai", ("balcony", "terrace", "veranda"), ("阳台", "露台")),
    ("garage", "cheku", ("garage", "car port", "carport"), ("车库",)),
    ("hallway", "zoulang", ("hallway", "corridor", "hall", "entryway"), ("走廊", "过道", "玄关")),
    ("laundry", "xiyifang", ("laundry room", "utility room", "laundry"), ("洗衣房", "家务间")),
    ("attic", "gelou", ("attic", "loft", "roof space"), ("阁楼", "顶楼")),
    ("cellar", "dixiashi", ("cellar", "lower level", "wine cellar"), ("地窖", "酒窖")),
    ("garden", "huayuan", ("garden", "backyard", "yard", "lawn"), ("花园", "后院", "院子")),
    ("gym", "jianshenfang", ("gym", "workout room", "fitness room"), ("健身房", "运动室")),
    ("nursery", "yingerfang", ("nursery", "baby room", "baby's room"), ("婴儿房", "宝宝房")),
    (
        "cloakroom",
        "yimaojian",
        ("walk-in closet", "cloakroom", "dressing room"),
        ("衣帽间", "更衣室"),
    ),
    ("sunroom", "yangguangfang", ("sunroom", "conservatory", "glass room"), ("阳光房", "花房")),
    ("workshop", "gongzuojian", ("workshop", "craft room", "studio"), ("工作间", "工作室")),
    (
        "media_room",
        "yingyinshi",
        ("media room", "home theater", "cinema room"),
        ("影音室", "家庭影院"),
    ),
    ("tea_room", "chashi", ("tea room", "reading nook", "quiet room"), ("茶室", "阅读角")),
    ("porch", "menlang", ("porch", "front porch", "stoop"), ("门廊", "门口")),
    ("pantry", "chucangshi", ("pantry", "storeroom", "store room"), ("储藏室", "储物间")),
    (
        "second_bedroom",
        "ciwo",
        ("second bedroom", "back bedroom", "small bedroom"),
        ("二卧", "小卧室"),
    ),
    (
        "grandma_room",
        "laorenfang",
        ("grandma's room", "granny flat", "elders' room"),
        ("老人房", "奶奶房间"),
    ),
)

# Floors: pairs (lower, upper) the lexicon can place, plus some it cannot (named floors).
FLOOR_SETS: tuple[tuple[str, ...], ...] = (
    ("ground floor", "upstairs"),
    ("downstairs", "upstairs"),
    ("一楼", "二楼"),
    ("楼下", "楼上"),
    ("ground floor", "second floor"),
    ("basement", "ground floor", "upstairs"),
    ("地下室", "一楼", "二楼"),
    ("1", "2"),
    ("main floor", "top floor"),
    ("3",),
    ("15",),
    ("B1", "1"),
)

# type → [(id stem, pinyin id, English nouns, Chinese nouns, extra)] ; extra: class for a
# cover, the optional properties for a sensor / light
THINGS: dict[str, tuple[tuple[str, str, tuple[str, ...], tuple[str, ...], Any], ...]] = {
    "light": (
        ("lamp", "taideng", ("lamp", "table lamp"), ("台灯",), ()),
        (
            "ceiling_light",
            "xidingdeng",
            ("ceiling light", "overhead light", "top light"),
            ("吸顶灯", "顶灯"),
            ("color_temp",),
        ),
        ("pendant", "diaodeng", ("pendant", "pendant lamp", "hanging lamp"), ("吊灯",), ()),
        (
            "floor_lamp",
            "luodideng",
            ("floor lamp", "standing lamp", "arc lamp"),
            ("落地灯",),
            ("color_temp",),
        ),
        (
            "strip",
            "dengdai",
            ("light strip", "led strip", "strip light"),
            ("灯带", "灯条"),
            ("color",),
        ),
        (
            "night_light",
            "yedeng",
            ("night light", "nightlight", "glow light"),
            ("小夜灯", "夜灯"),
            ("color",),
        ),
        ("spotlights", "shedeng", ("spotlights", "spots", "track lights"), ("射灯",), ()),
        ("sconce", "bideng", ("wall sconce", "wall lamp", "sconce"), ("壁灯",), ()),
        (
            "chandelier",
            "shuijingdeng",
            ("chandelier", "crystal lamp"),
            ("水晶灯", "大吊灯"),
            ("color_temp",),
        ),
        (
            "reading_lamp",
            "yueduden",
            ("reading lamp", "reading light", "book light"),
            ("阅读灯", "看书灯"),
            ("color_temp",),
        ),
        (
            "bedside_lamp",
            "chuangtoudeng",
            ("bedside lamp", "bedside light"),
            ("床头灯",),
            ("color", "color_temp"),
        ),
        ("downlights", "tongdeng", ("downlights", "can lights", "recessed lights"), ("筒灯",), ()),
        ("mirror_light", "jingqiandeng", ("mirror light", "vanity light"), ("镜前灯",), ()),
        ("lantern", "denglong", ("lantern", "paper lantern"), ("灯笼", "纸灯"), ("color",)),
        (
            "desk_light",
            "shuzhuodeng",
            ("desk light", "work light", "task lamp"),
            ("书桌灯", "工作灯"),
            ("color_temp",),
        ),
    ),
    "switch": (
        ("water_heater", "reshuiqi", ("water heater", "boiler", "hot water"), ("热水器",), ()),
        (
            "range_hood",
            "youyanji",
            ("range hood", "cooker hood", "extractor"),
            ("油烟机", "抽油烟机"),
            (),
        ),
        (
            "towel_rail",
            "maojinjia",
            ("towel rail", "towel warmer", "heated towel rail"),
            ("毛巾架", "电热毛巾架"),
            (),
        ),
        ("fountain", "penquan", ("fountain", "water feature"), ("喷泉", "水景"), ()),
        ("bath_heater", "yuba", ("bath heater", "bathroom heater"), ("浴霸",), ()),
        ("pump", "xunhuanbeng", ("circulation pump", "hot water pump"), ("循环泵", "回水泵"), ()),
        ("mosquito", "quwenqi", ("bug zapper", "mosquito killer"), ("驱蚊器", "灭蚊器"), ()),
    ),
    "plug": (
        ("kettle", "shuihu", ("kettle", "electric kettle"), ("电水壶", "烧水壶"), ()),
        (
            "coffee",
            "kafeiji",
            ("coffee machine", "espresso maker", "coffee maker"),
            ("咖啡机",),
            (),
        ),
        ("heater_plug", "qunuanqi", ("space heater", "radiator plug"), ("取暖器", "小太阳"), ()),
        ("tree", "shengdanshu", ("christmas tree", "xmas tree"), ("圣诞树",), ()),
        (
            "monitor_plug",
            "xianshiqi",
            ("monitor socket", "screen plug", "monitor"),
            ("显示器插座", "显示器"),
            (),
        ),
        ("printer", "dayinji", ("printer", "3d printer"), ("打印机",), ()),
        ("rice_cooker", "dianfanguo", ("rice cooker",), ("电饭煲", "电饭锅"), ()),
        ("dehumidifier", "chushiji", ("dehumidifier",), ("除湿机", "抽湿机"), ()),
        ("charger", "chongdianqi", ("charging dock", "charger plug"), ("充电插座", "充电器"), ()),
    ),
    "climate": (
        ("ac", "kongtiao", ("air conditioner", "AC", "aircon"), ("空调",), ()),
        ("split_ac", "guaji", ("wall unit", "split AC", "wall AC"), ("挂机", "挂式空调"), ()),
        (
            "cabinet_ac",
            "guiji",
            ("cabinet AC", "standing AC", "tower AC"),
            ("柜机", "柜式空调"),
            (),
        ),
        ("heat_pump", "rebeng", ("heat pump", "climate unit"), ("热泵", "冷暖机"), ()),
        ("thermostat", "wenkongqi", ("thermostat", "climate control"), ("温控器", "温控"), ()),
        ("central_air", "zhongyang", ("central air", "ducted AC"), ("中央空调", "风管机"), ()),
    ),
    "fan": (
        ("ceiling_fan", "diaoshan", ("ceiling fan",), ("吊扇",), ()),
        ("desk_fan", "taishan", ("desk fan", "table fan"), ("台扇", "桌扇"), ()),
        ("tower_fan", "tashan", ("tower fan", "bladeless fan"), ("塔扇", "无叶风扇"), ()),
        ("pedestal_fan", "luodishan", ("pedestal fan", "standing fan"), ("落地扇",), ()),
        ("box_fan", "fengshan", ("box fan", "floor fan", "circulator"), ("电风扇", "循环扇"), ()),
    ),
    "air_purifier": (
        ("purifier", "jinghuaqi", ("air purifier", "purifier"), ("空气净化器", "净化器"), ()),
        ("air_cleaner", "kongjing", ("air cleaner", "air filter"), ("空净", "空气过滤器"), ()),
        ("fresh_air", "xinfeng", ("fresh air unit", "ventilator"), ("新风机", "新风系统"), ()),
    ),
    "cover": (
        ("curtains", "chuanglian", ("curtains", "drapes"), ("窗帘", "布帘"), "curtain"),
        ("sheers", "shalian", ("sheer curtains", "sheers", "voile"), ("纱帘", "纱窗帘"), "curtain"),
        ("blinds", "baiyechuang", ("blinds", "venetian blinds"), ("百叶窗", "百叶帘"), "blind"),
        (
            "roller_blind",
            "juanlian",
            ("roller blind", "shade", "blackout shade"),
            ("卷帘", "遮光帘"),
            "blind",
        ),
        ("garage_door", "chekumen", ("garage door", "roller door"), ("车库门", "卷闸门"), "garage"),
        (
            "gate",
            "damen",
            ("gate", "driveway gate", "yard gate"),
            ("大门", "电动门", "院门"),
            "gate",
        ),
        ("barrier", "daozha", ("barrier", "boom barrier", "boom gate"), ("道闸", "栏杆"), "gate"),
        ("skylight", "tianchuang", ("skylight", "roof window"), ("天窗", "屋顶窗"), "window"),
        (
            "window",
            "chuanghu",
            ("window", "casement window", "vent window"),
            ("窗户", "电动窗"),
            "window",
        ),
        ("patio_door", "yimen", ("patio door", "sliding door"), ("推拉门", "移门"), "door"),
    ),
    "lock": (
        (
            "front_lock",
            "damensuo",
            ("front door", "front door lock", "entry lock"),
            ("大门锁", "入户门"),
            (),
        ),
        ("door_lock", "mensuo", ("door lock", "smart lock"), ("门锁", "智能锁"), ()),
        ("back_lock", "houmen", ("back door", "rear door", "kitchen door"), ("后门", "后门锁"), ()),
        ("side_lock", "cemen", ("side gate lock", "side door"), ("侧门", "侧门锁"), ()),
        ("deadbolt", "menshuan", ("deadbolt", "bolt lock"), ("门栓", "插销锁"), ()),
    ),
    "media_player": (
        ("tv", "dianshi", ("TV", "television", "telly"), ("电视", "电视机"), ()),
        ("speaker", "yinxiang", ("speaker", "smart speaker"), ("音箱", "智能音箱"), ()),
        ("soundbar", "huiyinbi", ("soundbar", "sound bar"), ("回音壁", "条形音箱"), ()),
        ("projector", "touyingyi", ("projector", "beamer"), ("投影仪", "投影"), ()),
        ("stereo", "zuhe", ("stereo", "hi-fi", "music system"), ("音响", "组合音响"), ()),
        ("radio", "shouyinji", ("radio", "internet radio"), ("收音机", "电台"), ()),
    ),
    "sensor": (
        (
            "thermometer",
            "wenduji",
            ("thermometer", "temp sensor"),
            ("温度计", "温度传感器"),
            ("temperature",),
        ),
        (
            "climate_sensor",
            "wenshidu",
            ("climate sensor", "temp and humidity sensor"),
            ("温湿度计", "温湿度传感器"),
            ("temperature", "humidity"),
        ),
        (
            "motion",
            "renti",
            ("motion sensor", "presence sensor", "PIR"),
            ("人体传感器", "人在传感器"),
            ("motion",),
        ),
        (
            "door_sensor",
            "menci",
            ("door sensor", "contact sensor", "window sensor"),
            ("门磁", "门窗传感器"),
            ("contact",),
        ),
        (
            "lux_sensor",
            "guangzhao",
            ("lux sensor", "lux meter"),
            ("光照传感器", "光感"),
            ("illuminance",),
        ),
        (
            "air_monitor",
            "kongqijiance",
            ("air monitor", "air quality sensor"),
            ("空气检测仪", "空气质量传感器"),
            ("pm25", "humidity"),
        ),
        (
            "hygrometer",
            "shiduji",
            ("hygrometer", "humidity sensor"),
            ("湿度计", "湿度传感器"),
            ("humidity",),
        ),
    ),
    "vacuum": (
        (
            "robot_vacuum",
            "saodiji",
            ("robot vacuum", "vacuum robot", "robovac"),
            ("扫地机器人", "扫地机"),
            (),
        ),
        ("robot_mop", "tuodiji", ("robot mop", "mopping robot"), ("拖地机", "扫拖机器人"), ()),
        ("cleaner", "xichenqi", ("vacuum", "cleaning robot"), ("吸尘器", "清洁机器人"), ()),
    ),
    "car": (
        ("car", "che", ("car", "motor"), ("车", "汽车"), ()),
        ("suv", "suv", ("SUV", "4x4", "jeep"), ("SUV", "越野车"), ()),
        ("sedan", "jiaoche", ("sedan", "saloon"), ("轿车",), ()),
        ("ev", "diandongche", ("EV", "electric car"), ("电动车", "电车"), ()),
        ("van", "mianbao", ("van", "minivan", "people carrier"), ("面包车", "MPV"), ()),
    ),
    "phone": (("phone", "shouji", ("phone", "mobile", "cellphone"), ("手机",), ()),),
    "wearable": (
        ("watch", "shoubiao", ("watch", "smartwatch"), ("手表", "智能手表"), ()),
        ("band", "shouhuan", ("fitness band", "band", "tracker"), ("手环", "运动手环"), ()),
    ),
    "robot_dog": (("robot_dog", "jiqigou", ("robot dog", "robodog"), ("机器狗", "机器人狗"), ()),),
    "button": (
        ("remote", "yaokongqi", ("remote", "remote control", "clicker"), ("遥控器",), ("battery",)),
        (
            "wall_button",
            "wuxiankaiguan",
            ("wall button", "scene switch"),
            ("无线开关", "场景开关"),
            ("battery",),
        ),
    ),
}
TYPES: tuple[str, ...] = tuple(THINGS)

# modifiers that make a thing's name unique: (English, Chinese, id stem)
MODIFIERS: tuple[tuple[str, str, str], ...] = (
    ("big", "大", "big"),
    ("small", "小", "small"),
    ("left", "左边", "left"),
    ("right", "右边", "right"),
    ("corner", "角落", "corner"),
    ("window", "窗边", "window"),
    ("brass", "黄铜", "brass"),
    ("oak", "橡木", "oak"),
    ("retro", "复古", "retro"),
    ("round", "圆形", "round"),
    ("north", "北面", "north"),
    ("south", "南面", "south"),
    ("white", "白色", "white"),
    ("black", "黑色", "black"),
    ("new", "新", "new"),
    ("old", "旧", "old"),
    ("upper", "上面", "upper"),
    ("lower", "下面", "lower"),
)
# owners for personal things (phones, watches, cars, robot dogs)
OWNERS: tuple[tuple[str, str, str], ...] = (
    ("Alex", "艾力", "alex"),
    ("Sam", "阿山", "sam"),
    ("Mia", "米娅", "mia"),
    ("Leo", "小狮", "leo"),
    ("Nora", "诺拉", "nora"),
    ("Kai", "阿凯", "kai"),
    ("Iris", "爱丽", "iris"),
    ("Omar", "奥马", "omar"),
    ("Ruth", "露丝", "ruth"),
    ("Wen", "文文", "wen"),
    ("Jun", "俊俊", "jun"),
    ("Yara", "雅拉", "yara"),
    ("Mom", "妈妈", "mom"),
    ("Dad", "爸爸", "dad"),
    ("Grandma", "奶奶", "grandma"),
    ("Grandpa", "爷爷", "grandpa"),
    ("my wife", "老婆", "wife"),
    ("my husband", "老公", "husband"),
    ("the kids", "孩子", "kids"),
)
# names a car, a robot dog or a vacuum may be given
PET_NAMES: tuple[tuple[str, str], ...] = (
    ("Rex", "雷克斯"),
    ("Bolt", "闪电"),
    ("Biscuit", "饼干"),
    ("Pixel", "像素"),
    ("Comet", "彗星"),
    ("Mochi", "麻薯"),
    ("Tofu", "豆腐"),
    ("Ziggy", "旺财"),
    ("Aurora", "极光"),
    ("Zephyr", "追风"),
    ("Nimbus", "云朵"),
    ("Pebble", "豆豆"),
)
# how a phone / watch / car is called by its owner
SELF_NAMES: dict[str, tuple[str, str]] = {
    "phone": ("my phone", "我的手机"),
    "wearable": ("my watch", "我的手表"),
    "car": ("my car", "我的车"),
}


def _cap(s: str) -> str:
    return " ".join(w[:1].upper() + w[1:] if w.islower() else w for w in s.split())


class _Builder:
    def __init__(
        self, rng: random.Random, forced: tuple[str, ...], avoid: Exclusions | None
    ) -> None:
        self.rng = rng
        self.forced = forced
        self.avoid = avoid or Exclusions()
        self.names: set[str] = set()  # every name and alias used, case-folded
        self.ids: set[str] = set()

    def unique_id(self, stem: str) -> str:
        stem = "".join(ch if ch.isalnum() else "_" for ch in stem.lower()).strip("_") or "dev"
        if stem[0].isdigit():
            stem = "d" + stem
        ident, k = stem, 2
        while ident in self.ids or ident in ("discovery", "node") or ident in self.avoid.ids:
            ident, k = f"{stem}_{k}", k + 1
        self.ids.add(ident)
        return ident

    def take(self, names: list[str], devices: bool = False) -> list[str]:
        """The names not used yet (case-insensitive), in order, each once; for devices, not
        one of the excluded names either."""
        out = []
        for n in names:
            key = n.casefold().strip()
            if devices and self.avoid.has_name(n):
                continue
            if key and key not in self.names:
                self.names.add(key)
                out.append(n)
        return out

    # -- areas ---------------------------------------------------------------------------

    def areas(self) -> list[dict[str, Any]]:
        rng = self.rng
        rooms = rng.sample(ROOMS, rng.randint(3, 7))
        floors: tuple[str, ...] = ()
        if rng.random() < 0.6:
            floors = rng.choice(FLOOR_SETS)
        style = rng.choice(("en", "pinyin", "short", "numbered"))
        out = []
        for i, (stem, pinyin, en, zh) in enumerate(rooms):
            ident = {"en": stem, "pinyin": pinyin, "short": stem.split("_")[0]}.get(
                style, f"room{i + 1}"
            )
            if style == "numbered" and rng.random() < 0.5:
                ident = f"{stem}_{rng.randint(1, 3)}"
            ident = self.unique_id(ident)
            en_names = rng.sample(en, rng.randint(1, len(en)))
            zh_names = rng.sample(zh, rng.randint(1, len(zh)))
            if rng.random() < 0.5:
                names = [*zh_names, *(_cap(n) if rng.random() < 0.5 else n for n in en_names)]
            else:
                names = [*(_cap(n) for n in en_names[:1]), *en_names[1:], *zh_names]
            if rng.random() < 0.1:  # some areas have a name in one language only
                names = names[:1]
            names = self.take(names) or [ident.replace("_", " ")]
            area: dict[str, Any] = {"id": ident, "name": names[0]}
            if names[1:]:
                area["aliases"] = names[1:]
            if floors:
                area["floor"] = floors[min(len(floors) - 1, i * len(floors) // len(rooms))]
            out.append(area)
        return out

    # -- devices -------------------------------------------------------------------------

    def devices(self, areas: list[dict[str, Any]]) -> list[dict[str, Any]]:
        rng = self.rng
        count = rng.randint(6, 14)
        types = list(self.forced)
        weights = {t: 1.0 for t in TYPES}
        weights.update(
            light=4.0,
            climate=2.0,
            cover=2.0,
            media_player=1.5,
            switch=1.5,
            plug=1.5,
            sensor=2.0,
            lock=1.5,
        )
        while len(types) < count:
            types.append(rng.choices(TYPES, [weights[t] for t in TYPES])[0])
        personal = {"phone", "wearable", "car", "robot_dog"}
        # at most two of each personal type, at most six lights
        types = [t for i, t in enumerate(types) if types[:i].count(t) < (2 if t in personal else 6)]
        out = []
        used_self: set[str] = set()
        for t in types:
            dev = self.device(t, areas, used_self)
            if dev is not None:
                out.append(dev)
        rng.shuffle(out)
        return out

    def device(
        self, t: str, areas: list[dict[str, Any]], used_self: set[str]
    ) -> dict[str, Any] | None:
        rng = self.rng
        stem, pinyin, en_nouns, zh_nouns, extra = rng.choice(THINGS[t])
        area = (
            None if t in ("phone", "wearable", "car") and rng.random() < 0.7 else rng.choice(areas)
        )
        room_en = room_zh = ""
        if area is not None:
            names = [area["name"], *area.get("aliases", ())]
            en_rooms = [n for n in names if n.isascii()]
            zh_rooms = [n for n in names if not n.isascii()]
            room_en = rng.choice(en_rooms) if en_rooms else ""
            room_zh = rng.choice(zh_rooms) if zh_rooms else ""
        en_noun, zh_noun = rng.choice(en_nouns), rng.choice(zh_nouns)
        en_names: list[str] = []
        zh_names: list[str] = []
        id_stem = stem
        if t in ("phone", "wearable", "car", "robot_dog", "vacuum") and rng.random() < 0.6:
            if t == "robot_dog" or (t in ("car", "vacuum") and rng.random() < 0.5):
                pet_en, pet_zh = rng.choice(PET_NAMES)
                en_names += [pet_en, f"{pet_en} the {en_noun}"]
                zh_names += [pet_zh, f"{zh_noun}{pet_zh}"]
                id_stem = rng.choice((pet_en.lower(), f"{pet_en.lower()}_{stem}"))
            else:
                o_en, o_zh, o_id = rng.choice(OWNERS)
                own = f"{o_en}'" if o_en.endswith("s") else f"{o_en}'s"
                en_names += [f"{own} {en_noun}"]
                zh_names += [f"{o_zh}的{zh_noun}"]
                id_stem = rng.choice((f"{o_id}_{stem}", f"{o_id}_{pinyin}"))
            if t in SELF_NAMES and t not in used_self and rng.random() < 0.4:
                used_self.add(t)
                me_en, me_zh = SELF_NAMES[t]
                en_names.append(me_en)
                zh_names.append(me_zh)
        else:
            style = rng.random()
            if style < 0.35 and area is not None:
                en_names.append(f"{room_en} {en_noun}".strip())
                zh_names.append(f"{room_zh}{zh_noun}")
                id_stem = rng.choice((f"{area['id']}_{stem}", f"{area['id']}_{pinyin}"))
            elif style < 0.7:
                m_en, m_zh, m_id = rng.choice(MODIFIERS)
                en_names.append(f"{m_en} {en_noun}")
                zh_names.append(f"{m_zh}{zh_noun}")
                id_stem = rng.choice((f"{m_id}_{stem}", f"{stem}_{m_id}", f"{m_id}_{pinyin}"))
            else:
                id_stem = rng.choice((stem, pinyin, f"{stem}_{rng.randint(1, 3)}"))
            en_names.append(en_noun)
            zh_names.append(zh_noun)
            if rng.random() < 0.4:
                en_names.append(rng.choice(en_nouns))
                zh_names.append(rng.choice(zh_nouns))
        en_names = self.take([_cap(n) if rng.random() < 0.5 else n for n in en_names], True)
        zh_names = self.take(zh_names, True)
        lang = rng.random()
        if lang < 0.12:
            zh_names = []  # English only
        elif lang < 0.22:
            en_names = []  # Chinese only
        first_zh = rng.random() < 0.4
        names = [*zh_names, *en_names] if first_zh else [*en_names, *zh_names]
        if not names:
            return None
        dev: dict[str, Any] = {"id": self.unique_id(id_stem), "type": t, "name": names[0]}
        if names[1:]:
            dev["aliases"] = names[1:]
        if area is not None:
            dev["area"] = area["id"]
        if t == "cover":
            dev["class"] = extra
        elif extra:
            props = list(extra)
            if t == "light":
                props = [p for p in props if rng.random() < 0.7]
            if props:
                dev["properties"] = props
        state = self.state(t)
        if state:
            dev["state"] = state
        return dev

    def state(self, t: str) -> dict[str, Any]:
        """A few initial values, to vary the spaces (the answers never depend on state)."""
        rng = self.rng
        if t in ("light", "fan", "plug", "switch", "media_player", "air_purifier", "climate"):
            return {"on": rng.random() < 0.5}
        if t == "cover":
            return {"position": rng.choice((0, 0, 50, 100))}
        if t == "lock":
            return {"locked": rng.random() < 0.8}
        return {}


def random_space(
    rng: random.Random, forced_types: tuple[str, ...] = (), avoid: Exclusions | None = None
) -> Space:
    """A random valid space; `forced_types` are device types it must hold (one each, if
    names allow). No device gets an id, name or alias that `avoid` holds."""
    builder = _Builder(rng, forced_types, avoid)
    areas = builder.areas()
    devices = builder.devices(areas)
    owner = rng.choice(OWNERS)[0].replace("my ", "").replace("the ", "")
    doc: dict[str, Any] = {
        "space": rng.choice((f"{owner}'s home", f"{owner}的家", f"{owner}'s flat", "Test home")),
        "areas": areas,
        "devices": devices,
    }
    if rng.random() < 0.5:
        doc["location"] = {
            "lat": round(rng.uniform(20, 50), 4),
            "lon": round(rng.uniform(-120, 140), 4),
        }
    return parse_space(json.dumps(doc, ensure_ascii=False), "<random space>", builtin_types())


def space_document(space: Space) -> dict[str, Any]:
    """A space as a plain document (ids, names, areas), for model cards and debugging."""
    return {
        "space": space.name,
        "areas": [
            {"id": a.id, "name": a.name, "aliases": list(a.aliases), "floor": a.floor}
            for a in space.areas.values()
        ],
        "devices": [
            {"id": d.id, "type": d.type, "name": d.name, "aliases": list(d.aliases), "area": d.area}
            for d in space.devices.values()
        ],
    }
