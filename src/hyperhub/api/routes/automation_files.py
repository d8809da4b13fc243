"""Rules and scenes as their files write them, for the dashboard's editor: read one
(`GET /api/automations/rules/{id}`, `…/scenes/{id}`), create or replace it (`PUT`, with
`If-Match` to replace), delete it (`DELETE`), check one without saving (`POST
/api/automations/check`). A change is written into the files by `automation.folder` and the
running hub reloads them at once (unchanged rules keep running).

Reading needs `read`; changing needs `admin`, and `control:risky` too for a rule or scene
that makes risky writes or calls (`spec.policy` decides what is risky, `automation.loader`
finds them)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response
from fastapi.responses import JSONResponse

from hyperhub.api.context import ApiContext
from hyperhub.api.errors import ApiError
from hyperhub.api.language import Language
from hyperhub.api.models import (
    CheckedOut,
    DeletedOut,
    ErrorOut,
    ProblemOut,
    ProblemsErrorOut,
    RuleFileOut,
    RuleSavedOut,
    SceneFileOut,
    SceneSavedOut,
)
from hyperhub.api.security import Admin, Ctx, Reader, confirm_refused, may_confirm
from hyperhub.auth import Token
from hyperhub.automation.folder import AutomationFolder, Item, Located, Saved, located
from hyperhub.automation.model import ID_PATTERN
from hyperhub.errors import AutomationError
from hyperhub.spec.words import error_text

router = APIRouter(prefix="/automations")  # under automations.router: /api/automations
log = logging.getLogger("hyperhub.api")
Kind = Literal["rule", "scene"]
JSON_TYPES = ("application/json", "text/json")
_ID = re.compile(ID_PATTERN)

# the body is read here, not by FastAPI: so that NaN, duplicate keys, deep nesting and
# lone surrogates get an answer that names them; the schema still shows its shape
_ITEM_SCHEMA = {
    "type": "object",
    "description": "the rule or scene as its file writes it (docs/automations.md)",
    "additionalProperties": True,
}


def _body(schema: dict[str, Any], example: dict[str, Any]) -> dict[str, Any]:
    content = {"schema": schema, "example": example}
    return {"requestBody": {"required": True, "content": {"application/json": content}}}


RULE_EXAMPLE = {
    "id": "porch_at_dusk",
    "triggers": [{"sun": {"event": "sunset"}}],
    "actions": [{"set": {"device": "garden_lights", "property": "on", "value": True}}],
}
SCENE_EXAMPLE = {"id": "reading", "name": "Reading", "states": {"study_desk_lamp": {"on": True}}}
CHECK_SCHEMA = {
    "type": "object",
    "properties": {"rule": _ITEM_SCHEMA, "scene": _ITEM_SCHEMA, "file": {"type": "string"}},
    "additionalProperties": False,
}
ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorOut, "description": what}
    for status, what in (
        (403, "no `admin` scope, or a risky one without `control:risky`"),
        (404, "no such rule or scene in the files"),
        (409, "read-only here (`read_only`), or no automation files"),
        (412, "If-Match names a version that has changed (`stale_version`)"),
        (415, "a body that is not JSON"),
        (428, "replacing or deleting needs If-Match (`version_required`)"),
    )
}
ERRORS[422] = {"model": ProblemsErrorOut, "description": "invalid: each problem located"}
DELETE_ERRORS = {status: answer for status, answer in ERRORS.items() if status != 415}


# ---------------------------------------------------------------------------- reading


@router.get("/rules/{rule_id}", response_model=RuleFileOut, responses={404: ERRORS[404]})
async def get_rule_file(ctx: Ctx, token: Reader, rule_id: str, response: Response) -> Any:
    """The rule as its file writes it, with `source`, `version` (also the ETag) and
    whether the editor may change it."""
    return await _get(ctx, "rule", rule_id, response)


@router.get("/scenes/{scene_id}", response_model=SceneFileOut, responses={404: ERRORS[404]})
async def get_scene_file(ctx: Ctx, token: Reader, scene_id: str, response: Response) -> Any:
    """The scene as its file writes it, as `GET /api/automations/rules/{id}`."""
    return await _get(ctx, "scene", scene_id, response)


async def _get(ctx: ApiContext, kind: Kind, item_id: str, response: Response) -> dict[str, Any]:
    _check_id(kind, item_id)
    item = await asyncio.to_thread(_folder(ctx).get, kind, item_id)
    response.headers["ETag"] = f'"{item.version}"'
    out = _item_out(item)
    if ctx.engine is None and item.editable:  # files it does not run: it cannot reload them
        out.update(editable=False, reason=NO_ENGINE)
    return out


# ---------------------------------------------------------------------------- changing


@router.put(
    "/rules/{rule_id}",
    response_model=RuleSavedOut,
    openapi_extra=_body(_ITEM_SCHEMA, RULE_EXAMPLE),
    responses={201: {"model": RuleSavedOut, "description": "created"}, **ERRORS},
)
async def put_rule_file(
    ctx: Ctx,
    token: Admin,
    request: Request,
    rule_id: str,
    lang: Language,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    file: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    """Create the rule (into `file` of the automations folder, default `editor.yaml`) or
    replace it in its file (`If-Match`: the version it was read at); checked like `hyperhub
    rules check` first (422 locates each problem), then written, and the hub reloads."""
    return await _put(ctx, token, request, "rule", rule_id, if_match, file, lang)


@router.put(
    "/scenes/{scene_id}",
    response_model=SceneSavedOut,
    openapi_extra=_body(_ITEM_SCHEMA, SCENE_EXAMPLE),
    responses={201: {"model": SceneSavedOut, "description": "created"}, **ERRORS},
)
async def put_scene_file(
    ctx: Ctx,
    token: Admin,
    request: Request,
    scene_id: str,
    lang: Language,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
    file: Annotated[str | None, Query(max_length=100)] = None,
) -> Any:
    """Create or replace the scene, as `PUT /api/automations/rules/{id}`."""
    return await _put(ctx, token, request, "scene", scene_id, if_match, file, lang)


@router.delete("/rules/{rule_id}", response_model=DeletedOut, responses=DELETE_ERRORS)
async def delete_rule_file(
    ctx: Ctx,
    token: Admin,
    rule_id: str,
    lang: Language,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Remove the rule from its file (`If-Match`: the version it was read at); the hub
    reloads. Comments above it stay."""
    return await _delete(ctx, token, "rule", rule_id, if_match, lang)


