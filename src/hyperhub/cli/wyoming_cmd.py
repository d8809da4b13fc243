"""`hyperhub wyoming` (the Wyoming server: speech to text, text to speech and the assistant
for Home Assistant and satellites) and `hyperhub satellite` (a microphone's wake word and
commands, sent to that server) — docs/voice.md, "Wyoming" and "Satellite". Everything about
speech is imported inside the commands: `hyperhub` starts without it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from hyperhub.cli.options import DataOpt, SpaceOpt
from hyperhub.cli.say import err, out, print_json
from hyperhub.cli.voice_cmd import SttModelOpt, VoiceOpt

if TYPE_CHECKING:
    from hyperhub.voice.audio import Audio
    from hyperhub.voice.satellite import Turn

DEFAULT_URI = "tcp://127.0.0.1:10300"  # 10300: the port of Wyoming's speech-to-text servers
LangOpt = Annotated[
    str,
    typer.Option(
        "--lang", help="Speech-to-text language: auto (English or Chinese, as heard), en or zh."
    ),
]
AreaOpt = Annotated[
    str | None,
    typer.Option("--area", help="The room the speaker is in (area id or name): its lights…"),
]


def _with_extra(what: str) -> None:
    from hyperhub.voice.models import require

    require("numpy", what)
    require("wyoming", what)


def wyoming(
    uri: Annotated[
        str,
        typer.Option("--uri", help="Where to listen: tcp://HOST:PORT (port 0: any free one)."),
    ] = DEFAULT_URI,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    area: AreaOpt = None,
    lang: LangOpt = "auto",
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run", help="Simulate: change nothing, even when a hub runs on the data dir."
        ),
    ] = False,
    allow_risky: Annotated[
        bool,
        typer.Option(
            "--allow-risky",
            help="Let a spoken yes confirm risky actions (unlock, open the garage). Anyone "
            "who can reach the port can then say it; off, they are refused by voice.",
        ),
    ] = False,
    no_llm: Annotated[
        bool, typer.Option("--no-llm", help="The assistant never uses the local LLM.")
    ] = False,
    stt_model: SttModelOpt = None,
    voice: VoiceOpt = None,
) -> None:
    """Serve speech to text, text to speech and the assistant over the Wyoming protocol, for
    Home Assistant's Wyoming integration and satellites. The assistant acts on the running
    hub of the data dir when there is one (checked and audited like `ask`), else — or with
    `--space FILE` or `--dry-run` — on a simulated copy."""
    _with_extra("The Wyoming server")
    from hyperhub.cli.assistant_cmd import EngineOptions, Session, fresh_devices
    from hyperhub.cli.main import _assistant_target
    from hyperhub.voice.handle import HandleService
    from hyperhub.voice.stt import STT_LANGS, SpeechToText, check_lang, space_words
    from hyperhub.voice.tts import TextToSpeech
    from hyperhub.voice.wyoming import WyomingServer
    from hyperhub.voice.wyoming_events import parse_uri

    parse_uri(uri)  # before anything loads
    check_lang(lang, STT_LANGS)
    if not logging.getLogger().isEnabledFor(logging.INFO):  # each request, one line
        logging.getLogger("hyperhub.voice.wyoming").setLevel(logging.INFO)
    with _assistant_target(space, data_dir, None, dry_run) as (loaded, stored, live):
        room = None if area is None else loaded.find_area(area).id
        session = Session(loaded, EngineOptions(no_llm=no_llm), _note)
        stt = SpeechToText(stt_model, data_dir=data_dir, words=space_words(loaded))
        tts = TextToSpeech(voice)
        with err.status("loading the speech models"):
            stt.load()
            tts.prepare("en")
        where = (
            "acting on the running hub's devices"
            if live is not None
            else "simulated: nothing is sent to devices"
        )

        async def serve() -> None:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.add_signal_handler(sig, stop.set)
            async with contextlib.AsyncExitStack() as stack:
                devices: Any
                if live is not None:
                    devices = await stack.enter_async_context(live.devices(loaded, "wyoming"))
                else:
                    devices = fresh_devices(loaded, stored)
                handler = HandleService(
                    session.assistant,
                    devices,
                    on_hub=live is not None,
                    area=room,
                    allow_risky=allow_risky,
                )
                server = WyomingServer(
                    stt, tts, handler, uri, lang=lang, description=f"HyperHub, {loaded.name}"
                )
                await stack.enter_async_context(server)
                err.print(
                    f"wyoming: speech to text, text to speech and the assistant of "
                    f"{loaded.name!r} on {server.uri} ({where}) — Ctrl-C to stop",
                    markup=False,
                    highlight=False,
                )
                await stop.wait()

        try:
            asyncio.run(serve())
        finally:
            session.close()
    err.print("wyoming: stopped", markup=False, highlight=False)


def satellite(
    hub: Annotated[
        str,
        typer.Option(
            "--hub", help="The hub's Wyoming server (`hyperhub wyoming`): tcp://HOST:PORT."
        ),
    ] = DEFAULT_URI,
    audio: Annotated[
        Path,
        typer.Option(
            "--audio",
            metavar="FILE|-",
            help="What the microphone hears: 16 kHz mono 16-bit raw PCM (arecord -r 16000 "
            "-c 1 -f S16_LE -t raw), or a WAV file; '-': stdin.",
        ),
    ] = Path("-"),
    wake_word: Annotated[
        str,
        typer.Option("--wake-word", help="okay_nabu, hey_jarvis, hey_mycroft or alexa."),
    ] = "hey_jarvis",
    area: AreaOpt = None,
    lang: LangOpt = "auto",
    reply_to: Annotated[
        Path | None,
        typer.Option(
            "--reply-to",
            metavar="OUT.wav",
            help="Write each spoken reply to a WAV file: OUT.wav, then OUT-2.wav, …",
        ),
    ] = None,
    play: Annotated[
        bool, typer.Option("--play", help="Play each reply with aplay (Debian's alsa-utils).")
    ] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each command as a JSON line.")
    ] = False,
) -> None:
    """Listen like a voice satellite: the wake word, then the command after it (its end
    found by voice activity detection), sent to the hub's Wyoming server; its reply is
    printed, and spoken into --reply-to files or played (--play)."""
    _with_extra("The satellite")
    from hyperhub.errors import VoiceUnavailable
    from hyperhub.voice.satellite import HubClient, Listening, Satellite

    listening = Listening(wake_word=wake_word)
    listening.check()
    client = HubClient(hub, lang=lang, area=area)
    if play and shutil.which("aplay") is None:
        raise VoiceUnavailable("--play needs aplay: apt-get install alsa-utils")
    source = _AudioSource(audio)
    count = 0

    async def on_turn(turn: Turn) -> None:
        nonlocal count
        count += 1
        written = None
        if turn.speech is not None and reply_to is not None:
            written = _numbered(reply_to, count)
            await asyncio.to_thread(_write, written, turn.speech)
        if as_json:
            print_json({**turn.as_json(), "reply_wav": str(written) if written else None})
            sys.stdout.flush()
        else:
            _show(turn, written)
        if turn.speech is not None and play:
            await asyncio.to_thread(_play, turn.speech)

    async def listen() -> Any:
        await client.check()
        err.print(
            f"satellite: listening for {wake_word} in {audio}, asking {hub} — Ctrl-C to stop",
            markup=False,
            highlight=False,
        )
        return await Satellite(client, listening).run(source.read, on_turn)

    try:
        summary = asyncio.run(listen())
    finally:
        source.close()
    err.print(
        f"satellite: {summary.seconds:.1f} s of audio, {summary.wakes} wake word(s), "
        f"{len(summary.turns)} command(s)",
        markup=False,
        highlight=False,
    )


class _AudioSource:
    """16 kHz mono 16-bit PCM from a file or stdin: raw as it comes, or a WAV file (any
    kind) converted first."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._stream: IO[bytes]
        if str(path) == "-":
            self._stream = sys.stdin.buffer
        else:
            from hyperhub.errors import AudioError

            try:
                self._stream = path.open("rb")
            except OSError as exc:
                raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from None
        self._pending: bytes | None = None  # read ahead, or the whole converted WAV

    async def read(self, n: int) -> bytes:
        if self._pending is None:
            head = await asyncio.to_thread(self._stream.read, 4)
            if head == b"RIFF":
                self._pending = await asyncio.to_thread(self._wav, head)
            else:
                self._pending = head
        if self._pending:
            piece, self._pending = self._pending[:n], self._pending[n:]
            return piece
        read = getattr(self._stream, "read1", self._stream.read)
        data: bytes = await asyncio.to_thread(read, n)
        return data

    def _wav(self, head: bytes) -> bytes:
        from hyperhub.voice.audio import parse_wav
        from hyperhub.voice.satellite import RATE
        from hyperhub.voice.wyoming_events import pcm16

        whole = parse_wav(head + self._stream.read(), str(self.path))
        return pcm16(whole.mono().at(RATE))

    def close(self) -> None:
        if self._stream is not sys.stdin.buffer:
            self._stream.close()


def _numbered(path: Path, n: int) -> Path:
    return path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def _write(path: Path, speech: Audio) -> None:
    from hyperhub.voice.audio import write_wav

    write_wav(path, speech)


def _play(speech: Audio) -> None:
    from hyperhub.voice.audio import wav_bytes

    try:
        subprocess.run(
            ["aplay", "-q", "-"],
            input=wav_bytes(speech),
            timeout=speech.seconds + 30,
            check=False,
            capture_output=True,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        _note(f"could not play the reply: {exc}")


def _show(turn: Turn, written: Path | None) -> None:
    when = f"{turn.wake_at_s:.1f} s"
    if turn.problem is not None:
        err.print(f"{when}: {turn.problem}", markup=False, highlight=False)
        return
    if not turn.transcript:
        out.print(f"{when}: woke, heard no words", markup=False, highlight=False)
        return
    out.print(f"{when}: heard ({turn.lang}): {turn.transcript}", markup=False, highlight=False)
    out.print(f"  {turn.reply}", markup=False, highlight=False)
    if written is not None:
        out.print(f"  spoke the reply into {written}", markup=False, style="dim", highlight=False)


def _note(message: str) -> None:
    err.print(f"note: {message}", markup=False, highlight=False)
