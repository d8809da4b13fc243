"""A paced flood of pre-encoded MQTT publishes from a separate process (stdlib only).

The flood is a file of QoS 0 PUBLISH packets back to back plus the offset after each one;
`publish_flood` sends it over a plain socket, so the publisher costs next to no CPU and is
never what a benchmark measures. It is paced by its consumer through a `Control` file: it
never runs more than `window` messages ahead of what the consumer reports having taken, so a
slow consumer is measured at its own speed instead of overflowing the broker's queue.

    python -c "from bench.mqtt_flood import main; main()" SPEC_JSON
"""

from __future__ import annotations

import json
import mmap
import socket
import sys
import time
from array import array
from pathlib import Path
from typing import Any

_CONSUMED, _SENT, _FIRST_NS, _DONE_NS = range(4)  # int64 slots of the control file
_CHUNK = 256  # messages per send


def varint(n: int) -> bytes:
    """MQTT's variable-length "remaining length"."""
    out = bytearray()
    while True:
        n, digit = divmod(n, 128)
        out.append(digit | (0x80 if n else 0))
        if not n:
            return bytes(out)


def publish_packet(topic: str, payload: bytes, retain: bool = False) -> bytes:
    """One QoS 0 PUBLISH packet."""
    name = topic.encode()
    body = len(name).to_bytes(2, "big") + name + payload
    return bytes([0x30 | int(retain)]) + varint(len(body)) + body


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    """CONNECT, MQTT 3.1.1, clean session, no keepalive (the flood may wait on its consumer)."""

    def field(text: str) -> bytes:
        data = text.encode()
        return len(data).to_bytes(2, "big") + data

    body = field("MQTT") + bytes([4, 0xC2]) + (0).to_bytes(2, "big")
    body += field(client_id) + field(username) + field(password)
    return b"\x10" + varint(len(body)) + body


def write_flood(directory: Path, packets: list[bytes]) -> tuple[Path, Path]:
    """Write the packets and their end offsets; return both paths."""
    data, ends = directory / "flood.bin", directory / "flood.ends"
    offsets = array("q")
    total = 0
    with open(data, "wb") as f:
        for packet in packets:
            f.write(packet)
            total += len(packet)
            offsets.append(total)
    ends.write_bytes(offsets.tobytes())
    return data, ends


class Control:
    """Counters two processes share through a small memory-mapped file.

    The consumer sets `consumed`; the publisher sets `sent`, and the monotonic clock
    (CLOCK_MONOTONIC, the same in every process) at its first and last send.
    """

    SIZE = 64

    def __init__(self, path: Path, *, create: bool = False) -> None:
        if create:
            path.write_bytes(bytes(self.SIZE))
        self.path = path
        self._file = open(path, "r+b")  # noqa: SIM115 - closed in close()
        self._map = mmap.mmap(self._file.fileno(), self.SIZE)
        self._slots = memoryview(self._map).cast("q")

    def close(self) -> None:
        self._slots.release()
        self._map.close()
        self._file.close()

    @property
    def consumed(self) -> int:
        return self._slots[_CONSUMED]

    @consumed.setter
    def consumed(self, value: int) -> None:
        self._slots[_CONSUMED] = value

    @property
    def sent(self) -> int:
        return self._slots[_SENT]

    @property
    def first_ns(self) -> int:
        return self._slots[_FIRST_NS]

    @property
    def done_ns(self) -> int:
        return self._slots[_DONE_NS]

    def _set(self, slot: int, value: int) -> None:
        self._slots[slot] = value


def publish_flood(spec: dict[str, Any]) -> dict[str, Any]:
    """Connect as spec's user and send the flood, paced by the control file; return figures.

    spec: host, port, username, password, client_id, data, ends, control, window, timeout.
    """
    data = Path(spec["data"]).read_bytes()
    ends = array("q")
    ends.frombytes(Path(spec["ends"]).read_bytes())
    control = Control(Path(spec["control"]))
    window, count = int(spec["window"]), len(ends)
    deadline = time.monotonic() + float(spec["timeout"])
    view = memoryview(data)
    with socket.create_connection((spec["host"], spec["port"]), timeout=10) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        sock.sendall(connect_packet(spec["client_id"], spec["username"], spec["password"]))
        connack = sock.recv(4)
        if connack[:2] != b"\x20\x02" or connack[3:4] != b"\x00":
            raise SystemExit(f"broker refused the flood publisher: CONNACK {connack!r}")
        sent = 0
        while sent < count and time.monotonic() < deadline:
            allowed = min(count, control.consumed + window)
            if allowed <= sent:
                time.sleep(0.0003)
                continue
            end = min(allowed, sent + _CHUNK)
            if sent == 0:
                control._set(_FIRST_NS, time.monotonic_ns())
            sock.sendall(view[ends[sent - 1] if sent else 0 : ends[end - 1]])
            sent = end
            control._set(_SENT, sent)
        control._set(_DONE_NS, time.monotonic_ns())
        while control.consumed < sent and time.monotonic() < deadline:
            time.sleep(0.01)  # some brokers (amqtt) drop what is queued from a leaving client
        sock.sendall(b"\xe0\x00")  # DISCONNECT
    view.release()
    control.close()
    return {"sent": sent, "count": count}


def main() -> None:
    print(json.dumps(publish_flood(json.loads(sys.argv[1]))), flush=True)
