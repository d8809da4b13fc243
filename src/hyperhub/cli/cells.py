"""Table cells of the CLI that wrap like text for people: at spaces and between Chinese
characters, never inside a word or between a number and its unit."""

from __future__ import annotations

import re
from collections.abc import Iterable

from rich.cells import cell_len, chop_cells
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.text import Text

__all__ = ["Sentences"]

# the space between a number and its unit in a sentence: no line break there
_BEFORE_UNIT = re.compile(
    r"(?<=\d) (?=°C|%|µg/m³|km/h|kWh|(?:km|m|min|s|h|K|lx|W|bpm)\b|次/分|公里|米|分钟|秒|小时)"
)


class Sentences:
    """Sentences in a table cell, one a line, wrapped at spaces and between Chinese
    characters but never inside a word or between a number and its unit ("within 200 m").
    Rich breaks at any space, a no-break space too, so the cell wraps its lines itself."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = [_BEFORE_UNIT.sub("\u00a0", line) for line in lines]

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        words = [w for line in self.lines for _, w in _pieces(line)]
        widest = max((cell_len(line) for line in self.lines), default=1)
        return Measurement(min(max((cell_len(w) for w in words), default=1), widest), widest)

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        width = max(2, options.max_width)
        out: list[str] = []
        for line in self.lines:
            row = ""
            for spaced, word in _pieces(line):
                joined = f"{row} {word}" if spaced and row else row + word
                if row and cell_len(joined) > width:
                    out.append(row)
                    joined = word
                *full, row = chop_cells(joined, width) or [""]  # a word wider than the cell
                out += full
            out.append(row)
        yield Text("\n".join(out).replace("\u00a0", " "))


_WORD = r"[^ \u00a0\u2e80-\uffef]+"  # letters, digits and signs up to a space or a wide character
_WIDE = r"[\u2e80-\uffef][，。、；：）」”’!,.;:)]*"  # one wide character and what must follow it
_UNIT = r"\u00a0(?:[^ \u00a0\u2e80-\uffef]+|[\u2e80-\uffef]{1,2})"  # after a number
_PIECE = re.compile(rf"( ?)([（「“‘(]*(?:{_WORD}|{_WIDE})(?:{_UNIT})?)")


def _pieces(line: str) -> list[tuple[bool, str]]:
    """A line's unbreakable pieces, each with whether a space comes before it: a word, one
    wide (Chinese) character, a number with its unit."""
    return [(bool(m.group(1)), m.group(2)) for m in _PIECE.finditer(line)]
