"""A peft LoRA adapter as a GGUF LoRA file, and a check that llama.cpp reads it as torch does.

The file is what llama.cpp's `convert_lora_to_gguf.py` writes, made with the `gguf` package
alone (no llama.cpp checkout):

- keys: `general.architecture` (the base model's, e.g. `gemma3`: llama.cpp refuses an adapter
  of another architecture), `general.type = adapter`, `adapter.type = lora`,
  `adapter.lora.alpha` (llama.cpp scales by alpha / rank, as peft does);
- tensors: for each adapted weight, `<gguf name>.lora_a` (rank × in) and `.lora_b`
  (out × rank), the transformers names mapped by gguf's own tensor-name table
  (`model.layers.3.self_attn.q_proj` → `blk.3.attn_q`, `mlp.down_proj` → `ffn_down`, …).
  Gemma 3's linear weights are stored unpermuted, so A and B go in as they are. f16 by
  default: 3.8 M parameters → 7.6 MB.

`compare_logits` loads the base GGUF with the adapter in llama_cpp and compares its
next-token logits with torch + peft on the same tokens. The torch side runs the
dequantized fp32 weights while llama.cpp multiplies the Q4_K blocks with 8-bit-quantized
activations, so the two never agree exactly even without an adapter: the report gives that
floor (`base_diff`) beside the adapted difference, and the difference of the adapter's own
effect (`delta_diff`), which is the part this file is responsible for.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hyperhub.assistant.model_files import quiet_llama
from hyperhub.errors import HyperHubError

_PEFT_NAME = re.compile(r"^(?:base_model\.model\.)?(.+)\.lora_([AB])(?:\.default)?\.weight$")


@dataclass(frozen=True)
class GgufLoraInfo:
    path: Path
    tensors: int  # lora_a + lora_b tensors
    params: int
    size_bytes: int
    alpha: float
    rank: int


def gguf_tensor_name(hf_module: str, arch: str, n_layers: int) -> str:
    """`model.layers.3.self_attn.q_proj` → `blk.3.attn_q.weight` (gguf's own name table)."""
    import gguf

    arch_id = next(k for k, v in gguf.MODEL_ARCH_NAMES.items() if v == arch)
    name_map = gguf.get_tensor_name_map(arch_id, n_layers)
    for prefix in ("model.language_model.", "language_model."):  # multimodal wrappers
        if hf_module.startswith(prefix):
            hf_module = "model." + hf_module[len(prefix) :]
    mapped = name_map.get_name(hf_module)
    if mapped is None:
        raise HyperHubError(f"no GGUF tensor for {hf_module!r} in architecture {arch}")
    return mapped + ".weight"


def write_gguf_lora(
    adapter_dir: Path,
    out_path: Path,
    *,
    base_gguf: Path,
    dtype: str = "f16",
    name: str = "hyperhub catalog-tuned LoRA",
) -> GgufLoraInfo:
    """Write the peft adapter in `adapter_dir` as a GGUF LoRA for the model `base_gguf`.
    `dtype` "f16" (default) or "f32"."""
    import gguf
    import numpy as np
    from safetensors.numpy import load_file

    config = json.loads((Path(adapter_dir) / "adapter_config.json").read_text("utf-8"))
    if config.get("use_rslora") or config.get("use_dora"):
        raise HyperHubError("rsLoRA / DoRA adapters have no GGUF form here")
    alpha = float(config["lora_alpha"])
    arch, n_layers = base_architecture(base_gguf)
    tensors = load_file(str(Path(adapter_dir) / "adapter_model.safetensors"))
    pairs: dict[str, dict[str, Any]] = {}
    for key, value in tensors.items():
        m = _PEFT_NAME.match(key)
        if m is None:
            raise HyperHubError(f"unexpected tensor {key!r} in the adapter (not lora_A / lora_B)")
        pairs.setdefault(m.group(1), {})[m.group(2)] = value
    np_type = {"f16": np.float16, "f32": np.float32}[dtype]
    ranks = set()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".part")
    writer = gguf.GGUFWriter(str(tmp), arch=arch)
    writer.add_type(gguf.GGUFType.ADAPTER)
    writer.add_string(gguf.Keys.Adapter.TYPE, "lora")
    writer.add_float32(gguf.Keys.Adapter.LORA_ALPHA, alpha)
    writer.add_name(name)
    writer.add_file_type(
        gguf.LlamaFileType.MOSTLY_F16 if dtype == "f16" else gguf.LlamaFileType.ALL_F32
    )
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    params = 0
    for module in sorted(pairs, key=_natural):
        a, b = pairs[module].get("A"), pairs[module].get("B")
        if a is None or b is None:
            raise HyperHubError(f"{module}: lora_A or lora_B is missing")
        if a.shape[0] != b.shape[1]:
            raise HyperHubError(f"{module}: lora_A {a.shape} and lora_B {b.shape} do not fit")
        ranks.add(int(a.shape[0]))
        target = gguf_tensor_name(module, arch, n_layers)
        # numpy (rows, cols) → ggml ne = [cols, rows]: A is ne [in, rank], B is ne [rank, out]
        writer.add_tensor(target + ".lora_a", np.ascontiguousarray(a, dtype=np_type))
        writer.add_tensor(target + ".lora_b", np.ascontiguousarray(b, dtype=np_type))
        params += a.size + b.size
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    tmp.replace(out_path)
    return GgufLoraInfo(
        path=out_path,
        tensors=2 * len(pairs),
        params=int(params),
        size_bytes=out_path.stat().st_size,
        alpha=alpha,
        rank=max(ranks) if ranks else 0,
    )


