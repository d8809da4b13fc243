"""What every benchmark shares: percentiles, a distribution of timings, and child processes
(a node, a flood publisher) started and stopped the same way."""

from __future__ import annotations

import asyncio
import contextlib
import math
import statistics
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]  # the checkout: children import `bench` from it


def percentile(values: Sequence[float], p: float) -> float:
    """The `p`-th percentile (0–100), interpolated between the closest ranks (as
    `statistics.quantiles(..., method="inclusive")`; p 50 is the median); NaN for none."""
    if not values:
        return math.nan
    ordered = sorted(values)
    at = (len(ordered) - 1) * p / 100
    low = math.floor(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def distribution(values: Sequence[float], digits: int = 3) -> dict[str, Any]:
    """Count, p50, p99, max and mean of some timings (None for each when there are none)."""
    if not values:
        return {"count": 0, "p50": None, "p99": None, "max": None, "mean": None}
    return {
        "count": len(values),
        "p50": round(percentile(values, 50), digits),
        "p99": round(percentile(values, 99), digits),
        "max": round(max(values), digits),
        "mean": round(statistics.fmean(values), digits),
    }


@contextlib.asynccontextmanager
async def child(
    code: str, *args: str, stdout: int | None = asyncio.subprocess.DEVNULL
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -c code args…` run from the checkout, its stdin a pipe; on exit its stdin is
    closed (the child says goodbye and exits) and it is killed after 15 s."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code,
        *args,
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=stdout,
        limit=1 << 26,
    )
    try:
        yield proc
    finally:
        await end_process(proc)


async def end_process(proc: asyncio.subprocess.Process) -> None:
    """Close a child's stdin (it says goodbye and exits); kill it after 15 s."""
    assert proc.stdin is not None
    proc.stdin.close()
    try:
        await asyncio.wait_for(proc.wait(), 15)
    except TimeoutError:
        proc.kill()
        await proc.wait()
