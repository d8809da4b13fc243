"""The assistant's words, per language (en.yaml, zh.yaml): vocabulary-level, never space-level."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from hyperhub._yaml import yaml_12

LANGS = ("en", "zh")


@cache
def lexicon(lang: str) -> dict[str, Any]:
    """The word lists of `lang` (a plain mapping; see en.yaml for the sections)."""
    text = resources.files(__package__).joinpath(f"{lang}.yaml").read_text(encoding="utf-8")
    data = yaml_12().load(text)
    return _plain(data)


def _plain(x: Any) -> Any:
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_plain(v) for v in x]
    return x


def words(lang: str, section: str, key: str) -> list[str]:
    """The words of `section.key` in `lang` (empty when there are none)."""
    return list((lexicon(lang).get(section) or {}).get(key) or [])


def humanize(name: str) -> str:
    """A spec name as words: `charge_limit` → `charge limit`."""
    return name.replace("_", " ")


def property_label(lang: str, prop: str) -> str:
    """How a reply names a property: its first plain noun, else its own name."""
    for w in words(lang, "properties", prop):
        if not w.startswith("?"):
            return w
    return humanize(prop)
