"""`StateStore`: current state, history, audit log, rule runs and meta, over one SQLAlchemy engine.

Plain sync methods, meant for one writer thread plus any number of reader threads (the hub
calls it from asyncio through an executor). Writes are serialised by a lock and each is one
transaction: when a write method returns, its data is committed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc
from sqlalchemy.engine import URL, Engine

from hyperhub.errors import StoreError
from hyperhub.service import Closing
from hyperhub.store import engine as engines
from hyperhub.store.bulk import UPSERT_INSERTS, Row, upsert_many
from hyperhub.store.history import query_history
from hyperhub.store.migrate import upgrade
from hyperhub.store.records import (
    AuditEntry,
    HistoryPoint,
    RunEntry,
    RunRow,
    StateRow,
    StateUpdate,
    dumps,
    encode_value,
    loads,
)
from hyperhub.store.schema import audit, current_state, history, meta, rule_runs, series

AUDIT_KINDS = ("set", "call")
AUDIT_RESULTS = ("ok", "error", "timeout")
AUDIT_TEXT_MAX = 1000  # characters of one value (or the message) an audit row keeps
# one row of `audit_many`: actor, device, kind, what, result, message, ts, code, changes
AuditRow = tuple[str, str, str, dict[str, Any], str, str, float | None, str, dict[str, Any] | None]
# how a rule run ended ("running": written before it did); the rule_runs table checks it too
RUN_RESULTS = ("ok", "error", "conditions_false", "skipped", "cancelled", "loop", "running")
_RULE_ID_MAX = 100  # rule_runs.rule_id is a String(100): checked here, not only by PostgreSQL
_IN_CHUNK = 500  # values per IN (...) list, well under every database's parameter limit
_HISTORY_COLUMNS = ("series_id", "ts", "num", "value")
_STATE_COLUMNS = ("device_id", "state", "updated")

SeriesKey = tuple[str, str]  # (device_id, property)


class StateStore(Closing):
    """Persistence for the hub. Open with `StateStore.open()`; close it, or use `with`."""

    def __init__(
        self, engine: Engine, url: URL, synchronous: engines.Synchronous = "NORMAL"
    ) -> None:
        """Wrap an engine from `engine.create_engine` (use `open`, which also migrates)."""
        self.synchronous: engines.Synchronous = synchronous  # what the engine was made with
        self._engine = engine
        self._writer = engine.execution_options(**{engines.WRITE_OPTION: True})
        self._url = url
        self._lock = threading.RLock()
        # one in-memory SQLite connection is shared, so readers take the writer's lock too
        self._read_guard: AbstractContextManager[Any] = (
            self._lock if engines.is_memory(url) else nullcontext()
        )
        self._series: dict[SeriesKey, int] = {}  # ids of committed series (never deleted)
        self._closed = False

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        data_dir: Path | None = None,
        synchronous: engines.Synchronous = "NORMAL",
    ) -> StateStore:
        """Open (creating and migrating) the database at `url`, else `data_dir`/hyperhub.db.

        `data_dir` (ignored when `url` is given) defaults to the user's data dir and is
        created. `synchronous` applies to SQLite: with "NORMAL" (the default) a write that
        returned survives a crash or kill of the process; "FULL" also survives power loss,
        at one fsync per transaction (see `hyperhub.store.engine`).
        """
        resolved = engines.resolve_url(url, data_dir)
        store = cls(engines.create_engine(resolved, synchronous), resolved, synchronous)
        try:
            with store._writing("open database") as conn:
                upgrade(conn, store.url)
                store._series = _load_series(conn)
        except StoreError:
            store.close()
            raise
        return store

    @property
    def url(self) -> str:
        """The database URL, password hidden."""
        return engines.show(self._url)

    @property
    def sqlite_file(self) -> Path | None:
        """The database file if this is SQLite on disk (not in memory), else None."""
        if self._url.get_backend_name() != "sqlite" or engines.is_memory(self._url):
            return None
        return Path(self._url.database or "").resolve()

    def close(self) -> None:
        """Release all connections; the store can't be used afterwards."""
        self._closed = True
        self._engine.dispose()

    # -- current state and history ---------------------------------------------------------

    def write_state(
        self,
        device_id: str,
        state: dict[str, Any],
        changed: dict[str, Any] | None = None,
        ts: float | None = None,
    ) -> None:
        """Replace the device's current state; add a history row per changed property.

        `changed=None` records every property of `state` in history.
        """
        self.write_states([StateUpdate(device_id, state, changed, ts)])

    def write_states(self, updates: Iterable[StateRow]) -> int:
        """Write many updates (`StateUpdate`s or plain tuples of the same fields) in one
        transaction (the fast path); returns how many.

        Of several updates of one device the last sets its current state; a property
        written twice at the same ts keeps the later value in history.
        """
        now = time.time()
        count = 0
        with self._writing("write device state to") as conn:
            known = self._series
            latest: dict[str, Row] = {}  # one row per device: its last update wins
            rows: list[Row] = []  # history; a new series has its key in place of its id
            new: list[int] = []  # positions in `rows` of new series
            for device_id, state, changed, ts in updates:
                count += 1
                at = now if ts is None else float(ts)
                latest[device_id] = (device_id, state, at)  # encoded below, if it is the last
                for prop, value in (state if changed is None else changed).items():
                    key = (device_id, prop)
                    series_id = known.get(key)
                    if series_id is None:
                        new.append(len(rows))
                    num, text = _encode_value(device_id, prop, value)
                    rows.append((key if series_id is None else series_id, at, num, text))
            if new:
                known = {**known, **_create_series(conn, sorted({rows[i][0] for i in new}))}
                for i in new:
                    rows[i] = (known[rows[i][0]], *rows[i][1:])
            states = [(d, _encode(d, state), at) for d, state, at in latest.values()]
            upsert_many(conn, history, _HISTORY_COLUMNS, rows)
            upsert_many(conn, current_state, _STATE_COLUMNS, states)
        self._series = known  # only after commit: ids of a rolled-back insert don't exist
        return count

    def current(self, device_id: str) -> dict[str, Any] | None:
        """The device's last written state, or None if it has none."""
        stmt = sa.select(current_state.c.state).where(current_state.c.device_id == device_id)
        with self._reading("read device state from") as conn:
            text = conn.execute(stmt).scalar_one_or_none()
        return None if text is None else loads(text)

    def current_all(self) -> dict[str, dict[str, Any]]:
        """Every device's last written state, by device id."""
        stmt = sa.select(current_state.c.device_id, current_state.c.state)
        with self._reading("read device states from") as conn:
            return {device_id: loads(text) for device_id, text in conn.execute(stmt)}

    def last_updated(self, device_id: str) -> float | None:
        """When the device's state was last written (UNIX seconds), or None."""
        stmt = sa.select(current_state.c.updated).where(current_state.c.device_id == device_id)
        with self._reading("read device state from") as conn:
            return conn.execute(stmt).scalar_one_or_none()

    def history(
        self,
        device_id: str,
        prop: str,
        since: float,
        until: float | None = None,
        max_points: int | None = 500,
    ) -> list[HistoryPoint]:
        """Values of one property with since <= ts <= until, oldest first.

        With more rows than `max_points`, the window is cut into `max_points` equal buckets:
        numbers give one point per bucket (average, with min/max/count), other values the
        last value in each bucket. `max_points=None` returns every row.
        """
        if max_points is not None and max_points < 1:
            raise StoreError(f"max_points must be at least 1, not {max_points}")
        with self._reading("read history from") as conn:
            series_id = self._series.get((device_id, prop))
            if series_id is None:
                series_id = _load_series(conn, [device_id]).get((device_id, prop))
            if series_id is None:
                return []
            return query_history(conn, series_id, since, until, max_points)

    def prune_history(self, older_than: float) -> int:
        """Delete history rows with ts < `older_than`; returns how many."""
        with self._writing("prune history in") as conn:
            return conn.execute(sa.delete(history).where(history.c.ts < older_than)).rowcount

    def prune_audit(self, older_than: float) -> int:
        """Delete audit rows with ts < `older_than`; returns how many."""
        with self._writing("prune the audit log in") as conn:
            return conn.execute(sa.delete(audit).where(audit.c.ts < older_than)).rowcount

    # -- audit log ----------------------------------------------------------------------------

    def audit(
        self,
        actor: str,
        device: str,
        kind: Literal["set", "call"],
        what: dict[str, Any],
        result: Literal["ok", "error", "timeout"],
        message: str = "",
        ts: float | None = None,
        code: str = "",
        changes: dict[str, Any] | None = None,
    ) -> int:
        """Record one command (actor e.g. "cli", "api:<token-id>", "rule:<id>"); returns its id.
        `message` says the outcome to people, `code` (an error's) and `changes` to machines."""
        row = _audit_row(actor, device, kind, what, result, message, ts, code, changes)
        with self._writing("write the audit log to") as conn:
            key = conn.execute(audit.insert().values(row)).inserted_primary_key
            assert key is not None  # a single-row INSERT always has one
            return int(key[0])

    def audit_many(self, rows: Iterable[AuditRow]) -> int:
        """Record many commands in one transaction; returns how many. Each row holds the
        arguments of `audit`: (actor, device, kind, what, result, message, ts, code, changes)."""
        values = [_audit_row(*row) for row in rows]
        if values:
            with self._writing("write the audit log to") as conn:
                conn.execute(audit.insert(), values)
        return len(values)

    def audit_log(
        self, device: str | None = None, since: float | None = None, limit: int = 100
    ) -> list[AuditEntry]:
        """The latest commands, newest first; optionally of one device and/or since a time."""
        stmt = sa.select(audit).order_by(audit.c.ts.desc(), audit.c.id.desc()).limit(limit)
        if device is not None:
            stmt = stmt.where(audit.c.device_id == device)
        if since is not None:
            stmt = stmt.where(audit.c.ts >= since)
        with self._reading("read the audit log from") as conn:
            rows = conn.execute(stmt).all()
        return [
            AuditEntry(
                r.id,
                r.ts,
                r.actor,
                r.device_id,
                r.kind,
                loads(r.what),
                r.result,
                r.message,
                r.code,
                None if r.changes is None else loads(r.changes),
            )
            for r in rows
        ]

    # -- rule runs ----------------------------------------------------------------------------

    def write_runs(self, rows: Iterable[RunRow]) -> int:
        """Record automation rule runs in one transaction; returns how many. Each row is
        (rule_id, started, finished, result, message, trigger, steps), see `RunRow`.

        Every row is checked (result in `RUN_RESULTS`, JSON-able trigger and steps) before
        anything is written: one bad row refuses them all. Through `BatchWriter.submit`,
        pass a list (it is pickled to the writer process).
        """
        values = [_run_row(*row) for row in rows]
        if values:
            with self._writing("write rule runs to") as conn:
                conn.execute(rule_runs.insert(), values)
        return len(values)

    def rule_runs(
        self, rule: str | None = None, since: float | None = None, limit: int = 50
    ) -> list[RunEntry]:
        """The latest runs, newest first (by start); optionally of one rule and/or started
        at or after `since`."""
        if limit < 0:
            raise StoreError(f"limit must not be negative, not {limit}")
        runs = rule_runs.c
        stmt = sa.select(rule_runs).order_by(runs.started.desc(), runs.id.desc()).limit(limit)
        if rule is not None:
            stmt = stmt.where(runs.rule_id == rule)
        if since is not None:
            stmt = stmt.where(runs.started >= since)
        with self._reading("read rule runs from") as conn:
            rows = conn.execute(stmt).all()
        return [
            RunEntry(
                r.id,
                r.rule_id,
                r.started,
                r.finished,
                r.result,
                r.message,
                loads(r.trigger),
                loads(r.steps),
            )
            for r in rows
        ]

    def prune_runs(self, keep_per_rule: int = 200) -> int:
        """Delete all but the newest `keep_per_rule` runs of each rule; returns how many."""
        if keep_per_rule < 0:
            raise StoreError(f"keep_per_rule must not be negative, not {keep_per_rule}")
        runs = rule_runs.c
        # number each rule's runs newest first (as `rule_runs` orders them); drop the rest
        newest_first = sa.func.row_number().over(
            partition_by=runs.rule_id, order_by=(runs.started.desc(), runs.id.desc())
        )
        ranked = sa.select(runs.id, newest_first.label("n")).subquery("ranked")
        older = sa.select(ranked.c.id).where(ranked.c.n > keep_per_rule)
        with self._writing("prune rule runs in") as conn:
            return conn.execute(sa.delete(rule_runs).where(runs.id.in_(older))).rowcount

    # -- meta ---------------------------------------------------------------------------------

    def get_meta(self, key: str) -> str | None:
        """A stored setting (e.g. the space file path), or None."""
        with self._reading("read meta from") as conn:
            return conn.execute(sa.select(meta.c.value).where(meta.c.key == key)).scalar()

    def set_meta(self, key: str, value: str) -> None:
        """Store a setting, replacing any previous value."""
        with self._writing("write meta to") as conn:
            upsert_many(conn, meta, ("key", "value"), [(key, value)])

    # -- plumbing -----------------------------------------------------------------------------

    @contextmanager
    def _writing(self, what: str) -> Iterator[sa.Connection]:
        """One write transaction, committed when the block ends; errors become StoreError."""
        with self._lock, self._translate(what), self._writer.begin() as conn:
            yield conn

    @contextmanager
    def _reading(self, what: str) -> Iterator[sa.Connection]:
        with self._read_guard, self._translate(what), self._engine.connect() as conn:
            yield conn

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """Database errors become one-line StoreErrors: "cannot <what> <url>: <reason>"."""
        if self._closed:
            raise StoreError(f"cannot {what} {self.url}: the store is closed")
        try:
            yield
        except exc.SQLAlchemyError as err:
            raise StoreError(f"cannot {what} {self.url}: {engines.reason(err)}") from err


