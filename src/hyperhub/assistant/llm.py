"""The local LLM engine: a small GGUF model through llama-cpp-python, constrained to the catalog.

How one sentence is read:

1. The prompt is a fixed prefix — the space's catalog, the output format and a spread of
   examples generated from the space (`llm_prompt`) — then the few generated examples nearest
   to the sentence, then the sentence with the speaker's room. The prefix is evaluated once
   (at `load()`, or at the first `parse()`), and its KV cache is kept: each sentence only
   evaluates its own tokens.
2. Decoding is greedy and constrained token by token (`llm_constraint`): the model can only
   write the compact plan format with the space's device ids, their properties, actions and
   values of the right form. A token that is the grammar's only choice is taken without
   asking the model; it is evaluated together with the next real choice.
3. `Plan.confidence` is the lowest probability, under the model's full (unconstrained)
   distribution, among the tokens where the grammar left a real choice. A plan the model
   would not have written without the constraint gets a low confidence.

The model loads lazily: `LlmEngine(...)` is cheap; `load()` loads it now (and evaluates the
prefix), otherwise the first `parse()` does. `close()` frees it. The evaluated prefix is also
saved under `<data dir>/models/cache` (`model_files.ModelCache`), so the next start with the
same model and catalog restores it instead of evaluating it again.

With a LoRA adapter (`lora_path`; by default the catalog-tuned adapter shipped in the package,
when the default model is used) the engine reads in the *tuned* way instead: the prompt is the
short one the adapter was trained on (`llm_tuned.tuned_prompt`: only the devices the sentence
may mean, then the sentence; ~100 tokens, evaluated whole for each sentence, no few-shot
examples), and decoding is constrained to the devices that prompt shows. See
docs/training.md.

The default model untuned is a small base model: it finds the right device and property for
plain commands but often gets on/off and lock/unlock backwards, so callers should act on its
plans only above a confidence threshold (see `bench/llm_probe.py` for the figures).
"""

from __future__ import annotations

import importlib.util
import logging
import math
import os
import re
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from hyperhub.assistant.llm_constraint import PlanGrammar, TokenConstraint
from hyperhub.assistant.llm_probe import require_llm
from hyperhub.assistant.llm_prompt import (
    Example,
    ExampleIndex,
    ExampleMaker,
    fixed_examples,
    is_chinese,
    prefix_text,
    render_query,
)
from hyperhub.assistant.llm_tuned import candidates, render_tuned
from hyperhub.assistant.lora_merge import MergeUnavailable, merged_model
from hyperhub.assistant.model_files import (
    ModelCache,
    default_adapter_path,
    models_dir,
    quiet_llama,
)
from hyperhub.assistant.plan import Lang, Plan, Question, Step
from hyperhub.errors import ModelUnavailable
from hyperhub.space.model import Space

log = logging.getLogger(__name__)

MAX_TOKENS = 96  # generated tokens per sentence; a plan of five steps needs about 60
DEFAULT = "default"  # lora_path: the shipped adapter with the default model, else none
TUNED_CTX = 2048  # the tuned prompt stays under ~800 tokens (the sentence is cut at 300 chars)
_GRAMMARS = 64  # restricted grammars kept (keyed by the devices a prompt shows)
_ITEM = re.compile(r"^([a-z0-9_]+)\.([a-z0-9_]+)(\?|=|\+=|-=|\()(.*)$", re.S)


@dataclass
class LlmStats:
    """Token counts and timings, for tests and benchmarks (not for behaviour)."""

    load_s: float = 0.0  # model + vocabulary + catalog prefix
    probe_s: float = 0.0  # the test run in a child process (llm_probe; ~0 when cached)
    model_s: float = 0.0  # the model file into memory and its vocabulary
    prefix_s: float = 0.0  # the catalog prefix: evaluated, or restored from the disk cache
    prefix_cached: bool = False
    merged: bool = False  # the adapter merged into the weights (else applied at run time)
    prefix_tokens: int = 0
    prefix_evaluations: int = 0  # how often the fixed prefix was evaluated (1 after loading)
    evaluated_tokens: int = 0  # every token given to the model, prefix included
    last_prompt_tokens: int = 0  # the last sentence's own prompt tokens (examples + sentence)
    last_reused_tokens: int = 0  # tuned: of those, the ones the previous prompt began with too
    last_generated_tokens: int = 0
    last_sampled_tokens: int = 0  # of those, the ones the model chose (the rest were forced)
    last_output: str = ""
    last_ms: float = 0.0
    last_choices: list[tuple[str, float, float]] = field(default_factory=list)


