"""Issue 21's kinds of sentence, in general form, on the demo space with the matcher alone:
a question never acts and is answered yes or no first in people's words; "how many", "is
any", "are all" get one answer for all the devices meant; polarity, number words, colours,
kelvin, "stop", feelings."""

from __future__ import annotations

from pathlib import Path

import pytest

from hyperhub.assistant.matcher import Matcher
from hyperhub.assistant.pipeline import Assistant
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.space import Space, load_space

DEMO = Path(__file__).resolve().parents[2] / "src" / "hyperhub" / "demo" / "space.yaml"


@pytest.fixture(scope="module")
def demo() -> Space:
    return load_space(DEMO)


def ask(demo: Space, sim: Simulator, text: str, area: str | None = None) -> tuple[dict, str]:
    answer = Assistant(demo).ask(text, sim, area=area)
    return answer.changes, answer.reply


@pytest.mark.parametrize("text", [
    "is the dining window closed", "is the dining room window open", "are the curtains open",
    "餐厅窗户开着吗", "is the ceiling light off", "do the curtains close",
])  # fmt: skip
def test_a_question_never_acts_even_with_a_commands_words(demo: Space, text: str) -> None:
    sim = Simulator(demo, ManualClock())
    sim.set("dining_window", "position", 40)
    sim.settle()  # there at once
    before = {d: sim.state(d) for d in demo.devices}
    changes, reply = ask(demo, sim, text)
    assert changes == {} and {d: sim.state(d) for d in demo.devices} == before
    assert reply.split(",")[0].split("，")[0] in ("Yes", "No", "是的", "没有"), reply


def test_yes_or_no_first_and_states_as_people_say_them(demo: Space) -> None:
    sim = Simulator(demo, ManualClock())
    sim.set("dining_window", "position", 40)
    sim.settle()  # there at once
    assert ask(demo, sim, "is the dining window closed?")[1] == (
        "No, Dining Room Window is open (40%)."
    )
    assert ask(demo, sim, "餐厅窗户关着吗")[1] == "没有，餐厅窗户开着（40%）。"
    # a door sensor's contact true is closed
    assert ask(demo, sim, "is the front door sensor closed?")[1] == (
        "Yes, Front Door Sensor is closed."
    )
    assert ask(demo, sim, "大门门磁开着吗")[1] == "没有，门磁关着。"  # its first Chinese name
    assert ask(demo, sim, "is the front door locked?")[1].startswith(("Yes, ", "No, "))


def test_how_many_is_any_and_are_all(demo: Space) -> None:
    sim = Simulator(demo, ManualClock())
    kinds = Matcher(demo).named_kinds  # a switch called "… Light" is one of the lights too
    lights = [
        d.id for d in demo.devices.values() if d.type == "light" or "light" in kinds.get(d.id, ())
    ]
    on = [d for d in lights if sim.state(d).get("on")]
    assert 0 < len(on) < len(lights)  # the demo has some of each
    _, reply = ask(demo, sim, "how many lights are on?")
    assert reply.startswith(f"{len(on)} of {len(lights)} lights are on: ")
    _, reply = ask(demo, sim, "are all the lights off?")
    assert reply.startswith(f"No, {len(on)} of {len(lights)} lights ")
    _, reply = ask(demo, sim, "有几盏灯开着")
    assert reply.startswith(f"{len(lights)}盏灯中有{len(on)}盏开着：")
    for light in on:
        sim.set(light, "on", False)
    assert ask(demo, sim, "are all the lights off?")[1] == f"Yes, all {len(lights)} lights are off."
    assert ask(demo, sim, "is any light on?")[1] == f"No, none of the {len(lights)} lights is on."


def test_polarity_numbers_colours_kelvin_stop_and_feelings(demo: Space) -> None:
    sim = Simulator(demo, ManualClock())
    answer = Assistant(demo).ask("unlock the front door lock", sim)
    assert answer.needs_confirmation and answer.changes == {} and "unlock" in answer.reply.lower()
    changes, _ = ask(demo, sim, "set the ceiling light to one hundred percent")
    assert changes == {"living_room_light": {"brightness": 100}}
    changes, _ = ask(demo, sim, "make the light strip blue")
    assert changes == {"living_room_strip": {"color": "#0000ff"}}
    changes, _ = ask(demo, sim, "把灯带调成红色")
    assert changes == {"living_room_strip": {"color": "#ff0000"}}
    changes, _ = ask(demo, sim, "set the ceiling light to 2700 kelvin")
    assert changes == {"living_room_light": {"color_temp": 2700}}
    sim.call("robot_vacuum", "start")
    changes, _ = ask(demo, sim, "stop the vacuum")
    assert changes == {"robot_vacuum": {"status": "paused"}}
    changes, _ = ask(demo, sim, "unpause the vacuum")
    assert changes == {"robot_vacuum": {"status": "cleaning"}}
    target = sim.state("living_room_ac")["target_temp"]
    changes, _ = ask(demo, sim, "I'm cold", area="living_room")  # the AC is off: it goes on
    assert changes == {"living_room_ac": {"on": True}}
    changes, _ = ask(demo, sim, "I'm cold", area="living_room")  # on: a degree warmer
    assert changes == {"living_room_ac": {"target_temp": target + 1}}
    changes, _ = ask(demo, sim, "set the oil heater to cool")  # a mode it does not have
    assert changes == {}


@pytest.mark.parametrize("text", [
    "don't turn off the ceiling light", "never turn on the dining pendant", "别关客厅灯",
    "check the lock on the front door", "有没有窗户开着", "is any window open",
])  # fmt: skip
def test_what_not_to_do_and_what_only_asks_changes_nothing(demo: Space, text: str) -> None:
    sim = Simulator(demo, ManualClock())
    before = {d: sim.state(d) for d in demo.devices}
    answer = Assistant(demo).ask(text, sim)
    assert answer.changes == {} and not answer.needs_confirmation
    assert {d: sim.state(d) for d in demo.devices} == before
    assert answer.reply and "Did you mean" not in answer.reply and "你是想" not in answer.reply