def peft_from_gguf_lora(
    gguf_path: Path, out_dir: Path, *, base_gguf: Path, targets: Sequence[str]
) -> Path:
    """A GGUF LoRA (as `write_gguf_lora` or llama.cpp's converter writes it) back in peft's
    format in `out_dir`, to go on training it (`hyperhub train --resume adapter.gguf`, e.g.
    the shipped adapter). The weights come back as fp32 from the file's f16/f32."""
    import gguf
    import numpy as np
    from safetensors.numpy import save_file

    arch, n_layers = base_architecture(base_gguf)
    reader = gguf.GGUFReader(str(gguf_path))
    field = reader.fields.get(gguf.Keys.Adapter.LORA_ALPHA)
    if field is None or reader.fields.get("general.architecture") is None:
        raise HyperHubError(f"{gguf_path} is not a LoRA adapter (no adapter.lora.alpha)")
    alpha = float(field.parts[field.data[0]][0])
    file_arch = bytes(reader.fields["general.architecture"].parts[-1]).decode("utf-8")
    if file_arch != arch:
        raise HyperHubError(f"{gguf_path} is an adapter for {file_arch}, not for {arch}")
    modules = {}
    for layer in range(n_layers):
        for t in targets:
            part = "self_attn" if t in ("q_proj", "k_proj", "v_proj", "o_proj") else "mlp"
            hf = f"model.layers.{layer}.{part}.{t}"
            modules[gguf_tensor_name(hf, arch, n_layers)] = hf
    tensors: dict[str, Any] = {}
    ranks: set[int] = set()
    for tensor in reader.tensors:
        m = re.match(r"^(.+)\.lora_([ab])$", tensor.name)
        if m is None or m.group(1) not in modules:
            raise HyperHubError(f"{gguf_path}: unexpected tensor {tensor.name!r}")
        shape = tuple(int(x) for x in reversed(tensor.shape.tolist()))  # ggml ne → numpy
        array = np.asarray(tensor.data, dtype=np.float32).reshape(shape)
        ab = m.group(2).upper()
        tensors[f"base_model.model.{modules[m.group(1)]}.lora_{ab}.weight"] = array
        if ab == "A":
            ranks.add(shape[0])
    if len(ranks) != 1 or 2 * len(modules) != len(tensors):
        raise HyperHubError(
            f"{gguf_path}: {len(tensors)} tensors of ranks {sorted(ranks)}; expected one rank "
            f"and {2 * len(modules)} tensors ({', '.join(targets)} of {n_layers} layers)"
        )
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    save_file(tensors, str(out_dir / "adapter_model.safetensors"))
    config = {
        "peft_type": "LORA",
        "task_type": "CAUSAL_LM",
        "r": ranks.pop(),
        "lora_alpha": alpha,
        "lora_dropout": 0.05,
        "target_modules": list(targets),
        "bias": "none",
        "base_model_name_or_path": Path(base_gguf).name,
    }
    (out_dir / "adapter_config.json").write_text(json.dumps(config, indent=2), "utf-8")
    return out_dir


