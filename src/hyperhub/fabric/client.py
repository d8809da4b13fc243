"""`FabricClient`: one MQTT connection that stays up while it is open, over aiomqtt.

It reconnects with bounded, jittered backoff (a broker restart is survived), subscribes again
to every registered topic filter on each connection, hands each incoming message to the
handlers of the filters it matches (one reader task, in arrival order), and runs `on_connect`
callbacks after each (re)connection so owners can republish their retained messages.

Reading is built for floods of small messages (`_FastReads`): the socket is read in 256 KiB
chunks, QoS 0 and QoS 1 publishes and PUBACKs are taken apart without paho's per-packet
layers, and the reader task takes the messages in batches instead of one queue wake-up each.

Writing is built for short round trips (a command and its ack): `send` queues a message on
the connection at once and returns a future for the broker's PUBACK, without a task or a
timer per message. What is queued while the event loop runs its callbacks leaves in one
`send` system call once they are done (and before the loop waits again), so a node's new
state, its ack and the PUBACK of the command it answers reach the broker in one TCP segment.
A QoS 1 message that arrives is acknowledged (PUBACK) as soon as it is read — the PUBACKs
of one read in one write — except with a persistent session (`clean_session=False`): then
only once its handlers are done, so that a message the client had not handled when the
connection dropped is sent again by the broker. (Acknowledging on arrival keeps the
broker's queue for us short: with a clean session, a message the broker sent again would
not reach us anyway, and what we have read but not handled waits in our inbox instead of
filling the broker's bounded queue, where a burst would be dropped.)

Order: everything published on one `FabricClient` leaves in the order it was queued (one
TCP connection, one outgoing queue, no retries on it: a message lost with a connection is
the owner's to send again). MQTT 3.1.1 §4.6 has the broker deliver one client's messages of
one topic and QoS to each subscriber in that order; Mosquitto handles one client's packets
one after the other and keeps one outgoing queue per subscriber, so the order holds across
topics too, for messages of the same QoS: a node's new state reaches the hub before the ack
it publishes after it.

The fabric speaks MQTT 3.1.1: it is all the fabric needs (retained messages, last wills,
QoS 1, wildcards; EMQX shared subscriptions work with it too), every broker speaks it, and
amqtt — the in-process fallback broker — speaks nothing newer. Correlation ids travel in the
payloads, so nothing depends on MQTT 5 properties. Pass `protocol=` in the client kwargs to
use MQTT 5 against a broker that has it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import socket
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hyperhub.errors import FabricDisconnected
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.fabric.routes import Handler, Routes

log = logging.getLogger("hyperhub.fabric.client")
_handler_failed = WarnEvery(log)  # a handler failing on every message: one line per period

_SUBSCRIBE_CHUNK = 500  # filters per SUBSCRIBE packet
_PUBLISH_CHUNK = 1000  # publishes in flight at once in `publish_many`
_READ_SIZE = 256 * 1024  # bytes read from the socket at once
_BATCH = 2000  # messages handled before the reader lets other tasks run…
_BATCH_S = 0.002  # …or seconds of handling (checked every _CHECK messages), whichever first
_CHECK = 16


class Outgoing(NamedTuple):
    """One message to publish."""

    topic: str
    payload: bytes | str
    retain: bool = False


class LastWill(NamedTuple):
    """What the broker publishes for us when our connection drops without a goodbye."""

    topic: str
    payload: bytes | str
    retain: bool = True


class FabricClient:
    """An MQTT connection that keeps itself up while open (`async with FabricClient(...)`).

    `client_kwargs` go to `aiomqtt.Client` (hostname, port, username, password, tls_context…,
    e.g. `BrokerURL.client_kwargs()`); the client id, will and keepalive are set here.
    """

    def __init__(
        self,
        client_kwargs: Mapping[str, Any],
        *,
        client_id: str,
        will: LastWill | None = None,
        keepalive: int = 10,
        publish_timeout: float = 5.0,
        connect_timeout: float = 5.0,
        backoff: tuple[float, float] = (0.1, 5.0),
        clean_session: bool = True,
    ) -> None:
        """`clean_session=False` keeps the session (subscriptions, and QoS 1 messages for
        them that arrive while we are away) on the broker between connections: use a
        stable `client_id`."""
        self.client_id = client_id
        self.clean_session = clean_session
        self.will = will
        self.publish_timeout = publish_timeout
        self.connected = asyncio.Event()
        self.connections = 0  # successful connections so far (1 + reconnects)
        self.published = 0  # messages the broker acknowledged (QoS 1) or took (QoS 0)
        self.refused: set[str] = set()  # filters the broker refused to subscribe (ACL)
        self._kwargs = dict(client_kwargs)
        self._keepalive = keepalive
        self._connect_timeout = connect_timeout
        self._backoff = backoff
        self._routes = Routes()
        self._live: set[str] = set()  # filters subscribed on the current connection
        self._client: aiomqtt.Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._session_task: asyncio.Task[None] | None = None
        self._on_connect: list[Callable[[], Awaitable[None]]] = []
        self._on_disconnect: list[Callable[[], None]] = []
        self._received = 0  # messages that arrived on the current connection
        self._handled = 0  # of those, how many the handlers are done with
        self._drains: list[tuple[int, asyncio.Future[None]]] = []
        self._inbox: collections.deque[aiomqtt.Message] = collections.deque()
        self._wake = asyncio.Event()  # set when the inbox gets messages
        # mid → (PUBACK, on_lost) of our QoS 1 messages on this connection
        self._sent: dict[int, tuple[asyncio.Future[None], Callable[[], None] | None]] = {}
        self._reads: _FastReads | None = None  # the fast path of the current connection

    @property
    def where(self) -> str:
        """host:port of the broker, for messages."""
        return f"{self._kwargs.get('hostname', '?')}:{self._kwargs.get('port', 1883)}"

    # -- lifecycle --------------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.close()

    def start(self) -> None:
        """Start connecting in the background (`connected` is set once the broker took us)."""
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name=f"fabric-client:{self.client_id}")

    async def close(self, timeout: float = 5.0) -> None:
        """Disconnect cleanly (no last will) and stop reconnecting."""
        task, self._task = self._task, None
        if task is None:
            return
        task.cancel()
        done, _ = await asyncio.wait({task}, timeout=timeout)
        if not done:
            log.warning("%s: the connection did not close within %g s", self.client_id, timeout)

    async def wait_connected(self, timeout: float) -> None:
        """Wait until connected, or raise `FabricDisconnected` after `timeout` seconds."""
        try:
            await asyncio.wait_for(self.connected.wait(), timeout)
        except TimeoutError:
            raise FabricDisconnected(
                f"{self.client_id}: no connection to the broker at {self.where} "
                f"within {timeout:g} s"
            ) from None

    def on_connect(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Run `callback` after every (re)connection, once subscriptions are in place."""
        self._on_connect.append(callback)

    def on_disconnect(self, callback: Callable[[], None]) -> None:
        """Call `callback` whenever a connection ends."""
        self._on_disconnect.append(callback)

    # -- subscriptions ----------------------------------------------------------------------

    async def subscribe(
        self, filters: str | Iterable[str], handler: Handler, qos: int = 1
    ) -> set[str]:
        """Route messages matching `filters` to `handler`, now and after every reconnect.

        Returns the filters the broker refused on the current connection (ACL); when not
        connected, the subscription happens on the next connection.
        """
        filters = [filters] if isinstance(filters, str) else list(filters)
        self._routes.add(filters, handler, qos)
        client = self._client
        if client is None or not self.connected.is_set():
            return set()
        try:
            return await self._send_subscribe(client, [f for f in filters if f not in self._live])
        except aiomqtt.MqttError as exc:
            raise FabricDisconnected(f"{self.client_id}: cannot subscribe: {exc}") from None

    async def unsubscribe(self, filters: str | Iterable[str]) -> None:
        """Stop routing `filters` and unsubscribe from them (best effort when disconnected)."""
        filters = [filters] if isinstance(filters, str) else list(filters)
        self._live.difference_update(filters)
        self._routes.remove(filters)
        client = self._client
        if client is not None and self.connected.is_set() and filters:
            with contextlib.suppress(aiomqtt.MqttError):
                for start in range(0, len(filters), _SUBSCRIBE_CHUNK):
                    chunk = filters[start : start + _SUBSCRIBE_CHUNK]
                    await client.unsubscribe(chunk, timeout=self._connect_timeout)

    async def drain(self, timeout: float) -> None:
        """Wait until every message that has arrived so far has been handled.

        After a QoS 1 publish returns, its PUBACK has arrived, and with it everything the
        broker sent before — e.g. the retained messages of a subscription made earlier.
        """
        target = self._received
        if self._handled >= target:
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._drains.append((target, waiter))
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            with contextlib.suppress(ValueError):
                self._drains.remove((target, waiter))

    # -- publishing -------------------------------------------------------------------------

    def send(
        self,
        topic: str,
        payload: bytes | str,
        *,
        qos: int = 1,
        retain: bool = False,
        on_lost: Callable[[], None] | None = None,
    ) -> asyncio.Future[None]:
        """Queue one message on the connection now, after everything queued before it.

        Returns a future that is done once the broker has it (QoS 1: its PUBACK; QoS 0: at
        once) and fails with `FabricDisconnected` if the connection drops first; nobody has
        to await it. `on_lost` is called in that last case (cheaper than a done callback,
        which costs every message a trip through the event loop). Raises
        `FabricDisconnected` at once when not connected.
        """
        client = self._client
        if client is None or not self.connected.is_set():
            raise FabricDisconnected(
                f"{self.client_id}: not connected to the broker at {self.where}; "
                f"cannot publish to {topic}"
            )
        reads = self._reads
        if reads is not None:
            mid = reads.publish(topic, payload, qos, retain, self._sent)
            if mid is None:
                raise FabricDisconnected(f"{self.client_id}: the connection is closing")
        else:  # paho's own way (MQTT 5, or a paho without the internals `_FastReads` uses)
            info = client._client.publish(topic, payload, qos, retain)
            if info.rc != paho.MQTT_ERR_SUCCESS:
                raise FabricDisconnected(
                    f"{self.client_id}: publishing to {topic} failed: {paho.error_string(info.rc)}"
                )
            mid = 0 if info.is_published() else info.mid
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if qos == 0 or not mid:
            self.published += 1
            future.set_result(None)
        else:
            self._sent[mid] = (future, on_lost)
        return future

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish one message; QoS 1 waits for the broker's acknowledgement.

        Raises `FabricDisconnected` when not connected, when the connection drops first, or
        after `publish_timeout` seconds without an acknowledgement.
        """
        await self._settle([self.send(topic, payload, qos=qos, retain=retain)], topic)

    async def publish_many(self, messages: Iterable[Outgoing], *, qos: int = 1) -> int:
        """Publish many messages, in order, with many in flight; returns how many.

        Raises `FabricDisconnected` if any of them failed (the others may have gone out).
        """
        batch = list(messages)
        for start in range(0, len(batch), _PUBLISH_CHUNK):
            chunk = batch[start : start + _PUBLISH_CHUNK]
            sent = [self.send(m.topic, m.payload, qos=qos, retain=m.retain) for m in chunk]
            await self._settle(sent, f"{len(chunk)} messages")
        return len(batch)

    async def _settle(self, sent: list[asyncio.Future[None]], what: str) -> None:
        """Wait until the broker has all of `sent` (at most `publish_timeout` seconds)."""
        pending = [f for f in sent if not f.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=self.publish_timeout)
            if late:
                raise FabricDisconnected(
                    f"{self.client_id}: the broker did not acknowledge {what} within "
                    f"{self.publish_timeout:g} s"
                )
        for future in sent:
            future.result()  # raises the first failure

    def _acked(self, mid: int) -> bool:
        """The broker acknowledged our QoS 1 message `mid`; False if it is not ours."""
        sent = self._sent.pop(mid, None)
        if sent is None:
            return False
        self.published += 1
        if not sent[0].done():
            sent[0].set_result(None)
        return True

    def _fail_sent(self) -> None:
        sent, self._sent = self._sent, {}
        for future, on_lost in sent.values():
            if not future.done():
                future.add_done_callback(_retrieved)  # nobody may be waiting for it
                future.set_exception(
                    FabricDisconnected(f"{self.client_id}: the connection dropped before the ack")
                )
            if on_lost is not None:
                try:
                    on_lost()
                except Exception:
                    log.exception("%s: on_lost callback failed", self.client_id)

    # -- the connection ---------------------------------------------------------------------

    async def _run(self) -> None:
        delay = self._backoff[0]
        failures = 0  # in a row; the first is a warning, the retries are info
        while True:
            before = self.connections
            try:
                await self._session()
            except aiomqtt.MqttError as exc:
                failures = 1 if self.connections > before else failures + 1
                level = logging.WARNING if failures == 1 else logging.INFO
                log.log(level, "%s: broker at %s: %s; retrying", self.client_id, self.where, exc)
            except Exception:  # a bug in a callback must not end the connection loop
                log.exception("%s: connection loop error", self.client_id)
            if self.connections > before:
                delay = self._backoff[0]
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, self._backoff[1])

    def _make_client(self) -> aiomqtt.Client:
        kwargs: dict[str, Any] = {
            "protocol": aiomqtt.ProtocolVersion.V311,
            "clean_session": self.clean_session,
            "max_inflight_messages": 256,
            # Without it Nagle holds a command back until the broker's delayed ACK (~40 ms).
            "socket_options": [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)],
            **self._kwargs,
            "identifier": self.client_id,
            "keepalive": self._keepalive,
            "timeout": self._connect_timeout,
        }
        if self.will is not None:
            kwargs["will"] = aiomqtt.Will(self.will.topic, self.will.payload, 1, self.will.retain)
        deliver = self._deliver

        class Inbox(asyncio.Queue):  # aiomqtt's queue: diverted to our batch, and counted
            def put_nowait(self, item: aiomqtt.Message) -> None:
                deliver(item)

        kwargs["queue_type"] = Inbox
        client = aiomqtt.Client(**kwargs)
        client.pending_calls_threshold = 1_000_000  # many publishes in flight is normal here
        inner = client._client
        on_publish = inner.on_publish  # aiomqtt's, for its own publish() (not used here)
        acked = self._acked

        def published(c: paho.Client, userdata: Any, mid: int, *rest: Any) -> None:
            if not acked(mid) and on_publish is not None:
                on_publish(c, userdata, mid, *rest)

        inner.on_publish = published
        self._reads = _FastReads.install(client, deliver, acked, self.clean_session)
        return client

    def _deliver(self, message: aiomqtt.Message) -> None:
        """A message arrived: into the inbox, counted, and the reader woken."""
        self._inbox.append(message)
        self._received += 1
        if not self._wake.is_set():
            self._wake.set()

    async def _session(self) -> None:
        client = self._make_client()
        self._received = self._handled = 0
        async with client:
            self._client = client
            try:
                while missing := [f for f in self._routes.qos if f not in self._live]:
                    await self._send_subscribe(client, missing)
                self.connections += 1
                self.connected.set()
                log.info("%s: connected to %s", self.client_id, self.where)
                self._session_task = asyncio.create_task(
                    self._run_on_connect(), name=f"fabric-session:{self.client_id}"
                )
                reader = asyncio.create_task(
                    self._read_inbox(), name=f"fabric-reader:{self.client_id}"
                )
                try:
                    async for message in client.messages:  # only ends the session: see Inbox
                        pending = self._dispatch(message)
                        if pending is not None:
                            await pending
                finally:
                    reader.cancel()
                    await asyncio.wait({reader}, timeout=self._connect_timeout)
            finally:
                self.connected.clear()
                self._client = None
                self._reads = None
                self._live.clear()
                self._inbox.clear()  # what arrived on a lost connection is not handled
                self._fail_sent()
                for _, waiter in self._drains:
                    if not waiter.done():
                        waiter.set_exception(FabricDisconnected(f"{self.client_id}: disconnected"))
                await self._end_session_task()
                for callback in self._on_disconnect:
                    try:
                        callback()
                    except Exception:
                        log.exception("%s: on_disconnect callback failed", self.client_id)

    async def _send_subscribe(self, client: aiomqtt.Client, filters: list[str]) -> set[str]:
        refused: set[str] = set()
        for start in range(0, len(filters), _SUBSCRIBE_CHUNK):
            chunk = filters[start : start + _SUBSCRIBE_CHUNK]
            codes = await client.subscribe(
                [(f, self._routes.qos.get(f, 1)) for f in chunk], timeout=self._connect_timeout
            )
            for f, code in zip(chunk, codes, strict=False):
                failed = getattr(code, "is_failure", False) or code == 0x80
                if failed:
                    refused.add(f)
            self._live.update(chunk)
        if refused:
            log.warning("%s: the broker refused %s", self.client_id, ", ".join(sorted(refused)))
        self.refused = (self.refused - set(filters)) | refused
        return refused

    async def _run_on_connect(self) -> None:
        for callback in self._on_connect:
            try:
                await callback()
            except FabricDisconnected as exc:
                log.info("%s: connection lost while resyncing: %s", self.client_id, exc)
                return
            except Exception:
                log.exception("%s: on_connect callback failed", self.client_id)

    async def _end_session_task(self) -> None:
        task, self._session_task = self._session_task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.wait({task}, timeout=self._connect_timeout)

    async def _read_inbox(self) -> None:
        """Hand the messages of the inbox to their handlers, in order, a batch at a time."""
        inbox, wake = self._inbox, self._wake
        while True:
            await wake.wait()
            wake.clear()
            budget, until = _BATCH, time.monotonic() + _BATCH_S
            while inbox:
                pending = self._dispatch(inbox.popleft())
                if pending is not None:
                    await pending
                budget -= 1
                if not budget or (not budget % _CHECK and time.monotonic() > until):
                    # let the socket be read meanwhile: the broker sends a subscriber only
                    # so many QoS 1 messages (Mosquitto: 100) until it has their PUBACKs
                    self._ack_handled()
                    await asyncio.sleep(0)
                    budget, until = _BATCH, time.monotonic() + _BATCH_S
            self._ack_handled()

    def _ack_handled(self) -> None:
        """Send the PUBACKs of what was handled, after the callbacks the handlers made ready
        (e.g. the task waiting for a command's ack, which may then add its next command)."""
        reads = self._reads
        if reads is not None:
            reads.flush_soon()

    def _dispatch(self, message: aiomqtt.Message) -> Awaitable[None] | None:
        """Run the message's handlers in order; once one returns an awaitable, the rest run
        in the returned coroutine, which the caller awaits before the next message."""
        topic = message.topic.value
        handlers = self._routes.handlers(topic)
        for i, handler in enumerate(handlers):
            try:
                result = handler(message)
            except Exception:  # one bad message or handler must not stop the reader
                self._failed(handler, topic)
                continue
            if result is not None:
                return self._finish(message, result, handler, handlers[i + 1 :])
        self._handled_one(message)
        return None

    def _failed(self, handler: Handler, topic: str) -> None:
        """Log the failure being handled, once per handler and period (whatever the topic)."""
        key = f"{self.client_id}:{id(handler)}"
        _handler_failed.exception(key, "%s: handler for %s failed", self.client_id, topic)

    async def _finish(
        self,
        message: aiomqtt.Message,
        pending: Awaitable[None],
        handler: Handler,
        rest: list[Handler],
    ) -> None:
        topic = message.topic.value
        try:
            await pending
        except Exception:
            self._failed(handler, topic)
        for handler in rest:
            try:
                result = handler(message)
                if result is not None:
                    await result
            except Exception:
                self._failed(handler, topic)
        self._handled_one(message)

    def _handled_one(self, message: aiomqtt.Message) -> None:
        reads: _FastReads | None = getattr(message, "ack_by", None)
        if reads is not None:
            reads.puback(message.mid)  # handled: the broker may forget it now
        self._handled += 1
        if self._drains:
            for target, waiter in self._drains:
                if self._handled >= target and not waiter.done():
                    waiter.set_result(None)


def _retrieved(future: asyncio.Future[None]) -> None:
    """Mark a failure as seen: a `send` nobody awaited must not log "never retrieved"."""
    if not future.cancelled():
        future.exception()


_PUBACK = 0x40
_RAW = 0  # in paho's outgoing queue: bytes that need nothing from paho once sent
_PUBACK_OK = ReasonCode(PacketTypes.PUBACK)  # what paho hands on_publish for a 3.1.1 PUBACK
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class _FastReads:
    """The socket side of one paho connection, for floods of small messages and quick acks.

    paho reads a packet with two or three `recv` calls and aiomqtt calls `loop_read` (one
    packet) once per readiness event: four system calls, a loop wake-up and several Python
    layers per message. Here the socket is read 256 KiB at a time; PUBLISH packets of QoS 0
    and 1 and PUBACKs (MQTT 3.1.1) are taken apart right here — publishes go to `deliver`, a
    PUBACK settles our message as paho would — and every other packet (QoS 2, SUBACK,
    pings…) goes to paho in order, served from the same buffer.

    A QoS 1 message is acknowledged on arrival (`ack_on_arrival`: the PUBACKs of one read go
    out together right after it), or else when `puback` is called (once handled). Outgoing
    packets are not written one by one: the first one queued schedules a `_flush`
    at the end of the event loop's current round, which sends everything queued by then in
    one system call. Uses paho's `_sock_recv`, `_in_packet`, `_out_packet`, `_out_messages`,
    `_do_on_publish`, `_loop_rc_handle` and `_call_socket_register_write` (stable through
    paho 2.x); without them, paho reads and writes as usual.
    """

    def __init__(
        self,
        client: paho.Client,
        deliver: Callable[[aiomqtt.Message], None],
        acked: Callable[[int], bool],
        ack_on_arrival: bool,
    ) -> None:
        self._recv = client._sock_recv  # the original: maps TLS want-read to BlockingIOError
        self._acked = acked
        self._ack_on_arrival = ack_on_arrival
        self._loop_read = client.loop_read
        self._client = client
        self._deliver = deliver
        self._buf = b""
        self._pos = 0
        self._acks = bytearray()  # PUBACKs to send with the next flush
        self._writing = False
        self._flush_at: asyncio.Handle | None = None
        self._loop = asyncio.get_running_loop()
        self._thread = threading.get_ident()  # the event loop's
        self._register_write: Callable[[], None] = lambda: None

    @classmethod
    def install(
        cls,
        client: aiomqtt.Client,
        deliver: Callable[[aiomqtt.Message], None],
        acked: Callable[[int], bool],
        ack_on_arrival: bool,
    ) -> _FastReads | None:
        inner = getattr(client, "_client", None)
        usable = (
            isinstance(inner, paho.Client)
            and hasattr(inner, "_sock_recv")
            and isinstance(getattr(inner, "_in_packet", None), dict)
            and isinstance(getattr(inner, "_out_packet", None), collections.deque)
            and isinstance(getattr(inner, "_out_messages", None), dict)
            and hasattr(inner, "_do_on_publish")
            and hasattr(inner, "_loop_rc_handle")
            and hasattr(inner, "_mid_generate")
            and hasattr(inner, "_registered_write")
            and getattr(inner, "_protocol", None) == paho.MQTTv311
        )
        if not usable:
            return None  # another aiomqtt/paho or MQTT 5: paho reads and writes as usual
        assert isinstance(inner, paho.Client)
        reads = cls(inner, deliver, acked, ack_on_arrival)
        inner._sock_recv = reads.recv  # type: ignore[method-assign]
        inner.loop_read = reads.loop_read  # type: ignore[method-assign]
        reads._register_write = inner._call_socket_register_write
        inner._call_socket_register_write = reads.write_soon  # type: ignore[method-assign]
        return reads

    # -- writing ----------------------------------------------------------------------------

    def publish(
        self,
        topic: str,
        payload: bytes | str,
        qos: int,
        retain: bool,
        taken: Mapping[int, object],
    ) -> int | None:
        """Queue one PUBLISH (QoS 0 or 1) as paho would, without its per-message objects;
        returns its packet id (0 for QoS 0; a QoS 1 id is not in `taken`), or None when
        the connection is closing. The PUBACK goes to `acked`."""
        client = self._client
        if client._sock is None:
            return None
        if qos not in (0, 1):
            raise ValueError(f"QoS {qos} is not supported here")
        name = topic.encode()
        if not name or len(name) > 65535 or b"+" in name or b"#" in name:
            raise ValueError(f"cannot publish to the topic {topic!r}")
        body = payload.encode() if isinstance(payload, str) else payload
        mid = 0
        if qos:
            mid = client._mid_generate()
            while mid in taken:
                mid = client._mid_generate()
        remaining = 2 + len(name) + 2 * qos + len(body)
        if remaining > 268_435_455:
            raise ValueError(f"a payload of {len(body)} bytes is too large for MQTT")
        packet = bytearray((0x30 | qos << 1 | bool(retain),))
        while True:
            byte, remaining = remaining & 0x7F, remaining >> 7
            packet.append(byte | 0x80 if remaining else byte)
            if not remaining:
                break
        packet += len(name).to_bytes(2, "big")
        packet += name
        if qos:
            packet += mid.to_bytes(2, "big")
        packet += body
        client._out_packet.append(_packet(_RAW, packet))
        if self._flush_at is None:
            self._flush_at = self._loop.call_soon(self._flush)
        return mid

    def write_soon(self) -> None:
        """paho queued a packet: send it, with whatever else is queued by then, once the
        callbacks of this round of the event loop have run (aiomqtt would defer every packet
        to the loop's writer: two loop rounds and three system calls more per packet)."""
        if self._writing:
            self._register_write()  # the socket is full: the loop's writer goes on
            return
        if threading.get_ident() != self._thread:  # CONNECT, from aiomqtt's connecting thread
            self._writing = True
            try:
                self._client.loop_write()
            finally:
                self._writing = False
            return
        if self._flush_at is None:
            self._flush_at = self._loop.call_soon(self._flush)

    def puback(self, mid: int) -> None:
        """Acknowledge the QoS 1 message `mid` (of this connection) with the next flush
        (`flush_soon`, or anything sent before)."""
        if self._client._sock is None:
            return  # that connection is gone; a persistent session gets the message again
        self._acks += bytes((_PUBACK, 2, mid >> 8, mid & 0xFF))

    def flush_soon(self) -> None:
        """Schedule a flush if PUBACKs are waiting."""
        if self._acks and self._flush_at is None:
            self._flush_at = self._loop.call_soon(self._flush)

    def _flush(self) -> None:
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        client = self._client
        if client._sock is None:
            return
        out = client._out_packet
        if self._acks:
            acks, self._acks = bytes(self._acks), bytearray()
            out.append(_packet(_RAW, acks))
        if client._registered_write:
            return  # the socket was full: the loop's writer sends it when it can
        _coalesce(out)
        self._writing = True
        try:
            client.loop_write()  # calls write_soon (then: the loop's writer) if not all went
        finally:
            self._writing = False

    # -- reading ----------------------------------------------------------------------------

    def recv(self, size: int) -> bytes:
        """paho's reads: from the buffer, refilled from the socket when empty."""
        if self._pos >= len(self._buf):
            data = self._recv(_READ_SIZE)  # raises BlockingIOError when there is nothing
            if not data:
                return data  # the connection closed
            self._buf, self._pos = data, 0
            self._client._last_bytes_received = time.monotonic()  # for paho's keepalive
        chunk = self._buf[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Handle every complete packet that has arrived; paho's return codes."""
        client = self._client
        if client._in_packet["command"]:
            rc = self._loop_read(max_packets)  # finishes a split packet
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
        elif self._pos >= len(self._buf):
            if client._sock is None:
                return paho.MQTT_ERR_NO_CONN
            try:
                data = self._recv(_READ_SIZE)
            except BlockingIOError:
                return paho.MQTT_ERR_SUCCESS  # nothing after all
            except OSError as exc:
                log.debug("reading from the broker failed: %s", exc)
                data = b""
            if not data:
                return client._loop_rc_handle(paho.MQTT_ERR_CONN_LOST)  # as paho does
            self._buf, self._pos = data, 0
            client._last_bytes_received = time.monotonic()  # for paho's keepalive
        rc = paho.MQTT_ERR_SUCCESS
        while self._pos < len(self._buf):
            if self._take():
                continue
            rc = self._loop_read(max_packets)  # one packet that is not ours, or a split one
            if rc != paho.MQTT_ERR_SUCCESS or self._client._in_packet["command"]:
                break  # an error, or the rest of a packet is still on its way
        if self._acks and self._ack_on_arrival:
            # the PUBACKs of this read, now: the broker has at most its window of QoS 1
            # messages in flight to us (Mosquitto: 100) and sends more only once acked
            self._flush()
        return rc

    def _take(self) -> bool:
        """Take one whole PUBLISH (QoS 0/1) or PUBACK off the buffer; False if there is none."""
        buf, pos = self._buf, self._pos
        first = buf[pos]
        kind = first & 0xF0
        if kind == _PUBACK:
            if first != _PUBACK or pos + 4 > len(buf) or buf[pos + 1] != 2:
                return False
            self._pos = pos + 4
            self._settle((buf[pos + 2] << 8) | buf[pos + 3])
            return True
        qos = (first >> 1) & 3
        if kind != 0x30 or qos > 1:  # not a PUBLISH, or QoS 2 (DUP and RETAIN may be set)
            return False
        length, shift, i = 0, 0, pos + 1
        while True:
            if i >= len(buf) or shift > 21:
                return False
            byte = buf[i]
            length += (byte & 0x7F) << shift
            shift += 7
            i += 1
            if not byte & 0x80:
                break
        end = i + length
        if end > len(buf) or length < 2:
            return False
        topic_end = i + 2 + int.from_bytes(buf[i : i + 2], "big")
        body = topic_end + 2 * qos  # QoS 1: the packet id comes first
        if body > end:
            return False
        try:
            topic = buf[i + 2 : topic_end].decode()
        except UnicodeDecodeError:
            return False  # paho deals with it as it always did
        self._pos = end
        mid = int.from_bytes(buf[topic_end:body], "big") if qos else 0
        message = aiomqtt.Message(topic, buf[body:end], qos, bool(first & 1), mid, None)
        if qos:
            message.dup = bool(first & 0x08)  # type: ignore[attr-defined]
            if self._ack_on_arrival:
                self._acks += bytes((_PUBACK, 2, mid >> 8, mid & 0xFF))
            else:
                message.ack_by = self  # type: ignore[attr-defined]
        self._deliver(message)
        return True

    def _settle(self, mid: int) -> None:
        """A PUBACK: ours (`publish`), or what paho's `_handle_pubackcomp` does for one of
        paho's, without building its objects."""
        if self._acked(mid):
            return
        client = self._client
        with client._out_message_mutex:
            if mid in client._out_messages:
                client._do_on_publish(mid, _PUBACK_OK, _NO_PROPERTIES)


def _packet(command: int, data: bytes | bytearray) -> dict[str, Any]:
    """An entry of paho's outgoing queue that paho has nothing to do for once it is sent."""
    return {
        "command": command,
        "mid": 0,
        "qos": 0,
        "pos": 0,
        "to_process": len(data),
        "packet": data,
        "info": None,
    }


def _coalesce(out: collections.deque[Any]) -> None:
    """Join paho's queued packets into as few as can go out in one send: all but QoS 0
    PUBLISH and DISCONNECT, which paho has to see off one by one."""
    if len(out) < 2:
        return
    merged: list[Any] = []
    run: list[Any] = []

    def close_run() -> None:
        if len(run) == 1:
            merged.append(run[0])
        elif run:
            parts = [bytes(p["packet"][p["pos"] :]) for p in run]
            merged.append(_packet(_RAW, b"".join(parts)))
        run.clear()

    for packet in out:
        command = packet["command"] & 0xF0
        if command == paho.DISCONNECT or (command == paho.PUBLISH and packet["qos"] == 0):
            close_run()
            merged.append(packet)
        else:
            run.append(packet)
    close_run()
    if len(merged) < len(out):
        out.clear()
        out.extend(merged)
