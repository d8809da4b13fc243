"""The Wyoming server with the real models, spoken to by `wyoming`'s own AsyncTcpClient on
127.0.0.1: describe → info, speech (any format) → transcript, text → speech, a sentence →
the assistant acting on a simulated demo space; what goes wrong on one connection — a
request with bad fields, bytes that are not events, a client gone mid-stream, too many
clients — is logged or answered with an `error` and leaves the server serving; stopping
the server ends every connection."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest
from tests.helpers.speech import word_error_rate
from tests.voice.conftest import needs_espeak, needs_extra

from hyperhub.assistant.pipeline import Assistant
from hyperhub.clock import ManualClock
from hyperhub.config import demo_space
from hyperhub.devices.sim import Simulator
from hyperhub.space import load_space
from hyperhub.voice.models import installed

needs_wyoming = pytest.mark.skipif(
    not installed("wyoming"), reason="the voice extra is missing (wyoming)"
)
pytestmark = [pytest.mark.voice, needs_extra, needs_wyoming]

if installed("wyoming"):
    from wyoming.asr import Transcribe, Transcript
    from wyoming.audio import AudioChunk, AudioStart, AudioStop
    from wyoming.client import AsyncTcpClient
    from wyoming.event import Event
    from wyoming.handle import Handled, NotHandled
    from wyoming.info import Describe, Info
    from wyoming.ping import Ping
    from wyoming.tts import Synthesize, SynthesizeVoice

    from hyperhub.voice.handle import HandleService
    from hyperhub.voice.wyoming import WyomingServer
    from hyperhub.voice.wyoming_events import Limits, audio_of, pcm16

SPACE = load_space(demo_space())
COMMAND = "Turn off the kitchen light."
LOG = "hyperhub.voice.wyoming"


@contextlib.asynccontextmanager
async def serving(
    stt: Any, tts: Any, *, limits: Any = None, assistant: bool = True
) -> AsyncIterator[tuple[Any, Simulator]]:
    """A server on a free port of 127.0.0.1 over a fresh simulated demo space."""
    devices = Simulator(SPACE, ManualClock())
    handler = HandleService(Assistant(SPACE), devices, on_hub=False) if assistant else None
    async with WyomingServer(stt, tts, handler, "tcp://127.0.0.1:0", limits=limits) as server:
        yield server, devices


def client(server: Any) -> Any:
    return AsyncTcpClient("127.0.0.1", server.port, connect_timeout=5, read_timeout=120)


async def until(client: Any, *kinds: str) -> tuple[Event, list[Event]]:
    """The first event of one of `kinds`, and the events before it (bounded)."""
    before: list[Event] = []
    for _ in range(5000):
        event = await client.read_event()
        assert event is not None, f"the server closed the connection before {kinds}"
        if event.type in kinds:
            return event, before
        before.append(event)
    raise AssertionError(f"no {kinds} in 5000 events")


async def send_audio(client: Any, pcm: bytes, rate: int, width: int, channels: int) -> None:
    fmt = {"rate": rate, "width": width, "channels": channels}
    await client.write_event(AudioStart(**fmt).event())
    step = 2048 * width * channels
    for at in range(0, len(pcm), step):
        await client.write_event(AudioChunk(audio=pcm[at : at + step], **fmt).event())
    await client.write_event(AudioStop().event())


async def spoken_back(client: Any) -> Any:
    """The audio of audio-start … audio-stop, checked to be one format throughout."""
    start = AudioStart.from_event((await until(client, "audio-start"))[0])
    _, chunks = await until(client, "audio-stop")
    assert chunks and all(c.type == "audio-chunk" for c in chunks)
    formats = {(c.data["rate"], c.data["width"], c.data["channels"]) for c in chunks}
    assert formats == {(start.rate, start.width, start.channels)}
    pcm = b"".join(c.payload or b"" for c in chunks)
    return audio_of(pcm, start.rate, start.width, start.channels)


async def logged(caplog: pytest.LogCaptureFixture, needle: str) -> str:
    """The server's log line holding `needle` (waited for, within a bound)."""
    for _ in range(200):
        for record in caplog.records:
            if record.name == LOG and needle in record.getMessage():
                return record.getMessage()
        await asyncio.sleep(0.05)
    raise AssertionError(f"no log line with {needle!r}: {[r.getMessage() for r in caplog.records]}")


