"""How `SpeechToText` is set up: the household's names in its English prompt, the encoder
run once per window even when it chooses the language itself."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from tests.voice.conftest import needs_extra

from hyperhub.space import load_space
from hyperhub.voice.stt import SpeechToText, space_words

DEMO = Path(__file__).resolve().parents[2] / "examples/demo/space.yaml"


def test_a_space_gives_its_room_and_device_names_in_both_languages() -> None:
    words = space_words(load_space(DEMO))
    assert {"Living Room", "Hallway Light", "Kids' Room", "客厅", "玄关灯"} <= set(words)
    assert len(words) == len(set(words))


def test_the_english_prompt_holds_the_names_and_the_chinese_one_only_the_script() -> None:
    stt = SpeechToText(words=("Hallway Light", "Living Room AC", "玄关灯"))
    said = "Turn on, turn off, dim, open, close or set the hallway light, the living room AC."
    assert stt.prompt("en") == said
    assert stt.prompt("zh") == "以下是普通话的句子。"
    assert SpeechToText().prompt("en") is None


@pytest.mark.voice
@needs_extra
def test_choosing_the_language_does_not_encode_the_speech_twice(stt: Any, spoken: Any) -> None:
    audio = spoken("Turn on the kitchen light.")
    before = stt.encoder_runs
    heard = stt.transcribe(audio, "auto")
    assert heard.lang == "en" and heard.text  # its words are test_speech.py's business
    assert stt.encoder_runs == before + 1
