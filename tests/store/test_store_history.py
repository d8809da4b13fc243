"""History: rows per changed property, windows, downsampling, retention."""

from __future__ import annotations

import math
import random

import pytest

from hyperhub.errors import StoreError
from hyperhub.store import HistoryPoint, StateStore, StateUpdate
from hyperhub.store.history import (
    averages_by_range,
    averages_grouped,
    averages_lateral,
    last_values,
)


def write_series(store: StateStore, device: str, prop: str, values: list, start: float = 0.0):
    store.write_states(
        StateUpdate(device, {prop: value}, None, start + i) for i, value in enumerate(values)
    )


def test_changed_none_records_every_property(store: StateStore) -> None:
    store.write_state("light", {"on": True, "brightness": 40}, ts=10.0)

    assert store.history("light", "on", since=0) == [HistoryPoint(10.0, True)]
    assert store.history("light", "brightness", since=0) == [HistoryPoint(10.0, 40.0)]


def test_only_changed_properties_get_history_rows(store: StateStore) -> None:
    store.write_state("light", {"on": True, "brightness": 40}, changed={"brightness": 40}, ts=1.0)

    assert store.history("light", "on", since=0) == []
    assert [p.value for p in store.history("light", "brightness", since=0)] == [40.0]


def test_history_values_keep_their_json_types(store: StateStore) -> None:
    values = [True, "heat", {"lat": 39.9, "lon": 116.3}, None, "车"]
    write_series(store, "x", "v", values)

    assert [p.value for p in store.history("x", "v", since=0)] == values


def test_history_returns_only_the_window_inclusive(store: StateStore) -> None:
    write_series(store, "s", "temperature", [20, 21, 22, 23, 24], start=100.0)

    points = store.history("s", "temperature", since=101.0, until=103.0)

    assert [(p.ts, p.value) for p in points] == [(101.0, 21.0), (102.0, 22.0), (103.0, 23.0)]


def test_history_is_oldest_first_whatever_the_write_order(store: StateStore) -> None:
    for ts in (5.0, 1.0, 3.0):
        store.write_state("s", {"t": ts}, ts=ts)

    assert [p.ts for p in store.history("s", "t", since=0)] == [1.0, 3.0, 5.0]


def test_same_property_at_the_same_ts_keeps_the_later_value(store: StateStore) -> None:
    store.write_state("s", {"t": 1}, ts=7.0)
    store.write_state("s", {"t": 2}, ts=7.0)

    assert store.history("s", "t", since=0) == [HistoryPoint(7.0, 2.0)]


def test_unknown_series_has_empty_history(store: StateStore) -> None:
    assert store.history("ghost", "on", since=0) == []


def test_few_rows_come_back_as_they_are(store: StateStore) -> None:
    write_series(store, "s", "t", [1, 2, 3])

    points = store.history("s", "t", since=0, max_points=3)

    assert points == [HistoryPoint(0.0, 1.0), HistoryPoint(1.0, 2.0), HistoryPoint(2.0, 3.0)]


def test_numbers_are_averaged_into_equal_time_buckets(store: StateStore) -> None:
    write_series(store, "s", "t", list(range(100)))  # ts 0..99, value == ts

    points = store.history("s", "t", since=0, until=99, max_points=4)

    assert [p.count for p in points] == [25, 25, 25, 25]
    assert [p.value for p in points] == [12.0, 37.0, 62.0, 87.0]
    assert [(p.min, p.max) for p in points] == [(0, 24), (25, 49), (50, 74), (75, 99)]
    assert [p.ts for p in points] == [0.0, 24.75, 49.5, 74.25]


def test_downsampling_never_returns_more_than_max_points(store: StateStore) -> None:
    write_series(store, "s", "t", [i % 7 for i in range(1000)])

    assert len(store.history("s", "t", since=0, max_points=500)) <= 500
    assert len(store.history("s", "t", since=0, max_points=1)) == 1