@router.delete("/scenes/{scene_id}", response_model=DeletedOut, responses=DELETE_ERRORS)
async def delete_scene_file(
    ctx: Ctx,
    token: Admin,
    scene_id: str,
    lang: Language,
    if_match: Annotated[str | None, Header(max_length=200)] = None,
) -> Any:
    """Remove the scene from its file; 422 while a rule still applies it."""
    return await _delete(ctx, token, "scene", scene_id, if_match, lang)


async def _put(
    ctx: ApiContext,
    token: Token,
    request: Request,
    kind: Kind,
    item_id: str,
    if_match: str | None,
    file: str | None,
    lang: str,
) -> Any:
    _check_id(kind, item_id)
    data = _json_object(request, await request.body())
    version = _version(if_match)
    folder = _folder(ctx, writing=True)

    def approve(risky: list[str]) -> None:
        if risky and not may_confirm(token):
            doing = f"saving {kind} {item_id} (risky: {', '.join(risky)})"
            raise confirm_refused(token, doing)

    def put() -> Saved:
        return folder.put(kind, item_id, data, version=version, file=file, approve=approve)

    done = await _change(ctx, token, put, lang)
    if isinstance(done, JSONResponse):
        return done
    saved, reload = done
    assert saved.item is not None
    what = "created" if saved.created else "saved"
    log.info("%s %s %s in %s by api:%s", kind, item_id, what, saved.item.source, token.name)
    body = {**_item_out(saved.item), "created": saved.created, "risky": saved.risky}
    body["reload"] = reload
    status = 201 if saved.created else 200
    headers = {"ETag": f'"{saved.item.version}"'}
    if saved.created:
        headers["Location"] = f"/api/automations/{kind}s/{item_id}"
    return JSONResponse(body, status_code=status, headers=headers)


async def _delete(
    ctx: ApiContext, token: Token, kind: Kind, item_id: str, if_match: str | None, lang: str
) -> Any:
    _check_id(kind, item_id)
    version = _version(if_match)
    folder = _folder(ctx, writing=True)
    done = await _change(ctx, token, lambda: folder.delete(kind, item_id, version=version), lang)
    if isinstance(done, JSONResponse):
        return done
    log.info("%s %s deleted by api:%s", kind, item_id, token.name)
    return {"kind": kind, "id": item_id, "reload": done[1]}


Reload = dict[str, list[str]]


async def _change(
    ctx: ApiContext, token: Token, change: Callable[[], Saved], lang: str
) -> tuple[Saved, Reload] | JSONResponse:
    """Run a change of the files (in a worker thread), then reload the hub with the files
    as they are now, one change at a time; a refused change answers 422 with its problems
    located."""
    ctx.take_command(token.id)
    engine = ctx.engine
    assert engine is not None  # `_folder(writing=True)` refused a hub without one
    async with engine.edits:
        try:
            saved = await asyncio.to_thread(change)
        except AutomationError as exc:  # the change, or a file it meets, is refused
            return _problems_answer(exc, lang)
        return saved, engine.reload(saved.book)


# ---------------------------------------------------------------------------- checking


