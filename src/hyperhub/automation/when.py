"""When things happen: times of day, cron lines, sunrise and sunset, time windows, distances.

Pure functions: time is UNIX seconds (float) and "now" is always passed in, together with
the space's timezone, so that the engine (and the tests) decide what time it is. Local
times are read with zoneinfo-aware datetimes, so daylight saving time is handled:

- a local time that does not exist (the spring-forward gap, 02:30 in Berlin on the last
  Sunday of March) happens at the first instant after the gap (03:00);
- a local time that happens twice (the fall-back hour) happens once, the first time
  (fold=0).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any, Literal, Protocol

from astral import Observer
from astral.sun import elevation, sunrise, sunset
from croniter import CroniterBadDateError, CroniterError, croniter

from hyperhub.automation.model import (
    WEEKDAYS,
    SunCondition,
    SunTrigger,
    TimeCondition,
    TimeTrigger,
    parse_clock,
)

EARTH_RADIUS_KM = 6371.0088  # the mean Earth radius (IUGG)
SUN_SEARCH_DAYS = 400  # next_sun looks this far ahead (a polar night is shorter)
HORIZON = -0.833  # sun elevation (degrees) at sunrise / sunset: refraction and radius
CRON_ALIASES = ("@yearly", "@annually", "@monthly", "@weekly", "@daily", "@midnight", "@hourly")
CRON_FIELDS = "minute hour day-of-month month day-of-week"

SunEvent = Literal["sunrise", "sunset"]


class LatLon(Protocol):
    """Anything with `lat` and `lon` in degrees (the space's Location, a Place)."""

    @property
    def lat(self) -> float: ...

    @property
    def lon(self) -> float: ...


Where = Mapping[str, Any] | LatLon


# ---------------------------------------------------------------------------- helpers


def local_parts(now: float, tz: tzinfo) -> datetime:
    """`now` as an aware datetime in `tz` (its wall clock, date and weekday)."""
    return datetime.fromtimestamp(now, tz)


def local_instant(day: date, clock: tuple[int, int, int], tz: tzinfo) -> float:
    """UNIX seconds of the wall-clock time `clock` (h, m, s) on `day` in `tz`.

    An ambiguous time (the fall-back hour) is its first occurrence; a time in a
    spring-forward gap is the first instant after the gap.
    """
    naive = datetime.combine(day, time(*clock))
    early = naive.replace(tzinfo=tz, fold=0).timestamp()
    if datetime.fromtimestamp(early, tz).replace(tzinfo=None) == naive:
        return early
    # In a gap: the two readings (offset before / after the transition) bracket it.
    late = naive.replace(tzinfo=tz, fold=1).timestamp()
    lo, hi = int(min(early, late)), math.ceil(max(early, late))
    offset = datetime.fromtimestamp(lo, tz).utcoffset()
    while hi - lo > 1:  # find the transition: the first second with the new offset
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, tz).utcoffset() == offset:
            lo = mid
        else:
            hi = mid
    return float(hi)


def _lat_lon(where: Where) -> tuple[float, float]:
    if isinstance(where, Mapping):
        return float(where["lat"]), float(where["lon"])
    return float(where.lat), float(where.lon)


def _observer(location: Where) -> Observer:
    lat, lon = _lat_lon(location)
    return Observer(latitude=lat, longitude=lon)


def _weekday(day: date) -> str:
    return WEEKDAYS[day.weekday()]


# ---------------------------------------------------------------------------- distance


def distance_km(a: Where, b: Where) -> float:
    """Great-circle distance between two {lat, lon} points, in km (haversine)."""
    lat1, lon1 = map(math.radians, _lat_lon(a))
    lat2, lon2 = map(math.radians, _lat_lon(b))
    h = (
        math.sin((lat2 - lat1) / 2) ** 2
        + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    )
    return 2 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


# ---------------------------------------------------------------------------- time of day


