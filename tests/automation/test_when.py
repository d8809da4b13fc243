"""When things happen: times of day, cron, sun times and conditions, time windows, distances.

Every test uses fixed instants; "now" is always passed in.
"""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from hyperhub.automation import when
from hyperhub.automation.model import SunCondition, SunTrigger, TimeCondition, TimeTrigger
from hyperhub.automation.when import (
    check_cron,
    distance_km,
    in_window,
    local_parts,
    next_cron,
    next_sun,
    next_time,
    sun_condition,
    sun_times,
)
from hyperhub.space.model import Location

SHANGHAI = ZoneInfo("Asia/Shanghai")
BERLIN = ZoneInfo("Europe/Berlin")
OSLO = ZoneInfo("Europe/Oslo")
HOME = {"lat": 31.2036, "lon": 121.5875}  # Pudong
CENTURY_PARK = {"lat": 31.2268, "lon": 121.5452}
TROMSO = {"lat": 69.65, "lon": 18.96}


def at(tz: ZoneInfo, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> float:
    """UNIX seconds of a local wall-clock time (fold=0)."""
    return datetime(y, mo, d, h, mi, s, tzinfo=tz).timestamp()


def local(t: float | None, tz: ZoneInfo) -> datetime:
    assert t is not None
    return datetime.fromtimestamp(t, tz)


def utc(t: float) -> str:
    return datetime.fromtimestamp(t, ZoneInfo("UTC")).strftime("%Y-%m-%d %H:%M:%S")


# ---------------------------------------------------------------------------- distance


def test_distance_from_home_to_century_park():
    assert distance_km(HOME, CENTURY_PARK) == pytest.approx(4.78, abs=0.02)
    assert distance_km(CENTURY_PARK, HOME) == pytest.approx(distance_km(HOME, CENTURY_PARK))


def test_distance_basics_and_location_objects():
    assert distance_km(HOME, HOME) == 0.0
    one_degree = distance_km({"lat": 0, "lon": 0}, {"lat": 1, "lon": 0})
    assert one_degree == pytest.approx(111.195, abs=0.01)
    antipode = distance_km({"lat": 0, "lon": 0}, {"lat": 0, "lon": 180})
    assert antipode == pytest.approx(3.14159265 * 6371.0088, rel=1e-6)
    assert distance_km(Location(31.2036, 121.5875), CENTURY_PARK) == pytest.approx(4.78, abs=0.02)


def test_local_parts_is_the_wall_clock_in_the_timezone():
    moment = local_parts(at(SHANGHAI, 2026, 11, 26, 7, 30), SHANGHAI)
    assert (moment.date(), moment.time()) == (date(2026, 11, 26), time(7, 30))
    assert local_parts(at(SHANGHAI, 2026, 11, 26, 7, 30), BERLIN).hour == 0


# ---------------------------------------------------------------------------- next_time


def test_next_time_later_today_and_strictly_after():
    trigger = TimeTrigger(at=["07:30", "18:00"])
    start = at(SHANGHAI, 2026, 11, 26, 8)  # a Thursday
    assert local(next_time(trigger, start, SHANGHAI), SHANGHAI) == datetime(
        2026, 11, 26, 18, tzinfo=SHANGHAI
    )
    fire = at(SHANGHAI, 2026, 11, 26, 18)
    assert next_time(trigger, fire, SHANGHAI) == at(SHANGHAI, 2026, 11, 27, 7, 30)
    assert next_time(trigger, fire - 0.5, SHANGHAI) == fire


def test_next_time_skips_the_weekend_for_workdays():
    trigger = TimeTrigger(at="07:30", weekdays="workdays")
    friday_morning = at(SHANGHAI, 2026, 11, 27, 8)
    monday = next_time(trigger, friday_morning, SHANGHAI)
    assert local(monday, SHANGHAI) == datetime(2026, 11, 30, 7, 30, tzinfo=SHANGHAI)
    assert local(monday, SHANGHAI).strftime("%a") == "Mon"
    weekend = TimeTrigger(at="09:00:15", weekdays="weekend")
    saturday = next_time(weekend, at(SHANGHAI, 2026, 11, 26, 8), SHANGHAI)
    assert local(saturday, SHANGHAI) == datetime(2026, 11, 28, 9, 0, 15, tzinfo=SHANGHAI)


def test_next_time_once_a_week_waits_a_full_week():
    trigger = TimeTrigger(at="07:30", weekdays=["mon"])
    after_monday_fire = at(SHANGHAI, 2026, 11, 30, 7, 30)
    assert next_time(trigger, after_monday_fire, SHANGHAI) == at(SHANGHAI, 2026, 12, 7, 7, 30)


def test_next_time_in_the_spring_forward_gap_fires_when_the_gap_ends():
    # Berlin, 2026-03-29: 02:00 CET jumps to 03:00 CEST; 02:30 does not exist.
    trigger = TimeTrigger(at="02:30")
    fire = next_time(trigger, at(BERLIN, 2026, 3, 29), BERLIN)
    assert utc(fire) == "2026-03-29 01:00:00"  # 03:00 CEST, the first instant after the gap
    assert local(fire, BERLIN).strftime("%H:%M %Z") == "03:00 CEST"
    following = next_time(trigger, fire, BERLIN)
    assert local(following, BERLIN).strftime("%Y-%m-%d %H:%M %Z") == "2026-03-30 02:30 CEST"


def test_next_time_in_the_repeated_hour_fires_once():
    # Berlin, 2026-10-25: 03:00 CEST goes back to 02:00 CET; 02:30 happens twice.
    trigger = TimeTrigger(at="02:30")
    fire = next_time(trigger, at(BERLIN, 2026, 10, 25), BERLIN)
    assert utc(fire) == "2026-10-25 00:30:00"  # 02:30 CEST, the first one (fold=0)
    following = next_time(trigger, fire, BERLIN)
    assert utc(following) == "2026-10-26 01:30:00"  # not 2026-10-25 01:30 UTC (02:30 CET)


def test_next_time_across_dst_keeps_the_wall_clock():
    trigger = TimeTrigger(at="07:00")
    saturday = at(BERLIN, 2026, 3, 28, 7)
    sunday = next_time(trigger, saturday, BERLIN)
    assert sunday - saturday == 23 * 3600
    assert local(sunday, BERLIN).hour == 7


# ---------------------------------------------------------------------------- cron


@pytest.mark.parametrize(
    "expr",
    ["30 7 * * 1-5", "*/15 * * * *", "0 7 * * mon-fri", "0 0 1 jan *", "0 9 * * 1#1", "@daily"],
)
def test_standard_cron_lines_are_accepted(expr: str):
    assert check_cron(expr) is None


def test_cron_seconds_and_years_are_refused_clearly():
    six = check_cron("0 30 7 * * 1-5")
    assert six is not None and "6 fields" in six and "seconds are not supported" in six
    seven = check_cron("0 30 7 * * 1-5 2027")
    assert seven is not None and "7 fields" in seven and "seconds and years" in seven


@pytest.mark.parametrize(
    ("expr", "why"),
    [
        ("", "needs 5 fields"),
        ("30 7 *", "has 3 fields; it needs 5"),
        ("61 * * * *", "invalid cron line"),
        ("0 0 * * 8", "invalid cron line"),
        ("*/0 * * * *", "invalid cron line"),
        ("@reboot", "unknown cron alias"),
        ("0 0 30 2 *", "never fires"),
    ],
)
def test_bad_cron_lines_say_why(expr: str, why: str):
    problem = check_cron(expr)
    assert problem is not None and why in problem


def test_next_cron_from_friday_evening_is_monday_morning():
    friday_evening = at(SHANGHAI, 2026, 11, 27, 19)
    fire = next_cron("30 7 * * 1-5", friday_evening, SHANGHAI)
    assert local(fire, SHANGHAI) == datetime(2026, 11, 30, 7, 30, tzinfo=SHANGHAI)
    assert next_cron("30 7 * * 1-5", fire, SHANGHAI) == at(SHANGHAI, 2026, 12, 1, 7, 30)
    assert next_cron("30 7 * * 1-5", fire - 0.25, SHANGHAI) == fire


def test_next_cron_uses_the_local_timezone():
    start = at(BERLIN, 2026, 11, 27, 19)
    assert local(next_cron("30 7 * * *", start, BERLIN), BERLIN).hour == 7
    assert local(next_cron("30 7 * * *", start, SHANGHAI), SHANGHAI).hour == 7


def test_next_cron_across_daylight_saving_time():
    gap = next_cron("30 2 * * *", at(BERLIN, 2026, 3, 28, 12), BERLIN)
    assert utc(gap) == "2026-03-29 01:00:00"  # 03:00 CEST, the end of the gap
    first = next_cron("30 2 * * *", at(BERLIN, 2026, 10, 24, 12), BERLIN)
    assert utc(first) == "2026-10-25 00:30:00"
    assert utc(next_cron("30 2 * * *", first, BERLIN)) == "2026-10-26 01:30:00"  # once
    t, fires = at(BERLIN, 2026, 10, 25, 1, 50), []
    for _ in range(4):
        t = next_cron("*/30 * * * *", t, BERLIN)
        fires.append(utc(t))
    assert fires == [  # a wildcard hour follows real time through the repeated hour
        "2026-10-25 00:00:00",
        "2026-10-25 00:30:00",
        "2026-10-25 01:00:00",
        "2026-10-25 01:30:00",
    ]


def test_next_cron_refuses_a_bad_line():
    with pytest.raises(ValueError, match="seconds are not supported"):
        next_cron("* * * * * *", 0.0, SHANGHAI)


# ---------------------------------------------------------------------------- sun times


def test_sun_times_in_shanghai_in_late_november():
    times = sun_times(HOME, date(2026, 11, 26), SHANGHAI)
    rise, sets = local(times["sunrise"], SHANGHAI), local(times["sunset"], SHANGHAI)
    assert rise.date() == sets.date() == date(2026, 11, 26)
    assert time(6, 25) <= rise.time() <= time(6, 40)  # about 06:30
    assert time(16, 45) <= sets.time() <= time(17, 0)  # about 16:51


def test_sun_times_accept_a_location_object():
    by_map = sun_times(HOME, date(2026, 11, 26), SHANGHAI)
    assert sun_times(Location(31.2036, 121.5875), date(2026, 11, 26), SHANGHAI) == by_map


def test_no_sunrise_or_sunset_in_polar_night_and_polar_day():
    assert sun_times(TROMSO, date(2026, 12, 21), OSLO) == {"sunrise": None, "sunset": None}
    assert sun_times(TROMSO, date(2026, 6, 21), OSLO) == {"sunrise": None, "sunset": None}


def test_next_sun_with_an_offset_and_strictly_after():
    times = sun_times(HOME, date(2026, 11, 26), SHANGHAI)
    sunset = times["sunset"]
    assert sunset is not None
    trigger = SunTrigger(event="sunset", offset="-30m")
    assert next_sun(trigger, sunset - 3600, HOME, SHANGHAI) == sunset - 1800
    tomorrow = next_sun(trigger, sunset - 1800, HOME, SHANGHAI)
    assert local(tomorrow, SHANGHAI).date() == date(2026, 11, 27)
    plain = SunTrigger(event="sunrise")
    assert next_sun(plain, at(SHANGHAI, 2026, 11, 26, 3), HOME, SHANGHAI) == times["sunrise"]


def test_a_late_offset_reaches_back_to_yesterdays_event():
    yesterday = sun_times(HOME, date(2026, 11, 25), SHANGHAI)["sunset"]
    assert yesterday is not None
    trigger = SunTrigger(event="sunset", offset="8h")  # about 00:50 the next night
    assert next_sun(trigger, at(SHANGHAI, 2026, 11, 26, 0, 10), HOME, SHANGHAI) == (
        yesterday + 8 * 3600
    )


def test_next_sunrise_after_the_polar_night_is_in_january():
    noon = at(OSLO, 2026, 12, 21, 12)
    sunrise = local(next_sun(SunTrigger(event="sunrise"), noon, TROMSO, OSLO), OSLO)
    assert date(2027, 1, 10) <= sunrise.date() <= date(2027, 1, 25)
    sunset = local(next_sun(SunTrigger(event="sunset"), noon, TROMSO, OSLO), OSLO)
    assert sunset.date() == sunrise.date() and sunset > sunrise


def test_next_sun_gives_up_after_400_days(monkeypatch: pytest.MonkeyPatch):
    calls: list[date] = []

    def never(location: object, day: date, tz: object) -> dict[str, float | None]:
        calls.append(day)
        return {"sunrise": None, "sunset": None}

    monkeypatch.setattr(when, "sun_times", never)
    assert next_sun(SunTrigger(event="sunrise"), 0.0, TROMSO, OSLO) is None
    assert 400 <= len(calls) <= 410


# ---------------------------------------------------------------------------- sun conditions


def sun(now: float, where: dict[str, float] = HOME, tz: ZoneInfo = SHANGHAI, **kw: str) -> bool:
    return sun_condition(SunCondition(**kw), now, where, tz)


def test_after_sunset_means_dark_and_sunrise_to_sunset_means_day():
    noon, night, early = (at(SHANGHAI, 2026, 11, 26, h) for h in (12, 22, 3))
    assert sun(noon, after="sunrise") and not sun(noon, after="sunset")
    assert sun(noon, after="sunrise", before="sunset")
    assert sun(night, after="sunset") and sun(early, after="sunset")
    assert sun(early, before="sunrise") and sun(night, before="sunrise")
    assert not sun(early, after="sunrise", before="sunset")
    assert sun(noon, before="sunset") and not sun(noon, before="sunrise")


def test_sun_condition_offsets_shift_the_events():
    times = sun_times(HOME, date(2026, 11, 26), SHANGHAI)
    sunset, sunrise = times["sunset"], times["sunrise"]
    assert sunset is not None and sunrise is not None
    dusk = {"after": "sunset", "after_offset": "-30m"}
    assert sun(sunset - 15 * 60, **dusk)
    assert not sun(sunset - 45 * 60, **dusk)
    assert sun(sunset, after="sunset") and not sun(sunset - 1, after="sunset")
    morning = {"before": "sunrise", "before_offset": "-1h"}
    assert sun(sunrise - 90 * 60, **morning)
    assert not sun(sunrise - 30 * 60, **morning)
    day = {"after": "sunrise", "after_offset": "1h", "before": "sunset", "before_offset": "-1h"}
    assert sun(sunrise + 2 * 3600, **day)
    assert not sun(sunrise + 30 * 60, **day) and not sun(sunset - 30 * 60, **day)


def test_polar_night_is_dark_and_polar_day_is_light():
    dec_noon = at(OSLO, 2026, 12, 21, 12)
    assert sun(dec_noon, TROMSO, OSLO, after="sunset")
    assert sun(dec_noon, TROMSO, OSLO, before="sunrise")
    assert not sun(dec_noon, TROMSO, OSLO, after="sunrise")
    assert not sun(dec_noon, TROMSO, OSLO, after="sunrise", before="sunset")
    june_midnight = at(OSLO, 2026, 6, 21, 0)
    assert not sun(june_midnight, TROMSO, OSLO, after="sunset")
    assert sun(june_midnight, TROMSO, OSLO, after="sunrise", before="sunset")


def test_the_first_morning_after_the_polar_night():
    first = local(next_sun(SunTrigger(event="sunrise"), at(OSLO, 2026, 12, 21), TROMSO, OSLO), OSLO)
    early = datetime.combine(first.date(), time(5), OSLO).timestamp()
    assert sun(early, TROMSO, OSLO, after="sunset", before="sunrise")
    midday = first.timestamp() + 20 * 60  # the sun is up for about an hour
    assert sun(midday, TROMSO, OSLO, after="sunrise", before="sunset")


# ---------------------------------------------------------------------------- time windows


def window(now: float, **kw: object) -> bool:
    return in_window(TimeCondition(**kw), now, SHANGHAI)


def test_a_window_within_a_day_includes_after_and_excludes_before():
    office = {"after": "08:00", "before": "18:00"}
    assert window(at(SHANGHAI, 2026, 11, 26, 8), **office)
    assert window(at(SHANGHAI, 2026, 11, 26, 17, 59, 59), **office)
    assert not window(at(SHANGHAI, 2026, 11, 26, 18), **office)
    assert not window(at(SHANGHAI, 2026, 11, 26, 7, 59), **office)


def test_a_window_may_wrap_midnight():
    night = {"after": "22:00", "before": "06:00"}
    assert window(at(SHANGHAI, 2026, 11, 26, 23), **night)
    assert window(at(SHANGHAI, 2026, 11, 27, 1), **night)
    assert not window(at(SHANGHAI, 2026, 11, 27, 6), **night)
    assert not window(at(SHANGHAI, 2026, 11, 27, 12), **night)


def test_weekdays_apply_to_the_day_the_window_started():
    friday_night = {"after": "22:00", "before": "06:00", "weekdays": ["fri"]}
    assert window(at(SHANGHAI, 2026, 11, 27, 23), **friday_night)  # Friday 23:00
    assert window(at(SHANGHAI, 2026, 11, 28, 1), **friday_night)  # Saturday 01:00
    assert not window(at(SHANGHAI, 2026, 11, 27, 1), **friday_night)  # began Thursday
    assert not window(at(SHANGHAI, 2026, 11, 28, 23), **friday_night)  # Saturday night
    workdays = {"after": "08:00", "before": "18:00", "weekdays": "workdays"}
    assert window(at(SHANGHAI, 2026, 11, 27, 9), **workdays)
    assert not window(at(SHANGHAI, 2026, 11, 28, 9), **workdays)


def test_only_after_or_only_before_end_or_start_at_midnight():
    assert window(at(SHANGHAI, 2026, 11, 26, 23, 59), after="22:00")
    assert not window(at(SHANGHAI, 2026, 11, 27, 0, 30), after="22:00")
    assert window(at(SHANGHAI, 2026, 11, 27, 0, 30), before="06:00")
    assert window(at(SHANGHAI, 2026, 11, 27, 5, 59, 59), before="06:00")
    assert not window(at(SHANGHAI, 2026, 11, 27, 6), before="06:00")


def test_weekdays_alone_and_an_all_day_window():
    assert window(at(SHANGHAI, 2026, 11, 28, 12), weekdays="weekend")
    assert not window(at(SHANGHAI, 2026, 11, 27, 12), weekdays="weekend")
    assert window(at(SHANGHAI, 2026, 11, 27, 3), after="07:00", before="07:00")


def test_windows_are_read_in_the_given_timezone():
    cond = TimeCondition(after="08:00", before="18:00")
    moment = at(SHANGHAI, 2026, 11, 26, 9)  # 02:00 in Berlin
    assert in_window(cond, moment, SHANGHAI)
    assert not in_window(cond, moment, BERLIN)
