"""LoRA fine-tuning of the local GGUF model on the CPU (torch + transformers + peft).

    result = train(examples, base_gguf, out_dir, epochs=2, batch_size=8, seed=0)

1. The base model is the GGUF file the engine runs (the default: Gemma-3 270M, Q4_K_M).
   transformers loads it directly and dequantizes it to fp32 (bf16 is unusably slow on
   these CPUs). Parsing the GGUF costs most of a minute, so the fp32 weights are cached
   as safetensors beside it (`cache_dir`) and later runs load in seconds.
2. Every example is `prompt` + `completion`: what the engine's decoding writes after the
   prompt (` plan\\n`; generation stops at the newline, so every completion is made to end
   with one). Both are tokenized by llama.cpp's own tokenizer from the same file —
   exactly the tokens the engine evaluates: the prompt with BOS, the answer without.
   The loss is on the answer tokens only.
3. The output layer (a 262k-token vocabulary) runs only on the positions that predict an
   answer token: the hidden states are computed for every position, then `lm_head` is
   applied where the label is not ignored. That halves a step's time and most of its memory.
4. Batches are drawn shuffled, then grouped by length (less padding), in a shuffled order.
   LoRA (peft) on q/k/v/o and gate/up/down of every layer; AdamW; a linear schedule with a
   short warm-up; gradients clipped at 1. `torch.manual_seed(seed)` fixes the adapter's
   initialisation and the dropout, `random.Random(seed)` the order of the examples, so the
   same examples, settings and seed give the same adapter — to the bit with
   `deterministic=True` (one thread); with several threads torch's CPU kernels may sum in an
   order that varies from run to run, on some CPUs (docs/training.md).
5. The adapter is saved by peft (`adapter_config.json`, `adapter_model.safetensors`);
   `gguf_lora.write_gguf_lora` turns it into the GGUF LoRA llama.cpp loads.

torch, transformers and peft are the `train` extra; nothing else in HyperHub imports this
module, and it imports them only inside its functions.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import math
import os
import random
import resource
import shutil
import tempfile
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

from hyperhub.errors import HyperHubError

TRAIN_HINT = "install the train extra: pip install -e '.[train]'"
TARGET_MODULES = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")
IGNORE = -100  # the label of a position that is not trained on
END = "\n"  # where the engine's decoding stops (the plan grammar accepts at the newline)
GROUP = 32  # batches whose examples are sorted by length together
_CACHE_VERSION = "1"


class TrainUnavailable(HyperHubError):
    """Training cannot run: the `train` extra (torch, transformers, peft, gguf) is missing."""


def missing_train_packages() -> list[str]:
    """The `train` extra's packages that are not installed (empty when training can run)."""
    names = ("torch", "transformers", "peft", "gguf", "llama_cpp")
    return [n for n in names if importlib.util.find_spec(n) is None]


def require_train_packages() -> None:
    missing = missing_train_packages()
    if missing:
        raise TrainUnavailable(f"{', '.join(missing)} not installed; {TRAIN_HINT}")


@dataclass(frozen=True)
class LoraSettings:
    """The adapter's shape: rank, alpha (scale = alpha / rank), dropout, target modules."""

    rank: int = 16
    alpha: float = 32.0
    dropout: float = 0.05
    targets: tuple[str, ...] = TARGET_MODULES


@dataclass(frozen=True)
class Progress:
    """Reported after every optimizer step."""

    step: int  # 1-based
    total_steps: int
    epoch: int  # 1-based
    loss: float  # this step's mean loss per answer token
    lr: float
    tokens: int  # tokens evaluated so far (prompt + answer, no padding)
    elapsed_s: float  # training time so far (model loading excluded)
    tokens_per_s: float

    @property
    def eta_s(self) -> float:
        return self.elapsed_s / self.step * (self.total_steps - self.step) if self.step else 0.0