def next_time(trigger: TimeTrigger, after: float, tz: tzinfo) -> float:
    """The first instant strictly after `after` at one of `trigger.at` on one of its
    weekdays, local to `tz`."""
    clocks = [parse_clock(at) for at in trigger.at]
    start = local_parts(after, tz).date() - timedelta(days=1)
    best: float | None = None
    for i in range(9):  # yesterday (for safety) … a week and a day ahead
        day = start + timedelta(days=i)
        if _weekday(day) not in trigger.weekdays:
            continue
        for clock in clocks:
            t = local_instant(day, clock, tz)
            if t > after and (best is None or t < best):
                best = t
    if best is None:
        raise ValueError(f"time trigger {trigger.at} on {trigger.weekdays} never fires")
    return best


def in_window(cond: TimeCondition, now: float, tz: tzinfo) -> bool:
    """Whether `now` is in the local time window: from `after` (inclusive) until `before`
    (exclusive), wrapping midnight when `after` is later (22:00 → 06:00; equal: all day).

    Only `after`: from then until midnight; only `before`: from midnight until then.
    `weekdays` apply to the day the window started (Saturday 01:00 in a 22:00 → 06:00
    window belongs to Friday).
    """
    local = local_parts(now, tz)
    t = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    a = _seconds_of_day(cond.after)
    b = _seconds_of_day(cond.before)
    today = local.date()
    started: date | None = None
    if a is None or b is None or a < b:  # within one day
        if (a is None or t >= a) and (b is None or t < b):
            started = today
    elif t >= a:  # a wrapping window, before midnight
        started = today
    elif t < b:  # … after midnight: it started yesterday
        started = today - timedelta(days=1)
    return started is not None and _weekday(started) in cond.weekdays


def _seconds_of_day(clock: str | None) -> int | None:
    if clock is None:
        return None
    h, m, s = parse_clock(clock)
    return h * 3600 + m * 60 + s


# ---------------------------------------------------------------------------- cron


def check_cron(expr: str) -> str | None:
    """Why `expr` is not a usable 5-field cron line, or None when it is.

    Accepted: minute hour day-of-month month day-of-week (names like mon-fri and jan,
    ranges, lists, steps, L and #) and the aliases @hourly, @daily, @weekly, @monthly,
    @yearly. Refused: seconds and years fields (6 or 7 fields), and lines that never fire.
    """
    if not isinstance(expr, str) or not expr.strip():
        return f"a cron line needs 5 fields: {CRON_FIELDS} (e.g. '30 7 * * 1-5')"
    text = _cron_text(expr)
    if text.startswith("@"):
        if text not in CRON_ALIASES:
            return f"unknown cron alias {text!r}; use one of: {', '.join(CRON_ALIASES)}"
    else:
        fields = text.split()
        if len(fields) == 6:
            return (
                f"cron line {text!r} has 6 fields; seconds are not supported: "
                f"use 5 fields, {CRON_FIELDS}"
            )
        if len(fields) == 7:
            return (
                f"cron line {text!r} has 7 fields; seconds and years are not supported: "
                f"use 5 fields, {CRON_FIELDS}"
            )
        if len(fields) != 5:
            return f"cron line {text!r} has {len(fields)} fields; it needs 5: {CRON_FIELDS}"
    try:
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except CroniterBadDateError:
        return f"cron line {text!r} never fires"
    except (CroniterError, ValueError, KeyError) as exc:
        return f"invalid cron line {text!r}: {exc}"
    return None


def next_cron(expr: str, after: float, tz: tzinfo) -> float:
    """The first instant strictly after `after` matching the cron line, local to `tz`.

    Across daylight saving time: a time in the spring-forward gap fires at the end of the
    gap; in the repeated fall-back hour, lines with a fixed hour ("30 2 * * *") fire once,
    lines with a wildcard hour ("*/15 * * * *") follow real time and fire in both.
    """
    problem = check_cron(expr)
    if problem is not None:
        raise ValueError(problem)
    text = _cron_text(expr)
    hour = "*" if text == "@hourly" else "0" if text.startswith("@") else text.split()[1]
    fixed_hour = not hour.startswith("*")
    it = croniter(text, local_parts(after, tz))
    for _ in range(10_000):
        found: datetime = it.get_next(datetime)
        t = found.timestamp()
        if t <= after:
            continue
        if fixed_hour and found.fold == 1 and _is_repeat(found):
            continue
        return t
    raise ValueError(f"cron line {text!r} never fires")  # pragma: no cover


