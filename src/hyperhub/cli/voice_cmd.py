"""`hyperhub say`, `hyperhub transcribe`, and the speech around `hyperhub ask --audio`
(design.md, "Voice"). Everything about speech is imported inside the commands: `hyperhub`
starts without it, and without the voice extra these commands say in one line what to
install."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from hyperhub.cli.options import DataOpt, JsonOpt, option_group
from hyperhub.cli.say import err, out, print_json

if TYPE_CHECKING:
    from hyperhub.assistant.pipeline import Answer
    from hyperhub.voice.audio import Audio
    from hyperhub.voice.stt import Transcript

VoiceOpt = Annotated[
    Path | None,
    typer.Option(
        "--voice",
        help="A Piper voice (.onnx, its .onnx.json beside it) to speak with instead of the "
        "default of its language.",
    ),
]
SttModelOpt = Annotated[
    Path | None,
    typer.Option(
        "--stt-model",
        help="A CTranslate2 Whisper model folder to transcribe with (default: Whisper base "
        "from the voice extra).",
        envvar="HYPERHUB_STT_MODEL",
    ),
]


def _with_extra() -> None:
    """Stop with one line naming the voice extra when its base (numpy) is missing; each
    model checks its own package when it loads."""
    from hyperhub.voice.models import require

    require("numpy", "Speech")


def read_audio(file: Path) -> Audio:
    """A WAV file, or a WAV on stdin for "-"."""
    _with_extra()
    from hyperhub.voice.audio import parse_wav, read_wav

    if str(file) == "-":
        return parse_wav(sys.stdin.buffer.read(), "stdin")
    return read_wav(file)


def write_audio(file: Path, audio: Audio) -> None:
    """`audio` as a 16-bit WAV file, or on stdout for "-"."""
    from hyperhub.voice.audio import wav_bytes, write_wav

    if str(file) == "-":
        sys.stdout.buffer.write(wav_bytes(audio))
        sys.stdout.buffer.flush()
    else:
        write_wav(file, audio)


def say(
    text: Annotated[str, typer.Argument(help="What to say, in English or Chinese.")],
    output: Annotated[
        Path,
        typer.Option(
            "--output", "-o", metavar="FILE.wav", help="The WAV file to write ('-': stdout)."
        ),
    ],
    lang: Annotated[
        str | None,
        typer.Option("--lang", help="en or zh (default: zh when the text has Chinese characters)."),
    ] = None,
    voice: VoiceOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Speak TEXT into a WAV file, offline: Piper's English voice, espeak-ng's Mandarin for
    Chinese, or the Piper voice given."""
    _with_extra()
    from hyperhub.errors import UnsupportedLanguage
    from hyperhub.voice.stt import check_lang
    from hyperhub.voice.tts import TTS_LANGS, TextToSpeech, text_lang

    lang = check_lang(lang, TTS_LANGS) if lang is not None else text_lang(text)
    tts = TextToSpeech(voice)
    speaks = tts.voice_lang()
    if speaks is not None and speaks != lang:
        raise UnsupportedLanguage(
            f"the voice {voice} speaks {speaks}, and this is {lang}: pass --lang {speaks}, "
            f"or a voice that speaks {lang}"
        )
    started = time.perf_counter()
    audio = tts.speak(text, lang)
    ms = (time.perf_counter() - started) * 1000
    write_audio(output, audio)
    summary = {
        "file": str(output),
        "lang": lang,
        "voice": tts.voice_name(lang),
        "seconds": round(audio.seconds, 2),
        "rate": audio.rate,
        "ms": round(ms, 1),
    }
    if as_json:
        if str(output) == "-":
            raise typer.BadParameter("--json prints to stdout: write the WAV to a file")
        print_json(summary)
    else:
        console = err if str(output) == "-" else out
        console.print(
            f"{output}: {audio.seconds:.1f} s of speech, {lang}, {summary['voice']}, "
            f"{audio.rate} Hz",
            markup=False,
            highlight=False,
        )


