"""`FabricClient`: one MQTT connection that stays up while it is open, over aiomqtt.

It reconnects with bounded, jittered backoff (a broker restart is survived), subscribes again
to every registered topic filter on each connection, hands each incoming message to the
handlers of the filters it matches (one reader task, in arrival order), and runs `on_connect`
callbacks after each (re)connection so owners can republish their retained messages.

Reading is built for floods of small messages (`_FastReads`): the socket is read in 256 KiB
chunks, QoS 0 publishes are taken apart without paho's per-packet layers, and the reader
task takes the messages in batches instead of one queue wake-up each.

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
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiomqtt
import paho.mqtt.client as paho

from hyperhub.errors import FabricDisconnected
from hyperhub.fabric.routes import Handler, Routes

log = logging.getLogger("hyperhub.fabric.client")

_SUBSCRIBE_CHUNK = 500  # filters per SUBSCRIBE packet
_PUBLISH_CHUNK = 1000  # publishes in flight at once in `publish_many`
_READ_SIZE = 256 * 1024  # bytes read from the socket at once
_BATCH = 2000  # messages handled before the reader lets other tasks run


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
    ) -> None:
        self.client_id = client_id
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

    async def publish(
        self, topic: str, payload: bytes | str, *, qos: int = 1, retain: bool = False
    ) -> None:
        """Publish one message; QoS 1 waits for the broker's acknowledgement.

        Raises `FabricDisconnected` when not connected or when the connection drops first.
        """
        client = self._client
        if client is None or not self.connected.is_set():
            raise FabricDisconnected(
                f"{self.client_id}: not connected to the broker at {self.where}; "
                f"cannot publish to {topic}"
            )
        try:
            await client.publish(
                topic, payload, qos=qos, retain=retain, timeout=self.publish_timeout
            )
        except aiomqtt.MqttError as exc:
            raise FabricDisconnected(
                f"{self.client_id}: publishing to {topic} failed: {exc}"
            ) from None
        self.published += 1

    async def publish_many(self, messages: Iterable[Outgoing], *, qos: int = 1) -> int:
        """Publish many messages, in order, with many in flight; returns how many.

        Raises `FabricDisconnected` if any of them failed (the others may have gone out).
        """
        batch = list(messages)
        for start in range(0, len(batch), _PUBLISH_CHUNK):
            chunk = batch[start : start + _PUBLISH_CHUNK]
            results = await asyncio.gather(
                *(self.publish(m.topic, m.payload, qos=qos, retain=m.retain) for m in chunk),
                return_exceptions=True,
            )
            for result in results:
                if isinstance(result, BaseException):
                    raise result
        return len(batch)

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
            "clean_session": True,
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
        _FastReads.install(client, deliver)
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
                self._live.clear()
                self._inbox.clear()  # what arrived on a lost connection is not handled
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
            budget = _BATCH
            while inbox:
                pending = self._dispatch(inbox.popleft())
                if pending is not None:
                    await pending
                budget -= 1
                if not budget:
                    budget = _BATCH
                    await asyncio.sleep(0)

    def _dispatch(self, message: aiomqtt.Message) -> Awaitable[None] | None:
        """Run the message's handlers in order; once one returns an awaitable, the rest run
        in the returned coroutine, which the caller awaits before the next message."""
        topic = message.topic.value
        handlers = self._routes.handlers(topic)
        for i, handler in enumerate(handlers):
            try:
                result = handler(message)
            except Exception:  # one bad message or handler must not stop the reader
                log.exception("%s: handler for %s failed", self.client_id, topic)
                continue
            if result is not None:
                return self._finish(message, result, handlers[i + 1 :])
        self._handled_one()
        return None

    async def _finish(
        self, message: aiomqtt.Message, pending: Awaitable[None], rest: list[Handler]
    ) -> None:
        topic = message.topic.value
        try:
            await pending
        except Exception:
            log.exception("%s: handler for %s failed", self.client_id, topic)
        for handler in rest:
            try:
                result = handler(message)
                if result is not None:
                    await result
            except Exception:
                log.exception("%s: handler for %s failed", self.client_id, topic)
        self._handled_one()

    def _handled_one(self) -> None:
        self._handled += 1
        if self._drains:
            for target, waiter in self._drains:
                if self._handled >= target and not waiter.done():
                    waiter.set_result(None)


class _FastReads:
    """The socket side of one paho connection, for floods of small messages and quick acks.

    paho reads a packet with two or three `recv` calls and aiomqtt calls `loop_read` (one
    packet) once per readiness event: four system calls, a loop wake-up and several Python
    layers per message. Here the socket is read 256 KiB at a time; QoS 0 PUBLISH packets of
    MQTT 3.1.1 are taken apart right here and handed to `deliver`, and every other packet
    (acks, QoS 1 publishes, pings) goes to paho in order, served from the same buffer.
    Outgoing packets are sent at once (`write_now`). Uses paho's `_sock_recv`, `_in_packet`
    and `_call_socket_register_write` (stable through paho 2.x); without them, no change.
    """

    def __init__(self, client: paho.Client, deliver: Callable[[aiomqtt.Message], None]) -> None:
        self._recv = client._sock_recv  # the original: maps TLS want-read to BlockingIOError
        self._loop_read = client.loop_read
        self._client = client
        self._deliver = deliver
        self._buf = b""
        self._pos = 0
        self._writing = False
        self._register_write: Callable[[], None] = lambda: None

    @classmethod
    def install(cls, client: aiomqtt.Client, deliver: Callable[[aiomqtt.Message], None]) -> None:
        inner = getattr(client, "_client", None)
        usable = (
            isinstance(inner, paho.Client)
            and hasattr(inner, "_sock_recv")
            and isinstance(getattr(inner, "_in_packet", None), dict)
            and hasattr(inner, "_registered_write")
            and getattr(inner, "_protocol", None) == paho.MQTTv311
        )
        if not usable:
            return  # another aiomqtt/paho or MQTT 5: paho reads as usual
        assert isinstance(inner, paho.Client)
        reads = cls(inner, deliver)
        inner._sock_recv = reads.recv  # type: ignore[method-assign]
        inner.loop_read = reads.loop_read  # type: ignore[method-assign]
        reads._register_write = inner._call_socket_register_write
        inner._call_socket_register_write = reads.write_now  # type: ignore[method-assign]

    def write_now(self) -> None:
        """Send what paho queued right away, as paho does without an event loop; only what
        the socket does not take waits for the loop's writer (aiomqtt defers every packet
        to it: two loop iterations and three system calls more per command and ack)."""
        client = self._client
        if not self._writing and not client._registered_write and client._sock is not None:
            self._writing = True
            try:
                client.loop_write()  # calls back here (then: to the loop) if not all went out
            finally:
                self._writing = False
            return
        self._register_write()

    def recv(self, size: int) -> bytes:
        """paho's reads: from the buffer, refilled from the socket when empty."""
        if self._pos >= len(self._buf):
            data = self._recv(_READ_SIZE)  # raises BlockingIOError when there is nothing
            if not data:
                return data  # the connection closed
            self._buf, self._pos = data, 0
        chunk = self._buf[self._pos : self._pos + size]
        self._pos += len(chunk)
        return chunk

    def loop_read(self, max_packets: int = 1) -> paho.MQTTErrorCode:
        """Handle every complete packet that has arrived; paho's return codes."""
        if self._pos >= len(self._buf) or self._client._in_packet["command"]:
            rc = self._loop_read(max_packets)  # fills the buffer, or finishes a split packet
            if rc != paho.MQTT_ERR_SUCCESS:
                return rc
        while self._pos < len(self._buf):
            if self._publish():
                continue
            rc = self._loop_read(max_packets)  # one packet that is not ours, or a split one
            if rc != paho.MQTT_ERR_SUCCESS or self._client._in_packet["command"]:
                return rc  # an error, or the rest of a packet is still on its way
        return paho.MQTT_ERR_SUCCESS

    def _publish(self) -> bool:
        """Take a whole QoS 0 PUBLISH off the buffer and deliver it; False if there is none."""
        buf, pos = self._buf, self._pos
        first = buf[pos]
        if first & 0xF6 != 0x30:  # not a PUBLISH, or QoS > 0 (DUP and RETAIN may be set)
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
        if topic_end > end:
            return False
        try:
            topic = buf[i + 2 : topic_end].decode()
        except UnicodeDecodeError:
            return False  # paho deals with it as it always did
        self._pos = end
        self._deliver(aiomqtt.Message(topic, buf[topic_end:end], 0, bool(first & 1), 0, None))
        return True
