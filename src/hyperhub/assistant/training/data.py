"""Training examples for the catalog-tuned model: random spaces × the phrasing grammar.

`generate(count, seed)` draws random spaces (`spaces.random_space`), about
`PER_SPACE` sentences from each (`phrasing.Phraser`), and turns each into a
`TrainExample`: the tuned prompt (`llm_tuned.tuned_prompt`) and the compact plan the model
should write after it. Every plan is checked before it is kept (`check_answer`): it parses
with `llm.parse_compact` without losing an item, every value passes the spec
(`DeviceType.check_write` / `check_args`), deltas go to writable numbers, questions to the
device's own properties, the constrained-decoding grammar accepts it, and each device it
names is in the prompt's catalog. Examples that fail are dropped and counted
(`generate_report`); the tests assert that none fail.

Nothing of the evaluation sets gets in: by default (`exclude.default_exclusions()`) a
sentence equal to one of theirs is dropped and no generated device takes one of their
spaces' ids, names or aliases. The files are read from the source checkout (the repository
keeps copies of the development set and its space), so the same seed gives the same
examples on any checkout, on any machine, with any `PYTHONHASHSEED`.
"""

from __future__ import annotations

import json
import random
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from hyperhub.assistant.llm import parse_compact
from hyperhub.assistant.llm_constraint import PlanGrammar
from hyperhub.assistant.llm_tuned import candidates, estimate_tokens, render_tuned
from hyperhub.assistant.training.exclude import Exclusions, default_exclusions, normalise_text
from hyperhub.assistant.training.phrasing import MIXES, Phraser
from hyperhub.assistant.training.spaces import TYPES, random_space
from hyperhub.errors import HyperHubError
from hyperhub.space.model import Space

PER_SPACE = 24  # sentences drawn from one random space


@dataclass(frozen=True)
class TrainExample:
    """One training example. The model is trained to write `completion` after `prompt`."""

    prompt: str
    answer: str  # the compact plan: "lamp.on=true;ac.target_temp+=2", or "none"
    text: str  # the sentence
    lang: str  # en, zh or mixed
    kind: str  # switch, level, relative, enum, color, text, action, cover, question, group,
    #            multi, risky, none
    area: str | None = None  # the speaker's room given with the sentence
    space: str = ""  # the generated space's name and number ("Mia's home #3")
    tags: tuple[str, ...] = ()  # polite, typo, mixed

    @property
    def completion(self) -> str:
        """What follows the prompt: a space, the plan, a newline (as `parse_compact` and the
        constrained grammar expect)."""
        return completion(self.answer)

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["tags"] = list(self.tags)
        return d


def completion(answer: str) -> str:
    return " " + answer + "\n"


@dataclass
class GenerateReport:
    spaces: int = 0
    drawn: int = 0  # sentences the grammar produced
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # text, answer, problem
    outside_prompt: int = 0  # plans naming a device the prompt did not show (dropped)
    duplicates: int = 0
    excluded: int = 0  # sentences in the caller's exclusion set


def check_answer(space: Space, answer: str, grammar: PlanGrammar | None = None) -> list[str]:
    """Problems of a compact plan for `space`; empty when it is valid."""
    problems: list[str] = []
    text = completion(answer)
    steps, questions, complete = parse_compact(text, space)
    if not complete:
        problems.append("parse_compact dropped an item or the plan is cut off")
    if answer != "none":
        items = answer.split(";")
        if len(items) != len(steps) + len(questions):
            problems.append(f"{len(items)} items, {len(steps) + len(questions)} read")
    for s in steps:
        dev = space.devices[s.device]
        exposed = dev.properties or tuple(dev.dtype.properties)
        try:
            if s.action is not None:
                dev.dtype.check_args(s.action, s.args, dev.id)
            elif s.property is None or s.property not in exposed:
                problems.append(f"{s.device}: no property {s.property}")
            elif s.delta is not None:
                spec = dev.dtype.properties[s.property]
                if not spec.writable or spec.kind not in ("int", "float") or not s.delta:
                    problems.append(f"{s.device}.{s.property}: not a writable number")
            else:
                dev.dtype.check_write(s.property, s.value, dev.id)
        except HyperHubError as exc:
            problems.append(str(exc))
    for q in questions:
        dev = space.devices[q.device]
        if q.property not in (dev.properties or tuple(dev.dtype.properties)):
            problems.append(f"{q.device}: no property {q.property}")
    grammar = grammar or PlanGrammar(space)
    if not grammar.accepted(grammar.feed(grammar.initial(), text)):
        problems.append("the constrained grammar does not accept it")
    return problems


def check_mix(mix: str) -> None:
    """Raise a named error unless `mix` is one of `phrasing.MIXES`."""
    if mix not in MIXES:
        raise HyperHubError(f"unknown mix {mix!r}; choose one of {', '.join(MIXES)}")


_DEVICE = re.compile(r"(?:^|;)([a-z0-9_]+)\.")


def answer_devices(answer: str) -> list[str]:
    return [] if answer == "none" else _DEVICE.findall(answer)