@dataclass
class TrainResult:
    """What `train` did; `model` is the trained peft model (for checks; not saved)."""

    adapter_dir: Path
    examples: int
    epochs: int
    steps: int
    batch_size: int
    lr: float
    seed: int
    lora: LoraSettings
    tokens: int  # tokens evaluated (prompt + answer, without padding), all steps
    answer_tokens: int  # of those, the ones trained on
    trainable_params: int
    load_s: float  # the base model into memory
    train_s: float  # the optimizer steps
    peak_rss_mb: float
    first_loss: float
    final_loss: float  # the mean loss of the last step
    losses: list[float] = field(default_factory=list)
    deterministic: bool = False  # one thread, deterministic kernels: reproducible to the bit
    model: Any = field(default=None, repr=False)

    @property
    def s_per_step(self) -> float:
        return self.train_s / self.steps if self.steps else 0.0

    @property
    def tokens_per_s(self) -> float:
        return self.tokens / self.train_s if self.train_s else 0.0

    def summary(self) -> dict[str, Any]:
        """The figures as plain JSON-able values (the model card and `--json` use these)."""
        return {
            "examples": self.examples,
            "epochs": self.epochs,
            "steps": self.steps,
            "batch_size": self.batch_size,
            "lr": self.lr,
            "seed": self.seed,
            "rank": self.lora.rank,
            "alpha": self.lora.alpha,
            "dropout": self.lora.dropout,
            "targets": list(self.lora.targets),
            "trainable_params": self.trainable_params,
            "tokens": self.tokens,
            "answer_tokens": self.answer_tokens,
            "load_s": round(self.load_s, 1),
            "train_s": round(self.train_s, 1),
            "s_per_step": round(self.s_per_step, 2),
            "tokens_per_s": round(self.tokens_per_s, 1),
            "peak_rss_mb": round(self.peak_rss_mb),
            "first_loss": round(self.first_loss, 4),
            "final_loss": round(self.final_loss, 4),
            "deterministic": self.deterministic,
        }


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# -- the base model and its tokenizer -------------------------------------------------------


def load_base(gguf_path: Path, cache_dir: Path | None = None) -> Any:
    """The GGUF model as a transformers causal LM in fp32, ready for peft.

    With `cache_dir`, the dequantized weights are kept there (about 1 GB for the 270M model,
    keyed by the file's path, size and mtime) and loaded from there next time."""
    require_train_packages()
    os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' own dequantizing bar (read once)
    import torch
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise TrainUnavailable(f"base model file {gguf_path} does not exist")
    cached = _cache_path(gguf_path, cache_dir) if cache_dir is not None else None
    if cached is not None and (cached / "model.safetensors").is_file():
        try:
            model = AutoModelForCausalLM.from_pretrained(cached, dtype=torch.float32)
            model.config.use_cache = False
            return model
        except (OSError, ValueError, RuntimeError):
            shutil.rmtree(cached, ignore_errors=True)  # unreadable: rebuild it below
    try:
        model = AutoModelForCausalLM.from_pretrained(
            gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32
        )
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise TrainUnavailable(f"cannot load {gguf_path} with transformers: {exc}") from None
    # A GGUF-loaded model counts as "quantized" (save_pretrained and peft treat it so), but its
    # weights are plain fp32 now: forget where they came from.
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    # torch types Module.__setattr__ for tensors and modules only; these are plain attributes
    loaded: Any = model
    loaded.hf_quantizer = None
    loaded.is_quantized = False
    model.config.use_cache = False
    if cached is not None:
        try:
            tmp = cached.with_name(f"{cached.name}.{os.getpid()}.tmp")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", FutureWarning)
                model.save_pretrained(tmp)
            shutil.rmtree(cached, ignore_errors=True)
            os.replace(tmp, cached)
        except OSError:
            shutil.rmtree(tmp, ignore_errors=True)  # only costs time next run
    return model


def _cache_path(gguf_path: Path, cache_dir: Path) -> Path:
    st = gguf_path.stat()
    ident = f"{_CACHE_VERSION}|{gguf_path.resolve()}|{st.st_size}|{st.st_mtime_ns}"
    key = hashlib.sha256(ident.encode()).hexdigest()[:16]
    return Path(cache_dir) / f"train-base-{key}"


