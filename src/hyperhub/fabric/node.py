"""`DeviceNode`: hosts some of a space's devices on the fabric (a home hub, a car, a phone).

Its backend is a `DeviceBackend` (the simulator: it ticks, and a command is applied at once)
or a `PushBackend` (an adapter's devices, which live in another system: they report their
state and availability when these change, and a command is answered once the device has
reported its effect). Everything else — announcing, resync, acks, queues — is the same.

On every (re)connection the node announces itself — node availability online (retained;
its last will says offline), then per device a retained discovery message, availability and
state — and listens for its devices' `set` / `call` commands. Commands are parsed strictly,
checked against the spec, applied to the backend and answered on `ack`: the new retained
state and then the ack are queued on the connection together and leave in one segment; the
ack does not wait for the state's PUBACK, because the broker forwards one client's messages
(of one QoS) in order, so the hub has the state when it reads the ack. Between commands the
backend ticks; changed states and events go out.

While the broker is unreachable, what is kept, where, and for how long:

- on the node, each device's latest state (sent on reconnect, see the resync below) and up
  to `max_queued_events` events (the oldest are dropped beyond that, counted in
  `stats.dropped_events`);
- on the node, the acks it could not send (the link dropped before the broker had them), up
  to `max_queued_acks`, each until its command's deadline (`expires`; `ACK_KEEP_S` = 60 s for
  a command without one): sent on reconnect after the states; past that they are dropped
  and counted (`stats.dropped_acks`), since nobody waits for them any more;
- on the broker, the commands for the node's devices: the node connects with a stable client
  id and a persistent session (`clean_session=False`) and subscribes to its commands at
  QoS 1, so a command published while its link is down — before the hub knows, i.e. before
  the node's last will fires; after that the hub fails commands at once and publishes
  nothing — is kept by the broker and delivered when the node is back. Mosquitto keeps it
  in memory (up to its per-client queue limit, until it restarts); the deadline bounds how
  long it stays worth running.

Every command carries a deadline (`expires`, wall-clock UNIX time: the hub's send time plus
its command timeout). A command that reaches the node after its deadline is not run: it is
answered `CommandExpired`, logged (one warning per period) and counted (`stats.expired`). So
a queued command runs only while the hub may still be waiting for its ack — never an hour
later. The node compares the deadline with its own wall clock: hub and node clocks must
agree (NTP); a node whose clock runs ahead refuses commands, visibly, with that error.

A command is acknowledged to the broker (PUBACK) only once it has been handled, so one that
arrived just before the link dropped is delivered again (MQTT DUP); the node remembers the
acks of its last 1,000 commands and answers such a repeat with the same ack, without running
it again. A command found *retained* on the broker is never run (the hub never retains one).

Resync on reconnect, last writer wins by timestamp:
  The node remembers when each device's state last changed here (0 for a device untouched
  since the node started). It reads its devices' retained states from the broker (waiting
  at most `resync_timeout`) and, per device:
  - a retained state newer than the node's last change wins: the node adopts its writable
    properties (read-only ones are the device's own readings) and takes over its timestamp;
  - otherwise (older, equal or none) the node's own state wins and is published.
  So a freshly started node restores the state the fabric last knew, and changes made on
  a disconnected node are not lost to an older retained state. The published timestamp of a
  device never goes backwards.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from hyperhub.clock import Clock, SystemClock
from hyperhub.errors import FabricDisconnected, HyperHubError
from hyperhub.fabric.client import FabricClient, LastWill, Outgoing
from hyperhub.fabric.credentials import node_client_id
from hyperhub.fabric.feed import listening
from hyperhub.fabric.hosting import (
    CommandExpired,
    apply_command,
    apply_command_async,
    discovery_of,
    parse_command,
)
from hyperhub.fabric.messages import (
    EXPIRED,
    OFFLINE,
    ONLINE,
    AckMsg,
    CallMsg,
    EventMsg,
    Malformed,
    SetMsg,
    StateMsg,
    dump,
    parse,
    peek_cid,
)
from hyperhub.fabric.node_memory import NodeMemory
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.fabric.topics import Topics, parse_topic, space_slug
from hyperhub.service import Service
from hyperhub.space import Device, Space
from hyperhub.spec.backend import DeviceBackend, DeviceEvent, PushBackend

log = logging.getLogger("hyperhub.fabric.node")
_NAME = re.compile(r"^[a-z0-9_]+$")
ACK_KEEP_S = 60.0  # how long an ack of a command without a deadline is kept while offline
_ANSWERED = 1000  # acks remembered, for commands the broker delivers twice (MQTT DUP)


@dataclass(frozen=True)
class NodeStats:
    published: int  # messages the broker took
    commands: int  # commands received
    malformed: int  # commands that could not be parsed
    dropped_events: int  # events dropped while the queue was full (offline)
    adopted: int  # devices that took a newer retained state at a resync
    connections: int
    expired: int = 0  # commands that arrived after their deadline: not run
    duplicates: int = 0  # commands delivered again (MQTT DUP) after they had run: not run again
    dropped_acks: int = 0  # acks not sent: past their deadline, or the queue was full
    retained_commands: int = 0  # commands found retained on the broker: stale, not run


class DeviceNode(Service):
    """Some devices of a space, on the fabric: `async with DeviceNode(...) as node: ...`."""

    def __init__(
        self,
        name: str,
        space: Space,
        device_ids: list[str],
        client_kwargs: dict[str, Any],
        *,
        backend: DeviceBackend | PushBackend,
        clock: Clock | None = None,
        tick_s: float = 1.0,
        slug: str | None = None,
        keepalive: int = 10,
        max_queued_events: int = 1000,
        max_queued_acks: int = 1000,
        resync_timeout: float = 2.0,
    ) -> None:
        if not _NAME.match(name):
            raise HyperHubError(f"node name {name!r} must match [a-z0-9_]+ (it is a topic level)")
        self.name = name
        self.space = space
        self.devices: dict[str, Device] = {d: space.device(d) for d in dict.fromkeys(device_ids)}
        self.clock: Clock = clock or SystemClock()
        self.backend = backend  # the simulator, an adapter: the fabric knows only the protocol
        # which kind, decided once (a protocol isinstance check is slow for a hot path):
        # an adapter's reports and we listen; the simulator ticks
        self.pushed: PushBackend | None = None
        self.ticked: DeviceBackend | None = None
        if isinstance(backend, PushBackend):
            self.pushed = backend
        else:
            self.ticked = backend
        self.tick_s = tick_s
        self.resync_timeout = resync_timeout
        self.topics = Topics(slug or space_slug(space.name))
        self.ready = asyncio.Event()  # set once resynced on the current connection
        self.memory = NodeMemory(
            {d: self.backend.state(d) for d in self.devices}, max_queued_events
        )
        self._commands = self._malformed = self._adopted = 0
        self._command_taps: list[Callable[[str, bytes], None]] = []
        self._expired = self._duplicates = self._dropped_acks = self._stale = 0
        # acks that could not be sent (no connection): (device, ack, send until), oldest first
        self._acks: collections.deque[tuple[str, AckMsg, float]] = collections.deque()
        self.max_queued_acks = max_queued_acks
        self._answered: collections.OrderedDict[str, tuple[str, AckMsg, float]] = (
            collections.OrderedDict()
        )  # cid → what was answered (device, ack, send until), the latest `_ANSWERED`
        self._wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._running: set[asyncio.Task[None]] = set()  # commands waiting for a PushBackend
        self._online: dict[str, bool] = dict.fromkeys(self.devices, True)
        self._availability_dirty: set[str] = set()
        self._warn = WarnEvery(log)
        self.client = FabricClient(
            client_kwargs,
            # one stable id and a persistent session: the broker keeps our command
            # subscriptions, and the commands for them, while the link is down
            client_id=node_client_id(self.topics.space, name, client_kwargs.get("password")),
            will=LastWill(self.topics.node_availability(name), OFFLINE, retain=True),
            keepalive=keepalive,
            clean_session=False,
        )
        self.client.on_connect(self._announce)
        self.client.on_disconnect(self.ready.clear)

    @property
    def stats(self) -> NodeStats:
        return NodeStats(
            self.client.published,
            self._commands,
            self._malformed,
            self.memory.dropped,
            self._adopted,
            self.client.connections,
            self._expired,
            self._duplicates,
            self._dropped_acks,
            self._stale,
        )

    def changed_at(self, device_id: str) -> float:
        """When the device's state last changed on this node (0: not since the node started)."""
        return self.memory.changed_at[device_id]

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self) -> None:
        """Connect (in the background, retrying) and start ticking."""
        filters = [f for d in self.devices for f in self.topics.commands_for(d)]
        await self.client.subscribe(filters, self._on_command)
        if self.pushed is not None:
            self._online = {d: self.pushed.online(d) for d in self.devices}
            self.pushed.listen(self._pushed)
        self.client.start()
        self._tasks = [
            asyncio.create_task(self._publish_loop(), name=f"node-{self.name}-publish"),
        ]
        if self.ticked is not None:
            self._tasks.append(
                asyncio.create_task(self._tick_loop(), name=f"node-{self.name}-tick")
            )

    async def host(self, space: Space, device_ids: list[str]) -> None:
        """Host more devices from now on (accepted from an adapter while running): their
        commands are taken, and they are announced (discovery, availability, state)."""
        new = [d for d in dict.fromkeys(device_ids) if d not in self.devices]
        if not new:
            return
        self.space = space
        for device_id in new:
            self.devices[device_id] = space.device(device_id)
            self.memory.states[device_id] = self.backend.state(device_id)
            self.memory.changed_at[device_id] = self.clock.now()  # its first word: now
            self.memory.dirty.add(device_id)
            online = True
            if self.pushed is not None:
                online = self.pushed.online(device_id)
            self._online[device_id] = online
        await self.client.subscribe(
            [f for d in new for f in self.topics.commands_for(d)], self._on_command
        )
        if self.client.connected.is_set():
            hello = [
                Outgoing(
                    self.topics.discovery(d), dump(discovery_of(self.devices[d], self.name)), True
                )
                for d in new
            ]
            hello += [self._availability_msg(d) for d in new]
            with contextlib.suppress(HyperHubError):
                await self.client.publish_many(hello)
        self._wake.set()

    async def drop(self, device_ids: list[str]) -> None:
        """Stop hosting devices (an adapter's device rejected or removed): they leave the
        fabric (their retained discovery is cleared, their availability is offline)."""
        gone = [d for d in device_ids if d in self.devices]
        if not gone:
            return
        await self.client.unsubscribe([f for d in gone for f in self.topics.commands_for(d)])
        bye = [Outgoing(self.topics.availability(d), OFFLINE, True) for d in gone]
        bye += [Outgoing(self.topics.discovery(d), b"", True) for d in gone]
        for device_id in gone:
            del self.devices[device_id]
            self.memory.forget(device_id)
            self._online.pop(device_id, None)
        if self.client.connected.is_set():
            with contextlib.suppress(HyperHubError):
                await self.client.publish_many(bye)

    async def wait_ready(self, timeout: float) -> None:
        """Wait until connected and resynced; `TimeoutError` after `timeout` seconds."""
        await asyncio.wait_for(self.ready.wait(), timeout)

    async def stop(self, timeout: float = 5.0) -> None:
        """Say goodbye (every device and the node offline, retained) and disconnect."""
        tasks, self._tasks = [*self._tasks, *self._running], []
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=timeout)
        if self.client.connected.is_set():
            goodbye = [Outgoing(self.topics.availability(d), OFFLINE, True) for d in self.devices]
            goodbye.append(Outgoing(self.topics.node_availability(self.name), OFFLINE, True))
            with contextlib.suppress(HyperHubError, TimeoutError):
                async with asyncio.timeout(timeout):
                    await self.client.publish_many(goodbye)
        await self.client.close()

    # -- time -------------------------------------------------------------------------------

    def poll(self) -> set[str]:
        """Tick the backend and note what changed (also changes made to it directly)."""
        assert self.ticked is not None
        ticked = self.ticked
        ticked.tick()
        now = self.clock.now()
        memory = self.memory
        changed = {
            device_id
            for device_id, state in ticked.states().items()
            if device_id in memory.states and memory.note(device_id, state, now)
        }
        for event in ticked.drain_events():
            memory.queue_event(event)
        if changed or memory.events:
            self._wake.set()
        return changed

    def _pushed(self, device_id: str) -> None:
        """A `PushBackend` device reported: note its state, availability and events."""
        backend = self.pushed
        if device_id not in self.devices or backend is None:
            return
        self.memory.note(device_id, backend.state(device_id), self.clock.now())
        online = backend.online(device_id)
        if online != self._online.get(device_id):
            self._online[device_id] = online
            self._availability_dirty.add(device_id)
        for event in backend.drain_events():
            self.memory.queue_event(event)
        self._wake.set()

    async def _tick_loop(self) -> None:
        while True:
            await asyncio.sleep(self.tick_s)
            try:
                self.poll()
            except Exception:  # a failing backend must not stop the node
                log.exception("node %s: tick failed", self.name)

    # -- publishing -------------------------------------------------------------------------

    def _state_msg(self, device_id: str) -> Outgoing:
        memory = self.memory
        msg = StateMsg(ts=memory.changed_at[device_id], state=memory.states[device_id])
        return Outgoing(self.topics.state(device_id), dump(msg), True)

    def _availability_msg(self, device_id: str) -> Outgoing:
        online = self._online.get(device_id, True)
        return Outgoing(self.topics.availability(device_id), ONLINE if online else OFFLINE, True)

    def _event_msg(self, event: DeviceEvent) -> Outgoing:
        payload = dump(EventMsg(ts=event.ts, args=event.args))
        return Outgoing(self.topics.event(event.device, event.name), payload)

    async def _publish_loop(self) -> None:
        while True:
            await self._wake.wait()
            await self.ready.wait()
            self._wake.clear()
            await self._flush()

    async def _flush(self) -> None:
        """Send what is waiting — states, then acks, then events — and keep what the broker
        did not take for the next connection.

        Everything is queued on the connection at once (no await in between), so no other
        state of these devices can come between; the broker's PUBACKs come after.
        """
        devices, events = self.memory.take()
        acks = self._take_acks()
        went, self._availability_dirty = self._availability_dirty, set()
        states = [self._state_msg(d) for d in devices]
        # availability after the states: a device seen coming online already has its state
        status = [self._availability_msg(d) for d in sorted(went)]
        out = [Outgoing(self.topics.ack(d), dump(ack)) for d, ack, _ in acks]
        out += [self._event_msg(e) for e in events]
        sent: list[asyncio.Future[None]] = []
        with contextlib.suppress(FabricDisconnected):
            for message in states:
                sent.append(self.client.send(message.topic, message.payload, retain=True))
            for message in status:  # a lost one: the next announce says it
                self.client.send(message.topic, message.payload, retain=True)
            for message in out:
                sent.append(self.client.send(message.topic, message.payload, retain=message.retain))
        if sent:
            await asyncio.wait(sent)  # each ends: the broker has it, or the connection dropped

        def failed(i: int) -> bool:
            return i >= len(sent) or sent[i].exception() is not None

        n, k = len(devices), len(acks)
        lost_devices = [d for i, d in enumerate(devices) if failed(i)]
        lost_events = [e for i, e in enumerate(events) if failed(n + k + i)]
        if lost_devices or lost_events:
            self.memory.put_back(lost_devices, lost_events)
        for i, ack in enumerate(acks):
            if failed(n + i):
                self._queue_ack(*ack)

    def _take_acks(self) -> list[tuple[str, AckMsg, float]]:
        """The queued acks still worth sending (the others are dropped and counted)."""
        now = time.time()
        acks = [a for a in self._acks if a[2] >= now]
        self._dropped_acks += len(self._acks) - len(acks)
        self._acks.clear()
        return acks

    def _queue_ack(self, device_id: str, ack: AckMsg, until: float) -> None:
        """Keep an ack that did not go out for the next connection, until `until`."""
        if len(self._acks) >= self.max_queued_acks:
            self._acks.popleft()
            self._dropped_acks += 1
        self._acks.append((device_id, ack, until))
        self._wake.set()

    # -- (re)connection ---------------------------------------------------------------------

    async def _announce(self) -> None:
        retained = await self._read_retained()
        now = self.clock.now()
        for device_id in self.devices:
            theirs = retained.get(device_id)
            if self.memory.resolve(device_id, theirs, now) == "adopt":
                assert theirs is not None
                self._adopt(device_id, theirs)
        hello = [
            Outgoing(self.topics.discovery(d.id), dump(discovery_of(d, self.name)), True)
            for d in self.devices.values()
        ]
        hello += [self._availability_msg(d) for d in self.devices]
        await self.client.publish_many(hello)
        self.ready.set()
        await self._flush()

    async def _read_retained(self) -> dict[str, StateMsg]:
        """Our devices' retained states on the broker; also says we are online (retained).

        The broker sends the retained states of a subscription before it handles our next
        packet, so once the PUBACK of our (QoS 1) "online" is here, all of them are too.
        States we may not read (ACL) never come: then the node's own state wins.
        """
        by_topic = {self.topics.state(d): d for d in self.devices}
        found: dict[str, StateMsg] = {}

        def take(message: aiomqtt.Message) -> None:
            topic = message.topic.value
            if message.retain and topic in by_topic:
                try:
                    found[by_topic[topic]] = parse(StateMsg, message.payload)
                except Malformed as exc:
                    self._warn("retained", "node %s: ignoring %s: %s", self.name, topic, exc)

        try:
            await self.client.subscribe(list(by_topic), take, qos=0)
            await self.client.publish(self.topics.node_availability(self.name), ONLINE, retain=True)
            try:
                await self.client.drain(self.resync_timeout)
            except TimeoutError:
                log.warning(
                    "node %s: resync read %d of its retained states in %g s",
                    self.name,
                    len(found),
                    self.resync_timeout,
                )
        finally:
            await self.client.unsubscribe(list(by_topic))
        return found

    def _adopt(self, device_id: str, theirs: StateMsg) -> None:
        """Take over a newer retained state: writable properties, through normal writes —
        but a `PushBackend`'s devices are never written to for it: their own reports win,
        the retained state only stands in until the first one."""
        self._adopted += 1
        if self.pushed is not None:
            self.memory.adopted(device_id, {**theirs.state, **self.pushed.state(device_id)}, theirs)
            return
        ticked = self.ticked
        assert ticked is not None
        device = self.devices[device_id]
        props = device.dtype.properties
        writable = [p for p in theirs.state if p in device.properties and props[p].writable]
        writable.sort(key=lambda p: not props[p].implies_on)  # so `on` has the last word
        for prop in writable:
            try:
                ticked.set(device_id, prop, theirs.state[prop])
            except HyperHubError as exc:
                self._warn("adopt", "node %s: not adopting %s: %s", self.name, prop, exc)
        self.memory.adopted(device_id, self.backend.state(device_id), theirs)

    # -- commands ---------------------------------------------------------------------------

    def on_command(self, listener: Callable[[str, bytes], None]) -> Callable[[], None]:
        """Call `listener(topic, payload)` with each command message as it arrives, before it
        is handled (for tools that time commands, such as the rules benchmark); returns a
        stopper."""
        return listening(self._command_taps, listener)

    def _on_command(self, message: aiomqtt.Message) -> None:
        """Run one command and answer it: the new state, then the ack, queued on the
        connection together (no waiting for the broker in between, see `_answer`)."""
        topic = message.topic.value
        if self._command_taps:
            for tap in self._command_taps:
                tap(topic, bytes(message.payload))
        parsed = parse_topic(self.topics, topic)
        if parsed is None or parsed.device not in self.devices:
            return
        if parsed.kind != "set" and parsed.kind != "call":
            return
        self._commands += 1
        device_id = parsed.device
        if message.retain:  # the hub never retains a command: a retained one is stale
            self._stale += 1
            self._warn("retained", "node %s: ignoring a retained command on %s", self.name, topic)
            return
        try:
            cmd = parse_command(parsed.kind, message.payload)
        except Malformed as exc:
            self._malformed += 1
            self._warn("command", "node %s: malformed command on %s: %s", self.name, topic, exc)
            cid = peek_cid(message.payload)
            if cid is not None:
                ack = AckMsg(cid=cid, ok=False, error="Malformed", message=str(exc))
                self._answer(device_id, ack, with_state=False)
            return
        if getattr(message, "dup", False) and self._answer_again(cmd.cid):
            return
        if self.pushed is not None:
            task = asyncio.create_task(
                self._run_pushed(device_id, cmd, parsed.name), name=f"node-{self.name}-command"
            )
            self._running.add(task)
            task.add_done_callback(self._running.discard)
            return
        assert self.ticked is not None
        try:
            ack = apply_command(
                self.ticked, self.devices[device_id], cmd, parsed.name, now=time.time()
            )
        except CommandExpired as exc:
            self._expired += 1
            self._warn("expired", "node %s: dropped a command on %s: %s", self.name, topic, exc)
            ack = AckMsg(cid=exc.cid, ok=False, error=EXPIRED, message=str(exc))
            self._answer(device_id, ack, with_state=False)
            return
        self.memory.note(device_id, self.backend.state(device_id), self.clock.now())
        with_state = device_id in self.memory.dirty
        self.memory.dirty.discard(device_id)  # it goes out right here, before the ack
        self._answer(device_id, ack, with_state, cmd.expires)

    async def _run_pushed(self, device_id: str, cmd: SetMsg | CallMsg, action: str | None) -> None:
        """A command to a `PushBackend` device: sent to its system, answered once the device
        reported its effect (or refused, or timed out: the ack says so)."""
        assert self.pushed is not None
        try:
            ack = await apply_command_async(
                self.pushed, self.devices[device_id], cmd, action, now=time.time()
            )
        except CommandExpired as exc:
            self._expired += 1
            self._warn("expired", "node %s: dropped a command to %s: %s", self.name, device_id, exc)
            self._answer(
                device_id,
                AckMsg(cid=exc.cid, ok=False, error=EXPIRED, message=str(exc)),
                with_state=False,
            )
            return
        self._pushed(device_id)
        with_state = device_id in self.memory.dirty
        self.memory.dirty.discard(device_id)
        self._answer(device_id, ack, with_state, cmd.expires)

    def _answer_again(self, cid: str) -> bool:
        """A command the broker delivers again (the link dropped before it had our PUBACK):
        if it ran already, send its ack again instead of running it twice."""
        answered = self._answered.get(cid)
        if answered is None:
            return False
        self._duplicates += 1
        self._answer(*answered[:2], with_state=False, until=answered[2])
        return True

    def _answer(
        self, device_id: str, ack: AckMsg, with_state: bool, until: float | None = None
    ) -> None:
        """Queue the new state (if any) and then the ack on the connection.

        The ack does not wait for the broker's PUBACK of the state: both go out on one
        connection, the state first, and the broker forwards them to the hub in that order
        (one publisher, one QoS: see `client`), so the hub has the state when it reads the
        ack. If the connection is gone, the state is published again on the next one (it
        stays dirty) and the ack is queued until `until` (the command's deadline).
        """
        until = time.time() + ACK_KEEP_S if until is None else until
        self._answered[ack.cid] = (device_id, ack, until)
        if len(self._answered) > _ANSWERED:
            self._answered.popitem(last=False)
        send = self.client.send
        try:
            if with_state:
                state = self._state_msg(device_id)
                lost = functools.partial(self._state_lost, device_id)
                send(state.topic, state.payload, retain=True, on_lost=lost)
        except FabricDisconnected:
            self._state_lost(device_id)
        try:
            lost = functools.partial(self._queue_ack, device_id, ack, until)
            send(self.topics.ack(device_id), dump(ack), on_lost=lost)
        except FabricDisconnected:
            self._queue_ack(device_id, ack, until)

    def _state_lost(self, device_id: str) -> None:
        self.memory.dirty.add(device_id)  # published again on the next connection
        self._wake.set()
