"""`POST /api/ask`: the assistant on the live devices, with conversations and confirmation;
a rule it is asked for ("when I leave home, lock the door") is saved on a yes and runs at
once on the hub's engine."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from hyperhub.api.context import ApiContext, FabricDevices
from hyperhub.api.errors import ApiError, error_of
from hyperhub.api.language import lang_in
from hyperhub.api.models import (
    AskBody,
    AskOut,
    ErrorDetail,
    ErrorOut,
    SpeechOut,
    SpokenAskOut,
    SpokenQuery,
    VoiceOut,
)
from hyperhub.api.security import Caller, Controller, Ctx, confirm_refused, may_confirm
from hyperhub.api.voice import Spoken, is_audio
from hyperhub.assistant.pipeline import Answer, Assistant, Conversation
from hyperhub.assistant.rules import FileRuleSaver
from hyperhub.auth import Token
from hyperhub.automation.loader import rule_risks
from hyperhub.automation.model import Rule
from hyperhub.errors import HyperHubError
from hyperhub.spec.words import error_text

router = APIRouter(prefix="/api", tags=["assistant"])
log = logging.getLogger("hyperhub.api")
M = TypeVar("M", bound=BaseModel)
# the recordings a spoken question may be (`voice.audio.decode_audio` reads them by content)
ASK_FORMATS = ("wav", "webm", "ogg", "mp4", "mp3", "flac", "aac")


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
        engine = self.ctx.engine
        assert engine is not None
        async with engine.edits:  # one save and its reload at a time, as the rule editor's
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


# POST /api/ask takes a typed question as JSON or a spoken one as the recording itself
ASK_REQUEST: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": AskBody.model_json_schema()},
            **{
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("audio/wav", "audio/webm", "audio/ogg", "audio/mp4", "audio/mpeg")
            },
        },
    }
}
SPOKEN_ONLY = (
    "query parameters go with a recording; a typed question gives area and conversation in "
    "its JSON body"
)


@router.post(
    "/ask",
    response_model=AskOut | SpokenAskOut,
    openapi_extra=ASK_REQUEST,
    responses={415: {"model": ErrorOut, "description": "Neither JSON nor a recording"}},
)
async def ask(
    request: Request, ctx: Ctx, token: Controller, spoken: Annotated[SpokenQuery, Query()]
) -> AskOut | SpokenAskOut:
    """Ask the assistant (English or Chinese); its plan runs on the live devices. A risky plan
    answers `needs_confirmation`; a "yes" in the same conversation runs it, which needs the
    scope `control:risky`. A rule request ("when I leave home, lock the door") changes
    nothing: it answers `needs_confirmation` with the proposed `rule`; a "yes" saves it in the
    automations folder (`assistant.yaml`) and starts it — `control:risky` too when the rule
    makes risky writes or calls.

    Typed: a JSON body `{"text", "area"?, "conversation"?}`. Spoken: the recording as the
    body (`Content-Type: audio/wav`, `audio/webm`, `audio/ogg`, …; WAV, WebM, Ogg, MP4/M4A,
    MP3, FLAC or AAC, at most `max_seconds` long) with `area`, `conversation`, `lang` (auto,
    en, zh) and `speak` in the query; the answer adds `transcript`, the time of each stage
    and, with `speak=true`, the reply spoken as a base64 WAV (docs/api.md)."""
    ctx.ask_limit.take(token.id)
    content_type = request.headers.get("content-type")
    if is_audio(content_type):
        return await ask_spoken(request, ctx, token, spoken)
    if not is_json(content_type):
        raise ApiError(
            415,
            "unsupported_media_type",
            f"POST /api/ask takes a typed question as JSON (Content-Type: application/json) "
            f"or a spoken one as audio (audio/wav, audio/webm, …), not {content_type}",
        )
    if spoken.model_fields_set:
        raise ApiError(422, "invalid", SPOKEN_ONLY)
    body = await json_body(request, AskBody)
    answer, conversation_id = await answer_text(ctx, token, body.text, body.area, body.conversation)
    return AskOut(**answer.as_contract(), conversation=conversation_id)


async def ask_spoken(request: Request, ctx: Ctx, token: Token, query: SpokenQuery) -> SpokenAskOut:
    """A spoken question: what is missing, wrong or too long is refused before any model
    loads; then speech to text, the same ask as typed, and the reply spoken if asked."""
    voice = ctx.voice
    voice.require_stt()
    from hyperhub.voice.stt import STT_LANGS, check_lang

    lang = check_lang(query.lang, STT_LANGS)
    check_area(ctx, query.area)
    data = await request.body()  # bounded by the Guard (max_audio_bytes)
    heard = await voice.transcribe(data, lang, "the recording")
    if not heard.text:
        raise ApiError(
            422,
            "no_speech",
            f"no speech heard in the recording ({heard.seconds:.1f} s): speak while "
            "recording, close to the microphone",
        )
    started = time.perf_counter()
    answer, conversation_id = await answer_text(
        ctx, token, heard.text, query.area, query.conversation
    )
    assistant_ms = round((time.perf_counter() - started) * 1000, 1)
    speech: Spoken | None = None
    speech_error: ErrorDetail | None = None
    if query.speak and answer.reply.strip():
        try:
            speech = await voice.speak(answer.reply)
        except HyperHubError as exc:  # the question was answered: say why there is no sound
            err = error_of(exc)
            said = error_text(lang_in(request), err.code, err.message)
            speech_error = ErrorDetail(status=err.status, code=err.code, message=said)
    return SpokenAskOut(
        **answer.as_contract(),
        conversation=conversation_id,
        transcript=heard.text,
        lang=heard.lang,
        audio_seconds=round(heard.seconds, 2),
        stt_ms=heard.stt_ms,
        assistant_ms=assistant_ms,
        tts_ms=None if speech is None else speech.tts_ms,
        load_ms=heard.load_ms + (0.0 if speech is None else speech.load_ms),
        speech=None if speech is None else SpeechOut(**speech.as_json()),
        speech_error=speech_error,
    )


def is_json(content_type: str | None) -> bool:
    """JSON, or no Content-Type at all (read as JSON, as before recordings were taken)."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    return kind in ("", "application/json") or kind.endswith("+json")


