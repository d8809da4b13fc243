"""Rules and scenes: list them, see a rule's runs, enable / disable / run a rule, apply a
scene. Without automations (`ctx.engine` None) the lists are empty and every id is unknown.

A rule's triggers, conditions and actions, and a scene's states and actions, are sentences
in the request's language (`Accept-Language`: zh… → Chinese, else English)."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import PurePath
from typing import Annotated, Any

from fastapi import APIRouter, Query

from hyperhub.api.context import ApiContext
from hyperhub.api.errors import ApiError
from hyperhub.api.language import Language
from hyperhub.api.models import (
    LastRunOut,
    ReloadOut,
    RuleOut,
    RunBody,
    RunOut,
    RunStartedOut,
    SceneItemOut,
    SceneOut,
    SceneReportOut,
)
from hyperhub.api.routes import automation_files
from hyperhub.api.security import Admin, Controller, Ctx, Reader, confirm_refused, may_confirm
from hyperhub.auth import Token
from hyperhub.automation.describe import (
    Names,
    as_read,
    describe_action,
    describe_command,
    describe_condition,
    describe_fired,
    describe_states,
    describe_step,
    describe_trigger,
)
from hyperhub.automation.engine import Engine, RuleState, UnknownRule, UnknownScene
from hyperhub.automation.model import Rule
from hyperhub.errors import HyperHubError
from hyperhub.spec.words import error_text

router = APIRouter(prefix="/api", tags=["automations"])
NO_AUTOMATIONS = "this hub runs no automations"


def _names(engine: Engine, lang: str) -> Names:
    return Names.of(lang, engine.space, engine.book)


def _engine_for_rule(ctx: ApiContext, rule_id: str) -> tuple[Engine, RuleState]:
    if ctx.engine is None:
        raise UnknownRule(f"no rule {rule_id!r}: {NO_AUTOMATIONS}")
    return ctx.engine, ctx.engine.rule(rule_id)


def _risky(engine: Engine, key: str) -> list[str]:
    """The risky writes and calls of "rule:<id>" / "scene:<id>" (book.risky)."""
    return [what for owner, what in engine.book.risky if owner == key]


def _source(engine: Engine, key: str) -> str | None:
    """Where it is defined, as file:line: the file's name only (the files of one folder),
    not where the hub keeps it."""
    found = engine.book.sources.get(key)
    return None if found is None else f"{PurePath(found[0]).name}:{found[1]}"


def _check_risky(engine: Engine, token: Token, key: str, doing: str) -> None:
    """A rule or scene that makes risky writes or calls needs `control:risky` too."""
    risky = _risky(engine, key)
    if risky and not may_confirm(token):
        raise confirm_refused(token, f"{doing} (risky: {', '.join(risky)})")


def rule_out(engine: Engine, state: RuleState, names: Names) -> RuleOut:
    rule = state.rule
    last = state.last
    last_run = None
    if last is not None:
        trigger = last.trigger
        last_run = LastRunOut(
            started=last.started,
            finished=last.finished,
            result=last.result,
            message=last.message,
            trigger=describe_fired(trigger, rule, names),
        )
    key = f"rule:{rule.id}"
    return RuleOut(
        id=rule.id,
        name=rule.title,
        description=rule.description,
        enabled=state.enabled,
        stopped=state.stopped,
        mode=rule.mode,
        running=state.running,
        runs=state.runs,
        last_run=last_run,
        triggers=[describe_trigger(t, names) for t in rule.triggers],
        conditions=[describe_condition(c, names) for c in rule.conditions],
        actions=[describe_action(a, names) for a in rule.actions],
        risky=bool(_risky(engine, key)),
        source=_source(engine, key),
        definition=as_read(rule),
    )


@router.get("/rules", response_model=list[RuleOut])
async def list_rules(ctx: Ctx, token: Reader, lang: Language) -> list[RuleOut]:
    """Every rule with its status (enabled, stopped by loop protection, running), its last
    run, and its triggers, conditions and actions in sentences."""
    engine = ctx.engine
    if engine is None:
        return []
    names = _names(engine, lang)
    return [rule_out(engine, state, names) for state in engine.rules.values()]


@router.get("/rules/{rule_id}", response_model=RuleOut)
async def get_rule(ctx: Ctx, token: Reader, lang: Language, rule_id: str) -> RuleOut:
    """One rule, as in the list."""
    engine, state = _engine_for_rule(ctx, rule_id)
    return rule_out(engine, state, _names(engine, lang))


@router.get("/rules/{rule_id}/runs", response_model=list[RunOut])
async def rule_runs(
    ctx: Ctx,
    token: Reader,
    rule_id: str,
    lang: Language,
    limit: Annotated[int, Query(ge=1, le=1000)] = 50,
) -> list[RunOut]:
    """The rule's latest finished runs, newest first, each with its trigger and steps (a
    command sent says itself in words, in the request's language; `command` keeps it)."""
    engine, state = _engine_for_rule(ctx, rule_id)
    # traces reach the store in batches: hand over the engine's, then wait for the writer
    engine.flush_traces()
    with contextlib.suppress(HyperHubError, TimeoutError):
        await ctx.fabric.flush(5.0)
    rule = state.rule
    rows = await asyncio.to_thread(ctx.store.rule_runs, rule.id, None, limit)
    names = _names(engine, lang)
    return [
        RunOut(
            id=r.id,
            started=r.started,
            finished=r.finished,
            result=r.result,
            message=r.message,
            trigger={**r.trigger, "description": describe_fired(r.trigger, rule, names)},
            steps=[said_step(step, names, rule) for step in r.steps],
        )
        for r in rows
    ]