def adapter_header(path: Path) -> dict[str, Any]:
    """A GGUF LoRA adapter's alpha, from its header (no `gguf` package needed), or a named
    error when the file is no LoRA adapter."""
    header = _header_reader(Path(path))
    if header.get("general.type") != "adapter" or "adapter.lora.alpha" not in header:
        raise HyperHubError(f"cannot go on from {path}: it is a GGUF file but no LoRA adapter")
    return {"lora_alpha": float(header["adapter.lora.alpha"]), "format": "gguf"}


def base_architecture(base_gguf: Path) -> tuple[str, int]:
    """(general.architecture, block count) of a GGUF model, read from its header only."""
    header = _header_reader(Path(base_gguf))
    arch = header.get("general.architecture")
    if not isinstance(arch, str) or f"{arch}.block_count" not in header:
        raise HyperHubError(f"{base_gguf}: no architecture or block count in the GGUF header")
    return arch, int(header[f"{arch}.block_count"])


def _header_reader(path: Path) -> dict[str, Any]:
    """The scalar keys of a GGUF header (the big token arrays are skipped, not parsed)."""
    import struct

    scalar = {
        0: "<B", 1: "<b", 2: "<H", 3: "<h", 4: "<I", 5: "<i", 6: "<f", 7: "<?",
        10: "<Q", 11: "<q", 12: "<d",
    }  # fmt: skip
    out: dict[str, Any] = {}
    with path.open("rb") as f:
        if f.read(4) != b"GGUF":
            raise HyperHubError(f"{path} is not a GGUF file")
        (version,) = struct.unpack("<I", f.read(4))
        if version < 2:
            raise HyperHubError(f"{path}: GGUF version {version} is too old")
        _n_tensors, n_kv = struct.unpack("<QQ", f.read(16))

        def read_str() -> str:
            (n,) = struct.unpack("<Q", f.read(8))
            return f.read(n).decode("utf-8", errors="replace")

        def skip(kind: int) -> Any:
            if kind in scalar:
                fmt = scalar[kind]
                return struct.unpack(fmt, f.read(struct.calcsize(fmt)))[0]
            if kind == 8:
                return read_str()
            if kind == 9:
                item, count = struct.unpack("<IQ", f.read(12))
                if item in scalar:
                    f.seek(struct.calcsize(scalar[item]) * count, 1)
                else:
                    for _ in range(count):
                        skip(item)
                return None
            raise HyperHubError(f"{path}: unknown GGUF value type {kind}")

        for _ in range(n_kv):
            key = read_str()
            (kind,) = struct.unpack("<I", f.read(4))
            out[key] = skip(kind)
    return out


def _must_exist(*paths: Path | None) -> None:
    """llama.cpp crashes the process on a missing adapter file: check first."""
    for path in paths:
        if path is not None and not Path(path).is_file():
            raise HyperHubError(f"{path} does not exist")


def _natural(s: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", s)]


# -- the check: llama.cpp with the GGUF adapter vs torch + peft ------------------------------


@dataclass(frozen=True)
class LogitsReport:
    max_abs_diff: float  # llama.cpp + GGUF adapter vs torch + peft
    base_diff: float  # llama.cpp base vs torch base: the quantization floor
    delta_diff: float  # (adapted - base) in llama.cpp vs the same in torch
    adapter_effect: float  # max |adapted - base| in llama.cpp: the adapter changes the model
    delta_corr: float  # correlation of the two adapter effects over the vocabulary (worst prompt)
    same_argmax: bool  # the greedy next token agrees on every prompt (adapted)
    prompts: int

    def as_dict(self) -> dict[str, Any]:
        return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in vars(self).items()}