def _load_series(conn: sa.Connection, devices: list[str] | None = None) -> dict[SeriesKey, int]:
    """Series ids of `devices` (or of all devices)."""
    stmt = sa.select(series.c.device_id, series.c.property, series.c.id)
    if devices is None:
        return {(d, p): i for d, p, i in conn.execute(stmt)}
    found: dict[SeriesKey, int] = {}
    for start in range(0, len(devices), _IN_CHUNK):
        chunk = devices[start : start + _IN_CHUNK]
        found.update(
            {(d, p): i for d, p, i in conn.execute(stmt.where(series.c.device_id.in_(chunk)))}
        )
    return found


def _create_series(conn: sa.Connection, keys: list[SeriesKey]) -> dict[SeriesKey, int]:
    """Insert series rows; any another process created meanwhile are looked up instead."""
    rows = [{"device_id": d, "property": p} for d, p in keys]
    insert = UPSERT_INSERTS.get(conn.dialect.name)
    created: dict[SeriesKey, int] = {}
    if insert is not None and conn.dialect.insert_executemany_returning:
        stmt = insert(series).on_conflict_do_nothing()
        returning = stmt.returning(series.c.device_id, series.c.property, series.c.id)
        created = {(d, p): i for d, p, i in conn.execute(returning, rows)}
    else:
        conn.execute(series.insert(), rows)
    if len(created) < len(keys):
        created.update(_load_series(conn, sorted({d for d, p in keys if (d, p) not in created})))
    return created


