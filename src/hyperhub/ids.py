"""Ids that must not clash: the first free one of `wanted`, `wanted_2`, `wanted_3` …"""

from __future__ import annotations

from collections.abc import Container


def unique(wanted: str, taken: Container[str]) -> str:
    """`wanted`, or `wanted_2`, `wanted_3` … — the first that `taken` does not hold."""
    if wanted not in taken:
        return wanted
    n = 2
    while f"{wanted}_{n}" in taken:
        n += 1
    return f"{wanted}_{n}"
