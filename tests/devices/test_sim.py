"""The generic simulator: writes, actions and processes of the built-in types, and its errors."""

from __future__ import annotations

import pytest

from hyperhub.clock import ManualClock, SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import SpecError, UnknownDevice, ValueNotAllowed
from hyperhub.space import parse_space
from hyperhub.spec.backend import DeviceEvent

HOME = """
space: Test home
areas: [{id: home, name: Home}]
devices:
  - {id: lamp, type: light, area: home, state: {"on": false, brightness: 50, color: "#ffffff"}}
  - {id: ac, type: climate, area: home,
     state: {"on": false, mode: cool, target_temp: 22, current_temp: 28}}
  - {id: curtain, type: cover, class: curtain, area: home, state: {position: 0}}
  - {id: garage_door, type: cover, class: garage, area: home, state: {position: 0}}
  - {id: front_door, type: lock, area: home, state: {locked: true}}
  - {id: vacuum, type: vacuum, area: home, state: {status: docked, battery: 100}}
  - {id: car, type: car,
     state: {hvac_on: false, cabin_target_temp: 22, cabin_temp: 10, charging: false,
             charge_limit: 80, battery_soc: 60, range_km: 300}}
  - {id: phone, type: phone, state: {battery: 50}}
  - {id: dog, type: robot_dog, state: {posture: lie, mode: idle, battery: 90}}
  - {id: climate_sensor, type: sensor, area: home, state: {temperature: 22, humidity: 45}}
"""


def home(**kwargs) -> Simulator:
    """A simulator of the test home on a manual clock."""
    return Simulator(parse_space(HOME), ManualClock(), **kwargs)


def events(sim: Simulator, name: str) -> list[DeviceEvent]:
    return [e for e in sim.drain_events() if e.name == name]


# -- light ------------------------------------------------------------------------------------


def test_brightness_on_an_off_light_turns_it_on():
    sim = home()
    assert sim.set("lamp", "brightness", 80) == {"on": True, "brightness": 80}
    assert sim.state("lamp")["on"] is True


def test_brightness_already_held_on_an_off_light_only_turns_it_on():
    sim = home()
    assert sim.set("lamp", "brightness", 50) == {"on": True}


def test_writing_the_value_a_property_holds_changes_nothing():
    sim = home()
    assert sim.set("lamp", "on", False) == {}


def test_turning_a_light_off_leaves_its_brightness():
    sim = home()
    sim.set("lamp", "brightness", 70)
    assert sim.set("lamp", "on", False) == {"on": False}
    assert sim.state("lamp")["brightness"] == 70


def test_toggle_flips_the_power_switch():
    sim = home()
    assert sim.call("lamp", "toggle") == {"on": True}
    assert sim.call("lamp", "toggle") == {"on": False}


def test_written_colour_is_normalised():
    sim = home()
    assert sim.set("lamp", "color", "#FFAA00")["color"] == "#ffaa00"


def test_state_returns_a_copy():
    sim = home()
    sim.state("lamp")["on"] = True
    assert sim.state("lamp")["on"] is False


# -- climate ----------------------------------------------------------------------------------


def test_target_temp_turns_climate_on():
    sim = home()
    assert sim.set("ac", "target_temp", 24) == {"on": True, "target_temp": 24.0}


def test_current_temp_drifts_toward_target_while_on():
    sim = home()
    sim.set("ac", "on", True)
    sim.advance(100)
    assert sim.state("ac")["current_temp"] == pytest.approx(26.0)  # 0.02 °C/s down from 28
    sim.advance(1000)
    assert sim.state("ac")["current_temp"] == 22.0


def test_current_temp_stays_near_room_temperature_while_off():
    sim = home()
    sim.advance(100)
    assert abs(sim.state("ac")["current_temp"] - 28) <= 100 * 0.01


def test_current_temp_shows_two_decimals():
    sim = home()
    sim.set("ac", "on", True)
    sim.advance(0.5)
    assert sim.state("ac")["current_temp"] == 27.99


# -- cover ------------------------------------------------------------------------------------


def test_open_moves_the_cover_over_time():
    sim = home()
    assert sim.call("curtain", "open") == {}
    assert sim.advance(5)["curtain"] == {"position": 50}
    sim.advance(5)
    assert sim.state("curtain")["position"] == 100


def test_cover_stops_moving_at_its_target():
    sim = home()
    sim.call("curtain", "open")
    sim.advance(10)
    assert not sim.is_moving("curtain")
    assert "curtain" not in sim.advance(10)


