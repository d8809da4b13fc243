"""Text to speech: Piper voices (ONNX Runtime on the CPU, at most two threads) and, for
Chinese unless a Chinese Piper voice is given, espeak-ng's Mandarin voice reading pinyin.

`TextToSpeech(voice).speak(text, lang)` gives `Audio` at the voice's own rate (22,050 Hz
for both defaults); voices are loaded once and kept. The language is "en" or "zh"; left
out, it is "zh" when the text has Chinese characters.
"""

from __future__ import annotations

import json
import re
import subprocess
import threading
from pathlib import Path
from typing import Any

import numpy as np

from hyperhub.errors import HyperHubError, VoiceUnavailable
from hyperhub.voice.audio import Audio, parse_wav
from hyperhub.voice.models import (
    ESPEAK_HINT,
    ESPEAK_ZH_VOICE,
    PiperVoiceFiles,
    espeak_ng,
    piper_voice_files,
    require,
    threads,
)
from hyperhub.voice.pinyin import to_pinyin
from hyperhub.voice.stt import check_lang

TTS_LANGS = ("en", "zh")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
# Piper's phonemizers that run offline; its "pinyin" voices fetch a g2pW model at run time
_OFFLINE_PHONEMES = ("espeak", "text")


def text_lang(text: str) -> str:
    """ "zh" when `text` has a Chinese character, else "en"."""
    return "zh" if _HAN.search(text) else "en"


class TextToSpeech:
    """Speech in English and Chinese. `voice` (a Piper voice file) replaces the default
    voice of the language it speaks, or of both when its config names neither."""

    def __init__(self, voice: Path | None = None) -> None:
        self.voice = piper_voice_files(voice) if voice is not None else None
        self._voice_lang = _voice_lang(_read_config(self.voice)) if self.voice else None
        self._piper: dict[Path, Any] = {}
        self._lock = threading.Lock()

    def voice_lang(self) -> str | None:
        """The language of the voice given ("en", "zh"), or None when it names neither."""
        return self._voice_lang

    def voice_name(self, lang: str) -> str:
        """Who speaks `lang`: "Piper en_US-joe-medium", "espeak-ng cmn-latn-pinyin"…"""
        files = self._choose(lang)
        return f"espeak-ng {ESPEAK_ZH_VOICE}" if files is None else f"Piper {files.model.stem}"

    def prepare(self, lang: str) -> None:
        """Load the voice that speaks `lang` now (the first `speak` does otherwise)."""
        files = self._choose(lang)
        if files is not None:
            with self._lock:
                self._loaded(files)

    def speak(self, text: str, lang: str | None = None) -> Audio:
        """`text` spoken, in `lang` ("en", "zh"; None: as `text_lang` says)."""
        if not text.strip():
            raise HyperHubError("nothing to say: the text is empty")
        lang = check_lang(lang, TTS_LANGS) if lang is not None else text_lang(text)
        files = self._choose(lang)
        if files is None:
            return _speak_espeak(text)
        with self._lock:
            voice = self._loaded(files)
            chunks = [chunk.audio_float_array for chunk in voice.synthesize(text)]
            rate = int(voice.config.sample_rate)
        if not chunks:
            raise HyperHubError(f"the voice {files.model.name} found nothing to say in {text!r}")
        return Audio(np.concatenate(chunks).astype(np.float32), rate)

    def _choose(self, lang: str) -> PiperVoiceFiles | None:
        """The Piper voice for `lang`, or None for espeak-ng."""
        check_lang(lang, TTS_LANGS)
        if self.voice is not None and self._voice_lang in (None, lang):
            return self.voice
        return None if lang == "zh" else piper_voice_files(None)

    def _loaded(self, files: PiperVoiceFiles) -> Any:
        if files.model not in self._piper:
            self._piper[files.model] = _load_piper(files)
        return self._piper[files.model]


def _read_config(files: PiperVoiceFiles) -> dict[str, Any]:
    try:
        raw = json.loads(files.config.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise VoiceUnavailable(f"cannot read the voice config {files.config}: {exc}") from None
    if not isinstance(raw, dict):
        raise VoiceUnavailable(f"{files.config} is not a Piper voice config (not an object)")
    return raw


def _load_piper(files: PiperVoiceFiles) -> Any:
    require("piper", "Speech with a Piper voice")
    import onnxruntime
    from piper import PiperConfig, PiperVoice

    try:
        config = PiperConfig.from_dict(_read_config(files))
    except (ValueError, KeyError, TypeError) as exc:
        raise VoiceUnavailable(
            f"{files.config} is not a Piper voice config: {type(exc).__name__}: {exc}"
        ) from None
    if config.phoneme_type.value not in _OFFLINE_PHONEMES:
        raise VoiceUnavailable(
            f"the voice {files.model.name} uses Piper's {config.phoneme_type.value!r} "
            "phonemizer, which downloads its model at run time; use a voice of the espeak "
            'kind (its config says "phoneme_type": "espeak")'
        )
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads()
    options.inter_op_num_threads = 1
    try:
        session = onnxruntime.InferenceSession(
            str(files.model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as exc:  # onnxruntime raises its own, unnamed kinds
        raise VoiceUnavailable(
            f"{files.model} is not a voice ONNX Runtime can load: {exc}"
        ) from None
    return PiperVoice(session=session, config=config, download_dir=files.model.parent)


def _voice_lang(config: dict[str, Any]) -> str | None:
    """The language a Piper voice config names ("en_US" → "en"), if it is en or zh."""
    language = config.get("language")
    code = language.get("code") if isinstance(language, dict) else None
    if not isinstance(code, str):
        espeak = config.get("espeak")
        code = espeak.get("voice") if isinstance(espeak, dict) else None
    if not isinstance(code, str):
        return None
    code = code.lower()
    if code.startswith(("zh", "cmn")):
        return "zh"
    return "en" if code.startswith("en") else None


def _speak_espeak(text: str) -> Audio:
    """Chinese through espeak-ng's Mandarin voice, from pinyin with tone digits."""
    require("pypinyin", "Chinese speech")
    command = [espeak_ng(), "-v", ESPEAK_ZH_VOICE, "-b", "1", "--stdout"]
    try:
        done = subprocess.run(
            command, input=to_pinyin(text).encode(), capture_output=True, timeout=120
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise VoiceUnavailable(f"espeak-ng failed: {exc}") from None
    if done.returncode != 0 or not done.stdout:
        said = done.stderr.decode(errors="replace").strip() or f"exit code {done.returncode}"
        raise VoiceUnavailable(f"espeak-ng could not speak Chinese ({said}); {ESPEAK_HINT}")
    return parse_wav(done.stdout, "espeak-ng's output")