def test_describe_offers_speech_to_text_text_to_speech_and_the_assistant(
    stt: Any, tts: Any
) -> None:
    async def run() -> Info:
        async with serving(stt, tts) as (server, _), client(server) as c:
            await c.write_event(Describe().event())
            return Info.from_event((await until(c, "info"))[0])

    info = asyncio.run(run())
    [asr], [speech], [handle] = info.asr, info.tts, info.handle
    assert asr.installed and {"en", "zh"} <= set(asr.models[0].languages)
    voices = {voice.name: voice.languages for voice in speech.voices}
    assert voices == {"en_US-joe-medium": ["en"], "cmn-latn-pinyin": ["zh"]}
    assert handle.installed and handle.supports_home_control
    assert set(handle.models[0].languages) == {"en", "zh"}


@pytest.mark.parametrize(
    "language, rate, width, channels",
    [("en-US", 16_000, 2, 1), (None, 44_100, 2, 2), ("en", 22_050, 4, 1)],
)
def test_speech_is_transcribed_whatever_its_format(
    language: str | None, rate: int, width: int, channels: int, stt: Any, tts: Any, spoken: Any
) -> None:
    audio = spoken(COMMAND).mono().at(rate)
    samples = audio.samples if channels == 1 else np.stack([audio.samples] * channels, axis=1)
    if width == 2:
        pcm = (samples * 32767).astype("<i2").tobytes()
    else:
        pcm = (samples * (2**31 - 1)).astype("<i4").tobytes()

    async def run() -> Transcript:
        async with serving(stt, tts) as (server, _), client(server) as c:
            await c.write_event(Transcribe(language=language).event())
            await send_audio(c, pcm, rate, width, channels)
            return Transcript.from_event((await until(c, "transcript"))[0])

    heard = asyncio.run(run())
    assert heard.language == "en"
    assert word_error_rate(COMMAND, heard.text) <= 0.2, heard.text


def test_one_connection_serves_many_requests_in_order(stt: Any, tts: Any, spoken: Any) -> None:
    pcm = pcm16(spoken(COMMAND).mono().at(16_000))

    async def run() -> tuple[Transcript, Event, Any, Any]:
        async with serving(stt, tts) as (server, devices), client(server) as c:
            await c.write_event(Transcribe(language="en").event())
            await send_audio(c, pcm, 16_000, 2, 1)
            heard = Transcript.from_event((await until(c, "transcript"))[0])
            await c.write_event(Transcript(heard.text, context={"conversation_id": "x"}).event())
            answer, _ = await until(c, "handled", "not-handled")
            await c.write_event(Synthesize(text=Handled.from_event(answer).text or "").event())
            reply = await spoken_back(c)
            await c.write_event(Ping(text="still here").event())
            pong, _ = await until(c, "pong")
            assert pong.data["text"] == "still here"
            return heard, answer, reply, devices.state("kitchen_light")

    heard, answer, reply, light = asyncio.run(run())
    assert word_error_rate(COMMAND, heard.text) <= 0.2
    assert answer.type == "handled" and "Kitchen Light off" in answer.data["text"]
    assert answer.data["context"] == {"conversation_id": "x"}
    assert light["on"] is False
    assert 1.0 < reply.seconds < 6.0 and reply.rms() > 0.01


def test_synthesized_english_is_speech_whisper_writes_back(stt: Any, tts: Any) -> None:
    text = "The front door is locked."

    async def run() -> tuple[Any, Any]:
        async with serving(stt, tts) as (server, _), client(server) as c:
            await c.write_event(Synthesize(text=text).event())
            default = await spoken_back(c)
            voice = SynthesizeVoice(name="en_US-joe-medium")
            await c.write_event(Synthesize(text=text, voice=voice).event())
            return default, await spoken_back(c)

    default, chosen = asyncio.run(run())
    assert default.rate == chosen.rate == 22_050
    assert word_error_rate(text, stt.transcribe(default, "en").text) <= 0.2