def test_close_moves_the_cover_back_to_zero():
    sim = home(state={"curtain": {"position": 100}})
    sim.call("curtain", "close")
    sim.advance(3)
    assert sim.state("curtain")["position"] == 70
    sim.advance(20)
    assert sim.state("curtain")["position"] == 0


def test_stop_halts_the_cover_where_it_is():
    sim = home()
    sim.call("curtain", "open")
    sim.advance(4)
    sim.call("curtain", "stop")
    sim.advance(10)
    assert sim.state("curtain")["position"] == 40
    assert not sim.is_moving("curtain")


def test_writing_position_moves_the_cover_over_time():
    sim = home()
    assert sim.set("curtain", "position", 30) == {}
    assert sim.is_moving("curtain")
    sim.advance(2)
    assert sim.state("curtain")["position"] == 20
    sim.advance(10)
    assert sim.state("curtain")["position"] == 30


def test_writing_the_position_a_cover_has_stops_it_there():
    sim = home()
    sim.call("curtain", "open")
    sim.advance(3)
    assert sim.set("curtain", "position", 30) == {}
    sim.advance(5)
    assert sim.state("curtain")["position"] == 30


def test_settle_puts_a_travelling_cover_at_its_target():
    sim = home()
    sim.call("curtain", "open")
    assert sim.settle() == {"curtain": {"position": 100}}
    assert not sim.is_moving("curtain")


def test_settle_leaves_processes_alone():
    sim = home()
    sim.set("car", "charging", True)
    assert sim.settle() == {}


def test_garage_door_travels_slower_than_a_curtain():
    sim = home()
    sim.call("curtain", "open")
    sim.call("garage_door", "open")
    sim.advance(4)
    assert sim.state("garage_door")["position"] < sim.state("curtain")["position"]


# -- lock -------------------------------------------------------------------------------------


def test_unlock_action_unlocks():
    sim = home()
    assert sim.call("front_door", "unlock") == {"locked": False}


def test_lock_action_locks():
    sim = home(state={"front_door": {"locked": False}})
    assert sim.call("front_door", "lock") == {"locked": True}


# -- vacuum -----------------------------------------------------------------------------------


def test_vacuum_start_sets_cleaning():
    sim = home()
    assert sim.call("vacuum", "start") == {"status": "cleaning"}


def test_vacuum_battery_drains_while_cleaning():
    sim = home()
    sim.call("vacuum", "start")
    sim.advance(500)
    assert sim.state("vacuum")["battery"] == 90  # 0.02 %/s


def test_vacuum_returns_when_its_cleaning_timer_ends():
    sim = home()
    sim.call("vacuum", "start")
    sim.advance(1799)
    assert sim.state("vacuum")["status"] == "cleaning"
    sim.advance(1)
    assert sim.state("vacuum")["status"] == "returning"
    assert [e.name for e in sim.drain_events()] == ["finished"]


def test_returning_vacuum_docks_after_its_timer():
    sim = home()
    sim.call("vacuum", "start")
    sim.call("vacuum", "dock")
    sim.advance(59)
    assert sim.state("vacuum")["status"] == "returning"
    sim.advance(1)
    assert sim.state("vacuum")["status"] == "docked"


def test_an_action_whose_state_already_holds_does_nothing():
    sim = home()
    assert sim.state("vacuum")["status"] == "docked"
    assert sim.call("vacuum", "dock") == {}
    sim.drain_events()
    assert sim.state("vacuum")["status"] == "docked"
    assert sim.call("vacuum", "start") == {"status": "cleaning"}
    assert sim.call("vacuum", "start") == {}


def test_a_named_switch_is_turned_on_by_its_property():
    sim = home()
    car = next(d for d in sim.device_ids if sim.space.devices[d].type == "car")
    sim.set(car, "hvac_on", False)
    changed = sim.set(car, "cabin_target_temp", 23)
    assert changed == {"hvac_on": True, "cabin_target_temp": 23.0}


def test_docked_vacuum_recharges():
    sim = home(state={"vacuum": {"battery": 50}})
    sim.advance(100)
    assert sim.state("vacuum")["battery"] == 55


def test_timer_restarts_when_its_condition_holds_again():
    sim = home()
    sim.call("vacuum", "start")
    sim.advance(1000)
    sim.call("vacuum", "pause")
    sim.advance(10)
    sim.call("vacuum", "start")
    sim.advance(1000)
    assert sim.state("vacuum")["status"] == "cleaning"
    sim.advance(800)
    assert sim.state("vacuum")["status"] == "returning"


# -- car --------------------------------------------------------------------------------------