class Tokenizer:
    """llama.cpp's tokenizer of the GGUF file (vocabulary only): the engine's exact tokens."""

    def __init__(self, gguf_path: Path) -> None:
        from hyperhub.assistant.llm import import_llama
        from hyperhub.assistant.model_files import quiet_llama

        llama_cpp = import_llama()
        with quiet_llama():
            self._llm = llama_cpp.Llama(model_path=str(gguf_path), vocab_only=True, verbose=False)
        self.eos = self._llm.token_eos()

    def encode(self, text: str, *, bos: bool) -> list[int]:
        return self._llm.tokenize(text.encode("utf-8"), add_bos=bos, special=False)

    def close(self) -> None:
        self._llm.close()


@dataclass(frozen=True)
class Encoded:
    ids: tuple[int, ...]
    n_prompt: int  # the first n_prompt ids are the prompt (not trained on)


def pair_of(example: Any) -> tuple[str, str]:
    """(prompt, what the model writes after it) of a `TrainExample` (its `completion`: a
    space, the plan, a newline) or of a (prompt, completion) pair. The completion is made to
    end at END, where the engine's decoding stops."""
    if isinstance(example, tuple | list):
        prompt, target = example[0], example[1]
    else:
        prompt = example.prompt
        target = getattr(example, "completion", None) or example.answer
    return prompt, target if target.endswith(END) else target + END


def encode_examples(tokenizer: Tokenizer, examples: Iterable[Any]) -> list[Encoded]:
    out = []
    for ex in examples:
        prompt, answer = pair_of(ex)
        p = tokenizer.encode(prompt, bos=True)
        a = tokenizer.encode(answer, bos=False)
        out.append(Encoded(tuple(p + a), len(p)))
    return out


# -- training --------------------------------------------------------------------------------


class TrainOptions(TypedDict, total=False):
    """The options of `train` a caller passes on (`hyperhub train`'s `run_training`); what
    each means, and its default, is `train`'s."""

    epochs: int
    batch_size: int
    lr: float
    rank: int
    alpha: float | None
    dropout: float
    seed: int
    max_steps: int | None
    warmup: float
    threads: int | None
    cache_dir: Path | None
    resume: Path | None
    deterministic: bool


