"""The rule engine on the demo space, with the real simulator on a manual clock: each trigger
kind, conditions, actions, modes, loop protection and traces."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from tests.helpers import simhub

from hyperhub.automation.engine import Engine, RunRow, UnknownRule, UnknownScene
from hyperhub.automation.loader import parse_automations
from hyperhub.clock import ManualClock
from hyperhub.errors import RuleDisabled
from hyperhub.space import Space, load_space
from hyperhub.store import StateStore

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "examples" / "demo" / "space.yaml"
SHANGHAI = ZoneInfo("Asia/Shanghai")


def at(text: str) -> float:
    """A local Shanghai time as UNIX seconds."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI).timestamp()


@pytest.fixture(scope="module")
def space() -> Space:
    return load_space(DEMO)


class Rig:
    """A SimHub, an engine with a book, and the traces it wrote."""

    def __init__(self, space: Space, yaml: str, start: str = "2026-11-26 12:00") -> None:
        self.clock = ManualClock(at(start))
        self.hub = simhub.SimHub(space, self.clock)
        self.book = parse_automations(yaml, "rules.yaml", space)
        self.rows: list[RunRow] = []
        self.engine = Engine(
            space, self.book, self.hub, clock=self.clock, traces=self.rows.extend, schedule=False
        )

    async def settle(self) -> None:
        """Let fired runs go as far as they can without the clock moving (a bounded number
        of loop turns: runs that wait for a delay stay waiting)."""
        for _ in range(30):
            await asyncio.sleep(0)

    async def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time on (devices move, time triggers come due), settling as we go."""
        left = seconds
        while left > 1e-9:
            h = min(step, left)
            self.hub.advance(h, step=h)
            self.engine.check_time()
            await self.settle()
            left -= h

    async def jump(self, seconds: float, step: float) -> None:
        """Move the clock on without simulating the devices (for long spans of time)."""
        left = seconds
        while left > 1e-9:
            h = min(step, left)
            self.clock.advance(h)
            self.engine.check_time()
            await self.settle()
            left -= h

    def results(self, rule: str) -> list[str]:
        self.engine.flush_traces()
        return [r[3] for r in self.rows if r[0] == rule]

    def last(self, rule: str) -> Any:
        state = self.engine.rules[rule]
        assert state.last is not None, f"rule {rule} never ran"
        return state.last


def run(
    space: Space, yaml: str, body: Callable[[Rig], Coroutine[Any, Any, None]], **kw: Any
) -> Rig:
    rig = Rig(space, yaml, **kw)

    async def main() -> None:
        await rig.engine.start()
        try:
            await body(rig)
        finally:
            await rig.engine.close()

    asyncio.run(main())
    return rig


# ---------------------------------------------------------------------------- triggers


def test_state_trigger_to_and_from_with_for_and_its_cancellation(space: Space) -> None:
    yaml = """
rules:
  - id: door_left_open
    triggers:
      - state: {device: front_door_contact, property: contact, from: true, to: false, for: 2m}
    actions:
      - notify: {device: phone_chen_wei, message: "Front door open for {{ trigger.for_s / 60 }} min"}
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("front_door_contact", contact=False)
        await rig.advance(60)
        rig.hub.push("front_door_contact", contact=True)  # closed again before 2 min
        await rig.advance(120)
        assert rig.hub.sent_to("phone_chen_wei") == []
        rig.hub.push("front_door_contact", contact=False)
        await rig.advance(119)
        assert rig.hub.sent_to("phone_chen_wei") == []
        await rig.advance(2)
        assert rig.hub.sent_to("phone_chen_wei") == [
            {"action": "notify", "args": {"message": "Front door open for 2.0 min"}}
        ]

    rig = run(space, yaml, body)
    assert rig.results("door_left_open") == ["ok"]
    trace = rig.last("door_left_open")
    assert trace.trigger["from"] is True and trace.trigger["to"] is False


def test_numeric_threshold_fires_on_crossing_and_rearms_after_hysteresis(space: Space) -> None:
    yaml = """
rules:
  - id: purifier_on
    triggers:
      - numeric: {device: living_room_purifier, property: pm25, above: 75, hysteresis: 10}
    actions:
      - set: {device: living_room_purifier, property: speed, value: 100}
"""

    async def body(rig: Rig) -> None:
        for value in (50, 80, 90, 70, 76, 66, 80):  # 70 / 66 are within the hysteresis band
            rig.hub.push("living_room_purifier", pm25=value)
            await rig.settle()
        assert len(rig.results("purifier_on")) == 1
        rig.hub.push("living_room_purifier", pm25=64)  # 75 - 10 = 65: re-armed
        rig.hub.push("living_room_purifier", pm25=81)
        await rig.settle()
        assert len(rig.results("purifier_on")) == 2
        assert rig.hub.states["living_room_purifier"]["speed"] == 100

    rig = run(space, yaml, body)
    assert rig.last("purifier_on").trigger["value"] == 81


def test_event_trigger_matches_args(space: Space) -> None:
    yaml = """
rules:
  - id: dog_patrols_garden
    triggers:
      - event: {device: cyberdog, event: command_accepted, args: {area: garden}}
    actions:
      - set: {device: garden_lights, property: on, value: true}
"""

    async def body(rig: Rig) -> None:
        rig.hub.emit("cyberdog", "command_accepted", {"area": "kitchen"})
        await rig.settle()
        assert rig.hub.states["garden_lights"]["on"] is False
        rig.hub.emit("cyberdog", "command_accepted", {"area": "garden"})
        await rig.settle()
        assert rig.hub.states["garden_lights"]["on"] is True

    run(space, yaml, body)


def test_time_trigger_on_workdays_only(space: Space) -> None:
    yaml = """
rules:
  - id: wake_up
    triggers: [{time: {at: "07:30", weekdays: workdays}}]
    actions: [{set: {device: bedroom_light, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        await rig.jump(3600, step=600)  # Friday 07:00 → 08:00
        assert rig.results("wake_up") == ["ok"]
        await rig.jump(2 * 86400, step=1800)  # the weekend
        assert rig.results("wake_up") == ["ok"]
        await rig.jump(86400, step=1800)  # Monday 08:00
        assert rig.results("wake_up") == ["ok", "ok"]
        assert (
            datetime.fromtimestamp(rig.last("wake_up").trigger["at"], SHANGHAI).strftime("%a %H:%M")
            == "Mon 07:30"
        )

    run(space, yaml, body, start="2026-11-27 07:00")


def test_cron_and_sun_triggers(space: Space) -> None:
    yaml = """
