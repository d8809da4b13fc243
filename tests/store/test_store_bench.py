"""The store benchmark runs end to end at a small size and reports every figure."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SMALL_RUN = """
import json
from bench.store_bench import run_store_bench
print(json.dumps(run_store_bench(devices=50, seconds=2, history_rows=3000, queries=3)))
"""


def test_small_bench_run_reports_every_figure() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SMALL_RUN], cwd=ROOT, capture_output=True, text=True, timeout=120
    )

    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout)
    for key in (
        "state_writes_per_s",
        "history_24h_query_ms_p50",
        "history_24h_query_ms_p95",
        "db_size_mb",
        "rss_mb",
        "raw_state_writes_per_s",
        "raw_history_24h_query_ms_p50",
    ):
        assert figures[key] > 0, key
    assert figures["history_rows"] >= 3000
    assert 0 < figures["points_per_24h_query"] <= 500
    assert figures["raw_points_per_24h_query"] == figures["rows_per_24h_query"]
