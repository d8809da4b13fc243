"""`hyperhub adapters list|pending|accept|reject`: the devices other systems bring in.

What an adapter found is what the running hub last wrote (`hyperhub.adapters.found`); the
accepted devices are the file beside the space file (`hyperhub.adapters.accepted`). Both work
with or without a running hub; a running hub on the same data dir is asked (SIGHUP) to take
an accepted or removed device at once.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Annotated, Any

import typer
from rich.table import Table

from hyperhub.cli.context import Context
from hyperhub.cli.options import DataOpt, DbOpt, JsonOpt, SpaceOpt
from hyperhub.cli.say import err, lang, out, print_json, translator
from hyperhub.errors import AdapterError
from hyperhub.space.adapters import KIND_NAMES, shown_broker
from hyperhub.spec.words import type_label

adapters_app = typer.Typer(help="Devices from other systems (Zigbee2MQTT, OwnTracks …).")
t = translator(
    {
        "adapters": "适配器",
        "adapter": "适配器",
        "kind": "类型",
        "connects to": "连接",
        "the hub's broker": "本机的 MQTT",
        "accepts": "接入方式",
        "ask first": "先询问",
        "all at once": "全部自动接入",
        "devices": "设备",
        "pending": "待接入",
        "found": "发现于",
        "never (the hub has not run it yet)": "从未（中枢还没运行过它）",
        "device": "设备",
        "proposed id": "建议 id",
        "name": "名称",
        "type": "类型",
        "area": "区域",
        "model": "型号",
        "Nothing is waiting to be accepted.": "没有等待接入的设备。",
        "Accept one: hyperhub adapters accept {key}": "接入：hyperhub adapters accept {key}",
        "Accepted {key} as {id} ({name}).": "已接入 {key}，设备 id {id}（{name}）。",
        "The running hub has it now.": "正在运行的中枢已经接入它。",
        "The hub adds it when it next starts.": "中枢下次启动时接入它。",
        "The running hub drops it now.": "正在运行的中枢已移除它。",
        "the running broker takes it now": "正在运行的 MQTT 服务已生效",
        "the broker takes it when the hub next starts": "中枢下次启动时生效",
    }
)


def _split(key: str) -> tuple[str, str]:
    from hyperhub.adapters.found import split_key

    found = split_key(key)
    if found is None:
        raise AdapterError(
            f"name a found device as ADAPTER:EXTERNAL_ID (zigbee:0x00158d…), not {key!r}"
        )
    return found


def _found(ctx: Context, adapter_id: str) -> Any:
    from hyperhub.adapters.found import read_found
    from hyperhub.adapters.running import check_adapter
    from hyperhub.fabric.topics import space_slug

    decl = check_adapter(ctx.space, adapter_id)
    return read_found(ctx.data_dir, space_slug(ctx.space.name), decl.id, decl.kind)


def _pending(ctx: Context, adapter_id: str) -> list[Any]:
    from hyperhub.adapters.accepted import rejected

    found = _found(ctx, adapter_id).found
    taken = {(d.adapter, d.external) for d in ctx.space.devices.values() if d.adapter}
    skip = taken | rejected(ctx.space)
    return [f for f in found if (f.adapter, f.external) not in skip]


def _tell_hub(ctx: Context) -> bool:
    """Ask a hub running this space on this data dir to read the accepted devices again."""
    from hyperhub.hub import running_hub

    info = ctx.running_hub()
    pid = running_hub(ctx.data_dir)
    if info is None or pid is None or pid <= 0 or info.space != ctx.space.name:
        return False
    os.kill(pid, signal.SIGHUP)
    return True


def _when(ts: float) -> str:
    return (
        time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))
        if ts
        else t("never (the hub has not run it yet)")
    )


@adapters_app.command("list")
def adapters_list(
    space: SpaceOpt = None, data_dir: DataOpt = None, db: DbOpt = None, as_json: JsonOpt = False
) -> None:
    """The space's adapters: what they connect to, what they accepted and found."""
    with Context(space, data_dir, db) as ctx:
        rows = []
        for decl in ctx.space.adapters.values():
            found = _found(ctx, decl.id)
            rows.append(
                {
                    "adapter": decl.id,
                    "kind": decl.kind,
                    "broker": decl.broker,
                    "accept": decl.accept,
                    "devices": [d.id for d in ctx.space.devices.values() if d.adapter == decl.id],
                    "pending": len(_pending(ctx, decl.id)),
                    "found": found.updated or None,
                    "online": found.online,
                    "problems": found.problems,
                }
            )
    if as_json:
        print_json(rows)
        return
    if not rows:
        out.print("This space has no adapters (declare them under `adapters:` in the space file).")
        return
    table = Table(title=t("adapters"))
    for column in ("adapter", "kind", "connects to", "accepts", "devices", "pending", "found"):
        table.add_column(t(column))
    for r in rows:
        table.add_row(
            r["adapter"],
            KIND_NAMES.get(r["kind"], r["kind"]),
            shown_broker(r["broker"]) if r["broker"] else t("the hub's broker"),
            t("all at once") if r["accept"] == "all" else t("ask first"),
            str(len(r["devices"])),
            str(r["pending"]),
            _when(r["found"] or 0),
        )
    out.print(table)
    for r in rows:
        for problem in r["problems"]:
            out.print(f"{r['adapter']}: {problem}")


