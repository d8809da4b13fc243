"""`hyperhub rules …` and `hyperhub scenes …`: the space's automations from the command line.

    rules list / trace RULE / check [PATH]      what the files hold, what the rules did
    scenes list / apply NAME                    the scenes, and applying one now

Triggers, actions and scene states are sentences in the terminal's language (HYPERHUB_LANG,
LC_ALL, LC_MESSAGES, LANG: zh… → Chinese, else English); `--json` adds each one's
`definition` as the hub read it (ids, raw templates).

Rules run inside `hyperhub run`; their traces are read back from the store. A scene is applied
through the running hub when one runs (over its broker, like `set` and `call`), else on the
simulated space kept in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import asdict
from datetime import datetime, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import RenderableType
from rich.table import Table
from rich.text import Text

from hyperhub.cli.cells import Sentences
from hyperhub.cli.context import Context
from hyperhub.cli.options import (
    WIDE_COLUMNS,
    AutomationsOpt,
    DataOpt,
    DbOpt,
    JsonOpt,
    SpaceOpt,
    WideOpt,
)
from hyperhub.cli.say import err, out, print_json, translator
from hyperhub.errors import AutomationError, HyperHubError, did_you_mean
from hyperhub.spec.policy import Command
from hyperhub.spec.words import error_text, name_in

if TYPE_CHECKING:
    from hyperhub.automation.access import DeviceAccess, Listeners
    from hyperhub.automation.describe import Names
    from hyperhub.automation.engine import SceneReport
    from hyperhub.automation.loader import Book
    from hyperhub.automation.model import Rule, Scene
    from hyperhub.local import LocalSpace
    from hyperhub.runtime import HubInfo
    from hyperhub.space import Space
    from hyperhub.store import RunEntry, StateStore


rules_app = typer.Typer(
    help="The space's rules: list them, check their files, show what they did.",
    no_args_is_help=True,
)
scenes_app = typer.Typer(help="The space's scenes: list them, apply one now.", no_args_is_help=True)
t = translator(
    {
        "through the running hub": "通过正在运行的集线器",
        ": {why}": "：{why}",
        "on the simulated space": "在模拟的空间里",
        "Scene {name}: ": "场景“{name}”：",
        "{done}/{n} done": "完成 {done}/{n}",
        ", {n} failed": "，失败 {n}",
        " ({where})": "（{where}）",
    }
)

RESULT_STYLE = {"ok": "green", "error": "red", "loop": "red", "running": "cyan"}
OK_MARK, FAILED_MARK = "✓", "✗"


def _plain(text: str) -> None:
    out.print(text, markup=False, highlight=False)


def _book(ctx: Context, given: Path | None) -> Book:
    """The space's automations; every problem on stderr (file:line: message) and exit 1."""
    try:
        return ctx.automations(given)
    except AutomationError as exc:
        _print_problems(exc)
        raise typer.Exit(1) from None


def _print_problems(exc: AutomationError) -> None:
    for line in exc.lines:
        err.print(line, markup=False, highlight=False)


def _where(ctx: Context, given: Path | None) -> str:
    """The automations folder, relative to the working directory when inside it."""
    path = ctx.automations_path(given)
    return "<automations>" if path is None else _relative(path)


def _source(book: Book, key: str) -> str:
    found = book.sources.get(key)
    return "" if found is None else f"{found[0]}:{found[1]}"


def _near(source: str) -> str:
    """A file:line as short as it can be: relative to the working directory when inside it."""
    file, sep, line = source.rpartition(":")
    return f"{_relative(Path(file))}:{line}" if sep else source


def _relative(path: Path) -> str:
    """`path` relative to the working directory when inside it, else as it is."""
    with contextlib.suppress(OSError, ValueError):
        return str(path.resolve().relative_to(Path.cwd()))
    return str(path)


def _local_time(ts: float | None, tz: tzinfo) -> str:
    if ts is None:
        return ""
    return datetime.fromtimestamp(ts, tz).strftime("%Y-%m-%d %H:%M:%S")


def _value(v: Any) -> str:
    return json.dumps(v, ensure_ascii=False) if isinstance(v, bool | str | None) else str(v)


def _count(n: int, what: str) -> str:
    return f"{n} {what}" if n == 1 else f"{n} {what}s"


def _changes(changes: dict[str, Any]) -> str:
    return ", ".join(f"{k} → {_value(v)}" for k, v in changes.items())