def _audit_row(
    actor: str,
    device: str,
    kind: str,
    what: Any,
    result: str,
    message: str,
    ts: float | None,
    code: str = "",
    changes: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """One audit row checked and ready to insert."""
    if kind not in AUDIT_KINDS:
        raise StoreError(f"audit kind must be one of {AUDIT_KINDS}, not {kind!r}")
    if result not in AUDIT_RESULTS:
        raise StoreError(f"audit result must be one of {AUDIT_RESULTS}, not {result!r}")
    return {
        "ts": time.time() if ts is None else float(ts),
        "actor": actor,
        "device_id": device,
        "kind": kind,
        "what": audit_what(what),
        "result": result,
        "message": cut(str(message), AUDIT_TEXT_MAX),
        "code": cut(str(code), 40),
        "changes": None if changes is None else audit_what(changes),
    }


def audit_what(what: Any) -> str:
    """An audit row's `what` as JSON, whatever it holds: the audit log must never lose a row
    (nor a batch of them) to one value. A value JSON cannot hold (NaN, an object) is kept as
    "unstorable value: <repr>"; a long one is cut to `AUDIT_TEXT_MAX` characters, saying how
    long it was (a 60 kB rejected value must not grow the database by 60 kB a request)."""
    try:
        text = dumps(what)
    except (TypeError, ValueError):
        text = None
    if text is not None and len(text) <= AUDIT_TEXT_MAX:
        return text
    items = what.items() if isinstance(what, dict) else [("value", what)]
    safe: dict[str, Any] = {}
    for key, value in items:
        try:
            part = dumps(value)
        except (TypeError, ValueError):
            safe[cut(str(key), 64)] = "unstorable value: " + cut(repr(value), 200)
            continue
        short = len(part) <= AUDIT_TEXT_MAX
        safe[cut(str(key), 64)] = value if short else cut(part, AUDIT_TEXT_MAX)
    return dumps(safe)


def cut(text: str, limit: int) -> str:
    """`text`, or its first `limit` characters and how long it was."""
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text):,} characters)"