def generate_report(
    count: int, seed: int, exclude: Exclusions | None = None, mix: str = "catalog"
) -> tuple[list[TrainExample], GenerateReport]:
    """`generate`, with what was dropped on the way."""
    pairs, report = generate_pairs(count, seed, exclude, mix)
    return [e for _, e in pairs], report


def generate_pairs(
    count: int, seed: int, exclude: Exclusions | None = None, mix: str = "catalog"
) -> tuple[list[tuple[Space, TrainExample]], GenerateReport]:
    """`generate`, each example with the space it was made from, and what was dropped."""
    check_mix(mix)
    rng = random.Random(seed)
    exclude = default_exclusions() if exclude is None else exclude
    skip = exclude.sentences
    report = GenerateReport()
    out: list[tuple[Space, TrainExample]] = []
    seen: set[tuple[str, str]] = set()
    k = 0
    while len(out) < count:
        forced: tuple[str, ...] = (TYPES[k % len(TYPES)], TYPES[(7 * k + 3) % len(TYPES)])
        if mix == "groups":  # homes with several lights and two of another type
            forced = ("light", "light", "light", forced[0], *forced)
        space = random_space(random.Random(rng.getrandbits(64)), forced, exclude)
        label = f"{space.name} #{k}"
        k += 1
        report.spaces += 1
        phraser = Phraser(space, random.Random(rng.getrandbits(64)), mix)
        grammar = PlanGrammar(space)
        want = min(PER_SPACE, count - len(out))
        made = 0
        for _ in range(want * 4):
            if made >= want:
                break
            sample = phraser.sample()
            if sample is None:
                continue
            report.drawn += 1
            key = normalise_text(sample.text)
            if key in skip:
                report.excluded += 1
                continue
            if (key, sample.area or "") in seen:
                report.duplicates += 1
                continue
            answer = sample.answer
            problems = check_answer(space, answer, grammar)
            if problems:
                report.invalid.append((sample.text, answer, "; ".join(problems)))
                continue
            cands = candidates(space, sample.text, sample.area)
            if any(d not in cands.devices for d in answer_devices(answer)):
                report.outside_prompt += 1
                continue
            seen.add((key, sample.area or ""))
            prompt = render_tuned(space, cands, sample.text, sample.area)
            example = TrainExample(
                prompt,
                answer,
                sample.text,
                sample.lang,
                sample.kind,
                sample.area,
                label,
                tuple(sample.tags),
            )
            out.append((space, example))
            made += 1
    return out, report


def generate(
    count: int, seed: int, exclude: Exclusions | None = None, mix: str = "catalog"
) -> list[TrainExample]:
    """`count` examples, reproducible from `seed` and `mix`. Sentences, device ids and names of
    `exclude` never appear (default: the evaluation sets, `exclude.default_exclusions()`;
    `Exclusions()` excludes nothing). `mix`: "catalog" (every kind of request in everyday
    proportions), "focus" (`phrasing.FOCUS_KINDS`: true/false properties and actions
    balanced by name, more groups and multi-commands) or "groups" (`GROUP_KINDS`: as focus,
    a third groups, of two or more devices where there are); for further training stages."""
    return generate_report(count, seed, exclude, mix)[0]


def write_jsonl(path: str | Path, examples: Iterable[TrainExample]) -> int:
    """Write one JSON object per example; returns how many."""
    n = 0
    with Path(path).open("w", encoding="utf-8") as f:
        for e in examples:
            f.write(json.dumps(e.as_dict(), ensure_ascii=False) + "\n")
            n += 1
    return n


def read_jsonl(path: str | Path) -> list[TrainExample]:
    out = []
    with Path(path).open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                d = json.loads(line)
                d["tags"] = tuple(d.get("tags") or ())
                out.append(TrainExample(**d))
    return out


def stats(examples: list[TrainExample]) -> dict[str, Any]:
    """Counts for a model card: by kind, language, tag, device type named; sizes."""
    by_type: Counter[str] = Counter()
    type_of = re.compile(r"^([a-z0-9_]+): .*? \[([a-z_]+)")
    for e in examples:
        types = {}
        for line in e.prompt.splitlines():
            m = type_of.match(line)
            if m:
                types[m.group(1)] = m.group(2)
        for d in set(answer_devices(e.answer)):
            by_type[types.get(d, "?")] += 1
    n = len(examples) or 1
    return {
        "examples": len(examples),
        "spaces": len({e.space for e in examples}),
        "by_kind": dict(sorted(Counter(e.kind for e in examples).items())),
        "by_lang": dict(sorted(Counter(e.lang for e in examples).items())),
        "by_tag": dict(sorted(Counter(t for e in examples for t in e.tags).items())),
        "with_area": sum(1 for e in examples if e.area),
        "by_device_type": dict(sorted(by_type.items())),
        "prompt_tokens_mean": round(sum(estimate_tokens(e.prompt) for e in examples) / n, 1),
        "prompt_tokens_max": round(
            max((estimate_tokens(e.prompt) for e in examples), default=0), 1
        ),
        "answer_tokens_mean": round(sum(estimate_tokens(e.completion) for e in examples) / n, 1),
    }
