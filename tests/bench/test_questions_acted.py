"""`bench/assistant_bench.py` counts the questions that changed state from score.py's
failure lines, by the cases' kinds."""

from __future__ import annotations

import json
from pathlib import Path

from bench.assistant_bench import questions_that_acted


def test_only_query_cases_that_changed_a_device_count(tmp_path: Path) -> None:
    cases = tmp_path / "cases.jsonl"
    cases.write_text("\n".join(json.dumps(c) for c in [
        {"id": "q1", "kind": "query", "text": "is it on?", "expect": {"changes": {}}},
        {"id": "q2", "kind": "query", "text": "how warm?", "expect": {"changes": {}}},
        {"id": "c1", "kind": "control", "text": "on", "expect": {"changes": {"l": {"on": True}}}},
    ]) + "\n")  # fmt: skip
    output = "\n".join([
        "FAIL | q1 | is it on? | devices ['lamp'] != []",
        "FAIL | q2 | how warm? | reply 'x' lacks any of ['21']",
        "FAIL | c1 | on | devices [] != ['l']",
        "accuracy 0.0% (0/3), p50 1 ms",
    ])  # fmt: skip
    assert questions_that_acted(cases, output) == 1
