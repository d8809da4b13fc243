"""`hyperhub …` commands. Errors print one line each, with no traceback, and exit non-zero."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from hyperhub import __version__
from hyperhub.cli.adapters_cmd import adapters_app
from hyperhub.cli.cells import Sentences
from hyperhub.cli.context import (
    Context,
    parse_call_args,
    parse_device_list,
    parse_duration,
    parse_when,
)
from hyperhub.cli.options import (
    WIDE_COLUMNS,
    AutomationsOpt,
    DataOpt,
    DbOpt,
    JsonOpt,
    SpaceOpt,
    WideOpt,
    option_group,
)
from hyperhub.cli.rules_cmd import rules_app, scenes_app
from hyperhub.cli.say import err, lang, out, print_json, translator
from hyperhub.cli.train_cmd import train as train_cmd
from hyperhub.cli.voice_cmd import SttModelOpt, VoiceOpt, speech_options
from hyperhub.cli.voice_cmd import say as say_cmd
from hyperhub.cli.voice_cmd import transcribe as transcribe_cmd
from hyperhub.cli.wyoming_cmd import satellite as satellite_cmd
from hyperhub.cli.wyoming_cmd import wyoming as wyoming_cmd
from hyperhub.errors import HyperHubError, NeedsConfirmation, SpaceError
from hyperhub.space import Space, load_space
from hyperhub.spec.words import (
    action_label,
    error_text,
    event_text,
    label,
    lower_first,
    noun,
    state_word,
    type_label,
)

app = typer.Typer(
    name="hyperhub",
    help="HyperHub: an open, local-first hub for a Human × Car × Home device ecosystem.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
bench_app = typer.Typer(help="Benchmarks; each prints a table (or --json) and can record results.")
app.add_typer(bench_app, name="bench")
app.add_typer(rules_app, name="rules")
app.add_typer(scenes_app, name="scenes")
app.add_typer(adapters_app, name="adapters")
app.command("train")(train_cmd)
app.command("say")(say_cmd)
app.command("transcribe")(transcribe_cmd)
app.command("wyoming")(wyoming_cmd)
app.command("satellite")(satellite_cmd)
t = translator(
    {
        "error: {message}": "错误：{message}",
        "{space}: {n} device": "{space}：{n} 个设备",
        "{space}: {n} devices": "{space}：{n} 个设备",
        "device": "设备",
        "type": "类型",
        "area": "区域",
        "state": "状态",
        "property": "属性",
        "value": "值",
        "(read-only)": "（只读）",
        "time ({zone})": "时间（{zone}）",
        "{name} · {what}: {n} point": "{name} · {what}：{n} 个点",
        "{name} · {what}: {n} points": "{name} · {what}：{n} 个点",
        "OK": "好的",
        "{action} done": "{action}完成",
        "accepted; it reports the change as it happens": "已接受；变化会随时上报",
        "nothing to change (already so)": "不需要改动（已经是这样）",
        "event: {name}": "事件：{name}",
        "; add --yes to do it": "；加上 --yes 即可执行",
    }
)


NoLlmOptRun = Annotated[
    bool, typer.Option("--no-llm", help="The API's assistant never uses the local LLM.")
]


def _version(value: bool) -> None:
    if value:
        out.print(f"hyperhub {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True)] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log more.")] = False,
) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


@app.command()
def check(
    space: Annotated[Path, typer.Argument(help="The space file to validate.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a space file; list every problem as file:line: message."""
    try:
        loaded = load_space(space)
    except SpaceError as exc:
        if as_json:
            print_json(
                {
                    "ok": False,
                    "problems": [{"line": p.line, "message": p.message} for p in exc.problems],
                }
            )
            raise typer.Exit(1) from None
        raise
    type_names = sorted({d.type for d in loaded.devices.values()})
    summary = {
        "ok": True,
        "space": loaded.name,
        "areas": len(loaded.areas),
        "devices": len(loaded.devices),
        "types": type_names,
    }
    if as_json:
        print_json(summary)
    else:
        out.print(
            f"[green]OK[/] {space}: space {loaded.name!r}, {len(loaded.devices)} devices in "
            f"{len(loaded.areas)} areas ({len(type_names)} types)"
        )


