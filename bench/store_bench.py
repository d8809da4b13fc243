"""Store benchmark: state writes/s for many devices, 24 h history queries over 1M+ rows, RSS.

The same workload also goes, side by side, into a naive single table through raw sqlite3
executemany (device TEXT, property TEXT, ts REAL, value TEXT): the floor for writes, and what
a history query costs without the store's schema.

    python -m bench.store_bench [--devices N] [--seconds S] [--history-rows R]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import sqlite3
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import psutil
from rich.console import Console
from rich.table import Table

from bench.harness import percentile
from hyperhub.store import StateStore, StateUpdate

DAY = 86_400.0
HOT_PROPERTY = "temperature"
GOAL_WRITES_PER_S = 20_000
GOAL_QUERY_MS = 50.0
MAX_POINTS = 500
Batch = list[StateUpdate]


def run_store_bench(
    devices: int = 10_000,
    seconds: int = 10,
    history_rows: int = 1_000_000,
    data_dir: Path | None = None,
    queries: int = 30,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the benchmark (bounded: about 40 s at the defaults on 2 cores) and return figures.

    `devices` devices each change 1-3 properties once per simulated second for `seconds`
    seconds on a fresh database; history is then filled to about `history_rows` (see
    `Workload`), the live load runs again for a few seconds on the full table, and `queries`
    24 h queries (<= 500 points) of 1 Hz sensors are timed. Scratch files go in a temporary
    directory (inside `data_dir` if given) that is removed afterwards.
    """
    phase = on_phase or (lambda _name: None)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="hyperhub-bench-", dir=data_dir) as scratch:
        work = Workload.plan(devices, seconds, history_rows, now=time.time())
        with StateStore.open(data_dir=Path(scratch)) as store:
            ours = _measure("store", StoreTarget(store), work, queries, phase)
            ours["rss_mb"] = psutil.Process().memory_info().rss / 1e6
            ours["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6
        ours["db_size_mb"] = _size_mb(Path(scratch) / "hyperhub.db")
        floor = RawTarget(Path(scratch) / "raw.db")
        raw = _measure("raw sqlite3", floor, work, max(3, queries // 6), phase)  # full scans
        floor.conn.close()
        raw["db_size_mb"] = _size_mb(Path(scratch) / "raw.db")
    return {
        "devices": devices,
        "seconds": seconds,
        "rows_per_24h_query": work.per_sensor,
        **ours,
        **{f"raw_{key}": value for key, value in raw.items()},
        "total_s": time.perf_counter() - started,
    }


@dataclass(frozen=True)
class Workload:
    """What gets written: the live load of `devices`, and history to fill the table with.

    The fill is 1 Hz sensors over the 24 h before `now` (the queried series, about 60% of
    the rows) plus `backfill` earlier seconds of the live load, so the devices' own series
    are long too when the live load runs again on the full table.
    """

    devices: int
    seconds: int
    again: int
    backfill: int
    hot: list[str]
    per_sensor: int
    now: float

    @classmethod
    def plan(cls, devices: int, seconds: int, history_rows: int, now: float) -> Workload:
        per_second = devices * 1.9  # rows per live second: 1-3 changes, a little under 2 each
        hot_count = max(1, round(0.6 * history_rows / DAY))
        per_sensor = max(1, min(int(DAY), int(0.6 * history_rows / hot_count)))
        again = max(1, seconds // 3)
        rest = history_rows - hot_count * per_sensor - (seconds + again) * per_second
        backfill = max(0, math.ceil(rest / per_second))
        hot = [f"sensor_{i:03d}" for i in range(hot_count)]
        return cls(devices, seconds, again, backfill, hot, per_sensor, now)

    def live(self) -> Iterator[Batch]:
        """The measured seconds on an empty table, ending at `now`."""
        return _live(self.devices, self.seconds, end=self.now)

    def fill(self, batch_size: int = 10_000) -> Iterator[Batch]:
        """Earlier seconds of the live load, then the hot sensors' readings."""
        yield from _live(self.devices, self.backfill, end=self.now - self.seconds)
        step = DAY / self.per_sensor
        updates = (
            StateUpdate(
                device,
                {HOT_PROPERTY: round(21 + 3 * math.sin(tick / 3600 + i), 2)},
                None,
                self.now - DAY + (tick + 1) * step,
            )
            for tick in range(self.per_sensor)
            for i, device in enumerate(self.hot)
        )
        yield from _chunks(updates, batch_size)

    def live_again(self) -> Iterator[Batch]:
        """More seconds on the full table, after `now` (so they add rows, not replace them)."""
        return _live(self.devices, self.again, end=self.now + self.again)


def _live(devices: int, seconds: int, end: float) -> Iterator[Batch]:
    """One batch per simulated second: every device changes 1-3 of its properties."""
    rng = random.Random(7)
    states = [_initial_state(rng) for _ in range(devices)]
    for second in range(seconds):
        ts = end - seconds + 1 + second
        batch = []
        for index, state in enumerate(states):
            changed = {}
            for prop in rng.sample(sorted(state), rng.randint(1, 3)):
                changed[prop] = _next_value(rng, prop, state[prop])
            state.update(changed)
            batch.append(StateUpdate(f"device_{index:05d}", dict(state), changed, ts))
        yield batch


def _initial_state(rng: random.Random) -> dict[str, Any]:
    return {
        "on": rng.random() < 0.5,
        "brightness": rng.randint(0, 100),
        "temperature": round(rng.uniform(18, 28), 1),
        "mode": rng.choice(["cool", "heat", "auto"]),
        "location": {"lat": 39.99, "lon": 116.31},
    }


def _next_value(rng: random.Random, prop: str, value: Any) -> Any:
    if prop == "on":
        return not value
    if prop == "brightness":
        return rng.randint(0, 100)
    if prop == "temperature":
        return round(value + rng.uniform(-0.5, 0.5), 1)
    if prop == "mode":
        return rng.choice(["cool", "heat", "auto"])
    return {"lat": value["lat"] + rng.uniform(-1e-3, 1e-3), "lon": value["lon"]}


class Target(Protocol):
    def write(self, batch: Batch) -> None: ...

    def query(self, device: str, since: float, until: float) -> int: ...


class StoreTarget:
    """The HyperHub store: one `write_states` per batch, downsampled history queries."""

    def __init__(self, store: StateStore) -> None:
        self.store = store

    def write(self, batch: Batch) -> None:
        self.store.write_states(batch)

    def query(self, device: str, since: float, until: float) -> int:
        return len(self.store.history(device, HOT_PROPERTY, since, until, MAX_POINTS))


class RawTarget:
    """The floor: executemany into one naive table, one transaction per batch, no index."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, isolation_level=None)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        self.conn.execute("CREATE TABLE history (device TEXT, property TEXT, ts REAL, value TEXT)")

    def write(self, batch: Batch) -> None:
        rows = [
            (u.device_id, prop, u.ts, json.dumps(value))
            for u in batch
            for prop, value in (u.state if u.changed is None else u.changed).items()
        ]
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO history VALUES (?, ?, ?, ?)", rows)
        self.conn.execute("COMMIT")

    def query(self, device: str, since: float, until: float) -> int:
        sql = "SELECT ts, value FROM history WHERE device=? AND property=? AND ts BETWEEN ? AND ?"
        return len(self.conn.execute(sql, (device, HOT_PROPERTY, since, until)).fetchall())


def _measure(
    name: str, target: Target, work: Workload, queries: int, phase: Callable[[str], None]
) -> dict[str, float]:
    """Live writes on an empty table, fill, live writes on the full table, then queries."""
    phase(f"{name}: live state writes, empty history")
    fresh_s, rows = [], 0
    for batch in work.live():
        fresh_s.append(_timed(target.write, batch))
        rows += _rows_in([batch])
    phase(f"{name}: filling history")
    for batch in work.fill():
        target.write(batch)
        rows += _rows_in([batch])
    phase(f"{name}: live state writes, full history")
    full_s = []
    for batch in work.live_again():
        full_s.append(_timed(target.write, batch))
        rows += _rows_in([batch])
    phase(f"{name}: 24 h history queries")
    query_s, points = [], 0
    for i in range(queries):
        t0 = time.perf_counter()
        points = target.query(work.hot[i % len(work.hot)], work.now - DAY, work.now)
        query_s.append(time.perf_counter() - t0)
    return {
        "state_writes_per_s": work.devices * len(fresh_s) / sum(fresh_s),
        "state_writes_per_s_full": work.devices * len(full_s) / sum(full_s),
        "batch_ms_p50": _ms(fresh_s + full_s, 50),
        "batch_ms_p95": _ms(fresh_s + full_s, 95),
        "history_24h_query_ms_p50": _ms(query_s, 50),
        "history_24h_query_ms_p95": _ms(query_s, 95),
        "points_per_24h_query": points,
        "history_rows": rows,
    }


def _rows_in(batches: list[Batch]) -> int:
    return sum(len(u.state if u.changed is None else u.changed) for b in batches for u in b)


def _chunks(items: Iterator[StateUpdate], size: int) -> Iterator[Batch]:
    batch: Batch = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def _timed(fn: Callable[[Batch], object], batch: Batch) -> float:
    t0 = time.perf_counter()
    fn(batch)
    return time.perf_counter() - t0


def _ms(samples: list[float], p: int) -> float:
    return percentile(samples, p) * 1e3


def _size_mb(path: Path) -> float:
    files = [path, path.with_name(path.name + "-wal")]
    return sum(f.stat().st_size for f in files if f.exists()) / 1e6


def results_table(r: dict[str, Any]) -> Table:
    """The figures as a Rich table: our store next to the raw sqlite3 floor."""
    table = Table(title=f"Store: {r['devices']:,} devices, 1-3 changes each per second, SQLite")
    table.add_column("metric")
    table.add_column("HyperHub store", justify="right")
    table.add_column("raw sqlite3, naive table", justify="right")
    table.add_column("goal", justify="right")

    def row(label: str, key: str, fmt: str, goal: str = "") -> None:
        table.add_row(label, format(r[key], fmt), format(r[f"raw_{key}"], fmt), goal)

    row("state writes/s, empty history", "state_writes_per_s", ",.0f", f">= {GOAL_WRITES_PER_S:,}")
    row("state writes/s, full history", "state_writes_per_s_full", ",.0f")
    row("24 h history query p50, ms", "history_24h_query_ms_p50", ".1f", f"< {GOAL_QUERY_MS:.0f}")
    row("24 h history query p95, ms", "history_24h_query_ms_p95", ".1f", f"< {GOAL_QUERY_MS:.0f}")
    row("points per query", "points_per_24h_query", ",", f"<= {MAX_POINTS}")
    row("write batch p50, ms", "batch_ms_p50", ".0f")
    row("write batch p95, ms", "batch_ms_p95", ".0f")
    row("history rows", "history_rows", ",", ">= 1M")
    table.add_row("database size, MB", f"{r['db_size_mb']:.0f}", f"{r['raw_db_size_mb']:.0f}")
    table.add_row("RSS / peak RSS, MB", f"{r['rss_mb']:.0f} / {r['peak_rss_mb']:.0f}")
    table.caption = (
        f"{r['rows_per_24h_query']:,} rows in each queried 24 h window; "
        f"batch = one update of every device; total {r['total_s']:.0f} s"
    )
    return table


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the benchmark with a status line and print the table."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--history-rows", type=int, default=1_000_000)
    parser.add_argument("--data-dir", type=Path, default=None, help="where scratch files go")
    args = parser.parse_args(argv)
    console = Console()
    with console.status("store benchmark") as status:
        results = run_store_bench(
            args.devices,
            args.seconds,
            args.history_rows,
            args.data_dir,
            on_phase=lambda name: status.update(f"store benchmark: {name}"),
        )
    console.print(results_table(results))
    return results


if __name__ == "__main__":
    main()