@adapters_app.command("login")
def adapters_login(
    adapter: Annotated[str, typer.Argument(help="The adapter whose system logs in.")],
    devices: Annotated[
        bool,
        typer.Option(
            "--devices",
            help="Home Assistant discovery: the login of the devices' firmware (ESPHome, "
            "Tasmota …) instead of Home Assistant's.",
        ),
    ] = False,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """A login on the hub's broker for the adapter's system (Zigbee2MQTT, Home Assistant),
    allowed only its own topics. Prints the URL to give it (server, user, password)."""
    from hyperhub.runtime import add_bridge_login

    with Context(space, data_dir, db) as ctx:
        which = "devices" if devices else "bridge"
        url, reloaded = add_bridge_login(ctx.data_dir, ctx.space, adapter, which)
    if as_json:
        print_json({"adapter": adapter, "login": which, "broker": url, "reloaded": reloaded})
        return
    out.print(url)
    err.print(
        t("the running broker takes it now")
        if reloaded
        else t("the broker takes it when the hub next starts")
    )


@adapters_app.command("pending")
def adapters_pending(
    adapter: Annotated[str | None, typer.Argument(help="One adapter (default: all).")] = None,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Devices the adapters found that wait to be accepted (or rejected)."""
    with Context(space, data_dir, db) as ctx:
        ids = [adapter] if adapter else list(ctx.space.adapters)
        waiting = [f for a in ids for f in _pending(ctx, a)]
        areas = {a.id: a for a in ctx.space.areas.values()}
        here = lang()
    if as_json:
        print_json([{"key": f.key, **f.as_dict()} for f in waiting])
        return
    if not waiting:
        out.print(t("Nothing is waiting to be accepted."))
        return
    table = Table(title=t("pending"))
    for column in ("device", "proposed id", "name", "type", "area", "model"):
        table.add_column(t(column), overflow="fold")
    for f in waiting:
        p = f.proposal
        area = areas.get(str(p.get("area")))
        table.add_row(
            f.key,
            str(p.get("id")),
            str(p.get("name")),
            type_label(here, str(p.get("type"))),
            area.name_in(here) if area else "",
            " ".join(x for x in (f.vendor, f.model) if x),
        )
    out.print(table)
    err.print(t("Accept one: hyperhub adapters accept {key}", key=waiting[0].key))


@adapters_app.command("accept")
def adapters_accept(
    key: Annotated[str, typer.Argument(help="The found device: ADAPTER:EXTERNAL_ID.")],
    device_id: Annotated[
        str | None, typer.Option("--id", help="Its id (default: proposed).")
    ] = None,
    name: Annotated[str | None, typer.Option("--name", help="Its name.")] = None,
    area: Annotated[str | None, typer.Option("--area", help="Its area (an area id).")] = None,
    alias: Annotated[
        list[str] | None, typer.Option("--alias", help="Another name; repeat.")
    ] = None,
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Make a found device a device of the space (kept in <space>.adapters.yaml)."""
    from hyperhub.adapters.accepted import accept

    adapter_id, external = _split(key)
    with Context(space, data_dir, db) as ctx:
        found = next((f for f in _found(ctx, adapter_id).found if f.external == external), None)
        if found is None:
            waiting = ", ".join(f.key for f in _pending(ctx, adapter_id)) or "none"
            raise AdapterError(
                f"adapter {adapter_id} has not found {external!r}; pending: {waiting}"
            )
        entry = accept(
            ctx.space, found, device_id=device_id, name=name, area=area, aliases=alias or ()
        )
        told = _tell_hub(ctx)
    if as_json:
        print_json({"key": key, "device": entry, "hub": told})
        return
    out.print(t("Accepted {key} as {id} ({name}).", key=key, id=entry["id"], name=entry["name"]))
    err.print(
        t("The running hub has it now.") if told else t("The hub adds it when it next starts.")
    )


@adapters_app.command("reject")
def adapters_reject(
    key: Annotated[
        str, typer.Argument(help="ADAPTER:EXTERNAL_ID of a found device, or ADAPTER:DEVICE_ID.")
    ],
    space: SpaceOpt = None,
    data_dir: DataOpt = None,
    db: DbOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Turn down a found device (it is no longer offered), or remove an accepted one."""
    from hyperhub.adapters.accepted import reject
    from hyperhub.adapters.running import check_adapter

    adapter_id, what = _split(key)
    with Context(space, data_dir, db) as ctx:
        check_adapter(ctx.space, adapter_id)
        known = [f.external for f in _found(ctx, adapter_id).found]
        said = reject(ctx.space, adapter_id, what, known)
        told = _tell_hub(ctx)
    if as_json:
        print_json({"key": key, "done": said, "hub": told})
        return
    out.print(said[:1].upper() + said[1:] + ".")
    if told:
        err.print(t("The running hub drops it now."))
