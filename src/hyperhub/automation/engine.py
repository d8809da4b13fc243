"""The rule engine: triggers fire rules, conditions are checked, actions run, and every run
leaves a trace.

    engine = Engine(space, book, hub, clock=clock, traces=sink)
    await engine.start()          # watches the hub's changes, events and availability
    ...
    await engine.close()          # cancels running rules, writes the last traces

Runs are asyncio tasks owned by the engine. A rule's `mode` says what happens when it fires
while it runs: `single` skips the new run, `restart` cancels the old one, `queue` runs them in
turn (up to `max_queued`). Loop protection: a run whose cause chain already holds its rule
(A's command changed a device that triggered B whose command triggered A again), a chain
deeper than `MAX_CHAIN`, or more than `BURST_RUNS` runs of one rule within `BURST_WINDOW_S`,
stops the rule and reports why; it stays stopped until enabled again.

Time comes from `clock`: with a manual clock, tests call `check_time()` after moving it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from hyperhub.automation import when
from hyperhub.automation.access import DeviceAccess, Listeners
from hyperhub.automation.loader import Book, load_automations
from hyperhub.automation.model import Action, Condition, Rule, Scene
from hyperhub.automation.watch import Fired, Watches, _is_number, _same
from hyperhub.clock import Clock, SystemClock
from hyperhub.errors import (
    HyperHubError,
    RuleDisabled,
    UnknownRule,
    UnknownScene,
    did_you_mean,
)
from hyperhub.fabric.feed import Availability, Event, Feed
from hyperhub.space import Space
from hyperhub.spec.policy import Command
from hyperhub.templates import has_templates, render

log = logging.getLogger("hyperhub.automation")

MAX_CHAIN = 8  # rules triggering rules: deeper than this is a loop
BURST_RUNS = 60  # more runs than this of one rule …
BURST_WINDOW_S = 10.0  # … within this many seconds is a loop
CAUSE_WINDOW_S = 5.0  # a change this soon after a rule's command to the device is its effect
MAX_SLEEP_S = 30.0  # the scheduler looks at the clock at least this often
TRACE_FLUSH_S = 0.2  # traces are written in batches at most this far apart
RunRow = tuple[str, float, float | None, str, str, dict[str, Any], list[dict[str, Any]]]
TraceSink = Callable[[list[RunRow]], None]


class _Failed(Exception):
    """An action failed and the run stops (its step says why)."""


@dataclass
class RunTrace:
    """One run of a rule: what fired it, each condition and action, and how it ended."""

    rule: str
    started: float
    trigger: dict[str, Any]
    chain: tuple[str, ...] = ()
    steps: list[dict[str, Any]] = field(default_factory=list)
    result: str = "running"
    message: str = ""
    finished: float | None = None
    first_sent: float | None = None  # perf_counter() when the first command went out
    skipped: int = 0  # triggers that came while it ran and were not run (mode single)
    mode: str = "single"  # the rule's mode when it fired
    now: Callable[[], float] = time.time  # the engine's clock, for the steps' times

    def step(self, kind: str, what: str, ok: bool, message: str = "", **extra: Any) -> None:
        entry = {"kind": kind, "what": what, "ok": ok, "at": round(self.now(), 3)}
        if message:
            entry["message"] = message
        entry.update(extra)
        self.steps.append(entry)

    def row(self) -> RunRow:
        trigger = dict(self.trigger)
        if self.chain:
            trigger["chain"] = list(self.chain)
        return (
            self.rule,
            self.started,
            self.finished,
            self.result,
            self.message,
            trigger,
            self.steps,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule": self.rule,
            "started": self.started,
            "finished": self.finished,
            "result": self.result,
            "message": self.message,
            "trigger": self.trigger,
            "chain": list(self.chain),
            "steps": self.steps,
        }


@dataclass
class RuleState:
    """A loaded rule and what the engine knows of it now."""

    rule: Rule
    enabled: bool
    stopped: str | None = None  # why loop protection stopped it
    task: asyncio.Task[None] | None = None
    current: RunTrace | None = None  # the run in progress
    queue: deque[RunTrace] = field(default_factory=deque)
    starts: deque[float] = field(default_factory=deque)  # recent start times (burst check)
    last: RunTrace | None = None
    runs: int = 0

    @property
    def running(self) -> bool:
        return self.task is not None and not self.task.done()


@dataclass(frozen=True)
class SceneItem:
    device: str
    what: str  # for developers: "kitchen_light.brightness = 150"
    ok: bool
    message: str = ""
    # the command sent ({"property", "value"} or {"action", "args"}), for saying it in words
    # (`describe.describe_command`); None when nothing was sent
    command: dict[str, Any] | None = None
    code: str = ""  # why it failed, for machines (`HyperHubError.code`)


@dataclass(frozen=True)
class SceneReport:
    """What applying a scene did: one item per command, and which failed."""

    scene: str
    items: tuple[SceneItem, ...]

    @property
    def failed(self) -> list[SceneItem]:
        return [i for i in self.items if not i.ok]

    @property
    def ok(self) -> bool:
        return not self.failed

    def summary(self) -> str:
        done = len(self.items) - len(self.failed)
        text = f"scene {self.scene}: {done}/{len(self.items)} done"
        if self.failed:
            text += "; failed: " + "; ".join(f"{i.what}: {i.message}" for i in self.failed)
        return text


class Engine:
    """Runs a book of rules against a hub."""

    def __init__(
        self,
        space: Space,
        book: Book,
        hub: DeviceAccess,
        *,
        clock: Clock | None = None,
        traces: TraceSink | None = None,
        schedule: bool = True,
    ) -> None:
        self.space = space
        self.book = book
        self.hub = hub
        self.clock: Clock = clock or SystemClock()
        self.tz = space.tz()
        self.rules = {r.id: RuleState(r, r.enabled) for r in book.rules.values()}
        self.runs: Feed[RunTrace] = Feed()  # every finished run (and skipped / stopped one)
        self._sink = traces
        self._schedule = schedule
        self._watches = Watches(space, dict(book.places), self.tz, self.clock.now)
        self._watches.on_pending = self._wake_up  # a `for` started: the scheduler must know
        # (device, property or "event:<name>") → the chain of rules whose command changed
        # it, and until when a change of it counts as that command's effect
        self._caused: dict[tuple[str, str], tuple[tuple[str, ...], float]] = {}
        self._sleepers: list[tuple[float, asyncio.Future[None]]] = []
        self._tasks: set[asyncio.Task[Any]] = set()
        self._out: list[RunRow] = []
        self._flush_at: asyncio.TimerHandle | None = None
        self._wake = asyncio.Event()
        self._stop_listening: Callable[[], None] | None = None
        self._scheduler: asyncio.Task[None] | None = None
        self.started = False
        self._closing = False
        # changes of the files it runs, one at a time, each with its reload: so that the
        # engine never runs an older folder than the newest change (`api.routes.automation_files`)
        self.edits = asyncio.Lock()

    # -- lifecycle --------------------------------------------------------------------------

    def remember_last_runs(self, latest: Callable[[str], Any]) -> None:
        """Each rule's last run as the store has it (`latest(rule_id)`: a `RunEntry` or
        None), for rules that have not run since this engine started: after a restart a
        rule said "never ran" while its stored runs showed one."""
        for rule_id, state in self.rules.items():
            if state.last is not None:
                continue
            entry = latest(rule_id)
            if entry is not None:
                state.last = RunTrace(
                    rule_id,
                    entry.started,
                    dict(entry.trigger),
                    steps=list(entry.steps),
                    result=entry.result,
                    message=entry.message,
                    finished=entry.finished,
                )

    async def start(self) -> None:
        """Arm every enabled rule from the current state and start listening."""
        for state in self.rules.values():
            if state.enabled:
                self._watches.add_rule(state.rule, self.hub.state_of)
        for device in self.space.devices.values():
            location = (self.hub.state_of(device.id) or {}).get("location")
            if location is not None:
                self._watches.track(device.id, location)
        watch, fire_all = self._watches.on_changes, self._fire_all

        def on_changes(items: list[tuple[str, dict[str, Any], float]]) -> None:
            # `self.on_change` for a batch, without its attribute look-ups: every state
            # message goes through here
            fired = watch(items)
            if fired:
                fire_all(fired)

        self._stop_listening = self.hub.listen(
            Listeners(on_changes, self.on_event, self.on_availability, self._watches.quiet)
        )
        if self._schedule:
            self._scheduler = asyncio.create_task(self._run_scheduler(), name="rule-scheduler")
        self.started = True
        log.info("automations: %d rules, %d scenes", len(self.rules), len(self.book.scenes))

    async def close(self) -> None:
        """Stop listening, cancel running rules and delays, and hand over the last traces."""
        self._closing = True
        for state in self.rules.values():
            self._drop_queue(state)
        if self._stop_listening is not None:
            self._stop_listening()
            self._stop_listening = None
        tasks = [t for t in (self._scheduler, *self._tasks) if t is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)
        self.flush_traces()
        self.started = False

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- inputs (called in the hub's ingest path: quick, never raise) -----------------------

    def on_change(self, device: str, changed: dict[str, Any], ts: float) -> None:
        fired = self._watches.on_change(device, changed)
        if fired:
            self._fire_all(fired)

    def on_event(self, event: Event) -> None:
        fired = self._watches.on_event(event.device, event.name, event.args)
        if fired:
            self._fire_all(fired)

    def on_availability(self, availability: Availability) -> None:
        fired = self._watches.on_availability(availability.device, availability.online)
        if fired:
            self._fire_all(fired)
        self._wake.set()

    def check_time(self) -> None:
        """Fire time triggers and `for`s that are due, and wake delays that are over."""
        now = self.clock.now()
        fired = self._watches.due(now)
        if fired:
            self._fire_all(fired)
        if self._sleepers:
            keep = []
            for due, future in self._sleepers:
                if future.done():
                    continue
                if due <= now:
                    future.set_result(None)
                else:
                    keep.append((due, future))
            self._sleepers = keep

    # -- control ----------------------------------------------------------------------------

    def rule(self, rule_id: str) -> RuleState:
        try:
            return self.rules[rule_id]
        except KeyError:
            raise UnknownRule(f"no rule {rule_id!r}{did_you_mean(rule_id, self.rules)}") from None

    def scene(self, scene_id: str) -> Scene:
        found = self.book.scenes.get(scene_id)
        if found is None:
            for scene in self.book.scenes.values():
                names = [scene.name.lower(), *(a.lower() for a in scene.aliases)]
                if scene_id.lower() in names:
                    return scene
            raise UnknownScene(f"no scene {scene_id!r}{did_you_mean(scene_id, self.book.scenes)}")
        return found

    def add_rule(self, rule: Rule, book: Book | None = None) -> RuleState:
        """Start running a new rule (or replace one of that id); `book` is the book it was
        saved in (its scenes and places), when it changed."""
        if book is not None:
            self.book = book
            self._watches.places = dict(book.places)
        old = self.rules.get(rule.id)
        if old is not None:
            self.enable(rule.id, False)
            if old.task is not None:
                old.task.cancel()
        state = self.rules[rule.id] = RuleState(rule, False)
        if rule.enabled:
            self.enable(rule.id)
        return state

    @property
    def watches(self) -> Watches:
        """What the engine watches, and the evaluation of each change (`Watches.on_changes`):
        for tools that time the evaluation, such as the rules benchmark."""
        return self._watches

    async def reload_files(self, path: Path) -> dict[str, Any]:
        """Read the automation files at `path` again and run them (`reload`): the ids
        added, changed and removed, and how many rules and scenes there are now;
        `AutomationError` (every problem, nothing changed) when they do not load."""
        book = await asyncio.to_thread(load_automations, self.space, path)
        changes = self.reload(book)
        return {**changes, "rules": len(book.rules), "scenes": len(book.scenes)}

    def reload(self, book: Book) -> dict[str, list[str]]:
        """Run a new book (the files read again): rules that did not change keep running
        untouched; changed and new ones start afresh; removed ones stop (their runs are
        cancelled). Returns the ids added, changed and removed."""
        places_changed = dict(book.places) != self._watches.places
        old = dict(self.rules)
        self.book = book
        self._watches.places = dict(book.places)
        out: dict[str, list[str]] = {"added": [], "changed": [], "removed": []}
        for rule_id in old:
            if rule_id not in book.rules:
                self.enable(rule_id, False)
                del self.rules[rule_id]
                out["removed"].append(rule_id)
        for rule in book.rules.values():
            state = old.get(rule.id)
            if state is not None and state.rule == rule and not places_changed:
                continue
            self.add_rule(rule)
            out["changed" if state is not None else "added"].append(rule.id)
        log.info(
            "automations reloaded: %d rules (%d added, %d changed, %d removed)",
            len(self.rules),
            len(out["added"]),
            len(out["changed"]),
            len(out["removed"]),
        )
        return out

    def enable(self, rule_id: str, enabled: bool = True) -> RuleState:
        """Turn a rule on (also one that loop protection stopped) or off (a run in progress
        is cancelled)."""
        state = self.rule(rule_id)
        if enabled and not state.enabled:
            state.enabled, state.stopped = True, None
            state.starts.clear()
            if self.started:  # else `start` watches it
                self._watches.add_rule(state.rule, self.hub.state_of)
                self._wake.set()
        elif not enabled and state.enabled:
            state.enabled = False
            self._watches.remove_rule(rule_id)
            self._drop_queue(state)
            if state.running and state.task is not None:
                state.task.cancel()  # as Home Assistant does: turning it off stops it
        return state

    def trigger(self, rule_id: str, *, actor: str, check_conditions: bool = False) -> RunTrace:
        """Run a rule now, as if triggered (conditions skipped unless asked)."""
        state = self.rule(rule_id)
        if not state.enabled:
            why = state.stopped or "it is disabled"
            raise RuleDisabled(f"rule {rule_id} cannot run: {why}")
        info = {"kind": "manual", "by": actor, "at": self.clock.now()}
        info["description"] = f"run by {actor}"
        info["check_conditions"] = check_conditions
        return self._fire(Fired(rule_id, info))

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no rule runs (for tests and one-shot commands)."""
        async with asyncio.timeout(timeout):
            while any(s.running or s.queue for s in self.rules.values()):
                running = [s.task for s in self.rules.values() if s.running and s.task]
                if running:
                    await asyncio.wait(running)
                else:
                    await asyncio.sleep(0)

    # -- firing -----------------------------------------------------------------------------

    def _fire_all(self, fired: Iterable[Fired]) -> None:
        for item in fired:
            try:
                self._fire(item)
            except Exception:  # never into the ingest path
                log.exception("rule %s could not start", item.rule)

    def _fire(self, fired: Fired) -> RunTrace:
        state = self.rules[fired.rule]
        now = self.clock.now()
        chain = self._chain_of(fired, now)
        trace = RunTrace(
            fired.rule, now, fired.info, chain, now=self.clock.now, mode=state.rule.mode
        )
        if not state.enabled:
            return self._end(trace, "skipped", state.stopped or "the rule is disabled")
        loop = self._loop(state, chain, now)
        if loop is not None:
            self._stop_rule(state, loop)
            return self._end(trace, "loop", loop)
        if state.running:
            mode = state.rule.mode
            if mode == "single" or len(state.queue) >= state.rule.max_queued:
                # not a trace of its own (a busy trigger would push real runs out of the
                # kept traces): the run in progress counts it
                if state.current is not None:
                    state.current.skipped += 1
                why = "already running (mode single)"
                if mode == "queue":
                    why = f"{len(state.queue)} runs already queued (max_queued)"
                trace.result, trace.message, trace.finished = "skipped", why, now
                return trace
            if mode == "queue":
                state.queue.append(trace)
                return trace
            assert state.task is not None
            state.task.cancel()  # restart: the old run ends as "cancelled"
        self._start(state, trace)
        return trace

    def _start(self, state: RuleState, trace: RunTrace) -> None:
        state.runs += 1
        state.current = trace
        state.starts.append(trace.started)
        task = asyncio.create_task(self._run(state, trace), name=f"rule:{state.rule.id}")
        state.task = task
        self._tasks.add(task)
        task.add_done_callback(lambda t: self._run_ended(state, t, trace))

    def _run_ended(self, state: RuleState, task: asyncio.Task[None], trace: RunTrace) -> None:
        self._tasks.discard(task)
        if trace.finished is None:  # cancelled before its first step: it never saw it
            self._end(trace, "cancelled", self._cancelled_why(state))
        if state.task is task:
            state.task = None
            if state.queue and state.enabled and not self._closing:
                self._start(state, state.queue.popleft())

    def _cancelled_why(self, state: RuleState) -> str:
        if self._closing:
            return "the hub stopped"
        if state.stopped:
            return "stopped by loop protection"
        if not state.enabled:
            return "the rule was disabled"
        return "a newer run replaced it (mode restart)"

    def _drop_queue(self, state: RuleState) -> None:
        """End the runs waiting in a rule's queue (each gets its trace)."""
        while state.queue:
            self._end(state.queue.popleft(), "cancelled", self._cancelled_why(state))

    def _chain_of(self, fired: Fired, now: float) -> tuple[str, ...]:
        if fired.device is None or fired.prop is None:
            return ()
        caused = self._caused.get((fired.device, fired.prop))
        if caused is None or caused[1] < now:
            return ()
        return caused[0]

    def _wake_up(self) -> None:
        self._wake.set()

    def _loop(self, state: RuleState, chain: tuple[str, ...], now: float) -> str | None:
        rule = state.rule.id
        if rule in chain:
            path = " → ".join((*chain[chain.index(rule) :], rule))
            return f"rule {rule} triggered itself ({path}); stopped"
        if len(chain) >= MAX_CHAIN:
            return f"rule {rule} is {len(chain) + 1} rules deep in a chain of rules; stopped"
        starts = state.starts
        while starts and starts[0] < now - BURST_WINDOW_S:
            starts.popleft()
        if len(starts) >= BURST_RUNS:
            return (
                f"rule {rule} ran {len(starts)} times within {BURST_WINDOW_S:g} s "
                "(a loop, or a trigger that fires too often); stopped"
            )
        return None

    def _stop_rule(self, state: RuleState, why: str) -> None:
        log.error("automation loop: %s; enable it again once fixed", why)
        state.enabled, state.stopped = False, why
        self._watches.remove_rule(state.rule.id)
        self._drop_queue(state)
        if state.running and state.task is not None:
            state.task.cancel()  # what it still had to do is part of the loop

    def _end(self, trace: RunTrace, result: str, message: str = "") -> RunTrace:
        if trace.skipped:
            more = f"{trace.skipped} more trigger{'s' if trace.skipped > 1 else ''} came while "
            more += f"it ran, not run (mode {trace.mode})"
            message = f"{message}; {more}" if message else more
        trace.result, trace.message = result, message
        trace.finished = self.clock.now()
        state = self.rules.get(trace.rule)
        if state is not None:
            state.last = trace
        self._out.append(trace.row())
        if self._flush_at is None and self._sink is not None:
            with contextlib.suppress(RuntimeError):  # no running loop: written at close
                loop = asyncio.get_running_loop()
                self._flush_at = loop.call_later(TRACE_FLUSH_S, self.flush_traces)
        if self.runs:
            self.runs.publish(trace)
        return trace

    def flush_traces(self) -> None:
        """Hand the traces written so far to the sink now (else within `TRACE_FLUSH_S`)."""
        if self._flush_at is not None:
            self._flush_at.cancel()
        self._flush_at = None
        rows, self._out = self._out, []
        if rows and self._sink is not None:
            try:
                self._sink(rows)
            except Exception:
                log.exception("cannot write %d rule traces", len(rows))

    # -- a run ------------------------------------------------------------------------------

    async def _run(self, state: RuleState, trace: RunTrace) -> None:
        rule = state.rule
        try:
            names = self._names(trace.trigger)
            check = trace.trigger.get("check_conditions", True)
            if check and not self._all(rule.conditions, trace, names, numbered=True):
                self._end(trace, "conditions_false")  # the steps say which one
                return
            await self._actions(rule.actions, trace, names)
        except asyncio.CancelledError:
            self._end(trace, "cancelled", self._cancelled_why(state))
            raise
        except _Failed as exc:
            self._end(trace, "error", str(exc))
        except Exception as exc:  # a bug must not kill the engine: trace it
            log.exception("rule %s failed", rule.id)
            self._end(trace, "error", f"{type(exc).__name__}: {exc}")
        else:
            self._end(trace, "ok")

    def _names(self, trigger: dict[str, Any]) -> dict[str, Any]:
        """What templates see."""
        return {
            "state": _StateView(self.hub),
            "trigger": trigger,
            "now": datetime.fromtimestamp(self.clock.now(), self.tz),
            "distance": self._distance_fn,
        }

    def _distance_fn(self, device: str, place: str = "home") -> float | None:
        location = (self.hub.state_of(device) or {}).get("location")
        distance = self._watches.distance(location, place)
        return None if distance is None else round(distance, 3)

    # -- conditions -------------------------------------------------------------------------

    def _all(
        self,
        conditions: list[Condition],
        trace: RunTrace,
        names: dict[str, Any],
        numbered: bool = False,
    ) -> bool:
        """Whether every condition holds (each evaluated one is a step; stops at the first
        that does not). `numbered`: they are the rule's own, and each step keeps its index
        (the API says it as the rule does)."""
        for i, condition in enumerate(conditions):
            ok, what = self._holds(condition, names)
            if numbered:
                trace.step("condition", what, ok, condition=i)
            else:
                trace.step("condition", what, ok)
            if not ok:
                return False
        return True

    def _holds(self, c: Condition, names: dict[str, Any]) -> tuple[bool, str]:
        """Whether a condition holds, and a line saying what was compared."""
        kind = c.kind
        now = self.clock.now()
        if c.state is not None:
            s = c.state
            value = (self.hub.state_of(s.device) or {}).get(s.property)
            return _compare(value, s), f"{s.device}.{s.property} is {value!r}"
        if c.time is not None:
            local = datetime.fromtimestamp(now, self.tz).strftime("%a %H:%M")
            span = f"{c.time.after or '00:00'}–{c.time.before or '24:00'}"
            return when.in_window(c.time, now, self.tz), f"time {local} within {span}"
        if c.sun is not None:
            if self.space.location is None:
                return False, "sun: the space has no location"
            held = when.sun_condition(c.sun, now, self.space.location, self.tz)
            bounds = [f"{k} {v}" for k, v in (("after", c.sun.after), ("before", c.sun.before))]
            return held, "sun " + " ".join(b for b in bounds if not b.endswith("None"))
        if c.geo is not None:
            g = c.geo
            location = (self.hub.state_of(g.device) or {}).get("location")
            distance = self._watches.distance(location, g.place)
            if distance is None:
                return False, f"{g.device}: no location known"
            approaching = self._watches.distances.get((g.device, g.place), (distance, False))[1]
            ok = (g.below_km is None or distance < g.below_km) and (
                g.above_km is None or distance > g.above_km
            )
            if g.approaching is not None:
                ok = ok and approaching == g.approaching
            moving = "approaching" if approaching else "not approaching"
            return ok, f"{g.device} {distance:.2f} km from {g.place}, {moving}"
        if c.someone_home is not None:
            home = self.someone_home()
            return home == c.someone_home, f"someone home: {home}"
        if c.template is not None:
            value = render(c.template, names)
            return _truthy(value), f"template {c.template} → {value!r}"
        parts = [self._holds(sub, names) for sub in c.and_ or c.or_ or c.not_ or []]
        text = f"{kind}(" + "; ".join(p[1] for p in parts) + ")"
        if kind == "and":
            return all(p[0] for p in parts), text
        if kind == "or":
            return any(p[0] for p in parts), text
        return not all(p[0] for p in parts), text

    def someone_home(self) -> bool:
        """Whether any phone is inside the home geofence."""
        if self._watches.places.get("home") is None:
            return False
        inside = self._watches.home_inside
        return any(
            inside.get(d.id, False) for d in self.space.devices.values() if d.type == "phone"
        )

    # -- actions ----------------------------------------------------------------------------

    async def _actions(self, actions: list[Action], trace: RunTrace, names: dict[str, Any]) -> None:
        for action in actions:
            try:
                await self._action(action, trace, names)
            except _Failed:
                if not action.continue_on_error:
                    raise

    async def _action(self, a: Action, trace: RunTrace, names: dict[str, Any]) -> None:
        actor = f"rule:{trace.rule}"
        if a.set is not None:
            value = await self._render(a.set.value, trace, names, f"set {a.set.property}")
            commands = [
                (d, {"property": a.set.property, "value": value}) for d in _ids(a.set.device)
            ]
            _raise_failed(await self._send_all(commands, trace, actor))
        elif a.call is not None:
            args = await self._render(a.call.args, trace, names, f"call {a.call.action}")
            commands = [(d, {"action": a.call.action, "args": args}) for d in _ids(a.call.device)]
            _raise_failed(await self._send_all(commands, trace, actor))
        elif a.notify is not None:
            message = await self._render(a.notify.message, trace, names, "notify")
            devices = self._watches.devices(a.notify)
            args = {"message": str(message)}
            commands = [(d, {"action": "notify", "args": args}) for d in devices]
            _raise_failed(await self._send_all(commands, trace, actor))
        elif a.scene is not None:
            report = await self.apply_scene(a.scene, actor=actor, trace=trace)
            trace.step("scene", f"scene {a.scene}", report.ok, report.summary())
            if not report.ok:
                raise _Failed(report.summary())
        elif a.delay is not None:
            trace.step("delay", f"delay {a.delay:g} s", True)
            await self.sleep(a.delay)
        elif a.if_ is not None:
            branch = a.then if self._all(a.if_, trace, names) else a.else_
            if branch:
                await self._actions(branch, trace, names)

    async def _render(self, value: Any, trace: RunTrace, names: dict[str, Any], what: str) -> Any:
        """An action's value with its templates rendered — in a worker thread, so that even
        a template at its step limit (~10-50 ms) never holds up the hub's loop."""
        try:
            if not has_templates(value):
                return value
            return await asyncio.to_thread(render, value, names)
        except HyperHubError as exc:
            trace.step("action", what, False, str(exc))
            raise _Failed(str(exc)) from None

    async def _send_all(
        self, commands: list[tuple[str, dict[str, Any]]], trace: RunTrace | None, actor: str
    ) -> list[SceneItem]:
        """Send commands, devices in parallel, each device's in order; every result is a
        step of `trace`."""
        by_device: dict[str, list[dict[str, Any]]] = {}
        for device, command in commands:
            by_device.setdefault(device, []).append(command)

        async def one_device(device: str, todo: list[dict[str, Any]]) -> list[SceneItem]:
            out = []
            for command in todo:
                out.append(await self._send(device, command, trace, actor))
            return out

        if len(by_device) == 1:
            [(device, todo)] = by_device.items()
            items = await one_device(device, todo)
        else:
            groups = await asyncio.gather(*(one_device(d, t) for d, t in by_device.items()))
            items = [item for group in groups for item in group]
        return items

    async def _send(
        self, device: str, command: dict[str, Any], trace: RunTrace | None, actor: str
    ) -> SceneItem:
        what = _what(device, command)
        if trace is not None:
            self._mark_caused(trace, device, self._touches(device, command))
            if trace.first_sent is None:
                trace.first_sent = time.perf_counter()
        try:
            changes = await self.hub.send(Command(device, **command), actor=actor)
        except HyperHubError as exc:
            if trace is not None:
                trace.step(
                    "action", what, False, str(exc), device=device, command=command, code=exc.code
                )
            return SceneItem(device, what, False, str(exc), command, exc.code)
        if trace is not None:
            self._mark_caused(trace, device, changes)  # side effects the spec did not say
            trace.step("action", what, True, device=device, command=command, changes=changes)
        return SceneItem(device, what, True, command=command)

    def _mark_caused(self, trace: RunTrace, device: str, props: Iterable[str]) -> None:
        """Changes of these properties of `device` within `CAUSE_WINDOW_S` are this run's
        doing (loop protection follows them to the rules they fire)."""
        chain = (*trace.chain, trace.rule)
        until = self.clock.now() + CAUSE_WINDOW_S
        for prop in props:
            self._caused[(device, prop)] = (chain, until)
        if len(self._caused) > 10_000:  # old entries: keep the map small
            now = self.clock.now()
            self._caused = {k: v for k, v in self._caused.items() if v[1] >= now}

    def _touches(self, device: str, command: dict[str, Any]) -> set[str]:
        """What a command may change: the property written, or the properties and events
        its action's effects name (a `notify` changes nothing)."""
        if "property" in command:
            return {command["property"]}
        found = self.space.devices.get(device)
        spec = None if found is None else found.dtype.actions.get(command.get("action", ""))
        out: set[str] = set()
        for effect in () if spec is None else spec.effects:
            out.update(effect.set or (), effect.travel or (), effect.set_arg or ())
            out.update(p for p in (effect.toggle, effect.halt) if p)
            if effect.event:
                out.add(f"event:{effect.event}")
        return out

    async def apply_scene(
        self, scene_id: str, *, actor: str, trace: RunTrace | None = None
    ) -> SceneReport:
        """Apply a scene: every target state and action, devices in parallel; the report
        says what failed (a failure does not stop the rest)."""
        scene = self.scene(scene_id)
        commands: list[tuple[str, dict[str, Any]]] = []
        for device, values in scene.states.items():
            commands += [(device, {"property": p, "value": v}) for p, v in values.items()]
        names = self._names({"kind": "scene", "scene": scene.id})
        for action in scene.actions:
            try:
                commands += self._scene_commands(action, names)
            except HyperHubError as exc:
                failed = SceneItem("", f"scene {scene.id}", False, str(exc), code=exc.code)
                return SceneReport(scene.id, (failed,))
        items = await self._send_all(commands, trace, actor)
        return SceneReport(scene.id, tuple(items))

    def _scene_commands(
        self, action: Action, names: dict[str, Any]
    ) -> list[tuple[str, dict[str, Any]]]:
        if action.set is not None:
            value = render(action.set.value, names)
            return [
                (d, {"property": action.set.property, "value": value})
                for d in _ids(action.set.device)
            ]
        if action.call is not None:
            args = render(action.call.args, names)
            return [
                (d, {"action": action.call.action, "args": args}) for d in _ids(action.call.device)
            ]
        if action.notify is not None:
            message = str(render(action.notify.message, names))
            return [
                (d, {"action": "notify", "args": {"message": message}})
                for d in self._watches.devices(action.notify)
            ]
        raise HyperHubError(f"a scene runs set, call and notify only, not {action.kind}")

    # -- time -------------------------------------------------------------------------------

    async def sleep(self, seconds: float) -> None:
        """Wait `seconds` of the engine's clock (a manual clock: until `check_time` sees it)."""
        if seconds <= 0:
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._sleepers.append((self.clock.now() + seconds, future))
        self._wake.set()
        await future

    def next_due(self) -> float | None:
        times = [due for due, f in self._sleepers if not f.done()]
        found = self._watches.next_due()
        if found is not None:
            times.append(found)
        return min(times) if times else None

    async def _run_scheduler(self) -> None:
        while True:
            try:
                self.check_time()
            except Exception:
                log.exception("the rule scheduler failed; it goes on in a second")
                await asyncio.sleep(1.0)
            due = self.next_due()
            wait = MAX_SLEEP_S if due is None else min(MAX_SLEEP_S, due - self.clock.now())
            self._wake.clear()
            if wait > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), wait)
            else:
                await asyncio.sleep(0)  # never hold the loop, whatever is due


