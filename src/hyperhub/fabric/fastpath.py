"""The MQTT fast path: one paho connection's socket, read and written without paho's
per-packet layers (see `FastPath`). It replaces private parts of paho-mqtt, so it is pinned
to the paho release it was written for (pyproject.toml) and checked at start
(`check_paho`): when those parts are missing it fails loudly, naming them, rather than
misbehave. `HYPERHUB_MQTT_FASTPATH=0` turns it off: paho then reads and writes as usual
(slower, same behaviour; the fabric tests run both ways). MQTT 5 connections always use
paho's own way.
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from hyperhub.errors import BrokerError

if TYPE_CHECKING:
    from paho.mqtt.client import _OutPacket

log = logging.getLogger("hyperhub.fabric.client")
ENV = "HYPERHUB_MQTT_FASTPATH"  # "0": paho's own reads and writes
_READ_SIZE = 256 * 1024  # bytes read from the socket at once
# paho's private parts the fast path uses (stable through paho 2.x; pinned in pyproject.toml)
NEEDS = (
    "_sock",
    "_sock_recv",
    "_in_packet",
    "_out_packet",
    "_out_messages",
    "_out_message_mutex",
    "_do_on_publish",
    "_loop_rc_handle",
    "_mid_generate",
    "_registered_write",
    "_call_socket_register_write",
    "_last_bytes_received",
    "_protocol",
)


def enabled() -> bool:
    """Whether the fast path is on (`HYPERHUB_MQTT_FASTPATH` is not "0")."""
    return os.environ.get(ENV, "1").strip() != "0"


def missing(client: paho.Client) -> list[str]:
    """The private parts of paho `client` the fast path needs and does not find (or finds
    of another kind)."""
    gone = [name for name in NEEDS if not hasattr(client, name)]
    return gone + [
        f"{name} (not a {kind.__name__})"
        for name, kind in (("_in_packet", dict), ("_out_packet", collections.deque))
        if hasattr(client, name) and not isinstance(getattr(client, name), kind)
    ]


def unusable(gone: list[str]) -> BrokerError:
    """The error for a paho that lacks what the fast path needs: the parts, the way out."""
    from importlib.metadata import version

    return BrokerError(
        f"paho-mqtt {version('paho-mqtt')} lacks what HyperHub's MQTT fast path needs "
        f"({', '.join(gone)}): install the paho-mqtt that pyproject.toml pins, or set "
        f"{ENV}=0 to use paho's own reads and writes"
    )


_checked = False


def check_paho() -> None:
    """Fail loudly, once per process, when the fast path is on and the installed paho lacks
    what it needs (a paho release it was not written for): `BrokerError` names the parts
    and the two ways out."""
    global _checked
    if _checked or not enabled():
        return
    gone = missing(paho.Client(paho.CallbackAPIVersion.VERSION2))
    if gone:
        raise unusable(gone)
    _checked = True


_PUBACK = 0x40
_RAW = 0  # in paho's outgoing queue: bytes that need nothing from paho once sent
_PUBACK_OK = ReasonCode(PacketTypes.PUBACK)  # what paho hands on_publish for a 3.1.1 PUBACK
_NO_PROPERTIES = Properties(PacketTypes.PUBACK)


class FastPath:
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
    `_do_on_publish`, `_loop_rc_handle` and `_call_socket_register_write` (`NEEDS`; stable
    through paho 2.x); without them it refuses to start (`check_paho`).
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
    ) -> FastPath | None:
        """Take over `client`'s socket; None (paho reads and writes as usual) when the fast
        path is off or the connection speaks MQTT 5. Raises `BrokerError` when the paho
        underneath lacks what it needs (`check_paho`)."""
        if not enabled():
            return None
        inner = client._client
        if getattr(inner, "_protocol", None) != paho.MQTTv311:
            return None  # MQTT 5: paho's own way
        gone = missing(inner)  # `check_paho` looked at a probe at start; this is the client
        if gone:
            raise unusable(gone)
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

    def recv(self, bufsize: int) -> bytes:
        """paho's reads: from the buffer, refilled from the socket when empty."""
        if self._pos >= len(self._buf):
            data = self._recv(_READ_SIZE)  # raises BlockingIOError when there is nothing
            if not data:
                return data  # the connection closed
            self._buf, self._pos = data, 0
            self._client._last_bytes_received = time.monotonic()  # for paho's keepalive
        chunk = self._buf[self._pos : self._pos + bufsize]
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


def _packet(command: int, data: bytes | bytearray) -> _OutPacket:
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
