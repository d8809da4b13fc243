"""Spoken questions without the speech models: a hub without the voice extra says what to
install (503) and goes on answering typed questions; and `ModelThread`, which keeps each
model off the event loop, one call at a time, bounded in time and in calls waiting."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable

import pytest
from tests.helpers.api_hub import Hub, error_of

from hyperhub.api.voice import STT_LANGS, ModelThread, is_audio
from hyperhub.errors import VoiceUnavailable
from hyperhub.voice import models


def test_without_the_voice_extra_a_spoken_question_says_what_to_install(
    hub: Hub, controller, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(models, "installed", lambda module: False)
    spoken = controller.post("/api/ask", content=b"RIFF", headers={"Content-Type": "audio/wav"})
    message = error_of(spoken, 503, "voice_unavailable")
    assert "pip install 'hyperhub[voice]'" in message
    status = controller.get("/api/voice").json()
    assert status["stt"]["available"] is False and "hyperhub[voice]" in status["stt"]["reason"]
    assert status["tts"] == {
        "available": False,
        "reason": status["tts"]["reason"],
        "loaded": False,
        "langs": [],
    }
    assert "hyperhub[voice]" in status["tts"]["reason"]
    typed = controller.post("/api/ask", json={"text": "is the car locked?"})
    assert typed.status_code == 200 and typed.json()["reply"]


def test_a_recording_is_told_from_json_by_its_content_type():
    for kind in ("audio/wav", "audio/webm;codecs=opus", "Audio/X-WAV", "video/webm"):
        assert is_audio(kind), kind
    assert is_audio("application/octet-stream")
    for kind in (None, "", "application/json", "text/plain", "multipart/form-data"):
        assert not is_audio(kind), kind


def test_the_api_knows_the_languages_speech_to_text_does():
    stt = pytest.importorskip("hyperhub.voice.stt", reason="numpy is missing")
    assert STT_LANGS == stt.STT_LANGS


# -- ModelThread -----------------------------------------------------------------------------


def run(main: Callable[[], object]) -> object:
    return asyncio.run(main())  # type: ignore[arg-type]


def test_calls_run_one_at_a_time_in_order_off_the_event_loop():
    seen: list[tuple[int, str]] = []
    inside = 0
    most = 0
    guard = threading.Lock()

    def call(i: int) -> Callable[[], int]:
        def work() -> int:
            nonlocal inside, most
            with guard:
                inside += 1
                most = max(most, inside)
            seen.append((i, threading.current_thread().name))
            with guard:
                inside -= 1
            return i * 10

        return work

    async def main() -> list[int]:
        model = ModelThread("stt", timeout=60)
        try:
            return list(await asyncio.gather(*(model.run(call(i), "test") for i in range(5))))
        finally:
            model.close()

    assert run(main) == [0, 10, 20, 30, 40]
    assert most == 1 and [i for i, _ in seen] == [0, 1, 2, 3, 4]
    assert all(name.startswith("voice-stt") for _, name in seen)


def test_a_model_with_calls_waiting_refuses_more_at_once():
    gate = threading.Event()

    async def main() -> str:
        model = ModelThread("stt", timeout=60, max_waiting=1)
        running = asyncio.ensure_future(model.run(gate.wait, "speech to text"))
        queued = asyncio.ensure_future(model.run(lambda: True, "speech to text"))
        await asyncio.sleep(0)  # both submitted
        try:
            with pytest.raises(VoiceUnavailable) as refused:
                await model.run(lambda: True, "speech to text")
        finally:
            gate.set()
        assert await running is True and await queued is True
        assert model.busy == 0
        model.close()
        return str(refused.value)

    assert "speech to text is busy with 2 other spoken questions" in run(main)


def test_a_call_over_time_finishes_in_the_background_and_a_queued_one_is_dropped():
    gate = threading.Event()
    ran: list[str] = []

    async def main() -> str:
        model = ModelThread("stt", timeout=0.05)
        slow = asyncio.ensure_future(model.run(lambda: ran.append("slow") or gate.wait(), "stt"))
        dropped = asyncio.ensure_future(model.run(lambda: ran.append("dropped"), "stt"))
        with pytest.raises(VoiceUnavailable) as late:
            await slow
        with pytest.raises(VoiceUnavailable):
            await dropped
        assert model.busy == 1  # the slow call still holds the model
        gate.set()
        model.timeout = 60
        assert await model.run(lambda: "next", "stt") == "next"
        assert model.busy == 0
        model.close()
        return str(late.value)

    assert "stt took longer than 0.05 s" in run(main)
    assert ran == ["slow"]