def said_step(step: dict[str, Any], names: Names, rule: Rule) -> dict[str, Any]:
    """A stored step for people in the request's language: what it did in words, why a
    command failed by its error code (the English message in brackets)."""
    said = {**step, "what": describe_step(step, names, rule)}
    if step.get("message") and step.get("code"):
        said["message"] = error_text(names.lang, str(step["code"]), str(step["message"]))
    return said


@router.post("/rules/{rule_id}/enable", response_model=RuleOut)
async def enable_rule(ctx: Ctx, token: Controller, lang: Language, rule_id: str) -> RuleOut:
    """Turn a rule on (also one that loop protection stopped); answers its new status. A rule
    with risky actions needs `control:risky` too (once on, it runs them by itself)."""
    engine, state = _engine_for_rule(ctx, rule_id)
    _check_risky(engine, token, f"rule:{state.rule.id}", f"enabling rule {state.rule.id}")
    return rule_out(engine, engine.enable(state.rule.id, True), _names(engine, lang))


@router.post("/rules/{rule_id}/disable", response_model=RuleOut)
async def disable_rule(ctx: Ctx, token: Controller, lang: Language, rule_id: str) -> RuleOut:
    """Turn a rule off (a run in progress is cancelled); answers its new status."""
    engine, state = _engine_for_rule(ctx, rule_id)
    return rule_out(engine, engine.enable(state.rule.id, False), _names(engine, lang))


@router.post("/rules/{rule_id}/run", response_model=RunStartedOut)
async def run_rule(
    ctx: Ctx, token: Controller, rule_id: str, body: RunBody | None = None
) -> RunStartedOut:
    """Run a rule now, as if triggered; its conditions are skipped unless `check_conditions`.
    A rule with risky writes or calls needs `control:risky` too; a disabled one cannot run
    (403 `not_allowed`). The run goes on after the answer: see its runs or the WebSocket."""
    ctx.take_command(token.id)
    engine, state = _engine_for_rule(ctx, rule_id)
    rule = state.rule.id
    _check_risky(engine, token, f"rule:{rule}", f"running rule {rule!r}")
    check = body is not None and body.check_conditions
    trace = engine.trigger(rule, actor=f"api:{token.name}", check_conditions=check)
    return RunStartedOut(
        started=trace.result == "running",
        rule=rule,
        result=trace.result,
        message=trace.message,
    )


@router.post("/automations/reload", response_model=ReloadOut)
async def reload_automations(ctx: Ctx, token: Admin) -> ReloadOut:
    """Read the automation files again: unchanged rules keep running, changed and new ones
    start, removed ones stop. A broken file: 422 with every problem, nothing changed."""
    if ctx.engine is None or ctx.automations_path is None:
        raise ApiError(409, "no_automations", f"{NO_AUTOMATIONS} from files to read again")
    return ReloadOut(**await ctx.engine.reload_files(ctx.automations_path))


@router.get("/scenes", response_model=list[SceneOut])
async def list_scenes(ctx: Ctx, token: Reader, lang: Language) -> list[SceneOut]:
    """Every scene: its target states and actions, and whether applying it is risky."""
    engine = ctx.engine
    if engine is None:
        return []
    names = _names(engine, lang)
    return [
        SceneOut(
            id=scene.id,
            name=scene.name,
            aliases=list(scene.aliases),
            states={device: dict(values) for device, values in scene.states.items()},
            sets=[describe_states(d, values, names) for d, values in scene.states.items()],
            actions=[describe_action(a, names) for a in scene.actions],
            risky=bool(_risky(engine, f"scene:{scene.id}")),
            source=_source(engine, f"scene:{scene.id}"),
            definition=as_read(scene),
        )
        for scene in engine.book.scenes.values()
    ]


@router.post("/scenes/{scene_id}/apply", response_model=SceneReportOut)
async def apply_scene(ctx: Ctx, token: Controller, scene_id: str, lang: Language) -> SceneReportOut:
    """Apply a scene (by id, name or alias), devices in parallel; the report lists every
    command and which failed (a failure does not stop the rest). A scene with risky writes
    or calls needs `control:risky` too."""
    ctx.take_command(token.id)
    engine = ctx.engine
    if engine is None:
        raise UnknownScene(f"no scene {scene_id!r}: {NO_AUTOMATIONS}")
    scene = engine.scene(scene_id)
    _check_risky(engine, token, f"scene:{scene.id}", f"applying scene {scene.id!r}")
    report = await engine.apply_scene(scene.id, actor=f"api:{token.name}")
    names = _names(engine, lang)
    return SceneReportOut(
        scene=report.scene,
        ok=report.ok,
        items=[
            SceneItemOut(
                device=i.device,
                what=i.what if i.command is None else describe_command(i.device, i.command, names),
                ok=i.ok,
                message=error_text(lang, i.code, i.message) if i.code else i.message,
            )
            for i in report.items
        ],
    )


# the rules' and scenes' files, for the editor: /api/automations/rules/{id}, …/check
router.include_router(automation_files.router)