rules:
  - id: every_quarter
    triggers: [{cron: "*/15 * * * *"}]
    actions: [{call: {device: living_room_light, action: toggle}}]
  - id: dusk
    triggers: [{sun: {event: sunset, offset: "-30m"}}]
    actions: [{set: {device: garden_lights, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        await rig.jump(3600, step=300)  # 16:00 → 17:00 in Shanghai, late November
        assert rig.results("every_quarter") == ["ok"] * 4
        assert rig.results("dusk") == ["ok"]
        fired = datetime.fromtimestamp(rig.last("dusk").trigger["at"], SHANGHAI)
        assert (fired.hour, fired.minute) >= (16, 15) and (fired.hour, fired.minute) < (16, 40)

    run(space, yaml, body, start="2026-11-26 16:00")


def test_geofence_car_driving_its_route_home(space: Space) -> None:
    yaml = """
rules:
  - id: ac_when_near
    triggers: [{geofence: {device: car, place: home, radius_km: 2, event: enter}}]
    conditions: [{geo: {device: car, approaching: true}}]
    actions:
      - set: {device: living_room_ac, property: on, value: true}
      - notify: {device: phone_chen_wei, message: "SU7 is {{ trigger.distance_km | round(1) }} km away"}
  - id: garage_at_100m
    triggers: [{geofence: {device: car, radius_km: 0.1, event: enter}}]
    actions: [{call: {device: garage_door, action: open}}]
  - id: car_leaves
    triggers: [{geofence: {device: car, radius_km: 2, event: leave}}]
    actions: [{set: {device: living_room_ac, property: on, value: false}}]
"""

    async def body(rig: Rig) -> None:
        await rig.advance(60 * 10, step=2)  # 5 km at 40 km/h: home in under 8 min
        assert rig.results("ac_when_near") == ["ok"]
        assert rig.results("garage_at_100m") == ["ok"]
        assert rig.results("car_leaves") == []
        assert rig.hub.states["living_room_ac"]["on"] is True
        trigger = rig.last("ac_when_near").trigger
        assert 1.9 < trigger["distance_km"] <= 2.0 and trigger["approaching"] is True
        [note] = rig.hub.sent_to("phone_chen_wei")
        assert note["args"]["message"] == f"SU7 is {round(trigger['distance_km'], 1)} km away"
        # the risky garage door opened: rules are the owner's and confirm
        assert rig.hub.sent_to("garage_door") == [{"action": "open", "args": {}}]

    run(space, yaml, body)


def test_offline_trigger_with_for(space: Space) -> None:
    yaml = """
rules:
  - id: vacuum_lost
    triggers: [{offline: {device: robot_vacuum, for: 5m}}]
    actions: [{notify: {type: phone, message: "The vacuum is offline"}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.offline("robot_vacuum")
        await rig.advance(120, step=60)
        rig.hub.online("robot_vacuum")
        await rig.advance(600, step=60)
        assert rig.results("vacuum_lost") == []
        rig.hub.offline("robot_vacuum")
        await rig.advance(300, step=60)
        assert rig.results("vacuum_lost") == ["ok"]
        assert len(rig.hub.sent_to("phone_chen_wei")) == len(rig.hub.sent_to("phone_li_na")) == 1

    run(space, yaml, body)


# ---------------------------------------------------------------------------- conditions


def test_conditions_are_evaluated_and_traced(space: Space) -> None:
    yaml = """
rules:
  - id: evening_motion
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    conditions:
      - time: {after: "18:00", before: "06:00"}
      - or:
          - someone_home: true
          - state: {device: front_door_lock, property: locked, is: false}
      - not: {state: {device: hallway_light, property: on, is: true}}
    actions: [{set: {device: hallway_light, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("hallway_motion", motion=True)  # 12:00: outside the window
        await rig.settle()
        assert rig.results("evening_motion") == ["conditions_false"]
        steps = rig.last("evening_motion").steps
        assert [s["ok"] for s in steps] == [False] and "12:00" in steps[0]["what"]
        rig.clock.advance(7 * 3600)  # 19:00
        rig.hub.push("hallway_motion", motion=False)
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        assert rig.results("evening_motion")[-1] == "ok"
        assert [s["kind"] for s in rig.last("evening_motion").steps] == [
            "condition",
            "condition",
            "condition",
            "action",
        ]
        assert rig.hub.states["hallway_light"]["on"] is True

    run(space, yaml, body)


def test_someone_home_follows_the_phones(space: Space) -> None:
    yaml = """
rules:
  - id: last_one_out
    triggers: [{geofence: {type: phone, event: leave}}]
    conditions: [{someone_home: false}]
    actions: [{call: {device: front_door_lock, action: lock}}, {call: {device: robot_vacuum, action: start}}]
"""
    away = {"lat": 31.2268, "lon": 121.5452}

    async def body(rig: Rig) -> None:
        rig.hub.push("front_door_lock", locked=False)
        rig.hub.push("phone_li_na", location=away)
        await rig.settle()
        assert rig.results("last_one_out") == ["conditions_false"]
        rig.hub.push("phone_chen_wei", location=away)
        await rig.settle()
        assert rig.results("last_one_out") == ["conditions_false", "ok"]
        assert rig.hub.states["front_door_lock"]["locked"] is True
        assert rig.hub.states["robot_vacuum"]["status"] == "cleaning"

    run(space, yaml, body)


# ---------------------------------------------------------------------------- actions


def test_templates_delay_if_else_and_scene(space: Space) -> None:
    yaml = """
scenes:
  - id: movie_night
    name: Movie night
    aliases: [电影模式]
    states:
      living_room_light: {on: false}
      living_room_tv: {on: true, volume: 30}
    actions: [{call: {device: living_room_curtain, action: close}}]
rules:
  - id: warm_up
    triggers: [{state: {device: car, property: locked, to: false}}]
    actions:
      - set: {device: living_room_ac, property: target_temp, value: "{{ state.living_room_climate_sensor.temperature + 5 }}"}
      - delay: 1m
      - if: [{state: {device: living_room_ac, property: mode, is: cool}}]
        then: [{set: {device: living_room_ac, property: mode, value: heat}}]
        else: [{scene: movie_night}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("car", locked=False)
        await rig.settle()
        assert rig.hub.states["living_room_ac"]["target_temp"] == 21.8  # 16.8 + 5
        assert rig.engine.rules["warm_up"].running  # in its delay
        await rig.advance(61, step=30)
        assert rig.results("warm_up") == ["ok"]
        assert rig.hub.states["living_room_tv"]["on"] is True
        assert rig.hub.states["living_room_light"]["on"] is False
        kinds = [s["kind"] for s in rig.last("warm_up").steps]
        # the scene's four commands are steps too, then the scene's own summary
        assert kinds == ["action", "delay", "condition"] + ["action"] * 4 + ["scene"]

    run(space, yaml, body)


def test_a_failed_action_stops_the_run_unless_continue_on_error(space: Space) -> None:
    yaml = """
rules:
  - id: strict
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions:
      - set: {device: kitchen_light, property: on, value: false}
      - set: {device: bedroom_light, property: on, value: true}
  - id: lenient
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions:
      - set: {device: kitchen_light, property: brightness, value: 10}
        continue_on_error: true
      - set: {device: study_desk_lamp, property: on, value: true}
"""

    async def body(rig: Rig) -> None:
        rig.hub.offline("kitchen_light")
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        assert rig.results("strict") == ["error"]
        assert "kitchen_light is offline" in rig.last("strict").message
        assert rig.hub.states["bedroom_light"]["on"] is False
        assert rig.results("lenient") == ["ok"]
        assert rig.hub.states["study_desk_lamp"]["on"] is True

    run(space, yaml, body)


def test_a_template_that_fails_names_itself_in_the_trace(space: Space) -> None:
    yaml = """
rules:
  - id: bad_value
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions:
      - set: {device: living_room_ac, property: target_temp, value: "{{ state.living_room_climate_sensor.nope }}"}
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()

    rig = run(space, yaml, body)
    assert rig.results("bad_value") == ["error"]
    assert "'nope' is not defined" in rig.last("bad_value").message


def test_scene_report_lists_what_failed_and_the_rest_is_applied(space: Space) -> None:
    yaml = """
scenes:
  - id: good_night
    name: Good night
    aliases: [晚安]
    states:
      bedroom_light: {on: false}
      bedside_lamp: {on: false}
      phone_chen_wei: {dnd: true}
"""

    async def body(rig: Rig) -> None:
        rig.hub.offline("bedside_lamp")
        report = await rig.engine.apply_scene("晚安", actor="test")
        assert not report.ok
        assert [i.device for i in report.failed] == ["bedside_lamp"]
        assert rig.hub.states["bedroom_light"]["on"] is False
        assert rig.hub.states["phone_chen_wei"]["dnd"] is True
        assert "1 " not in report.summary() or "2/3 done" in report.summary()
        with pytest.raises(UnknownScene, match="did you mean 'good_night'"):
            rig.engine.scene("good_nite")

    run(space, yaml, body)


# ---------------------------------------------------------------------------- modes, loops


MODES = """
rules:
  - id: slow
    mode: {mode}
    triggers: [{{state: {{device: hallway_motion, property: motion, to: true}}}}]
    actions:
      - delay: 10s
      - call: {{device: living_room_light, action: toggle}}
"""


def _motion_pulses(count: int) -> Callable[[Rig], Coroutine[Any, Any, None]]:
    async def body(rig: Rig) -> None:
        for _ in range(count):
            rig.hub.push("hallway_motion", motion=True)
            await rig.settle()
            rig.hub.push("hallway_motion", motion=False)
            await rig.advance(2)
        await rig.advance(60, step=5)

    return body


def test_mode_single_skips_runs_while_one_runs(space: Space) -> None:
    rig = run(space, MODES.format(mode="single"), _motion_pulses(3))
    assert rig.results("slow") == ["ok"]  # the skipped ones are counted on it, not traced
    assert "2 more triggers came while it ran, not run (mode single)" in rig.last("slow").message
    assert len(rig.hub.sent_to("living_room_light")) == 1


def test_mode_restart_cancels_the_running_one(space: Space) -> None:
    rig = run(space, MODES.format(mode="restart"), _motion_pulses(3))
    assert sorted(rig.results("slow")) == ["cancelled", "cancelled", "ok"]
    assert len(rig.hub.sent_to("living_room_light")) == 1


def test_mode_queue_runs_them_in_turn(space: Space) -> None:
    rig = run(space, MODES.format(mode="queue"), _motion_pulses(3))
    assert rig.results("slow") == ["ok", "ok", "ok"]
    assert len(rig.hub.sent_to("living_room_light")) == 3


def test_a_rule_that_triggers_itself_is_stopped_and_reported(space: Space) -> None:
    yaml = """
rules:
  - id: flip_flop
    triggers: [{state: {device: living_room_strip, property: on}}]
    actions: [{call: {device: living_room_strip, action: toggle}}]
  - id: ping
    triggers: [{state: {device: study_fan, property: on, to: true}}]
    actions: [{set: {device: bathroom_exhaust_fan, property: on, value: true}}, {set: {device: study_fan, property: on, value: false}}]
  - id: pong
    triggers: [{state: {device: bathroom_exhaust_fan, property: on, to: true}}]
    actions: [{set: {device: bathroom_exhaust_fan, property: on, value: false}}, {set: {device: study_fan, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("living_room_strip", on=False)  # someone switched it off
        await rig.settle()
        await rig.settle()
        rig.hub.push("study_fan", on=True)
        for _ in range(5):
            await rig.settle()
        with pytest.raises(RuleDisabled, match="triggered itself"):
            rig.engine.trigger("flip_flop", actor="test")

    rig = run(space, yaml, body)
    assert sorted(rig.results("flip_flop")) == ["loop", "ok"]
    state = rig.engine.rules["flip_flop"]
    assert not state.enabled and "flip_flop → flip_flop" in (state.stopped or "")
    assert rig.results("ping")[-1] == "loop" and "ping → pong → ping" in rig.last("ping").message
    assert len(rig.hub.sent_to("living_room_strip")) == 1  # stopped before its second run


def test_enable_again_after_a_loop(space: Space) -> None:
    yaml = """
rules:
  - id: flip_flop
    triggers: [{state: {device: living_room_strip, property: on}}]
    actions: [{call: {device: living_room_strip, action: toggle}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("living_room_strip", on=False)
        for _ in range(3):
            await rig.settle()
        assert not rig.engine.rules["flip_flop"].enabled
        rig.hub.push("living_room_strip", on=True)  # stopped: not watched any more
        await rig.settle()
        assert len(rig.results("flip_flop")) == 2
        rig.engine.enable("flip_flop")
        assert rig.engine.rules["flip_flop"].enabled
        await rig.advance(10)  # the rule's own change is no longer the cause
        rig.hub.push("living_room_strip", on=False)
        for _ in range(3):
            await rig.settle()
        with pytest.raises(UnknownRule, match="did you mean 'flip_flop'"):
            rig.engine.rule("flip_flip")

    rig = run(space, yaml, body)
    assert sorted(rig.results("flip_flop")) == ["loop", "loop", "ok", "ok"]


def test_manual_trigger_skips_conditions_unless_asked(space: Space) -> None:
    yaml = """
rules:
  - id: at_night
    triggers: [{time: "23:00"}]
    conditions: [{time: {after: "22:00", before: "06:00"}}]
    actions: [{set: {device: bedroom_light, property: on, value: false}}]
"""

    async def body(rig: Rig) -> None:
        rig.engine.trigger("at_night", actor="cli")
        await rig.settle()
        assert rig.results("at_night") == ["ok"]
        rig.engine.trigger("at_night", actor="cli", check_conditions=True)
        await rig.settle()
        assert rig.results("at_night") == ["ok", "conditions_false"]
        rig.engine.enable("at_night", False)
        with pytest.raises(RuleDisabled, match="disabled"):
            rig.engine.trigger("at_night", actor="cli")

    rig = run(space, yaml, body)
    assert rig.rows[0][5]["kind"] == "manual" and rig.rows[0][5]["by"] == "cli"


def test_traces_land_in_a_real_sqlite_store(space: Space, tmp_path: Path) -> None:
    yaml = """
rules:
  - id: purifier_on
    triggers: [{numeric: {device: living_room_purifier, property: pm25, above: 75}}]
    actions: [{set: {device: living_room_purifier, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("living_room_purifier", pm25=120)
        await rig.settle()

    rig = run(space, yaml, body)
    with StateStore.open(f"sqlite:///{tmp_path / 'hub.db'}") as store:
        store.write_runs(rig.rows)
        [entry] = store.rule_runs("purifier_on")
    assert entry.result == "ok" and entry.trigger["kind"] == "numeric"
    assert entry.steps[0]["what"] == "living_room_purifier.on = True" and entry.steps[0]["ok"]


def test_a_device_first_heard_after_start_arms_its_triggers_without_firing(
    space: Space,
) -> None:
    yaml = """
rules:
  - id: purifier_on
    triggers: [{numeric: {device: living_room_purifier, property: pm25, above: 75}}]
    actions: [{set: {device: living_room_purifier, property: speed, value: 90}}]
  - id: sleeping
    triggers: [{state: {device: watch_chen_wei, property: sleeping, to: true}}]
    actions: [{set: {device: bedroom_light, property: on, value: false}}]
"""
    rig = Rig(space, yaml)
    first = {d: rig.hub.states.pop(d) for d in ("living_room_purifier", "watch_chen_wei")}

    async def main() -> None:
        await rig.engine.start()  # neither device has been heard from yet
        try:
            rig.hub.push("living_room_purifier", **{**first["living_room_purifier"], "pm25": 90})
            rig.hub.push("watch_chen_wei", **{**first["watch_chen_wei"], "sleeping": True})
            await rig.settle()
            assert rig.results("purifier_on") == [] and rig.results("sleeping") == []
            rig.hub.push("living_room_purifier", pm25=40)
            rig.hub.push("living_room_purifier", pm25=80)
            rig.hub.push("watch_chen_wei", sleeping=False)
            rig.hub.push("watch_chen_wei", sleeping=True)
            await rig.settle()
            assert rig.results("purifier_on") == ["ok"] and rig.results("sleeping") == ["ok"]
        finally:
            await rig.engine.close()

    asyncio.run(main())


def test_disabling_a_rule_cancels_its_run(space: Space) -> None:
    async def body(rig: Rig) -> None:
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        assert rig.engine.rules["slow"].running  # in its 10 s delay
        rig.engine.enable("slow", False)
        await rig.settle()
        await rig.advance(30, step=5)
        assert rig.hub.sent_to("living_room_light") == []

    rig = run(space, MODES.format(mode="single"), body)
    assert rig.results("slow") == ["cancelled"]
    assert rig.last("slow").message == "the rule was disabled"


def test_reload_keeps_unchanged_rules_and_swaps_the_rest(space: Space) -> None:
    yaml = """
rules:
  - id: keep
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{delay: 10s}, {set: {device: hallway_light, property: on, value: true}}]
  - id: change
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{set: {device: kitchen_light, property: on, value: false}}]
  - id: drop
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{set: {device: bedroom_light, property: on, value: true}}]
"""
    new_yaml = """
rules:
  - id: keep
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{delay: 10s}, {set: {device: hallway_light, property: on, value: true}}]
  - id: change
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{set: {device: kitchen_light, property: brightness, value: 10}}]
  - id: new
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions: [{set: {device: study_desk_lamp, property: on, value: true}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        assert rig.engine.rules["keep"].running
        new_book = parse_automations(new_yaml, "rules.yaml", rig.engine.space)
        changes = rig.engine.reload(new_book)
        assert changes == {"added": ["new"], "changed": ["change"], "removed": ["drop"]}
        assert rig.engine.rules["keep"].running  # untouched: its run goes on
        await rig.advance(11)
        assert rig.hub.states["hallway_light"]["on"] is True
        rig.hub.push("hallway_motion", motion=False)
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        assert rig.hub.states["kitchen_light"]["brightness"] == 10
        assert rig.hub.states["study_desk_lamp"]["on"] is True
        assert set(rig.engine.rules) == {"keep", "change", "new"}

    rig = run(space, yaml, body)
    assert rig.results("drop") == ["ok"]  # only its run before the reload


# ---------------------------------------------------------------------------- review fixes


def test_a_short_for_wakes_the_scheduler(space: Space) -> None:
    """With the real scheduler (wall clock), a 0.2 s `for` fires long before the scheduler's
    30 s nap would have ended."""
    from hyperhub.clock import SystemClock

    yaml = """
rules:
  - id: door_open
    triggers: [{state: {device: front_door_contact, property: contact, to: false, for: 0.2}}]
    actions: [{set: {device: hallway_light, property: on, value: true}}]
"""
    hub = simhub.SimHub(space, ManualClock())
    book = parse_automations(yaml, "rules.yaml", space)
    engine = Engine(space, book, hub, clock=SystemClock())

    async def main() -> None:
        await engine.start()
        try:
            await asyncio.sleep(0.05)  # the scheduler is asleep (nothing due)
            hub.push("front_door_contact", contact=False)
            async with asyncio.timeout(10):
                while hub.states["hallway_light"]["on"] is not True:
                    await asyncio.sleep(0.02)
        finally:
            await engine.close()

    asyncio.run(main())


def test_close_cancels_queued_runs_and_sends_nothing_after(space: Space) -> None:
    async def body(rig: Rig) -> None:
        for _ in range(3):
            rig.hub.push("hallway_motion", motion=True)
            rig.hub.push("hallway_motion", motion=False)
            await rig.settle()
        assert len(rig.engine.rules["slow"].queue) == 2

    rig = run(space, MODES.format(mode="queue"), body)
    for _ in range(3):
        asyncio.run(asyncio.sleep(0))
    assert rig.hub.sent_to("living_room_light") == []
    assert rig.results("slow") == ["cancelled"] * 3
    assert {r[4] for r in rig.rows} == {"the hub stopped"}


def test_loop_protection_follows_properties_not_devices(space: Space) -> None:
    """Independent changes of a device a rule just commanded are not the rule's doing: a
    notify changes nothing; another property changed by someone else is theirs."""
    yaml = """
rules:
  - id: welcome
    triggers: [{geofence: {device: phone_li_na, event: enter}}]
    actions: [{notify: {device: phone_li_na, message: Welcome home}}]
  - id: strip_dim
    triggers: [{state: {device: living_room_strip, property: on, to: true}}]
    actions: [{set: {device: living_room_strip, property: brightness, value: 30}}]
"""
    near = {"lat": 31.2046, "lon": 121.5875}  # ~110 m from home
    far = {"lat": 31.2066, "lon": 121.5875}  # ~330 m

    async def body(rig: Rig) -> None:
        for _ in range(3):  # GPS jitter across the fence, seconds apart
            rig.hub.push("phone_li_na", location=far)
            rig.hub.push("phone_li_na", location=near)
            await rig.settle()
        for _ in range(3):  # someone switches the strip off and on by hand
            rig.hub.push("living_room_strip", on=False)
            rig.hub.push("living_room_strip", on=True)
            await rig.settle()

    rig = run(space, yaml, body)
    assert rig.results("welcome") == ["ok"] * 3 and rig.engine.rules["welcome"].enabled
    assert rig.results("strip_dim") == ["ok"] * 3 and rig.engine.rules["strip_dim"].enabled


def test_a_for_cut_short_rearms_a_threshold(space: Space) -> None:
    yaml = """
rules:
  - id: smoky
    triggers: [{numeric: {device: living_room_purifier, property: pm25, above: 75, hysteresis: 10, for: 60}}]
    actions: [{set: {device: living_room_purifier, property: speed, value: 100}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("living_room_purifier", pm25=80)
        await rig.jump(10, step=10)
        rig.hub.push("living_room_purifier", pm25=74)  # a dip into the band: the for stops
        await rig.jump(10, step=10)
        rig.hub.push("living_room_purifier", pm25=90)
        await rig.jump(70, step=10)

    rig = run(space, yaml, body)
    assert rig.results("smoky") == ["ok"]


def test_every_fired_run_gets_one_trace_even_if_replaced_at_once(space: Space) -> None:
    yaml = """
rules:
  - id: twice
    mode: restart
    triggers:
      - state: {device: hallway_motion, property: motion, to: true}
      - state: {device: hallway_motion, property: illuminance}
    actions: [{delay: 5s}, {call: {device: living_room_light, action: toggle}}]
"""

    async def body(rig: Rig) -> None:
        rig.hub.push("hallway_motion", motion=True, illuminance=10)  # one message, two fires
        await rig.settle()
        await rig.jump(10, step=5)

    rig = run(space, yaml, body)
    assert sorted(rig.results("twice")) == ["cancelled", "ok"]
    assert rig.engine.rules["twice"].runs == 2


# ------------------------------------------------------------------- the quiet gate

GATED = """
rules:
  - id: hot
    triggers: [{numeric: {device: living_room_climate_sensor, property: temperature, above: 30, hysteresis: 2}}]
    actions: [{set: {device: living_room_light, property: on, value: true}}]
  - id: dry
    triggers: [{numeric: {device: living_room_climate_sensor, property: humidity, below: 20, hysteresis: 5}}]
    actions: [{set: {device: living_room_light, property: on, value: true}}]
  - id: band
    triggers: [{numeric: {device: bathroom_sensor, property: temperature, above: 10, below: 20, hysteresis: 1}}]
    actions: [{set: {device: kitchen_light, property: on, value: true}}]
  - id: smoky
    triggers: [{numeric: {device: kitchen_air_monitor, property: pm25, above: 75}}]
    actions: [{set: {device: kitchen_light, property: on, value: true}}]
  - id: smoky_long
    triggers: [{numeric: {device: kitchen_air_monitor, property: pm25, above: 150, for: 5}}]
    actions: [{set: {device: kitchen_light, property: on, value: false}}]
  - id: muggy
    triggers:
      - numeric: {device: bathroom_sensor, property: humidity, above: 70, hysteresis: 3}
      - state: {device: bathroom_sensor, property: temperature, from: 25}
    actions: [{set: {device: hallway_light, property: on, value: true}}]
  - id: two_on_one
    triggers:
      - numeric: {device: living_room_climate_sensor, property: temperature, above: 25}
      - numeric: {device: living_room_climate_sensor, property: temperature, below: 5, hysteresis: 0.5}
    actions: [{set: {device: living_room_light, property: on, value: false}}]
"""
GATED_PROPS = {
    "living_room_climate_sensor": ("temperature", "humidity"),
    "kitchen_air_monitor": ("pm25",),
    "bathroom_sensor": ("temperature", "humidity"),
    "hallway_motion": ("illuminance",),
    "kettle_plug": ("power_w",),
}


def _watches(space: Space) -> Any:
    from hyperhub.automation.watch import Watches

    book = parse_automations(GATED, "rules.yaml", space)
    clock = ManualClock(at("2026-11-26 12:00"))
    watches = Watches(space, dict(book.places), SHANGHAI, clock.now)
    start = {d: dict.fromkeys(props, 0) for d, props in GATED_PROPS.items()}
    for rule in book.rules.values():
        watches.add_rule(rule, start.get)
    return watches


@pytest.mark.parametrize("seed", range(12))
def test_changes_the_gate_leaves_out_would_have_changed_nothing(space: Space, seed: int) -> None:
    """The live hub drops changes `Watches.quiet` calls quiet before they reach the engine.
    Random traffic (numbers around every threshold, ints and floats, non-numbers, unwatched
    properties, batches as the hub's loop turns make them) through a gated and an ungated
    copy must fire the same triggers with the same values, and leave the same watch states."""
    import random

    rng = random.Random(seed)
    full, gated = _watches(space), _watches(space)
    fired_full: list[tuple[str, Any]] = []
    fired_gated: list[tuple[str, Any]] = []
    skipped = 0
    values = [-1, 0, 3, 4.5, 5, 5.4, 5.5, 8, 9, 10, 10.5, 11, 15, 19, 19.5, 20, 21, 25, 25.5,
              27, 28, 29.5, 30, 30.5, 31, 60, 67, 69.9, 70, 73, 75, 76, 120, 149, 151, 200,
              True, "high", None, float("nan")]  # fmt: skip
    for _ in range(500):  # loop turns
        batch = []
        for _ in range(rng.randint(1, 6)):
            device = rng.choice(list(GATED_PROPS))
            props = rng.sample(GATED_PROPS[device], rng.randint(1, len(GATED_PROPS[device])))
            changed = {p: rng.choice(values) for p in props}
            fired_full += [
                (f.rule, f.info.get("value")) for f in full.on_changes([(device, changed, 0.0)])
            ]
            if gated.quiet(device, changed):  # as FabricAccess's collect: judged as it arrives
                skipped += 1
            else:
                batch.append((device, changed, 0.0))
        fired_gated += [(f.rule, f.info.get("value")) for f in gated.on_changes(batch)]

    def states(w: Any) -> list[Any]:
        return [(d, p, x.rule, x.armed) for d, props in sorted(w.by_device.items())
                for p, ws in sorted(props.items()) for x in ws]  # fmt: skip

    assert fired_gated == fired_full
    assert states(gated) == states(full)
    assert sorted(gated.pending) == sorted(full.pending)
    assert skipped > 0 and fired_full  # the gate did leave changes out, and triggers fired


def test_the_gate_holds_numbers_on_the_quiet_side_and_opens_for_the_rest(space: Space) -> None:
    w = _watches(space)
    w.on_changes([("living_room_climate_sensor", {"temperature": 20.0}, 0.0)])
    w.on_changes([("kettle_plug", {"power_w": 5}, 0.0)])
    assert w.quiet("living_room_climate_sensor", {"temperature": 24.9})  # ≤ 25, ≥ 5: nothing
    assert w.quiet("living_room_climate_sensor", {"illuminance": 300})  # nobody watches it
    assert w.quiet("kettle_plug", {"power_w": 2000})  # no rule watches the plug
    assert not w.quiet("kettle_plug", {"location": {"lat": 1.0, "lon": 2.0}})  # tracked
    assert not w.quiet("living_room_climate_sensor", {"temperature": 26})  # fires
    # a change that is not quiet closes the gate until the engine has evaluated it
    assert not w.quiet("living_room_climate_sensor", {"temperature": 20.0})
    w.on_changes([("living_room_climate_sensor", {"temperature": 26}, 0.0)])
    assert not w.quiet("living_room_climate_sensor", {"temperature": 24.0})  # disarmed: 24 re-arms
    w.on_changes([("bathroom_sensor", {"humidity": 50}, 0.0)])
    assert w.quiet("bathroom_sensor", {"humidity": 60})
    assert not w.quiet("bathroom_sensor", {"temperature": 20})  # a state trigger's property


def test_an_action_template_at_its_step_limit_renders_off_the_loop_and_fails_named(
    space: Space,
) -> None:
    """90 million loop iterations in a template once stalled the hub's loop for 4.9 s: an
    action's templates now render in a worker thread, and stop at the step limit."""
    import threading

    from hyperhub import templates
    from hyperhub.automation import engine as engine_module

    loop_threads: set[int] = set()
    render_threads: set[int] = set()

    def recording(value, names):
        render_threads.add(threading.get_ident())
        return templates.render(value, names)

    yaml = """
rules:
  - id: busy
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions:
      - set: {device: living_room_ac, property: target_temp, value: "{% for a in range(3000) %}{% for b in range(3000) %}{% endfor %}{% endfor %}22"}
  - id: fine
    triggers: [{state: {device: hallway_motion, property: motion, to: true}}]
    actions:
      - set: {device: living_room_ac, property: mode, value: "{{ 'cool' if state.living_room_climate_sensor.temperature > 10 else 'heat' }}"}
"""

    async def body(rig: Rig) -> None:
        loop_threads.add(threading.get_ident())
        rig.hub.push("hallway_motion", motion=True)
        await rig.settle()
        for _ in range(600):  # bounded: the render runs in a thread, slower on a busy machine
            if rig.results("busy") and rig.results("busy")[-1] != "running":
                break
            await asyncio.sleep(0.05)

    original = engine_module.render
    engine_module.render = recording
    try:
        rig = run(space, yaml, body)
    finally:
        engine_module.render = original
    assert rig.results("busy") == ["error"]
    assert "does too much work" in rig.last("busy").message
    assert rig.results("fine") == ["ok"] and rig.hub.states["living_room_ac"]["mode"] == "cool"
    assert render_threads and not render_threads & loop_threads
