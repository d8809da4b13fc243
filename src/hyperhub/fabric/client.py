"""`FabricClient`: one MQTT connection that stays up while it is open, over aiomqtt.

It reconnects with bounded, jittered backoff (a broker restart is survived), subscribes again
to every registered topic filter on each connection, hands each incoming message to the
handlers of the filters it matches (one reader task, in arrival order), and runs `on_connect`
callbacks after each (re)connection so owners can republish their retained messages.

Reading is built for floods of small messages (`fastpath.FastPath`): the socket is read in 256 KiB
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
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiomqtt
import paho.mqtt.client as paho

from hyperhub.errors import FabricDisconnected
from hyperhub.fabric.fastpath import FastPath, check_paho
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.fabric.routes import Handler, Routes

log = logging.getLogger("hyperhub.fabric.client")
_handler_failed = WarnEvery(log)  # a handler failing on every message: one line per period

_SUBSCRIBE_CHUNK = 500  # filters per SUBSCRIBE packet
_PUBLISH_CHUNK = 1000  # publishes in flight at once in `publish_many`
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
        self._reads: FastPath | None = None  # the fast path of the current connection

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

    @property
    def fast(self) -> bool:
        """Whether the current connection uses the MQTT fast path (`fabric.fastpath`)."""
        return self._reads is not None

    def start(self) -> None:
        """Start connecting in the background (`connected` is set once the broker took us).
        Raises `BrokerError` at once when the MQTT fast path is on and the installed paho
        lacks what it needs (`fastpath.check_paho`)."""
        check_paho()
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
        else:  # paho's own way (MQTT 5, or the fast path turned off: HYPERHUB_MQTT_FASTPATH=0)
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
        self._reads = FastPath.install(client, deliver, acked, self.clean_session)
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
        reads: FastPath | None = getattr(message, "ack_by", None)
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
