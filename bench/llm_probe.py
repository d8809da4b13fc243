"""Probe the local LLM engine alone on a case file: exact-match accuracy and latency.

Each case's sentence goes to `LlmEngine.parse`; the plan is applied *naively* to the space's
initial state (writes, deltas, action effects, "setting a level turns the device on"; a
risky step means "asks for confirmation, changes nothing"; a value out of range refuses the
whole plan) and the changes are compared with the case's `expect` as `score.py` does.
Questions pass when the asked value (as text) contains one of `reply_has_any`, or, for a
yes/no property, when the case expects an answer about that property. This is a probe of
the model's reading, not the contract: `hyperhub bench assistant` scores the real pipeline.

    python -m bench.llm_probe [--space S.yaml] [--cases C.jsonl] [--model PATH] [--nearest K]
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import psutil

from bench.harness import percentile
from hyperhub.assistant.cases import same
from hyperhub.assistant.llm import LlmEngine
from hyperhub.assistant.plan import Plan
from hyperhub.errors import HyperHubError
from hyperhub.space import Space
from hyperhub.space.loader import load_space
from hyperhub.spec.policy import Command

EVAL = Path(__file__).resolve().parents[2] / "shared" / "eval"


def apply_naively(space: Space, plan: Plan) -> tuple[dict[str, dict[str, Any]], bool]:
    """(changes, needs_confirmation) of running `plan` on the initial state."""
    state = space.initial_state()
    before = space.initial_state()
    risky = False
    for step in plan.steps:
        dev = space.devices[step.device]
        cur = state[dev.id]
        if step.action is not None:
            spec = dev.dtype.actions[step.action]
            risky = risky or spec.is_risky(dev.cls)
            for eff in spec.effects:
                cur.update(eff.set or {})
                cur.update(eff.travel or {})
                if eff.toggle:
                    cur[eff.toggle] = not cur.get(eff.toggle)
                for prop, arg in (eff.set_arg or {}).items():
                    cur[prop] = step.args.get(arg)
            continue
        prop = step.property or ""
        spec = dev.dtype.properties[prop]
        value = step.value
        if step.delta is not None:
            value = (cur.get(prop) or 0) + step.delta
            lo, hi = spec.min, spec.max
            value = max(lo, value) if lo is not None else value
            value = min(hi, value) if hi is not None else value
        try:
            value = dev.dtype.check_write(prop, value, dev.id)
        except HyperHubError:
            return {}, False
        risky = risky or dev.is_risky(Command(dev.id, prop, value))
        cur[prop] = value
        if spec.implies_on and "on" in cur and cur["on"] is False:
            cur["on"] = True
    if risky:
        return {}, True
    changes = {}
    for dev_id, new in state.items():
        diff = {k: v for k, v in new.items() if before[dev_id].get(k) != v}
        if diff:
            changes[dev_id] = diff
    return changes, False


def passes(space: Space, case: dict[str, Any], plan: Plan) -> bool:
    exp = case["expect"]
    changes, confirm = apply_naively(space, plan)
    if exp.get("needs_confirmation") and not confirm:
        return False
    if "changes" in exp:
        want = exp["changes"]
        if set(want) != set(changes):
            return False
        for dev, props in want.items():
            if set(props) != set(changes[dev]) or not all(
                same(v, changes[dev][k]) for k, v in props.items()
            ):
                return False
    if exp.get("reply_has_any"):
        state = space.initial_state()
        for q in plan.questions:
            value = state[q.device].get(q.property)
            words = [w.casefold() for w in exp["reply_has_any"]]
            if any(w in str(value).casefold() for w in words):
                return True
            if isinstance(value, bool) and any(q.property.casefold() in w for w in words):
                return True
        return False
    return True


def run_probe(
    space_path: Path,
    cases_path: Path,
    model: Path | None = None,
    nearest: int = 4,
    fixed: int = 12,
    verbose: bool = False,
) -> dict[str, Any]:
    space = load_space(space_path)
    cases = [json.loads(line) for line in cases_path.read_text("utf-8").splitlines() if line]
    engine = LlmEngine(space, model, nearest_count=nearest, fixed_count=fixed)
    t0 = time.perf_counter()
    engine.load()
    load_s = time.perf_counter() - t0
    results = []
    for case in cases:
        t, cpu = time.perf_counter(), time.process_time()
        plan = engine.parse(case["text"], area=case.get("area"), state=space.initial_state())
        ms = (time.perf_counter() - t) * 1000
        cpu_ms = (time.process_time() - cpu) * 1000
        ok = passes(space, case, plan)
        results.append(
            {
                "id": case["id"],
                "lang": case["lang"],
                "kind": case["kind"],
                "ok": ok,
                "ms": ms,
                "cpu_ms": cpu_ms,
                "confidence": plan.confidence,
                "output": engine.stats.last_output.strip(),
                "prompt_tokens": engine.stats.last_prompt_tokens,
                "min_full": min((c[1] for c in engine.stats.last_choices), default=1.0),
                "min_allowed": min((c[2] for c in engine.stats.last_choices), default=1.0),
                "prod_allowed": math.prod(c[2] for c in engine.stats.last_choices),
            }
        )
        if verbose:
            print(
                f"{'ok ' if ok else 'BAD'} {plan.confidence:.3f} {ms:6.0f}ms "
                f"{case['text']!r} -> {engine.stats.last_output.strip()!r}",
                flush=True,
            )
    ms_all = sorted(r["ms"] for r in results if case_text_nonempty(r, cases))
    out = {
        "cases": len(results),
        "accuracy": sum(r["ok"] for r in results) / len(results),
        "by_lang": _groups(results, "lang"),
        "by_kind": _groups(results, "kind"),
        "p50_ms": statistics.median(ms_all),
        "p95_ms": percentile(ms_all, 95),
        "p50_cpu_ms": statistics.median(r["cpu_ms"] for r in results),
        "load_s": load_s,
        "prefix_tokens": engine.stats.prefix_tokens,
        "prefix_evaluations": engine.stats.prefix_evaluations,
        "rss_mb": psutil.Process().memory_info().rss / 2**20,
        "results": results,
    }
    engine.close()
    return out


def case_text_nonempty(result: dict[str, Any], cases: list[dict[str, Any]]) -> bool:
    return any(c["id"] == result["id"] and c["text"].strip() for c in cases)


def _groups(results: list[dict[str, Any]], key: str) -> dict[str, float]:
    out: dict[str, list[bool]] = {}
    for r in results:
        out.setdefault(r[key], []).append(r["ok"])
    return {k: sum(v) / len(v) for k, v in sorted(out.items())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--space", type=Path, default=EVAL / "space.yaml")
    ap.add_argument("--cases", type=Path, default=EVAL / "dev.jsonl")
    ap.add_argument("--model", type=Path, default=None)
    ap.add_argument("--nearest", type=int, default=4)
    ap.add_argument("--fixed", type=int, default=12)
    ap.add_argument("--json", type=Path, default=None, help="write every result here")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()
    r = run_probe(a.space, a.cases, a.model, a.nearest, a.fixed, a.verbose)
    if a.json:
        a.json.write_text(json.dumps(r, indent=1, ensure_ascii=False), "utf-8")
    summary = {k: v for k, v in r.items() if k != "results"}
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
