"""Request and response bodies (docs/api.md is the contract; these make it checked and
documented in the OpenAPI schema)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, field_validator

from hyperhub.values import non_finite, non_finite_message

ScopeName = Literal["read", "control", "control:risky", "admin"]
Name = Field(min_length=1, max_length=64)


class _In(BaseModel):
    """A request body: unknown fields and loosely typed values are refused (422)."""

    model_config = ConfigDict(extra="forbid", strict=True)


class _Out(BaseModel):
    model_config = ConfigDict(populate_by_name=True)


# -- errors --------------------------------------------------------------------------------


class ErrorDetail(_Out):
    status: int
    code: str
    message: str


class ErrorOut(_Out):
    error: ErrorDetail


# -- health, space, devices ----------------------------------------------------------------


class Health(_Out):
    status: Literal["ok"]
    space: str
    devices: int
    version: str
    ws_clients: int
    ws_dropped: int


class AreaOut(_Out):
    id: str
    name: str
    aliases: list[str]
    names: dict[str, str]  # what people call it per language (the name, or an alias)
    floor: str | None


class LocationOut(_Out):
    lat: float
    lon: float


class SpaceOut(_Out):
    name: str
    areas: list[AreaOut]
    location: LocationOut | None
    timezone: str | None = Field(
        None, description="IANA name of the space's timezone, in which times are shown"
    )


class DeviceOut(_Out):
    id: str
    name: str
    type: str
    cls: str | None = Field(alias="class", serialization_alias="class")
    area: str | None
    aliases: list[str]
    names: dict[str, str]  # what people call it per language: "Back Door Lock", "后门"
    online: bool
    state: dict[str, Any]
    updated: float | None
    adapter: str | None = None  # the adapter it came from (a Zigbee2MQTT device …), if any


class PropertyOut(_Out):
    kind: str
    unit: str | None
    min: float | None
    max: float | None
    values: list[str] | None
    access: Literal["rw", "ro"]
    risky: bool


class ArgOut(_Out):
    name: str
    kind: str
    unit: str | None
    min: float | None
    max: float | None
    values: list[str] | None
    required: bool


class ActionOut(_Out):
    args: list[ArgOut]
    risky: bool


class SpecOut(_Out):
    properties: dict[str, PropertyOut]
    actions: dict[str, ActionOut]


class DeviceDetail(DeviceOut):
    spec: SpecOut


# -- commands ------------------------------------------------------------------------------


def _finite(value: Any, where: str) -> Any:
    found = non_finite(value, where)
    if found is not None:
        raise ValueError(non_finite_message(found))
    return value


class SetBody(_In):
    property: str = Name
    value: JsonValue = None
    confirm: bool = False

    @field_validator("value")
    @classmethod
    def _finite_value(cls, value: Any) -> Any:
        return _finite(value, "value")  # Python's JSON parser takes NaN and Infinity


class CallBody(_In):
    args: dict[str, JsonValue] = Field(default_factory=dict, max_length=32)
    confirm: bool = False

    @field_validator("args")
    @classmethod
    def _finite_args(cls, args: dict[str, Any]) -> dict[str, Any]:
        return _finite(args, "args")


class CommandOut(_Out):
    ok: bool
    device: str
    command: dict[str, Any]
    changes: dict[str, Any]
    state: dict[str, Any]


class HistoryOut(_Out):
    device: str
    property: str
    points: list[tuple[float, Any]]


class AuditOut(_Out):
    ts: float
    who: str  # the actor: "api:<token name>", "ask:<token name>", "rule:<id>", "cli"
    by: str  # who, in words in the request's language: "web-tests", "助手（phone）", "命令行"
    device: str
    kind: str
    what: dict[str, Any]
    result: str
    message: str  # in English, for people: what changed, or why it failed
    code: str  # why it failed, for machines (the API's error codes); "" when it went through
    changes: dict[str, Any] | None  # what it changed; None when it failed (or in older rows)


# -- the assistant ------------------------------------------------------------------------


class AskBody(_In):
    text: str = Field(max_length=1000)
    area: str | None = Field(default=None, max_length=64)
    conversation: str | None = Field(default=None, max_length=64)


class AskOut(_Out):
    text: str
    actions: list[dict[str, Any]]
    changes: dict[str, dict[str, Any]]
    reply: str
    needs_confirmation: bool
    engine: str
    ms: float
    conversation: str
    rule: dict[str, Any] | None = None  # a rule proposed (needs_confirmation) or just saved


class SpokenQuery(BaseModel):
    """The query of a spoken question (the body is the recording)."""

    model_config = ConfigDict(extra="forbid")

    area: str | None = Field(default=None, max_length=64)
    conversation: str | None = Field(default=None, max_length=64)
    lang: str = Field(default="auto", max_length=16, description="auto, en or zh")
    speak: bool = Field(default=False, description="also answer the reply spoken, as a WAV")


class SpeechOut(_Out):
    content_type: Literal["audio/wav"]
    lang: str
    voice: str
    rate: int
    seconds: float
    wav_base64: str


class SpokenAskOut(AskOut):
    """The answer to a spoken question: the typed answer, what was heard, each stage's time
    (ms) and, when asked for, the reply spoken."""

    transcript: str
    lang: str  # the language heard: en or zh
    audio_seconds: float
    stt_ms: float
    assistant_ms: float
    tts_ms: float | None
    load_ms: float
    speech: SpeechOut | None
    speech_error: ErrorDetail | None


class VoiceModelOut(_Out):
    available: bool
    reason: str | None
    loaded: bool
    langs: list[str]


class VoiceOut(_Out):
    stt: VoiceModelOut
    tts: VoiceModelOut
    max_seconds: float
    max_bytes: int
    formats: list[str]


# -- auth ------------------------------------------------------------------------------------


class LoginBody(_In):
    username: str = Name
    password: str = Field(min_length=1, max_length=1024)


class SetupBody(_In):
    code: str = Field(min_length=1, max_length=64)
    username: str = Name
    password: str = Field(min_length=1, max_length=1024)


class SetupState(_Out):
    needed: bool


class LoginOut(_Out):
    token: str
    scopes: list[ScopeName]
    user: str
    expires: float | None


class MeOut(_Out):
    id: str
    name: str
    user: str | None
    scopes: list[ScopeName]


class TokenOut(_Out):
    id: str
    name: str
    scopes: list[ScopeName]
    user: str | None
    created: float
    last_used: float | None
    expires: float | None
    revoked: float | None


class NewTokenBody(_In):
    name: str | None = Field(default=None, min_length=1, max_length=64)
    scopes: list[ScopeName] = Field(min_length=1, max_length=4)


class NewTokenOut(TokenOut):
    token: str


class Done(_Out):
    ok: bool


# -- automations ----------------------------------------------------------------------------


class LastRunOut(_Out):
    started: float
    finished: float | None
    result: str
    message: str
    trigger: str  # what fired it, in words


class RuleOut(_Out):
    id: str
    name: str
    description: str | None
    enabled: bool
    stopped: str | None  # why loop protection stopped it (enable it again to clear)
    mode: Literal["single", "restart", "queue"]
    running: bool
    runs: int  # started since the hub started
    last_run: LastRunOut | None
    # in sentences, in the request's language (Accept-Language): "Nobody is home"
    triggers: list[str]
    conditions: list[str]
    actions: list[str]
    risky: bool  # running it needs `control:risky`
    source: str | None  # file:line
    definition: dict[str, Any]  # the rule as the hub read it: ids, raw templates


class RunOut(_Out):
    id: int
    started: float
    finished: float | None
    result: str
    message: str
    trigger: dict[str, Any]
    steps: list[dict[str, Any]]


class RunBody(_In):
    check_conditions: bool = False


class RunStartedOut(_Out):
    started: bool  # false: the engine skipped it (message says why)
    rule: str
    result: str  # "running" (or queued), else how it ended at once
    message: str


class ReloadOut(_Out):
    """What reloading the automation files changed (unchanged rules kept running)."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    rules: int
    scenes: int


