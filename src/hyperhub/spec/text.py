"""Turn text typed by a person (CLI arguments) into a value of a property's kind."""

from __future__ import annotations

import json
import math
from typing import Any

from hyperhub.errors import ValueNotAllowed
from hyperhub.spec.model import ValueSpec

_TRUE = {"true", "on", "yes", "1"}
_FALSE = {"false", "off", "no", "0"}


def parse_text(spec: ValueSpec, text: str, where: str) -> Any:
    """Parse `text` as `spec`'s kind and check it; errors name `where` and what is allowed."""
    raw = text.strip()
    value: Any = raw
    if spec.kind == "bool":
        low = raw.lower()
        value = True if low in _TRUE else False if low in _FALSE else raw
    elif spec.kind in ("int", "float"):
        value = _number(raw.rstrip("%").strip()) if raw else raw
    elif spec.kind == "location":
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            raise ValueNotAllowed(
                f"{where}: {text!r} is not allowed; it must be {spec.allowed()} as JSON"
            ) from None
    return spec.check(value, where)


def _number(raw: str) -> Any:
    try:
        return int(raw)
    except ValueError:
        pass
    try:
        value = float(raw)
    except ValueError:
        return raw
    return value if math.isfinite(value) else raw  # "nan", "inf": refused as the text they are