@router.post(
    "/check",
    response_model=CheckedOut,
    openapi_extra=_body(CHECK_SCHEMA, {"rule": RULE_EXAMPLE}),
    responses={415: ERRORS[415]},
)
async def check_item(ctx: Ctx, token: Reader, request: Request) -> Any:
    """Check a rule (`{"rule": {…}}`) or a scene (`{"scene": {…}}`) as `PUT` would,
    saving nothing: `ok`, each problem located, its risky writes and calls, and whether it
    exists (saving it then replaces it) and in which file it is or would be."""
    body = _json_object(request, await request.body())
    unknown = sorted(set(body) - {"rule", "scene", "file"})
    given = [k for k in ("rule", "scene") if k in body]
    if unknown or len(given) != 1:
        why = f"unknown key {unknown[0]!r}; " if unknown else ""
        raise ApiError(422, "invalid", f'{why}send {{"rule": {{…}}}} or {{"scene": {{…}}}}')
    kind: Kind = "rule" if given[0] == "rule" else "scene"
    data, file = body[kind], body.get("file")
    if not isinstance(data, dict):
        raise ApiError(422, "invalid", f"{kind}: must be a JSON object, as its file writes it")
    if file is not None and not isinstance(file, str):
        raise ApiError(422, "invalid", "file: must be a file name, like home.yaml")
    item_id = data.get("id") if isinstance(data.get("id"), str) else None
    folder = _folder(ctx)
    checked = await asyncio.to_thread(folder.check, kind, item_id or "", data, file=file)
    return {
        "ok": not checked.problems,
        "kind": kind,
        "id": item_id,
        "file": checked.file.name,
        "exists": checked.exists,
        "risky": checked.risky,
        "problems": [_problem_out(p) for p in checked.problems],
    }


# ---------------------------------------------------------------------------- helpers


NO_ENGINE = "this hub runs no automations from files to change (started without them)"


def _folder(ctx: ApiContext, *, writing: bool = False) -> AutomationFolder:
    if writing and (ctx.engine is None or ctx.automations_path is None):
        raise ApiError(409, "no_automations", NO_ENGINE)
    return AutomationFolder(ctx.space, ctx.automations_path)


def _check_id(kind: str, item_id: str) -> None:
    if not _ID.match(item_id) or len(item_id) > 100:
        shown = item_id[:100].encode("utf-8", "replace").decode("utf-8")
        raise ApiError(422, "invalid", f"bad {kind} id {shown!r}: use only a-z, 0-9 and _")


class _Constant(ValueError):
    pass


def _no_constant(name: str) -> Any:
    raise _Constant(name)


def _pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise ApiError(422, "invalid", f"the key {key!r} is given twice in one object")
        out[key] = value
    return out


def _json_object(request: Request, raw: bytes) -> dict[str, Any]:
    """The body as a JSON object, or a clear error: not JSON (400 / 415), NaN or Infinity,
    a key twice, not an object (422)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind and kind not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type", f"send JSON (application/json), not {kind}")
    try:
        value = json.loads(raw, parse_constant=_no_constant, object_pairs_hook=_pairs)
    except _Constant as exc:
        raise ApiError(422, "invalid", f"{exc} is not a number JSON allows here") from None
    except RecursionError:
        raise ApiError(400, "bad_json", "the request body nests too deep") from None
    except ValueError:  # JSONDecodeError, and bytes that are no Unicode text
        raise ApiError(400, "bad_json", "the request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise ApiError(422, "invalid", "the request body must be a JSON object")
    return value


def _version(if_match: str | None) -> str | None:
    """The version an If-Match header names (`"v"`, `v` or `W/"v"`); `*` is not one."""
    if if_match is None or not if_match.strip():
        return None
    tag = if_match.split(",")[0].strip().removeprefix("W/").strip('"')
    if tag == "*":
        raise ApiError(
            400, "bad_request", 'If-Match: * is not taken here; send the version GET gave ("…")'
        )
    return tag


def _item_out(item: Item) -> dict[str, Any]:
    return {
        "kind": item.kind,
        "id": item.id,
        item.kind: item.data,
        "source": item.source,
        "version": item.version,
        "editable": item.editable,
        "reason": item.reason,
    }


def _problem_out(problem: Located) -> dict[str, Any]:
    return ProblemOut(
        path=problem.path,
        loc=None if problem.loc is None else list(problem.loc),
        message=problem.message,
        source=problem.source,
    ).model_dump()


def _problems_answer(exc: AutomationError, lang: str) -> JSONResponse:
    problems = located(exc)
    message = error_text(lang, exc.code, "; ".join(_said(p) for p in problems))
    error = {
        "status": 422,
        "code": exc.code,
        "message": message,
        "problems": [_problem_out(p) for p in problems],
    }
    return JSONResponse({"error": error}, status_code=422)


def _said(problem: Located) -> str:
    if problem.source is not None:
        return f"{problem.source}: {problem.message}"
    return f"{problem.path}: {problem.message}" if problem.path else problem.message
