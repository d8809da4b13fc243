"""The assistant's words, per language (en.yaml, zh.yaml): vocabulary-level, never space-level."""

from __future__ import annotations

from functools import cache
from typing import Any

from hyperhub._yaml import package_data

LANGS = ("en", "zh")


@cache
def lexicon(lang: str) -> dict[str, Any]:
    """The word lists of `lang` (a plain mapping; see en.yaml for the sections)."""
    data: dict[str, Any] = package_data(__package__, f"{lang}.yaml")
    return data


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
