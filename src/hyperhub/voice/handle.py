"""The Wyoming handle program: a sentence heard → the assistant → its reply, on the devices
it is given (a running hub's, or a simulation's) — docs/voice.md, "Wyoming".

Sentences are answered one at a time. A client's `conversation_id` (in the Wyoming
`context`; Home Assistant sends one) keeps a `Conversation`, so follow-ups ("make it
dimmer") and "which door?" work as in `hyperhub chat`; the `area` in the context (a
satellite's room) scopes "the lights". A Wyoming connection has no login, so by default a
spoken yes never runs a risky plan (unlocking, opening the garage): the reply says so and
nothing runs. With `allow_risky` a yes in the same conversation runs it, as in `chat`.
Rules are never saved by voice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import string
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cache
from typing import Any, cast

from hyperhub.assistant.execute import AsyncDevices, Devices
from hyperhub.assistant.lexicon import lexicon
from hyperhub.assistant.pipeline import Answer, Assistant, Conversation
from hyperhub.assistant.plan import Lang, Plan
from hyperhub.assistant.scan import is_cjk
from hyperhub.errors import HyperHubError

log = logging.getLogger(__name__)

_WORDS: dict[str, dict[Lang, str]] = {
    "no_voice_yes": {
        "en": "I can't {actions} by voice: it needs a yes, and this voice service does not "
        "take one. Do it in the HyperHub dashboard or in hyperhub chat.",
        "zh": "语音服务不接受确认，无法{actions}：请在 HyperHub 控制台或 hyperhub chat 中操作。",
    },
    "no_voice_rules": {
        "en": "I can't save rules by voice. Say it in hyperhub chat or make it in the "
        "HyperHub dashboard.",
        "zh": "语音不能保存规则：请在 hyperhub chat 或 HyperHub 控制台中创建。",
    },
    "unknown_area": {
        "en": "I don't know the room {area!r} this request comes from.",
        "zh": "不知道这个请求来自哪个房间（{area!r}）。",
    },
    "failed": {
        "en": "I couldn't do that: {problem}.",
        "zh": "无法完成：{problem}。",
    },
}
# replies (the assistant's lexicon) that say a request was not carried out: not understood,
# refused, a question back ("which door?", "did you mean …?"); every other reply is handled
_NOT_DONE = (
    "not_understood",
    "unknown",
    "empty",
    "injection",
    "invalid",
    "read_only",
    "cannot_value",
    "did_you_mean",
    "no_risky_guess",
    "needs_read",
    "nothing_pending",
    "no_reading",
    "which",
    "rule_not_saved",
    "rule_no_location",
    "rule_no_phone",
    "rule_relative",
)


@dataclass(frozen=True)
class Reply:
    """The handle program's answer: the words to say, whether the request was carried out
    (`handled`) or not (not understood, refused, waiting for a confirmation), and the context
    to send back (the conversation's id)."""

    text: str
    handled: bool
    context: dict[str, Any] = field(default_factory=dict)
    answer: Answer | None = None  # the assistant's, when it answered


class HandleService:
    """The assistant for Wyoming clients, on `devices`: a running hub's (`AsyncDevices`,
    `on_hub=True`: commands through the hub, checked and audited) or a simulation's
    (`Devices`). `area`: the room of requests that name none."""

    def __init__(
        self,
        assistant: Assistant,
        devices: Devices | AsyncDevices,
        *,
        on_hub: bool,
        area: str | None = None,
        allow_risky: bool = False,
        max_conversations: int = 32,
        forget_after_s: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.assistant = assistant
        self.devices = devices
        self.on_hub = on_hub
        self.area = None if area is None else assistant.space.find_area(area).id
        self.allow_risky = allow_risky
        self.max_conversations = max_conversations
        self.forget_after_s = forget_after_s
        self.clock = clock
        self._conversations: OrderedDict[str, tuple[Conversation, float]] = OrderedDict()
        self._turn = asyncio.Lock()  # one sentence at a time, as the API's ask
        self._sim = threading.Lock()  # a simulation is used by one thread at a time

    async def handle(self, text: str, context: dict[str, Any]) -> Reply:
        """The reply to one sentence; `context` may hold `conversation_id` and `area`."""
        lang: Lang = "zh" if any(is_cjk(ch) for ch in text) else "en"
        conversation_id = context.get("conversation_id")
        if not isinstance(conversation_id, str) or not conversation_id:
            conversation_id = uuid.uuid4().hex
        back = {"conversation_id": conversation_id}
        try:
            area = self._area(context.get("area"))
        except HyperHubError:
            return Reply(_say(lang, "unknown_area", area=context.get("area")), False, back)
        async with self._turn:
            conv = self._conversation(conversation_id)
            if self._refused_yes(text, conv):
                return Reply(self._no_voice_yes(conv, lang), False, back)
            try:
                answer = await self._ask(text, area, conv)
            except HyperHubError as exc:
                return Reply(_say(lang, "failed", problem=str(exc).rstrip(".")), False, back)
            reply, done = answer.reply, _carried_out(answer, lang)
            if answer.needs_confirmation and conv.pending_rule is not None:
                conv.pending_rule = None
                reply = _say(lang, "no_voice_rules")
            elif answer.needs_confirmation and not self.allow_risky and self._risky(conv.pending):
                reply = self._no_voice_yes(conv, lang)
        return Reply(reply, done, back, answer)

    async def _ask(self, text: str, area: str | None, conv: Conversation) -> Answer:
        if self.on_hub:
            hub = cast(AsyncDevices, self.devices)
            return await self.assistant.aask(text, hub, area=area, conversation=conv)
        simulated = cast(Devices, self.devices)

        def ask() -> Answer:
            with self._sim:
                return self.assistant.ask(text, simulated, area=area, conversation=conv)

        return await asyncio.to_thread(ask)

    def _area(self, given: Any) -> str | None:
        if given is None or given == "":
            return self.area
        if not isinstance(given, str):
            raise HyperHubError(f"an area must be a string, not {type(given).__name__}")
        return self.assistant.space.find_area(given).id

    def _conversation(self, conversation_id: str) -> Conversation:
        """The conversation of this id (a new one if unknown or forgotten); the oldest are
        forgotten past `max_conversations`, and any unused for `forget_after_s`."""
        now = self.clock()
        for key, (_, used) in list(self._conversations.items()):
            if now - used > self.forget_after_s:
                del self._conversations[key]
        conv = self._conversations.pop(conversation_id, (Conversation(), now))[0]
        self._conversations[conversation_id] = (conv, now)
        while len(self._conversations) > self.max_conversations:
            self._conversations.popitem(last=False)
        return conv

    def _refused_yes(self, text: str, conv: Conversation) -> bool:
        """Whether `text` is a yes to a risky plan that voice may not confirm."""
        if self.allow_risky or conv.pending is None:
            return False
        return self.assistant.reply_kind(text) == "yes" and self._risky(conv.pending)

    def _risky(self, plan: Plan | None) -> bool:
        if plan is None:
            return False
        steps, _ = self.assistant.executor.resolve(plan, self.devices)
        return any(self.assistant.executor.is_risky(s) for s in steps)

    def _no_voice_yes(self, conv: Conversation, lang: Lang) -> str:
        """Why a risky plan does not run by voice; it is no longer waiting for a yes."""
        plan, conv.pending = conv.pending, None
        assert plan is not None
        steps, _ = self.assistant.executor.resolve(plan, self.devices)
        return _say(lang, "no_voice_yes", actions=self.assistant.executor.describe(steps, lang))


def _say(lang: Lang, key: str, **fields: Any) -> str:
    return _WORDS[key][lang].format(**fields)


def _carried_out(answer: Answer, lang: Lang) -> bool:
    """Whether the assistant did what was asked or answered the question (not: did not
    understand, refused, asked back, waits for a yes)."""
    if answer.needs_confirmation:
        return False
    return not any(pattern.fullmatch(answer.reply) for pattern in _not_done(lang))


@cache
def _not_done(lang: str) -> tuple[re.Pattern[str], ...]:
    """The lexicon's replies of `_NOT_DONE` as patterns (each field: any text)."""
    replies = lexicon(lang).get("replies") or {}
    patterns = []
    for key in _NOT_DONE:
        template = replies.get(key)
        if not isinstance(template, str):
            continue
        body = ""
        for text, name, _, _ in string.Formatter().parse(template):
            body += re.escape(text) + (".*?" if name is not None else "")
        patterns.append(re.compile(body, re.S))
    return tuple(patterns)
