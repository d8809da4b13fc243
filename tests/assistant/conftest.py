"""Shared helpers of the assistant tests: the spaces, and `hyperhub` as a real process.

Two spaces: `home_space.yaml` (a copy of the development set's space, ../shared/eval, so the
tests do not depend on a folder outside the repository) and `examples/second_space.yaml`
(a flat with mostly Chinese names, ids and areas unlike the first).
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).resolve().parent / "data"
HOME_SPACE = DATA / "home_space.yaml"
FLAT_SPACE = ROOT / "examples" / "second_space.yaml"

Run = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def home_space_path() -> Path:
    return HOME_SPACE


@pytest.fixture
def flat_space_path() -> Path:
    return FLAT_SPACE


@pytest.fixture
def hyperhub_cli(tmp_path: Path) -> Run:
    """`hyperhub …` in a subprocess with a private data dir; `input` goes to stdin (str or
    bytes); the environment never points at a configured space, database or remote."""

    def run(*args: str, input: str | bytes | None = None, timeout: float = 120) -> Any:
        env = {**os.environ, "HYPERHUB_DATA_DIR": str(tmp_path / "data"), "COLUMNS": "200"}
        for var in ("HYPERHUB_SPACE", "HYPERHUB_DB", "HYPERHUB_REMOTE_URL"):
            env.pop(var, None)
        env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
        data = input.encode("utf-8") if isinstance(input, str) else input
        proc = subprocess.run(
            [sys.executable, "-m", "hyperhub", *args],
            input=data,
            capture_output=True,
            env=env,
            timeout=timeout,
        )
        return subprocess.CompletedProcess(
            proc.args,
            proc.returncode,
            proc.stdout.decode("utf-8"),
            proc.stderr.decode("utf-8", errors="replace"),
        )

    return run