@needs_espeak
def test_chinese_text_is_spoken_with_the_chinese_voice(stt: Any, tts: Any) -> None:
    async def run() -> Any:
        async with serving(stt, tts) as (server, _), client(server) as c:
            await c.write_event(Synthesize(text="好的，厨房的灯已经关了。").event())
            return await spoken_back(c)

    audio = asyncio.run(run())
    assert 1.0 < audio.seconds < 8.0 and audio.rms() > 0.01  # ten syllables, said


def test_a_sentence_acts_on_the_devices_and_a_risky_one_is_not_run(stt: Any, tts: Any) -> None:
    async def run() -> tuple[list[Event], Simulator]:
        async with serving(stt, tts) as (server, devices), client(server) as c:
            answers = []
            for text in ("turn off the kitchen light", "unlock the front door", "yes", "嗯嗯啊"):
                await c.write_event(Transcript(text, context={"conversation_id": "c"}).event())
                answers.append((await until(c, "handled", "not-handled"))[0])
            return answers, devices

    (off, unlock, yes, mumble), devices = asyncio.run(run())
    assert off.type == "handled" and devices.state("kitchen_light")["on"] is False
    assert unlock.type == "not-handled" and "unlock Front Door Lock" in unlock.data["text"]
    assert yes.type == "not-handled" and NotHandled.from_event(yes).text
    assert devices.state("front_door_lock")["locked"] is True
    assert mumble.type == "not-handled"


def test_a_request_with_bad_fields_gets_an_error_and_the_connection_goes_on(
    stt: Any, tts: Any
) -> None:
    bad = [
        Transcribe(language="fr").event(),
        Event("transcribe", {"language": 7}),
        Event("audio-chunk", {"width": 2, "channels": 1}, b"\0\0"),  # no rate
        AudioStop().event(),  # no audio before it
        Event("audio-start", {"rate": "fast", "width": 2, "channels": 1}),
        Event("synthesize", {}),  # no text
        Synthesize(text="   ").event(),
        Synthesize(text="hello", voice=SynthesizeVoice(name="nobody")).event(),
    ]

    async def run() -> tuple[list[dict[str, Any]], Info]:
        async with serving(stt, tts) as (server, _), client(server) as c:
            errors = []
            for event in bad:
                await c.write_event(event)
                errors.append((await until(c, "error"))[0].data)
            await c.write_event(Describe().event())
            return errors, Info.from_event((await until(c, "info"))[0])

    errors, info = asyncio.run(run())
    codes = [e.get("code") for e in errors]
    assert codes == ["unsupported_language"] * 2 + ["bad_event"] * 6
    assert "'fr'" in errors[0]["text"] and "voices: en_US-joe-medium" in errors[-1]["text"]
    assert info.asr  # the same connection still answers


def test_too_much_audio_is_refused_and_the_next_request_is_served(stt: Any, tts: Any) -> None:
    async def run() -> tuple[dict[str, Any], list[Event], Transcript]:
        limits = Limits(max_audio_s=1.0)
        async with serving(stt, tts, limits=limits) as (server, _), client(server) as c:
            await send_audio(c, b"\0\0" * 16_000 * 2, 16_000, 2, 1)  # 2 s of silence
            error = (await until(c, "error"))[0].data
            await send_audio(c, b"\0\0" * 8000, 16_000, 2, 1)  # half a second
            heard, before = await until(c, "transcript")
            return error, before, Transcript.from_event(heard)

    error, before, silence = asyncio.run(run())
    assert "more than 1 s of audio" in error["text"]
    assert before == []  # the refused stream's rest gave no transcript, no second error
    assert silence.text == ""  # silence is heard as nothing


