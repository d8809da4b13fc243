"""The space, its devices, commands (set / call) and history."""

from __future__ import annotations

import asyncio
import json
import math
import time
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from hyperhub.api.context import ApiContext
from hyperhub.api.errors import ApiError
from hyperhub.api.models import (
    ActionOut,
    AreaOut,
    ArgOut,
    CallBody,
    CommandOut,
    DeviceDetail,
    DeviceOut,
    HistoryOut,
    LocationOut,
    PropertyOut,
    SetBody,
    SpaceOut,
    SpecOut,
)
from hyperhub.api.security import Controller, Ctx, Reader, confirm_refused, may_confirm
from hyperhub.auth import Token
from hyperhub.errors import NeedsConfirmation
from hyperhub.space import Area, Device
from hyperhub.spec.model import ValueSpec
from hyperhub.spec.policy import Command, is_risky, may_be_risky
from hyperhub.spec.words import LANGS, display, lang_of

router = APIRouter(prefix="/api", tags=["devices"])
DAY = 86400.0
_encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


@router.get("/space", response_model=SpaceOut)
async def get_space(ctx: Ctx, token: Reader) -> SpaceOut:
    """The space: its name, areas and location."""
    space = ctx.space
    location = space.location
    return SpaceOut(
        name=space.name,
        areas=[
            AreaOut(
                id=a.id,
                name=a.name,
                aliases=list(a.aliases),
                names=names_of(a),
                floor=a.floor,
            )
            for a in space.areas.values()
        ],
        location=None if location is None else LocationOut(lat=location.lat, lon=location.lon),
        timezone=space.timezone_name(),
    )


@router.get("/words/{lang}")
async def get_words(lang: str) -> Response:
    """What properties, values, actions, events and device types are called in `lang`
    ("en" or "zh"; any other tag reads as English) — public, like the dashboard's files."""
    return json_answer(display(lang_of(lang)))


def names_of(thing: Device | Area) -> dict[str, str]:
    """What people call a device or an area in each language (`name_in`: the one rule the
    CLI, sentences and the dashboard share)."""
    return {lang: thing.name_in(lang) for lang in LANGS}


def device_fields(ctx: ApiContext, dev: Device) -> dict[str, Any]:
    return {
        "id": dev.id,
        "name": dev.name,
        "type": dev.type,
        "class": dev.cls,
        "area": dev.area,
        "aliases": list(dev.aliases),
        "names": names_of(dev),
        "online": ctx.online(dev.id),
        "state": ctx.state(dev.id),
        "updated": ctx.updated(dev.id),
        "adapter": dev.adapter,
    }


def json_answer(data: Any) -> Response:
    """JSON of data already in the documented shape (the hot read paths skip re-validating
    it against the response model: they are built from the checked space and mirror)."""
    return Response(_encode(data), media_type="application/json")


