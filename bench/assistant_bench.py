"""Assistant benchmark: the shared `score.py` on the development set, for each engine, in one run.

One run scores, through the `hyperhub ask --jsonl` contract (one process per engine, as
score.py drives it):

- **matcher**: `--engine matcher`, the deterministic engine alone;
- **LLM base**: `--engine llm --adapter none`, the untuned base model (few-shot prompt) for
  every sentence;
- **LLM tuned**: `--engine llm`, the same model with the catalog-tuned LoRA adapter (the one
  shipped in the package, or `--adapter PATH`) — both skipped, with the reason, when
  llama-cpp-python, the model or the adapter is missing;
- **pipeline**: `--engine auto`, what users get (the matcher, then the LLM when it is not sure);
- **do-nothing**: an answerer that changes nothing and says nothing — the floor of the set.

score.py prints per-group lines (`en/control  40/42  95.2%`) and a summary
(`accuracy 95.0% (76/80), p50 0.4 ms, p95 1.2 ms, wall 3.1 s for the batch`); they are parsed
into accuracy (total, en, zh, per kind) and latency (p50 / p95 of the answers' `ms`).
A probe process loads the LLM the way `ask` does and reports the model load time (with the
catalog prefix evaluated) and the RSS of an assistant process with and without the model.

score.py and the development set live in `../shared/eval` beside the clone (or `--eval-dir`,
or $HYPERHUB_EVAL_DIR).

`--heldout` also scores the matcher, both LLMs and the pipeline on the held-out sets in
tests/assistant/data (other phrasings on the demo space; a second space). The adapter's
training data never holds them (a test checks it); the matcher was written blind to them but
corrected on their failures after its first run, so its scores there are no longer blind.

    python -m bench.assistant_bench [--eval-dir DIR] [--no-llm] [--heldout] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

from hyperhub.errors import HyperHubError

REPO = Path(__file__).resolve().parents[1]
KINDS = ("control", "query", "risky", "reject")
ENGINES = ("matcher", "llm_base", "llm", "auto", "nothing")
TITLES = {
    "matcher": "matcher",
    "llm_base": "LLM base",
    "llm": "LLM tuned",
    "auto": "pipeline (auto)",
    "nothing": "do-nothing",
}
TIMEOUT_S = 3600
_GROUP = re.compile(r"^(?P<group>[a-z]+(?:/[a-z_]+)?)\s+(?P<ok>\d+)/(?P<n>\d+)\s+(?P<pct>[\d.]+)%$")
_SUMMARY = re.compile(
    r"^accuracy (?P<acc>[\d.]+)% \((?P<ok>\d+)/(?P<n>\d+)\),"
    r"(?: p50 (?P<p50>[\d.]+) ms, p95 (?P<p95>[\d.]+) ms,)?"
    r" wall (?P<wall>[\d.]+) s"
)
# An answerer that changes nothing: one empty answer per line (the floor of a case set).
NOTHING = (
    "import json, sys\n"
    "for line in sys.stdin:\n"
    "    print(json.dumps({'text': line.rstrip('\\n'), 'actions': [], 'changes': {}, "
    "'reply': '', 'needs_confirmation': False, 'engine': 'none', 'ms': 0.0}), flush=True)\n"
)
PROBE_SENTENCES = ("turn on the lights", "把温度调高两度", "is everything locked?")
DATA = REPO / "tests" / "assistant" / "data"
HELDOUT = {  # name: (space, cases)
    "held-out phrasings, demo space": (
        REPO / "src/hyperhub/demo/space.yaml",
        DATA / "heldout_demo.jsonl",
    ),
    "second space": (REPO / "examples/second_space.yaml", DATA / "heldout_second.jsonl"),
    # issue 21's blind sets (their first scores are in docs/assistant.md)
    "blind set 21, house": (DATA / "blind21_space_a.yaml", DATA / "blind21_a.jsonl"),
    "blind set 21, flat": (DATA / "blind21_space_b.yaml", DATA / "blind21_b.jsonl"),
    "blind set 21, cottage": (DATA / "blind21c_space.yaml", DATA / "blind21c.jsonl"),
    "blind set 21, village house": (DATA / "blind21d_space.yaml", DATA / "blind21d.jsonl"),
    "blind set 21, tea shop": (DATA / "blind21e_space.yaml", DATA / "blind21e.jsonl"),
    "blind set 21, bungalow": (DATA / "blind21f_space.yaml", DATA / "blind21f.jsonl"),
}


def find_eval_dir(given: Path | None = None) -> Path:
    """The folder holding score.py: `given`, $HYPERHUB_EVAL_DIR, or ../shared/eval beside the
    clone (also looked for beside the clone's parent, for worktrees)."""
    env = os.environ.get("HYPERHUB_EVAL_DIR")
    candidates = (
        [given]
        if given is not None
        else [Path(env)]
        if env
        else [REPO.parent / "shared" / "eval", REPO.parent.parent / "shared" / "eval"]
    )
    for c in candidates:
        if (c / "score.py").is_file():
            return c.resolve()
    looked = ", ".join(str(c) for c in candidates)
    raise HyperHubError(f"cannot find score.py (looked in {looked}); pass --eval-dir DIR")


def parse_score_output(text: str) -> dict[str, Any]:
    """score.py's printout → groups, failures and the summary figures."""
    groups: dict[str, dict[str, Any]] = {}
    failures: list[str] = []
    summary: dict[str, Any] = {}
    for line in text.splitlines():
        line = line.strip()
        if m := _GROUP.match(line):
            groups[m["group"]] = {"ok": int(m["ok"]), "n": int(m["n"]), "pct": float(m["pct"])}
        elif line.startswith("FAIL |"):
            failures.append(line[len("FAIL |") :].strip())
        elif m := _SUMMARY.match(line):
            summary = {
                "accuracy": float(m["acc"]),
                "ok": int(m["ok"]),
                "n": int(m["n"]),
                "p50_ms": float(m["p50"]) if m["p50"] else None,
                "p95_ms": float(m["p95"]) if m["p95"] else None,
                "wall_s": float(m["wall"]),
            }
    kinds: dict[str, dict[str, Any]] = {}
    for name, g in groups.items():
        if "/" in name:
            kind = name.split("/", 1)[1]
            k = kinds.setdefault(kind, {"ok": 0, "n": 0})
            k["ok"] += g["ok"]
            k["n"] += g["n"]
    for k in kinds.values():
        k["pct"] = round(100 * k["ok"] / k["n"], 1) if k["n"] else 0.0
    return {**summary, "groups": groups, "kinds": kinds, "failures": failures}


def hyperhub_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "hyperhub", "ask", *args]


