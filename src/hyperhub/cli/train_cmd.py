"""`hyperhub train`: fine-tune the local model on generated commands, write a GGUF LoRA adapter.

    hyperhub train [--examples N] [--epochs E] [--seed S] [--out DIR] [--max-steps K]
                   [--batch-size B] [--lr LR] [--rank R] [--holdout H] [--model GGUF]

It generates N examples (`hyperhub.assistant.training.generate`), trains a LoRA adapter on
the CPU (`training.lora`) with a progress bar, and writes into DIR:

    adapter.gguf                      the adapter for llama.cpp (`LlmEngine(lora_path=…)`)
    adapter_config.json, adapter_model.safetensors   the same adapter for peft
    train.json                        every figure below, for scripts
    model-card.md                     data, configuration, time, memory, checks, scores

After training it checks that llama.cpp with adapter.gguf gives the same next-token logits
as torch + peft, and with `--holdout H` it scores the base and the tuned model on H
examples generated from another seed (greedy decoding, exact match).

torch, transformers and peft are the `train` extra: this module imports them (through
`training.lora`) only inside the command, so the rest of the CLI never does.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import platform
import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Unpack

import typer
from rich.console import Console

from hyperhub.cli.options import DataOpt, JsonOpt
from hyperhub.cli.say import err
from hyperhub.errors import HyperHubError

if TYPE_CHECKING:
    from hyperhub.assistant.training.lora import TrainOptions

CHECK_PROMPTS = 4  # training prompts the logits check runs


def train(
    examples: Annotated[int, typer.Option("--examples", "-n", help="Examples to generate.")] = 3000,
    epochs: Annotated[int, typer.Option(help="Passes over the examples.")] = 2,
    seed: Annotated[int, typer.Option(help="Seeds the data, the adapter and the order.")] = 0,
    out: Annotated[Path, typer.Option("--out", "-o", help="Where to write the adapter.")] = Path(
        "hyperhub-lora"
    ),
    max_steps: Annotated[
        int | None, typer.Option("--max-steps", help="Stop after this many steps.")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Examples per step.")] = 8,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate (AdamW).")] = 2e-4,
    rank: Annotated[int, typer.Option(help="LoRA rank (alpha = 2 × rank).")] = 16,
    holdout: Annotated[
        int,
        typer.Option(help="Score base and tuned model on this many examples of another seed."),
    ] = 0,
    model: Annotated[
        Path | None, typer.Option("--model", help="Base GGUF (default: the default model).")
    ] = None,
    resume: Annotated[
        Path | None,
        typer.Option(
            "--resume",
            help="Go on training the adapter an earlier run wrote into this folder, or a "
            "GGUF adapter file such as the shipped one (its rank and alpha); use another "
            "--seed for new examples.",
        ),
    ] = None,
    mix: Annotated[
        str,
        typer.Option(
            "--mix",
            help="Kinds of requests generated: 'catalog' (everyday proportions), 'focus' "
            "(true/false properties and actions balanced by name, more groups and "
            "multi-commands), 'groups' (as focus, a third of them groups of two or more) or "
            "'everyday' (feelings, implied requests, negations, how many / are all); for "
            "further stages with --resume.",
        ),
    ] = "catalog",
    deterministic: Annotated[
        bool,
        typer.Option(
            "--deterministic",
            help="Train on one thread with deterministic kernels: the same seed gives the "
            "same adapter to the bit (slower; threaded runs may differ by float noise).",
        ),
    ] = False,
    data_dir: DataOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fine-tune the local model (LoRA, on the CPU) on generated commands and write a GGUF
    adapter; needs the train extra (torch, transformers, peft, gguf): see docs/training.md."""
    from hyperhub.assistant.training import lora
    from hyperhub.assistant.training.data import check_mix

    check_mix(mix)
    lora.require_train_packages()
    if examples < 1 or holdout < 0:
        raise HyperHubError("--examples must be at least 1 and --holdout not negative")
    from hyperhub.assistant.model_files import default_model_path, models_dir
    from hyperhub.assistant.training import generate

    base = model if model is not None else default_model_path(data_dir)
    if not base.is_file():
        raise HyperHubError(f"base model file {base} does not exist")
    if resume is not None:
        lora.read_adapter_config(resume)
    t0 = time.perf_counter()
    data = generate(examples, seed, mix=mix)
    held = generate(holdout, seed + 1_000_003) if holdout else []
    err.print(
        f"{len(data)} examples generated in {time.perf_counter() - t0:.1f} s"
        + (f" (+{len(held)} held out)" if held else ""),
        highlight=False,
    )
    with _Bar(err) as bar:
        summary = run_training(
            data,
            base,
            out,
            epochs=epochs,
            batch_size=batch_size,
            lr=lr,
            rank=rank,
            seed=seed,
            max_steps=max_steps,
            holdout=held,
            data_info={
                "generator": "hyperhub.assistant.training.generate",
                "seed": seed,
                **({"mix": mix} if mix != "catalog" else {}),
            },
            cache_dir=models_dir(data_dir) / "cache",
            resume=resume,
            deterministic=deterministic,
            on_progress=bar.update,
            on_stage=bar.stage,
        )
    if as_json:
        print(json.dumps(summary, ensure_ascii=False))
        return
    t = summary["training"]
    check = summary["logits_check"]
    lines = [
        f"adapter: {summary['files']['gguf']} ({summary['files']['gguf_bytes'] / 1e6:.1f} MB)",
        f"{t['steps']} steps in {t['train_s']:.0f} s ({t['s_per_step']:.1f} s/step, "
        f"{t['tokens_per_s']:.0f} tokens/s), loss {t['first_loss']:.3f} → {t['final_loss']:.3f}, "
        f"peak RSS {t['peak_rss_mb'] / 1024:.1f} GB",
        f"llama.cpp vs torch+peft: max |Δlogit| {check['max_abs_diff']:.3f} "
        f"(base alone {check['base_diff']:.3f}), adapter effect {check['adapter_effect']:.2f}",
    ]
    if "scores" in summary:
        s = summary["scores"]
        lines.append(
            f"held out: base {s['base']['correct']}/{s['base']['total']}, "
            f"tuned {s['tuned']['correct']}/{s['tuned']['total']}"
        )
    lines.append(f"model card: {summary['files']['card']}")
    for line in lines:
        print(line)