class _StateView(Mapping[str, Any]):
    """`state.<device>.<property>` in templates: the hub's current state, read-only."""

    def __init__(self, hub: DeviceAccess) -> None:
        self._hub = hub

    def __getitem__(self, device: str) -> Any:
        found = self._hub.state_of(device)
        if found is None:
            raise KeyError(device)
        return dict(found)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _compare(value: Any, s: Any) -> bool:
    given = s.model_fields_set
    if "is_" in given and not _same(value, s.is_):
        return False
    if "is_not" in given and _same(value, s.is_not):
        return False
    if "in_" in given and not any(_same(value, v) for v in s.in_ or []):
        return False
    if s.above is not None and not (_is_number(value) and value > s.above):
        return False
    return s.below is None or (_is_number(value) and value < s.below)


def _truthy(value: Any) -> bool:
    """A template's answer as a condition: text "false", "no", "off", "0" and "" are false."""
    if isinstance(value, str):
        return value.strip().lower() not in ("", "false", "no", "off", "0", "none")
    return bool(value)


def _raise_failed(items: list[SceneItem]) -> None:
    failed = [i for i in items if not i.ok]
    if failed:
        raise _Failed("; ".join(f"{i.what}: {i.message}" for i in failed))


def _ids(device: str | list[str]) -> list[str]:
    return [device] if isinstance(device, str) else list(device)


def _what(device: str, command: dict[str, Any]) -> str:
    if "property" in command:
        return f"{device}.{command['property']} = {command['value']!r}"
    args = command.get("args") or {}
    inside = ", ".join(f"{k}={v!r}" for k, v in args.items())
    return f"{device}.{command['action']}({inside})"