def score(
    eval_dir: Path, space: Path, cases: Path, cmd: list[str], timeout: float = TIMEOUT_S
) -> dict[str, Any]:
    """Run score.py with `cmd` as the answerer; its parsed figures (and `error` if it broke)."""
    argv = [
        sys.executable,
        str(eval_dir / "score.py"),
        str(space),
        str(cases),
        "--cmd",
        shlex.join(cmd),
        "--show-failures",
        "1000",
        "--timeout",
        str(timeout),
    ]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout + 60, cwd=str(REPO)
        )
    except subprocess.TimeoutExpired:
        return {"error": f"score.py did not finish within {timeout + 60:.0f} s"}
    result = parse_score_output(proc.stdout)
    result["run_s"] = round(time.perf_counter() - t0, 2)
    result["questions_acted"] = questions_that_acted(cases, proc.stdout)
    if "accuracy" not in result:
        tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
        result["error"] = f"score.py exited {proc.returncode}: " + " / ".join(tail)
    elif proc.stdout.startswith("got "):
        result["error"] = proc.stdout.splitlines()[0]
    return result


def questions_that_acted(cases: Path, output: str) -> int:
    """How many question cases (kind query) changed something: score.py's failure lines
    name the devices a case changed ("devices ['x'] != []")."""
    kinds = {}
    for line in cases.open(encoding="utf-8"):
        if line.strip():
            case = json.loads(line)
            kinds[case.get("id")] = case.get("kind")
    acted = 0
    for line in output.splitlines():
        parts = [p.strip() for p in line.split("|")]
        if len(parts) >= 4 and parts[0] == "FAIL" and kinds.get(parts[1]) == "query":
            acted += parts[3].startswith("devices [") and not parts[3].startswith("devices []")
    return acted