@pytest.mark.parametrize(
    "garbage, said",
    [
        (b"this is not json\n", "not JSON"),
        (b'{"data": {}}\n', 'without a "type"'),
        (b'{"type": "audio-chunk", "payload_length": 99999999}\n', "payload_length"),
        (b'{"type": "x", "data_length": 5}\nnope!', "not JSON"),
        (b"[" * 70_000, "longer than"),
    ],
)
def test_bytes_that_are_not_events_close_that_connection_only(
    garbage: bytes, said: str, stt: Any, tts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOG)

    async def run() -> tuple[Event | None, str, Info]:
        async with serving(stt, tts) as (server, _), client(server) as bystander:
            reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(garbage)
            await writer.drain()
            closed = await asyncio.wait_for(reader.read(), 30)  # the server ends it
            writer.close()
            line = await logged(caplog, said)
            await bystander.write_event(Describe().event())
            return (closed or None), line, Info.from_event((await until(bystander, "info"))[0])

    closed, line, info = asyncio.run(run())
    assert closed is None
    assert line.startswith("Wyoming: closed 127.0.0.1:")
    assert info.asr


def test_a_client_gone_mid_stream_is_logged_and_the_server_keeps_serving(
    stt: Any, tts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, LOG)

    async def run() -> tuple[str, str, int, Transcript]:
        async with serving(stt, tts) as (server, _):
            async with client(server) as gone:  # leaves after half an audio stream
                await gone.write_event(Transcribe(language="en").event())
                await gone.write_event(AudioStart(rate=16_000, width=2, channels=1).event())
                chunk = AudioChunk(rate=16_000, width=2, channels=1, audio=b"\0\0" * 8000)
                await gone.write_event(chunk.event())
            mid_stream = await logged(caplog, "in the middle of an audio stream")
            _, writer = await asyncio.open_connection("127.0.0.1", server.port)
            writer.write(b'{"type": "audio-chunk", "payload_length": 1000}\n' + b"\0" * 10)
            await writer.drain()
            writer.close()  # inside the event's payload
            mid_event = await logged(caplog, "in the middle of a audio-chunk event")
            for _ in range(200):  # both connections are over
                if not server.connections:
                    break
                await asyncio.sleep(0.05)
            left = server.connections
            async with client(server) as next_one:
                await send_audio(next_one, b"\0\0" * 8000, 16_000, 2, 1)
                after = Transcript.from_event((await until(next_one, "transcript"))[0])
            return mid_stream, mid_event, left, after

    mid_stream, mid_event, left, after = asyncio.run(run())
    assert "(0.5 s received); dropped it" in mid_stream
    assert "went away" in mid_event
    assert left == 0
    assert after.text == ""


def test_an_idle_connection_is_closed_and_extra_connections_are_refused(
    stt: Any, tts: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, LOG)

    async def run() -> tuple[Event | None, Event | None, str, str]:
        limits = Limits(idle_s=0.5, max_connections=1)
        async with serving(stt, tts, limits=limits) as (server, _), client(server) as first:
            await first.write_event(Describe().event())
            await until(first, "info")
            async with client(server) as second:  # one too many: closed at once
                refused = await second.read_event()
            refused_line = await logged(caplog, "connections are open already")
            idle = await first.read_event()  # nothing sent: closed after idle_s
            return refused, idle, refused_line, await logged(caplog, "no event for")

    refused, idle, refused_line, idle_line = asyncio.run(run())
    assert refused is None and idle is None
    assert "refused 127.0.0.1:" in refused_line and "closed 127.0.0.1:" in idle_line


def test_stopping_the_server_ends_every_connection(stt: Any, tts: Any) -> None:
    async def run() -> tuple[int, int, Event | None]:
        async with serving(stt, tts) as (server, _):
            c = client(server)
            await c.connect()
            await c.write_event(Describe().event())
            await until(c, "info")
            during = server.connections
        after = server.connections
        ended = await c.read_event()  # the server closed it when it stopped
        await c.disconnect()
        return during, after, ended

    during, after, ended = asyncio.run(run())
    assert during == 1 and after == 0 and ended is None


def test_a_server_without_the_assistant_says_so(stt: Any, tts: Any) -> None:
    async def run() -> tuple[Info, dict[str, Any]]:
        async with serving(stt, tts, assistant=False) as (server, _), client(server) as c:
            await c.write_event(Describe().event())
            info = Info.from_event((await until(c, "info"))[0])
            await c.write_event(Transcript("turn off the kitchen light").event())
            return info, (await until(c, "error"))[0].data

    info, error = asyncio.run(run())
    assert info.asr and info.tts and not info.handle
    assert "no assistant" in error["text"]