def transcribe(
    file: Annotated[Path, typer.Argument(metavar="FILE.wav", help="A WAV file ('-': stdin).")],
    lang: Annotated[
        str,
        typer.Option("--lang", help="auto (English or Chinese, as Whisper hears it), en or zh."),
    ] = "auto",
    stt_model: SttModelOpt = None,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Write down what is said in a WAV file (any rate, width or channels), offline, with
    Whisper base."""
    _with_extra()
    from hyperhub.voice.stt import STT_LANGS, SpeechToText, check_lang

    check_lang(lang, STT_LANGS)  # before reading or loading anything
    audio = read_audio(file)
    heard = SpeechToText(stt_model, data_dir=data_dir).transcribe(audio, lang)
    if as_json:
        print_json(heard.as_json())
    elif heard.text:
        out.print(heard.text, markup=False, highlight=False)
    else:
        err.print(f"note: no speech heard in {file}", markup=False, highlight=False)


# -- ask --audio -----------------------------------------------------------------------------


@dataclass
class SpeechOptions:
    """`ask`'s options for speech: a question spoken in a WAV file, the reply spoken to one."""

    audio: Path | None = None
    audio_lang: str = "auto"
    stt_model: Path | None = None
    speak_to: Path | None = None
    voice: Path | None = None

    @property
    def wanted(self) -> bool:
        return self.audio is not None or self.speak_to is not None


def _speech_options(
    audio: Annotated[
        Path | None,
        typer.Option(
            "--audio", metavar="FILE.wav", help="Ask by voice: the question spoken in a WAV file."
        ),
    ] = None,
    audio_lang: Annotated[
        str,
        typer.Option("--audio-lang", help="The language of --audio: auto, en or zh."),
    ] = "auto",
    stt_model: SttModelOpt = None,
    speak_to: Annotated[
        Path | None,
        typer.Option("--speak-to", metavar="OUT.wav", help="Also speak the reply into a WAV file."),
    ] = None,
    voice: VoiceOpt = None,
) -> SpeechOptions:
    return SpeechOptions(audio, audio_lang, stt_model, speak_to, voice)


speech_options = option_group("speech", _speech_options)


class SpokenAsk:
    """The speech around one `ask`: `hear` the question before it, `after` the answer speak
    the reply and give the JSON its `transcript` and the time of each stage (ms; loading
    the models is `load_ms`, apart)."""

    def __init__(self, opts: SpeechOptions, data_dir: Path | None) -> None:
        _with_extra()
        from hyperhub.voice.stt import STT_LANGS, check_lang

        check_lang(opts.audio_lang, STT_LANGS)
        self.opts = opts
        self.data_dir = data_dir
        self.heard: Transcript | None = None
        self.spoken: Audio | None = None
        self.times: dict[str, float | None] = {"stt_ms": None, "assistant_ms": None}
        self.times |= {"tts_ms": None, "load_ms": 0.0}

    def hear(self, *, echo: bool) -> str:
        """The question's words; `echo` prints them (with the language heard)."""
        from hyperhub.errors import AudioError
        from hyperhub.voice.stt import SpeechToText

        assert self.opts.audio is not None
        audio = read_audio(self.opts.audio)
        stt = SpeechToText(self.opts.stt_model, data_dir=self.data_dir)
        self._timed("load_ms", stt.load)
        self.heard = stt.transcribe(audio, self.opts.audio_lang)
        self.times["stt_ms"] = round(self.heard.ms, 1)
        if not self.heard.text:
            raise AudioError(f"no speech heard in {self.opts.audio}")
        if echo:
            out.print(f"heard ({self.heard.lang}): {self.heard.text}", markup=False, style="dim")
        return self.heard.text

    def after(self) -> Callable[[Answer], dict[str, Any]]:
        """The hook `run_one` calls with the answer; the assistant's time starts now."""
        started = time.perf_counter()

        def speak_reply(answer: Answer) -> dict[str, Any]:
            self.times["assistant_ms"] = round((time.perf_counter() - started) * 1000, 1)
            if self.opts.speak_to is not None:
                self._speak(answer.reply)
            added: dict[str, Any] = {"transcript": self.heard.text if self.heard else None}
            return added | {key: value for key, value in self.times.items()}

        return speak_reply

    def _speak(self, reply: str) -> None:
        from hyperhub.voice.tts import TextToSpeech, text_lang

        assert self.opts.speak_to is not None
        lang = text_lang(reply)
        tts = TextToSpeech(self.opts.voice)
        self._timed("load_ms", lambda: tts.prepare(lang))
        started = time.perf_counter()
        self.spoken = tts.speak(reply, lang)
        self.times["tts_ms"] = round((time.perf_counter() - started) * 1000, 1)
        write_audio(self.opts.speak_to, self.spoken)

    def report(self) -> None:
        """One line on where the reply was spoken (after the answer, for people)."""
        if self.spoken is not None and self.opts.speak_to is not None:
            out.print(
                f"spoke the reply into {self.opts.speak_to} ({self.spoken.seconds:.1f} s)",
                markup=False,
                style="dim",
            )

    def _timed(self, key: str, step: Callable[[], object]) -> None:
        started = time.perf_counter()
        step()
        spent = (time.perf_counter() - started) * 1000
        self.times[key] = round((self.times[key] or 0.0) + spent, 1)
