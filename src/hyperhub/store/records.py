"""What goes in and comes out of the store, and how a property value is encoded."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any, NamedTuple


class StateUpdate(NamedTuple):
    """One device update: its full `state`, the properties that `changed` (None = all), when."""

    device_id: str
    state: dict[str, Any]
    changed: dict[str, Any] | None = None
    ts: float | None = None


StateRow = tuple[str, dict[str, Any], dict[str, Any] | None, float | None]
"""A `StateUpdate`'s fields as a plain tuple: what `write_states` takes, either way (a plain
tuple is cheaper to build and to pickle)."""


class HistoryPoint(NamedTuple):
    """A value at a time. Downsampled numbers: `ts` is the bucket start, `value` the average."""

    ts: float
    value: Any
    min: float | None = None
    max: float | None = None
    # the field shadows tuple.count, which mypy rejects; renaming it would change the API
    count: int = 1  # type: ignore[assignment]


class AuditEntry(NamedTuple):
    """One command as it was carried out: who, on what, what was asked, how it ended."""

    id: int
    ts: float
    actor: str
    device_id: str
    kind: str  # "set" | "call"
    what: dict[str, Any]
    result: str  # "ok" | "error" | "timeout"
    message: str  # for people, in English: what changed, or why it failed
    code: str = ""  # for machines: the error's code (`HyperHubError.code`); "" when ok
    changes: dict[str, Any] | None = None  # what an ok command changed; None in older rows


RunRow = tuple[str, float, float | None, str, str, dict[str, Any], list[dict[str, Any]]]
"""One rule run for `write_runs`: (rule_id, started, finished, result, message, trigger, steps);
times are UNIX seconds, `finished` None while it runs; `trigger` and `steps` must be JSON-able."""


@dataclass(frozen=True, slots=True)
class RunEntry:
    """One stored run of an automation rule, as `rule_runs` reads it back."""

    id: int
    rule: str
    started: float  # UNIX seconds
    finished: float | None  # None: still running, or it never said it finished
    result: str  # one of `RUN_RESULTS`
    message: str
    trigger: dict[str, Any]  # what set it off
    steps: list[dict[str, Any]]  # what each step did, in order


# one encoder, built once: json.dumps with options builds a new one on every call
dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode
"""Compact JSON, unicode kept as is; raises TypeError/ValueError for what JSON can't hold."""

loads = json.loads
_encode_str = json.encoder.encode_basestring


def encode_value(value: Any) -> tuple[float | None, str | None]:
    """(num, value) columns: finite numbers as floats, everything else as JSON text."""
    kind = type(value)
    if (kind is float or kind is int) and math.isfinite(value):
        return float(value), None
    if kind is bool:
        return None, "true" if value else "false"
    if kind is str:
        return None, _encode_str(value)
    return None, dumps(value)


def decode_value(num: float | None, text: str | None) -> Any:
    return num if num is not None else loads(text) if text is not None else None
