"""The space's optional `timezone`: an IANA name, checked on load; the machine's own if absent."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from hyperhub.config import demo_space
from hyperhub.errors import SpaceError
from hyperhub.space import load_space, parse_space

BASE = "space: X\nlocation: {lat: 31.2, lon: 121.5}\ntimezone: %s\nareas: []\ndevices: []\n"


def problems(text: str) -> list[str]:
    with pytest.raises(SpaceError) as err:
        parse_space(text, "s.yaml")
    return err.value.lines


def test_a_valid_timezone_is_kept_and_tz_is_its_zoneinfo():
    space = parse_space(BASE % "Asia/Shanghai")
    assert space.timezone == "Asia/Shanghai"
    assert space.tz() == ZoneInfo("Asia/Shanghai")
    noon = datetime(2026, 11, 26, 12, tzinfo=space.tz())
    assert noon.utcoffset() == timedelta(hours=8)


def test_an_unknown_timezone_is_refused_on_its_line():
    assert problems(BASE % "Mars/Base") == [
        "s.yaml:3: unknown timezone 'Mars/Base'; use an IANA name such as Asia/Shanghai"
    ]


@pytest.mark.parametrize("value", ["8", "''", "../etc/passwd", "[Asia/Shanghai]", "null"])
def test_timezones_that_are_not_names_are_refused(value: str):
    lines = problems(BASE % value)
    assert len(lines) == 1
    assert lines[0].startswith("s.yaml:3: unknown timezone ")
    assert lines[0].endswith("; use an IANA name such as Asia/Shanghai")


def test_without_timezone_tz_is_the_machines_local_zone():
    space = parse_space("space: X\nareas: []\ndevices: []\n")
    assert space.timezone is None
    tz = space.tz()
    now = datetime.now(tz)
    assert now.utcoffset() == datetime.now().astimezone().utcoffset()


def test_the_timezone_key_is_listed_among_the_known_keys():
    lines = problems("space: X\ntimezon: UTC\nareas: []\ndevices: []\n")
    assert lines == [
        "s.yaml:2: unknown key 'timezon' in the space; expected one of: "
        "space, location, timezone, areas, devices, adapters"
    ]


def test_the_demo_space_is_in_shanghai():
    assert load_space(demo_space()).timezone == "Asia/Shanghai"


def test_without_a_timezone_the_machines_zone_is_named_for_the_dashboard(monkeypatch):
    space = parse_space("space: X\nareas: []\ndevices: []\n")
    monkeypatch.setenv("TZ", "Europe/Berlin")
    assert space.timezone_name() == "Europe/Berlin"
    monkeypatch.setenv("TZ", "Mars/Base")  # not a zone: /etc/localtime's, UTC, or none
    name = space.timezone_name()
    assert name != "Mars/Base" and (name is None or ZoneInfo(name) is not None)
    assert parse_space(BASE % "Asia/Shanghai").timezone_name() == "Asia/Shanghai"
