"""The real models, in process: Piper speaks English that Whisper writes back (a few words
may differ: a small word error rate is allowed), the same speech in other WAV kinds is heard
the same, espeak-ng speaks Chinese, a user's Piper voice is used, and what cannot work says
why."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.helpers.speech import wav_of, word_error_rate
from tests.voice.conftest import needs_espeak, needs_extra

from hyperhub.errors import HyperHubError, UnsupportedLanguage, VoiceUnavailable
from hyperhub.voice.audio import Audio, parse_wav, resample

pytestmark = [pytest.mark.voice, needs_extra]

COMMANDS = [
    "Turn off the lights in the living room and lock the front door.",
    "Open the curtains in the bedroom.",
    "Is the car locked?",
]
MAX_WER = 0.2  # at most one word in five heard wrong


@pytest.mark.parametrize("sentence", COMMANDS)
def test_english_spoken_by_piper_is_written_back_by_whisper(
    sentence: str, spoken: Any, stt: Any
) -> None:
    audio = spoken(sentence)
    assert audio.rate == 22_050 and 0.8 < audio.seconds < 8
    heard = stt.transcribe(audio, "auto")
    assert heard.lang == "en"
    assert word_error_rate(sentence, heard.text) <= MAX_WER, heard.text
    assert heard.ms > 0


def _as(audio: Audio, rate: int, channels: int) -> np.ndarray:
    samples = resample(audio.samples, audio.rate, rate)
    return samples if channels == 1 else np.stack([samples, 0.8 * samples], axis=1)


# (rate, channels, bits, floating): a phone line, a CD, a studio file, a float export
KINDS = [(8000, 1, 8, False), (44_100, 2, 16, False), (48_000, 2, 24, False), (16_000, 1, 32, True)]


@pytest.mark.parametrize("rate, channels, bits, floating", KINDS)
def test_the_same_speech_in_other_wav_kinds_is_heard_the_same(
    rate: int, channels: int, bits: int, floating: bool, spoken: Any, stt: Any
) -> None:
    sentence = COMMANDS[0]
    data = wav_of(_as(spoken(sentence), rate, channels), rate, bits=bits, floating=floating)
    audio = parse_wav(data, "other.wav")
    assert (audio.rate, audio.channels) == (rate, channels)
    heard = stt.transcribe(audio, "en")
    assert word_error_rate(sentence, heard.text) <= MAX_WER, heard.text


def test_silence_is_heard_as_no_words(stt: Any) -> None:
    heard = stt.transcribe(Audio(np.zeros(32_000, np.float32), 16_000), "en")
    assert heard.text == ""


def test_an_unknown_language_is_refused(stt: Any, spoken: Any) -> None:
    with pytest.raises(UnsupportedLanguage, match="use auto, en, zh"):
        stt.transcribe(spoken(COMMANDS[2]), "fr")


@needs_espeak
def test_chinese_speech_is_sound_of_a_plausible_length(tts: Any) -> None:
    short = tts.speak("打开客厅的灯")  # the language from the characters
    longer = tts.speak("把客厅的空调调到二十四度，然后把卧室的窗帘打开", "zh")
    for audio in (short, longer):
        assert audio.rate == 22_050
        assert audio.rms() > 0.02  # not silence
        loud = np.abs(audio.samples) > 0.05
        assert loud.mean() > 0.2  # sound for much of its length, not a click
    # six syllables at ~3-6 a second; sixteen take longer
    assert 0.8 < short.seconds < 4.0
    assert longer.seconds > 1.8 * short.seconds


@needs_espeak
def test_chinese_numbers_are_spoken_not_skipped(tts: Any) -> None:
    plain = tts.speak("温度", "zh")
    with_number = tts.speak("温度24.5 °C", "zh")  # 温度二十四点五摄氏度
    assert with_number.seconds > 2.5 * plain.seconds


def test_a_piper_voice_given_by_path_speaks(tmp_path: Path, stt: Any) -> None:
    from hyperhub.voice.models import piper_voice_files
    from hyperhub.voice.tts import TextToSpeech

    packaged = piper_voice_files()
    (tmp_path / "my-voice.onnx").symlink_to(packaged.model)
    shutil.copy(packaged.config, tmp_path / "my-voice.onnx.json")
    tts = TextToSpeech(tmp_path / "my-voice.onnx")
    assert tts.voice_lang() == "en" and tts.voice_name("en") == "Piper my-voice"
    audio = tts.speak("Turn on the kitchen light.")
    heard = stt.transcribe(audio, "en")
    assert "kitchen" in heard.text.lower()  # ("garage" came back "grudge" or "grouch")


def test_a_voice_replaces_only_the_default_of_its_own_language(tmp_path: Path) -> None:
    from hyperhub.voice.models import piper_voice_files
    from hyperhub.voice.tts import TextToSpeech

    packaged = piper_voice_files()
    shutil.copy(packaged.config, tmp_path / "v.onnx.json")
    (tmp_path / "v.onnx").symlink_to(packaged.model)
    tts = TextToSpeech(tmp_path / "v.onnx")
    assert tts.voice_name("en") == "Piper v"
    assert tts.voice_name("zh") == "espeak-ng cmn-latn-pinyin"


def test_a_piper_voice_that_would_download_at_run_time_is_refused(tmp_path: Path) -> None:
    from hyperhub.voice.models import piper_voice_files
    from hyperhub.voice.tts import TextToSpeech

    packaged = piper_voice_files()
    config = json.loads(packaged.config.read_text())
    config["phoneme_type"] = "pinyin"
    config["language"] = {"code": "zh_CN"}
    (tmp_path / "zh.onnx.json").write_text(json.dumps(config))
    (tmp_path / "zh.onnx").symlink_to(packaged.model)
    tts = TextToSpeech(tmp_path / "zh.onnx")
    with pytest.raises(VoiceUnavailable, match="downloads its model at run time"):
        tts.speak("你好")


def test_a_file_that_is_no_voice_is_a_named_error(tmp_path: Path) -> None:
    from hyperhub.voice.models import piper_voice_files
    from hyperhub.voice.tts import TextToSpeech

    (tmp_path / "bad.onnx").write_bytes(b"not an onnx model")
    shutil.copy(piper_voice_files().config, tmp_path / "bad.onnx.json")
    with pytest.raises(VoiceUnavailable, match="not a voice ONNX Runtime can load"):
        TextToSpeech(tmp_path / "bad.onnx").speak("hello")


def test_nothing_to_say_is_an_error(tts: Any) -> None:
    with pytest.raises(HyperHubError, match="nothing to say"):
        tts.speak("   ")