@app.command()
def doctor(
    data_dir: DataOpt = None,
    model: Annotated[
        Path | None,
        typer.Option("--model", help="Test this GGUF instead of the default model."),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check what HyperHub needs, one line each: the CPU, the llama.cpp build and a test run
    of the local LLM in a child process, Mosquitto, Chromium, PostgreSQL, the data dir.
    Exits 1 when a required part fails."""
    from hyperhub.cli.doctor import FAIL, WARN, as_dicts, run_checks

    checks = run_checks(data_dir, model)
    failed = [c.part for c in checks if c.status == FAIL]
    if as_json:
        print_json({"ok": not failed, "checks": as_dicts(checks)})
    else:
        width = max(len(c.part) for c in checks)
        colors = {FAIL: "bold red", WARN: "yellow"}
        for c in checks:
            style = colors.get(c.status, "green")
            out.print(f"[{style}]{c.status:<4}[/]  {c.part:<{width}}  ", end="")
            out.print(c.detail, markup=False, highlight=False)
        if failed:
            out.print(f"Not ready: {', '.join(failed)} failed (see above).", highlight=False)
        else:
            out.print("Ready: every required part works.", highlight=False)
    if failed:
        raise typer.Exit(1)


@app.command()
def devices(
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    area: Annotated[
        str | None, typer.Option(help="Only devices in this area (id, name or alias).")
    ] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only devices of this type.")] = None,
    wide: WideOpt = False,
    as_json: JsonOpt = False,
) -> None:
    """List the space's devices with their current state."""
    with Context(space, data_dir, db) as ctx:
        loaded = ctx.space
        if area is not None:
            area = loaded.find_area(area).id
        if type is not None:
            loaded.types.get(type)  # names the known types when it is unknown
        chosen = loaded.select(area=area, type=type)
        states = ctx.states()
        rows: list[dict[str, Any]] = [
            {
                "id": d.id,
                "name": d.name,
                "type": d.type,
                "class": d.cls,
                "area": d.area,
                "aliases": list(d.aliases),
                "state": states.get(d.id, d.state),
                "adapter": d.adapter,  # the adapter it came from (docs/adapters.md), or null
            }
            for d in chosen
        ]
    if as_json:
        print_json(rows)
        return
    wide = wide or out.width >= WIDE_COLUMNS
    n = len(rows)
    table = Table(title=t("{space}: {n} device" if n == 1 else "{space}: {n} devices",
                          space=loaded.name, n=n))  # fmt: skip
    table.add_column(t("device"), no_wrap=True, overflow="ellipsis", max_width=22)
    if wide:  # ids are for scripts; the CLI takes names too
        table.add_column("id", no_wrap=True)
    table.add_column(t("type"), no_wrap=True, overflow="ellipsis", max_width=15)
    table.add_column(t("area"), no_wrap=True, overflow="ellipsis", max_width=13)
    table.add_column(t("state"), ratio=1, overflow="fold")
    for row, dev in zip(rows, chosen, strict=True):
        kind = type_label(lang(), row["type"])
        kind = f"{kind} ({row['class']})" if row["class"] else kind
        place = loaded.areas[dev.area].name_in(lang()) if dev.area else ""
        cells = [dev.name_in(lang()), *([row["id"]] if wide else []), kind, place]
        table.add_row(*cells, _brief(dev, row["state"], wide))
    out.print(table)


def _brief(dev: Any, state: dict[str, Any], wide: bool) -> Sentences:
    """A device's state for a table: each value in words and its unit, one a line (joined
    with " · " when wide), never split inside a word or between a number and its unit."""
    parts = []
    for prop, value in state.items():
        shown = _value(dev, prop, value)
        named = isinstance(value, bool)  # a state says itself: "Locked", "Climate off"
        parts.append(shown if named else f"{label(lang(), prop, short=True)} {shown}")
    return Sentences([" · ".join(parts)] if wide else parts)


def _value(dev: Any, prop: str, value: Any, *, beside_label: bool = False) -> str:
    """A value of a device's property in words, in the terminal's language; beside its
    label (the `state` table), a true/false state is its word alone ("Off", not "Climate
    off")."""
    if beside_label and isinstance(value, bool):
        return state_word(lang(), prop, value)
    spec = dev.dtype.properties.get(prop)
    return spec.text(value, prop, lang()) if spec is not None else _fmt(value)


def _fmt(v: Any) -> str:
    if isinstance(v, dict):
        return "{" + ", ".join(f"{k}: {x}" for k, x in v.items()) + "}"
    return json.dumps(v, ensure_ascii=False) if isinstance(v, bool | str) else str(v)


@app.command()
def state(
    device: Annotated[str, typer.Argument(metavar="DEVICE", help="Device: id, name or alias.")],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show one device's current state."""
    with Context(space, data_dir, db) as ctx:
        dev = ctx.space.find_device(device)
        current = ctx.states().get(dev.id, dev.state)
        updated = ctx.store.last_updated(dev.id)
    if as_json:
        print_json({"device": dev.id, "state": current, "updated": updated})
        return
    table = Table(title=f"{dev.name_in(lang())} ({type_label(lang(), dev.type)})")
    table.add_column(t("property"))
    table.add_column(t("value"))
    for prop, value in current.items():
        ro = "" if dev.dtype.properties[prop].writable else f" [dim]{t('(read-only)')}[/]"
        table.add_row(label(lang(), prop) + ro, _value(dev, prop, value, beside_label=True))
    out.print(table)


@app.command("set")
def set_cmd(
    device: Annotated[str, typer.Argument(metavar="DEVICE", help="Device: id, name or alias.")],
    prop: Annotated[str, typer.Argument(metavar="PROPERTY", help="Property name.")],
    value: Annotated[str, typer.Argument(help="New value (true/false, a number, an enum value…).")],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Confirm a risky change (unlock, open a garage…).")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Set a property of a device (through the running hub if there is one)."""
    with Context(space, data_dir, db) as ctx:
        dev = ctx.space.find_device(device)
        parsed = ctx.parse_value(dev, prop, value)
        _command(ctx, dev.id, yes, as_json, property=prop, value=parsed)


@app.command()
def call(
    device: Annotated[str, typer.Argument(metavar="DEVICE", help="Device: id, name or alias.")],
    action: Annotated[str, typer.Argument(help="Action name.")],
    args: Annotated[list[str] | None, typer.Argument(help="Arguments as name=value.")] = None,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Confirm a risky action.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run an action on a device, e.g. `hyperhub call phone notify message=hello`."""
    with Context(space, data_dir, db) as ctx:
        dev = ctx.space.find_device(device)
        parsed = parse_call_args(dev, action, args or [])
        _command(ctx, dev.id, yes, as_json, action=action, args=parsed)


def _command(ctx: Context, device: str, confirm: bool, as_json: bool, **command: Any) -> None:
    """Send a command through a running hub, or apply it to the stored state when none runs.
    A risky one without `--yes` is refused in words that say how to confirm it."""
    try:
        _send_command(ctx, device, confirm, as_json, **command)
    except NeedsConfirmation as exc:  # the hub's words, and how to confirm here
        raise NeedsConfirmation(exc.in_lang(lang()) + t("; add --yes to do it")) from None


def _send_command(ctx: Context, device: str, confirm: bool, as_json: bool, **command: Any) -> None:
    info = ctx.running_hub()
    if info is not None:
        current = ctx.states().get(device, {})
        already = "property" in command and current.get(command["property"]) == command["value"]
        from hyperhub.runtime import send_to_running_hub

        ack = asyncio.run(
            send_to_running_hub(
                info,
                ctx.data_dir,
                ctx.space,
                ctx.store,
                device,
                actor="cli",
                confirm=confirm,
                **command,
            )
        )
        _report(
            ctx.space, device, ack.changes, None, as_json, via="hub", asked=command, already=already
        )
        return
    local = ctx.local()
    if "action" in command:
        changes = local.call(
            device, command["action"], command["args"], actor="cli", confirm=confirm
        )
    else:
        changes = local.set(
            device, command["property"], command["value"], actor="cli", confirm=confirm
        )
    changes = _merge(changes, local.settle().get(device, {}))
    events = [e.name for e in local.events() if e.device == device]
    _report(ctx.space, device, changes, local.sim.state(device), as_json, events, asked=command)


def _merge(first: dict[str, Any], later: dict[str, Any]) -> dict[str, Any]:
    return {**first, **later}


def _report(
    space: Space,
    device: str,
    changes: dict[str, Any],
    now: dict[str, Any] | None,
    as_json: bool,
    events: list[str] | None = None,
    via: str = "store",
    asked: dict[str, Any] | None = None,
    already: bool = False,
) -> None:
    """What a `set` / `call` did, in one line: the changes, else what happened instead."""
    if as_json:
        print_json(
            {"device": device, "changes": changes, "state": now, "events": events or [], "via": via}
        )
        return
    # names and words, not ids and JSON ("OK front_door_lock: locked → false")
    dev = space.devices[device]
    said = f"[green]{t('OK')}[/] {dev.name_in(lang())}: "
    if changes:
        out.print(said + ", ".join(_change(dev, k, v) for k, v in changes.items()))
    elif asked is not None and "action" in asked:
        action = lower_first(lang(), action_label(lang(), asked["action"]))
        out.print(said + t("{action} done", action=action))
    elif via == "hub" and not already:  # a cover on its way: it reports as it moves
        out.print(said + t("accepted; it reports the change as it happens"))
    else:
        out.print(said + t("nothing to change (already so)"))
    for name in events or []:
        out.print("  " + t("event: {name}", name=event_text(lang(), name)))


def _change(dev: Any, prop: str, value: Any) -> str:
    """One change: "unlocked", "brightness → 30 %" (a state says itself)."""
    shown = _value(dev, prop, value)
    if isinstance(value, bool):
        return lower_first(lang(), shown)
    return f"{noun(lang(), prop)} → {shown}"


@app.command()
def history(
    device: Annotated[str, typer.Argument(metavar="DEVICE", help="Device: id, name or alias.")],
    prop: Annotated[str, typer.Argument(metavar="PROPERTY")],
    since: Annotated[
        str, typer.Option(help="How far back: 30s, 15m, 1h, 2d, or an ISO time.")
    ] = "1h",
    until: Annotated[str | None, typer.Option(help="End of the window (default now).")] = None,
    points: Annotated[
        int, typer.Option(min=1, max=100_000, help="At most this many points (downsampled).")
    ] = 500,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Show a property's history over a time window."""
    with Context(space, data_dir, db) as ctx:
        dev = ctx.space.find_device(device)
        dev.dtype.prop(prop, dev.id)
        now = ctx.clock.now()
        start = parse_when(since, now)
        end = parse_when(until, now) if until else now
        rows = ctx.store.history(dev.id, prop, start, end, max_points=points)
    if as_json:
        print_json([{"ts": p.ts, "value": p.value} for p in rows])
        return
    from datetime import datetime

    # one time convention, labelled: the space's zone (as the dashboard's)
    zone = ctx.space.tz()
    n = len(rows)
    what = label(lang(), prop)
    title = t("{name} · {what}: {n} point" if n == 1 else "{name} · {what}: {n} points",
              name=dev.name_in(lang()), what=what, n=n)  # fmt: skip
    table = Table(title=title)
    table.add_column(t("time ({zone})", zone=ctx.space.timezone_name() or str(zone)))
    table.add_column(t("value"))
    for p in rows:
        when = datetime.fromtimestamp(p.ts, tz=zone).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, _value(dev, prop, p.value))
    out.print(table)


@app.command()
def run(
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    host: Annotated[
        str, typer.Option(help="Address the API and dashboard listen on (0.0.0.0: every one).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the API and dashboard (0: any free).")
    ] = 8321,
    cors_origin: Annotated[
        list[str] | None,
        typer.Option(
            "--cors-origin", help="Let pages of this origin call the API (repeatable; none)."
        ),
    ] = None,
    no_api: Annotated[
        bool, typer.Option("--no-api", help="Serve no API or dashboard (fabric only).")
    ] = False,
    commands_per_minute: Annotated[
        int,
        typer.Option(
            min=0, help="API writes (set, call, scene, rule run) per token a minute (0: no limit)."
        ),
    ] = 600,
    history_days: Annotated[
        float, typer.Option(min=0, help="Days of history kept (0: for ever).")
    ] = 90,
    audit_days: Annotated[
        float, typer.Option(min=0, help="Days of the audit log kept (0: for ever).")
    ] = 365,
    no_llm: NoLlmOptRun = False,
    broker: Annotated[
        str | None,
        typer.Option(help="An external broker, mqtt://user:pass@host:1883 (default: embedded)."),
    ] = None,
    broker_host: Annotated[str, typer.Option(help="Address the embedded broker binds.")] = (
        "127.0.0.1"
    ),
    broker_port: Annotated[
        int, typer.Option(min=0, max=65535, help="Port of the embedded broker (0: any free).")
    ] = 18830,
    broker_kind: Annotated[
        str, typer.Option(help="Embedded broker: auto, mosquitto or amqtt.")
    ] = "auto",
    tick: Annotated[
        float, typer.Option(help="Seconds between simulation steps.", min=0.05, max=60)
    ] = 1.0,
    duration: Annotated[
        str | None, typer.Option(help="Stop after this long (e.g. 30s); default: until Ctrl-C.")
    ] = None,
    automations: AutomationsOpt = None,
    no_automations: Annotated[
        bool, typer.Option("--no-automations", help="Run no rules (scenes neither).")
    ] = False,
    stt_model: SttModelOpt = None,
    voice: VoiceOpt = None,
) -> None:
    """Run the hub: the broker, the space's devices (simulated), the store, the rules, the API
    and the dashboard, until Ctrl-C. Spoken questions (POST /api/ask with audio, the
    dashboard's microphone) load the speech models on first use."""
    from hyperhub.fabric.broker_url import BrokerURL
    from hyperhub.hub import HubLock
    from hyperhub.runtime import Retention, ServeStatus, serve

    if broker_kind not in ("auto", "mosquitto", "amqtt"):
        raise HyperHubError(f"--broker-kind must be auto, mosquitto or amqtt, not {broker_kind!r}")
    external = BrokerURL.parse(broker) if broker else None
    origins = tuple(_check_origin(o) for o in cors_origin or [])
    with Context(space, data_dir, db, remember_space=True) as ctx:
        book = None if no_automations else ctx.automations(automations)
        api_settings = None
        session = None
        lock = HubLock(ctx.data_dir)
        lock.acquire()
        try:
            if not no_api:
                from hyperhub.api import ApiSettings
                from hyperhub.cli.assistant_cmd import EngineOptions, Session

                api_settings = ApiSettings(
                    host=host,
                    port=port,
                    cors_origins=origins,
                    commands_per_minute=commands_per_minute,
                    stt_model=stt_model,
                    voice=voice,
                )
                opts = EngineOptions(no_llm=no_llm, adapter=os.environ.get("HYPERHUB_ADAPTER"))
                opts.check()
                session = Session(ctx.space, opts, warn=_note)

            async def main() -> ServeStatus:
                stop = asyncio.Event()
                timer = None
                # the local LLM loads while the hub starts (owned here, cancelled at the end;
                # a load under way finishes in its thread before the process exits)
                warm = (
                    None
                    if session is None
                    else asyncio.create_task(asyncio.to_thread(session.warm_up), name="llm-warm-up")
                )
                if duration:
                    timer = asyncio.get_running_loop().call_later(
                        parse_duration(duration), stop.set
                    )

                def ready(status: ServeStatus) -> None:
                    i = status.info
                    remote = (
                        f", {len(status.remote_devices)} on other nodes"
                        if status.remote_devices
                        else ""
                    )
                    err.print(
                        f"[bold green]HyperHub[/] running space {ctx.space.name!r}: "
                        f"{i.local_devices} simulated devices{remote}; broker {i.broker_kind} on "
                        f"{i.broker_host}:{i.broker_port}; data in {ctx.data_dir} — Ctrl-C to stop"
                    )
                    if book is not None:
                        where = ctx.automations_path(automations)
                        err.print(
                            f"Automations: {len(book.rules)} rules, {len(book.scenes)} scenes "
                            f"from {where}"
                        )
                    if i.api_url:
                        err.print(f"Dashboard and API: {i.api_url} (API docs: {i.api_url}docs)")
                    if status.setup_code:
                        err.print(
                            f"No admin yet. One-time setup code: [bold]{status.setup_code}[/] "
                            f"(also in {ctx.data_dir / 'setup-code'}); enter it in the "
                            "dashboard, or run `hyperhub user add NAME --admin --password-stdin`."
                        )

                try:
                    return await serve(
                        ctx.space,
                        ctx.store,
                        ctx.data_dir,
                        broker=external,
                        broker_host=broker_host,
                        broker_port=broker_port,
                        broker_kind=broker_kind,
                        tick_s=tick,
                        stop=stop,
                        on_ready=ready,
                        api=api_settings,
                        assistant=None if session is None else session.assistant,
                        automations=book,
                        automations_path=None
                        if book is None
                        else ctx.automations_path(automations),
                        retention=Retention(history_days=history_days, audit_days=audit_days),
                    )
                finally:
                    if timer:
                        timer.cancel()
                    if warm is not None:
                        warm.cancel()

            status = asyncio.run(main())
        finally:
            lock.release()
            if session is not None:
                session.close()
    st = status.stats
    err.print(
        f"stopped: {st.get('received', 0)} messages received, {st.get('written', 0)} state "
        f"updates stored, {st.get('malformed', 0)} malformed"
    )


def _check_origin(origin: str) -> str:
    """A CORS origin as browsers send it: scheme://host[:port], no path."""
    from urllib.parse import urlsplit

    parts = urlsplit(origin)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.path not in ("", "/"):
        raise HyperHubError(
            f"--cors-origin {origin!r} must be an origin like https://example.com:8443"
        )
    return f"{parts.scheme}://{parts.netloc}"


@app.command()
def node(
    only: Annotated[str, typer.Option(help="The devices this node hosts: ids, comma-separated.")],
    broker: Annotated[
        str,
        typer.Option(help="The hub's broker, mqtt://NODE:PASSWORD@host:port (see `nodes add`)."),
    ],
    space: SpaceOpt = None,
    name: Annotated[str | None, typer.Option(help="Node name (default: the broker user).")] = None,
    backend: Annotated[
        str | None,
        typer.Option(help="module:factory giving a device backend (default: simulated devices)."),
    ] = None,
    tick: Annotated[float, typer.Option(min=0.05, max=60)] = 1.0,
    duration: Annotated[str | None, typer.Option(help="Stop after this long.")] = None,
) -> None:
    """Run some devices of a space as a separate node that joins a hub over MQTT."""
    from hyperhub import config
    from hyperhub.fabric.broker_url import BrokerURL
    from hyperhub.runtime import load_backend, run_node

    url = BrokerURL.parse(broker)
    path = space or config.space_from_env() or config.demo_space()
    loaded = load_space(path)
    devices = parse_device_list(loaded, only)
    node_name = name or url.username or "node"
    chosen = load_backend(backend, loaded, devices) if backend else None

    async def main() -> dict[str, Any]:
        stop = asyncio.Event()
        if duration:
            asyncio.get_running_loop().call_later(parse_duration(duration), stop.set)
        return await run_node(
            loaded,
            devices,
            url,
            name=node_name,
            backend=chosen,
            tick_s=tick,
            stop=stop,
            on_ready=lambda n: err.print(
                f"[bold green]node {node_name}[/]: {len(devices)} devices on {url} — Ctrl-C to stop"
            ),
        )

    stats = asyncio.run(main())
    err.print(f"node stopped: {stats}")


nodes_app = typer.Typer(help="Nodes that may join this hub's embedded broker.")
app.add_typer(nodes_app, name="nodes")


@nodes_app.command("add")
def nodes_add(
    name: Annotated[str, typer.Argument(help="Node name ([a-z0-9_]+), also its broker user.")],
    only: Annotated[str, typer.Option(help="The devices it hosts: ids, comma-separated.")],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register a node: its credentials and the devices it may publish for. Prints its URL."""
    from hyperhub.runtime import add_node

    with Context(space, data_dir, db) as ctx:
        devices = parse_device_list(ctx.space, only)
        url, reloaded = add_node(ctx.data_dir, ctx.space, name, devices)
    if as_json:
        print_json({"node": name, "devices": devices, "broker": url, "reloaded": reloaded})
        return
    out.print(url)
    note = "the running broker reloaded its ACL" if reloaded else "start or restart the hub"
    err.print(
        f"node {name} may publish for {', '.join(devices)}; {note}. The hub's own node stops "
        "hosting these devices when the hub next starts."
    )


@nodes_app.command("remove")
def nodes_remove(
    name: Annotated[str, typer.Argument(help="The node to forget.")],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Forget a node: its login is refused from now on; the hub hosts its devices again
    from its next start."""
    from hyperhub.runtime import remove_node

    with Context(space, data_dir, db) as ctx:
        devices, reloaded = remove_node(ctx.data_dir, ctx.space, name)
    if as_json:
        print_json({"node": name, "devices": devices, "reloaded": reloaded})
        return
    note = "the running broker refuses it now" if reloaded else "its login is refused"
    out.print(
        f"Removed node {name}; {note}. The hub hosts "
        f"{', '.join(devices) or 'its devices'} again from its next start."
    )


@nodes_app.command("list")
def nodes_list(data_dir: DataOpt = None, as_json: JsonOpt = False) -> None:
    """The registered nodes and their devices."""
    from hyperhub import config
    from hyperhub.fabric.credentials import CredentialStore

    nodes: list[dict[str, Any]] = [
        {"node": p.name, "devices": list(p.devices)}
        for p in CredentialStore(config.data_dir(data_dir)).nodes()
    ]
    if as_json:
        print_json(nodes)
        return
    table = Table(title="nodes")
    table.add_column("node")
    table.add_column("devices", overflow="fold")
    for n in nodes:
        table.add_row(n["node"], ", ".join(n["devices"]))
    out.print(table)


token_app = typer.Typer(help="API tokens: create, list, revoke (stored hashed in auth.db).")
app.add_typer(token_app, name="token")
user_app = typer.Typer(help="Dashboard users (passwords hashed with argon2).")
app.add_typer(user_app, name="user")


def _auth(data_dir: Path | None) -> Any:
    from hyperhub import config
    from hyperhub.auth import AuthStore

    return AuthStore(config.data_dir(data_dir))


@token_app.command("create")
def token_create(
    scopes: Annotated[
        str, typer.Option(help="Comma-separated: read, control, control:risky, admin.")
    ],
    name: Annotated[
        str | None, typer.Option(help="A name for the token (shown in the audit log).")
    ] = None,
    data_dir: DataOpt = None,
) -> None:
    """Create an API token and print it (only the token, on stdout; it is not shown again)."""
    with _auth(data_dir) as auth:
        secret, token = auth.create_token(name, scopes.split(","))
    sys.stdout.write(secret + "\n")
    err.print(f"token {token.id} ({token.name}): {', '.join(sorted(token.scopes))}")


@token_app.command("list")
def token_list(data_dir: DataOpt = None, as_json: JsonOpt = False) -> None:
    """The tokens (never their secrets), newest first."""
    with _auth(data_dir) as auth:
        tokens = [t.as_dict() for t in auth.tokens()]
    if as_json:
        print_json(tokens)
        return
    from datetime import datetime

    def when(ts: float | None) -> str:
        return "" if ts is None else datetime.fromtimestamp(ts).isoformat(" ", "seconds")

    table = Table(title=f"{len(tokens)} tokens")
    for col in ("id", "name", "scopes", "user", "created", "last used", "state"):
        table.add_column(col, overflow="fold")
    for t in tokens:
        state = "revoked" if t["revoked"] else "live"
        table.add_row(
            str(t["id"]),
            str(t["name"]),
            ",".join(t["scopes"]),
            str(t["user"] or ""),
            when(t["created"]),
            when(t["last_used"]),
            state,
        )
    out.print(table)


@token_app.command("revoke")
def token_revoke(
    token_id: Annotated[str, typer.Argument(metavar="ID", help="The token's id (token list).")],
    data_dir: DataOpt = None,
) -> None:
    """Revoke a token; requests with it are refused from now on."""
    with _auth(data_dir) as auth:
        token = auth.revoke(token_id)
    err.print(f"token {token.id} ({token.name}) revoked")


@user_app.command("add")
def user_add(
    name: Annotated[str, typer.Argument(help="User name (letters, digits, _ . @ -).")],
    admin: Annotated[bool, typer.Option("--admin", help="The user may do everything.")] = False,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from stdin's first line.")
    ] = False,
    data_dir: DataOpt = None,
) -> None:
    """Add a user (or set a user's password); admins get every scope when they log in."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    elif sys.stdin.isatty():
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    else:
        raise HyperHubError("give the password on stdin with --password-stdin")
    with _auth(data_dir) as auth:
        user = auth.add_user(name, password, admin=admin)
    role = "admin" if user.admin else "user (read, control)"
    err.print(f"user {user.name} saved: {role}")


QuickOpt = Annotated[bool, typer.Option(help="Tiny numbers, for a smoke run.")]
RecordOpt = Annotated[
    Path | None, typer.Option(help="Write the tables into this markdown file's section.")
]


@bench_app.command("store")
def bench_store(
    devices: Annotated[int, typer.Option(min=10, help="Simulated devices.")] = 10_000,
    history_rows: Annotated[
        int, typer.Option(min=1000, help="Rows in the history table.")
    ] = 1_000_000,
    as_json: JsonOpt = False,
    record: RecordOpt = None,
) -> None:
    """State writes/s, history query time and RSS for the store, beside raw sqlite3."""
    from hyperhub.cli.bench import bench_store as run_bench

    run_bench(devices=devices, history_rows=history_rows, as_json=as_json, record_to=record)


@bench_app.command("fabric")
def bench_fabric(
    quick: QuickOpt = False, as_json: JsonOpt = False, record: RecordOpt = None
) -> None:
    """State ingest through the broker into the hub and store, beside mosquitto_sub and amqtt;
    command round trips; 10,000 devices through 10 nodes."""
    from hyperhub.cli.bench import bench_fabric as run_bench

    run_bench(quick=quick, as_json=as_json, record_to=record)


@bench_app.command("api")
def bench_api(quick: QuickOpt = False, as_json: JsonOpt = False, record: RecordOpt = None) -> None:
    """GET state and POST set req/s with 50 clients, WebSocket fan-out of 1,000 changes/s to
    100 clients (p99 latency), dashboard first load; on a real `hyperhub run`."""
    from hyperhub.cli.bench import bench_api as run_bench

    run_bench(quick=quick, as_json=as_json, record_to=record)


@bench_app.command("rules")
def bench_rules(
    quick: QuickOpt = False,
    rules: Annotated[
        int | None, typer.Option(min=1, help="Rules loaded (default 1,000; --quick: 40).")
    ] = None,
    rate: Annotated[
        int | None,
        typer.Option(min=1, help="State changes/s that fire nothing (default 1,000)."),
    ] = None,
    seconds: Annotated[
        int | None, typer.Option(min=1, help="Seconds of that traffic (default 30).")
    ] = None,
    repeats: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="Ingest runs of each kind, with and without rules, alternating (default 4; "
            "more averages out a noisy machine).",
        ),
    ] = None,
    as_json: JsonOpt = False,
    record: RecordOpt = None,
) -> None:
    """Trigger → first command p50 / p99 with 1,000 rules loaded and 1,000 state changes/s
    flowing, end to end too; state ingest with and without the rules; on a real broker."""
    from hyperhub.cli.bench import bench_rules as run_bench

    run_bench(
        quick=quick,
        as_json=as_json,
        record_to=record,
        rules=rules,
        rate=rate,
        seconds=seconds,
        repeats=repeats,
    )


@bench_app.command("voice")
def bench_voice(
    quick: QuickOpt = False, as_json: JsonOpt = False, record: RecordOpt = None
) -> None:
    """Speech to text real-time factor (en, zh), end of a spoken command → device changed on
    a running hub, word error rate of Piper-spoken commands, spoken vs typed changes, Chinese
    on recorded Mandarin, RSS with the voice models."""
    from hyperhub.cli.bench import _phased

    _phased(
        "voice",
        "voice benchmark",
        "Voice (`hyperhub bench voice`)",
        quick=quick,
        as_json=as_json,
        record_to=record,
    )


EngineOpt = Annotated[
    str,
    typer.Option(
        "--engine",
        help="auto (matcher, then the local LLM, then the remote), or force one stage: "
        "matcher, llm, remote.",
    ),
]
ModelOpt = Annotated[
    Path | None,
    typer.Option("--model", help="A GGUF model for the local LLM (default: the bundled one)."),
]
AdapterOpt = Annotated[
    str | None,
    typer.Option(
        "--adapter",
        help="A GGUF LoRA adapter for the local LLM (hyperhub train), or 'none' for the base "
        "model alone (default: the catalog-tuned adapter shipped for the default model).",
        envvar="HYPERHUB_ADAPTER",
    ),
]
NoLlmOpt = Annotated[bool, typer.Option("--no-llm", help="Never use the local LLM.")]
RemoteUrlOpt = Annotated[
    str | None,
    typer.Option(
        "--remote-url",
        help="An OpenAI-compatible API base URL (e.g. http://127.0.0.1:8080/v1), asked only "
        "when the local engines are not sure. Off by default.",
        envvar="HYPERHUB_REMOTE_URL",
    ),
]
RemoteModelOpt = Annotated[
    str | None, typer.Option("--remote-model", help="Model name sent to the remote endpoint.")
]
RemoteKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--remote-key",
        help="API key for the remote endpoint (sent as a Bearer token).",
        envvar="HYPERHUB_REMOTE_API_KEY",
        show_envvar=True,
    ),
]
RemoteTimeoutOpt = Annotated[
    float,
    typer.Option("--remote-timeout", min=0.1, max=600, help="Seconds before the remote gives up."),
]
ThresholdOpt = Annotated[
    float | None,
    typer.Option(
        "--llm-threshold",
        min=0.0,
        max=1.0,
        help="Confidence a local LLM plan needs to run (default: the pipeline's); below it "
        'the answer asks "Did you mean …?".',
    ),
]
AreaOpt = Annotated[
    str | None, typer.Option("--area", help="The room the speaker is in (area id).")
]


def _engine_options(
    engine: EngineOpt = "auto",
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    no_llm: NoLlmOpt = False,
    remote_url: RemoteUrlOpt = None,
    remote_model: RemoteModelOpt = None,
    remote_key: RemoteKeyOpt = None,
    remote_timeout: RemoteTimeoutOpt = 10.0,
    llm_threshold: ThresholdOpt = None,
) -> Any:
    """The engine options of `ask` and `chat` (their parameter `opts`), as a checked
    `EngineOptions`."""
    given = dict(locals())  # the options, by name
    from hyperhub.cli.assistant_cmd import EngineOptions

    opts = EngineOptions(**given)
    opts.check()
    return opts


engine_options = option_group("opts", _engine_options)


def _assistant_space(
    space: Path | None, data_dir: Path | None, db: str | None
) -> tuple[Any, dict[str, dict[str, Any]] | None]:
    """The space file given (its initial state), or the configured one with its stored state."""
    if space is not None:
        return load_space(space), None
    with Context(None, data_dir, db) as ctx:
        return ctx.space, ctx.states()


@contextlib.contextmanager
def _assistant_target(
    space: Path | None, data_dir: Path | None, db: str | None, dry_run: bool
) -> Iterator[tuple[Any, dict[str, dict[str, Any]] | None, Any]]:
    """(space, stored state, live hub or None) for `ask` and `chat`: the running hub of the
    data dir when there is one (unless `--dry-run`, or `--space FILE`, which simulates that
    file), else a simulation."""
    from hyperhub.cli.assistant_cmd import LiveHub

    if space is not None or dry_run:
        loaded, stored = _assistant_space(space, data_dir, db)
        yield loaded, stored, None
        return
    with Context(None, data_dir, db) as ctx:
        info = ctx.running_hub()
        stored = ctx.states()
        live = None if info is None else LiveHub(info, ctx.data_dir, ctx.store, stored)
        yield ctx.space, stored, live


DryRunOpt = Annotated[
    bool,
    typer.Option(
        "--dry-run", help="Simulate: change nothing, even when a hub runs on the data dir."
    ),
]


def _note(message: str) -> None:
    err.print(f"note: {message}", markup=False, highlight=False)


@app.command()
@engine_options
@speech_options
def ask(
    text: Annotated[
        str | None,
        typer.Argument(help="One sentence; omit it with --jsonl (stdin) or --audio FILE.wav."),
    ] = None,
    space: SpaceOpt = None,
    jsonl: Annotated[
        bool,
        typer.Option(
            "--jsonl",
            help='Read one request per stdin line (text, or {"text": …, "area": …}); print '
            "one JSON answer per line, each on a fresh copy of the space's initial state.",
        ),
    ] = False,
    area: AreaOpt = None,
    opts: Any = None,  # EngineOptions, from --engine … --llm-threshold
    speech: Any = None,  # voice_cmd.SpeechOptions, from --audio … --voice
    dry_run: DryRunOpt = False,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Ask the assistant: a command or a question, in English or Chinese, typed or spoken
    (--audio; --speak-to speaks the reply). With a hub running on the data dir it acts on
    the hub's devices (checked, confirmed, audited like `set`); otherwise, with `--dry-run`
    or `--space FILE`, on a simulated copy (--jsonl always: design.md, "The assistant
    contract")."""
    from hyperhub.cli import assistant_cmd

    spoken = None
    if speech.wanted:
        if jsonl:
            raise HyperHubError("--audio and --speak-to are for one question, not --jsonl")
        if text is not None and speech.audio is not None:
            raise HyperHubError("give either a sentence or --audio FILE.wav, not both")
        from hyperhub.cli.voice_cmd import SpokenAsk

        spoken = SpokenAsk(speech, data_dir)
        if speech.audio is not None:
            text = spoken.hear(echo=not as_json)
    if jsonl:
        if text is not None:
            raise HyperHubError("give either a sentence or --jsonl (sentences on stdin), not both")
        if area is not None:
            raise HyperHubError('--area is per line with --jsonl: {"text": …, "area": …}')
        loaded, _ = _assistant_space(space, data_dir, db)
        assistant_cmd.run_jsonl(loaded, opts, warn=_note)
        return
    if text is None:
        raise HyperHubError(
            'give a sentence (hyperhub ask "turn on the light"), --audio FILE.wav or --jsonl'
        )
    with _assistant_target(space, data_dir, db, dry_run) as (loaded, stored, live):
        more = spoken.after() if spoken is not None else None
        assistant_cmd.run_one(
            loaded,
            stored,
            text,
            area,
            opts,
            as_json=as_json,
            out=out,
            warn=_note,
            live=live,
            more=more,
        )
    if spoken is not None and not as_json:
        spoken.report()


@app.command()
@engine_options
def chat(
    space: SpaceOpt = None,
    area: AreaOpt = None,
    opts: Any = None,  # EngineOptions, from --engine … --llm-threshold
    dry_run: DryRunOpt = False,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print each answer as a contract JSON line.")
    ] = False,
) -> None:
    """Talk to the assistant: follow-ups ("make it dimmer") and yes / no confirmations, until
    EOF or "exit" — on the running hub's devices, or simulated (`--dry-run`, `--space FILE`,
    or no hub running)."""
    from hyperhub.cli import assistant_cmd

    with _assistant_target(space, data_dir, db, dry_run) as (loaded, stored, live):
        assistant_cmd.run_chat(
            loaded, stored, area, opts, as_json=as_json, out=out, warn=_note, live=live
        )


@bench_app.command("assistant")
def bench_assistant(
    cases: Annotated[
        Path | None, typer.Option(help="Case file (default: dev.jsonl of the eval folder).")
    ] = None,
    space: Annotated[
        Path | None, typer.Option(help="Space of the cases (default: the eval folder's).")
    ] = None,
    eval_dir: Annotated[
        Path | None,
        typer.Option(
            help="Folder with score.py (default: ../shared/eval beside the clone).",
            envvar="HYPERHUB_EVAL_DIR",
        ),
    ] = None,
    model: ModelOpt = None,
    adapter: AdapterOpt = None,
    no_llm: Annotated[bool, typer.Option("--no-llm", help="Skip the local LLM runs.")] = False,
    heldout: Annotated[
        bool,
        typer.Option(
            "--heldout",
            help="Also score the held-out sets (other phrasings on the demo space; a second "
            "space) in tests/assistant/data.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    record: RecordOpt = None,
) -> None:
    """Accuracy (en, zh, per kind) and latency of the matcher, the local LLM (base and tuned)
    and the whole pipeline on the development set, scored by the shared score.py; LLM load
    time and RSS."""
    from hyperhub.cli.assistant_cmd import bench_assistant as run_bench

    run_bench(
        eval_dir=eval_dir,
        space=space,
        cases=cases,
        model=model,
        adapter=adapter,
        no_llm=no_llm,
        heldout=heldout,
        as_json=as_json,
        record_to=record,
    )


def run_cli() -> None:
    """Entry point: run the app; named errors become one line on stderr and exit code 1."""
    try:
        code = app(standalone_mode=False)  # `raise typer.Exit(n)` comes back as n here
    except SpaceError as exc:
        for line in exc.lines:
            err.print(line, markup=False, highlight=False)
        sys.exit(1)
    except HyperHubError as exc:
        if isinstance(exc, NeedsConfirmation):
            said = exc.in_lang(lang())
        else:  # in a Chinese terminal: why, in Chinese, then the English details
            said = error_text(lang(), exc.code, str(exc))
        err.print(t("error: {message}", message=said), markup=False, highlight=False)
        sys.exit(1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted", markup=False)
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.exceptions.TyperException as exc:  # usage errors: bad option, missing argument
        render = getattr(exc, "format_message", None)
        message = render() if callable(render) else str(exc)
        usage_ctx = getattr(exc, "ctx", None)
        if usage_ctx is not None:  # "Missing argument 'DEVICE'." alone said too little
            usage = " ".join(usage_ctx.get_usage().split()).removeprefix("Usage: ")
            usage = usage.replace("{", "").replace("}", "")
            message = f"{message.rstrip('.')}. Usage: {usage} (--help says more)"
        err.print(f"error: {message}", markup=False, highlight=False)
        sys.exit(getattr(exc, "exit_code", 2))
    if isinstance(code, int) and code:
        sys.exit(code)
