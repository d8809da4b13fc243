"""`FabricClient`: one MQTT connection that stays up while it is open, over aiomqtt.

It reconnects with bounded, jittered backoff (a broker restart is survived), subscribes again
to every registered topic filter on each connection, hands each incoming message to the
handlers of the filters it matches (one reader task, in arrival order), and runs `on_connect`
callbacks after each (re)connection so owners can republish their retained messages.

The fabric speaks MQTT 3.1.1: it is all the fabric needs (retained messages, last wills,
QoS 1, wildcards; EMQX shared subscriptions work with it too), every broker speaks it, and
amqtt — the in-process fallback broker — speaks nothing newer. Correlation ids travel in the
payloads, so nothing depends on MQTT 5 properties. Pass `protocol=` in the client kwargs to
use MQTT 5 against a broker that has it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, NamedTuple, Self

import aiomqtt

from hyperhub.errors import FabricDisconnected
from hyperhub.fabric.routes import Handler, Routes

log = logging.getLogger("hyperhub.fabric.client")

_SUBSCRIBE_CHUNK = 500  # filters per SUBSCRIBE packet
_PUBLISH_CHUNK = 1000  # publishes in flight at once in `publish_many`


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
            **self._kwargs,
            "identifier": self.client_id,
            "keepalive": self._keepalive,
            "timeout": self._connect_timeout,
        }
        if self.will is not None:
            kwargs["will"] = aiomqtt.Will(self.will.topic, self.will.payload, 1, self.will.retain)
        fabric = self

        class Inbox(asyncio.Queue):  # counts arrivals, so that `drain` knows what to wait for
            def put_nowait(self, item: aiomqtt.Message) -> None:
                super().put_nowait(item)
                fabric._received += 1

        kwargs["queue_type"] = Inbox
        client = aiomqtt.Client(**kwargs)
        client.pending_calls_threshold = 1_000_000  # many publishes in flight is normal here
        return client

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
                async for message in client.messages:
                    await self._dispatch(message)
            finally:
                self.connected.clear()
                self._client = None
                self._live.clear()
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

    async def _dispatch(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        for handler in self._routes.handlers(topic):
            try:
                result = handler(message)
                if result is not None:
                    await result
            except Exception:  # one bad message or handler must not stop the reader
                log.exception("%s: handler for %s failed", self.client_id, topic)
        self._handled += 1
        if self._drains:
            for target, waiter in self._drains:
                if self._handled >= target and not waiter.done():
                    waiter.set_result(None)
