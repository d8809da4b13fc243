"""`bench/api_bench.py` in its quick mode: every part runs and reports its figures, and the
fan-out loses nothing. The figures' shape is checked, never their speed."""

from __future__ import annotations

import pytest
from bench.api_bench import results_table, run_api_bench

from hyperhub.fabric.broker import mosquitto_binary


@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto")
def test_quick_run_reports_every_figure() -> None:
    figures = run_api_bench(quick=True)
    for key in ("get_req_per_s", "set_req_per_s", "ws_p99_ms", "first_load_ms"):
        assert isinstance(figures[key], int | float), key
    assert figures["get_state"]["errors"] == {} and figures["post_set"]["errors"] == {}
    assert figures["ws"]["deliveries"] == figures["ws"]["expected"] > 0
    assert figures["ws"]["dropped_at_hub"] == 0
    assert figures["first_load"]["all_ok"]
    assert len(results_table(figures)) == 3