async def json_body(request: Request, model: type[M]) -> M:
    """The request's JSON body as `model`; errors as FastAPI gives them for a body param."""
    raw = await request.body()
    if not raw.strip():
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required"}]
        )
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = exc.errors(include_url=False)
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors]) from None


def check_area(ctx: ApiContext, area: str | None) -> None:
    if area is not None and area not in ctx.space.areas:
        known = ", ".join(ctx.space.areas)
        raise ApiError(404, "unknown_area", f"no area {area!r}; areas: {known}")


async def answer_text(
    ctx: ApiContext, token: Token, text: str, area: str | None, conversation: str | None
) -> tuple[Answer, str]:
    """The assistant's answer to `text` on the live devices, and its conversation's id."""
    check_area(ctx, area)
    conversation_id, conv = ctx.conversations.get(conversation, token.id)
    async with ctx.ask_lock:
        yes = confirms(ctx.assistant, conv, text)
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
            text,
            devices,
            area=area,
            conversation=conv,
            rules=HubRuleSaver(ctx, f"ask:{token.name}"),
            may_read=token.has("read"),  # scopes do not imply each other: questions read
        )
    return answer, conversation_id


@router.get("/voice", response_model=VoiceOut)
async def voice_status(ctx: Ctx, token: Caller) -> VoiceOut:
    """What spoken questions can do on this hub: whether speech to text and spoken replies
    work (and why not), whether their models are loaded yet, in which languages, and how
    long and large a recording may be. Any valid token."""
    status = ctx.voice.status()
    return VoiceOut(**status, max_bytes=ctx.settings.max_audio_bytes, formats=list(ASK_FORMATS))
