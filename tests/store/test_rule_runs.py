"""Rule run traces: written in batches, read back newest first, pruned per rule; the table
comes with migration 0002, also onto a database made by 0001; the writer process writes them.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from hyperhub.errors import StoreError
from hyperhub.fabric.store_process import CALLS
from hyperhub.fabric.store_writer import BatchWriter
from hyperhub.store import RUN_RESULTS, RunEntry, RunRow, StateStore
from hyperhub.store.migrate import HEAD, alembic_config, head_revision

T0 = 1_700_000_000.0
TRIGGER = {"kind": "state", "device": "hall_sensor", "property": "motion", "to": True}
STEPS = [
    {"step": 0, "action": "set", "device": "lamp", "value": {"on": True}, "ok": True},
    {"step": 1, "action": "notify", "message": "Bewegung im Flur – 🚶 détectée", "ok": True},
]


def run(rule: str, started: float, result: str = "ok", **kw: Any) -> RunRow:
    """A run row: finished a second after it started, unless given."""
    return (
        rule,
        started,
        kw.get("finished", started + 1.0),
        result,
        kw.get("message", ""),
        kw.get("trigger", {"kind": "time", "at": started}),
        kw.get("steps", []),
    )


def test_a_run_reads_back_as_written(store: StateStore) -> None:
    rows = [("hall_light", T0, T0 + 0.25, "ok", "2 steps – fine", TRIGGER, STEPS)]
    assert store.write_runs(rows) == 1

    [entry] = store.rule_runs()
    assert entry == RunEntry(
        entry.id, "hall_light", T0, T0 + 0.25, "ok", "2 steps – fine", TRIGGER, STEPS
    )
    assert isinstance(entry.id, int)


def test_a_running_run_has_no_finish_and_an_empty_trace_is_kept(store: StateStore) -> None:
    store.write_runs([("r", T0, None, "running", "", {}, [])])

    [entry] = store.rule_runs()
    assert (entry.finished, entry.result, entry.trigger, entry.steps) == (None, "running", {}, [])


def test_every_run_result_is_accepted(store: StateStore) -> None:
    store.write_runs([run("r", T0 + i, result) for i, result in enumerate(RUN_RESULTS)])

    assert [e.result for e in store.rule_runs()] == list(reversed(RUN_RESULTS))


def test_runs_are_newest_first_and_by_id_at_the_same_start(store: StateStore) -> None:
    store.write_runs([run("a", T0 + 2), run("b", T0 + 9), run("a", T0 + 5)])
    store.write_runs([run("first", T0), run("second", T0)])

    entries = store.rule_runs()
    assert [(e.rule, e.started) for e in entries] == [
        ("b", T0 + 9),
        ("a", T0 + 5),
        ("a", T0 + 2),
        ("second", T0),
        ("first", T0),
    ]
    assert entries[3].id > entries[4].id


def test_runs_filter_by_rule_and_since(store: StateStore) -> None:
    store.write_runs([run("a", T0 + i) for i in range(5)] + [run("b", T0 + i) for i in range(5)])

    assert [e.started for e in store.rule_runs(rule="b")] == [T0 + i for i in (4, 3, 2, 1, 0)]
    assert [(e.rule, e.started) for e in store.rule_runs(rule="a", since=T0 + 3)] == [
        ("a", T0 + 4),
        ("a", T0 + 3),
    ]
    assert {e.rule for e in store.rule_runs(since=T0 + 4)} == {"a", "b"}
    assert store.rule_runs(rule="nope") == []


def test_runs_limit_keeps_the_newest(store: StateStore) -> None:
    store.write_runs([run("r", T0 + i) for i in range(80)])

    assert len(store.rule_runs()) == 50  # the default
    assert [e.started for e in store.rule_runs(limit=3)] == [T0 + 79, T0 + 78, T0 + 77]
    assert store.rule_runs(limit=0) == []
    with pytest.raises(StoreError, match="limit"):
        store.rule_runs(limit=-1)


def test_prune_keeps_the_newest_runs_of_each_rule(store: StateStore) -> None:
    # written out of order, and two runs of "a" start at the same time: the later id is newer
    store.write_runs([run("a", T0 + i) for i in (3, 0, 5, 1, 4, 2)] + [run("a", T0 + 5)])
    store.write_runs([run("b", T0 + i) for i in range(2)] + [run("c", T0 + 7)])
    newest_a = store.rule_runs(rule="a", limit=2)

    assert store.prune_runs(keep_per_rule=2) == 5
    assert store.rule_runs(rule="a") == newest_a
    assert [e.started for e in store.rule_runs(rule="b")] == [T0 + 1, T0]
    assert [e.started for e in store.rule_runs(rule="c")] == [T0 + 7]
    assert store.prune_runs(keep_per_rule=2) == 0
    assert store.prune_runs(keep_per_rule=0) == 5 and store.rule_runs() == []


def test_prune_by_default_keeps_200_per_rule(store: StateStore) -> None:
    store.write_runs([run("busy", T0 + i) for i in range(205)] + [run("quiet", T0)])

    assert store.prune_runs() == 5
    assert [e.started for e in store.rule_runs(rule="busy", limit=1000)][-1] == T0 + 5
    with pytest.raises(StoreError, match="keep_per_rule"):
        store.prune_runs(keep_per_rule=-1)


def test_a_bad_result_refuses_the_whole_batch(store: StateStore) -> None:
    with pytest.raises(StoreError, match="'maybe'") as caught:
        store.write_runs([run("good", T0), run("bad", T0 + 1, "maybe")])

    assert "'bad'" in str(caught.value)
    assert store.rule_runs() == []


@pytest.mark.parametrize(
    ("row", "match"),
    [
        (run("r", T0, trigger={"at": {1, 2}}), "cannot store the trigger of a run of rule 'r'"),
        (run("r", T0, steps=[{"value": float("nan")}]), "cannot store the steps"),
        (run("r", T0, trigger=["not", "a", "dict"]), "trigger .* must be a dict"),
        (run("r", T0, steps={"not": "a list"}), "steps .* must be a list"),
        (run("x" * 101, T0), "rule id must be 1 to 100 characters"),
        (run("", T0), "rule id"),
    ],
)
def test_a_run_that_cannot_be_stored_refuses_the_batch(
    store: StateStore, row: RunRow, match: str
) -> None:
    with pytest.raises(StoreError, match=match):
        store.write_runs([run("fine", T0), row])

    assert store.rule_runs() == []


def test_no_runs_is_no_transaction(store: StateStore) -> None:
    assert store.write_runs([]) == 0
    assert store.write_runs(iter([run("r", T0)])) == 1  # any iterable


def test_the_table_itself_refuses_an_unknown_result(store: StateStore) -> None:
    insert = sa.text(
        'INSERT INTO rule_runs (rule_id, started, result, message, "trigger", steps) '
        "VALUES ('r', 1.0, 'maybe', '', '{}', '[]')"
    )
    with pytest.raises(sa.exc.IntegrityError), store._engine.begin() as conn:
        conn.execute(insert)


# -- migration -------------------------------------------------------------------------------


def test_a_database_at_0001_is_upgraded_with_its_data(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0001")
            conn.execute(sa.text("INSERT INTO meta (key, value) VALUES ('k', 'v')"))
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("rule_runs")
    finally:
        engine.dispose()

    with StateStore.open(store_url) as store:  # 0001 -> 0002 at open; nothing else lost
        assert store.get_meta("k") == "v"
        store.write_runs([run("r", T0, trigger=TRIGGER, steps=STEPS)])
        assert [(e.rule, e.trigger, e.steps) for e in store.rule_runs()] == [("r", TRIGGER, STEPS)]

    engine = sa.create_engine(store_url)
    try:
        with engine.connect() as conn:
            inspector = sa.inspect(conn)
            assert inspector.has_table("rule_runs")
            indexes = {i["name"]: i["column_names"] for i in inspector.get_indexes("rule_runs")}
            version = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar()
    finally:
        engine.dispose()
    assert indexes == {
        "ix_rule_runs_rule_started": ["rule_id", "started"],
        "ix_rule_runs_started": ["started"],
    }
    assert version == head_revision() == HEAD


def test_audit_rows_written_at_0002_read_back_at_head(store_url: str) -> None:
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.upgrade(alembic_config(conn), "0002")
            conn.execute(
                sa.text(
                    "INSERT INTO audit (ts, actor, device_id, kind, what, result, message) "
                    "VALUES (1.0, 'cli', 'lamp', 'set', '{}', 'ok', 'on → true')"
                )
            )
    finally:
        engine.dispose()

    with StateStore.open(store_url) as store:  # 0002 -> head at open; the old row kept
        [old] = store.audit_log()
        assert (old.message, old.code, old.changes) == ("on → true", "", None)
        store.audit("cli", "lamp", "set", {}, "error", "x", code="value_not_allowed")
        assert store.audit_log()[0].code == "value_not_allowed"


def test_0002_downgrades_to_0001_and_back(store_url: str) -> None:
    with StateStore.open(store_url) as store:
        store.write_state("lamp", {"on": True}, ts=T0)
        store.write_runs([run("r", T0)])
    engine = sa.create_engine(store_url)
    try:
        with engine.begin() as conn:
            command.downgrade(alembic_config(conn), "0001")
        with engine.connect() as conn:
            assert not sa.inspect(conn).has_table("rule_runs")
    finally:
        engine.dispose()

    with StateStore.open(store_url) as store:
        assert store.current("lamp") == {"on": True}
        assert store.rule_runs() == []
        store.write_runs([run("r", T0)])
        assert len(store.rule_runs()) == 1


# -- the writer process ----------------------------------------------------------------------


def test_the_writer_process_writes_and_prunes_runs(tmp_path: Path) -> None:
    assert {"write_runs", "prune_runs"} <= CALLS
    store = StateStore.open(data_dir=tmp_path)
    rows = [run("r", T0 + i, trigger=TRIGGER, steps=STEPS) for i in range(5)]

    async def main() -> None:
        writer = BatchWriter(store)
        assert writer.mode == "process"
        writer.start()
        written = writer.submit("record rule runs", store.write_runs, rows)
        pruned = writer.submit("prune rule runs", store.prune_runs, 3)
        refused = writer.submit("record rule runs", store.write_runs, [run("r", T0, "maybe")])
        await writer.flush()
        assert writer.pid is not None  # still the process: it answered, and went on
        assert (written.result(), pruned.result()) == (5, 2)
        with pytest.raises(StoreError, match="'maybe'"):
            refused.result()
        await writer.close()

    try:
        asyncio.run(asyncio.wait_for(main(), 30))
        entries = store.rule_runs()  # what the writer process committed
        assert [e.started for e in entries] == [T0 + 4, T0 + 3, T0 + 2]
        assert entries[0].trigger == TRIGGER and entries[0].steps == STEPS
    finally:
        store.close()