def test_the_row_at_until_lands_in_the_last_bucket(store: StateStore) -> None:
    write_series(store, "s", "t", [0, 0, 0, 0, 0, 0, 0, 0, 0, 90])  # ts 0..9

    points = store.history("s", "t", since=0, until=9, max_points=3)

    assert len(points) == 3
    assert points[-1].max == 90
    assert sum(p.count for p in points) == 10


def test_empty_buckets_give_no_points(store: StateStore) -> None:
    write_series(store, "s", "t", [1] * 10, start=0.0)  # ts 0..9: first bucket
    write_series(store, "s", "t", [3] * 10, start=90.0)  # ts 90..99: last bucket

    points = store.history("s", "t", since=0, until=99, max_points=10)

    assert [(p.value, p.count) for p in points] == [(1.0, 10), (3.0, 10)]
    assert [p.ts for p in points] == pytest.approx([0.0, 89.1])


def test_non_numbers_keep_the_last_value_of_each_bucket(store: StateStore) -> None:
    modes = ["cool"] * 5 + ["heat"] * 4 + ["dry"] + ["auto"] * 9 + ["fan"]  # ts 0..19
    write_series(store, "ac", "mode", modes)

    points = store.history("ac", "mode", since=0, until=19, max_points=2)

    assert points == [HistoryPoint(9.0, "dry"), HistoryPoint(19.0, "fan")]


def test_grouped_sql_gives_the_same_buckets_as_range_scans(sqlite_store: StateStore) -> None:
    """The portable GROUP BY plan (PostgreSQL) agrees with SQLite's per-bucket scans."""
    write_series(sqlite_store, "s", "t", [(i * 37) % 101 for i in range(1000)], start=3.0)
    series_id = sqlite_store._series[("s", "t")]
    with sqlite_store._engine.connect() as conn:
        if (
            conn.exec_driver_sql("SELECT 1 FROM pragma_function_list WHERE name='floor'").first()
            is None
        ):
            pytest.skip("this SQLite has no floor()")
        grouped = averages_grouped(conn, series_id, 3.0, 1002.0, 7)
        ranged = averages_by_range(conn, series_id, 3.0, 1002.0, 7)

    assert [(p.count, p.min, p.max) for p in grouped] == [(p.count, p.min, p.max) for p in ranged]
    assert [p.value for p in grouped] == pytest.approx([p.value for p in ranged])


def test_downsampled_figures_are_the_exact_doubles(store: StateStore) -> None:
    """Not rounded to 15 digits on the way out of SQL (SQLite's JSON once did that)."""
    third, point3 = 1 / 3, 0.1 + 0.2  # 0.3333333333333333, 0.30000000000000004
    write_series(store, "s", "t", [point3, third, third, point3, 1e-300, 2 / 3])  # ts 0..5

    points = store.history("s", "t", since=0, until=5, max_points=2)

    assert [(p.min, p.max, p.count) for p in points] == [(point3, third, 3), (1e-300, 2 / 3, 3)]
    assert points[0].value == (point3 + third + third) / 3


BUCKETINGS = [(7, "dyadic"), (10, "random"), (333, "dyadic"), (500, "random")]


def boundary_data(since: float, until: float, count: int, kind: str) -> list[tuple[float, object]]:
    """(ts, value) on every bucket bound, one ulp either side of it, and at random times."""
    rng = random.Random(count)
    width = (until - since) / count
    times = set()
    for i in range(count + 1):
        bound = since + i * width
        times |= {bound, math.nextafter(bound, -math.inf), math.nextafter(bound, math.inf)}
    times |= {rng.uniform(since, until) for _ in range(300)}
    times = {t for t in times if since <= t <= until}
    if kind == "dyadic":  # sums are exact in any order: averages must agree to the bit
        return [(t, rng.randrange(-400, 400) / 8) for t in sorted(times)]
    return [(t, rng.uniform(-40.0, 60.0)) for t in sorted(times)]


