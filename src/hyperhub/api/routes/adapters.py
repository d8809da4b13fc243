"""Adapters: what other systems bring in (docs/adapters.md). Reading needs `read`; accepting
or rejecting a device changes the space, so it needs `admin`."""

from __future__ import annotations

import base64
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Request

from hyperhub.adapters.accepted import accept, reject
from hyperhub.adapters.found import split_key
from hyperhub.adapters.owntracks.adapter import OwnTracks
from hyperhub.adapters.running import Adapters, check_adapter
from hyperhub.api.errors import ApiError
from hyperhub.api.models import AcceptBody, AdapterChangeOut, AdapterOut, FoundOut, RejectBody
from hyperhub.api.security import Admin, Ctx, Reader, missing_scope
from hyperhub.auth import AuthError, Token
from hyperhub.space import Space
from hyperhub.space.adapters import shown_broker

router = APIRouter(prefix="/api/adapters", tags=["adapters"])


def _running(adapters: Adapters | None) -> Adapters:
    if adapters is None:
        raise ApiError(503, "unavailable", "this hub runs no adapters")
    return adapters


def _split(key: str) -> tuple[str, str]:
    found = split_key(key)
    if found is None:
        raise ApiError(422, "invalid", f"`key` must be ADAPTER:EXTERNAL_ID, not {key!r}")
    return found


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
                "broker": None if decl.broker is None else shown_broker(decl.broker),
                "online": running is not None and running.adapter.reachable,
                "devices": [d.id for d in space.devices.values() if d.adapter == decl.id],
                "pending": 0 if adapters is None else len(adapters.pending(decl.id)),
                "problems": [] if running is None else running.adapter.problems,
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
    running = adapters.running.get(adapter_id)
    known = list(running.adapter.found) if running is not None else None
    done = reject(ctx.space, adapter_id, what, known)
    added, removed = await adapters.reload()
    return {"done": done, "device": None, "added": added, "removed": removed}


def _owntracks_token(request: Request, authorization: str | None) -> Token:
    """OwnTracks' HTTP mode signs in with HTTP Basic (any user name, a token as password) or
    a Bearer token; the token needs `control` (a phone's report changes the space's state)."""
    secret = None
    if authorization:
        kind, _, value = authorization.partition(" ")
        if kind.lower() == "bearer":
            secret = value.strip()
        elif kind.lower() == "basic":
            with contextlib.suppress(ValueError, UnicodeDecodeError):
                secret = base64.b64decode(value.strip(), validate=True).decode().partition(":")[2]
    if not secret:
        raise ApiError(
            401,
            "unauthorized",
            "OwnTracks needs a token: set it as the password (HTTP Basic) in the app",
            {"WWW-Authenticate": 'Basic realm="hyperhub"'},
        )
    try:
        token: Token = request.app.state.ctx.auth.verify(secret)
    except AuthError as exc:
        raise ApiError(
            401, exc.code, str(exc), {"WWW-Authenticate": 'Basic realm="hyperhub"'}
        ) from None
    if not token.has("control"):
        raise missing_scope(token, "control", "reporting a phone's location")
    return token


@router.post("/{adapter_id}/owntracks", response_model=list[Any])
async def owntracks_http(
    adapter_id: str,
    request: Request,
    ctx: Ctx,
    payload: Annotated[dict[str, Any], Body()],
    authorization: Annotated[str | None, Header()] = None,
    x_limit_u: Annotated[str | None, Header(max_length=64)] = None,
    x_limit_d: Annotated[str | None, Header(max_length=64)] = None,
) -> list[Any]:
    """OwnTracks' HTTP mode: the app POSTs the JSON it would publish over MQTT, naming
    itself in `X-Limit-U` (user) and `X-Limit-D` (device); the answer is `[]` (no commands
    for the app). The same code takes it as an MQTT message."""
    token = _owntracks_token(request, authorization)
    ctx.take_command(token.id)
    adapters = _running(ctx.adapters)
    decl = check_adapter(ctx.space, adapter_id)
    running = adapters.running.get(decl.id)
    if running is None or not isinstance(running.adapter, OwnTracks):
        raise ApiError(404, "not_found", f"adapter {adapter_id} is not an OwnTracks adapter")
    if not x_limit_u or not x_limit_d:
        raise ApiError(
            422, "invalid", "OwnTracks names the phone in the headers X-Limit-U and X-Limit-D"
        )
    try:
        running.adapter.take(x_limit_u, x_limit_d, payload)
    except ValueError as exc:
        raise ApiError(422, "invalid", f"not an OwnTracks message: {exc}") from None
    return []