def compare_logits(
    base_gguf: Path,
    adapter_gguf: Path,
    peft_model: Any,
    prompts: Sequence[str],
    *,
    threads: int = 2,
) -> LogitsReport:
    """Next-token logits after each prompt (BOS + prompt, llama.cpp's tokens): llama_cpp with
    and without the GGUF adapter against `peft_model` with and without its adapter."""
    import numpy as np
    import torch

    from hyperhub.assistant.llm import import_llama

    llama_cpp = import_llama()
    _must_exist(base_gguf, adapter_gguf)
    common = dict(
        model_path=str(base_gguf),
        n_ctx=512,
        n_threads=threads,
        n_threads_batch=threads,
        verbose=False,
    )
    with quiet_llama():
        plain = llama_cpp.Llama(**common)
        tuned = llama_cpp.Llama(**common, lora_path=str(adapter_gguf))
    try:
        diffs, floors, deltas, effects, corrs = [], [], [], [], []
        agree = True
        for prompt in prompts:
            ids = plain.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
            cpp_base = _cpp_next_logits(plain, ids)
            cpp_tuned = _cpp_next_logits(tuned, ids)
            with torch.no_grad():
                x = torch.tensor([ids])
                pt_tuned = peft_model(input_ids=x, logits_to_keep=1).logits[0, -1].numpy()
                with peft_model.disable_adapter():
                    pt_base = peft_model(input_ids=x, logits_to_keep=1).logits[0, -1].numpy()
            diffs.append(float(np.max(np.abs(cpp_tuned - pt_tuned))))
            floors.append(float(np.max(np.abs(cpp_base - pt_base))))
            deltas.append(float(np.max(np.abs((cpp_tuned - cpp_base) - (pt_tuned - pt_base)))))
            effects.append(float(np.max(np.abs(cpp_tuned - cpp_base))))
            corrs.append(float(np.corrcoef(cpp_tuned - cpp_base, pt_tuned - pt_base)[0, 1]))
            agree = agree and int(np.argmax(cpp_tuned)) == int(np.argmax(pt_tuned))
    finally:
        plain.close()
        tuned.close()
    return LogitsReport(
        max_abs_diff=max(diffs),
        base_diff=max(floors),
        delta_diff=max(deltas),
        adapter_effect=max(effects),
        delta_corr=min(corrs),
        same_argmax=agree,
        prompts=len(prompts),
    )


def logits_match(
    base_gguf: Path, adapter_gguf: Path, peft_model: Any, prompts: Sequence[str]
) -> float:
    """The largest |llama.cpp + GGUF adapter − torch + peft| next-token logit over `prompts`."""
    return compare_logits(base_gguf, adapter_gguf, peft_model, prompts).max_abs_diff


def _cpp_next_logits(llm: Any, ids: list[int]) -> Any:
    import numpy as np

    from hyperhub.assistant.llm import _last_logits

    llm.reset()
    llm.eval(ids)
    return np.array(_last_logits(llm), dtype=np.float32)


# -- a quick score: greedy exact match on held-out examples ------------------------------------


@dataclass(frozen=True)
class MatchScore:
    correct: int
    total: int
    ms_per_example: float
    misses: tuple[tuple[str, str, str], ...] = ()  # (sentence or prompt tail, want, got)

    @property
    def rate(self) -> float:
        return self.correct / self.total if self.total else 0.0


def exact_match(
    model_gguf: Path,
    pairs: Sequence[tuple[str, str]],
    *,
    lora_path: Path | None = None,
    threads: int = 2,
    max_tokens: int = 64,
    keep_misses: int = 10,
) -> MatchScore:
    """Greedy, unconstrained decoding after each prompt until a newline: how many of the
    (prompt, completion) pairs come out exactly (whitespace at the ends ignored)."""
    import time

    import numpy as np

    from hyperhub.assistant.llm import _last_logits, import_llama

    llama_cpp = import_llama()
    _must_exist(model_gguf, lora_path)
    with quiet_llama():
        llm = llama_cpp.Llama(
            model_path=str(model_gguf),
            n_ctx=1024,
            n_threads=threads,
            n_threads_batch=threads,
            verbose=False,
            lora_path=str(lora_path) if lora_path else None,
        )
    correct = 0
    misses: list[tuple[str, str, str]] = []
    t0 = time.perf_counter()
    try:
        eos = llm.token_eos()
        for prompt, want in pairs:
            llm.reset()
            llm.eval(llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False))
            out = b""
            for _ in range(max_tokens):
                token = int(np.argmax(_last_logits(llm)))
                if token == eos:
                    break
                out += llm.detokenize([token])
                if b"\n" in out:
                    break
                llm.eval([token])
            got = out.decode("utf-8", errors="replace").split("\n")[0].strip()
            if got == want.strip():
                correct += 1
            elif len(misses) < keep_misses:
                tail = prompt.rsplit("Command:", 1)[-1].split("\n")[0].strip()
                misses.append((tail, want.strip(), got))
    finally:
        llm.close()
    ms = (time.perf_counter() - t0) * 1000 / max(1, len(pairs))
    return MatchScore(correct, len(pairs), ms, tuple(misses))
