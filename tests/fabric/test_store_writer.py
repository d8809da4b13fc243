"""`BatchWriter`: state batches and audit rows into a real SQLite file, from a writer process
(the default for SQLite on disk) or a thread; a writer process that dies loses nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
from pathlib import Path
from typing import Any

import psutil
import pytest

from hyperhub.errors import StoreError
from hyperhub.fabric.store_process import CALLS
from hyperhub.fabric.store_writer import BatchWriter, Request, WriterProcess
from hyperhub.store import StateStore, StateUpdate

T0 = 1_700_000_000.0


def updates(count: int, devices: int = 10, start: int = 0) -> list[Any]:
    """`count` updates round robin over `devices` lamps, each changing the brightness;
    plain tuples and `StateUpdate`s mixed (the writer takes both)."""
    out: list[Any] = []
    for i in range(start, start + count):
        row = (f"lamp{i % devices}", {"on": True, "brightness": i}, {"brightness": i}, T0 + i)
        out.append(row if i % 2 else StateUpdate(*row))
    return out


def last_states(rows: list[Any]) -> dict[str, dict[str, Any]]:
    return {row[0]: row[1] for row in rows}


def test_a_writer_process_mirrors_batches_and_audit_rows(run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)
    rows = updates(1200)

    async def main() -> None:
        writer = BatchWriter(store, max_batch=500)
        assert writer.mode == "process"
        writer.start()
        for row in rows[:600]:
            writer.add(row)
        writer.submit("audit", store.audit, "test", "lamp1", "set", {"on": True}, "ok", "", T0)
        for row in rows[600:]:
            writer.add(row)
        await writer.flush()
        pid = writer.pid
        assert pid is not None and pid != os.getpid()
        assert (writer.written, writer.failed, writer.dropped) == (1200, 0, 0)
        # the main process reads what the writer process committed
        assert store.current_all() == last_states(rows)
        history = store.history("lamp3", "brightness", since=0, max_points=None)
        assert [p.value for p in history] == [r[1]["brightness"] for r in rows if r[0] == "lamp3"]
        [entry] = store.audit_log()
        assert (entry.actor, entry.device_id, entry.what) == ("test", "lamp1", {"on": True})
        await writer.close()
        assert writer.pid is None and not psutil.pid_exists(pid)

    run(main())
    store.close()


def test_close_writes_what_is_pending(run, tmp_path: Path) -> None:
    store = StateStore.open(data_dir=tmp_path)
    rows = updates(300)

    async def main() -> None:
        writer = BatchWriter(store, interval=60)  # nothing is written before close
        writer.start()
        for row in rows:
            writer.add(row)
        await writer.close()
        assert writer.written == 300

    run(main())
    with StateStore.open(data_dir=tmp_path) as reopened:
        assert reopened.current_all() == last_states(rows)
    store.close()


def test_a_failed_batch_is_counted_and_the_process_goes_on(run, tmp_path: Path, caplog) -> None:
    store = StateStore.open(data_dir=tmp_path)

    async def main() -> None:
        writer = BatchWriter(store)
        writer.start()
        writer.add(("lamp", {"on": True, "tags": {1, 2}}, None, T0))  # a set: not JSON
        await writer.flush()
        assert (writer.written, writer.failed) == (0, 1)
        writer.add(("lamp", {"on": False}, None, T0 + 1))
        await writer.flush()
        assert (writer.written, writer.failed, writer.mode) == (1, 1, "process")
        await writer.close()

    with caplog.at_level(logging.ERROR, logger="hyperhub.fabric.store"):
        run(main())
    assert "cannot mirror 1 state updates into the store" in caplog.text
    assert "cannot store lamp.tags" in caplog.text
    assert store.current("lamp") == {"on": False}
    store.close()


def test_a_writer_process_that_dies_loses_nothing(run, tmp_path: Path, caplog) -> None:
    store = StateStore.open(data_dir=tmp_path)
    rows = updates(3000)

    async def main() -> None:
        writer = BatchWriter(store, max_batch=400)
        writer.start()
        for row in rows[:1000]:
            writer.add(row)
        await writer.flush()
        pid = writer.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for row in rows[1000:2000]:  # some of these may go to the dying process
            writer.add(row)
        writer.submit("audit", store.audit, "test", "lamp1", "set", {"on": True}, "ok", "", T0)
        await writer.flush()
        for row in rows[2000:]:
            writer.add(row)
        await writer.flush()
        assert writer.mode == "thread" and writer.pid is None
        assert (writer.written, writer.failed) == (3000, 0)
        await writer.close()

    with caplog.at_level(logging.ERROR, logger="hyperhub.fabric.store"):
        run(main())
    assert "the store writer process exited with code -9" in caplog.text
    assert "writing on a thread from now on" in caplog.text
    assert store.current_all() == last_states(rows)
    history = store.history("lamp7", "brightness", since=0, max_points=None)
    assert [p.value for p in history] == [r[1]["brightness"] for r in rows if r[0] == "lamp7"]
    assert [e.device_id for e in store.audit_log()] == ["lamp1"]
    store.close()


def test_a_writer_process_that_cannot_start_hands_back_its_requests(run, tmp_path: Path) -> None:
    ended: list[tuple[str, list[Request]]] = []

    async def main() -> None:
        process = WriterProcess(
            tmp_path / "missing" / "hyperhub.db",
            "NORMAL",
            lambda why, left: ended.append((why, left)),
        )
        process.start()
        future = process.request("call", ("set_meta", ("k", "v")))
        async with asyncio.timeout(30):
            while not ended:
                await asyncio.sleep(0.02)
        assert not future.done()  # its owner decides what becomes of it
        await process.close(5)

    run(main())
    [(why, left)] = ended
    assert "failed: cannot open database" in why and "does not exist" in why
    assert [(r.op, r.payload) for r in left] == [("call", ("set_meta", ("k", "v")))]


def test_without_a_database_file_the_writer_uses_a_thread(run) -> None:
    store = StateStore.open("sqlite://")

    async def main() -> None:
        writer = BatchWriter(store)
        assert writer.mode == "thread" and writer.pid is None
        writer.start()
        writer.add(("lamp", {"on": True}, None, T0))
        writer.submit("audit", store.audit, "test", "lamp", "set", {"on": True}, "ok")
        await writer.flush()
        assert writer.written == 1
        await writer.close()

    run(main())
    assert store.current("lamp") == {"on": True} and len(store.audit_log()) == 1
    with pytest.raises(StoreError, match="needs SQLite on disk"):
        BatchWriter(store, process=True)
    store.close()


def test_the_calls_the_writer_process_takes_are_store_methods() -> None:
    for name in CALLS:
        assert callable(getattr(StateStore, name, None)), name
