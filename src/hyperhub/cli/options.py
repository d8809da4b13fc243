"""The options every command spells the same way (one place, so they stay the same)."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar, cast

import typer

Command = TypeVar("Command", bound=Callable[..., Any])

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


def option_group(name: str, make: Callable[..., Any]) -> Callable[[Command], Command]:
    """Options several commands take together (typer has no groups of options): the command
    decorated takes `make`'s parameters (typer options) in place of its own parameter `name`
    — `--help` lists them there — and is called with `name=make(**those options)`."""

    def decorate(command: Command) -> Command:
        own = inspect.signature(command, eval_str=True)
        group = inspect.signature(make, eval_str=True).parameters
        params = [
            one
            for param in own.parameters.values()
            for one in (group.values() if param.name == name else [param])
        ]

        @functools.wraps(command)
        def run(**given: Any) -> Any:
            made = make(**{key: given.pop(key) for key in group})
            return command(**given, **{name: made})

        run.__signature__ = own.replace(parameters=params)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in params}
        run.__annotations__["return"] = own.return_annotation
        return cast(Command, run)

    return decorate
