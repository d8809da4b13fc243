"""What the API serves (`ApiContext`), its settings, and the hub's devices as the assistant
sees them (`FabricDevices`)."""

from __future__ import annotations

import asyncio
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from hyperhub.adapters.running import Adapters
from hyperhub.api.limits import RateLimit
from hyperhub.api.live import LiveFeed
from hyperhub.api.voice import HubVoice
from hyperhub.assistant.pipeline import Assistant, Conversation
from hyperhub.auth import AuthStore
from hyperhub.fabric.hubside import HubFabric
from hyperhub.space import Device, Space
from hyperhub.store import StateStore

if TYPE_CHECKING:
    from hyperhub.automation.engine import Engine

DEFAULT_PORT = 8321


@dataclass(frozen=True)
class ApiSettings:
    """How the API listens and what it allows (the `hyperhub run` options)."""

    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT  # 0: any free port
    cors_origins: tuple[str, ...] = ()  # none: no CORS headers at all
    web_dir: Path | None = None  # the dashboard's files (default: the `hyperhub.web` package)
    login_per_minute: int = 10  # per client address, for login and setup
    ask_per_minute: int = 60  # per token
    commands_per_minute: int = 600  # set / call / scene / rule run, per token (0: no limit)
    ws_queue: int = 1000  # messages queued per WebSocket client before the oldest are dropped
    conversation_ttl: float = 1800.0  # seconds a conversation is kept after its last use
    max_conversations: int = 1000
    max_body: int = 64 * 1024  # bytes of a request body
    # spoken questions (POST /api/ask with audio): 30 s of 48 kHz stereo 24-bit WAV fits
    max_audio_bytes: int = 12 * 1024 * 1024
    max_audio_seconds: float = 30.0
    voice_timeout: float = 90.0  # seconds a spoken question may wait for each speech model
    stt_model: Path | None = None  # a CTranslate2 Whisper folder (default: Whisper base)
    voice: Path | None = None  # a Piper voice for spoken replies (default: the packaged ones)


@dataclass
class ApiContext:
    """The hub's parts the API uses; `ready` once the hub serves (see `/api/health`)."""

    space: Space
    fabric: HubFabric
    store: StateStore
    auth: AuthStore
    assistant: Assistant
    settings: ApiSettings = field(default_factory=ApiSettings)
    engine: Engine | None = None  # the rule engine (None: the space has no automations)
    # where the engine's automations were read from (a folder or a file); rules the assistant
    # makes are saved there (default: `automations/` next to the space file)
    automations_path: Path | None = None
    adapters: Adapters | None = None  # the space's adapters (None: a hub without them)
    ready: bool = False
    live: LiveFeed = field(init=False)  # the WebSocket clients' feed
    specs: dict[str, Any] = field(default_factory=dict)  # device id → its spec, as answered
    conversations: Conversations = field(init=False)
    fallback: dict[str, dict[str, Any]] = field(init=False)
    login_limit: RateLimit = field(init=False)
    ask_limit: RateLimit = field(init=False)
    command_limit: RateLimit | None = field(init=False)
    # one sentence at a time: engines share state (the local LLM is not thread-safe)
    ask_lock: asyncio.Lock = field(init=False, default_factory=asyncio.Lock)
    voice: HubVoice = field(init=False)  # speech models for spoken questions, loaded on first use

    def __post_init__(self) -> None:
        self.login_limit = RateLimit(self.settings.login_per_minute)
        self.ask_limit = RateLimit(self.settings.ask_per_minute)
        per_minute = self.settings.commands_per_minute
        self.command_limit = RateLimit(per_minute) if per_minute > 0 else None
        self.conversations = Conversations(
            self.settings.conversation_ttl, self.settings.max_conversations
        )
        runs = None if self.engine is None else self.engine.runs
        self.live = LiveFeed(self.space, self.fabric, self.auth, runs)
        self.voice = HubVoice(
            self.auth.data_dir,
            stt_model=self.settings.stt_model,
            voice=self.settings.voice,
            max_seconds=self.settings.max_audio_seconds,
            timeout=self.settings.voice_timeout,
            space=self.space,
        )
        # the state of a device that has not joined the fabric yet: what the store last had
        stored = self.space.restored_state(self.store.current_all())
        self.fallback = {
            d.id: {**d.state, **stored.get(d.id, {})} for d in self.space.devices.values()
        }

    def take_command(self, token_id: str) -> None:
        """Count one write of the token against its command rate (429 when over it)."""
        if self.command_limit is not None:
            self.command_limit.take(token_id)

    def device(self, device_id: str) -> Device:
        """The space's device (`UnknownDevice`, a 404, when there is none)."""
        return self.space.device(device_id)

    def state(self, device_id: str) -> dict[str, Any]:
        """The device's current state: the hub's mirror, or what was stored before it joined."""
        record = self.fabric.registry.get(device_id)
        if record is not None and record.state:
            return dict(record.state)
        return dict(self.fallback.get(device_id, {}))

    def updated(self, device_id: str) -> float | None:
        record = self.fabric.registry.get(device_id)
        return None if record is None else record.ts

    def online(self, device_id: str) -> bool:
        return self.fabric.registry.is_online(device_id)


class Conversations:
    """Assistant conversations by id, each owned by one token; kept `ttl` seconds after their
    last use, at most `limit` (the least recently used go first)."""

    def __init__(self, ttl: float, limit: int) -> None:
        self.ttl = ttl
        self.limit = limit
        self._items: OrderedDict[str, tuple[str, Conversation, float]] = OrderedDict()

    def __len__(self) -> int:
        return len(self._items)

    def get(self, conversation_id: str | None, owner: str) -> tuple[str, Conversation]:
        """The owner's conversation with this id, or a new one (with a new id)."""
        now = time.monotonic()
        while self._items:
            oldest_id, (_, _, used) = next(iter(self._items.items()))
            if now - used < self.ttl:
                break
            del self._items[oldest_id]
        found = self._items.get(conversation_id or "")
        if conversation_id is not None and found is not None and found[0] == owner:
            conv = found[1]
        else:
            conversation_id, conv = secrets.token_urlsafe(12), Conversation()
        self._items[conversation_id] = (owner, conv, now)
        self._items.move_to_end(conversation_id)
        while len(self._items) > self.limit:
            self._items.popitem(last=False)
        return conversation_id, conv


class FabricDevices:
    """The hub's devices for `Assistant.aask`: state from the hub's mirror, commands through
    the fabric (each waits for its ack), audited as `actor`.

    An ack's changes are overlaid on the mirror at once (the device's state message may come
    a moment later), so the assistant's report of what changed is exact.
    """

    def __init__(self, ctx: ApiContext, actor: str, *, confirm: bool) -> None:
        self.ctx = ctx
        self.actor = actor
        self.confirm = confirm
        self._overlay: dict[str, dict[str, Any]] = {}

    def state(self, device_id: str) -> dict[str, Any]:
        return {**self.ctx.state(device_id), **self._overlay.get(device_id, {})}

    async def set(self, device_id: str, prop: str, value: Any) -> Any:
        ack = await self.ctx.fabric.send_command(
            device_id, property=prop, value=value, actor=self.actor, confirm=self.confirm
        )
        self._overlay.setdefault(device_id, {}).update(ack.changes)
        return ack.changes

    async def call(self, device_id: str, action: str, args: dict | None = None) -> Any:
        ack = await self.ctx.fabric.send_command(
            device_id, action=action, args=args or {}, actor=self.actor, confirm=self.confirm
        )
        self._overlay.setdefault(device_id, {}).update(ack.changes)
        return ack.changes
