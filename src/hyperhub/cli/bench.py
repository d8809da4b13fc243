"""`hyperhub bench …`: run the benchmarks (the `bench` package, installed with HyperHub) and
record their tables."""

from __future__ import annotations

import importlib
import json
import platform
import sys
from datetime import date
from pathlib import Path
from types import ModuleType
from typing import Any

import psutil
from rich.console import Console
from rich.table import Table

from hyperhub.errors import HyperHubError


def bench_module(name: str) -> ModuleType:
    """Import `bench.<name>`: a benchmark of the `bench` package, installed with HyperHub."""
    try:
        return importlib.import_module(f"bench.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in ("bench", f"bench.{name}"):
            raise  # the benchmark is there; something it imports is not
        raise HyperHubError(
            f"this HyperHub has no benchmark bench.{name} (bench/{name}.py in a clone of "
            "HyperHub); install HyperHub from a clone (pip install -e .) to run it"
        ) from None


def machine() -> str:
    """One line naming the machine, for the record."""
    cpu = platform.processor() or platform.machine()
    mem = psutil.virtual_memory().total / 2**30
    return (
        f"{psutil.cpu_count(logical=True)} cores ({cpu}), {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, Python {platform.python_version()}"
    )


def markdown(table: Table) -> str:
    """A Rich table as a markdown table (title and caption kept as text)."""
    cols = [str(c.header) for c in table.columns]
    cells = [[str(x) for x in c._cells] for c in table.columns]
    lines = [f"**{table.title}**", "", "| " + " | ".join(cols) + " |"]
    lines.append("|" + "|".join("---" for _ in cols) + "|")
    for i in range(len(cells[0]) if cells else 0):
        lines.append("| " + " | ".join(col[i] for col in cells) + " |")
    if table.caption:
        lines += ["", str(table.caption)]
    return "\n".join(lines)


NOTES_START = "<!-- notes: kept when the section is recorded again -->"
NOTES_END = "<!-- /notes -->"


def record(path: Path, heading: str, tables: list[Table], figures: dict[str, Any]) -> None:
    """Replace (or add) the section `heading` of a markdown file with these tables. Text the
    old section held between `NOTES_START` and `NOTES_END` (written by hand) is kept, after
    the tables."""
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    start = f"## {heading}"
    old = ""
    if start in text:
        before, _, rest = text.partition(start)
        # the section ends at the next heading (one inside the notes block does not count)
        since = 0
        notes_at = rest.find(NOTES_START)
        if notes_at != -1 and not (-1 < rest.find("\n## ") < notes_at):
            since = rest.find(NOTES_END, notes_at)
            if since == -1:
                raise HyperHubError(
                    f"{path}: the section {start!r} opens a notes block without closing it "
                    f"({NOTES_END}); nothing was recorded"
                )
        end = rest.find("\n## ", since)
        after = rest[end + 1 :] if end != -1 else ""
        old = rest[: end + 1] if end != -1 else rest
    body = [start, "", f"Measured {date.today().isoformat()} on {machine()}.", ""]
    body += [markdown(t) + "\n" for t in tables]
    if NOTES_START in old:
        notes = old.partition(NOTES_START)[2].partition(NOTES_END)[0]
        body += [NOTES_START + notes + NOTES_END, ""]
    body += ["<details><summary>raw figures</summary>", "", "```json"]
    body += [json.dumps(figures, indent=2), "```", "</details>", ""]
    section = "\n".join(body)
    if start in text:
        text = before + section + ("\n" + after if after else "")
    else:
        text = text.rstrip("\n") + "\n\n" + section
    path.write_text(text, encoding="utf-8")


def hub_table(r: dict[str, Any]) -> Table:
    table = Table(title=f"Hub holding {r['devices']:,} simulated devices (simulator + store)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("goal", justify="right")
    table.add_row("hub RSS, MB", f"{r['hub_rss_mb']:.0f}", "< 300")
    table.add_row("space file load, s", f"{r['space_load_s']:.2f}", "")
    table.add_row("start (load + restore + first snapshot), s", f"{r['hub_start_s']:.2f}", "")
    table.add_row("one simulation tick + persist, ms", f"{r['tick_ms']:.0f}", "")
    table.add_row("state changes per tick", f"{r['changes_per_tick']:,}", "")
    return table


def bench_store(*, devices: int, history_rows: int, as_json: bool, record_to: Path | None) -> None:
    """Run the store and hub-memory benchmarks, print their tables, optionally record them."""
    console = Console(stderr=as_json)
    store_bench = bench_module("store_bench")
    hub_bench = bench_module("hub_bench")
    with console.status("store benchmark") as status:
        store = store_bench.run_store_bench(
            devices=devices,
            history_rows=history_rows,
            on_phase=lambda name: status.update(f"store benchmark: {name}"),
        )
        status.update(f"hub with {devices:,} devices")
        hub = hub_bench.run_hub_bench(devices=devices)
    figures = {"store": store, "hub": hub}
    tables = [store_bench.results_table(store), hub_table(hub)]
    _show(
        console,
        tables,
        figures,
        as_json,
        record_to,
        "Store and hub memory (`hyperhub bench store`)",
    )


def bench_fabric(*, quick: bool, as_json: bool, record_to: Path | None) -> None:
    """Run the fabric benchmark, print its tables (or one JSON object), optionally record them."""
    _phased(
        "fabric",
        "fabric benchmark",
        "Fabric (`hyperhub bench fabric`)",
        quick=quick,
        as_json=as_json,
        record_to=record_to,
    )


def bench_api(*, quick: bool, as_json: bool, record_to: Path | None) -> None:
    """Run the API benchmark, print its tables (or one JSON object), optionally record them."""
    _phased(
        "api",
        "API benchmark",
        "API and dashboard (`hyperhub bench api`)",
        quick=quick,
        as_json=as_json,
        record_to=record_to,
    )


def bench_rules(*, quick: bool, as_json: bool, record_to: Path | None, **sizes: int | None) -> None:
    """Run the rules benchmark, print its table (or one JSON object), optionally record it;
    `sizes` (rules, rate, seconds) override its defaults where given."""
    _phased(
        "rules",
        "rules benchmark",
        "Rules (`hyperhub bench rules`)",
        quick=quick,
        as_json=as_json,
        record_to=record_to,
        **{k: v for k, v in sizes.items() if v is not None},
    )


def _phased(
    name: str,
    label: str,
    section: str,
    *,
    quick: bool,
    as_json: bool,
    record_to: Path | None,
    **opts: int,
) -> None:
    """A bench module `bench/<name>_bench.py` with `run_<name>_bench(quick, on_phase, **opts)`
    and `results_table(figures)`: run it showing its phases, then print and record."""
    console = Console(stderr=as_json)
    module = bench_module(f"{name}_bench")
    with console.status(label) as status:
        figures = getattr(module, f"run_{name}_bench")(
            quick=quick, on_phase=lambda phase: status.update(f"{label}: {phase}"), **opts
        )
    _show(console, module.results_table(figures), figures, as_json, record_to, section)


def _show(
    console: Console,
    tables: list[Table],
    figures: dict[str, Any],
    as_json: bool,
    record_to: Path | None,
    heading: str,
) -> None:
    """Print the tables (or one JSON object) and, if asked, record them under `heading`."""
    if as_json:
        sys.stdout.write(json.dumps(figures) + "\n")
    else:
        for table in tables:
            console.print(table)
    if record_to is not None:
        record(record_to, heading, tables, figures)
        console.print(f"recorded in {record_to}")
