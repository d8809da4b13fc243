"""Speech to text: Whisper through faster-whisper (CTranslate2, int8 on the CPU, at most two
threads), English and Chinese.

`SpeechToText` loads its model once (`load`, or the first `transcribe`) and then answers
any number of `transcribe(audio, lang)` calls, one at a time; a hub keeps one. With
`lang="auto"` Whisper's language detection picks the likelier of English and Chinese (it
knows 99 languages; HyperHub's assistant speaks two).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperhub.errors import UnsupportedLanguage
from hyperhub.voice.audio import Audio
from hyperhub.voice.models import check_stt_model_dir, require, threads, whisper_model_dir

log = logging.getLogger(__name__)

STT_LANGS = ("auto", "en", "zh")
# Whisper writes Chinese in traditional or simplified characters; a simplified prompt
# makes it write simplified, which the assistant's words are in
_PROMPT = {"zh": "以下是普通话的句子。"}
_BEAM = 5


@dataclass(frozen=True)
class Transcript:
    """What was heard: the text, its language ("en" or "zh"), and how long it took (ms,
    without loading the model)."""

    text: str
    lang: str
    ms: float

    def as_json(self) -> dict[str, Any]:
        return {"text": self.text, "lang": self.lang, "ms": round(self.ms, 1)}


def check_lang(lang: str, known: tuple[str, ...]) -> str:
    """`lang` if it is one of `known`, else `UnsupportedLanguage` listing them."""
    if lang not in known:
        raise UnsupportedLanguage(f"unknown language {lang!r}: use {', '.join(known)}")
    return lang


class SpeechToText:
    """Whisper base from the packages (joined and checked under the data dir `data_dir`),
    or the CTranslate2 Whisper folder `model_dir`."""

    def __init__(self, model_dir: Path | None = None, *, data_dir: Path | None = None) -> None:
        self.model_dir = model_dir
        self.data_dir = data_dir
        self._model: Any = None
        self._lock = threading.Lock()

    def load(self) -> None:
        """Load the model now (the first `transcribe` does otherwise)."""
        with self._lock:
            self._load()

    def _load(self) -> Any:
        if self._model is None:
            require("faster_whisper", "Speech to text")
            started = time.perf_counter()
            folder = (
                check_stt_model_dir(self.model_dir)
                if self.model_dir is not None
                else whisper_model_dir(self.data_dir)
            )
            from faster_whisper import WhisperModel

            self._model = WhisperModel(
                str(folder),
                device="cpu",
                compute_type="int8",
                cpu_threads=threads(),
                num_workers=1,
                local_files_only=True,
            )
            log.info("speech model %s loaded in %.2f s", folder, time.perf_counter() - started)
        return self._model

    def transcribe(self, audio: Audio, lang: str = "auto") -> Transcript:
        """The words spoken in `audio` (any rate, any channels), in `lang` or, with "auto",
        in whichever of English and Chinese Whisper finds likelier."""
        check_lang(lang, STT_LANGS)
        samples = audio.for_stt()
        with self._lock:
            model = self._load()
            started = time.perf_counter()
            if lang == "auto":
                lang = _en_or_zh(model, samples)
            segments, _ = model.transcribe(
                samples,
                language=lang,
                beam_size=_BEAM,
                condition_on_previous_text=False,  # no run-away repetition on long input
                initial_prompt=_PROMPT.get(lang),
                vad_filter=True,  # silence gives no words, not Whisper's "Thank you."
            )
            text = ("" if lang == "zh" else " ").join(s.text.strip() for s in segments)
            ms = (time.perf_counter() - started) * 1000
        return Transcript(text.strip(), lang, ms)


def _en_or_zh(model: Any, samples: Any) -> str:
    """The likelier of "en" and "zh" by Whisper's language detection (first 30 s)."""
    _, _, probabilities = model.detect_language(audio=samples)
    chances = dict(probabilities)
    return "zh" if chances.get("zh", 0.0) > chances.get("en", 0.0) else "en"
