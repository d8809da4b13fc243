"""Crash safety: kill -9 a writer mid-way; every write it acknowledged is still there."""

from __future__ import annotations

import queue
import sqlite3
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

import pytest

from hyperhub.store import StateStore

WRITER = Path(__file__).with_name("crash_writer.py")
DEVICES = 200
ACKS_BEFORE_KILL = 15
TIMEOUT_S = 60


@dataclass
class Crash:
    data_dir: Path
    acked: list[int]
    returncode: int


def _read_lines(stream, lines: queue.Queue) -> None:
    for line in stream:
        lines.put(line)
    lines.put(None)


@pytest.fixture(scope="module")
def crash(tmp_path_factory: pytest.TempPathFactory) -> Crash:
    """Run the writer, kill -9 it after some acks, and collect every ack it printed."""
    data_dir = tmp_path_factory.mktemp("crash")
    writer = subprocess.Popen(
        [sys.executable, str(WRITER), str(data_dir), str(DEVICES), "1000000"],
        stdout=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[str | None] = queue.Queue()
    reader = threading.Thread(target=_read_lines, args=(writer.stdout, lines), daemon=True)
    reader.start()
    acked: list[int] = []
    try:
        while len(acked) < ACKS_BEFORE_KILL:
            line = lines.get(timeout=TIMEOUT_S)
            assert line is not None, "the writer stopped before it was killed"
            acked.append(int(line))
    finally:
        writer.kill()  # SIGKILL: no cleanup, no final commit
        writer.wait(timeout=TIMEOUT_S)
    reader.join(timeout=TIMEOUT_S)
    while (line := lines.get(timeout=TIMEOUT_S)) is not None:  # acks already in the pipe
        acked.append(int(line))
    return Crash(data_dir, acked, writer.returncode)


def test_writer_was_killed_mid_way(crash: Crash) -> None:
    assert crash.returncode == -9
    assert crash.acked == list(range(len(crash.acked)))


def test_database_is_intact_after_the_kill(crash: Crash) -> None:
    with sqlite3.connect(crash.data_dir / "hyperhub.db") as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_every_acknowledged_update_survives_the_kill(crash: Crash) -> None:
    with StateStore.open(data_dir=crash.data_dir) as store:
        for d in range(DEVICES):
            seqs = [p.value for p in store.history(f"dev{d}", "seq", since=0, max_points=None)]
            assert seqs[: len(crash.acked)] == [float(n) for n in crash.acked]
            assert store.current(f"dev{d}")["seq"] >= crash.acked[-1]
