"""Speech to text: Whisper through faster-whisper (CTranslate2, int8 on the CPU, at most two
threads), English and Chinese.

`SpeechToText` loads its model once (`load`, or the first `transcribe`) and then answers
any number of `transcribe(audio, lang)` calls, one at a time; a hub keeps one. With
`lang="auto"` Whisper's language detection picks the likelier of English and Chinese (it
knows 99 languages; HyperHub's assistant speaks two). Given the household's words (`words`,
e.g. `space_words(space)`: its rooms and devices), Whisper is prompted with them in English,
so it writes "Hallway Light" rather than "whole way light".

One call: voice activity detection (Silero, shipped with faster-whisper) keeps the speech
(none: no words, no model run); Whisper's encoder runs once per 30 s window even with
"auto" (the window encoded to detect the language is reused to transcribe it); beam search
of 5, text tokens only (no timestamps), at most ~12 tokens a second of speech. Measured in
docs/benchmarks.md ("Voice").
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperhub.errors import UnsupportedLanguage
from hyperhub.voice.audio import STT_RATE, Audio
from hyperhub.voice.models import check_stt_model_dir, require, threads, whisper_model_dir

if TYPE_CHECKING:
    from hyperhub.space import Area, Device, Space

log = logging.getLogger(__name__)

STT_LANGS = ("auto", "en", "zh")
# Whisper writes Chinese in traditional or simplified characters; a simplified prompt
# makes it write simplified, which the assistant's words are in
_SIMPLIFIED = "以下是普通话的句子。"
_BEAM = 5
_VERBS = "Turn on, turn off, dim, open, close or set"  # the English prompt's start
# at most this many tokens a second of speech (fast Chinese is ~8): on speech Whisper cannot
# make out, each of its temperature fallbacks otherwise runs to the 448-token limit (13 s
# for 1.7 s of robotic Mandarin); above `_NO_CAP` tokens the window's own limit is used
_TOKENS_PER_S, _TOKENS_MIN, _NO_CAP = 12, 16, 200


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


def space_words(space: Space) -> tuple[str, ...]:
    """What a household calls its rooms and devices: every area's and device's name, and
    what each is called in Chinese — for `SpeechToText(words=…)`."""
    things: list[Area | Device] = [*space.areas.values(), *space.devices.values()]
    names = [t.name for t in things] + [t.name_in("zh") for t in things]
    return tuple(dict.fromkeys(names))


class SpeechToText:
    """Whisper base from the packages (joined and checked under the data dir `data_dir`),
    or the CTranslate2 Whisper folder `model_dir`; `words` (names in either language) bias
    what it writes toward them."""

    def __init__(
        self,
        model_dir: Path | None = None,
        *,
        data_dir: Path | None = None,
        words: Iterable[str] = (),
    ) -> None:
        self.model_dir = model_dir
        self.data_dir = data_dir
        self.words = tuple(words)
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
            self._model = _whisper_class()(
                str(folder),
                device="cpu",
                compute_type="int8",
                cpu_threads=threads(),
                num_workers=1,
                local_files_only=True,
            )
            log.info("speech model %s loaded in %.2f s", folder, time.perf_counter() - started)
        return self._model

    @property
    def encoder_runs(self) -> int:
        """How many 30 s windows Whisper's encoder has run on so far (one per window of
        speech, whatever the language option)."""
        return 0 if self._model is None else int(self._model.encoded)

    def prompt(self, lang: str) -> str | None:
        """The prompt Whisper is given for `lang` ("en", "zh"). English: the words that are
        not Chinese, lower case but for acronyms, after the verbs of commands — Whisper
        writes in the style of its prompt, and a list of Title Case names made it write
        "Set the Living Room AC to Calling Mode" (faster-whisper keeps the last 223 tokens
        of a longer prompt). Chinese: a sentence in simplified characters only — given the
        Chinese names, Whisper wrote them over and over for speech it could not make out
        (espeak-ng's Mandarin), and no recorded Mandarin commands are at hand to show they
        help."""
        if lang == "zh":
            return _SIMPLIFIED
        names = [_as_said(w) for w in self.words if not _has_han(w)]
        return f"{_VERBS} the {', the '.join(names)}." if names else None

    def transcribe(self, audio: Audio, lang: str = "auto") -> Transcript:
        """The words spoken in `audio` (any rate, any channels), in `lang` or, with "auto",
        in whichever of English and Chinese Whisper finds likelier ("en" when nothing is
        said)."""
        check_lang(lang, STT_LANGS)
        samples = audio.for_stt()
        with self._lock:
            model = self._load()
            started = time.perf_counter()
            model.forget()
            speech = _speech(samples)
            if speech is None:
                lang = "en" if lang == "auto" else lang
                return Transcript("", lang, (time.perf_counter() - started) * 1000)
            if lang == "auto":
                lang = _en_or_zh(model, speech)
            segments, _ = model.transcribe(
                speech,
                language=lang,
                beam_size=_BEAM,
                condition_on_previous_text=False,  # no run-away repetition on long input
                initial_prompt=self.prompt(lang),
                vad_filter=False,  # done above
                without_timestamps=True,
                max_new_tokens=_token_cap(len(speech) / STT_RATE),
            )
            text = ("" if lang == "zh" else " ").join(s.text.strip() for s in segments)
            ms = (time.perf_counter() - started) * 1000
        return Transcript(text.strip(), lang, ms)


def _speech(samples: Any) -> Any:
    """The speech in 16 kHz `samples`, its pauses shortened (Silero VAD, as faster-whisper's
    `vad_filter` does it), or None when nothing is said."""
    import numpy as np
    from faster_whisper.vad import collect_chunks, get_speech_timestamps

    spans = get_speech_timestamps(samples)
    if not spans:
        return None
    chunks, _ = collect_chunks(samples, spans)
    return np.concatenate(chunks)


def _token_cap(seconds: float) -> int | None:
    """The most tokens worth decoding for `seconds` of speech (None: no cap of ours)."""
    cap = _TOKENS_MIN + round(_TOKENS_PER_S * seconds)
    return cap if cap <= _NO_CAP else None


def _en_or_zh(model: Any, speech: Any) -> str:
    """The likelier of "en" and "zh" by Whisper's language detection on the first 30 s,
    from the features `transcribe` computes (so the encoded window is reused)."""
    features = model.feature_extractor(speech)[..., :-1]  # as transcribe cuts its windows
    _, _, probabilities = model.detect_language(features=features)
    chances = dict(probabilities)
    return "zh" if chances.get("zh", 0.0) > chances.get("en", 0.0) else "en"


def _as_said(name: str) -> str:
    """A name as running text writes it: "Living Room AC" → "living room AC"."""
    return " ".join(w.lower() if w[1:].islower() else w for w in name.split())


def _has_han(text: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" for ch in text)


def _whisper_class() -> type:
    """faster-whisper's `WhisperModel`, keeping the last window's encoder output: detecting
    the language and transcribing encode the same window (faster-whisper 1.2 does it twice),
    and the encoder is deterministic, so the second time reuses the first. Should another
    version encode differently, the windows no longer match and each is encoded: slower,
    never wrong."""
    import numpy as np
    from faster_whisper import WhisperModel

    class OnceEncoded(WhisperModel):
        _last: tuple[Any, Any] | None = None
        encoded = 0  # encoder runs, for tests

        def forget(self) -> None:
            self._last = None

        def encode(self, features: Any) -> Any:
            last = self._last
            if last is not None and np.array_equal(last[0], features):  # shapes too
                return last[1]
            output = super().encode(features)
            self.encoded += 1
            self._last = (np.array(features, copy=True), output)
            return output

    return OnceEncoded