def _cron_text(expr: str) -> str:
    text = " ".join(expr.split())
    return text.lower() if text.startswith("@") else text


def _is_repeat(moment: datetime) -> bool:
    """Whether an aware fold=1 datetime is the second occurrence of its wall time."""
    return moment.replace(fold=0).utcoffset() != moment.utcoffset()


# ---------------------------------------------------------------------------- the sun


def sun_times(location: Where, day: date, tz: tzinfo) -> dict[str, float | None]:
    """Sunrise and sunset on the local `day` as UNIX seconds; None for an event that does
    not happen that day (polar day or night)."""
    observer = _observer(location)
    out: dict[str, float | None] = {}
    # astral.sun.sun() also needs dawn and dusk, which fail on white nights: ask each.
    for name, func in (("sunrise", sunrise), ("sunset", sunset)):
        try:
            out[name] = func(observer, day, tz).timestamp()
        except ValueError:
            out[name] = None
    return out


def next_sun(trigger: SunTrigger, after: float, location: Where, tz: tzinfo) -> float | None:
    """The next sunrise or sunset (shifted by `trigger.offset`) strictly after `after`;
    None if there is none in the next 400 days."""
    back = 1 + math.ceil(abs(trigger.offset) / 86400)
    start = local_parts(after, tz).date() - timedelta(days=back)
    for i in range(back + SUN_SEARCH_DAYS + 1):
        t = sun_times(location, start + timedelta(days=i), tz)[trigger.event]
        if t is not None and t + trigger.offset > after:
            return t + trigger.offset
    return None


def sun_condition(cond: SunCondition, now: float, location: Where, tz: tzinfo) -> bool:
    """Whether the sun condition holds at `now`.

    On a timeline of sunrises and sunsets (the one named by `after` shifted by
    `after_offset`, the one named by `before` by `before_offset`): `after: X` holds when
    the latest event at or before now is X, `before: Y` when the next event after now is Y.
    So `after: sunset` is "it is dark", `after: sunrise, before: sunset` is daytime. With
    no event nearby (polar day or night) the sun's elevation now decides: polar night is
    after sunset and before sunrise.
    """
    shifts: dict[str, float] = {}
    if cond.after is not None:
        shifts[cond.after] = cond.after_offset
    if cond.before is not None and cond.before != cond.after:
        shifts[cond.before] = cond.before_offset
    dark: bool | None = None

    def is_dark() -> bool:
        nonlocal dark
        if dark is None:
            moment = datetime.fromtimestamp(now, tz)
            dark = elevation(_observer(location), moment) < HORIZON
        return dark

    ok = True
    if cond.after is not None:
        events = _sun_timeline(location, now, tz, shifts)
        past = [e for e in events if e[0] <= now]
        last = past[-1][1] if past else ("sunset" if is_dark() else "sunrise")
        ok = last == cond.after
    if ok and cond.before is not None:
        if cond.before == cond.after:  # the same event: each check shifts it its own way
            shifts = {cond.before: cond.before_offset}
        events = _sun_timeline(location, now, tz, shifts)
        future = [e for e in events if e[0] > now]
        following = future[0][1] if future else ("sunrise" if is_dark() else "sunset")
        ok = following == cond.before
    return ok


def _sun_timeline(
    location: Where, now: float, tz: tzinfo, shifts: Mapping[str, float]
) -> list[tuple[float, str]]:
    """Shifted sunrises and sunsets from yesterday to tomorrow (wider for long offsets)."""
    spread = 1 + math.ceil(max((abs(s) for s in shifts.values()), default=0.0) / 86400)
    today = local_parts(now, tz).date()
    events = []
    for i in range(-spread, spread + 1):
        for name, t in sun_times(location, today + timedelta(days=i), tz).items():
            if t is not None:
                events.append((t + shifts.get(name, 0.0), name))
    return sorted(events)
