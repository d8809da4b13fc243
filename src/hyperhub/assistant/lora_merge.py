"""A LoRA adapter merged into its base model's weights, once, for faster reading.

llama.cpp applies an adapter given with `lora_path` at run time: every adapted matrix gets
two more small products per token (x·A, then ·B). For the default model that is 252 more
graph operations per token — with 2 cores, reading a sentence the tuned way took ~74 ms per
generated token instead of ~43 ms. Merged weights (W + alpha/r · B·A) cost nothing extra.

`merged_model(base, adapter, cache_dir)` writes the base GGUF with the adapted tensors
replaced by their merged values, into `cache_dir` (the data dir's model cache), and returns
its path; later calls find it there (keyed by both files' path, size and modification time).
Each merged tensor is quantized again with numpy (the `gguf` package): to the base tensor's
own type where `gguf` can write it (Q4_0, Q5_0, Q8_0), else to Q8_0 (the base's K-quants);
every other tensor and all metadata are copied as they are. About 10 s and ~300 MB of disk,
the first time a base and an adapter meet. A new merge removes all but the `KEEP_MERGED`
most recently used merged files of its folder (a new adapter or model version would
otherwise leave ~300 MB behind each time).

Without the `gguf` package (it comes with the `llm` extra), `merged_model` raises
`MergeUnavailable` and the engine applies the adapter at run time instead.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import time
from pathlib import Path
from typing import Any

from hyperhub.assistant.model_files import vocabulary_path
from hyperhub.errors import HyperHubError

MERGE_VERSION = "2"
KEEP_MERGED = 2  # merged models kept in a cache folder, the most recently used ones
_SUFFIXES = (".lora_a", ".lora_b")


class MergeUnavailable(HyperHubError):
    """The adapter cannot be merged here (no `gguf` package, or not an adapter of this base)."""


def merged_path(base: Path, adapter: Path, cache_dir: Path) -> Path:
    """Where the merge of `adapter` into `base` is kept."""
    ident = "|".join(
        f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}" for p in (base, adapter)
    )
    key = hashlib.sha256(f"{MERGE_VERSION}|{ident}".encode()).hexdigest()[:20]
    return cache_dir / f"merged-{key}.gguf"


def merged_model(base: Path, adapter: Path, cache_dir: Path) -> Path:
    """The base model with the adapter merged in: from the cache, or written now."""
    target = merged_path(base, adapter, cache_dir)
    if target.is_file():
        mark_used(target)
        return target
    try:
        import gguf
    except ImportError:
        raise MergeUnavailable(
            "merging the adapter needs the gguf package (pip install gguf)"
        ) from None
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f"{target.name}.{os.getpid()}.tmp")
    try:
        _write_merged(gguf, base, adapter, tmp)
        os.replace(tmp, target)
    except (OSError, ValueError, KeyError) as exc:
        raise MergeUnavailable(f"cannot merge {adapter.name} into {base.name}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    prune_merged(cache_dir, keep=target)
    return target


def mark_used(path: Path) -> None:
    """Set the file's access time to now, its modification time kept: the pruning of older
    merges goes by access time, while caches keyed by the file (its vocabulary, in
    `model_files.ModelCache`) go by its modification time and stay valid."""
    with contextlib.suppress(OSError):  # a read-only cache still serves
        os.utime(path, ns=(time.time_ns(), path.stat().st_mtime_ns))


def prune_merged(cache_dir: Path, keep: Path, count: int = KEEP_MERGED) -> list[Path]:
    """Delete the merged models of `cache_dir` but `keep` and the most recently used ones
    (`count` in all), with the vocabulary files kept for them; the deleted models' paths.
    (A process still reading a deleted file keeps it until it closes it; one about to open
    it merges again: `LlmEngine` retries once.)"""

    def used(p: Path) -> float:
        try:
            return p.stat().st_atime
        except OSError:
            return 0.0

    others = sorted(
        (p for p in cache_dir.glob("merged-*.gguf") if p != keep), key=used, reverse=True
    )
    gone = []
    for p in others[max(0, count - 1) :]:
        try:
            vocabulary: Path | None = vocabulary_path(p, cache_dir)
        except (OSError, ImportError):
            vocabulary = None
        with contextlib.suppress(OSError):
            p.unlink()
            gone.append(p)
            if vocabulary is not None:
                vocabulary.unlink(missing_ok=True)
    return gone


def _write_merged(gguf: Any, base: Path, adapter: Path, out: Path) -> None:
    import numpy as np

    lora = gguf.GGUFReader(str(adapter))
    fields = {k: f.contents() for k, f in lora.fields.items()}
    if fields.get("general.type") != "adapter" or fields.get("adapter.type") != "lora":
        raise ValueError(f"{adapter.name} is not a GGUF LoRA adapter")
    alpha = float(fields["adapter.lora.alpha"])
    pairs: dict[str, dict[str, Any]] = {}
    for t in lora.tensors:
        for suffix in _SUFFIXES:
            if t.name.endswith(suffix):
                pairs.setdefault(t.name[: -len(suffix)], {})[suffix] = t.data
    model = gguf.GGUFReader(str(base))
    arch = model.fields["general.architecture"].contents()
    if fields.get("general.architecture") not in (None, arch):
        raise ValueError(f"the adapter is for {fields['general.architecture']}, the model {arch}")
    names = {t.name for t in model.tensors}
    if not pairs or not set(pairs) <= names:
        missing = sorted(set(pairs) - names)[:3]
        raise ValueError(f"the adapter's tensors are not the model's (e.g. {missing})")

    writer = gguf.GGUFWriter(str(out), arch=arch, endianess=model.endianess)
    for field in model.fields.values():
        if field.name == "general.architecture" or field.name.startswith("GGUF."):
            continue
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        writer.add_key_value(field.name, field.contents(), kind, sub_type=sub)
    data: list[Any] = []
    for t in model.tensors:
        arr, qtype = t.data, t.tensor_type
        pair = pairs.get(t.name)
        if pair is not None:
            a = np.asarray(pair[".lora_a"], dtype=np.float32)  # rank × in
            b = np.asarray(pair[".lora_b"], dtype=np.float32)  # out × rank
            weight = gguf.quants.dequantize(arr, qtype).astype(np.float32)
            weight = weight + (alpha / a.shape[0]) * (b @ a)
            qtype = _writable(gguf, qtype)
            arr = gguf.quants.quantize(weight, qtype)
        writer.add_tensor_info(t.name, arr.shape, arr.dtype, arr.nbytes, qtype)
        data.append(arr)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    for arr in data:
        writer.write_tensor_data(arr)
    writer.close()


def _writable(gguf: Any, qtype: Any) -> Any:
    """The type a merged tensor is written in: Q8_0 (quantizing it again to 4 or 5 bits
    would add a second rounding on top of the base's; 8 bits keeps the adapter's effect)."""
    q = gguf.GGMLQuantizationType
    if qtype in (q.F16, q.F32, q.BF16):
        return qtype
    return q.Q8_0
