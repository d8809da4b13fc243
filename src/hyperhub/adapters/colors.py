"""Colours as foreign systems give them — CIE 1931 xy, hue/saturation, mireds — and as
HyperHub's vocabulary holds them ("#rrggbb", kelvin).

xy ↔ sRGB follows the sRGB standard (IEC 61966-2-1: D65 white, its primaries, its transfer
function), the conversion Zigbee lights and Home Assistant use. A colour has no brightness in
xy: the result is the brightest sRGB colour of that chromaticity.
"""

from __future__ import annotations

import colorsys

# sRGB (linear) → XYZ and back, D65
_TO_XYZ = ((0.4124, 0.3576, 0.1805), (0.2126, 0.7152, 0.0722), (0.0193, 0.1192, 0.9505))
_TO_RGB = ((3.2406, -1.5372, -0.4986), (-0.9689, 1.8758, 0.0415), (0.0557, -0.2040, 1.0570))


def _encode(c: float) -> float:
    """Linear → sRGB (gamma)."""
    c = max(0.0, c)
    return 12.92 * c if c <= 0.0031308 else 1.055 * c ** (1 / 2.4) - 0.055


def _decode(c: float) -> float:
    """sRGB (gamma) → linear."""
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def hex_of(rgb: tuple[float, float, float]) -> str:
    """(r, g, b) in 0…1 → "#rrggbb"."""
    return "#" + "".join(f"{round(max(0.0, min(1.0, c)) * 255):02x}" for c in rgb)


def rgb_of(color: str) -> tuple[float, float, float]:
    """ "#rrggbb" → (r, g, b) in 0…1."""
    value = color.lstrip("#")
    return (int(value[0:2], 16) / 255, int(value[2:4], 16) / 255, int(value[4:6], 16) / 255)


def xy_to_hex(x: float, y: float) -> str:
    """A chromaticity (CIE 1931 xy) as the brightest sRGB colour of it."""
    if y <= 0:
        return "#000000"
    big_y = 1.0
    big_x, big_z = x * big_y / y, (1 - x - y) * big_y / y
    linear = [r[0] * big_x + r[1] * big_y + r[2] * big_z for r in _TO_RGB]
    top = max(linear)
    if top > 1:
        linear = [c / top for c in linear]
    return hex_of((_encode(linear[0]), _encode(linear[1]), _encode(linear[2])))


def hex_to_xy(color: str) -> tuple[float, float]:
    """ "#rrggbb" → its chromaticity (CIE 1931 xy), 4 decimals; white for black."""
    linear = [_decode(c) for c in rgb_of(color)]
    big_x, big_y, big_z = (sum(m * c for m, c in zip(row, linear, strict=True)) for row in _TO_XYZ)
    total = big_x + big_y + big_z
    if total <= 0:
        return (0.3127, 0.329)
    return (round(big_x / total, 5), round(big_y / total, 5))


def hs_to_hex(hue: float, saturation: float) -> str:
    """Hue (degrees) and saturation (0…100 %) at full value → "#rrggbb"."""
    return hex_of(colorsys.hsv_to_rgb((hue % 360) / 360, max(0.0, min(100.0, saturation)) / 100, 1))


def hex_to_hs(color: str) -> tuple[float, float]:
    """ "#rrggbb" → (hue in degrees, saturation in %), one decimal."""
    h, s, _v = colorsys.rgb_to_hsv(*rgb_of(color))
    return (round(h * 360, 1), round(s * 100, 1))


def mired_to_kelvin(mired: float) -> int:
    """Mireds (micro reciprocal degrees) → kelvin, rounded to 10 K."""
    return int(round(1_000_000 / mired, -1)) if mired > 0 else 0


def kelvin_to_mired(kelvin: float) -> int:
    """Kelvin → mireds, rounded."""
    return round(1_000_000 / kelvin) if kelvin > 0 else 0
