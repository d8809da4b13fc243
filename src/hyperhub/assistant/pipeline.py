"""The assistant: engines in order, the hand-over between them, confirmation, conversation.

Hand-over (documented in docs/assistant.md):
- the matcher decides when its plan is complete (confidence 1.0: every word understood);
- otherwise the local LLM is asked (if there is one); its plan runs only when its confidence is
  at least `llm_threshold` (chosen on the development set for >= 95 % precision);
- otherwise the remote engine (if configured) is asked, with the same threshold rule;
- otherwise, when some engine had a plan, the answer asks "Did you mean …?" and changes
  nothing (a yes in a conversation runs it); else it says what it did not understand.
Whatever engine proposes, `Executor` checks values and risk, so no engine can do more than
the spec allows.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol

from hyperhub.assistant.execute import AsyncDevices, Devices, Executor, Outcome, say
from hyperhub.assistant.matcher import Context, Matcher
from hyperhub.assistant.numbers import normalize
from hyperhub.assistant.plan import Lang, Plan
from hyperhub.assistant.scan import is_cjk
from hyperhub.space import Space

ENGINES = ("auto", "matcher", "llm", "remote")
DEFAULT_LLM_THRESHOLD = 0.75  # on dev.jsonl: 8 of 78 LLM plans accepted, all 8 right
MAX_TEXT = 1000  # characters; longer input is refused, not truncated


def _or(names: list[str], lang: Lang) -> str:
    if len(names) == 1:
        return names[0]
    joiner = " or " if lang == "en" else "还是"
    return ", ".join(names[:-1]) + joiner + names[-1]


class Engine(Protocol):
    def parse(self, text: str, *, area: str | None, state: dict[str, dict[str, Any]]) -> Plan: ...


@dataclass
class Answer:
    text: str
    actions: list[dict[str, Any]] = field(default_factory=list)
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    reply: str = ""
    needs_confirmation: bool = False
    engine: str = "matcher"
    ms: float = 0.0

    def as_contract(self) -> dict[str, Any]:
        return {
            "text": self.text,
            "actions": self.actions,
            "changes": self.changes,
            "reply": self.reply,
            "needs_confirmation": self.needs_confirmation,
            "engine": self.engine,
            "ms": round(self.ms, 2),
        }


class StateReader(Protocol):
    def state(self, device_id: str) -> dict[str, Any]: ...


class _Snapshot:
    def __init__(self, states: dict[str, dict[str, Any]]) -> None:
        self._states = states

    def state(self, device_id: str) -> dict[str, Any]:
        return dict(self._states.get(device_id) or {})


@dataclass
class Decision:
    """`answer` is final unless `plan` is set: then the plan runs and fills it."""

    answer: Answer
    plan: Plan | None = None
    confirmed: bool = False
    lang: Lang = "en"
    context: Context | None = None


@dataclass
class Conversation:
    """What `chat` keeps between sentences."""

    context: Context = field(default_factory=Context)
    pending: Plan | None = None  # waiting for a yes


class Assistant:
    def __init__(
        self,
        space: Space,
        *,
        engine: str = "auto",
        llm: Engine | None = None,
        remote: Engine | None = None,
        llm_threshold: float = DEFAULT_LLM_THRESHOLD,
        remote_threshold: float = DEFAULT_LLM_THRESHOLD,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.space = space
        self.engine = engine
        self.matcher = Matcher(space)
        self.executor = Executor(space)
        self.llm = llm
        self.remote = remote
        self.llm_threshold = llm_threshold
        self.remote_threshold = remote_threshold

    def ask(
        self,
        text: str,
        devices: Devices,
        *,
        area: str | None = None,
        conversation: Conversation | None = None,
    ) -> Answer:
        """Answer one sentence, running its plan on devices that answer at once."""
        t0 = time.perf_counter()
        decision = self.decide(text, devices, area=area, conversation=conversation)
        if decision.plan is not None:
            outcome = self.executor.run(
                decision.plan, devices, confirmed=decision.confirmed, lang=decision.lang
            )
            self._finish(decision, outcome, conversation)
        decision.answer.ms = (time.perf_counter() - t0) * 1000
        return decision.answer

    async def aask(
        self,
        text: str,
        devices: AsyncDevices,
        *,
        area: str | None = None,
        conversation: Conversation | None = None,
    ) -> Answer:
        """Answer one sentence on a running hub: engines run in a worker thread on a snapshot
        of the state (the LLM is slow), the plan runs on the event loop, command by command."""
        t0 = time.perf_counter()
        snapshot = {d: devices.state(d) for d in self.space.devices}
        decision = await asyncio.to_thread(
            self.decide, text, _Snapshot(snapshot), area=area, conversation=conversation
        )
        if decision.plan is not None:
            outcome = await self.executor.arun(
                decision.plan, devices, confirmed=decision.confirmed, lang=decision.lang
            )
            self._finish(decision, outcome, conversation)
        decision.answer.ms = (time.perf_counter() - t0) * 1000
        return decision.answer

    def decide(
        self,
        text: str,
        devices: StateReader,
        *,
        area: str | None = None,
        conversation: Conversation | None = None,
    ) -> Decision:
        """What to do with a sentence: a final answer, or a plan to run (see the module doc)."""
        return self._decide(text, devices, area, conversation)

    # -- internals -----------------------------------------------------------------------------

    def _finish(self, decision: Decision, outcome: Outcome, conv: Conversation | None) -> None:
        self._fill(decision.answer, outcome)
        if conv is not None and decision.plan is not None:
            if decision.confirmed:
                return
            plan = decision.plan
            if plan.engine == "matcher" and decision.context is not None:
                conv.context = decision.context
            else:
                conv.context = Context(targets=[s.device for s in plan.steps])
            conv.pending = plan if outcome.needs_confirmation else None

    def _decide(
        self, text: str, devices: StateReader, area: str | None, conv: Conversation | None
    ) -> Decision:
        raw = text if isinstance(text, str) else ""
        norm = normalize(raw[: MAX_TEXT + 1])
        lang: Lang = "zh" if any(is_cjk(ch) for ch in norm) else "en"
        answer = Answer(text=raw)
        final = Decision(answer, lang=lang)
        if not norm:
            answer.reply = say(lang, "empty")
            return final
        if len(raw) > MAX_TEXT:
            answer.reply = say(
                lang, "invalid", problem=f"the request is longer than {MAX_TEXT} characters"
            )
            return final
        if area is not None and area not in self.space.areas:
            area = None  # an unknown speaker room does not scope anything
        if conv is not None and conv.pending is not None:
            confirmation = self._confirmation(norm, conv, final)
            if confirmation is not None:
                return confirmation
        plan, context = self.matcher.parse(
            raw, area=area, context=conv.context if conv else None, normalized=norm
        )
        if plan.problem == "injection":
            answer.reply = say(lang, "injection")
            return final
        if plan.missing is not None and plan.empty:
            what, where = plan.missing
            answer.reply = say(lang, "no_reading", what=what, where=where)
            return final
        if plan.ambiguous is not None and not plan.steps:
            word, candidates = plan.ambiguous
            names = [self.executor.name(d, lang) for d in candidates]
            answer.reply = say(lang, "which", what=word, options=_or(names, lang))
            return final
        chosen: Plan | None = None
        fallback: Plan | None = None
        if self.engine in ("auto", "matcher"):
            # questions change nothing, so a partly understood question is still answered
            if (
                plan.confidence >= 1.0
                or self.engine == "matcher"
                or (plan.questions and not plan.steps)
            ):
                chosen = plan if not plan.empty else None
            elif not plan.empty:
                fallback = plan
        state = None
        for name, engine, threshold in (
            ("llm", self.llm, self.llm_threshold),
            ("remote", self.remote, self.remote_threshold),
        ):
            if chosen is not None or engine is None or self.engine not in ("auto", name):
                continue
            if state is None:
                state = {d: devices.state(d) for d in self.space.devices}
            proposed = engine.parse(raw, area=area, state=state)
            proposed.lang = lang
            if proposed.empty:
                continue
            if proposed.confidence >= threshold or self.engine == name:
                chosen = proposed
            elif fallback is None:
                fallback = proposed
        if chosen is None:
            if fallback is not None:
                answer.engine = fallback.engine
                described = self.executor.describe(
                    self.executor.resolve(fallback, devices)[0], lang
                )
                if described:
                    answer.reply = say(lang, "did_you_mean", actions=described)
                    if conv is not None:
                        conv.pending = fallback
                    return final
            answer.engine = plan.engine if self.engine in ("auto", "matcher") else self.engine
            answer.reply = self._not_understood(raw, plan, lang)
            return final
        answer.engine = chosen.engine
        return Decision(answer, plan=chosen, lang=lang, context=context)

    def reply_kind(self, text: str) -> Literal["yes", "no"] | None:
        """Whether `text` is only a yes or only a no (fillers aside): how a pending plan is
        confirmed or dropped."""
        tokens = self.matcher.gaz.scan(normalize(text[: MAX_TEXT + 1]))
        kinds = {k for t in tokens for k in t.kinds()} - {"filler"}
        if kinds and kinds <= {"yes"}:
            return "yes"
        if kinds and kinds <= {"no"}:
            return "no"
        return None

    def _confirmation(self, norm: str, conv: Conversation, final: Decision) -> Decision | None:
        kind = self.reply_kind(norm)
        pending = conv.pending
        assert pending is not None
        if kind == "yes":
            conv.pending = None
            final.answer.engine = pending.engine
            return Decision(final.answer, plan=pending, confirmed=True, lang=final.lang)
        if kind == "no":
            conv.pending = None
            final.answer.reply = say(final.lang, "cancelled")
            return final
        conv.pending = None  # anything else drops the question and is read as a new request
        return None

    @staticmethod
    def _fill(answer: Answer, outcome: Outcome) -> None:
        answer.actions = outcome.actions
        answer.changes = outcome.changes
        answer.reply = outcome.reply
        answer.needs_confirmation = outcome.needs_confirmation

    @staticmethod
    def _not_understood(raw: str, plan: Plan, lang: Lang) -> str:
        if plan.unknown:
            what = plan.unknown[0] if lang == "zh" else f'"{plan.unknown[0]}"'
            return say(lang, "unknown", what=what)
        return say(lang, "not_understood", text=raw.strip()[:200])