class SceneOut(_Out):
    id: str
    name: str
    aliases: list[str]
    states: dict[str, dict[str, Any]]
    sets: list[str]  # `states` in sentences, one per device: "Hallway Light: on, brightness 80 %"
    actions: list[str]  # in sentences, in the request's language (Accept-Language)
    risky: bool  # applying it needs `control:risky`
    source: str | None
    definition: dict[str, Any]  # the scene as the hub read it: ids, raw templates


class FileItemOut(_Out):
    """A rule or scene as its file writes it (`GET /api/automations/rules/{id}`)."""

    kind: Literal["rule", "scene"]
    id: str
    source: str  # file:line (the file's name)
    version: str  # a hash of its text; also the answer's ETag: send it back in If-Match
    editable: bool  # false: its YAML holds what JSON cannot carry back unchanged
    reason: str | None  # why it is not editable (None when it is)


class RuleFileOut(FileItemOut):
    rule: dict[str, Any]  # exactly the keys its file writes, as JSON


class SceneFileOut(FileItemOut):
    scene: dict[str, Any]


class ReloadedOut(_Out):
    """What the hub's reload after a change of the files changed."""

    added: list[str]
    changed: list[str]
    removed: list[str]


class RuleSavedOut(RuleFileOut):
    created: bool  # a new rule (201), else replaced (200)
    risky: list[str]  # its risky writes and calls ("garage_door.open")
    reload: ReloadedOut