def test_cabin_temp_drifts_toward_target_while_hvac_on():
    sim = home()
    sim.set("car", "hvac_on", True)
    sim.advance(100)
    assert sim.state("car")["cabin_temp"] == pytest.approx(15.0)  # 0.05 °C/s up from 10
    sim.advance(1000)
    assert sim.state("car")["cabin_temp"] == 22.0


def test_cabin_temp_stays_put_while_hvac_off():
    sim = home()
    sim.advance(600)
    assert sim.state("car")["cabin_temp"] == 10.0


def test_charging_raises_battery_soc():
    sim = home()
    sim.set("car", "charging", True)
    sim.advance(500)
    assert sim.state("car")["battery_soc"] == pytest.approx(65.0)  # 0.01 %/s


def test_charging_stops_at_the_charge_limit():
    sim = home()
    sim.set("car", "charging", True)
    sim.advance(3000)
    car = sim.state("car")
    assert car["battery_soc"] == 80.0
    assert car["charging"] is False


def test_charge_complete_fires_once_at_the_limit():
    sim = home()
    sim.set("car", "charging", True)
    sim.advance(3000)
    done = events(sim, "charge_complete")
    assert [(e.device, e.ts) for e in done] == [("car", 1_700_000_000.0 + 2000)]
    sim.advance(3000)
    assert events(sim, "charge_complete") == []


def test_charge_complete_fires_again_after_a_new_limit_is_reached():
    sim = home()
    sim.set("car", "charging", True)
    sim.advance(2000)
    sim.set("car", "charge_limit", 90)
    sim.set("car", "charging", True)
    sim.advance(1000)
    assert sim.state("car")["battery_soc"] == 90.0
    assert len(events(sim, "charge_complete")) == 2


def test_charging_above_the_limit_stops_without_draining():
    sim = home(state={"car": {"battery_soc": 90}})
    sim.set("car", "charging", True)
    sim.advance(10)
    car = sim.state("car")
    assert (car["battery_soc"], car["charging"]) == (90.0, False)


def test_range_follows_battery_soc():
    sim = home()
    sim.set("car", "charging", True)
    sim.advance(1000)
    assert sim.state("car")["range_km"] == pytest.approx(70 * 300 / 60)


def test_range_ratio_with_an_empty_battery_at_start_comes_from_the_spec():
    sim = home(state={"car": {"battery_soc": 0, "range_km": 0}})
    sim.set("car", "charging", True)
    sim.advance(1000)
    assert sim.state("car")["range_km"] == pytest.approx(10 * 420 / 70)  # spec defaults


def test_slow_int_battery_drains_without_stalling():
    sim = home()
    sim.advance(4000)  # 0.0005 %/s: 2 % in 4000 s, far below 1 % per step
    assert sim.state("phone")["battery"] == 48


# -- sensors ----------------------------------------------------------------------------------


def test_sensor_readings_drift_within_their_bands():
    sim = home(only=["climate_sensor"])
    seen = set()
    for _ in range(50):
        sim.advance(600)
        reading = sim.state("climate_sensor")
        assert 15 <= reading["temperature"] <= 32
        assert 25 <= reading["humidity"] <= 75
        seen.add(reading["temperature"])
    assert len(seen) > 1


def test_sensor_exposes_only_the_readings_its_space_gives():
    assert set(home().state("climate_sensor")) == {"temperature", "humidity"}


def test_same_seed_gives_the_same_readings():
    a, b = home(seed=7), home(seed=7)
    assert a.advance(3600) == b.advance(3600)


def test_another_seed_gives_other_readings():
    a, b = home(seed=7), home(seed=8)
    a.advance(3600)
    b.advance(3600)
    assert a.state("climate_sensor") != b.state("climate_sensor")


def test_readings_do_not_depend_on_which_other_devices_run():
    a, b = home(seed=3), home(seed=3, only=["climate_sensor"])
    a.advance(600)
    b.advance(600)
    assert a.state("climate_sensor") == b.state("climate_sensor")


# -- robot dog, phone -------------------------------------------------------------------------


def test_follow_stands_the_dog_up_and_follows():
    sim = home()
    assert sim.call("dog", "follow", {"target": "Lin"}) == {"posture": "stand", "mode": "follow"}


def test_follow_event_carries_its_target():
    sim = home()
    sim.call("dog", "follow", {"target": "Lin"})
    assert [(e.device, e.args) for e in events(sim, "command_accepted")] == [
        ("dog", {"target": "Lin"})
    ]


def test_patrol_event_carries_its_area():
    sim = home()
    sim.call("dog", "patrol", {"area": "garden"})
    assert events(sim, "command_accepted")[0].args == {"area": "garden"}


