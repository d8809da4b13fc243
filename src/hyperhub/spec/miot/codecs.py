"""Value conversions between MIoT raw values and HyperHub values (decode and encode)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Same:
    """No conversion."""

    def decode(self, raw: Any) -> Any:
        return raw

    def encode(self, value: Any) -> Any:
        return value


@dataclass(frozen=True)
class Linear:
    """HyperHub value = raw * scale + offset (unit conversion, rescaling to percent)."""

    scale: float = 1.0
    offset: float = 0.0
    raw_int: bool = False  # the MIoT format is an integer
    whole: bool = False  # the HyperHub kind is int

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, int | float) or isinstance(raw, bool):
            raise ValueError(f"{raw!r} is not a number")
        value = raw * self.scale + self.offset
        return round(value) if self.whole else round(value, 2)

    def encode(self, value: Any) -> Any:
        raw = (value - self.offset) / self.scale
        return round(raw) if self.raw_int else round(raw, 2)


@dataclass(frozen=True)
class EnumTable:
    """A MIoT value-list ↔ HyperHub values (enum strings, or booleans for flags)."""

    pairs: tuple[tuple[Any, Any], ...]  # (raw, HyperHub value)

    @property
    def values(self) -> tuple[Any, ...]:
        return tuple(dict.fromkeys(v for _, v in self.pairs))

    def decode(self, raw: Any) -> Any:
        for r, v in self.pairs:
            if r == raw:
                return v
        raise ValueError(f"raw {raw!r} is not in the value-list {[r for r, _ in self.pairs]}")

    def encode(self, value: Any) -> Any:
        for r, v in self.pairs:
            if v == value and type(v) is type(value):
                return r
        raise ValueError(f"{value!r} has no MIoT value")


@dataclass(frozen=True)
class Levels:
    """Ordered fan levels ↔ a speed in percent: level i of n is i * 100 / n."""

    raws: tuple[Any, ...]

    def decode(self, raw: Any) -> Any:
        if raw not in self.raws:
            raise ValueError(f"raw {raw!r} is not one of the levels {list(self.raws)}")
        return round((self.raws.index(raw) + 1) * 100 / len(self.raws))

    def encode(self, value: Any) -> Any:
        n = len(self.raws)
        return self.raws[min(n, max(1, math.ceil(value * n / 100))) - 1]


@dataclass(frozen=True)
class Rgb:
    """A MIoT 24-bit RGB integer ↔ "#rrggbb"."""

    def decode(self, raw: Any) -> Any:
        if not isinstance(raw, int) or isinstance(raw, bool) or not 0 <= raw <= 0xFFFFFF:
            raise ValueError(f"{raw!r} is not a 24-bit RGB integer")
        return f"#{raw:06x}"

    def encode(self, value: Any) -> Any:
        return int(value[1:], 16)


Codec = Same | Linear | EnumTable | Levels | Rgb
