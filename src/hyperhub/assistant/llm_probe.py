"""Can the local LLM run on this machine? A test run in a child process, before the real one.

llama.cpp is native code: a build whose kernels this CPU cannot execute (an AMX or AVX-512
path on a VM that advertises but does not enable it, a wheel compiled for another machine)
dies with SIGILL on the first matrix product, and takes the whole process with it — the hub,
or `hyperhub ask`. So before a process loads a model for real, `check_llm()` loads it in a
child process and evaluates a short prompt (a batch, the prompt path) and one more token (the
one-token path). A child that dies tells why; the caller then runs without the LLM.

The verdict is cached in the models cache (`probe-<key>.json`), keyed by the llama.cpp
libraries (files, sizes, times), the model file, this CPU's advertised flags and the Python
interpreter: a rebuilt llama.cpp, another model or another CPU is tested again. A run that
timed out or failed for another reason is not cached.

`python -m hyperhub.assistant.llm_probe MODEL [THREADS]` is the child; it prints one JSON
line (llama.cpp's system info, tokens evaluated) and exits 0.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from hyperhub.errors import ModelUnavailable

PROBE_TEXT = "Turn on the living room light and set it to 40 percent. 打开客厅的灯。"
DEFAULT_TIMEOUT = 120.0  # seconds: a 250 MB model loads in ~1 s here; a slow disk may take more
_SIGNAL_HINTS = {
    signal.SIGILL: (
        "illegal instruction: llama.cpp was compiled for instructions this CPU does not run "
        "(a native build from another machine, or AVX-512 / AMX that this VM does not "
        "enable); ./hub setup reinstalls the portable build"
    ),
    signal.SIGSEGV: "segmentation fault in llama.cpp",
    signal.SIGBUS: "bus error in llama.cpp (a damaged or truncated model file?)",
    signal.SIGABRT: "llama.cpp aborted (an assertion failed)",
    signal.SIGKILL: "killed (out of memory?)",
}


@dataclass(frozen=True)
class ProbeResult:
    """What the test run found. `reason` says why it failed, in words; empty when `ok`."""

    ok: bool
    reason: str = ""
    system_info: str = ""  # llama.cpp's compile-time CPU features, as it prints them
    seconds: float = 0.0
    cached: bool = False


def check_llm(
    model: Path,
    *,
    cache_dir: Path | None = None,
    threads: int = 2,
    timeout: float = DEFAULT_TIMEOUT,
    fresh: bool = False,
) -> ProbeResult:
    """Test-run `model` in a child process (or take the cached verdict; `fresh` ignores it)."""
    if importlib.util.find_spec("llama_cpp") is None:
        return ProbeResult(False, "llama-cpp-python is not installed")
    key = _key(model, threads)
    path = None if cache_dir is None else Path(cache_dir) / f"probe-{key}.json"
    if path is not None and not fresh:
        seen = _read(path)
        if seen is not None:
            return seen
    result = _run_child(model, threads, timeout)
    if path is not None and (result.ok or result.reason.startswith("crashed")):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(json.dumps(asdict(result)), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # no cache: the next start tests again
    return result


def require_llm(model: Path, *, cache_dir: Path | None = None, threads: int = 2) -> ProbeResult:
    """`check_llm`, raising `ModelUnavailable` with the reason when the LLM cannot run."""
    result = check_llm(model, cache_dir=cache_dir, threads=threads)
    if not result.ok:
        raise ModelUnavailable(f"a test run of the model in a child process {result.reason}")
    return result


def _run_child(model: Path, threads: int, timeout: float) -> ProbeResult:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "hyperhub.assistant.llm_probe", str(model), str(threads)]
    env = dict(os.environ, OMP_WAIT_POLICY="PASSIVE")
    try:
        proc = subprocess.run(
            cmd, capture_output=True, text=True, timeout=timeout, env=env, stdin=subprocess.DEVNULL
        )
    except subprocess.TimeoutExpired:
        return ProbeResult(False, f"did not finish within {timeout:.0f} s")
    except OSError as exc:
        return ProbeResult(False, f"could not start ({exc})")
    seconds = time.perf_counter() - t0
    if proc.returncode < 0:
        sig = signal.Signals(-proc.returncode)
        hint = _SIGNAL_HINTS.get(sig, "")
        return ProbeResult(
            False, f"crashed with {sig.name}" + (f" ({hint})" if hint else ""), seconds=seconds
        )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        tail = [line for line in proc.stderr.strip().splitlines() if line.strip()]
        why = tail[-1].strip() if tail else f"exit status {proc.returncode}"
        return ProbeResult(False, f"failed: {why}", seconds=seconds)
    try:
        report = json.loads(lines[-1])
    except ValueError:
        return ProbeResult(False, "failed: it printed no report", seconds=seconds)
    return ProbeResult(True, "", str(report.get("system_info", "")).strip(), seconds)


def _read(path: Path) -> ProbeResult | None:
    try:
        seen = json.loads(path.read_text(encoding="utf-8"))
        return ProbeResult(
            ok=bool(seen["ok"]),
            reason=str(seen["reason"]),
            system_info=str(seen["system_info"]),
            seconds=float(seen["seconds"]),
            cached=True,
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _key(model: Path, threads: int) -> str:
    """What the verdict depends on: llama.cpp's libraries, the model, the CPU, the Python."""
    parts = [sys.executable, str(threads), _cpu_flags()]
    spec = importlib.util.find_spec("llama_cpp")
    if spec is not None and spec.origin:
        package = Path(spec.origin).parent
        for f in sorted(package.rglob("*.so*")) + sorted(package.rglob("*.dylib")):
            st = f.stat()
            parts.append(f"{f.name}:{st.st_size}:{st.st_mtime_ns}")
    try:
        st = Path(model).stat()
        parts.append(f"{Path(model).resolve()}:{st.st_size}:{st.st_mtime_ns}")
    except OSError:
        parts.append(str(model))
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:20]


def cpu_flags() -> set[str]:
    """The CPU features the kernel reports (/proc/cpuinfo `flags`); empty where unknown."""
    return set(_cpu_flags().split())


def _cpu_flags() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def system_info() -> str:
    """llama.cpp's compile-time CPU features (in this process: call it from the child)."""
    import llama_cpp

    raw = llama_cpp.llama_print_system_info()
    return raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)


def _child(model: str, threads: int) -> int:
    """Load `model` and evaluate a prompt and one token; print a JSON report."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    import llama_cpp

    from hyperhub.assistant.model_files import quiet_llama

    info = system_info()
    with quiet_llama():
        llm = llama_cpp.Llama(
            model_path=model,
            n_ctx=256,
            n_batch=64,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
        )
    tokens = llm.tokenize(PROBE_TEXT.encode(), add_bos=True, special=False)
    llm.eval(tokens)  # a batch: the matrix-matrix kernels a prompt takes
    llm.eval(tokens[-1:])  # one token: the matrix-vector kernels of decoding
    print(json.dumps({"system_info": info, "tokens": len(tokens) + 1}), flush=True)
    return 0


if __name__ == "__main__":  # pragma: no cover - the child process
    if len(sys.argv) not in (2, 3):
        print("usage: python -m hyperhub.assistant.llm_probe MODEL [THREADS]", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(_child(sys.argv[1], int(sys.argv[2]) if len(sys.argv) == 3 else 2))
