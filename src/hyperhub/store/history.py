"""History queries: a window of one series, downsampled in SQL into equal time buckets.

Buckets are [since + i*width, since + (i+1)*width) for i in 0..max_points-1, the last one
closed at `until`. Every plan computes the bounds alike (since + i * width, in doubles), so a
row lands in the same bucket on every database. Each bucket is one range scan of the
history key (series, ts): on SQLite one scalar subquery per bucket (SQLite has no hash
aggregate, so a GROUP BY on a computed bucket would sort every row of the window first, about
3x slower), on PostgreSQL one LATERAL subquery per bucket (faster there than a GROUP BY).
Other databases get a plain GROUP BY on the bucket number.
Non-numeric values keep the last value of each bucket: one index seek per bucket.
"""

from __future__ import annotations

import math
from typing import Any

import sqlalchemy as sa

from hyperhub.store.records import HistoryPoint, decode_value
from hyperhub.store.schema import history

h = history.c


def query_history(
    conn: sa.Connection,
    series_id: int,
    since: float,
    until: float | None,
    max_points: int | None,
) -> list[HistoryPoint]:
    """Points of `series_id` with since <= ts <= until; at most `max_points` (>= 1) if given."""
    window = [h.series_id == series_id, h.ts >= since]
    if until is not None:
        window.append(h.ts <= until)
    raw = sa.select(h.ts, h.num, h.value).where(*window).order_by(h.ts)
    if max_points is None:
        return _points(conn.execute(raw))
    probe = conn.execute(raw.limit(max_points + 1)).all()
    if len(probe) <= max_points:
        return _points(probe)

    if until is None:
        until = conn.execute(sa.select(sa.func.max(h.ts)).where(*window)).scalar_one()
    if not any(num is not None for _, num, _ in probe):
        return last_values(conn, series_id, since, until, max_points)
    if conn.dialect.name == "sqlite":
        return averages_by_range(conn, series_id, since, until, max_points)
    if conn.dialect.name == "postgresql":
        return averages_lateral(conn, series_id, since, until, max_points)
    return averages_grouped(conn, series_id, since, until, max_points)


def averages_by_range(
    conn: sa.Connection, series_id: int, since: float, until: float, count: int
) -> list[HistoryPoint]:
    """Average, min, max and count per bucket, one range scan per bucket (for SQLite).

    A scalar subquery yields one value, so the four figures come back as one text. Not as
    json_array(): SQLite's JSON writes reals with 15 digits, which changes most of them.
    17 digits identify a double exactly (SQLite formats in long double; where that is only a
    double, as on 32-bit ARM, the last digit may be a unit off). printf is also a little faster.
    """
    buckets = _buckets(since, until, count)
    stats = sa.func.printf(
        "%!.17g %!.17g %!.17g %d",
        sa.func.avg(h.num),
        sa.func.min(h.num),
        sa.func.max(h.num),
        sa.func.count(h.num),
    )
    per_bucket = sa.select(stats).where(*_in_bucket(series_id, buckets)).scalar_subquery()
    points = []
    for start, text in conn.execute(sa.select(buckets.c.start, per_bucket)):
        avg, low, high, n = text.split()
        if n != "0":
            points.append(HistoryPoint(start, float(avg), float(low), float(high), int(n)))
    return points


def averages_lateral(
    conn: sa.Connection, series_id: int, since: float, until: float, count: int
) -> list[HistoryPoint]:
    """Average, min, max and count per bucket, one range scan per bucket (for PostgreSQL)."""
    buckets = _buckets(since, until, count)
    num = h.num
    stats = (
        sa.select(
            sa.func.avg(num).label("avg"),
            sa.func.min(num).label("low"),
            sa.func.max(num).label("high"),
            sa.func.count(num).label("n"),
        )
        .where(*_in_bucket(series_id, buckets))
        .lateral("stats")
    )
    stmt = (
        sa.select(buckets.c.start, stats.c.avg, stats.c.low, stats.c.high, stats.c.n)
        .select_from(buckets.join(stats, sa.true()))
        .where(stats.c.n > 0)
        .order_by(buckets.c.i)
    )
    return [
        HistoryPoint(start, float(avg), low, high, n)
        for start, avg, low, high, n in conn.execute(stmt)
    ]


def averages_grouped(
    conn: sa.Connection, series_id: int, since: float, until: float, count: int
) -> list[HistoryPoint]:
    """Average, min, max and count per bucket, with one GROUP BY (portable SQL, for the
    databases other than SQLite and PostgreSQL)."""
    width = (until - since) / count
    last_start = since + (count - 1) * width  # ts == until belongs to the last bucket
    # floor() is off by one for a row within rounding error of a bound; the bounds decide,
    # computed as _buckets() computes them: since + i * width
    guess = (
        sa.select(
            sa.cast(sa.func.floor((h.ts - since) / width), sa.Integer).label("i"), h.ts, h.num
        )
        .where(h.series_id == series_id, h.ts >= since, h.ts <= until, h.num.is_not(None))
        .subquery("guess")
    )
    i, ts, num = guess.c.i, guess.c.ts, guess.c.num
    bucket = sa.case(
        (ts >= last_start, count - 1),
        (ts < since + i * width, i - 1),
        (ts >= since + (i + 1) * width, i + 1),
        else_=i,
    ).label("bucket")
    stmt = (
        sa.select(bucket, sa.func.avg(num), sa.func.min(num), sa.func.max(num), sa.func.count(num))
        .group_by(bucket)
        .order_by(bucket)
    )
    return [
        HistoryPoint(since + i * width, float(avg), low, high, n)
        for i, avg, low, high, n in conn.execute(stmt)
    ]


def last_values(
    conn: sa.Connection, series_id: int, since: float, until: float, count: int
) -> list[HistoryPoint]:
    """The last row of each bucket: one index seek per bucket finds its ts."""
    buckets = _buckets(since, until, count)
    last_ts = (
        sa.select(h.ts)
        .where(*_in_bucket(series_id, buckets))
        .order_by(h.ts.desc())
        .limit(1)
        .scalar_subquery()
    )
    picked = sa.select(last_ts.label("ts")).select_from(buckets).subquery()
    stmt = (
        sa.select(h.ts, h.num, h.value)
        .join(picked, sa.and_(h.series_id == series_id, h.ts == picked.c.ts))
        .order_by(h.ts)
    )
    return _points(conn.execute(stmt))


def _points(rows: Any) -> list[HistoryPoint]:
    return [HistoryPoint(ts, decode_value(num, text)) for ts, num, text in rows]


def _buckets(since: float, until: float, count: int) -> sa.Subquery:
    """Rows (i, start, end) of `count` equal buckets over [since, until], as a subquery."""
    width = (until - since) / count
    numbers = sa.select(sa.literal_column("0", sa.Integer).label("i")).cte("n", recursive=True)
    numbers = numbers.union_all(sa.select(numbers.c.i + 1).where(numbers.c.i < count - 1))
    i = numbers.c.i
    # start and end computed alike, so neighbouring buckets share their boundary exactly
    end = sa.case((i == count - 1, math.nextafter(until, math.inf)), else_=since + (i + 1) * width)
    return sa.select(i, (since + i * width).label("start"), end.label("end")).subquery("buckets")


def _in_bucket(series_id: int, buckets: sa.Subquery) -> list[Any]:
    # the bucket's bounds alone constrain ts, so each is one range scan of the key
    return [h.series_id == series_id, h.ts >= buckets.c.start, h.ts < buckets.c.end]