@router.get("/devices", response_model=list[DeviceOut])
async def list_devices(
    ctx: Ctx,
    token: Reader,
    area: Annotated[str | None, Query(max_length=64)] = None,
    type: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Every device (of an area, of a type) with its state and availability."""
    if area is not None and area not in ctx.space.areas:
        known = ", ".join(ctx.space.areas)
        raise ApiError(404, "unknown_area", f"no area {area!r}; areas: {known}")
    if type is not None and type not in ctx.space.types:
        raise ApiError(404, "unknown_type", f"no device type {type!r}")
    return json_answer([device_fields(ctx, d) for d in ctx.space.select(area=area, type=type)])


def _range(spec: ValueSpec) -> dict[str, Any]:
    return {
        "kind": spec.kind,
        "unit": spec.unit,
        "min": spec.min,
        "max": spec.max,
        "values": list(spec.values) if spec.values else None,
    }


def device_spec(dev: Device) -> dict[str, Any]:
    t = dev.dtype
    properties = {}
    for name in dev.properties:
        p = t.properties[name]
        risky = may_be_risky(t, dev.cls, name)
        properties[name] = PropertyOut(**_range(p), access=p.access, risky=risky)
    actions = {
        name: ActionOut(
            args=[ArgOut(**_range(a), name=a.name, required=a.required) for a in spec.args],
            risky=is_risky(t, dev.cls, Command(dev.id, action=name)),
        )
        for name, spec in t.actions.items()
    }
    return SpecOut(properties=properties, actions=actions).model_dump(mode="json")


@router.get("/devices/{device_id}", response_model=DeviceDetail)
async def get_device(ctx: Ctx, token: Reader, device_id: str) -> Response:
    """One device with its state and its spec (properties with ranges, actions with args)."""
    dev = ctx.device(device_id)
    spec = ctx.specs.get(dev.id)
    if spec is None:  # a spec never changes while the hub runs
        spec = ctx.specs[dev.id] = device_spec(dev)
    return json_answer({**device_fields(ctx, dev), "spec": spec})


async def _send(
    ctx: ApiContext, token: Token, dev: Device, command: Command, confirm: bool
) -> CommandOut:
    """Send a command for the token; a confirmation needs `control:risky` as well."""
    ctx.take_command(token.id)
    allowed = confirm and may_confirm(token)
    try:
        ack = await ctx.fabric.send_command(
            dev.id,
            property=command.property,
            value=command.value,
            action=command.action,
            args=command.args,
            actor=f"api:{token.name}",
            confirm=allowed,
        )
    except NeedsConfirmation:
        if confirm and not allowed:
            raise confirm_refused(token, f"confirming {command.summary()}") from None
        raise
    return CommandOut(
        ok=True,
        device=dev.id,
        command=command.what(),
        changes=dict(ack.changes),
        # the whole state only for a token that may read it; else only what changed
        state={**ctx.state(dev.id), **ack.changes} if token.has("read") else dict(ack.changes),
    )


@router.post("/devices/{device_id}/set", response_model=CommandOut)
async def set_property(ctx: Ctx, token: Controller, device_id: str, body: SetBody) -> CommandOut:
    """Write a property; answers with the device's ack. A risky write needs `confirm` (else
    409) and then the scope `control:risky` (else 403)."""
    dev = ctx.device(device_id)
    command = Command(dev.id, property=body.property, value=body.value)
    return await _send(ctx, token, dev, command, body.confirm)


@router.post("/devices/{device_id}/call/{action}", response_model=CommandOut)
async def call_action(
    ctx: Ctx, token: Controller, device_id: str, action: str, body: CallBody | None = None
) -> CommandOut:
    """Run an action; answers with the device's ack. Risky actions as for set."""
    dev = ctx.device(device_id)
    if action not in dev.dtype.actions:
        known = ", ".join(dev.dtype.actions) or "none"
        raise ApiError(
            404,
            "unknown_action",
            f"device {dev.id} ({dev.type}) has no action {action!r}; its actions: {known}",
        )
    body = body or CallBody()
    command = Command(dev.id, action=action, args=dict(body.args))
    return await _send(ctx, token, dev, command, body.confirm)


def parse_time(text: str, what: str) -> float:
    """Epoch seconds or an ISO date / time (local time unless it says otherwise)."""
    try:
        value = float(text)
    except ValueError:
        try:
            value = datetime.fromisoformat(text.strip()).timestamp()
        except (ValueError, OverflowError, OSError):
            raise ApiError(
                422,
                "invalid",
                f"query.{what}: {text[:40]!r} is neither epoch seconds nor an "
                "ISO time (2026-11-25T08:00)",
            ) from None
    if not math.isfinite(value):
        raise ApiError(422, "invalid", f"query.{what}: must be a finite time")
    return value


@router.get("/devices/{device_id}/history", response_model=HistoryOut)
async def history(
    ctx: Ctx,
    token: Reader,
    device_id: str,
    property: Annotated[str, Query(min_length=1, max_length=64)],
    since: Annotated[str | None, Query(max_length=40)] = None,
    until: Annotated[str | None, Query(max_length=40)] = None,
    points: Annotated[int, Query(ge=1, le=2000)] = 200,
) -> HistoryOut:
    """A property's values over a window (default: the last 24 h), downsampled to `points`."""
    dev = ctx.device(device_id)
    if property not in dev.properties:
        raise ApiError(
            422,
            "invalid",
            f"device {dev.id} has no property {property!r}; it has: {', '.join(dev.properties)}",
        )
    end = time.time() if until is None else parse_time(until, "until")
    start = end - DAY if since is None else parse_time(since, "since")
    if start > end:
        raise ApiError(422, "invalid", "query.since: the window starts after it ends")
    rows = await asyncio.to_thread(ctx.store.history, dev.id, property, start, end, points)
    return HistoryOut(device=dev.id, property=property, points=[(p.ts, p.value) for p in rows])
