"""The assistant: engines in order, the hand-over between them, confirmation, conversation.

Hand-over (documented in docs/assistant.md):
- the matcher decides when its plan is complete (confidence 1.0: every word understood);
- otherwise the local LLM is asked (if there is one); its plan runs when its confidence is
  at least `llm_threshold` (chosen on the development set for >= 95 % precision), or when it
  comes to the same checked steps as the matcher's partial reading (two readings agree);
- otherwise the remote engine (if configured) is asked, with the same threshold rule;
- otherwise, when some engine had a plan, the answer asks "Did you mean …?" and changes
  nothing (a yes in a conversation runs it); else it says what it did not understand.
Whatever engine proposes, `Executor` checks values and risk, so no engine can do more than
the spec allows.

A rule request ("when I leave home, lock the door", `rules.RuleReader`) changes nothing: the
answer states the rule and carries it in `rule`, waiting for a yes that saves it through the
`RuleSaver` the caller gives (`ask` / `aask`); without one, it can only be proposed.
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
from hyperhub.assistant.rules import RuleReader, RuleSaver, rule_data
from hyperhub.assistant.scan import is_cjk
from hyperhub.automation.model import Rule
from hyperhub.errors import AutomationError, HyperHubError
from hyperhub.space import Space

ENGINES = ("auto", "matcher", "llm", "remote")
DEFAULT_LLM_THRESHOLD = 0.75  # on dev.jsonl: 8 of 78 LLM plans accepted, all 8 right
MAX_TEXT = 1000  # characters; longer input is refused, not truncated
MAX_GUESSED_DEVICES = 3  # a guess that ignored words never offers more devices than this


def _or(names: list[str], lang: Lang) -> str:
    if len(names) == 1:
        return names[0]
    joiner = " or " if lang == "en" else "还是"
    return ", ".join(names[:-1]) + joiner + names[-1]


class PlanEngine(Protocol):
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
    rule: dict[str, Any] | None = None  # a rule proposed (or saved), as its automation file has it

    def as_contract(self) -> dict[str, Any]:
        out = {
            "text": self.text,
            "actions": self.actions,
            "changes": self.changes,
            "reply": self.reply,
            "needs_confirmation": self.needs_confirmation,
            "engine": self.engine,
            "ms": round(self.ms, 2),
        }
        if self.rule is not None:
            out["rule"] = self.rule
        return out


class StateReader(Protocol):
    def state(self, device_id: str) -> dict[str, Any]: ...


class _Snapshot:
    def __init__(self, states: dict[str, dict[str, Any]]) -> None:
        self._states = states

    def state(self, device_id: str) -> dict[str, Any]:
        return dict(self._states.get(device_id) or {})


@dataclass
class Decision:
    """`answer` is final unless `plan` is set (then the plan runs and fills it) or `save` is
    (then the confirmed rule is saved and the reply says where)."""

    answer: Answer
    plan: Plan | None = None
    confirmed: bool = False
    lang: Lang = "en"
    context: Context | None = None
    save: Rule | None = None


@dataclass
class Conversation:
    """What `chat` keeps between sentences."""

    context: Context = field(default_factory=Context)
    pending: Plan | None = None  # waiting for a yes
    pending_rule: Rule | None = None  # a rule proposed, waiting for a yes to be saved
    # "Which door do you mean: …?" asked: (the sentence, its ambiguous word, the candidates)
    clarify: tuple[str, str, list[str]] | None = None


class Assistant:
    def __init__(
        self,
        space: Space,
        *,
        engine: str = "auto",
        llm: PlanEngine | None = None,
        remote: PlanEngine | None = None,
        llm_threshold: float = DEFAULT_LLM_THRESHOLD,
        remote_threshold: float = DEFAULT_LLM_THRESHOLD,
    ) -> None:
        if engine not in ENGINES:
            raise ValueError(f"unknown engine {engine!r}; use one of {', '.join(ENGINES)}")
        self.space = space
        self.engine = engine
        self.refresh()
        self.llm = llm
        self.remote = remote
        self.llm_threshold = llm_threshold
        self.remote_threshold = remote_threshold

    def refresh(self) -> None:
        """Learn the space's devices again (devices joined or left while running): the
        matcher's names, the executor's specs, the rule reader's. (The local LLM's tuned
        prompt follows the space by itself; the untuned base model's prefix does not.)"""
        self.matcher = Matcher(self.space)
        self.executor = Executor(self.space)
        self.rule_reader = RuleReader(self.space, self.matcher, self.executor)

    def ask(
        self,
        text: str,
        devices: Devices,
        *,
        area: str | None = None,
        conversation: Conversation | None = None,
        rules: RuleSaver | None = None,
        may_read: bool = True,
    ) -> Answer:
        """Answer one sentence, running its plan on devices that answer at once; a confirmed
        rule is saved through `rules`. Without `may_read` (an API token that may control
        devices but not read them) a question is not answered."""
        t0 = time.perf_counter()
        decision = self.decide(text, devices, area=area, conversation=conversation, rules=rules)
        _keep_state_private(decision, may_read)
        if decision.save is not None:
            self._saved(decision, *_save(rules, decision.save))
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
        rules: RuleSaver | None = None,
        may_read: bool = True,
    ) -> Answer:
        """Answer one sentence on a running hub: engines run in a worker thread on a snapshot
        of the state (the LLM is slow), the plan runs on the event loop, command by command;
        a confirmed rule is saved through `rules` (its `asave` when it has one); `may_read`
        as for `ask`."""
        t0 = time.perf_counter()
        snapshot = {d: devices.state(d) for d in self.space.devices}
        decision = await asyncio.to_thread(
            self.decide,
            text,
            _Snapshot(snapshot),
            area=area,
            conversation=conversation,
            rules=rules,
        )
        _keep_state_private(decision, may_read)
        if decision.save is not None:
            self._saved(decision, *(await _asave(rules, decision.save)))
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
        rules: RuleSaver | None = None,
    ) -> Decision:
        """What to do with a sentence: a final answer, a plan to run, or a confirmed rule to
        save (see the module doc). `rules` gives the rule ids already taken."""
        return self._decide(text, devices, area, conversation, rules)

    # -- internals -----------------------------------------------------------------------------

    def _saved(self, decision: Decision, where: str | None, problem: str | None) -> None:
        """The reply to a confirmed rule: where it was saved, or why it was not."""
        rule, lang, answer = decision.save, decision.lang, decision.answer
        assert rule is not None
        if where is None:
            answer.reply = say(lang, "rule_not_saved", problem=problem or say(lang, "rule_nowhere"))
            return
        key = "rule_saved" if problem == "live" else "rule_saved_later"
        answer.reply = say(lang, key, id=rule.id, where=where)

    def _propose(
        self,
        norm: str,
        raw: str,
        lang: Lang,
        area: str | None,
        conv: Conversation | None,
        rules: RuleSaver | None,
        final: Decision,
    ) -> Decision | None:
        """The answer to a rule request (see rules.py), or None when it is none."""
        proposal = self.rule_reader.read(
            norm, lang, said=raw, area=area, taken=(lambda: rules.rule_ids()) if rules else None
        )
        if proposal is None:
            return None
        answer = final.answer
        answer.engine = "matcher"
        if proposal.rule is None:
            if proposal.plan is not None:
                answer.reply = self._not_understood(raw, proposal.plan, lang)
            else:
                answer.reply = proposal.reply
            return final
        # in a conversation, decided before asking: a yes would only be refused (without
        # one, as `ask` and the contract, the rule is only proposed)
        refused = rules.cannot_save() if rules is not None and conv is not None else None
        if refused is not None:
            answer.reply = say(lang, "rule_not_saved", problem=refused.rstrip("."))
            return final
        answer.reply = proposal.reply
        answer.needs_confirmation = True
        answer.rule = rule_data(proposal.rule)
        if conv is not None:
            conv.pending = None
            conv.pending_rule = proposal.rule
        return final

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
        self,
        text: str,
        devices: StateReader,
        area: str | None,
        conv: Conversation | None,
        rules: RuleSaver | None = None,
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
        if conv is not None and (conv.pending is not None or conv.pending_rule is not None):
            confirmation = self._confirmation(norm, conv, final)
            if confirmation is not None:
                return confirmation
        elif self.reply_kind(norm) is not None:
            # a bare yes / no with nothing asked: never a request (an engine would guess one)
            answer.reply = say(lang, "nothing_pending")
            return final
        if conv is not None and conv.clarify is not None:
            raw = self._clarified(raw, conv.clarify)
            conv.clarify = None
            norm = normalize(raw[: MAX_TEXT + 1])
        plan, context = self.matcher.parse(
            raw, area=area, context=conv.context if conv else None, normalized=norm
        )
        if plan.problem == "injection":
            answer.reply = say(lang, "injection")
            return final
        if self.engine in ("auto", "matcher"):
            proposed = self._propose(norm, raw, lang, area, conv, rules, final)
            if proposed is not None:
                return proposed
        if plan.missing is not None and plan.empty:
            what, where = plan.missing
            answer.reply = say(lang, "no_reading", what=what, where=where)
            return final
        if plan.cannot is not None and plan.empty:  # "put the heater in cooling mode"
            key, ids = plan.cannot
            answer.reply = say(lang, key, **self.executor.words_of(ids, lang))
            return final
        if plan.negated and plan.empty:  # "don't turn off the porch light": nothing, and no guess
            answer.reply = say(lang, "not_doing")
            return final
        if plan.ambiguous is not None and not plan.steps:
            word, candidates = plan.ambiguous
            names = [self.executor.name(d, lang) for d in candidates]
            answer.reply = say(lang, "which", what=word, options=_or(names, lang))
            if conv is not None:
                conv.clarify = (raw, word, list(candidates))
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
        partial = fallback  # the matcher's reading, when it ignored words
        state = None
        for name, engine, threshold in (
            ("llm", self.llm, self.llm_threshold),
            ("remote", self.remote, self.remote_threshold),
        ):
            if chosen is not None or engine is None or self.engine not in ("auto", name):
                continue
            if state is None:
                state = {d: devices.state(d) for d in self.space.devices}
            reading = engine.parse(raw, area=area, state=state)
            reading.lang = lang
            if plan.asked:  # the matcher knows a question when it sees one: it never acts
                reading.steps = []
            if reading.empty:
                continue
            if reading.confidence >= threshold or self.engine == name:
                chosen = reading
            elif partial is not None and self._agree(partial, reading, devices):
                chosen = reading  # two readings, one by rule and one learned, say the same
            elif fallback is None:
                fallback = reading
        if chosen is None:
            if fallback is not None:
                answer.engine = fallback.engine
                guessed = self.executor.resolve(fallback, devices)[0]
                if plan.unknown and len({s.device for s in guessed}) > MAX_GUESSED_DEVICES:
                    # "the lights in the attic" with no attic is not every light of the home
                    answer.engine = plan.engine
                    answer.reply = self._not_understood(raw, plan, lang)
                    return final
                described = self.executor.describe(guessed, lang)
                if described and any(self.executor.is_risky(s) for s in guessed):
                    # a guess never offers a risky action ("open the car park barrier" →
                    # "unlock SU7?"): a yes would run what nobody asked for
                    answer.reply = say(lang, "no_risky_guess", actions=described)
                    return final
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

    def _agree(self, a: Plan, b: Plan, devices: Any) -> bool:
        """True when two plans come to the same checked steps and questions (not empty)."""
        steps_a, problem_a = self.executor.resolve(a, devices)
        steps_b, problem_b = self.executor.resolve(b, devices)
        if problem_a or problem_b or not (steps_a or a.questions):
            return False
        return sorted(steps_a, key=repr) == sorted(steps_b, key=repr) and sorted(
            a.questions, key=repr
        ) == sorted(b.questions, key=repr)

    def reply_kind(self, text: str) -> Literal["yes", "no"] | None:
        """Whether `text` is only a yes or only a no (fillers aside): how a pending plan is
        confirmed or dropped."""
        tokens = self.matcher.gaz.scan(normalize(text[: MAX_TEXT + 1]))
        kinds = {k for t in tokens for k in t.kinds()} - {"filler", "negation"}  # "不要": no
        if kinds and kinds <= {"yes"}:
            return "yes"
        if kinds and kinds <= {"no"}:
            return "no"
        return None

    def _confirmation(self, norm: str, conv: Conversation, final: Decision) -> Decision | None:
        kind = self.reply_kind(norm)
        pending, rule = conv.pending, conv.pending_rule
        # whatever the answer, the question is over; anything but yes / no is a new request
        conv.pending = conv.pending_rule = None
        if kind == "yes" and rule is not None:
            final.answer.rule = rule_data(rule)
            return Decision(final.answer, lang=final.lang, save=rule)
        if kind == "yes" and pending is not None:
            final.answer.engine = pending.engine
            return Decision(final.answer, plan=pending, confirmed=True, lang=final.lang)
        if kind == "no":
            final.answer.reply = say(final.lang, "cancelled")
            return final
        return None

    def _clarified(self, raw: str, clarify: tuple[str, str, list[str]]) -> str:
        """The answer to "Which door do you mean?" ("the front door", "前门") as the first
        sentence with the ambiguous word replaced by the chosen device's name — so "unlock
        the door" → "the front door" unlocks the front door (it was once read as a new
        request, and as *lock*). `raw` itself when it names no single candidate."""
        said, word, candidates = clarify
        words = _words(raw)
        if not words:
            return raw
        scores = {}
        for device in candidates:
            dev = self.space.devices.get(device)
            if dev is None:
                continue
            names = [dev.name, *dev.aliases]
            scores[device] = max(len(words & _words(n)) for n in names)
        best = max(scores.values(), default=0)
        chosen = [d for d, score in scores.items() if score == best]
        at = said.lower().find(word.lower())
        if best == 0 or len(chosen) != 1 or at < 0:
            return raw
        return said[:at] + self.space.devices[chosen[0]].name + said[at + len(word) :]

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