class LlmEngine:
    """Reads sentences into `Plan`s with a local GGUF model; see the module docstring."""

    def __init__(
        self,
        space: Space,
        model_path: Path | None = None,
        *,
        threads: int = 2,
        fixed_count: int = 12,
        nearest_count: int = 4,
        max_tokens: int = MAX_TOKENS,
        seed: int = 7,
        cache_dir: Path | None = None,
        lora_path: Path | str | None = DEFAULT,
        merge: bool = True,
        probe: bool = True,
    ) -> None:
        """`model_path` None means the default model (`model_files.default_model_path`).
        `lora_path` is a GGUF LoRA adapter for it (`hyperhub train`, docs/training.md);
        `"default"` means the adapter shipped in the package when the model is the default
        one (`model_files.default_adapter_path`; none for another model), None means no
        adapter: the base model with the few-shot prompt. Without an adapter, `fixed_count`
        examples sit in the cached prefix; `nearest_count` more, the ones nearest to each
        sentence, are evaluated with it.
        `cache_dir` keeps the model's vocabulary and the evaluated prefix between runs
        (default `<data dir>/models/cache`), and the model with the adapter merged into its
        weights (`lora_merge`; `merge=False` applies the adapter at run time instead).
        `probe` first test-runs the model in a child process (`llm_probe`), so that a
        llama.cpp build this CPU cannot run fails with `ModelUnavailable` instead of
        killing this process."""
        if lora_path == DEFAULT:
            lora_path = default_adapter_path(model_path)
        self.space = space
        self.model_path = model_path
        self.threads = threads
        self.cache_dir = cache_dir
        self.lora_path: Path | None = None if lora_path is None else Path(lora_path)
        self.tuned = self.lora_path is not None
        self.merge = merge
        self.probe = probe
        self.max_tokens = max_tokens
        self.nearest_count = nearest_count
        if self.tuned:
            self.fixed: list[Example] = []
            self.index = ExampleIndex([])
            self.prefix = ""
        else:
            examples = ExampleMaker(space, seed=seed).all()
            self.fixed = fixed_examples(examples, fixed_count)
            chosen = set(self.fixed)
            self.index = ExampleIndex([e for e in examples if e not in chosen])
            self.prefix = prefix_text(space, self.fixed)
        self.grammar = PlanGrammar(space)
        self._restricted: dict[frozenset[str], TokenConstraint] = {}
        self.stats = LlmStats()
        self._llm: Any = None
        self._constraint: TokenConstraint | None = None
        self._pieces: list[str | None] = []
        self._n_prefix = 0
        self._kv_prompt: list[int] = []  # tuned: the prompt whose keys and values are cached
        self._lock = threading.Lock()

    # -- lifecycle -----------------------------------------------------------------------

    @property
    def loaded(self) -> bool:
        return self._llm is not None

    def load(self) -> None:
        """Load the model, read its vocabulary and evaluate the prefix (once)."""
        with self._lock:
            self._load()

    def _load(self) -> None:
        if self._llm is not None:
            return
        path = self.model_path
        if path is None:
            from hyperhub.assistant.model_files import default_model_path

            path = default_model_path()
        if not Path(path).is_file():
            raise ModelUnavailable(f"model file {path} does not exist")
        if self.lora_path is not None and not Path(self.lora_path).is_file():
            # (llama.cpp crashes on a missing adapter file instead of failing)
            raise ModelUnavailable(f"adapter file {self.lora_path} does not exist")
        if importlib.util.find_spec("llama_cpp") is None:
            import_llama()  # raises ModelUnavailable, saying what to install
        if self.probe:
            # a build that would crash this process (SIGILL on a CPU it was not built for)
            # crashes a child instead; cached per build, model and CPU (llm_probe)
            t = time.perf_counter()
            require_llm(Path(path), cache_dir=self._cache_root(), threads=self.threads)
            self.stats.probe_s = time.perf_counter() - t
        llama_cpp = import_llama()  # only now: importing it is loading native code
        t0 = time.perf_counter()
        lora = self.lora_path
        base = Path(path)
        if lora is not None and self.merge:
            try:
                path = merged_model(base, lora, self._cache_root())
                lora = None
                self.stats.merged = True
            except MergeUnavailable as exc:
                log.info("the adapter is applied at run time (slower): %s", exc)
        if self.tuned:
            n_ctx = TUNED_CTX
        else:
            n_ctx = min(32768, _round_up(len(self.prefix.encode()) // 2 + 2048, 256))
        try:
            llm = self._open(llama_cpp, path, n_ctx, lora)
        except (ValueError, RuntimeError, OSError) as exc:
            if not (self.stats.merged and not Path(path).is_file()):
                raise ModelUnavailable(f"cannot load the model {path}: {exc}") from None
            # another process pruned this merge between finding and opening it: once more
            assert self.lora_path is not None
            try:
                path = merged_model(base, self.lora_path, self._cache_root())
                llm = self._open(llama_cpp, path, n_ctx, None)
            except (MergeUnavailable, ValueError, RuntimeError, OSError) as exc2:
                raise ModelUnavailable(f"cannot load the model {path}: {exc2}") from None
        cache = ModelCache(Path(path), self._cache_root())
        self._pieces = cache.vocabulary(llm)
        self._constraint = TokenConstraint(self.grammar, self._pieces)
        self._restricted = {}
        if self.tuned:
            # no shared prefix: each sentence's prompt starts with BOS and is evaluated whole
            self._llm = llm
            self._n_prefix = 0
            self.stats.model_s = self.stats.load_s = time.perf_counter() - t0
            return
        tokens = llm.tokenize(self.prefix.encode(), add_bos=True, special=False)
        if len(tokens) + 1024 > llm.n_ctx():
            raise ModelUnavailable(
                f"the space's catalog is {len(tokens)} tokens; the context ({llm.n_ctx()}) "
                f"is too small"
            )
        self._llm = llm
        self._n_prefix = len(tokens)
        self.stats.prefix_tokens = len(tokens)
        t1 = time.perf_counter()
        self.stats.model_s = t1 - t0
        # the saved prefix states are keyed by the model file only: not used with an adapter
        keep = self.lora_path is None
        self.stats.prefix_cached = keep and cache.load_prefix(llm, tokens)
        if not self.stats.prefix_cached:
            llm.eval(tokens)
            self.stats.prefix_evaluations += 1
            self.stats.evaluated_tokens += len(tokens)
            if keep:
                cache.save_prefix(llm, tokens)
        self.stats.prefix_s = time.perf_counter() - t1
        self.stats.load_s = time.perf_counter() - t0

    def _open(self, llama_cpp: Any, path: Path | str, n_ctx: int, lora: Path | None) -> Any:
        with quiet_llama():  # this thread's output only (verbose=False would mute them all)
            llm = llama_cpp.Llama(
                model_path=str(path),
                n_ctx=n_ctx,
                n_batch=512,
                swa_full=True,  # keep the whole prefix in the sliding-window layers' cache too
                n_threads=self.threads,
                n_threads_batch=self.threads,
                logits_all=False,
                verbose=True,
                lora_path=str(lora) if lora is not None else None,
            )
        llm.verbose = False  # nothing more to say, whatever it does later
        return llm

    def _cache_root(self) -> Path:
        return self.cache_dir if self.cache_dir is not None else models_dir() / "cache"

    def close(self) -> None:
        """Free the model and its context; a later `parse()` loads it again."""
        with self._lock:
            if self._llm is not None:
                self._llm.close()
            self._llm = None
            self._constraint = None
            self._kv_prompt = []

    def __enter__(self) -> LlmEngine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- reading a sentence ----------------------------------------------------------------

    def prompt_for(self, text: str, area: str | None) -> str:
        """The per-sentence part of the prompt: the tuned prompt with an adapter; without,
        the nearest examples, then the sentence (after the cached prefix)."""
        if self.tuned:
            return self._tuned_prompt(text, area)[0]
        near = self.index.nearest(text, self.nearest_count, area)
        return "".join(e.render() for e in near) + render_query(text, area)

    def parse(
        self, text: str, *, area: str | None = None, state: dict[str, dict] | None = None
    ) -> Plan:
        """Read `text` (said in `area`, if known) into a plan. `state` is the current state;
        this engine does not need it (relative changes come out as `delta`)."""
        del state
        lang: Lang = "zh" if is_chinese(text) else "en"
        if not text.strip():
            self.stats.last_output = ""
            self.stats.last_choices = []
            return Plan(engine="llm", confidence=0.0, lang=lang)
        if area is not None and area not in self.space.areas:
            area = None
        t0 = time.perf_counter()
        with self._lock:
            self._load()
            if self.tuned:
                prompt, shown = self._tuned_prompt(text, area)
                output, choices = self._generate(prompt, self._constraint_for(shown))
            else:
                output, choices = self._generate(self.prompt_for(text, area))
        steps, questions, complete = parse_compact(output, self.space)
        probs = [p for _, p, _ in choices]
        confidence = min(probs) if probs else 1.0
        if not complete:
            confidence = 0.0
        self.stats.last_ms = (time.perf_counter() - t0) * 1000
        self.stats.last_choices = choices
        return Plan(
            steps=steps,
            questions=questions,
            engine="llm",
            confidence=float(max(0.0, min(1.0, confidence))),
            lang=lang,
        )

    def _tuned_prompt(self, text: str, area: str | None) -> tuple[str, list[str]]:
        """The tuned prompt and the devices it shows (the only ones decoding may name)."""
        shown = candidates(self.space, text, area)
        return render_tuned(self.space, shown, text, area), shown.devices

    def _constraint_for(self, devices: list[str]) -> TokenConstraint:
        """The token constraint that allows only `devices` (the ones the prompt shows)."""
        key = frozenset(devices)
        found = self._restricted.get(key)
        if found is None:
            assert self._constraint is not None
            found = self._constraint.sharing(PlanGrammar(self.space, key))
            if len(self._restricted) >= _GRAMMARS:
                self._restricted.pop(next(iter(self._restricted)))
            self._restricted[key] = found
        return found

    def _rewind(self, llm: Any, tokens: list[int]) -> int:
        """Forget the last sentence and keep the prefix's KV cache (or evaluate it again if
        the cache cannot drop just the tail). Tuned, there is no fixed prefix: keep the
        tokens the last prompt shares with `tokens` from their start (the same devices
        listed first), as llama.cpp's server reuses a prompt cache. Returns how many of
        `tokens` are in the cache already."""
        import llama_cpp

        memory = llama_cpp.llama_get_memory(llm.ctx)
        if self.tuned:
            keep = min(_common_prefix(self._kv_prompt, tokens), len(tokens) - 1)
            self._kv_prompt = []
            if keep > 0 and llama_cpp.llama_memory_seq_rm(memory, 0, keep, -1):
                llm.n_tokens = keep
                return keep
            llama_cpp.llama_memory_clear(memory, True)
            llm.n_tokens = 0
            return 0
        if self._n_prefix == 0:
            llama_cpp.llama_memory_clear(memory, True)
            llm.n_tokens = 0
            return 0
        if llama_cpp.llama_memory_seq_rm(memory, 0, self._n_prefix, -1):
            llm.n_tokens = self._n_prefix
            return 0
        llama_cpp.llama_memory_clear(memory, True)
        llm.n_tokens = 0
        tokens = llm.tokenize(self.prefix.encode(), add_bos=True, special=False)
        llm.eval(tokens)
        self.stats.prefix_evaluations += 1
        self.stats.evaluated_tokens += len(tokens)
        return 0

    def _generate(
        self, prompt: str, constraint: TokenConstraint | None = None
    ) -> tuple[str, list[tuple[str, float, float]]]:
        """Greedy constrained decoding after the cached prefix (tuned: after BOS). Returns the
        text written and, for each real choice, (token, probability under the full
        distribution, probability among the allowed tokens)."""
        llm = self._llm
        constraint = constraint or self._constraint
        assert llm is not None and constraint is not None
        grammar = constraint.grammar
        tokens = llm.tokenize(prompt.encode(), add_bos=self.tuned, special=False)
        keep = self._rewind(llm, tokens)
        llm.eval(tokens[keep:])
        if self.tuned:
            self._kv_prompt = list(tokens)
        self.stats.evaluated_tokens += len(tokens) - keep
        self.stats.last_prompt_tokens = len(tokens)
        self.stats.last_reused_tokens = keep
        configs = grammar.initial()
        out: list[str] = []
        choices: list[tuple[str, float, float]] = []
        pending: list[int] = []
        generated = 0
        while generated < self.max_tokens and not grammar.accepted(configs):
            allowed = constraint.allowed(configs)
            if len(allowed) == 0:
                break
            if len(allowed) == 1:
                token = int(allowed[0])  # no choice: no need to look at the model
            else:
                if pending:
                    llm.eval(pending)
                    self.stats.evaluated_tokens += len(pending)
                    pending = []
                logits = _last_logits(llm)
                sub = logits[allowed]
                best = int(np.argmax(sub))
                token = int(allowed[best])
                top = float(sub[best])
                p_full = math.exp(top - _logsumexp(logits))
                p_allowed = math.exp(top - _logsumexp(sub))
                choices.append((self._pieces[token] or "", p_full, p_allowed))
            piece = self._pieces[token] or ""
            pending.append(token)
            out.append(piece)
            configs = grammar.feed(configs, piece)
            generated += 1
            if ";" in piece and _repeats("".join(out)):
                break  # the model started over with an item it already wrote
        text = "".join(out)
        if _repeats(text):
            text = ";".join(dict.fromkeys(text.split(";")[:-1])) + "\n"
        self.stats.last_generated_tokens = generated
        self.stats.last_sampled_tokens = len(choices)
        self.stats.last_output = text
        return text, choices


def _common_prefix(a: list[int], b: list[int]) -> int:
    """How many tokens `a` and `b` share from their start."""
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


def _repeats(text: str) -> bool:
    """True when the last finished item of `text` repeats an earlier one."""
    done = text.split(";")[:-1]
    return len(done) > 1 and done[-1].strip() in {d.strip() for d in done[:-1]}


def parse_compact(text: str, space: Space) -> tuple[list[Step], list[Question], bool]:
    """Read the compact plan format into steps and questions. Items that do not name the
    catalog's devices, properties or actions are dropped; `complete` is False when the text
    did not end with a newline (the model was cut off) or an item had to be dropped."""
    complete = text.endswith("\n")
    body = text.strip()
    steps: list[Step] = []
    questions: list[Question] = []
    if body == "none" or not body:
        return steps, questions, complete
    for raw in body.split(";"):
        item = _read_item(raw.strip(), space)
        if item is None:
            complete = False
        elif isinstance(item, Question):
            if item not in questions:
                questions.append(item)
        elif item not in steps:
            steps.append(item)
    return steps, questions, complete


def _read_item(raw: str, space: Space) -> Step | Question | None:
    m = _ITEM.match(raw)
    if not m or m.group(1) not in space.devices:
        return None
    dev_id, name, op, rest = m.groups()
    dev = space.devices[dev_id]
    if op == "(":
        if name not in dev.dtype.actions or not rest.endswith(")"):
            return None
        args: dict[str, Any] = {}
        spec = dev.dtype.actions[name]
        inner = rest[:-1]
        if inner:
            for part in inner.split(","):
                key, _, value = part.partition("=")
                arg = next((a for a in spec.args if a.name == key), None)
                if arg is None:
                    return None
                args[key] = _value(arg.kind, value)
        return Step(device=dev_id, action=name, args=args)
    prop = dev.dtype.properties.get(name)
    if prop is None:
        return None
    if op == "?":
        return Question(device=dev_id, property=name) if not rest else None
    if op in ("+=", "-="):
        try:
            delta = float(rest)
        except ValueError:
            return None
        return Step(device=dev_id, property=name, delta=delta if op == "+=" else -delta)
    return Step(device=dev_id, property=name, value=_value(prop.kind, rest))


def _value(kind: str, raw: str) -> Any:
    if kind == "bool":
        return raw == "true"
    if kind in ("int", "float"):
        try:
            x = float(raw)
        except ValueError:
            return raw
        return int(x) if kind == "int" and x.is_integer() else x
    return raw.strip()


def import_llama() -> Any:
    """Import llama_cpp with 2-core-friendly OpenMP settings, or say what to install."""
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # busy-waiting threads starve others
    try:
        import llama_cpp
    except ImportError as exc:
        raise ModelUnavailable(
            "the local LLM needs llama-cpp-python: pip install 'hyperhub[llm]' "
            f"(or pip install llama-cpp-python) ({exc})"
        ) from None
    return llama_cpp


def _last_logits(llm: Any) -> np.ndarray:
    import llama_cpp

    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),))


def _logsumexp(x: np.ndarray) -> float:
    m = float(np.max(x))
    return m + math.log(float(np.sum(np.exp(x - m))))


def _round_up(n: int, k: int) -> int:
    return (n + k - 1) // k * k
