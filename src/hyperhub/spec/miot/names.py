"""HyperHub names for MIoT items: snake_case, `<service>_<item>`, unique."""

from __future__ import annotations

import re
from collections.abc import Iterable


def _snake(text: str) -> str:
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


def _own_name(service: str, siid: int, primary: bool, item: str, taken: Iterable[str]) -> str:
    """`<service>_<item>` (`<service>_<siid>_<item>` for a repeated service), snake_case."""
    stem = _snake(service) if primary else f"{_snake(service)}_{siid}"
    leaf = _snake(item)
    name = stem if leaf == _snake(service) else f"{stem}_{leaf}"
    name = name if name[:1].isalpha() else f"x_{name}"
    taken = set(taken)
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate
