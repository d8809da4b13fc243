"""The options every command spells the same way (one place, so they stay the same)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

SpaceOpt = Annotated[
    Path | None,
    typer.Option("--space", "-s", help="Space file (default: the last one run, or the demo)."),
]
DataOpt = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", help="Where the database and logs live.", envvar="HYPERHUB_DATA_DIR"
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db", help="Database URL (default: SQLite in the data dir).", envvar="HYPERHUB_DB"
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]
AutomationsOpt = Annotated[
    Path | None,
    typer.Option(
        help="Rules and scenes: a YAML file or a folder of them "
        "(default: automations/ next to the space file)."
    ),
]

WIDE_COLUMNS = 120  # a terminal this wide shows ids and file paths without --wide
WideOpt = Annotated[
    bool,
    typer.Option(
        "--wide", help="Show ids and file paths too (shown anyway on a terminal 120+ wide)."
    ),
]
