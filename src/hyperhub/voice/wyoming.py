"""The Wyoming server (`hyperhub wyoming`): HyperHub's speech to text, text to speech and
assistant over Home Assistant's voice protocol, for Home Assistant and Wyoming satellites
(docs/voice.md, "Wyoming").

A connection carries any number of requests, answered one at a time, in order:

- `describe` → `info`: an asr, a tts and a handle program, each in English and Chinese;
- `transcribe` (optional: its `language`) + `audio-start` + `audio-chunk`… + `audio-stop`
  → `transcript`;
- `synthesize` → `audio-start` + `audio-chunk`… + `audio-stop`;
- `transcript` (a sentence for the handle program) → `handled` or `not-handled` with the
  reply text (`HandleService`, voice/handle.py);
- `ping` → `pong`; any other event is dropped, as the protocol asks.

A request that cannot be served (bad fields, an unknown language or voice, speech too long)
is answered with an `error` event, and the connection goes on. A connection whose bytes are
not Wyoming events (a header that is not JSON, lengths out of bounds), or whose client goes
away in the middle of an event or an audio stream, is closed with one log line; the server
keeps serving the others. Each connection is a task the server owns and cancels when it
stops; every wait (for an event, for a slow reader, for a model) has a timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop
from wyoming.error import Error
from wyoming.event import Event
from wyoming.handle import Handled, NotHandled
from wyoming.info import (
    AsrModel,
    AsrProgram,
    Attribution,
    Describe,
    HandleModel,
    HandleProgram,
    Info,
    TtsProgram,
    TtsVoice,
)
from wyoming.ping import Ping, Pong
from wyoming.tts import Synthesize

from hyperhub import __version__
from hyperhub.errors import HyperHubError
from hyperhub.service import Service
from hyperhub.voice.audio import Audio
from hyperhub.voice.stt import STT_LANGS, check_lang
from hyperhub.voice.tts import TTS_LANGS, text_lang
from hyperhub.voice.wyoming_events import (
    AUDIO_WIDTHS,
    BadStream,
    ClientGone,
    Limits,
    audio_of,
    parse_uri,
    pcm16,
    read_event,
    write_event,
    wyoming_lang,
)

if TYPE_CHECKING:
    from hyperhub.voice.stt import SpeechToText
    from hyperhub.voice.tts import TextToSpeech

log = logging.getLogger(__name__)

LANGS = ["en", "zh"]
CHUNK_SAMPLES = 1024  # samples per audio-chunk sent
_ATTRIBUTION = Attribution(name="HyperHub", url="")  # no public home yet


class Handling(Protocol):
    """What the handle program gives for a sentence (voice/handle.py's `Reply`)."""

    @property
    def text(self) -> str: ...

    @property
    def handled(self) -> bool: ...

    @property
    def context(self) -> dict[str, Any]: ...


class Handler(Protocol):
    """The handle program: a sentence heard (with its Wyoming `context`) → a reply."""

    async def handle(self, text: str, context: dict[str, Any]) -> Handling: ...


class BadRequest(HyperHubError):
    """An event that is well framed but cannot be served: answered with an `error` event."""

    code = "bad_event"


@dataclass
class _Stream:
    """An audio stream being received for transcription."""

    rate: int
    width: int
    channels: int
    lang: str
    data: bytearray

    @property
    def format(self) -> tuple[int, int, int]:
        return self.rate, self.width, self.channels

    @property
    def seconds(self) -> float:
        return len(self.data) / (self.rate * self.width * self.channels)


class WyomingServer(Service):
    """Speech to text (`stt`), text to speech (`tts`) and the assistant (`handler`, or
    none) on `uri` (tcp://HOST:PORT; port 0 takes a free one, and `uri` then says which).
    `lang` is the speech-to-text language when a client names none ("auto": English or
    Chinese, as Whisper hears it)."""

    def __init__(
        self,
        stt: SpeechToText,
        tts: TextToSpeech,
        handler: Handler | None,
        uri: str,
        *,
        lang: str = "auto",
        limits: Limits | None = None,
        description: str = "HyperHub's assistant",
    ) -> None:
        self.host, self.port = parse_uri(uri)
        self.stt, self.tts, self.handler = stt, tts, handler
        self.lang = check_lang(lang, STT_LANGS)
        self.limits = limits or Limits()
        self.description = description
        self.voices = {lang: tts.voice_name(lang) for lang in TTS_LANGS}
        self.info_event = self._describe().event()
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def uri(self) -> str:
        return f"tcp://{self.host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, self.host, self.port, limit=self.limits.max_header
        )
        self.port = self._server.sockets[0].getsockname()[1]
        log.info("Wyoming server listening on %s", self.uri)

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in self._connections:
            task.cancel()
        if self._connections:
            _, stuck = await asyncio.wait(self._connections, timeout=5.0)
            for task in stuck:
                log.warning("a Wyoming connection did not stop within 5 s: %s", task.get_name())
        if self._server is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._server.wait_closed(), 5.0)
            self._server = None

    @property
    def connections(self) -> int:
        """Connections being served now."""
        return len(self._connections)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """asyncio's callback for a new connection: the connection runs as a task the server
        owns (and cancels when it stops); this callback only waits for it, so it ends
        normally either way."""
        peer = _peer(writer)
        if len(self._connections) >= self.limits.max_connections:
            log.warning(
                "Wyoming: refused %s: %d connections are open already",
                peer,
                self.limits.max_connections,
            )
            writer.close()
            return
        task = asyncio.create_task(self._serve(reader, writer, peer), name=f"wyoming {peer}")
        self._connections.add(task)
        task.add_done_callback(self._connections.discard)
        await asyncio.wait({task})

    async def _serve(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, peer: str
    ) -> None:
        try:
            await _Connection(self, reader, writer, peer).run()
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), 1.0)

    def _describe(self) -> Info:
        """The `info` event: what this server offers."""
        voices = [
            TtsVoice(
                name=_voice_id(name),
                description=name,
                attribution=_ATTRIBUTION,
                installed=True,
                version=None,
                languages=[lang],
            )
            for lang, name in self.voices.items()
        ]
        info = Info(
            asr=[
                AsrProgram(
                    name="hyperhub-stt",
                    description="HyperHub speech to text: Whisper base (faster-whisper)",
                    attribution=_ATTRIBUTION,
                    installed=True,
                    version=__version__,
                    models=[
                        AsrModel(
                            name="whisper-base",
                            description="Whisper base, CTranslate2 int8",
                            attribution=Attribution(
                                name="OpenAI", url="https://github.com/openai/whisper"
                            ),
                            installed=True,
                            version=None,
                            languages=LANGS,
                        )
                    ],
                )
            ],
            tts=[
                TtsProgram(
                    name="hyperhub-tts",
                    description="HyperHub text to speech: Piper, espeak-ng for Chinese",
                    attribution=_ATTRIBUTION,
                    installed=True,
                    version=__version__,
                    voices=voices,
                )
            ],
        )
        if self.handler is not None:
            info.handle = [
                HandleProgram(
                    name="hyperhub-assistant",
                    description=self.description,
                    attribution=_ATTRIBUTION,
                    installed=True,
                    version=__version__,
                    models=[
                        HandleModel(
                            name="hyperhub",
                            description="HyperHub's matcher and local LLM",
                            attribution=_ATTRIBUTION,
                            installed=True,
                            version=__version__,
                            languages=LANGS,
                        )
                    ],
                    supports_home_control=True,
                )
            ]
        return info


