"""`POST /api/ask`: the assistant on the live devices, with conversations and confirmation."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends

from hyperhub.api.context import ApiContext, FabricDevices
from hyperhub.api.errors import ApiError
from hyperhub.api.models import AskBody, AskOut
from hyperhub.api.security import context, missing_scope, require
from hyperhub.assistant.pipeline import Assistant, Conversation
from hyperhub.auth import Token

router = APIRouter(prefix="/api", tags=["assistant"])
Ctx = Annotated[ApiContext, Depends(context)]
Controller = Annotated[Token, Depends(require("control"))]


def confirms(assistant: Assistant, conv: Conversation, text: str) -> bool:
    """Whether `text` is the yes that runs the conversation's pending plan."""
    return conv.pending is not None and assistant.reply_kind(text) == "yes"


def pending_is_risky(assistant: Assistant, conv: Conversation, devices: FabricDevices) -> bool:
    if conv.pending is None:
        return False
    steps, _ = assistant.executor.resolve(conv.pending, devices)
    return any(assistant.executor.is_risky(s) for s in steps)


@router.post("/ask", response_model=AskOut)
async def ask(ctx: Ctx, token: Controller, body: AskBody) -> AskOut:
    """Ask the assistant (English or Chinese); its plan runs on the live devices. A risky plan
    answers `needs_confirmation`; a "yes" in the same conversation runs it, which needs the
    scope `control:risky`."""
    ctx.ask_limit.take(token.id)
    if body.area is not None and body.area not in ctx.space.areas:
        known = ", ".join(ctx.space.areas)
        raise ApiError(404, "unknown_area", f"no area {body.area!r}; areas: {known}")
    conversation_id, conv = ctx.conversations.get(body.conversation, token.id)
    async with ctx.ask_lock:
        yes = confirms(ctx.assistant, conv, body.text)
        may_confirm = yes and token.has("control:risky")
        devices = FabricDevices(ctx, f"ask:{token.name}", confirm=may_confirm)
        if yes and not may_confirm and pending_is_risky(ctx.assistant, conv, devices):
            raise missing_scope(token, "control:risky", "confirming a risky plan")
        answer = await ctx.assistant.aask(body.text, devices, area=body.area, conversation=conv)
    return AskOut(**answer.as_contract(), conversation=conversation_id)