# header, `Table.add_column` options, shown only with --wide
Columns = tuple[tuple[str, dict[str, Any], bool], ...]


def _lister(
    what: str,
    rows_of: Callable[[Context, Book, Names], list[dict[str, Any]]],
    columns: Columns,
    cells_of: Callable[[dict[str, Any], tzinfo], list[RenderableType]],
) -> Callable[..., None]:
    """`rules list` / `scenes list`: a row of each rule or scene (`rows_of`, the --json
    items), shown as a table of `columns`; `cells_of` gives a row's cells, one a column."""

    def list_them(
        space: SpaceOpt = None,
        data_dir: DataOpt = None,
        db: DbOpt = None,
        automations: AutomationsOpt = None,
        wide: WideOpt = False,
        as_json: JsonOpt = False,
    ) -> None:
        with Context(space, data_dir, db) as ctx:
            book = _book(ctx, automations)
            rows = rows_of(ctx, book, _names(ctx.space, book))
            where, tz = _where(ctx, automations), ctx.space.tz()
        if as_json:
            print_json(rows)
            return
        wide = wide or out.width >= WIDE_COLUMNS
        shown = [i for i, (*_, wide_only) in enumerate(columns) if wide or not wide_only]
        table = Table(title=f"{_count(len(rows), what)} from {where}")
        for i in shown:
            header, options, _ = columns[i]
            table.add_column(header, **options)
        for row in rows:
            cells = cells_of(row, tz)
            table.add_row(*(cells[i] for i in shown))
        out.print(table)

    return list_them


# ---------------------------------------------------------------------------- rules


def _rule_row(book: Book, rule: Rule, store: StateStore, names: Names) -> dict[str, Any]:
    from hyperhub.automation.describe import as_read, describe_trigger

    runs = store.rule_runs(rule=rule.id, limit=1)
    last = None
    if runs:
        run = runs[0]
        last = {
            "result": run.result,
            "started": run.started,
            "finished": run.finished,
            "message": run.message,
        }
    return {
        "id": rule.id,
        "name": rule.title,
        "description": rule.description,
        "enabled": rule.enabled,
        "mode": rule.mode,
        "triggers": [describe_trigger(t, names) for t in rule.triggers],
        "last_run": last,
        "source": _source(book, f"rule:{rule.id}"),
        "definition": as_read(rule),
    }


def _rule_rows(ctx: Context, book: Book, names: Names) -> list[dict[str, Any]]:
    return [_rule_row(book, r, ctx.store, names) for r in book.rules.values()]


RULE_COLUMNS: Columns = (
    ("rule", {"max_width": 24, "overflow": "fold"}, False),
    ("id", {"no_wrap": True}, True),
    ("on", {"no_wrap": True}, False),
    ("when", {"ratio": 2, "overflow": "fold"}, False),
    ("last run", {"ratio": 1, "overflow": "fold"}, False),
    ("mode", {"no_wrap": True}, True),
    ("source", {"no_wrap": True}, True),
)


def _rule_cells(row: dict[str, Any], tz: tzinfo) -> list[RenderableType]:
    return [
        Text(row["name"] or row["id"]),
        Text(row["id"]),
        Text("yes", "green") if row["enabled"] else Text("no", "dim"),
        Sentences(row["triggers"]),
        _last_run_text(row["last_run"], tz),
        Text(row["mode"]),
        Text(_near(row["source"])),
    ]


rules_app.command(
    "list",
    help="Every rule of the space's automations: whether it is enabled (in its file), its mode,"
    "\ntriggers, last run (from the stored traces) and where it is written (--wide).",
)(_lister("rule", _rule_rows, RULE_COLUMNS, _rule_cells))


def _last_run_text(last: dict[str, Any] | None, tz: tzinfo) -> Text:
    if last is None:
        return Text("never", "dim")
    text = Text(last["result"], RESULT_STYLE.get(last["result"], "yellow"))
    text.append(f" {_local_time(last['started'], tz)}")
    if last["message"]:
        text.append(f" — {last['message']}")
    return text


