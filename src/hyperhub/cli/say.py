"""What the CLI says, and where: the commands' consoles (`out`: the answer, on stdout;
`err`: notes, progress and errors), one JSON line for `--json` (`print_json`), and the
CLI's own words in the terminal's language (HYPERHUB_LANG, LC_ALL, LC_MESSAGES, LANG; see
`hyperhub.spec.words.env_lang`). Names of properties, values and types come from
`hyperhub.spec.words`; each command module passes its Chinese to `translator` beside the
English it prints, as the dashboard's modules do. Error messages from the hub's core stay
English.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console

from hyperhub.spec.words import Lang, env_lang

__all__ = ["err", "lang", "out", "print_json", "translator"]

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)


def print_json(data: Any) -> None:
    """`data` as one JSON line on stdout (`--json`): text as it is, anything else JSON has
    no type for as its str."""
    sys.stdout.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")


def lang() -> Lang:
    """The terminal's language, read when a command prints (tests set it per run)."""
    return env_lang()


def translator(zh: Mapping[str, str]) -> Callable[..., str]:
    """t("{n} devices", n=3) → "3 devices", or its Chinese ("3 个设备") in a Chinese
    terminal; English is the key, and a sentence without Chinese stays English."""

    def t(text: str, **values: Any) -> str:
        chosen = zh.get(text, text) if lang() == "zh" else text
        return chosen.format(**values) if values else chosen

    return t