def train(
    examples: Sequence[Any],
    base_model_path: Path,
    out_dir: Path,
    *,
    epochs: int = 2,
    batch_size: int = 8,
    lr: float = 2e-4,
    rank: int = 16,
    alpha: float | None = None,
    dropout: float = 0.05,
    seed: int = 0,
    max_steps: int | None = None,
    warmup: float = 0.03,
    threads: int | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    base: Any = None,
    cache_dir: Path | None = None,
    resume: Path | None = None,
    deterministic: bool = False,
) -> TrainResult:
    """Fine-tune a LoRA adapter on `examples` (`TrainExample`s, or (prompt, completion)
    pairs: see `pair_of`) and save it (peft format) in `out_dir`. `alpha` defaults to
    2 × rank. `max_steps` stops early. `base` is an already loaded base model (`load_base`;
    it gets the adapter's layers injected); otherwise the GGUF is loaded (cached in
    `cache_dir`, if given). `resume` is an adapter saved by an earlier run (peft format):
    training goes on from its weights, with its rank and alpha. `threads` caps torch's
    threads for this run; `deterministic` trains on one thread with torch's deterministic
    algorithms, so that a second run gives the same adapter to the bit (threaded CPU
    kernels need not: on some CPUs the same seed then agrees only to float noise). See the
    module docstring."""
    require_train_packages()
    if not examples:
        raise HyperHubError("no training examples")
    if epochs < 1 or batch_size < 1 or (max_steps is not None and max_steps < 1):
        raise HyperHubError("epochs, batch size and max steps must be at least 1")
    import torch
    from peft import LoraConfig, PeftModel, get_peft_model

    with thread_mode(threads, deterministic=deterministic), tempfile.TemporaryDirectory() as tmp:
        if resume is not None and Path(resume).suffix == ".gguf":  # e.g. the shipped adapter
            from hyperhub.assistant.training.gguf_lora import peft_from_gguf_lora

            resume = peft_from_gguf_lora(
                Path(resume), Path(tmp), base_gguf=Path(base_model_path), targets=TARGET_MODULES
            )
        if resume is not None:
            saved = read_adapter_config(Path(resume))
            rank, alpha = int(saved["r"]), float(saved["lora_alpha"])
        settings = LoraSettings(rank=rank, alpha=float(alpha or 2 * rank), dropout=dropout)
        t0 = time.perf_counter()
        tokenizer = Tokenizer(Path(base_model_path))
        try:
            encoded = encode_examples(tokenizer, examples)
        finally:
            tokenizer.close()
        model = base if base is not None else load_base(Path(base_model_path), cache_dir)
        load_s = time.perf_counter() - t0

        torch.manual_seed(seed)
        config = LoraConfig(
            r=settings.rank,
            lora_alpha=cast(int, settings.alpha),  # peft says int; a float works (alpha / r)
            lora_dropout=settings.dropout,
            target_modules=list(settings.targets),
            bias="none",
            task_type="CAUSAL_LM",
        )
        peft_model: PeftModel
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # transformers 5 deprecations peft calls
            if resume is None:
                peft_model = get_peft_model(model, config)
            else:
                peft_model = PeftModel.from_pretrained(model, str(resume), is_trainable=True)
        trainable = [p for p in peft_model.parameters() if p.requires_grad]
        n_trainable = sum(p.numel() for p in trainable)

        per_epoch = math.ceil(len(encoded) / batch_size)
        total = per_epoch * epochs if max_steps is None else min(max_steps, per_epoch * epochs)
        warm = min(int(total * warmup), 50)
        optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: (s + 1) / (warm + 1) if s < warm else (total - s) / (total - warm)
        )
        rng = random.Random(seed)
        inner = peft_model.get_base_model()
        softcap = getattr(inner.config, "final_logit_softcapping", None)
        peft_model.train()

        losses: list[float] = []
        tokens = answer_tokens = 0
        step = 0
        t1 = time.perf_counter()
        for epoch in range(1, epochs + 1):
            for rows in batches(encoded, batch_size, rng):
                if step >= total:
                    break
                batch = [encoded[i] for i in rows]
                ids, mask, labels = _collate(batch, torch)
                loss = _answer_loss(inner, ids, mask, labels, softcap, torch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(trainable, 1.0)
                lr_now = optimizer.param_groups[0]["lr"]
                optimizer.step()
                scheduler.step()
                step += 1
                losses.append(float(loss.detach()))
                tokens += int(mask.sum())
                answer_tokens += int((labels != IGNORE).sum())
                if on_progress is not None:
                    elapsed = time.perf_counter() - t1
                    on_progress(
                        Progress(
                            step=step,
                            total_steps=total,
                            epoch=epoch,
                            loss=losses[-1],
                            lr=lr_now,
                            tokens=tokens,
                            elapsed_s=elapsed,
                            tokens_per_s=tokens / elapsed if elapsed else 0.0,
                        )
                    )
        train_s = time.perf_counter() - t1
        peft_model.eval()

        out_dir = Path(out_dir)
        out_dir.mkdir(parents=True, exist_ok=True)
        with warnings.catch_warnings():  # transformers' deprecations; peft looking for config.json
            warnings.simplefilter("ignore")
            peft_model.save_pretrained(str(out_dir))
        _note_base(out_dir / "adapter_config.json", Path(base_model_path))
        return TrainResult(
            adapter_dir=out_dir,
            examples=len(encoded),
            epochs=epochs,
            steps=step,
            batch_size=batch_size,
            lr=lr,
            seed=seed,
            lora=settings,
            tokens=tokens,
            answer_tokens=answer_tokens,
            trainable_params=n_trainable,
            load_s=load_s,
            train_s=train_s,
            peak_rss_mb=peak_rss_mb(),
            first_loss=losses[0] if losses else math.nan,
            final_loss=losses[-1] if losses else math.nan,
            losses=losses,
            deterministic=deterministic,
            model=peft_model,
        )


@contextlib.contextmanager
def thread_mode(threads: int | None, *, deterministic: bool = False) -> Iterator[None]:
    """torch on at most `threads` threads (None: as it is), or on one thread with its
    deterministic algorithms; the earlier settings are restored afterwards."""
    import torch

    before = torch.get_num_threads()
    was_deterministic = torch.are_deterministic_algorithms_enabled()
    if deterministic:
        threads = 1
        torch.use_deterministic_algorithms(True)
    if threads:
        torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
        torch.use_deterministic_algorithms(was_deterministic)


def read_adapter_config(adapter_dir: Path) -> dict[str, Any]:
    """The peft config of a saved adapter (to go on training it), or a named error. Needs
    none of the train extra (the command checks `--resume` before anything heavy). A GGUF
    adapter file (the shipped one, or one `hyperhub train` wrote) is read back into peft's
    form when training starts; here its header is checked and its alpha returned."""
    if adapter_dir.suffix == ".gguf" and adapter_dir.is_file():
        from hyperhub.assistant.training.gguf_lora import adapter_header

        return adapter_header(adapter_dir)
    path = adapter_dir / "adapter_config.json"
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
        int(config["r"]), float(config["lora_alpha"])
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise HyperHubError(
            f"cannot go on from {adapter_dir}: no readable adapter_config.json ({exc}); "
            "give the folder `hyperhub train` wrote"
        ) from None
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise HyperHubError(
            f"cannot go on from {adapter_dir}: adapter_model.safetensors is missing"
        )
    return dict(config)


def batches(encoded: Sequence[Encoded], size: int, rng: random.Random) -> list[list[int]]:
    """One epoch's batches (indices into `encoded`): shuffled, then, within runs of
    `GROUP` batches, of similar lengths (the prompts run from ~50 to ~400 tokens, and a batch
    is padded to its longest: grouping halves the padding), in a shuffled order."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    out: list[list[int]] = []
    span = size * GROUP
    for start in range(0, len(order), span):
        run = sorted(order[start : start + span], key=lambda i: len(encoded[i].ids))
        out += [run[k : k + size] for k in range(0, len(run), size)]
    rng.shuffle(out)
    return out


def _collate(batch: list[Encoded], torch: Any) -> tuple[Any, Any, Any]:
    """Right-padded ids, attention mask and labels (IGNORE on the prompt and the padding)."""
    width = max(len(e.ids) for e in batch)
    ids = torch.zeros((len(batch), width), dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    for row, e in enumerate(batch):
        n = len(e.ids)
        ids[row, :n] = torch.tensor(e.ids)
        mask[row, :n] = 1
        labels[row, e.n_prompt : n] = ids[row, e.n_prompt : n]
    return ids, mask, labels


def _answer_loss(inner: Any, ids: Any, mask: Any, labels: Any, softcap: Any, torch: Any) -> Any:
    """Mean cross-entropy over the answer tokens; `lm_head` runs only where it is needed."""
    hidden = inner.model(input_ids=ids, attention_mask=mask, use_cache=False).last_hidden_state
    targets = labels[:, 1:]
    where = targets != IGNORE
    logits = inner.lm_head(hidden[:, :-1][where])
    if softcap:
        logits = torch.tanh(logits / softcap) * softcap
    return torch.nn.functional.cross_entropy(logits.float(), targets[where])


def _note_base(config_path: Path, base: Path) -> None:
    """Name the GGUF the adapter was trained on (peft writes the transformers directory)."""
    try:
        data = json.loads(config_path.read_text(encoding="utf-8"))
        data["base_model_name_or_path"] = base.name
        config_path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", "utf-8")
    except (OSError, ValueError):
        pass


def load_adapter(base: Any, adapter_dir: Path) -> Any:
    """A saved adapter (peft format) on a loaded base model, for evaluation."""
    require_train_packages()
    from peft import PeftModel

    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    return model
