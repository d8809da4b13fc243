"""`hyperhub bench rules` at a tiny size: both parts run on a real broker, every figure is
reported and recorded. The figures' shape is checked, never their speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from bench.rules_bench import results_table

from hyperhub.fabric.broker import mosquitto_binary

HEADLINE = (
    "rule_p50_ms",
    "rule_p99_ms",
    "end_to_end_p50_ms",
    "end_to_end_p99_ms",
    "ingest_msgs_per_s",
    "ingest_with_rules_msgs_per_s",
    "ingest_slowdown_pct",
)
ROWS = (
    "trigger → first command sent, p50, ms (in the hub)",
    "trigger → first command sent, p99, ms (in the hub)",
    "node publish → command at the node, p50, ms (end to end)",
    "node publish → command at the node, p99, ms (end to end)",
    "crossings → runs (ok) → commands received by the node",
    "hub ingest without rules, state msgs/s",
    "hub ingest with 20 rules (none firing), state msgs/s",
    "ingest slowdown with the rules, %",
    "hub CPU per state message without / with the rules, µs",
)


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto")
def test_tiny_run_reports_and_records_every_figure(tmp_path: Path) -> None:
    record = tmp_path / "benchmarks.md"
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "hyperhub",
            "bench",
            "rules",
            "--quick",
            "--rules",
            "20",
            "--rate",
            "100",
            "--seconds",
            "2",
            "--json",
            "--record",
            str(record),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
    )
    assert proc.returncode == 0, proc.stderr
    figures = json.loads(proc.stdout)
    for key in HEADLINE:
        assert isinstance(figures[key], int | float), key
    assert figures["rules"] == 20 and figures["rate"] == 100 and figures["seconds"] == 2
    lat = figures["latency"]
    assert lat["crossings"] > 0
    assert lat["runs"] == lat["crossings"] == lat["results"]["ok"]  # one run per crossing
    assert lat["end_to_end_ms"]["count"] == lat["crossings"]  # every command reached the node
    assert lat["command_timeouts"] == 0
    ingest = figures["ingest"]
    assert ingest["fired"] == 0  # the flood stays on the quiet side of every rule
    assert ingest["complete"] and ingest["store_matches"]
    assert {r["rules"] for r in ingest["runs"]} == {False, True}
    [table] = results_table(figures)
    assert [str(c) for c in table.columns[0]._cells] == list(ROWS)
    text = record.read_text(encoding="utf-8")
    assert "## Rules (`hyperhub bench rules`)" in text
    assert all(row in text for row in ROWS)
