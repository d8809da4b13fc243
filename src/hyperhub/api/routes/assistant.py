"""`POST /api/ask`: the assistant on the live devices, with conversations and confirmation;
a rule it is asked for ("when I leave home, lock the door") is saved on a yes and runs at
once on the hub's engine."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter

from hyperhub.api.context import ApiContext, FabricDevices
from hyperhub.api.errors import ApiError
from hyperhub.api.models import AskBody, AskOut
from hyperhub.api.security import Controller, Ctx, confirm_refused, may_confirm
from hyperhub.assistant.pipeline import Assistant, Conversation
from hyperhub.assistant.rules import FileRuleSaver
from hyperhub.automation.loader import rule_risks
from hyperhub.automation.model import Rule
from hyperhub.errors import HyperHubError

router = APIRouter(prefix="/api", tags=["assistant"])
log = logging.getLogger("hyperhub.api")


class HubRuleSaver(FileRuleSaver):
    """Saves a confirmed rule into the hub's automations (`assistant.yaml` in its folder)
    and starts it on the running engine. A hub without an engine (`--no-automations`)
    cannot save rules; nor can one running the demo that ships inside HyperHub."""

    live = True

    def __init__(self, ctx: ApiContext, actor: str) -> None:
        super().__init__(ctx.space, ctx.automations_path)
        self.ctx = ctx
        self.actor = actor

    def rule_ids(self) -> set[str]:
        engine = self.ctx.engine
        return set(engine.rules if engine is not None else ()) | super().rule_ids()

    def _check(self) -> None:
        if self.ctx.engine is None:
            raise HyperHubError("this hub runs no automations (it was started without them)")

    def cannot_save(self) -> str | None:
        try:
            self._check()
        except HyperHubError as exc:
            return str(exc)
        return super().cannot_save()

    def save(self, rule: Rule) -> str:
        """Save and start the rule (call it on the hub's event loop)."""
        self._check()
        book = self.write(rule)
        return self._start(rule, book)

    async def asave(self, rule: Rule) -> str:
        """Save (the files in a worker thread) and start the rule."""
        self._check()
        book = await asyncio.to_thread(self.write, rule)
        return self._start(rule, book)

    def _start(self, rule: Rule, book: object) -> str:
        engine = self.ctx.engine
        assert engine is not None
        # the folder as it is now: the new rule, and whatever else changed there (so the
        # engine never runs a mix of old rules and new scenes or places)
        engine.reload(book)  # type: ignore[arg-type]
        target = self.target()
        log.info("rule %s saved in %s by %s", rule.id, target, self.actor)
        return target.name  # the file's name only: not where the hub keeps it


def confirms(assistant: Assistant, conv: Conversation, text: str) -> bool:
    """Whether `text` is the yes that runs the conversation's pending plan or saves its
    pending rule."""
    waiting = conv.pending is not None or conv.pending_rule is not None
    return waiting and assistant.reply_kind(text) == "yes"


def pending_is_risky(assistant: Assistant, conv: Conversation, devices: FabricDevices) -> bool:
    if conv.pending is None:
        return False
    steps, _ = assistant.executor.resolve(conv.pending, devices)
    return any(assistant.executor.is_risky(s) for s in steps)


@router.post("/ask", response_model=AskOut)
async def ask(ctx: Ctx, token: Controller, body: AskBody) -> AskOut:
    """Ask the assistant (English or Chinese); its plan runs on the live devices. A risky plan
    answers `needs_confirmation`; a "yes" in the same conversation runs it, which needs the
    scope `control:risky`. A rule request ("when I leave home, lock the door") changes
    nothing: it answers `needs_confirmation` with the proposed `rule`; a "yes" saves it in the
    automations folder (`assistant.yaml`) and starts it — `control:risky` too when the rule
    makes risky writes or calls."""
    ctx.ask_limit.take(token.id)
    if body.area is not None and body.area not in ctx.space.areas:
        known = ", ".join(ctx.space.areas)
        raise ApiError(404, "unknown_area", f"no area {body.area!r}; areas: {known}")
    conversation_id, conv = ctx.conversations.get(body.conversation, token.id)
    async with ctx.ask_lock:
        yes = confirms(ctx.assistant, conv, body.text)
        allowed = yes and may_confirm(token)
        devices = FabricDevices(ctx, f"ask:{token.name}", confirm=allowed)
        if yes and not allowed and pending_is_risky(ctx.assistant, conv, devices):
            raise confirm_refused(token, "confirming a risky plan")
        if yes and not allowed and conv.pending_rule is not None:
            risky = rule_risks(ctx.space, conv.pending_rule)
            if risky:
                raise confirm_refused(
                    token, f"saving a rule with risky actions ({', '.join(risky)})"
                )
        answer = await ctx.assistant.aask(
            body.text,
            devices,
            area=body.area,
            conversation=conv,
            rules=HubRuleSaver(ctx, f"ask:{token.name}"),
            may_read=token.has("read"),  # scopes do not imply each other: questions read
        )
    return AskOut(**answer.as_contract(), conversation=conversation_id)