@pytest.mark.parametrize(("count", "kind"), BUCKETINGS)
def test_downsampled_buckets_are_identical_on_sqlite_and_postgresql(
    sqlite_store: StateStore, pg_store: StateStore, count: int, kind: str
) -> None:
    since, until = 1_700_000_000.123, 1_700_000_000.123 + 86_400.0
    data = boundary_data(since, until, count, kind)
    modes = ["cool", "heat", "dry", "auto", "fan"]
    for store in (sqlite_store, pg_store):
        store.write_states(
            StateUpdate("ac", {"temp": value, "mode": modes[n % 5]}, None, ts)
            for n, (ts, value) in enumerate(data)
        )

    lite = sqlite_store.history("ac", "temp", since, until, max_points=count)
    pg = pg_store.history("ac", "temp", since, until, max_points=count)
    with pg_store._engine.connect() as conn:  # the portable plan must agree as well
        grouped = averages_grouped(conn, pg_store._series[("ac", "temp")], since, until, count)

    assert len(lite) == count  # every bucket has rows: its lower bound at least
    assert sum(p.count for p in lite) == len(data)
    for other in (pg, grouped):
        assert [(p.ts, p.count, p.min, p.max) for p in other] == [
            (p.ts, p.count, p.min, p.max) for p in lite
        ]
        if kind == "dyadic":
            assert other == lite
        else:  # summation order may differ between databases: the last bit of an average
            assert [p.value for p in other] == pytest.approx([p.value for p in lite], rel=1e-12)
    assert sqlite_store.history("ac", "mode", since, until, max_points=count) == (
        pg_store.history("ac", "mode", since, until, max_points=count)
    )


def test_every_postgresql_plan_gives_the_buckets_of_sqlite(
    sqlite_store: StateStore, pg_store: StateStore
) -> None:
    data = boundary_data(3.0, 1002.0, 7, "dyadic")
    for store in (sqlite_store, pg_store):
        store.write_states(StateUpdate("s", {"t": v}, None, ts) for ts, v in data)
    with sqlite_store._engine.connect() as lite, pg_store._engine.connect() as pg:
        sid_lite, sid_pg = sqlite_store._series[("s", "t")], pg_store._series[("s", "t")]
        ranged = averages_by_range(lite, sid_lite, 3.0, 1002.0, 7)
        last = last_values(lite, sid_lite, 3.0, 1002.0, 7)

        assert len(ranged) == 7
        assert averages_lateral(pg, sid_pg, 3.0, 1002.0, 7) == ranged
        assert averages_grouped(pg, sid_pg, 3.0, 1002.0, 7) == ranged
        assert last_values(pg, sid_pg, 3.0, 1002.0, 7) == last


def test_max_points_below_one_is_refused(store: StateStore) -> None:
    with pytest.raises(StoreError, match="max_points"):
        store.history("s", "t", since=0, max_points=0)


def test_prune_deletes_only_rows_older_than_the_cutoff(store: StateStore) -> None:
    write_series(store, "s", "t", [1, 2, 3, 4], start=10.0)  # ts 10..13

    assert store.prune_history(older_than=12.0) == 2
    assert [p.ts for p in store.history("s", "t", since=0)] == [12.0, 13.0]


def test_prune_keeps_current_state(store: StateStore) -> None:
    store.write_state("s", {"t": 5}, ts=1.0)

    store.prune_history(older_than=100.0)

    assert store.current("s") == {"t": 5}


def test_series_created_by_another_store_on_the_same_database_is_shared(store_url: str) -> None:
    with StateStore.open(store_url) as first, StateStore.open(store_url) as second:
        first.write_state("s", {"t": 1}, ts=1.0)
        second.write_state("s", {"t": 2}, ts=2.0)  # its cache predates the series

        assert [p.value for p in first.history("s", "t", since=0)] == [1.0, 2.0]