def probe(
    space: Path, model: Path | None, llm: bool = True, adapter: str | None = None
) -> dict[str, Any]:
    """In a fresh process: RSS of an assistant with the matcher only, then with the LLM loaded
    (and a few sentences read), and the model load time; or why the LLM is unavailable.
    `adapter`: a GGUF LoRA path, "none", or None for the shipped one."""
    argv = [sys.executable, "-m", "bench.assistant_bench", "probe", "--space", str(space)]
    if model is not None:
        argv += ["--model", str(model)]
    if adapter is not None:
        argv += ["--adapter", adapter]
    if not llm:
        argv.append("--no-llm")
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=600, cwd=str(REPO))
    try:
        return dict(json.loads(proc.stdout.strip().splitlines()[-1]))
    except (json.JSONDecodeError, IndexError):
        tail = proc.stderr.strip().splitlines()[-1:] or ["no output"]
        return {"available": False, "reason": f"the probe failed: {tail[0]}"}


def _probe_main(
    space_path: Path, model: Path | None, llm: bool = True, adapter: str | None = None
) -> dict[str, Any]:
    import psutil

    from hyperhub.assistant.pipeline import Assistant
    from hyperhub.cli.assistant_cmd import fresh_devices, llm_unavailable
    from hyperhub.space import load_space

    me = psutil.Process()
    space = load_space(space_path)
    assistant = Assistant(space, engine="matcher")
    for text in PROBE_SENTENCES:
        assistant.ask(text, fresh_devices(space))
    out: dict[str, Any] = {"rss_matcher_mb": round(me.memory_info().rss / 2**20, 1)}
    reason = llm_unavailable(model) if llm else "skipped (--no-llm)"
    if reason is not None:
        return {**out, "available": False, "reason": reason}
    try:
        from hyperhub.assistant.llm import LlmEngine
        from hyperhub.cli.assistant_cmd import EngineOptions

        t0 = time.perf_counter()
        lora = EngineOptions(adapter=adapter).lora_path
        engine = LlmEngine(space, model_path=model, lora_path=lora)
        if adapter != "none" and engine.lora_path is None:
            return {**out, "available": False, "reason": "no adapter shipped for this model"}
        engine.load()
        load_s = time.perf_counter() - t0
        parse_ms = []
        for text in PROBE_SENTENCES:
            t1 = time.perf_counter()
            engine.parse(text, area=None, state={})
            parse_ms.append((time.perf_counter() - t1) * 1000)
    except (HyperHubError, ImportError, OSError) as exc:
        return {**out, "available": False, "reason": str(exc)}
    stats = getattr(engine, "stats", None)
    path = model
    if path is None:
        from hyperhub.assistant.model_files import default_model_path

        path = Path(default_model_path())
    return {
        **out,
        "available": True,
        "model": str(path),
        "adapter": None if engine.lora_path is None else str(engine.lora_path),
        "adapter_mb": (
            None if engine.lora_path is None else round(engine.lora_path.stat().st_size / 2**20, 1)
        ),
        "prompt_tokens": engine.stats.last_prompt_tokens,
        "model_mb": round(path.stat().st_size / 2**20, 1),
        "load_s": round(load_s, 2),
        "model_s": round(engine.stats.model_s, 2),
        "prefix_s": round(engine.stats.prefix_s, 2),
        "prefix_cached": engine.stats.prefix_cached,
        "prefix_tokens": getattr(stats, "prefix_tokens", None),
        "probe_parse_ms": [round(x, 1) for x in parse_ms],
        "rss_llm_mb": round(me.memory_info().rss / 2**20, 1),
    }


