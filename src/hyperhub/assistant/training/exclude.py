"""What training data must never contain: the evaluation sets' sentences and spaces.

The development set (`../shared/eval/dev.jsonl` and its `space.yaml`), the held-out case
sets (`tests/assistant/data/*.jsonl`) and the spaces they are written on (the repository's
copy of the development space, `examples/second_space.yaml`, the demo space) are only read
here, and only to leave them out: a generated sentence equal to one of their sentences
(after `normalise_text`) is dropped, and a generated space never uses one of their device
ids, names or aliases. So scores on them stay a measure of generalisation.

`default_exclusions()` finds the files next to a source checkout (the repository root is
four folders above this file; its parent may hold `shared/eval`) and the demo space inside
the package; files that are not there are skipped, and `Exclusions.sources` says which
were read.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from hyperhub.errors import HyperHubError
from hyperhub.space import load_space

REPO_ROOT = Path(__file__).resolve().parents[4]


def normalise_text(text: str) -> str:
    """For comparing sentences and names: NFKC, lower case, only letters and digits."""
    text = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in text if ch.isalnum())


@dataclass
class Exclusions:
    sentences: set[str] = field(default_factory=set)  # normalised
    ids: set[str] = field(default_factory=set)  # device ids
    names: set[str] = field(default_factory=set)  # device names and aliases, normalised
    sources: list[str] = field(default_factory=list)

    def add_cases(self, path: Path) -> None:
        """The `text` of every line of a JSONL case file."""
        for line in path.read_text(encoding="utf-8").splitlines():
            if not line.strip():
                continue
            text = json.loads(line).get("text")
            if isinstance(text, str) and normalise_text(text):
                self.sentences.add(normalise_text(text))
        self.sources.append(str(path))

    def add_space(self, path: Path) -> None:
        """The device ids, names and aliases of a space file."""
        space = load_space(path)
        for d in space.devices.values():
            self.ids.add(d.id)
            self.names.update(normalise_text(n) for n in (d.name, *d.aliases))
        self.sources.append(str(path))

    def has_name(self, name: str) -> bool:
        return normalise_text(name) in self.names


def default_paths(root: Path | None = None) -> list[Path]:
    """The evaluation files of a source checkout at `root` (default: this one)."""
    root = root or REPO_ROOT
    eval_dir = root.parent / "shared" / "eval"
    data = root / "tests" / "assistant" / "data"
    paths = [eval_dir / "dev.jsonl", eval_dir / "space.yaml"]
    if data.is_dir():
        paths += sorted(data.glob("*.jsonl")) + sorted(data.glob("*.yaml"))
    paths.append(root / "examples" / "second_space.yaml")
    return [p for p in paths if p.is_file()]


def load_exclusions(paths: Iterable[Path], *, demo: bool = True) -> Exclusions:
    """Exclusions from case files (`.jsonl`) and space files (`.yaml`), plus the packaged
    demo space when `demo`."""
    out = Exclusions()
    for path in paths:
        try:
            if path.suffix == ".jsonl":
                out.add_cases(path)
            else:
                out.add_space(path)
        except (OSError, ValueError, HyperHubError):
            continue  # not a case file or a space; nothing to exclude from it
    if demo:
        demo_space = resources.files("hyperhub") / "demo" / "space.yaml"
        if demo_space.is_file():
            out.add_space(Path(str(demo_space)))
    return out


_DEFAULT: Exclusions | None = None


def default_exclusions() -> Exclusions:
    """`load_exclusions(default_paths())`, read once."""
    global _DEFAULT
    if _DEFAULT is None:
        _DEFAULT = load_exclusions(default_paths())
    return _DEFAULT
