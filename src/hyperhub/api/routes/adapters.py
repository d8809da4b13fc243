"""Adapters: what other systems bring in (docs/adapters.md). Reading needs `read`; accepting
or rejecting a device changes the space, so it needs `admin`."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from hyperhub.adapters.accepted import accept, reject
from hyperhub.adapters.running import Adapters, check_adapter
from hyperhub.api.errors import ApiError
from hyperhub.api.models import AcceptBody, AdapterChangeOut, AdapterOut, FoundOut, RejectBody
from hyperhub.api.security import Admin, Ctx, Reader
from hyperhub.space import Space

router = APIRouter(prefix="/api/adapters", tags=["adapters"])


def _running(adapters: Adapters | None) -> Adapters:
    if adapters is None:
        raise ApiError(503, "unavailable", "this hub runs no adapters")
    return adapters


def _split(key: str) -> tuple[str, str]:
    adapter, sep, rest = key.partition(":")
    if not sep or not adapter or not rest:
        raise ApiError(422, "invalid", f"`key` must be ADAPTER:EXTERNAL_ID, not {key!r}")
    return adapter, rest


def _hidden(url: str | None) -> str | None:
    if url is None or "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"


@router.get("", response_model=list[AdapterOut])
async def list_adapters(ctx: Ctx, token: Reader) -> list[dict[str, Any]]:
    """The space's adapters: kind, where they connect, accepted devices, pending count."""
    space: Space = ctx.space
    adapters = ctx.adapters
    out = []
    for decl in space.adapters.values():
        running = None if adapters is None else adapters.running.get(decl.id)
        out.append(
            {
                "id": decl.id,
                "kind": decl.kind,
                "accept": decl.accept,
                "broker": _hidden(decl.broker),
                "online": running is not None and running.adapter.bridge_online,
                "devices": [d.id for d in space.devices.values() if d.adapter == decl.id],
                "pending": 0 if adapters is None else len(adapters.pending(decl.id)),
            }
        )
    return out


@router.get("/pending", response_model=list[FoundOut])
async def pending(ctx: Ctx, token: Reader) -> list[dict[str, Any]]:
    """Devices the adapters found that nobody accepted or rejected yet."""
    adapters = _running(ctx.adapters)
    return [{"key": f.key, **f.as_dict()} for a in ctx.space.adapters for f in adapters.pending(a)]


@router.post("/accept", response_model=AdapterChangeOut)
async def accept_device(ctx: Ctx, token: Admin, body: AcceptBody) -> dict[str, Any]:
    """Make a found device a device of the space (kept in the accepted-devices file); it
    joins at once."""
    adapters = _running(ctx.adapters)
    adapter_id, external = _split(body.key)
    check_adapter(ctx.space, adapter_id)
    found = next((f for f in adapters.pending(adapter_id) if f.external == external), None)
    if found is None:
        raise ApiError(404, "not_found", f"{body.key} is not waiting to be accepted")
    entry = accept(
        ctx.space, found, device_id=body.id, name=body.name, area=body.area, aliases=body.aliases
    )
    added, removed = await adapters.reload()
    done = f"accepted {body.key} as {entry['id']}"
    return {"done": done, "device": entry, "added": added, "removed": removed}


@router.post("/reject", response_model=AdapterChangeOut)
async def reject_device(ctx: Ctx, token: Admin, body: RejectBody) -> dict[str, Any]:
    """Turn down a found device (it is not offered again), or remove an accepted one."""
    adapters = _running(ctx.adapters)
    adapter_id, what = _split(body.key)
    check_adapter(ctx.space, adapter_id)
    done = reject(ctx.space, adapter_id, what)
    added, removed = await adapters.reload()
    return {"done": done, "device": None, "added": added, "removed": removed}