class SceneSavedOut(SceneFileOut):
    created: bool
    risky: list[str]
    reload: ReloadedOut


class DeletedOut(_Out):
    kind: Literal["rule", "scene"]
    id: str
    reload: ReloadedOut


class ProblemOut(_Out):
    """One problem of a rule or scene sent to be saved or checked."""

    # where in it: "triggers[0].state.device" ("" the item itself); None: elsewhere
    path: str | None
    loc: list[str | int] | None  # the same as a list: ["triggers", 0, "state", "device"]
    message: str
    source: str | None  # file:line of a problem elsewhere in the files (None: in the item)


class CheckedOut(_Out):
    ok: bool  # no problems: `PUT` would save it
    kind: Literal["rule", "scene"]
    id: str | None
    file: str  # the file it is in, or would go into
    exists: bool  # saving it replaces one (If-Match needed)
    risky: list[str]  # its risky writes and calls: saving it needs `control:risky` too
    problems: list[ProblemOut]


class ProblemsErrorDetail(ErrorDetail):
    problems: list[ProblemOut]


class ProblemsErrorOut(_Out):
    error: ProblemsErrorDetail


class SceneItemOut(_Out):
    device: str
    what: str
    ok: bool
    message: str


class SceneReportOut(_Out):
    scene: str
    ok: bool
    items: list[SceneItemOut]


# -- adapters --------------------------------------------------------------------------------


class AdapterOut(_Out):
    id: str
    kind: str
    accept: Literal["ask", "all"]
    broker: str | None  # the adapter's own broker (password hidden); None: the hub's
    online: bool  # its system answers (a Zigbee2MQTT bridge online)
    devices: list[str]  # accepted devices
    pending: int
    problems: list[str] = []  # what it found and had to leave out, and why


class FoundOut(_Out):
    key: str  # ADAPTER:EXTERNAL_ID
    adapter: str
    external: str
    friendly_name: str
    model: str
    vendor: str
    description: str
    proposal: dict[str, Any]  # the device it would become: id, type, name, area, properties …
    unmapped: list[str]


class AcceptBody(_In):
    key: str = Field(min_length=3, max_length=200)
    id: str | None = Field(default=None, min_length=1, max_length=64)
    name: str | None = Field(default=None, min_length=1, max_length=100)
    area: str | None = Field(default=None, min_length=1, max_length=64)
    aliases: list[str] = Field(default_factory=list, max_length=20)


class RejectBody(_In):
    key: str = Field(min_length=3, max_length=200)  # ADAPTER:EXTERNAL_ID or ADAPTER:DEVICE_ID


class AdapterChangeOut(_Out):
    done: str  # what happened, in words
    device: dict[str, Any] | None = None  # the accepted entry
    added: list[str]
    removed: list[str]
