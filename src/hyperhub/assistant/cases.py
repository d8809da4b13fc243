"""How a case of an assistant case set (../shared/eval/dev.jsonl and the held-out sets in
tests/assistant/data) compares an expected value with the one an answer changed: the rule of
the shared ../shared/eval/score.py, for the tests and probes that judge answers in process."""

from __future__ import annotations

from typing import Any


def same(want: Any, got: Any) -> bool:
    """Numbers equal within 0.01, strings case-insensitively, bools exactly; a string ">N" /
    "<N" only asks the value to be above / below N."""
    if isinstance(want, str) and want[:1] in "<>" and isinstance(got, int | float):
        n = float(want[1:])
        return got > n if want[0] == ">" else got < n
    if isinstance(want, bool) or isinstance(got, bool):
        return want is got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(want - got) <= 0.01
    if isinstance(want, str) and isinstance(got, str):
        return want.casefold() == got.casefold()
    return bool(want == got)
