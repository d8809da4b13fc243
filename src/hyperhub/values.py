"""Plain values as they cross HyperHub's edges (API bodies, MQTT payloads, CLI arguments).

One rule lives here: **no non-finite number enters**. Python's JSON parser (FastAPI's) takes
`NaN` and `Infinity`, and pydantic's turns `1e400` into `inf`; no device property holds such a
number, JSON cannot store it, and one of them in a batch of audit rows once cost the whole
batch. Every edge asks `non_finite()` and refuses the input with the place it names.
"""

from __future__ import annotations

import math
from typing import Any

_MAX_DEPTH = 32  # deeper values are refused elsewhere (sizes); here they are simply not walked


def non_finite(value: Any, where: str = "value", _depth: int = 0) -> str | None:
    """Where in `value` a NaN or infinite number sits (e.g. "state.temp"), or None."""
    kind = type(value)
    if kind is float:
        return None if math.isfinite(value) else where
    if kind is dict and _depth < _MAX_DEPTH:
        for key, item in value.items():
            t = type(item)
            if t is float or t is dict or t is list:
                found = non_finite(item, f"{where}.{key}", _depth + 1)
                if found is not None:
                    return found
    elif kind is list and _depth < _MAX_DEPTH:
        for i, item in enumerate(value):
            t = type(item)
            if t is float or t is dict or t is list:
                found = non_finite(item, f"{where}[{i}]", _depth + 1)
                if found is not None:
                    return found
    return None


def non_finite_message(where: str) -> str:
    """The one wording of the refusal."""
    return f"{where} is not a finite number (NaN and Infinity are not allowed)"
