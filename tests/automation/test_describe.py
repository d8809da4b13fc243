"""Rules in sentences for people, in English and Chinese: names instead of ids, values in
their unit, templates never shown, an unknown id read as its words. On the demo space and
its automations, and on the second example space (whose names are Chinese)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from hyperhub.automation import Book, load_automations, parse_automations
from hyperhub.automation.describe import (
    Names,
    as_read,
    describe_action,
    describe_command,
    describe_condition,
    describe_states,
    describe_step,
    describe_trigger,
    duration_text,
)
from hyperhub.automation.model import Action, Condition, Trigger
from hyperhub.config import demo_space
from hyperhub.space import Space, load_space

SECOND_SPACE = Path(__file__).resolve().parents[2] / "examples" / "second_space.yaml"


@pytest.fixture(scope="module")
def space() -> Space:
    return load_space(demo_space())


@pytest.fixture(scope="module")
def book(space: Space) -> Book:
    return load_automations(space)


@pytest.fixture(scope="module")
def en(space: Space, book: Book) -> Names:
    return Names.of("en-GB", space, book)


@pytest.fixture(scope="module")
def zh(space: Space, book: Book) -> Names:
    return Names.of("zh-CN", space, book)


def trigger(data: dict[str, Any], names: Names) -> str:
    return describe_trigger(Trigger.model_validate(data), names)


def condition(data: dict[str, Any], names: Names) -> str:
    return describe_condition(Condition.model_validate(data), names)


def action(data: dict[str, Any], names: Names) -> str:
    return describe_action(Action.model_validate(data), names)


# ---------------------------------------------------------------------------- triggers


def test_a_device_turning_on_is_said_with_its_name(en, zh):
    on = {"state": {"device": "living_room_ac", "property": "on", "to": True}}
    assert trigger(on, en) == "Living Room AC turns on"
    assert trigger(on, zh) == "客厅空调打开"


def test_a_phone_leaving_a_place_says_the_radius(en, zh):
    leave = {"geofence": {"device": "phone_li_na", "event": "leave", "radius_km": 2}}
    assert trigger(leave, en) == "Li Na's Phone leaves Home (within 2 km)"
    assert trigger(leave, zh) == "李娜的手机离开家（2 公里内）"


def test_a_geofence_without_a_radius_takes_the_places_and_any_phone(en, zh):
    leave = {"geofence": {"type": "phone", "event": "leave"}}
    assert trigger(leave, en) == "A phone leaves Home (within 200 m)"
    assert trigger(leave, zh) == "有手机离开家（200 米内）"


def test_a_number_crossing_a_threshold_is_in_its_unit(en, zh):
    hot = {
        "numeric": {
            "device": "living_room_climate_sensor",
            "property": "temperature",
            "above": 28,
            "for": "5m",
        }
    }
    assert trigger(hot, en) == "Temperature of Living Room Thermometer rises above 28 °C for 5 min"
    assert trigger(hot, zh) == "温湿度计的温度升到 28 °C 以上并持续 5 分钟"


def test_hysteresis_says_when_the_trigger_fires_again(en, zh):
    low = {"numeric": {"device": "car", "property": "battery_soc", "below": 20, "hysteresis": 5}}
    assert (
        trigger(low, en)
        == "Battery charge of SU7 falls below 20 % (again only after rising to 25 %)"
    )
    assert trigger(low, zh) == "车的电池电量降到 20 % 以下（回升到 25 % 后才会再次触发）"


def test_a_state_says_its_value_in_words(en, zh):
    unlocked = {"state": {"device": "front_door_lock", "property": "locked", "to": False}}
    assert trigger(unlocked, en) == "Front Door Lock reports unlocked"
    assert trigger(unlocked, zh) == "前门的门锁变为未上锁"
    mode = {"state": {"device": "living_room_ac", "property": "mode", "from": "cool", "to": "heat"}}
    assert trigger(mode, en) == "Living Room AC: mode changes from cool to heat"
    assert trigger(mode, zh) == "客厅空调的模式从制冷变为制热"
    asleep = {"state": {"device": "watch_chen_wei", "property": "sleeping", "to": True, "for": 300}}
    assert trigger(asleep, en) == "Chen Wei's Watch: sleeping becomes asleep for 5 min"
    assert trigger(asleep, zh) == "手表的睡眠变为睡着并持续 5 分钟"


def test_a_device_event_is_what_it_did(en, zh):
    obstacle = {"event": {"device": "cyberdog", "event": "obstacle_detected"}}
    assert trigger(obstacle, en) == "CyberDog met an obstacle"
    assert trigger(obstacle, zh) == "机器狗遇到障碍物"


def test_times_of_day_say_which_days(en, zh):
    workdays = {"time": {"at": "7:30", "weekdays": "workdays"}}
    assert trigger(workdays, en) == "Every workday at 07:30"
    assert trigger(workdays, zh) == "每个工作日 07:30"
    two = {"time": {"at": ["07:30", "19:00"], "weekdays": ["mon", "fri"]}}
    assert trigger(two, en) == "Every Monday and Friday at 07:30 and 19:00"
    assert trigger(two, zh) == "每周一和周五 07:30 和 19:00"


def test_sun_times_say_the_offset(en, zh):
    before = {"sun": {"event": "sunset", "offset": "-30m"}}
    assert trigger(before, en) == "30 min before sunset"
    assert trigger(before, zh) == "日落前 30 分钟"
    assert trigger({"sun": {"event": "sunrise"}}, en) == "At sunrise"
    assert trigger({"sun": {"event": "sunrise"}}, zh) == "日出时"


def test_cron_lines_and_going_offline(en, zh):
    assert trigger({"cron": "@daily"}, en) == "Every day at 00:00"
    assert trigger({"cron": "*/15 * * * *"}, zh) == "按 cron 计划 */15 * * * *"
    offline = {"offline": {"device": "robot_vacuum", "for": "5m"}}
    assert trigger(offline, en) == "Robot Vacuum goes offline for 5 min"
    assert trigger(offline, zh) == "扫地机器人离线并持续 5 分钟"


# ---------------------------------------------------------------------------- conditions


def test_nobody_home_is_a_sentence(en, zh):
    assert condition({"someone_home": False}, en) == "Nobody is home"
    assert condition({"someone_home": False}, zh) == "家里没人"
    assert condition({"someone_home": True}, en) == "Someone is home"


def test_a_compared_number_is_in_its_unit(en, zh):
    cold = {"state": {"device": "car", "property": "cabin_temp", "above": 5, "below": 10}}
    assert condition(cold, en) == "Cabin temperature of SU7 is between 5 °C and 10 °C"
    assert condition(cold, zh) == "车的车内温度在 5 °C 到 10 °C 之间"


def test_a_compared_state_is_in_words(en, zh):
    lamp = {"state": {"device": "study_desk_lamp", "property": "on", "is_not": True}}
    assert condition(lamp, en) == "Desk Lamp is off"
    assert condition(lamp, zh) == "台灯关着"
    modes = {"state": {"device": "living_room_ac", "property": "mode", "in": ["cool", "dry"]}}
    assert condition(modes, en) == "Living Room AC: mode is cool or dry"
    assert condition(modes, zh) == "客厅空调的模式是制冷或除湿"


def test_and_or_not_read_as_sentences(en, zh):
    nested = {
        "and": [
            {"someone_home": False},
            {"or": [{"sun": {"after": "sunset"}}, {"time": {"after": "22:00"}}]},
        ]
    }
    assert condition(nested, en) == "Nobody is home and (after sunset or after 22:00)"
    assert condition(nested, zh) == "家里没人，并且（日落之后，或者 22:00 以后）"
    assert condition({"not": {"someone_home": True}}, en) == "Not: someone is home"
    assert condition({"not": {"someone_home": True}}, zh) == "不满足：家里有人"
    both = {"not": {"and": [{"someone_home": True}, {"sun": {"after": "sunset"}}]}}
    assert condition(both, en) == "Not: someone is home and after sunset"
    assert condition(both, zh) == "不满足：家里有人，并且日落之后"


def test_time_windows_and_distances(en, zh):
    night = {"time": {"after": "22:00", "before": "06:00", "weekdays": "workdays"}}
    assert condition(night, en) == "Between 22:00 and 06:00 on workdays"
    assert condition(night, zh) == "工作日 22:00 到 06:00 之间"
    near = {"geo": {"device": "car", "below_km": 2, "approaching": True}}
    assert condition(near, en) == "SU7 is within 2 km of Home, getting closer"
    assert condition(near, zh) == "车在家 2 公里以内，且正在靠近"


# ---------------------------------------------------------------------------- actions


def test_setting_a_value_says_it_in_its_unit(en, zh):
    warm = {"set": {"device": "living_room_ac", "property": "target_temp", "value": 24}}
    assert action(warm, en) == "Living Room AC: set target temperature to 24 °C"
    assert action(warm, zh) == "把客厅空调的目标温度设为 24 °C"


def test_turning_devices_off_names_them_all(en, zh):
    off = {"set": {"device": ["hallway_light", "kitchen_light"], "property": "on", "value": False}}
    assert action(off, en) == "Turn off Hallway Light and Kitchen Light"
    assert action(off, zh) == "关闭玄关灯和厨房灯"


def test_values_have_no_python_reprs(en, zh):
    colour = {"set": {"device": "living_room_strip", "property": "color", "value": "#3040ff"}}
    assert action(colour, en) == "Light Strip: set colour to #3040ff"
    assert action(colour, zh) == "把灯带的颜色设为 #3040ff"
    unlock = {"set": {"device": "front_door_lock", "property": "locked", "value": False}}
    assert action(unlock, en) == "Front Door Lock: set lock to unlocked"
    dnd = {"set": {"device": "phone_chen_wei", "property": "dnd", "value": True}}
    assert action(dnd, en) == "Chen Wei's Phone: turn on do not disturb"
    assert action(dnd, zh) == "打开陈伟的手机的勿扰模式"  # not 我的手机: that is its owner's word


def test_a_device_action_names_the_device_and_its_area(en, zh):
    assert action({"call": {"device": "front_door_lock", "action": "lock"}}, en) == (
        "Front Door Lock: lock"
    )
    assert action({"call": {"device": "front_door_lock", "action": "lock"}}, zh) == "让前门上锁"
    patrol = {"call": {"device": "cyberdog", "action": "patrol", "args": {"area": "entrance"}}}
    assert action(patrol, en) == "CyberDog: patrol (area: Entrance)"
    assert action(patrol, zh) == "让机器狗巡逻（区域：玄关）"


def test_notes_scenes_and_waits(en, zh):
    note = {"notify": {"type": "phone", "message": "Everyone has left"}}
    assert action(note, en) == "Notify every phone: “Everyone has left”"
    assert action(note, zh) == "通知所有手机：“Everyone has left”"
    assert action({"scene": "movie_night"}, en) == "Run the scene Movie night"
    assert action({"scene": "movie_night"}, zh) == "执行场景“电影模式”"
    assert action({"delay": "5m"}, en) == "Wait 5 min"
    assert action({"delay": "5m"}, zh) == "等待 5 分钟"


def test_an_if_says_its_branches(en, zh):
    branch = {
        "if": [{"sun": {"after": "sunset"}}],
        "then": [{"set": {"device": "hallway_light", "property": "on", "value": True}}],
        "else": [{"delay": 60}],
        "continue_on_error": True,
    }
    assert action(branch, en) == (
        "If after sunset: turn on Hallway Light; otherwise: wait 1 min (goes on if this fails)"
    )
    assert action(branch, zh) == "如果日落之后：打开玄关灯；否则：等待 1 分钟（失败也继续）"


# ---------------------------------------------------------------------------- templates


def test_a_computed_value_is_never_shown_as_its_template(en, zh):
    computed = {
        "set": {
            "device": "living_room_ac",
            "property": "target_temp",
            "value": "{{ state.living_room_climate_sensor.temperature + 5 }}",
        }
    }
    assert action(computed, en) == "Living Room AC: set target temperature to a computed value"
    assert action(computed, zh) == "把客厅空调的目标温度设为计算出的值"
    assert condition({"template": "{{ state.car.battery_soc < 20 }}"}, en) == (
        "A computed condition holds"
    )


def test_a_message_shows_its_text_around_the_computed_parts(en, zh):
    note = {"notify": {"device": "car", "message": "Home in {{ trigger.distance_km }} km"}}
    assert action(note, en) == "Notify SU7: “Home in … km”"
    only = {"notify": {"device": "car", "message": "{% if now.hour > 20 %}late{% endif %}"}}
    assert action(only, en) == "Notify SU7 with a computed message"
    assert action(only, zh) == "给车发送计算出的消息"


def test_the_definition_keeps_the_ids_and_templates(book):
    rule = book.rules["arriving_home_ac"]
    mode = as_read(rule)["actions"][0]["set"]
    assert mode["device"] == "living_room_ac"
    assert mode["value"].startswith("{{ 'heat' if state.living_room_climate_sensor")


# ---------------------------------------------------------------------------- names


def test_an_unknown_id_reads_as_its_words():
    bare = Names()  # no space, no book
    assert trigger({"state": {"device": "attic_fan", "property": "on", "to": True}}, bare) == (
        "Attic fan turns on"
    )
    assert action({"scene": "date_night"}, bare) == "Run the scene date night"
    assert trigger({"geofence": {"device": "car", "place": "gym", "event": "enter"}}, bare) == (
        "Car enters gym"
    )


def test_a_language_tag_picks_the_language(space):
    assert Names.of("zh-CN", space).lang == "zh"
    assert Names.of("zh_CN.UTF-8", space).lang == "zh"
    assert Names.of("en-GB,zh;q=0.5", space).lang == "en"
    assert Names.of(None, space).lang == "en"


def test_chinese_names_stay_chinese_and_english_ones_do_not_change():
    space = load_space(SECOND_SPACE)
    book = parse_automations(
        "places: [{id: office, name: 国贸, lat: 39.91, lon: 116.46}]", "t.yaml", space
    )
    enter = {"geofence": {"device": "min_phone", "place": "office", "event": "enter"}}
    assert trigger(enter, Names.of("en", space, book)) == "张敏的手机 enters 国贸 (within 200 m)"
    assert trigger(enter, Names.of("zh", space, book)) == "张敏的手机进入国贸（200 米内）"
    hood = {"set": {"device": "range_hood_switch", "property": "on", "value": True}}
    assert action(hood, Names.of("en", space, book)) == "Turn on Range Hood"
    assert action(hood, Names.of("zh", space, book)) == "打开油烟机"


# ---------------------------------------------------------------------------- scenes


def test_a_scenes_states_are_sentences(en, zh):
    strip = {"on": True, "brightness": 20, "color": "#3040ff"}
    assert describe_states("living_room_strip", strip, en) == (
        "Light Strip: on, brightness 20 %, colour #3040ff"
    )
    assert describe_states("living_room_strip", strip, zh) == "灯带：开，亮度 20 %，颜色 #3040ff"
    assert describe_states("front_door_lock", {"locked": True}, en) == "Front Door Lock: locked"
    assert describe_states("front_door_lock", {"locked": True}, zh) == "前门：门锁已上锁"


def test_durations_in_both_languages():
    assert duration_text(90) == "1 min 30 s"
    assert duration_text(3600) == "1 h"
    assert duration_text(0.5) == "0.5 s"
    assert duration_text(5400, "zh") == "1 小时 30 分钟"


# ---------------------------------------------------------------------------- the demo


@pytest.mark.parametrize("lang", ["en", "zh"])
def test_every_line_of_the_demo_is_for_people(space: Space, book: Book, lang: str):
    """No template, no device id, no Python value in any sentence of the demo's rules and
    scenes."""
    names = Names.of(lang, space, book)
    lines = []
    for rule in book.rules.values():
        lines += [describe_trigger(t, names) for t in rule.triggers]
        lines += [describe_condition(c, names) for c in rule.conditions]
        lines += [describe_action(a, names) for a in rule.actions]
    for scene in book.scenes.values():
        lines += [describe_states(d, v, names) for d, v in scene.states.items()]
        lines += [describe_action(a, names) for a in scene.actions]
    text = "\n".join(lines)
    assert "{{" not in text and "{%" not in text
    assert not re.search(r"\b(True|False|None)\b|'\S+'", text)  # no Python reprs
    assert not [d for d in space.devices if d in text]
    if lang == "zh":
        assert "Home" not in text and "every" not in text


def test_a_command_sent_and_a_stored_step_say_themselves(en: Names, zh: Names):
    sent = {"property": "brightness", "value": 150}
    assert describe_command("kitchen_light", sent, en) == "Kitchen Light: set brightness to 150 %"
    assert describe_command("kitchen_light", sent, zh) == "把厨房灯的亮度设为 150 %"
    call = {"action": "notify", "args": {"message": "hi"}}
    assert describe_command("phone_chen_wei", call, zh) == "让陈伟的手机通知（内容：hi）"
    step = {"kind": "action", "what": "kitchen_light.brightness = 150", "device": "kitchen_light"}
    assert describe_step({**step, "command": sent}, en) == "Kitchen Light: set brightness to 150 %"
    assert describe_step(step, en) == "kitchen_light.brightness = 150"  # an older trace
    broken = {**step, "command": {"property": "brightness"}}  # no value: as it was written
    assert describe_step(broken, en) == "kitchen_light.brightness = 150"
    condition = {"kind": "condition", "what": "someone home: True", "ok": True}
    assert describe_step(condition, en) == "someone home: True"
