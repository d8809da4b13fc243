"""Health and the audit log (rules and scenes: `automations`)."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hyperhub import __version__
from hyperhub.api.errors import ApiError
from hyperhub.api.language import Language
from hyperhub.api.models import AuditOut, Health
from hyperhub.api.security import Admin, Ctx
from hyperhub.automation.describe import Names
from hyperhub.errors import HyperHubError

router = APIRouter(prefix="/api")


@router.get("/health", response_model=Health, tags=["hub"])
async def health(ctx: Ctx) -> Health:
    """200 once the hub is ready (no token needed); 503 `starting` before."""
    if not ctx.ready:
        raise ApiError(503, "starting", "the hub is starting", {"Retry-After": "1"})
    return Health(
        status="ok",
        space=ctx.space.name,
        devices=len(ctx.space.devices),
        version=__version__,
        ws_clients=len(ctx.live.clients),
        ws_dropped=ctx.live.dropped,
    )


@router.get("/audit", response_model=list[AuditOut], tags=["admin"])
async def audit(
    ctx: Ctx,
    token: Admin,
    lang: Language,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    device: Annotated[str | None, Query(max_length=64)] = None,
) -> list[dict[str, Any]]:
    """The latest commands, newest first: who (the token), on what, what, how it ended."""
    # audit rows are written in batches: let the last moment's reach the store (bounded)
    with contextlib.suppress(HyperHubError, TimeoutError):
        await ctx.fabric.flush(5.0)
    rows = await asyncio.to_thread(ctx.store.audit_log, device, None, limit)
    engine = ctx.engine
    names = Names.of(lang, ctx.space, None if engine is None else engine.book)
    return [
        {
            "ts": r.ts,
            "who": r.actor,
            "by": names.actor(r.actor),
            "device": r.device_id,
            "kind": r.kind,
            "what": r.what,
            "result": r.result,
            "message": r.message,
            "code": r.code,
            "changes": r.changes,
        }
        for r in rows
    ]
