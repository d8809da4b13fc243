"""Live state changes, availability, events and rule runs, fanned out to WebSocket clients
(the endpoint, `/api/ws`, is `routes/ws.py`).

One `LiveFeed` per hub reads the hub's change, event and availability feeds, encodes each
message once, and hands it to every client whose subscription
covers the device. Each client has a bounded queue: a slow client loses its oldest messages
(counted), it never slows the hub or the other clients. A client's sender packs what queued
up meanwhile into one frame (a JSON array) so a burst costs one send, not hundreds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from hyperhub.auth import AuthStore, Token
from hyperhub.fabric.feed import Feed
from hyperhub.fabric.hubside import HubFabric
from hyperhub.space import Space

if TYPE_CHECKING:
    from hyperhub.automation.engine import RunTrace

log = logging.getLogger("hyperhub.api.live")
TOKEN_CHECK_EVERY = 1.0  # seconds between checks that a client's token is still live
encode = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str).encode


class Subscribe(BaseModel):
    """What a client wants; each list given narrows (none: everything)."""

    model_config = ConfigDict(extra="forbid", strict=True)
    devices: list[str] | None = Field(default=None, max_length=10_000)
    areas: list[str] | None = Field(default=None, max_length=1000)
    types: list[str] | None = Field(default=None, max_length=1000)


class LiveClient:
    """One WebSocket's queue and subscription (`devices` None: everything)."""

    def __init__(self, feed: LiveFeed, token: Token, maxlen: int) -> None:
        self.feed = feed
        self.token = token
        self.maxlen = maxlen
        self.queue: deque[str] = deque()
        self.wake = asyncio.Event()
        self.devices: frozenset[str] | None = None
        self.dropped = 0
        self.revoked = False  # set by the feed's token check; the sender then closes

    def push(self, text: str) -> None:
        if len(self.queue) >= self.maxlen:
            self.queue.popleft()
            self.dropped += 1
            self.feed.dropped += 1
        self.queue.append(text)
        self.wake.set()


class LiveFeed:
    """Fans the hub's changes, events and availability out to the connected clients. It
    needs only the space (what a subscription may name), the fabric's feeds, the sign-in
    (revoked tokens close their sockets) and the rule runs, if the hub runs rules."""

    def __init__(
        self,
        space: Space,
        fabric: HubFabric,
        auth: AuthStore,
        runs: Feed[RunTrace] | None = None,
    ) -> None:
        self.space = space
        self.fabric = fabric
        self.auth = auth
        self.runs = runs
        self.clients: set[LiveClient] = set()
        self.dropped = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._online: dict[str, bool] = {}
        self._stop_runs: Callable[[], None] | None = None

    def start(self) -> None:
        if not self._tasks:
            registry = self.fabric.registry
            self._online = {d: registry.is_online(d) for d in self.space.devices}
            if self.runs is not None and self._stop_runs is None:
                self._stop_runs = self.runs.listen(self.rule_run)
            self._tasks = [
                asyncio.create_task(self._changes(), name="api-live-changes"),
                asyncio.create_task(self._events(), name="api-live-events"),
                asyncio.create_task(self._availability(), name="api-live-availability"),
                asyncio.create_task(self._check_tokens(), name="api-live-tokens"),
            ]

    async def stop(self) -> None:
        if self._stop_runs is not None:
            self._stop_runs()
            self._stop_runs = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=5)

    def publish(self, device: str, message: dict[str, Any]) -> None:
        """Queue a message for every client whose subscription covers `device`."""
        if not self.clients:
            return
        text = encode(message)
        for client in self.clients:
            if client.devices is None or device in client.devices:
                client.push(text)

    def devices_changed(self, added: list[str], removed: list[str]) -> None:
        """Devices joined or left the space while the hub runs (an adapter's accepted or
        removed): every client is told, whatever it subscribed to, to fetch the list again."""
        text = encode({"type": "devices", "added": added, "removed": removed})
        for client in self.clients:
            client.push(text)

    def rule_run(self, trace: RunTrace) -> None:
        """A finished (or skipped) rule run, for every client whatever it subscribed to;
        called in the engine's call (quick: one encode, then each client's bounded queue)."""
        if not self.clients:
            return
        trigger = trace.trigger
        text = encode(
            {
                "type": "rule_run",
                "rule": trace.rule,
                "result": trace.result,
                "message": trace.message,
                "started": trace.started,
                "finished": trace.finished,
                "trigger": str(trigger.get("description") or trigger.get("kind") or ""),
            }
        )
        for client in self.clients:
            client.push(text)

    async def _changes(self) -> None:
        fabric = self.fabric
        with fabric.changes(maxsize=10_000) as changes:
            async for change in changes:
                if not self.clients:
                    continue
                record = fabric.registry.get(change.device)
                state = dict(record.state) if record is not None else dict(change.changed)
                self.publish(
                    change.device,
                    {
                        "type": "state",
                        "device": change.device,
                        "changes": change.changed,
                        "state": state,
                        "ts": change.ts,
                    },
                )

    async def _events(self) -> None:
        with self.fabric.events(maxsize=10_000) as events:
            async for event in events:
                self.publish(
                    event.device,
                    {
                        "type": "event",
                        "device": event.device,
                        "event": event.name,
                        "args": event.args,
                        "ts": event.ts,
                    },
                )

    async def _availability(self) -> None:
        """Each device that came or went (the fabric's availability feed), once per change."""
        with self.fabric.availability(maxsize=10_000) as changes:
            async for change in changes:
                if self._online.get(change.device) == change.online:
                    continue  # said already (a node and its device both reported it)
                self._online[change.device] = change.online
                message = {
                    "type": "availability",
                    "device": change.device,
                    "online": change.online,
                    "ts": time.time(),
                }
                self.publish(change.device, message)

    async def _check_tokens(self) -> None:
        """Revocation counts for open sockets too: look at their tokens every second."""
        while True:
            await asyncio.sleep(TOKEN_CHECK_EVERY)
            live: dict[str, bool] = {}
            for client in list(self.clients):
                token_id = client.token.id
                if token_id not in live:
                    live[token_id] = self.auth.is_live(token_id)
                if not live[token_id]:
                    client.revoked = True
                    client.wake.set()

    def matching(self, wanted: Subscribe) -> frozenset[str] | None:
        """The devices a subscription covers (None: all); `ValueError` naming an unknown id."""
        space = self.space
        if wanted.devices is None and wanted.areas is None and wanted.types is None:
            return None
        chosen = set(space.devices)
        if wanted.devices is not None:
            unknown = [d for d in wanted.devices if d not in space.devices]
            if unknown:
                raise ValueError(f"no device {unknown[0]!r} in space {space.name!r}")
            chosen &= set(wanted.devices)
        if wanted.areas is not None:
            unknown = [a for a in wanted.areas if a not in space.areas]
            if unknown:
                raise ValueError(f"no area {unknown[0]!r}; areas: {', '.join(space.areas)}")
            chosen &= {d.id for d in space.devices.values() if d.area in wanted.areas}
        if wanted.types is not None:
            unknown = [t for t in wanted.types if t not in space.types]
            if unknown:
                raise ValueError(f"no device type {unknown[0]!r}")
            chosen &= {d.id for d in space.devices.values() if d.type in wanted.types}
        return frozenset(chosen)
