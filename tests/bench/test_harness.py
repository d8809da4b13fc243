"""The benchmarks' shared percentiles: the same figures as the standard library's inclusive
quantiles (which the benches used, each its own way, before)."""

from __future__ import annotations

import math
import statistics

import pytest
from bench.harness import distribution, percentile

VALUES = [float((i * 37) % 101) for i in range(1, 250)]  # 249 values, shuffled


@pytest.mark.parametrize("p", [1, 25, 50, 90, 95, 99])
def test_percentiles_match_the_inclusive_quantiles(p: int) -> None:
    wanted = statistics.quantiles(VALUES, n=100, method="inclusive")[p - 1]
    assert percentile(VALUES, p) == pytest.approx(wanted)


def test_the_median_and_the_ends() -> None:
    assert percentile([3.0, 1.0, 2.0, 10.0], 50) == statistics.median([3.0, 1.0, 2.0, 10.0])
    assert percentile(VALUES, 0) == min(VALUES) and percentile(VALUES, 100) == max(VALUES)
    assert percentile([7.0], 99) == 7.0
    assert math.isnan(percentile([], 50))


def test_a_distribution_of_timings() -> None:
    assert distribution([2.0, 1.0, 4.0]) == {
        "count": 3,
        "p50": 2.0,
        "p99": 3.96,
        "max": 4.0,
        "mean": 2.333,
    }
    assert distribution([])["p99"] is None