def test_follow_without_target_is_refused():
    sim = home()
    with pytest.raises(ValueNotAllowed, match="target"):
        sim.call("dog", "follow")
    assert sim.state("dog")["mode"] == "idle"
    assert sim.drain_events() == []


def test_docked_dog_lies_down_after_its_timer():
    sim = home()
    sim.call("dog", "stand")
    sim.call("dog", "dock")
    sim.advance(29)
    assert sim.state("dog")["posture"] == "stand"
    sim.advance(1)
    assert sim.state("dog")["posture"] == "lie"


def test_phone_notify_emits_the_message():
    sim = home()
    assert sim.call("phone", "notify", {"message": "Car is charged"}) == {}
    [event] = sim.drain_events()
    assert (event.device, event.name) == ("phone", "notification")
    assert event.args == {"message": "Car is charged"}


def test_action_event_is_stamped_with_the_clock():
    clock = ManualClock(start=1000.0)
    sim = Simulator(parse_space(HOME), clock)
    clock.advance(5)
    sim.call("phone", "ring")
    assert sim.drain_events()[0].ts == 1005.0


def test_drain_events_empties_the_queue():
    sim = home()
    sim.call("phone", "ring")
    sim.drain_events()
    assert sim.drain_events() == []


# -- errors leave the state alone -------------------------------------------------------------


def test_unknown_device_is_refused():
    sim = home()
    with pytest.raises(UnknownDevice, match="lamp"):
        sim.set("lampp", "on", True)


def test_unknown_property_is_refused():
    sim = home()
    before = sim.states()
    with pytest.raises(SpecError, match="volume"):
        sim.set("lamp", "volume", 10)
    assert sim.states() == before


def test_property_the_device_does_not_expose_is_refused():
    sim = home()
    with pytest.raises(SpecError, match="does not expose"):
        sim.set("climate_sensor", "motion", True)


def test_read_only_property_is_refused():
    sim = home()
    before = sim.states()
    with pytest.raises(ValueNotAllowed, match="read-only"):
        sim.set("car", "battery_soc", 100)
    assert sim.states() == before


def test_out_of_range_value_is_refused():
    sim = home()
    before = sim.states()
    with pytest.raises(ValueNotAllowed, match="from 0 to 100"):
        sim.set("lamp", "brightness", 120)
    assert sim.states() == before


def test_out_of_range_travel_target_is_refused():
    sim = home()
    with pytest.raises(ValueNotAllowed):
        sim.set("curtain", "position", 101)
    assert not sim.is_moving("curtain")


def test_unknown_action_is_refused():
    sim = home()
    with pytest.raises(SpecError, match="fly"):
        sim.call("dog", "fly")


def test_bad_action_argument_is_refused():
    sim = home()
    before = sim.states()
    with pytest.raises(ValueNotAllowed):
        sim.call("phone", "notify", {"message": 42})
    with pytest.raises(ValueNotAllowed, match="unknown argument"):
        sim.call("dog", "patrol", {"area": "garden", "speed": 3})
    assert sim.states() == before
    assert sim.drain_events() == []


# -- construction -----------------------------------------------------------------------------


def test_only_simulates_the_named_devices():
    sim = home(only=["lamp", "car"])
    assert set(sim.states()) == {"lamp", "car"}
    with pytest.raises(UnknownDevice, match="not simulated"):
        sim.state("phone")


def test_only_with_an_unknown_device_is_refused():
    with pytest.raises(UnknownDevice):
        home(only=["lamp", "toaster"])


def test_state_overrides_merge_over_the_initial_state():
    sim = home(state={"lamp": {"on": True}, "car": {"battery_soc": 42.5}})
    assert sim.state("lamp") == {"on": True, "brightness": 50, "color": "#ffffff"}
    assert sim.state("car")["battery_soc"] == 42.5


def test_state_overrides_that_do_not_fit_are_skipped():
    sim = home(state={"lamp": {"brightness": 500, "volume": 3}, "gone": {"on": True}})
    assert sim.state("lamp")["brightness"] == 50
    assert "volume" not in sim.state("lamp")


def test_tick_integrates_up_to_the_clock():
    clock = ManualClock()
    sim = Simulator(parse_space(HOME), clock)
    sim.call("curtain", "open")
    clock.advance(3)
    assert sim.tick()["curtain"] == {"position": 30}
    assert sim.tick() == {}  # no time passed


def test_advance_needs_a_manual_clock():
    sim = Simulator(parse_space(HOME), SystemClock())
    with pytest.raises(TypeError):
        sim.advance(1)


def test_manual_clock_does_not_go_back():
    with pytest.raises(ValueError):
        ManualClock().advance(-1)
