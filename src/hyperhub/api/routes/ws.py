"""`/api/ws`: the WebSocket a dashboard or script keeps open for live messages (docs/api.md);
what it carries comes from the hub's `LiveFeed` (`api/live.py`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from starlette.websockets import WebSocketDisconnect, WebSocketState

from hyperhub.api.context import ApiContext
from hyperhub.api.live import LiveClient, LiveFeed, Subscribe, encode
from hyperhub.auth import AuthError

log = logging.getLogger("hyperhub.api.live")
router = APIRouter()
CLOSE_UNAUTHORIZED, CLOSE_FORBIDDEN = 4401, 4403
MAX_BATCH = 500  # messages packed into one frame at most


def _origin_ok(websocket: WebSocket, ctx: ApiContext) -> bool:
    """Browsers send Origin: it must be this server (or an allowed CORS origin)."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return True  # not a browser
    if origin in ctx.settings.cors_origins:
        return True
    host = websocket.headers.get("host", "")
    return origin in (f"http://{host}", f"https://{host}")


@router.websocket("/api/ws")
async def live(websocket: WebSocket, token: str | None = None) -> None:
    """Live messages; see docs/api.md. Auth with `?token=`; closes 4401 / 4403 when refused."""
    ctx: ApiContext = websocket.app.state.ctx
    feed = ctx.live
    if not _origin_ok(websocket, ctx):
        await websocket.close(code=CLOSE_FORBIDDEN)  # before accept: the browser gets a 403
        return
    await websocket.accept()
    try:
        caller = ctx.auth.verify(token or "")
    except AuthError as exc:
        await websocket.close(code=CLOSE_UNAUTHORIZED, reason=str(exc)[:120])
        return
    if not caller.has("read"):
        await websocket.close(code=CLOSE_FORBIDDEN, reason="the token lacks the scope 'read'")
        return
    hello = {"type": "hello", "space": ctx.space.name, "devices": len(ctx.space.devices)}
    try:
        await websocket.send_text(encode(hello))
    except (WebSocketDisconnect, RuntimeError):
        return
    client = LiveClient(feed, caller, ctx.settings.ws_queue)
    feed.clients.add(client)
    sender = asyncio.create_task(_send(websocket, client))
    receiver = asyncio.create_task(_receive(websocket, client, feed))
    try:
        await asyncio.wait({sender, receiver}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        feed.clients.discard(client)
        for task in (sender, receiver):
            task.cancel()
        await asyncio.wait({sender, receiver}, timeout=5)
        for task in (sender, receiver):
            if task.done() and not task.cancelled() and task.exception() is not None:
                error = task.exception()
                if not isinstance(error, WebSocketDisconnect | RuntimeError | OSError):
                    log.warning("WebSocket client failed: %r", error)
        if websocket.client_state == WebSocketState.CONNECTED:
            with contextlib.suppress(Exception):
                await websocket.close()


async def _receive(websocket: WebSocket, client: LiveClient, feed: LiveFeed) -> None:
    """Read subscribe messages until the client goes; answer a bad one with an error."""
    while True:
        message = await websocket.receive()
        if message["type"] == "websocket.disconnect":
            return
        text = message.get("text")
        if text is None:
            raw = message.get("bytes") or b""
            text = raw.decode("utf-8", "replace")
        reply = _subscribe(text, client, feed)
        client.push(encode(reply))


def _subscribe(text: str, client: LiveClient, feed: LiveFeed) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError:
        return {"type": "error", "message": 'a message must be JSON: {"subscribe": {...}}'}
    if not isinstance(data, dict) or set(data) != {"subscribe"}:
        return {"type": "error", "message": 'send {"subscribe": {"devices", "areas", "types"}}'}
    try:
        wanted = Subscribe.model_validate(data["subscribe"])
        devices = feed.matching(wanted)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "subscribe"
        return {"type": "error", "message": f"subscribe.{where}: {first['msg']}"}
    except ValueError as exc:
        return {"type": "error", "message": str(exc)}
    client.devices = devices
    covered = sorted(feed.space.devices if devices is None else devices)
    return {"type": "subscribed", "devices": covered}


async def _send(websocket: WebSocket, client: LiveClient) -> None:
    """Send what queues up (several messages in one frame as an array); close with 4401 once
    the token is revoked or expired."""
    queue = client.queue
    while True:
        await client.wake.wait()
        client.wake.clear()
        if client.revoked:
            await websocket.close(code=CLOSE_UNAUTHORIZED, reason="the token was revoked")
            return
        while queue:
            if len(queue) == 1:
                text = queue.popleft()
            else:
                batch = [queue.popleft() for _ in range(min(len(queue), MAX_BATCH))]
                text = "[" + ",".join(batch) + "]"
            await websocket.send_text(text)