def _voice_id(name: str) -> str:
    """ "Piper en_US-joe-medium" → "en_US-joe-medium" (the name clients select a voice by)."""
    return name.split(" ", 1)[-1]


def _peer(writer: asyncio.StreamWriter) -> str:
    address = writer.get_extra_info("peername")
    if isinstance(address, tuple) and len(address) >= 2:
        return f"{address[0]}:{address[1]}"
    return str(address or "a client")


class _Connection:
    """One client: its events read and answered in order."""

    def __init__(
        self,
        server: WyomingServer,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        peer: str,
    ) -> None:
        self.server = server
        self.limits = server.limits
        self.reader, self.writer, self.peer = reader, writer, peer
        self.lang = server.lang  # for the next audio stream; `transcribe` sets it
        self.stream: _Stream | None = None
        self.skipping = False  # the rest of a stream refused with an error, until audio-stop

    async def run(self) -> None:
        try:
            while True:
                try:
                    event = await asyncio.wait_for(
                        read_event(self.reader, self.limits), self.limits.idle_s
                    )
                except TimeoutError:
                    log.info(
                        "Wyoming: closed %s: no event for %.0f s", self.peer, self.limits.idle_s
                    )
                    return
                if event is None:
                    if self.stream is not None:
                        self._dropped("the client closed the connection")
                    return
                await self._answer(event)
        except BadStream as exc:
            log.warning("Wyoming: closed %s: it sent %s", self.peer, exc)
        except (ClientGone, ConnectionError) as exc:
            what = str(exc) or type(exc).__name__
            if self.stream is not None:
                self._dropped(what)
            else:
                log.warning("Wyoming: %s went away: %s", self.peer, what)
        except TimeoutError:
            log.warning(
                "Wyoming: dropped %s: it did not read its answer for %.0f s",
                self.peer,
                self.limits.write_s,
            )

    def _dropped(self, why: str) -> None:
        stream = self.stream
        assert stream is not None
        log.warning(
            "Wyoming: %s in the middle of an audio stream from %s (%.1f s received); dropped it",
            why,
            self.peer,
            stream.seconds,
        )
        self.stream = None

    async def _answer(self, event: Event) -> None:
        try:
            await self._dispatch(event)
        except (ClientGone, ConnectionError, TimeoutError, BadStream):
            raise
        except HyperHubError as exc:
            log.warning("Wyoming: %s from %s: %s", event.type, self.peer, exc)
            await self._send(Error(text=str(exc), code=exc.code).event())
        except Exception as exc:  # one request's bug must not end the server
            log.exception("Wyoming: %s from %s failed", event.type, self.peer)
            said = f"internal error ({type(exc).__name__})"
            await self._send(Error(text=said, code="internal").event())

    async def _dispatch(self, event: Event) -> None:
        kind = event.type
        if Describe.is_type(kind):
            await self._send(self.server.info_event)
        elif Ping.is_type(kind):
            await self._send(Pong(text=_field(event, Ping).text).event())
        elif Transcribe.is_type(kind):
            request = _field(event, Transcribe)
            self.lang = (
                wyoming_lang(request.language, STT_LANGS) if request.language else self.server.lang
            )
        elif AudioStart.is_type(kind):
            start = _field(event, AudioStart)
            self.stream, self.skipping = None, False
            self.stream = self._refusing(self._open, start.rate, start.width, start.channels)
        elif AudioChunk.is_type(kind):
            if not self.skipping:
                self._refusing(self._add, _field(event, AudioChunk))
        elif AudioStop.is_type(kind):
            if self.skipping:
                self.skipping = False
                self.lang = self.server.lang
            else:
                await self._transcribe()
        elif Synthesize.is_type(kind):
            await self._synthesize(_field(event, Synthesize))
        elif Transcript.is_type(kind):
            await self._handle(_field(event, Transcript))
        else:
            log.debug("Wyoming: dropped a %s event from %s", kind, self.peer)

    # -- speech to text --------------------------------------------------------------------

    def _open(self, rate: Any, width: Any, channels: Any) -> _Stream:
        ok = (
            _whole(rate)
            and 1000 <= rate <= 192_000
            and _whole(width)
            and width in AUDIO_WIDTHS
            and _whole(channels)
            and 1 <= channels <= 8
        )
        if not ok:
            raise BadRequest(
                f"audio of {rate} Hz, {width} bytes a sample, {channels} channels: HyperHub "
                "takes 1,000–192,000 Hz, 1, 2 or 4 bytes, 1–8 channels (16 kHz, 2, 1 is best)"
            )
        return _Stream(rate, width, channels, self.lang, bytearray())

    def _refusing(self, step: Any, *args: Any) -> Any:
        """`step(*args)`; when it refuses the audio, the rest of the stream is skipped (one
        `error` for the stream, no `transcript`)."""
        try:
            return step(*args)
        except BadRequest:
            self.stream, self.skipping = None, True
            raise

    def _add(self, chunk: AudioChunk) -> None:
        if self.stream is None:  # audio-start is optional for some clients
            self.stream = self._open(chunk.rate, chunk.width, chunk.channels)
        stream = self.stream
        if (chunk.rate, chunk.width, chunk.channels) != stream.format:
            raise BadRequest(
                f"an audio chunk of {chunk.rate} Hz, {chunk.width} bytes, {chunk.channels} "
                f"channels in a stream of {stream.rate} Hz, {stream.width} bytes, "
                f"{stream.channels} channels; the stream is dropped"
            )
        stream.data += chunk.audio
        if stream.seconds > self.limits.max_audio_s:
            raise BadRequest(
                f"more than {self.limits.max_audio_s:.0f} s of audio in one request; the "
                "stream is dropped (send one command at a time)"
            )

    async def _transcribe(self) -> None:
        stream, self.stream = self.stream, None
        lang, self.lang = (stream.lang if stream else self.lang), self.server.lang
        if stream is None:
            raise BadRequest("audio-stop without any audio before it")
        if not stream.data:
            await self._send(Transcript(text="", language=None).event())
            return
        audio = audio_of(bytes(stream.data), stream.rate, stream.width, stream.channels)
        heard = await self._work(self.server.stt.transcribe, audio, lang)
        log.info(
            "Wyoming: heard %.1f s from %s (%s, %.0f ms): %s",
            audio.seconds,
            self.peer,
            heard.lang,
            heard.ms,
            heard.text,
        )
        language = heard.lang if heard.text else None
        await self._send(Transcript(text=heard.text, language=language).event())

    # -- text to speech --------------------------------------------------------------------

    async def _synthesize(self, request: Synthesize) -> None:
        text = " ".join(str(request.text).split())
        if not text:
            raise BadRequest("synthesize with no text")
        if len(text) > self.limits.max_text:
            raise BadRequest(f"more than {self.limits.max_text} characters to speak at once")
        lang = self._voice_lang(request, text)
        audio: Audio = await self._work(self.server.tts.speak, text, lang)
        pcm = pcm16(audio.mono())
        fmt = {"rate": audio.rate, "width": 2, "channels": 1}
        await self._send(AudioStart(**fmt).event())
        step = CHUNK_SAMPLES * 2
        for at in range(0, len(pcm), step):
            await self._send(AudioChunk(audio=pcm[at : at + step], **fmt).event())
        await self._send(AudioStop().event())

    def _voice_lang(self, request: Synthesize, text: str) -> str:
        """The voice a client chose by name, else the text's own language."""
        name = request.voice.name if request.voice is not None else None
        if name:
            for lang, voice in self.server.voices.items():
                if name in (voice, _voice_id(voice)):
                    return lang
            known = ", ".join(_voice_id(v) for v in self.server.voices.values())
            raise BadRequest(f"no voice {name!r} here; voices: {known}")
        return text_lang(text)

    # -- the assistant ---------------------------------------------------------------------

    async def _handle(self, request: Transcript) -> None:
        handler = self.server.handler
        if handler is None:
            raise BadRequest("this server has no assistant (handle program)")
        context = request.context if isinstance(request.context, dict) else {}
        text = str(request.text)
        try:
            reply = await asyncio.wait_for(handler.handle(text, context), self.limits.work_s)
        except TimeoutError:
            raise BadRequest(f"the assistant took longer than {self.limits.work_s:.0f} s") from None
        log.info(
            "Wyoming: %s asked %r → %s %r",
            self.peer,
            text,
            "handled" if reply.handled else "not handled",
            reply.text,
        )
        answer = Handled if reply.handled else NotHandled
        await self._send(answer(text=reply.text, context=reply.context).event())

    # -- plumbing --------------------------------------------------------------------------

    async def _work(self, fn: Any, *args: Any) -> Any:
        """A model's call in a worker thread, within `work_s` (the thread finishes anyway:
        a model cannot be interrupted, and holds its own lock)."""
        try:
            return await asyncio.wait_for(asyncio.to_thread(fn, *args), self.limits.work_s)
        except TimeoutError:
            raise BadRequest(f"the model took longer than {self.limits.work_s:.0f} s") from None

    async def _send(self, event: Event) -> None:
        await write_event(event, self.writer, self.limits.write_s)


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _field(event: Event, kind: Any) -> Any:
    """`kind.from_event(event)`, or `BadRequest` naming what is missing or wrong."""
    try:
        return kind.from_event(event)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
        raise BadRequest(f"a {event.type} event with bad data ({why})") from None
