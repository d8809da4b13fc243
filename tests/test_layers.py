"""The layer picture of docs/architecture.md, enforced: every import in src/hyperhub (also
one inside a function) points down the table, or stays in its own layer."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import hyperhub

SRC = Path(hyperhub.__file__).parent
DOC = SRC.parents[1] / "docs" / "architecture.md"

# bottom first; a unit is a top-level module or package of hyperhub ("hyperhub": __init__)
LAYERS: list[set[str]] = [
    {
        "errors",
        "clock",
        "service",
        "config",
        "values",
        "_yaml",
        "files",
        "templates",
        "ids",
        "topic_names",
        "hyperhub",
    },
    {"spec"},
    {"space"},
    {"store", "auth"},
    {"fabric"},
    {"devices", "adapters"},
    {"automation"},
    {"assistant"},
    {"voice"},
    {"hub", "local"},
    {"api"},
    {"runtime"},
    {"cli", "__main__"},
]
LEVEL = {unit: i for i, units in enumerate(LAYERS) for unit in units}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "hyperhub"


def _imports() -> list[tuple[str, int, str, str]]:
    """(file, line, from unit, to unit) of every import of hyperhub in src."""
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC.parent).with_suffix("")
        here = _unit(".".join(rel.parts).removesuffix(".__init__"))
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                targets = [node.module]
            elif isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                continue
            for target in targets:
                if target == "hyperhub" or target.startswith("hyperhub."):
                    found.append((str(path.relative_to(SRC)), node.lineno, here, _unit(target)))
    return found


def test_every_unit_has_a_layer() -> None:
    units = {here for _, _, here, _ in _imports()} | {there for *_, there in _imports()}
    assert sorted(units - set(LEVEL)) == [], "add it to LAYERS and docs/architecture.md"


def test_imports_point_down_the_layers() -> None:
    up = [
        f"{file}:{line}: {here} (layer {LEVEL[here]}) imports {there} (layer {LEVEL[there]})"
        for file, line, here, there in _imports()
        if LEVEL.get(there, 0) > LEVEL.get(here, 0)
    ]
    assert not up, "imports going up the layers:\n" + "\n".join(up)


def test_the_doc_shows_the_same_layers() -> None:
    """docs/architecture.md's table lists the same units in the same order."""
    rows = re.findall(r"^\| (\d+) \| (.+?) \|", DOC.read_text(), re.M)
    documented = [set(re.findall(r"`([a-z_]+)`", units)) for _, units in rows]
    assert documented == LAYERS
