"""Memory and tick cost of a hub holding a large space: simulator + store, 10,000 devices."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil

from bench.synthetic import synthetic_space
from hyperhub.clock import ManualClock
from hyperhub.local import LocalSpace
from hyperhub.store import StateStore


def measure_hub(devices: int, ticks: int, data_dir: Path) -> dict[str, float]:
    """Load a synthetic space, persist it, tick it `ticks` simulated seconds; report figures."""
    proc = psutil.Process()
    start = time.perf_counter()
    space = synthetic_space(devices)
    loaded = time.perf_counter()
    with StateStore.open(data_dir=data_dir) as store:
        clock = ManualClock()
        local = LocalSpace(space, store, clock)
        local.snapshot()
        ready = time.perf_counter()
        changed = 0
        for _ in range(ticks):
            clock.advance(1.0)
            changed += len(local.tick())
        done = time.perf_counter()
    return {
        "devices": devices,
        "space_load_s": round(loaded - start, 2),
        "hub_start_s": round(ready - start, 2),
        "tick_ms": round((done - ready) / ticks * 1000, 1),
        "changes_per_tick": round(changed / ticks),
        "hub_rss_mb": round(proc.memory_info().rss / 2**20, 1),
    }


def run_hub_bench(devices: int = 10_000, ticks: int = 20) -> dict[str, float]:
    """Run `measure_hub` in a fresh process, so its RSS is the hub's alone."""
    with tempfile.TemporaryDirectory(prefix="hyperhub-bench-") as tmp:
        code = (
            "import json, sys; from pathlib import Path; from bench.hub_bench import measure_hub;"
            f"print(json.dumps(measure_hub({devices}, {ticks}, Path(sys.argv[1]))))"
        )
        root = Path(__file__).resolve().parents[1]
        out = subprocess.run(
            [sys.executable, "-c", code, tmp],
            capture_output=True,
            text=True,
            cwd=root,
            timeout=600,
            check=True,
        )
    return json.loads(out.stdout.strip().splitlines()[-1])


if __name__ == "__main__":
    print(json.dumps(run_hub_bench(), indent=2))