def _run_row(
    rule_id: str,
    started: float,
    finished: float | None,
    result: str,
    message: str,
    trigger: dict[str, Any],
    steps: list[dict[str, Any]],
) -> dict[str, Any]:
    """One rule_runs row checked and ready to insert."""
    if result not in RUN_RESULTS:
        raise StoreError(
            f"run result of rule {rule_id!r} must be one of {RUN_RESULTS}, not {result!r}"
        )
    if not isinstance(rule_id, str) or not 0 < len(rule_id) <= _RULE_ID_MAX:
        raise StoreError(f"a rule id must be 1 to {_RULE_ID_MAX} characters, not {rule_id!r}")
    if not isinstance(trigger, dict):
        raise StoreError(f"the trigger of a run of rule {rule_id!r} must be a dict: {trigger!r}")
    if not isinstance(steps, list):
        raise StoreError(f"the steps of a run of rule {rule_id!r} must be a list: {steps!r}")
    return {
        "rule_id": rule_id,
        "started": float(started),
        "finished": None if finished is None else float(finished),
        "result": result,
        "message": message,
        "trigger": _encode_run(rule_id, "trigger", trigger),
        "steps": _encode_run(rule_id, "steps", steps),
    }


def _encode_run(rule_id: str, part: str, data: Any) -> str:
    try:
        return dumps(data)
    except (TypeError, ValueError) as err:
        raise StoreError(f"cannot store the {part} of a run of rule {rule_id!r}: {err}") from None


def _encode(device_id: str, data: dict[str, Any]) -> str:
    """JSON of a state (or an audit `what`); a bad value is named as device.property."""
    try:
        return dumps(data)
    except (TypeError, ValueError) as err:
        for key, value in data.items():
            _encode_value(device_id, key, value)  # raises, naming the culprit
        raise StoreError(f"cannot store data of device {device_id!r}: {err}") from None


def _encode_value(device_id: str, prop: str, value: Any) -> tuple[float | None, str | None]:
    """The (num, value) columns for one property value."""
    try:
        return encode_value(value)
    except (TypeError, ValueError, OverflowError) as err:
        raise StoreError(f"cannot store {device_id}.{prop} = {value!r}: {err}") from None