@rules_app.command("trace")
def rules_trace(
    rule: Annotated[str, typer.Argument(help="The rule's id.")],
    limit: Annotated[int, typer.Option(min=1, max=1000, help="At most this many runs.")] = 10,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    automations: AutomationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The latest runs of a rule, newest first: what fired it, each condition and action,
    and how it ended (from the traces the running hub stores)."""
    from hyperhub.automation.engine import UnknownRule

    with Context(space, data_dir, db) as ctx:
        try:
            known = ctx.automations(automations).rules
        except AutomationError:
            known = {}  # the traces are still worth showing
            err.print(
                "note: the automation files have problems (see `hyperhub rules check`)",
                markup=False,
                highlight=False,
            )
        runs = ctx.store.rule_runs(rule=rule, limit=limit)
        if not runs and rule not in known:
            stored = {r.rule for r in ctx.store.rule_runs(limit=1000)}
            raise UnknownRule(f"no rule {rule!r}{did_you_mean(rule, [*known, *stored])}")
        tz = ctx.space.tz()
    if as_json:
        print_json([asdict(r) for r in runs])
        return
    found = known.get(rule)
    title = rule if found is None else f"{rule} ({found.title})"
    if found is None:
        title += ", no longer in the automation files"
    if not runs:
        _plain(f"rule {title} has not run yet")
        return
    _plain(f"rule {title}: {_count(len(runs), 'run')}, newest first")
    for run in runs:
        _print_run(run, tz)


def _print_run(run: RunEntry, tz: tzinfo) -> None:
    head = Text(f"{_local_time(run.started, tz)}  ")
    head.append(run.result, RESULT_STYLE.get(run.result, "yellow"))
    if run.message:
        head.append(f"  {run.message}")
    out.print(head)
    trigger = run.trigger.get("description") or run.trigger.get("kind") or "?"
    _plain(f"  trigger: {trigger}")
    chain = run.trigger.get("chain")
    if chain:
        _plain(f"  caused by: {' → '.join(chain)}")
    for step in run.steps:
        ok = bool(step.get("ok"))
        line = Text("  ")
        line.append(OK_MARK if ok else FAILED_MARK, "green" if ok else "red")
        what, message = str(step.get("what", "")), str(step.get("message") or "")
        if message.startswith(what):  # a scene step's message is its summary
            what, message = message, ""
        line.append(f" {step.get('kind', '?'):<9} {what}")
        if message:
            line.append(f": {message}", "" if ok else "red")
        if step.get("changes"):
            line.append(f"  ({_changes(step['changes'])})", "dim")
        out.print(line)


@rules_app.command("reload")
def rules_reload(space: SpaceOpt = None, data_dir: DataOpt = None, db: DbOpt = None) -> None:
    """Make the running hub read its automation files again (checked here first: a broken
    file is listed and nothing is sent). Unchanged rules keep running."""
    import os
    import signal

    from hyperhub.hub import running_hub

    with Context(space, data_dir, db) as ctx:
        info = ctx.running_hub()
        if info is None:
            raise HyperHubError(
                f"no hub is running on {ctx.data_dir}; it reads the automations when it starts"
            )
        if info.automations is None:
            raise HyperHubError("the running hub runs no automations (--no-automations?)")
        path = Path(info.automations)
        try:
            book = ctx.automations(path)
        except AutomationError as exc:
            _print_problems(exc)
            raise typer.Exit(1) from None
        pid = running_hub(ctx.data_dir)
        if pid is None or pid <= 0:
            raise HyperHubError(f"the hub on {ctx.data_dir} is gone")
        os.kill(pid, signal.SIGHUP)
    _plain(
        f"asked the hub (pid {pid}) to reload {len(book.rules)} rules and {len(book.scenes)} "
        f"scenes from {path}; unchanged rules keep running"
    )


@rules_app.command("check")
def rules_check(
    path: Annotated[
        Path | None,
        typer.Argument(
            help="A YAML file or a folder of them (default: automations/ next to the space file)."
        ),
    ] = None,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Validate the automations against the space; list every problem as file:line: message
    (and exit 1)."""
    with Context(space, data_dir, db) as ctx:
        where = ctx.automations_path(path)
        try:
            book = ctx.automations(path)
        except AutomationError as exc:
            if as_json:
                problems = [
                    {"file": f, "line": p.line, "message": p.message} for f, p in exc.problems
                ]
                print_json({"ok": False, "problems": problems})
            else:
                _print_problems(exc)
            raise typer.Exit(1) from None
    summary = {
        "ok": True,
        "path": None if where is None else str(where),
        "rules": len(book.rules),
        "scenes": len(book.scenes),
        "places": len(book.places),
        "risky": [{"in": owner, "what": what} for owner, what in book.risky],
    }
    if as_json:
        print_json(summary)
        return
    missing = (
        " (no such folder: nothing to run)" if where is not None and not where.exists() else ""
    )
    _plain(
        f"OK: {len(book.rules)} rules, {len(book.scenes)} scenes, {len(book.places)} places "
        f"from {where or '<automations>'}{missing}"
    )


# ---------------------------------------------------------------------------- scenes


def _scene_row(book: Book, scene: Scene, names: Names) -> dict[str, Any]:
    from hyperhub.automation.describe import as_read, describe_action, describe_states

    key = f"scene:{scene.id}"
    return {
        "id": scene.id,
        "name": scene.name,
        "aliases": list(scene.aliases),
        "states": {d: dict(values) for d, values in scene.states.items()},
        "sets": [describe_states(d, values, names) for d, values in scene.states.items()],
        "actions": [describe_action(a, names) for a in scene.actions],
        "risky": [what for owner, what in book.risky if owner == key],
        "source": _source(book, key),
        "definition": as_read(scene),
    }


def _scene_rows(ctx: Context, book: Book, names: Names) -> list[dict[str, Any]]:
    return [_scene_row(book, s, names) for s in book.scenes.values()]


SCENE_COLUMNS: Columns = (
    ("scene", {"max_width": 24, "overflow": "fold"}, False),
    ("id", {"no_wrap": True}, True),
    ("does", {"ratio": 1, "overflow": "fold"}, False),
    ("risky", {"max_width": 20, "overflow": "fold"}, False),
    ("source", {"no_wrap": True}, True),
)


def _scene_cells(row: dict[str, Any], tz: tzinfo) -> list[RenderableType]:
    return [
        Text(", ".join([row["name"], *row["aliases"]])),
        Text(row["id"]),
        Sentences(row["sets"] + row["actions"]),
        Text(", ".join(row["risky"]), "yellow"),
        Text(_near(row["source"])),
    ]


scenes_app.command(
    "list",
    help="Every scene: its names, what it sets and does, its risky commands, its file (--wide).",
)(_lister("scene", _scene_rows, SCENE_COLUMNS, _scene_cells))


@scenes_app.command("apply")
def scenes_apply(
    name: Annotated[str, typer.Argument(help="The scene's id, name or alias (e.g. 回家模式).")],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    automations: AutomationsOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Apply a scene now: its states and actions, devices in parallel, through the running hub
    if there is one (else on the simulated space in the store). Its risky commands (unlock, open
    a garage…) run without --yes: scenes are the owner's. Exits 1 if any command failed."""
    from hyperhub.automation.engine import Engine, UnknownScene

    with Context(space, data_dir, db) as ctx:
        book = _book(ctx, automations)
        local = LocalAccess(ctx.local)
        engine = Engine(ctx.space, book, local, schedule=False)
        try:
            scene = engine.scene(name)  # by id, or by name or alias (any case)
        except UnknownScene:
            names = [n for s in book.scenes.values() for n in (s.id, s.name, *s.aliases)]
            raise UnknownScene(f"no scene {name!r}{did_you_mean(name, names)}") from None
        info = ctx.running_hub()
        if info is None:
            report = asyncio.run(engine.apply_scene(scene.id, actor="cli"))
            local.settle()
            via = "store"
        else:
            report = asyncio.run(_apply_through_hub(ctx, info, book, scene))
            via = "hub"
    _scene_report(scene, report, via, as_json, _names(ctx.space, book))
    if not report.ok:
        raise typer.Exit(1)


async def _apply_through_hub(ctx: Context, info: HubInfo, book: Book, scene: Scene) -> SceneReport:
    """Apply the scene over the running hub's broker (its engine is not involved: this
    process sends the commands, as `set` and `call` do, and audits them)."""
    from hyperhub.automation.access import FabricAccess
    from hyperhub.automation.engine import Engine
    from hyperhub.runtime import connect_to_running_hub

    devices = scene_devices(ctx.space, scene)
    async with connect_to_running_hub(info, ctx.data_dir, ctx.space, devices=devices) as fabric:
        hub = AuditedAccess(FabricAccess(fabric), ctx.store)
        engine = Engine(ctx.space, book, hub, schedule=False)
        return await engine.apply_scene(scene.id, actor="cli")


def scene_devices(space: Space, scene: Scene) -> list[str]:
    """The devices a scene sends commands to."""
    ids = list(scene.states)
    for action in scene.actions:
        body = action.set or action.call or action.notify
        if body is None:
            continue
        if body.device is not None:
            ids += [body.device] if isinstance(body.device, str) else list(body.device)
        else:
            kind = getattr(body, "type", None)
            ids += [d.id for d in space.devices.values() if d.type == kind]
    return list(dict.fromkeys(ids))


def _names(space: Space, book: Book) -> Names:
    """How the space's devices, areas and scenes are called in the terminal's language."""
    from hyperhub.automation.describe import Names
    from hyperhub.spec.words import env_lang

    return Names.of(env_lang(), space, book)


def _scene_report(scene: Scene, report: SceneReport, via: str, as_json: bool, names: Names) -> None:
    """Each command in words ("✓ Kitchen Light: set brightness to 40 %"), then the count;
    --json keeps the ids (`what`, `command`)."""
    from hyperhub.automation.describe import describe_command

    if as_json:
        items = [
            {"device": i.device, "what": i.what, "command": i.command, "ok": i.ok,
             "message": i.message}
            for i in report.items
        ]  # fmt: skip
        print_json(
            {
                "scene": scene.id,
                "name": scene.name,
                "ok": report.ok,
                "items": items,
                "summary": report.summary(),
                "via": via,
            }
        )
        return
    for item in report.items:
        line = Text(OK_MARK if item.ok else FAILED_MARK, "green" if item.ok else "red")
        said = item.command and describe_command(item.device, item.command, names)
        line.append(f" {said or item.what}")
        if item.message:
            why = error_text(names.lang, item.code, item.message) if item.code else item.message
            line.append(t(": {why}", why=why), "" if item.ok else "red")
        out.print(line)
    done = len(report.items) - len(report.failed)
    where = t("through the running hub" if via == "hub" else "on the simulated space")
    summary = Text(t("Scene {name}: ", name=name_in(names.lang, scene.name, scene.aliases)))
    count = t("{done}/{n} done", done=done, n=len(report.items))
    summary.append(count, "green" if report.ok else "red")
    if report.failed:
        summary.append(t(", {n} failed", n=len(report.failed)))
    summary.append(t(" ({where})", where=where))
    out.print(summary)


# ---------------------------------------------------------------------------- hubs


class LocalAccess:
    """`DeviceAccess` over the simulated space kept in the store, when no hub runs: commands
    apply at once (confirmed: scenes are the owner's) and are persisted and audited like `set` and
    `call`; nothing is listened to (no engine runs here). The `LocalSpace` is made on first
    use."""

    def __init__(self, make: Callable[[], LocalSpace]) -> None:
        self._make = make
        self._local: LocalSpace | None = None

    @property
    def local(self) -> LocalSpace:
        if self._local is None:
            self._local = self._make()
        return self._local

    def state_of(self, device: str) -> dict[str, Any] | None:
        try:
            return self.local.sim.state(device)
        except HyperHubError:
            return None

    def is_online(self, device: str) -> bool:
        return device in self.local.space.devices

    async def send(self, cmd: Command, *, actor: str) -> dict[str, Any]:
        return self.local.send(cmd, actor=actor, confirm=True)

    def listen(self, to: Listeners) -> Callable[[], None]:
        return lambda: None

    def settle(self) -> None:
        """Finish what the commands set moving (a curtain closing) and persist it."""
        if self._local is not None:
            self._local.settle()
            self._local.events()  # drop the events: nothing listens to them here


class AuditedAccess:
    """A `DeviceAccess` whose commands are audited in `store`: for the running hub's
    `FabricAccess` in a one-shot command, whose `HubFabric` has no store
    (`runtime.audit_command`)."""

    def __init__(self, hub: DeviceAccess, store: StateStore) -> None:
        self.hub = hub
        self.store = store

    def state_of(self, device: str) -> dict[str, Any] | None:
        return self.hub.state_of(device)

    def is_online(self, device: str) -> bool:
        return self.hub.is_online(device)

    async def send(self, cmd: Command, *, actor: str) -> dict[str, Any]:
        from hyperhub.runtime import audit_command

        try:
            changes = await self.hub.send(cmd, actor=actor)
        except HyperHubError as exc:
            audit_command(self.store, actor, cmd, exc)
            raise
        audit_command(self.store, actor, cmd, changes)
        return changes

    def listen(self, to: Listeners) -> Callable[[], None]:
        return self.hub.listen(to)
