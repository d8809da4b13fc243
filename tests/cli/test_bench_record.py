"""`--record`: a benchmark's section of a markdown file is replaced; notes written by hand in
its notes block, and the other sections, are kept."""

from __future__ import annotations

from pathlib import Path

import pytest
from rich.table import Table

from hyperhub.cli.bench import NOTES_END, NOTES_START, record
from hyperhub.errors import HyperHubError


def _table(value: str) -> Table:
    t = Table(title="Speed")
    t.add_column("metric")
    t.add_column("value")
    t.add_row("p50, ms", value)
    return t


def test_recording_again_replaces_the_figures_and_keeps_the_notes(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    doc.write_text("# Benchmarks\n\n## Other\n\nleft alone\n", encoding="utf-8")
    record(doc, "Assistant", [_table("595")], {"p50": 595})
    text = doc.read_text(encoding="utf-8")
    assert "| p50, ms | 595 |" in text and "left alone" in text
    # a note written by hand inside the section, in the notes block, and one outside it
    text = text.replace(
        "<details>",
        f"{NOTES_START}\nThe tuned model misses groups.\n{NOTES_END}\n\nstray prose\n\n<details>",
    )
    doc.write_text(text + "\n## Last\n\nalso left alone\n", encoding="utf-8")
    record(doc, "Assistant", [_table("540")], {"p50": 540})
    text = doc.read_text(encoding="utf-8")
    assert "| p50, ms | 540 |" in text and "595" not in text
    assert f"{NOTES_START}\nThe tuned model misses groups.\n{NOTES_END}" in text
    assert "stray prose" not in text  # outside the notes block: replaced with the section
    assert text.count("## Assistant") == 1
    assert "left alone" in text and "also left alone" in text
    assert text.index("| p50, ms | 540 |") < text.index(NOTES_START) < text.index("<details>")


def test_a_heading_inside_the_notes_stays_in_the_notes(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    notes = f"{NOTES_START}\n## Not a section\n\nkept\n{NOTES_END}"
    doc.write_text(
        f"# Benchmarks\n\n## Assistant\n\nold table\n\n{notes}\n\nold raw\n\n## Next\n\nnext\n",
        encoding="utf-8",
    )
    record(doc, "Assistant", [_table("1")], {})
    text = doc.read_text(encoding="utf-8")
    assert notes in text and text.count(NOTES_START) == 1 and text.count(NOTES_END) == 1
    assert "old table" not in text and "old raw" not in text
    assert text.endswith("## Next\n\nnext\n")


def test_a_notes_block_left_open_is_an_error_and_changes_nothing(tmp_path: Path) -> None:
    doc = tmp_path / "benchmarks.md"
    before = f"# Benchmarks\n\n## Assistant\n\n{NOTES_START}\nhalf a note\n"
    doc.write_text(before, encoding="utf-8")
    with pytest.raises(HyperHubError, match="opens a notes block without closing it"):
        record(doc, "Assistant", [_table("1")], {})
    assert doc.read_text(encoding="utf-8") == before