def _save(rules: RuleSaver | None, rule: Rule) -> tuple[str | None, str | None]:
    """(where, "live" or None) when saved; (None, the problem in words) when not."""
    if rules is None:
        return None, None
    try:
        where = rules.save(rule)
    except (HyperHubError, OSError) as exc:
        return None, _problem(exc)
    return where, "live" if rules.live else None


async def _asave(rules: RuleSaver | None, rule: Rule) -> tuple[str | None, str | None]:
    if rules is None:
        return None, None
    asave = getattr(rules, "asave", None)
    try:
        where = (
            await asave(rule) if asave is not None else await asyncio.to_thread(rules.save, rule)
        )
    except (HyperHubError, OSError) as exc:
        return None, _problem(exc)
    return str(where), "live" if rules.live else None


def _problem(exc: Exception) -> str:
    """Why a rule was not saved, in one line without the hub's paths."""
    if isinstance(exc, AutomationError) and exc.problems:
        return exc.problems[0][1].message.rstrip(".")
    if isinstance(exc, OSError):
        return f"the automation file cannot be written ({exc.strerror or type(exc).__name__})"
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0].rstrip(".")


def _keep_state_private(decision: Decision, may_read: bool) -> None:
    """A plan with questions is not run for someone who may not read the devices' state
    ("where is the car?" from a control-only token would tell its coordinates)."""
    if not may_read and decision.plan is not None and decision.plan.questions:
        decision.plan = None
        decision.answer.reply = say(decision.lang, "needs_read")


def _words(text: str) -> set[str]:
    """Lower-case words of `text`, and each CJK character as a word ("前门" → 前, 门)."""
    out: set[str] = set()
    for part in normalize(text).lower().replace("-", " ").split():
        cjk = [ch for ch in part if is_cjk(ch)]
        out.update(cjk)
        rest = "".join(ch for ch in part if not is_cjk(ch)).strip(".,!?;:'\"")
        if rest and rest not in _FILLERS:
            out.add(rest)
    return out


_FILLERS = frozenset({"the", "a", "an", "one", "please", "that", "this", "i", "mean", "的"})
