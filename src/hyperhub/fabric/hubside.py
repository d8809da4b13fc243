"""`HubFabric`: the hub's side of the fabric — registry, state mirror, commands with acks.

It follows discovery, availability, state, acks and events of one space (see `ingest` for
how each payload is checked); valid state goes into the store through a batching writer
and to `changes()` subscribers.

`send_command` checks a command against the spec (and the risk rule of `local.LocalSpace`)
before anything goes on the wire, fails fast for an offline device, waits for the ack at
most `command_timeout` seconds, and audits every command.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import fields
from typing import Any, Literal

import aiomqtt

from hyperhub.clock import Clock, SystemClock
from hyperhub.errors import DeviceTimeout, FabricDisconnected, HyperHubError, UnknownDevice
from hyperhub.fabric.client import FabricClient
from hyperhub.fabric.commands import (
    Checked,
    ack_error,
    audit_row,
    check_command,
    may_still_run,
    unavailable,
)
from hyperhub.fabric.credentials import hub_client_id
from hyperhub.fabric.feed import Availability, Change, Event, Feed, Subscription, listening
from hyperhub.fabric.ingest import HubStats, Ingest, tune_gc
from hyperhub.fabric.messages import AckMsg, Malformed, parse
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.fabric.registry import DeviceRecord, DeviceRegistry
from hyperhub.fabric.store_writer import BatchWriter
from hyperhub.fabric.topics import Topics
from hyperhub.service import Service
from hyperhub.space import Space
from hyperhub.spec import TypeRegistry
from hyperhub.spec.policy import Command
from hyperhub.store import StateStore
from hyperhub.store.state_store import AuditRow

log = logging.getLogger("hyperhub.fabric.hub")

__all__ = ["HubFabric", "HubStats"]


class HubFabric(Service):
    """The hub on the fabric: `async with HubFabric(slug, kwargs, types=..., store=...)`."""

    def __init__(
        self,
        space_slug: str,
        client_kwargs: dict[str, Any],
        *,
        types: TypeRegistry,
        store: StateStore | None,
        clock: Clock | None = None,
        command_timeout: float = 3.0,
        known_space: Space | None = None,
        keepalive: int = 10,
        warn_every: float = 10.0,
    ) -> None:
        self.topics = Topics(space_slug)
        self.store = store
        self.clock: Clock = clock or SystemClock()
        self.command_timeout = command_timeout
        self.known_space = known_space  # tells "not joined yet" from "no such device"
        self.registry = DeviceRegistry()
        self._counts = HubStats()
        # cid → (device, ack, deadline) of the commands waiting for their ack
        self._waiting: dict[str, tuple[str, asyncio.Future[AckMsg], float]] = {}
        self._cid_prefix = secrets.token_hex(4)  # cids: this and a counter (16 hex digits)
        self._cids = 0
        self._audits: list[AuditRow] = []  # audit rows not handed to the store writer yet
        self._audit_at: asyncio.TimerHandle | None = None
        self._writer = BatchWriter(store) if store is not None else None
        self._ingest = Ingest(
            self.topics,
            types,
            self.registry,
            self._counts,
            self.clock,
            self._writer,
            WarnEvery(log, warn_every),
            on_offline=self._fail_waiting,
        )
        self.client = FabricClient(
            client_kwargs,
            client_id=hub_client_id(space_slug),
            keepalive=keepalive,
        )
        self.client.on_disconnect(self._lost_broker)

    @property
    def stats(self) -> HubStats:
        """A snapshot of the counters."""
        snap = HubStats(**{f.name: getattr(self._counts, f.name) for f in fields(HubStats)})
        if self._writer is not None:
            snap.written, snap.write_dropped = self._writer.written, self._writer.dropped
        return snap

    @property
    def store_writer(self) -> Literal["process", "thread"] | None:
        """Where state is written into the store (`store_writer.BatchWriter`); None without
        a store."""
        return None if self._writer is None else self._writer.mode

    def changes(self, maxsize: int = 1000) -> Subscription[Change]:
        """Subscribe to state changes (device, changed properties, ts); close when done."""
        return self._ingest.changes.subscribe(maxsize)

    def events(self, maxsize: int = 1000) -> Subscription[Event]:
        """Subscribe to device events; close when done."""
        return self._ingest.events.subscribe(maxsize)

    def availability(self, maxsize: int = 1000) -> Subscription[Availability]:
        """Subscribe to availability changes (a device, or its node, came or went)."""
        return self._ingest.availability.subscribe(maxsize)

    @property
    def feeds(self) -> tuple[Feed[Change], Feed[Event], Feed[Availability]]:
        """The feeds of state changes, events and availability changes (for `Feed.listen`)."""
        i = self._ingest
        return i.changes, i.events, i.availability

    def listen_changes(
        self, listener: Callable[[str, dict[str, Any], float], None], *, first: bool = False
    ) -> Callable[[], None]:
        """Call `listener(device, changed, ts)` with every state change, in the ingest path
        (quick, and it must not raise; `first`: before the listeners there are); returns a
        function that stops it."""
        return listening(self._ingest.change_listeners, listener, first)

    def on_state_message(self, listener: Callable[[str], None]) -> Callable[[], None]:
        """Call `listener(topic)` as each state message is taken, before it is parsed (for
        tools that time the ingest path, such as the rules benchmark); returns a stopper."""
        return listening(self._ingest.state_taps, listener)

    def submit(self, what: str, fn: Any, *args: Any) -> None:
        """Hand a store write (a `StateStore` method and its arguments) to the batching
        writer, after what it has queued; dropped (logged) without a store."""
        self._submit_audits()
        if self._writer is None:
            log.debug("no store: not doing %s", what)
            return
        self._writer.submit(what, fn, *args)

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Register the subscriptions and start connecting (in the background, retrying)."""
        tune_gc()  # for floods of state messages (see `ingest.tune_gc`)
        for topic_filter, handler in self._ingest.handlers():
            await self.client.subscribe(topic_filter, handler)
        await self.client.subscribe(self.topics.all_acks(), self._on_ack)
        if self._writer is not None:
            self._writer.start()
        self.client.start()

    async def wait_connected(self, timeout: float) -> None:
        """Wait until connected; `FabricDisconnected` after `timeout` seconds."""
        await self.client.wait_connected(timeout)

    async def flush(self, timeout: float = 10.0) -> None:
        """Wait until every state update and audit row so far is in the store."""
        self._submit_audits()
        if self._writer is not None:
            await self._writer.flush(timeout)

    async def close(self) -> None:
        """Disconnect, fail commands still waiting, and write what is pending to the store."""
        await self.client.close()
        self._fail_all("the hub is shutting down")
        self._submit_audits()
        if self._writer is not None:
            await self._writer.close()

    stop = close  # for `async with` (Service)

    # -- commands ---------------------------------------------------------------------------

    async def send_command(
        self,
        device: str,
        *,
        property: str | None = None,
        value: Any = None,
        action: str | None = None,
        args: dict[str, Any] | None = None,
        actor: str,
        confirm: bool = False,
    ) -> AckMsg:
        """Send a write (`property`, `value`) or an action (`action`, `args`); return the ack.

        Raises `UnknownDevice`, `SpecError` / `ValueNotAllowed`, `NeedsConfirmation` (risky,
        not confirmed) or `DeviceUnavailable` (offline) before sending; `DeviceTimeout` with
        no ack in time; the device's own error (or `CommandFailed`) when it refuses.
        """
        cmd = Command(device, property, value, action, args)
        return await self.send(cmd, actor=actor, confirm=confirm)

    async def send(self, cmd: Command, *, actor: str, confirm: bool = False) -> AckMsg:
        """`send_command` for a `Command` already made."""
        device = cmd.device
        try:
            record = self._record(device)
            checked = check_command(self.topics, record, cmd, confirm)
            gone = self.registry.offline(device)
            if gone is not None:
                raise unavailable(device, gone)
            ack = await self._exchange(device, checked, cmd)
            if not ack.ok:
                raise ack_error(device, ack)
        except HyperHubError as exc:
            self._audit(actor, cmd, exc)
            raise
        self._audit(actor, cmd, ack.changes)
        return ack

    def _record(self, device: str) -> DeviceRecord:
        record = self.registry.get(device)
        if record is not None:
            return record
        space = self.known_space
        if space is not None and device in space.devices:
            raise unavailable(device, None)
        if space is not None:
            space.device(device)  # raises UnknownDevice with a suggestion
        raise UnknownDevice(
            f"no device {device!r} on the fabric of space {self.topics.space!r} "
            f"({len(self.registry)} devices have joined)"
        )

    async def _exchange(self, device: str, checked: Checked, cmd: Command) -> AckMsg:
        """Publish the command and wait for its ack (not for the broker's PUBACK: the ack
        says more, and a lost connection fails every waiting command at once)."""
        self._cids += 1
        cid = f"{self._cid_prefix}{self._cids:08x}"
        waiter: asyncio.Future[AckMsg] = asyncio.get_running_loop().create_future()
        # the deadline is wall-clock time, whatever `self.clock` is: the node compares it
        # with its own wall clock (so hub and node clocks must agree, e.g. both on NTP)
        expires = time.time() + self.command_timeout
        self._waiting[cid] = (device, waiter, expires)
        self._counts.commands += 1
        try:
            async with asyncio.timeout(self.command_timeout):
                payload = checked.payload(cid, self.clock.now(), round(expires, 3))
                self.client.send(checked.topic, payload)
                return await waiter
        except TimeoutError:
            self._counts.timeouts += 1
            raise DeviceTimeout(
                f"device {device} did not answer ({cmd.summary()}) within "
                f"{self.command_timeout:g} s"
            ) from None
        finally:
            self._waiting.pop(cid, None)

    def _audit(self, actor: str, cmd: Command, outcome: dict[str, Any] | HyperHubError) -> None:
        """Queue one audit row: the rows of one writer interval go to the store in one
        transaction (a transaction per command cost more than the command); `flush` and
        `close` hand over what is queued first."""
        if self._writer is None or self.store is None:
            return
        self._audits.append(audit_row(actor, cmd, outcome, self.clock.now()))
        if self._audit_at is None:
            loop = asyncio.get_running_loop()
            self._audit_at = loop.call_later(self._writer.interval, self._submit_audits)

    def _submit_audits(self) -> None:
        """Hand the queued audit rows to the store writer."""
        if self._audit_at is not None:
            self._audit_at.cancel()
            self._audit_at = None
        rows, self._audits = self._audits, []
        if rows and self._writer is not None and self.store is not None:
            self._writer.submit(f"write {len(rows)} audit rows", self.store.audit_many, rows)

    def _on_ack(self, message: aiomqtt.Message) -> None:
        parsed = self._ingest.topic(message, "ack")
        if parsed is None:
            return
        try:
            ack: AckMsg = parse(AckMsg, message.payload)
        except Malformed as exc:
            return self._ingest.malformed("ack", message.topic.value, exc)
        waiting = self._waiting.get(ack.cid)
        if waiting is not None and waiting[0] == parsed.device and not waiting[1].done():
            self._counts.acks += 1
            waiting[1].set_result(ack)

    def _fail_waiting(self, device: str) -> None:
        """Commands waiting on a device that just went offline fail now, not at the timeout
        (saying that the command may still run: the broker keeps it for the node)."""
        gone = self.registry.offline(device)
        for target, waiter, expires in self._waiting.values():
            if target == device and gone is not None and not waiter.done():
                error = unavailable(device, gone)
                waiter.set_exception(type(error)(f"{error}{may_still_run(expires)}"))

    def _lost_broker(self) -> None:
        self._fail_all(f"lost the broker at {self.client.where} before the ack")

    def _fail_all(self, why: str) -> None:
        for device, waiter, expires in self._waiting.values():
            if not waiter.done():
                waiter.set_exception(
                    FabricDisconnected(f"command to {device}: {why}{may_still_run(expires)}")
                )
