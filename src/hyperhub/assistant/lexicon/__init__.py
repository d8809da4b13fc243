"""The assistant's words, per language (en.yaml, zh.yaml): the language's grammar — verbs,
particles, fillers, question words, rule phrases, replies — never space-level.

The words for the capability vocabulary itself (what people call a property, a value, an
action, a type, a class) are not here: they are each entry's `hear` words in the one
vocabulary file per language (`hyperhub.spec.words`); `lexicon(lang)` shows them under the
sections `properties`, `values`, `actions`, `types` and `classes`, as the matcher reads them.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from hyperhub._yaml import package_data
from hyperhub.spec.words import ENTRY_SECTIONS, entries

LANGS = ("en", "zh")


@cache
def lexicon(lang: str) -> dict[str, Any]:
    """The word lists of `lang` (a plain mapping; see en.yaml for the sections), with the
    vocabulary's `hear` words as `properties`, `values`, `actions`, `types`, `classes`."""
    data: dict[str, Any] = dict(package_data(__package__, f"{lang}.yaml"))
    for section in ENTRY_SECTIONS:
        data[section] = {
            key: list(entry["hear"])
            for key, entry in entries(lang, section).items()
            if "hear" in entry
        }
    return data


def humanize(name: str) -> str:
    """A spec name as words: `charge_limit` → `charge limit`."""
    return name.replace("_", " ")
