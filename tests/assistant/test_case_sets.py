"""Whole case sets through the matcher, judged like ../shared/eval/score.py judges them:
the development set (on its space) and two sets written by someone who had not seen the
assistant's code, on the demo and the second space (tests/assistant/data/heldout_*.jsonl).
Every case must pass: they are the assistant's regression suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperhub.assistant.cases import same
from hyperhub.assistant.pipeline import Answer, Assistant
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.space import load_space

DATA = Path(__file__).resolve().parent / "data"
ROOT = Path(__file__).resolve().parents[2]
SETS = {
    "dev": (DATA / "home_space.yaml", DATA / "dev.jsonl"),
    "heldout_demo": (ROOT / "src/hyperhub/demo/space.yaml", DATA / "heldout_demo.jsonl"),
    "heldout_second": (ROOT / "examples/second_space.yaml", DATA / "heldout_second.jsonl"),
}


def problem(expect: dict[str, Any], answer: Answer) -> str | None:
    changes = answer.changes
    if expect.get("needs_confirmation") and (not answer.needs_confirmation or changes):
        return f"wanted a confirmation and no change, got {answer.needs_confirmation} {changes}"
    if "changes" in expect:
        want = expect["changes"]
        if set(want) != set(changes) or any(set(p) != set(changes[d]) for d, p in want.items()):
            return f"changes {changes} != {want}"
        for dev, props in want.items():
            for k, v in props.items():
                if not same(v, changes[dev][k]):
                    return f"{dev}.{k} = {changes[dev][k]!r}, want {v!r}"
    wanted = expect.get("reply_has_any")
    if wanted and not any(w.casefold() in answer.reply.casefold() for w in wanted):
        return f"reply {answer.reply!r} lacks any of {wanted}"
    return None


def cases() -> list[Any]:
    out = []
    for name, (space, path) in SETS.items():
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                case = json.loads(line)
                out.append(pytest.param(space, case, id=f"{name}:{case['id']}"))
    return out


_assistants: dict[Path, Assistant] = {}


@pytest.mark.parametrize(("space_path", "case"), cases())
def test_case(space_path: Path, case: dict[str, Any]) -> None:
    if space_path not in _assistants:
        _assistants[space_path] = Assistant(load_space(space_path), engine="matcher")
    assistant = _assistants[space_path]
    sim = Simulator(assistant.space, ManualClock())
    answer = assistant.ask(case["text"], sim, area=case.get("area"))
    why = problem(case["expect"], answer)
    assert why is None, f"{case['text']!r}: {why} (reply: {answer.reply!r})"


# issue 21's blind sets (their first scores are in docs/assistant.md): no longer blind, so
# they guard against regressions as a whole — at least the 95 % with the matcher alone
BLIND = {
    "house": ("blind21_space_a.yaml", "blind21_a.jsonl"),
    "flat": ("blind21_space_b.yaml", "blind21_b.jsonl"),
    "cottage": ("blind21c_space.yaml", "blind21c.jsonl"),
    "village house": ("blind21d_space.yaml", "blind21d.jsonl"),
    "tea shop": ("blind21e_space.yaml", "blind21e.jsonl"),
    "bungalow": ("blind21f_space.yaml", "blind21f.jsonl"),
}


@pytest.mark.parametrize("name", list(BLIND))
def test_a_blind_set_stays_at_95_percent(name: str) -> None:
    space_file, cases_file = BLIND[name]
    assistant = Assistant(load_space(DATA / space_file), engine="matcher")
    failed = []
    lines = [x for x in (DATA / cases_file).read_text(encoding="utf-8").splitlines() if x.strip()]
    for line in lines:
        case = json.loads(line)
        sim = Simulator(assistant.space, ManualClock())
        answer = assistant.ask(case["text"], sim, area=case.get("area"))
        why = problem(case["expect"], answer)
        if why is not None:
            failed.append(f"{case['id']} {case['text']!r}: {why}")
    assert len(failed) <= 0.05 * len(lines), "\n".join(failed)