def run_assistant_bench(
    *,
    eval_dir: Path | None = None,
    space: Path | None = None,
    cases: Path | None = None,
    model: Path | None = None,
    adapter: str | None = None,
    llm: bool = True,
    heldout: bool = False,
    on_phase: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Score every engine on the case set (and the held-out sets); the figures as one dict
    (see `results_tables`). `adapter`: the tuned LLM's adapter (None: the shipped one)."""
    phase = on_phase or (lambda _name: None)
    where = find_eval_dir(eval_dir)
    space = (space or where / "space.yaml").resolve()
    cases = (cases or where / "dev.jsonl").resolve()
    for path in (space, cases):
        if not path.is_file():
            raise HyperHubError(f"{path} does not exist")
    model_args = ["--model", str(model.resolve())] if model is not None else []
    tuned_args = [*model_args, *(["--adapter", adapter] if adapter is not None else [])]
    figures: dict[str, Any] = {
        "eval_dir": str(where),
        "space": str(space),
        "cases": str(cases),
        "n_cases": _count(cases),
        "engines": {},
    }
    phase("loading the base LLM in a probe process" if llm else "probe (matcher only)")
    figures["llm_base"] = probe(space, model, llm, "none")
    figures["llm"] = figures["llm_base"]
    if figures["llm_base"].get("available"):
        phase("loading the tuned LLM in a probe process")
        figures["llm"] = probe(space, model, llm, adapter)
    runs = _runs(figures, model_args, tuned_args)
    for name, cmd in runs:
        phase(f"scoring {TITLES[name]}")
        figures["engines"][name] = score(where, space, cases, cmd)
    _mark_skipped(figures, figures["engines"])
    if heldout:
        figures["heldout"] = {}
        for title, (set_space, set_cases) in HELDOUT.items():
            got: dict[str, Any] = {"space": str(set_space), "n_cases": _count(set_cases)}
            for name, cmd in runs:
                if name == "nothing":
                    continue
                phase(f"scoring {TITLES[name]} on {title}")
                got[name] = score(where, set_space, set_cases, cmd)
            _mark_skipped(figures, got)
            figures["heldout"][title] = got
    return figures


def _count(cases: Path) -> int:
    return sum(1 for line in cases.open(encoding="utf-8") if line.strip())


def _runs(
    figures: dict[str, Any], model_args: list[str], tuned_args: list[str]
) -> list[tuple[str, list[str]]]:
    """The (engine, command) pairs one case set is scored with."""
    runs: list[tuple[str, list[str]]] = [("matcher", hyperhub_cmd("--engine", "matcher"))]
    if figures["llm_base"].get("available"):
        runs.append(("llm_base", hyperhub_cmd("--engine", "llm", *model_args, "--adapter", "none")))
        if figures["llm"].get("available"):
            runs.append(("llm", hyperhub_cmd("--engine", "llm", *tuned_args)))
        runs.append(("auto", hyperhub_cmd("--engine", "auto", *tuned_args)))
    else:
        runs.append(("auto", hyperhub_cmd("--engine", "auto", "--no-llm")))
    runs.append(("nothing", [sys.executable, "-c", NOTHING]))
    return runs


def _mark_skipped(figures: dict[str, Any], engines: dict[str, Any]) -> None:
    for name in ("llm_base", "llm"):
        if name not in engines:
            engines[name] = {"skipped": figures[name].get("reason", "unavailable")}


def _pct(r: dict[str, Any], group: str | None = None) -> str:
    if "skipped" in r:
        return "—"
    if "error" in r and "accuracy" not in r:
        return "error"
    if group is None:
        return f"{r['accuracy']:.1f}% ({r['ok']}/{r['n']})"
    g = r.get("kinds", {}).get(group) or r.get("groups", {}).get(group)
    return f"{g['pct']:.1f}% ({g['ok']}/{g['n']})" if g else ""


def _ms(r: dict[str, Any], key: str) -> str:
    v = r.get(key)
    if v is None:
        return "—"
    if isinstance(v, int):
        return f"{v:,}"
    return f"{v:.1f}" if v < 100 else f"{v:,.0f}"


def results_tables(f: dict[str, Any]) -> list[Table]:
    """The accuracy / latency table per engine, the local LLM's cost (base and tuned), and
    the held-out sets when they were scored."""
    engines = f["engines"]
    cols = [e for e in ENGINES if e in engines]
    table = Table(title=f"Assistant on {Path(f['cases']).name}: {f['n_cases']} cases, score.py")
    table.add_column("metric")
    for e in cols:
        table.add_column(TITLES[e], justify="right")
    table.add_column("goal", justify="right")
    goals = {
        "accuracy": "LLM tuned >= 80 %, pipeline >= 97 %",
        "p50_ms": "matcher < 5, LLM tuned < 600",
    }
    table.add_row("accuracy, all", *[_pct(engines[e]) for e in cols], goals["accuracy"])
    for lang in ("en", "zh"):
        table.add_row(f"accuracy, {lang}", *[_pct(engines[e], lang) for e in cols], "")
    for kind in KINDS:
        table.add_row(f"  {kind}", *[_pct(engines[e], kind) for e in cols], "")
    table.add_row("latency p50, ms", *[_ms(engines[e], "p50_ms") for e in cols], goals["p50_ms"])
    table.add_row("latency p95, ms", *[_ms(engines[e], "p95_ms") for e in cols], "")
    table.add_row("batch wall time, s", *[_ms(engines[e], "wall_s") for e in cols], "")
    notes = [f"latency: the answers' own `ms` (one sentence, in process); space {f['space']}"]
    for e in cols:
        if engines[e].get("error"):
            notes.append(f"{TITLES[e]}: {engines[e]['error']}")
        if engines[e].get("skipped"):
            notes.append(f"{TITLES[e]}: {engines[e]['skipped']}")
    table.caption = "; ".join(notes)
    tables = [table, _cost_table(f)]
    if f.get("heldout"):
        tables.append(_heldout_table(f["heldout"]))
    return tables


def _cost_table(f: dict[str, Any]) -> Table:
    infos = {"LLM base": f.get("llm_base") or {}, "LLM tuned": f.get("llm") or {}}
    llm = Table(title="Local LLM cost (probe process)")
    llm.add_column("metric")
    for title in infos:
        llm.add_column(title, justify="right")
    llm.add_column("goal", justify="right")
    base = infos["LLM base"]
    llm.add_row("assistant RSS, matcher only, MB", _ms(base, "rss_matcher_mb"), "", "")
    rows = [
        ("model file, MB", "model_mb", ""),
        ("adapter file, MB", "adapter_mb", "<= 10"),
        ("model load (file + vocabulary + adapter), s", "model_s", "< 5"),
        ("catalog prefix, s", "prefix_s", ""),
        ("model load + catalog prefix, s", "load_s", ""),
        ("catalog prefix, tokens", "prefix_tokens", ""),
        ("last probe sentence's prompt, tokens", "prompt_tokens", ""),
        ("assistant RSS with the LLM, MB", "rss_llm_mb", "< 1,024"),
    ]
    for label, key, goal in rows:
        llm.add_row(
            label, *[_ms(i, key) if i.get("available") else "—" for i in infos.values()], goal
        )
    notes = []
    for title, info in infos.items():
        if not info.get("available"):
            notes.append(f"{title}: not measured: {info.get('reason', 'unavailable')}")
        elif info.get("prefix_cached"):
            notes.append(f"{title}: catalog prefix restored from the disk cache")
    model = base.get("model") or infos["LLM tuned"].get("model")
    if model:
        notes.insert(0, f"model {Path(model).name}")
    adapter = infos["LLM tuned"].get("adapter")
    if adapter:
        notes.insert(1, f"adapter {Path(adapter).name}")
    llm.caption = "; ".join(notes)
    return llm


def _heldout_table(heldout: dict[str, Any]) -> Table:
    table = Table(
        title="Held-out sets (never in the adapter's training data; the matcher was corrected "
        "on them after their blind first runs: 95.4 % demo, 91.7 % second space, 79.3 % "
        "house, 81.9 % flat, 86.9 % cottage)"
    )
    table.add_column("case set")
    cols = [e for e in ENGINES if e != "nothing"]
    for e in cols:
        table.add_column(TITLES[e], justify="right")
    for title, got in heldout.items():
        table.add_row(
            f"{title} ({got['n_cases']})", *[_pct(got.get(e, {"skipped": 1})) for e in cols]
        )
        table.add_row("  latency p50, ms", *[_ms(got.get(e, {}), "p50_ms") for e in cols])
        table.add_row(
            "  questions that changed state",
            *[str(got.get(e, {}).get("questions_acted", "–")) for e in cols],
        )
    return table


def main(argv: list[str] | None = None) -> dict[str, Any] | None:
    ap = argparse.ArgumentParser(prog="python -m bench.assistant_bench")
    ap.add_argument("mode", nargs="?", default="run", choices=["run", "probe"])
    ap.add_argument("--eval-dir", type=Path)
    ap.add_argument("--space", type=Path)
    ap.add_argument("--cases", type=Path)
    ap.add_argument("--model", type=Path)
    ap.add_argument("--adapter")
    ap.add_argument("--no-llm", action="store_true")
    ap.add_argument("--heldout", action="store_true")
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args(argv)
    if a.mode == "probe":
        if a.space is None:
            ap.error("probe needs --space")
        print(json.dumps(_probe_main(a.space, a.model, not a.no_llm, a.adapter)), flush=True)
        return None
    figures = run_assistant_bench(
        eval_dir=a.eval_dir,
        space=a.space,
        cases=a.cases,
        model=a.model,
        adapter=a.adapter,
        llm=not a.no_llm,
        heldout=a.heldout,
    )
    if a.json:
        print(json.dumps(figures))
    else:
        console = Console()
        for t in results_tables(figures):
            console.print(t)
    return figures


if __name__ == "__main__":
    main()
