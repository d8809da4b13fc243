"""Scripted routes: a car or a phone drives along waypoints at a speed."""

from __future__ import annotations

import pytest

from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator, haversine_km
from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.space import Location, parse_space

HOME = (39.99, 116.31)
OFFICE = (40.01, 116.33)  # about 2.8 km from HOME
SHOP = (40.01, 116.31)

SPACE = """
space: Commute
areas: []
devices:
  - {id: car, type: car}
  - {id: phone, type: phone}
  - {id: lamp, type: light}
  - id: bus
    type: car
    route:
      waypoints: [{lat: 39.99, lon: 116.31}, {lat: 40.01, lon: 116.31}]
      speed_kmh: 36
"""


def commute() -> Simulator:
    return Simulator(parse_space(SPACE), ManualClock(), only=["car", "phone", "lamp"])


def where(sim: Simulator, device: str) -> tuple[float, float]:
    loc = sim.state(device)["location"]
    return loc["lat"], loc["lon"]


def test_haversine_of_one_degree_of_latitude_is_about_111_km():
    assert haversine_km((0.0, 0.0), (1.0, 0.0)) == pytest.approx(111.2, abs=0.1)


def test_start_route_puts_the_device_at_the_first_waypoint():
    sim = commute()
    changes = sim.start_route("car", [OFFICE, HOME], speed_kmh=50)
    assert changes == {"location": {"lat": 40.01, "lon": 116.33}, "speed_kmh": 50.0, "gear": "D"}


def test_route_covers_speed_times_time():
    sim = commute()
    sim.start_route("car", [HOME, OFFICE], speed_kmh=36)  # 10 m/s
    sim.advance(120)
    assert haversine_km(HOME, where(sim, "car")) == pytest.approx(1.2, rel=0.02)


def test_route_reports_its_speed_while_moving():
    sim = commute()
    sim.start_route("car", [HOME, OFFICE], speed_kmh=36)
    sim.advance(60)
    assert sim.state("car")["speed_kmh"] == 36.0
    assert sim.is_moving("car")


def test_route_ends_at_the_last_waypoint_and_stops():
    sim = commute()
    sim.start_route("car", [HOME, SHOP, OFFICE], speed_kmh=60)
    sim.advance(3600)
    assert where(sim, "car") == pytest.approx(OFFICE)
    assert sim.state("car")["speed_kmh"] == 0.0
    assert not sim.is_moving("car")


def test_route_follows_every_waypoint():
    sim = commute()
    leg = haversine_km(HOME, SHOP)
    sim.start_route("car", [HOME, SHOP, OFFICE], speed_kmh=36)
    sim.advance(leg / 36 * 3600)
    assert where(sim, "car") == pytest.approx(SHOP, abs=1e-4)


def test_route_takes_locations_too():
    sim = commute()
    sim.start_route("car", [Location(*HOME), Location(*OFFICE)], speed_kmh=36)
    sim.advance(10)
    assert haversine_km(HOME, where(sim, "car")) == pytest.approx(0.1, rel=0.02)


def test_loop_route_goes_on_after_the_last_waypoint():
    sim = commute()
    sim.start_route("car", [HOME, SHOP], speed_kmh=36, loop=True)
    sim.advance(haversine_km(HOME, SHOP) / 36 * 3600 * 2)  # there and back: home again
    assert where(sim, "car") == pytest.approx(HOME, abs=1e-4)
    assert sim.is_moving("car")


def test_stop_route_stops_where_it_is():
    sim = commute()
    sim.start_route("car", [HOME, OFFICE], speed_kmh=36)
    sim.advance(30)
    assert sim.stop_route("car") == {"speed_kmh": 0.0, "gear": "P"}
    here = where(sim, "car")
    sim.advance(30)
    assert where(sim, "car") == here


def test_phone_follows_a_route_without_a_speed_property():
    sim = commute()
    sim.start_route("phone", [HOME, SHOP], speed_kmh=5)
    sim.advance(360)
    assert haversine_km(HOME, where(sim, "phone")) == pytest.approx(0.5, rel=0.02)
    assert "speed_kmh" not in sim.state("phone")


def test_route_from_the_space_starts_by_itself():
    sim = Simulator(parse_space(SPACE), ManualClock(), only=["bus"])
    assert sim.is_moving("bus")
    sim.advance(100)
    assert haversine_km(HOME, where(sim, "bus")) == pytest.approx(1.0, rel=0.02)


def test_device_without_location_cannot_follow_a_route():
    sim = commute()
    with pytest.raises(SpecError, match="no location"):
        sim.start_route("lamp", [HOME, OFFICE], speed_kmh=36)


def test_route_needs_two_waypoints():
    sim = commute()
    with pytest.raises(ValueNotAllowed, match="two waypoints"):
        sim.start_route("car", [HOME], speed_kmh=36)


def test_route_waypoint_out_of_range_is_refused():
    sim = commute()
    with pytest.raises(ValueNotAllowed, match="waypoint 2"):
        sim.start_route("car", [HOME, (91.0, 0.0)], speed_kmh=36)
    assert not sim.is_moving("car")


def test_route_needs_a_positive_speed():
    sim = commute()
    with pytest.raises(ValueNotAllowed, match="speed"):
        sim.start_route("car", [HOME, OFFICE], speed_kmh=0)
