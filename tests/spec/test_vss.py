"""The car ↔ COVESA VSS table: paths from car.yaml, conversions where meanings differ."""

import re
from types import SimpleNamespace

import pytest

from hyperhub.errors import SpecError, ValueNotAllowed
from hyperhub.spec import builtin_types
from hyperhub.spec.vss import (
    car_property,
    state_to_vss,
    unknown_signals,
    vss_path,
    vss_table,
    vss_to_state,
)


def test_table_is_the_vss_field_of_every_car_property():
    car = builtin_types().get("car")
    assert vss_table() == {name: p.vss for name, p in car.properties.items()}


def test_vss_path_of_battery_soc_is_the_traction_battery_state_of_charge():
    assert vss_path("battery_soc") == "Vehicle.Powertrain.TractionBattery.StateOfCharge.Current"


def test_car_property_reverses_vss_path_for_every_property():
    for name, path in vss_table().items():
        assert car_property(path) == name


def test_latitude_and_longitude_signals_mean_location():
    assert car_property("Vehicle.CurrentLocation.Latitude") == "location"
    assert car_property("Vehicle.CurrentLocation.Longitude") == "location"


def test_vss_path_of_unknown_property_names_it():
    with pytest.raises(SpecError, match="'warp_drive'"):
        vss_path("warp_drive")


def test_car_property_of_unknown_signal_names_it():
    with pytest.raises(SpecError, match=re.escape("Vehicle.Body.Horn.IsActive")):
        car_property("Vehicle.Body.Horn.IsActive")


def test_location_becomes_two_signals():
    out = state_to_vss({"location": {"lat": 39.99, "lon": 116.31}})
    assert out == {
        "Vehicle.CurrentLocation.Latitude": 39.99,
        "Vehicle.CurrentLocation.Longitude": 116.31,
    }


def test_two_location_signals_become_one_location():
    state = vss_to_state(
        {"Vehicle.CurrentLocation.Latitude": 31.2, "Vehicle.CurrentLocation.Longitude": 121.5}
    )
    assert state == {"location": {"lat": 31.2, "lon": 121.5}}


def test_latitude_without_longitude_gives_no_location():
    assert vss_to_state({"Vehicle.CurrentLocation.Latitude": 31.2}) == {}


@pytest.mark.parametrize(("raw", "gear"), [(126, "P"), (127, "D"), (0, "N"), (-1, "R"), (3, "D")])
def test_selected_gear_int8_reads_as_prnd(raw, gear):
    assert vss_to_state({"Vehicle.Powertrain.Transmission.SelectedGear": raw}) == {"gear": gear}


@pytest.mark.parametrize(("gear", "raw"), [("P", 126), ("R", -1), ("N", 0), ("D", 127)])
def test_prnd_writes_as_selected_gear_int8(gear, raw):
    assert state_to_vss({"gear": gear}) == {"Vehicle.Powertrain.Transmission.SelectedGear": raw}


def test_gear_outside_int8_is_refused_naming_the_signal():
    with pytest.raises(ValueNotAllowed, match="SelectedGear"):
        vss_to_state({"Vehicle.Powertrain.Transmission.SelectedGear": 300})


def test_range_in_metres_reads_as_kilometres():
    assert vss_to_state({"Vehicle.Powertrain.Range": 420500}) == {"range_km": 420.5}


def test_range_in_kilometres_writes_as_whole_metres():
    assert state_to_vss({"range_km": 12.3456}) == {"Vehicle.Powertrain.Range": 12346}


def test_cabin_target_temp_is_rounded_for_the_int8_hvac_signal():
    path = "Vehicle.Cabin.HVAC.Station.Row1.Driver.Temperature"
    assert state_to_vss({"cabin_target_temp": 21.6}) == {path: 22}


def test_negative_speed_when_reversing_reads_as_its_magnitude():
    assert vss_to_state({"Vehicle.Speed": -7.5}) == {"speed_kmh": 7.5}


def test_window_position_passes_through_as_percent_open():
    path = "Vehicle.Cabin.Door.Row1.DriverSide.Window.Position"
    assert vss_to_state({path: 40}) == {"windows_position": 40}
    assert state_to_vss({"windows_position": 40}) == {path: 40}


def test_kuksa_datapoint_objects_are_unwrapped():
    point = SimpleNamespace(value=True, timestamp=None)
    assert vss_to_state({"Vehicle.Cabin.Door.Row1.DriverSide.IsLocked": point}) == {"locked": True}


def test_json_datapoints_are_unwrapped():
    signals = {"Vehicle.Powertrain.TractionBattery.StateOfCharge.Current": {"value": 64.5}}
    assert vss_to_state(signals) == {"battery_soc": 64.5}


def test_datapoint_without_value_is_skipped():
    assert vss_to_state({"Vehicle.Speed": SimpleNamespace(value=None)}) == {}


def test_unknown_signals_are_ignored_by_vss_to_state():
    assert vss_to_state({"Vehicle.Body.Horn.IsActive": True, "Vehicle.Speed": 50.0}) == {
        "speed_kmh": 50.0
    }


def test_unknown_signals_are_reported():
    signals = {"Vehicle.Body.Horn.IsActive": True, "Vehicle.Speed": 50.0, "Vehicle.X": 1}
    assert unknown_signals(signals) == ["Vehicle.Body.Horn.IsActive", "Vehicle.X"]


def test_value_out_of_range_is_refused_naming_signal_and_property():
    with pytest.raises(ValueNotAllowed, match=r"ChargeLimit → car\.charge_limit"):
        vss_to_state({"Vehicle.Powertrain.TractionBattery.Charging.ChargeLimit": 20})


def test_state_to_vss_refuses_unknown_property():
    with pytest.raises(SpecError, match="'color'"):
        state_to_vss({"color": "#ffffff"})


def test_state_to_vss_refuses_a_bad_value():
    with pytest.raises(ValueNotAllowed, match=r"car\.gear"):
        state_to_vss({"gear": "X"})


def test_full_state_survives_a_round_trip():
    car = builtin_types().get("car")
    state = {name: p.default for name, p in car.properties.items()}
    assert vss_to_state(state_to_vss(state)) == {
        name: car.prop(name).check(value, name) for name, value in state.items()
    }