class _Bar:
    """The Rich progress bar: steps, loss, tokens/s, elapsed, ETA; stages as status lines."""

    def __init__(self, console: Console) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = console
        self.progress = Progress(
            TextColumn("[bold]training[/]"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TextColumn("{task.fields[tps]} tok/s"),
            TextColumn("{task.fields[elapsed]} elapsed, ETA {task.fields[eta]}"),
            console=console,
            transient=False,
        )
        self.task: Any = None

    def __enter__(self) -> _Bar:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.task is not None:
            self.progress.stop()

    def stage(self, text: str) -> None:
        if self.task is not None:
            self.progress.stop()
            self.task = None
        self.console.print(text, highlight=False)

    def update(self, p: Any) -> None:
        if not self.console.is_terminal:
            # a log file or CI: a plain line every 5 % (a live bar only shows at the end)
            every = max(1, p.total_steps // 20)
            if p.step % every == 0 or p.step >= p.total_steps:
                self.console.print(
                    f"step {p.step}/{p.total_steps}  loss {p.loss:.3f}  "
                    f"{p.tokens_per_s:.0f} tok/s  {_clock(p.elapsed_s)} elapsed, "
                    f"ETA {_clock(p.eta_s)}",
                    highlight=False,
                )
            return
        if self.task is None:
            self.progress.start()
            self.task = self.progress.add_task(
                "train", total=p.total_steps, loss="-", tps="-", elapsed="-", eta="-"
            )
        self.progress.update(
            self.task,
            completed=p.step,
            loss=f"{p.loss:.3f}",
            tps=f"{p.tokens_per_s:.0f}",
            elapsed=_clock(p.elapsed_s),
            eta=_clock(p.eta_s),
        )
        if p.step >= p.total_steps:
            self.progress.stop()
            self.task = None


def _clock(seconds: float) -> str:
    s = round(seconds)
    return f"{s // 3600}:{s // 60 % 60:02d}:{s % 60:02d}"


def run_training(
    examples: Sequence[Any],
    base_gguf: Path,
    out: Path,
    *,
    holdout: Sequence[Any] = (),
    data_info: dict[str, Any] | None = None,
    base_model: Any = None,
    on_progress: Callable[[Any], None] | None = None,
    on_stage: Callable[[str], None] | None = None,
    **options: Unpack[TrainOptions],
) -> dict[str, Any]:
    """Train (`lora.train` with these `options`: epochs, batch size, learning rate, rank,
    seed, …), write adapter.gguf, check it against torch + peft, score the held-out examples
    (if any), write train.json and model-card.md into `out`; return the summary."""
    from hyperhub.assistant.training import gguf_lora, lora

    stage = on_stage or (lambda _text: None)
    out = Path(out)
    started = dt.datetime.now(dt.UTC)
    if base_model is None:
        stage(f"loading {base_gguf.name} (fp32; the first time ~1 min, then cached)")
    result = lora.train(
        examples, base_gguf, out, on_progress=on_progress, base=base_model, **options
    )
    resume = options.get("resume")
    stage("writing adapter.gguf and checking it in llama.cpp")
    info = gguf_lora.write_gguf_lora(out, out / "adapter.gguf", base_gguf=base_gguf)
    prompts = [lora.pair_of(e)[0] for e in list(examples)[:CHECK_PROMPTS]]
    check = gguf_lora.compare_logits(base_gguf, info.path, result.model, prompts)
    summary: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "base_model": base_gguf.name,
        "data": {**(data_info or {}), **describe(examples)},
        "training": {**result.summary(), "resumed_from": None if resume is None else str(resume)},
        "logits_check": check.as_dict(),
        "files": {
            "gguf": str(info.path),
            "gguf_bytes": info.size_bytes,
            "gguf_tensors": info.tensors,
            "card": str(out / "model-card.md"),
        },
        "machine": {"python": platform.python_version(), "cpu": platform.machine()},
        "versions": _versions(),
    }
    if holdout:
        stage(f"scoring base and tuned model on {len(holdout)} held-out examples")
        pairs = [lora.pair_of(e) for e in holdout]
        scores = {
            "base": gguf_lora.exact_match(base_gguf, pairs),
            "tuned": gguf_lora.exact_match(base_gguf, pairs, lora_path=info.path),
        }
        summary["scores"] = {
            k: {
                "correct": s.correct,
                "total": s.total,
                "rate": round(s.rate, 3),
                "ms_per_example": round(s.ms_per_example),
                "misses": [list(m) for m in s.misses],
            }
            for k, s in scores.items()
        }
    (out / "train.json").write_text(
        json.dumps(summary, ensure_ascii=False, indent=2) + "\n", encoding="utf-8"
    )
    (out / "model-card.md").write_text(model_card(summary), encoding="utf-8")
    return summary


def describe(examples: Sequence[Any]) -> dict[str, Any]:
    """Size of the data and, for `TrainExample`s, how many of each language and kind."""
    d: dict[str, Any] = {"examples": len(examples)}
    for field in ("lang", "kind"):
        counts = Counter(getattr(e, field, None) for e in examples)
        counts.pop(None, None)
        if counts:
            d[f"{field}s"] = dict(counts.most_common())
    return d


def _versions() -> dict[str, str]:
    """The packages' versions, and the HyperHub source the data came from: the generator's
    output is reproducible from its seed and mix for one version of the phrasing grammar."""
    from importlib.metadata import PackageNotFoundError, version

    found = {}
    for name in ("torch", "transformers", "peft", "gguf", "llama_cpp_python"):
        with contextlib.suppress(PackageNotFoundError):
            found[name] = version(name)
    commit = _source_commit()
    if commit:
        found["hyperhub_commit"] = commit
    return found


def _source_commit() -> str | None:
    """The git commit of the checkout HyperHub runs from (`+dirty` with uncommitted
    changes), or None outside a checkout."""
    import subprocess

    root = Path(__file__).resolve().parents[3]
    if not (root / ".git").exists():
        return None
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--untracked-files=no"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def model_card(s: dict[str, Any]) -> str:
    """The model card: Markdown, from a `run_training` summary."""
    t, d, c = s["training"], s["data"], s["logits_check"]
    rows = [
        ("base model", f"`{s['base_model']}`"),
        ("adapter", f"LoRA r={t['rank']}, alpha={t['alpha']:g}, dropout={t['dropout']:g}"),
        ("adapted layers", ", ".join(t["targets"]) + " (every block)"),
        ("trainable parameters", f"{t['trainable_params']:,}"),
        ("optimizer", f"AdamW, lr {t['lr']:g}, linear schedule, batch {t['batch_size']}"),
        ("epochs / steps", f"{t['epochs']} / {t['steps']}"),
        ("seed", str(t["seed"])),
    ]
    if t.get("resumed_from"):
        rows.append(("went on from", f"`{t['resumed_from']}` (an earlier run's adapter)"))
    figures = [
        ("started", s["started"]),
        ("base model load", f"{t['load_s']:.1f} s"),
        ("training", f"{t['train_s']:.1f} s ({t['s_per_step']:.2f} s/step)"),
        ("tokens", f"{t['tokens']:,} ({t['answer_tokens']:,} trained on), "
                   f"{t['tokens_per_s']:.0f} tokens/s"),
        ("peak RSS", f"{t['peak_rss_mb']:,} MB"),
        ("loss", f"{t['first_loss']:.4f} (first step) → {t['final_loss']:.4f} (last step)"),
        ("adapter.gguf", f"{s['files']['gguf_bytes'] / 1e6:.2f} MB, "
                         f"{s['files']['gguf_tensors']} tensors (f16)"),
        ("machine", f"{s['machine']['cpu']}, Python {s['machine']['python']}, "
                    + ", ".join(f"{k} {v}" for k, v in s["versions"].items())),
    ]  # fmt: skip
    data_rows = [("examples", f"{d['examples']:,}")]
    for key in ("generator", "seed", "mix"):
        if key in d:
            data_rows.append((key, f"`{d[key]}`" if key == "generator" else str(d[key])))
    for key in ("langs", "kinds"):
        if key in d:
            data_rows.append((key[:-1], ", ".join(f"{k} {v}" for k, v in d[key].items())))

    def table(pairs: list[tuple[str, str]]) -> str:
        return "| | |\n|---|---|\n" + "".join(f"| {k} | {v} |\n" for k, v in pairs)

    parts = [
        "# HyperHub catalog-tuned LoRA adapter\n",
        "A LoRA adapter for the local model that reads a home's commands into HyperHub's "
        "compact plan format (`hyperhub train`). Load it with "
        "`LlmEngine(space, lora_path=Path('adapter.gguf'))` or "
        "`llama_cpp.Llama(model_path=BASE, lora_path='adapter.gguf')`.\n",
        "## Data\n",
        table(data_rows),
        "## Configuration\n",
        table(rows),
        "## Run\n",
        table(figures),
        "## Check: llama.cpp + adapter.gguf against torch + peft\n",
        f"Next-token logits after {c['prompts']} training prompts. The torch side runs the "
        "dequantized fp32 weights, llama.cpp the Q4_K blocks, so they differ even without "
        "the adapter (the floor).\n\n"
        + table(
            [
                ("max abs difference, with the adapter", f"{c['max_abs_diff']:.4f}"),
                ("max abs difference, base alone (floor)", f"{c['base_diff']:.4f}"),
                ("adapter's effect (max abs change, llama.cpp)", f"{c['adapter_effect']:.4f}"),
                ("correlation of the two effects (worst prompt)", f"{c['delta_corr']:.4f}"),
                ("same greedy next token", "yes" if c["same_argmax"] else "no"),
            ]
        ),
    ]
    if "scores" in s:
        sc = s["scores"]
        parts += [
            "## Scores: held-out generated examples\n",
            "Examples generated from another seed (other spaces and sentences); greedy, "
            "unconstrained decoding to the newline; exact match of the plan.\n\n"
            + table(
                [
                    (
                        name,
                        f"{v['correct']}/{v['total']} ({v['rate']:.1%}), "
                        f"{v['ms_per_example']} ms/example",
                    )
                    for name, v in sc.items()
                ]
            ),
        ]
        misses = sc["tuned"]["misses"]
        if misses:
            parts.append(
                "Some misses of the tuned model (sentence, wanted, got):\n\n"
                + "".join(f"- `{a}` → `{b}`, got `{g}`\n" for a, b, g in misses)
            )
    return "\n".join(parts)
