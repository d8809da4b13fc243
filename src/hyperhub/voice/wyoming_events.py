"""Wyoming's events on a stream, read with bounds, and the audio they carry: shared by the
server (voice/wyoming.py) and the satellite (voice/satellite.py).

An event is a JSON header line (`type`, `data`, `data_length`, `payload_length`), then
`data_length` bytes of JSON merged into `data`, then `payload_length` bytes of payload (raw
PCM for audio-chunk). wyoming's own reader takes a broken event for the end of the stream
and reads any length; `read_event` tells the three apart and bounds every length.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from wyoming.event import Event, async_write_event

from hyperhub.errors import HyperHubError, UnsupportedLanguage
from hyperhub.voice.audio import Audio
from hyperhub.voice.stt import check_lang

_WIDTHS = {1: "u1", 2: "<i2", 4: "<i4"}  # bytes a sample → numpy's type (8-bit is unsigned)
AUDIO_WIDTHS = tuple(_WIDTHS)


@dataclass(frozen=True)
class Limits:
    """How long the server waits for what, and how much it takes."""

    idle_s: float = 300.0  # a connection that sends no event for this long is closed
    write_s: float = 30.0  # a client that does not read its answer for this long is dropped
    work_s: float = 120.0  # speech to text, text to speech, the assistant: each request
    max_audio_s: float = 60.0  # of speech to transcribe in one request
    max_text: int = 1000  # characters to speak in one request
    max_connections: int = 16
    max_header: int = 64 * 1024  # bytes of an event's JSON header line
    max_data: int = 1024 * 1024  # bytes of an event's extra data
    max_payload: int = 1024 * 1024  # bytes of an event's payload (one audio chunk)


class BadStream(Exception):
    """The bytes on a connection are not Wyoming events: it cannot be read any further."""


class ClientGone(Exception):
    """The client closed the connection in the middle of an event."""


async def read_event(reader: asyncio.StreamReader, limits: Limits = Limits()) -> Event | None:
    """The next event on `reader`, or None at the end of the stream (between events).
    `BadStream` for bytes that are not an event; `ClientGone` for a stream that ends inside
    one. (wyoming's own reader takes both for the end of the stream, and reads any length.)"""
    try:
        line = await reader.readuntil(b"\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial.strip():
            return None
        raise ClientGone("the connection closed in the middle of an event header") from None
    except asyncio.LimitOverrunError:
        raise BadStream(f"an event header longer than {limits.max_header} bytes") from None
    try:
        header = json.loads(line)
    except (ValueError, RecursionError):
        raise BadStream(f"an event header that is not JSON: {_show(line)}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BadStream(f'an event header without a "type": {_show(line)}')
    data = header.get("data") or {}
    if not isinstance(data, dict):
        raise BadStream(f'an event whose "data" is not an object: {_show(line)}')
    data_length = _length(header, "data_length", limits.max_data)
    payload_length = _length(header, "payload_length", limits.max_payload)
    try:
        if data_length:
            extra = json.loads(await reader.readexactly(data_length))
            if not isinstance(extra, dict):
                raise BadStream(f"the data of a {header['type']} event is not a JSON object")
            data = {**data, **extra}
        payload = await reader.readexactly(payload_length) if payload_length else None
    except asyncio.IncompleteReadError:
        what = header["type"]
        raise ClientGone(f"the connection closed in the middle of a {what} event") from None
    except (ValueError, RecursionError):
        raise BadStream(f"the data of a {header['type']} event is not JSON") from None
    return Event(type=header["type"], data=data, payload=payload)


def _length(header: dict[str, Any], key: str, most: int) -> int:
    value = header.get(key) or 0
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= most:
        raise BadStream(f"a {header['type']} event with {key} {value!r} (0 to {most} allowed)")
    return value


def _show(line: bytes) -> str:
    text = line.decode("utf-8", errors="replace").strip()
    return repr(text[:80] + ("…" if len(text) > 80 else ""))


def parse_uri(uri: str) -> tuple[str, int]:
    """(host, port) of tcp://HOST:PORT (port 0: any free one)."""
    parts = urlsplit(uri)
    try:
        port = parts.port
    except ValueError:
        port = None
    if parts.scheme != "tcp" or not parts.hostname or port is None:
        raise HyperHubError(f"{uri!r} is not a Wyoming address: give tcp://HOST:PORT")
    return parts.hostname, port


def wyoming_lang(code: str | None, known: tuple[str, ...]) -> str:
    """A client's language ("en-US", "zh_CN", "zh-hans", "auto"…) as HyperHub's ("en",
    "zh", "auto" when in `known`); `UnsupportedLanguage` for any other."""
    if code is not None and not isinstance(code, str):
        raise UnsupportedLanguage(f"a language must be a string like 'en', not {code!r}")
    if not code or code.lower() == "auto":
        return check_lang("auto", known)
    base = code.lower().replace("_", "-").split("-")[0]
    if base == "cmn":  # Mandarin's own code
        base = "zh"
    if base not in known or base == "auto":
        raise UnsupportedLanguage(f"language {code!r} is not spoken here: use en or zh")
    return base


def audio_of(pcm: bytes, rate: int, width: int, channels: int) -> Audio:
    """Raw little-endian PCM (Wyoming's audio-chunk payloads) as `Audio`."""
    frames = len(pcm) // (width * channels)
    ints = np.frombuffer(pcm[: frames * width * channels], dtype=_WIDTHS[width])
    if width == 1:
        samples = (ints.astype(np.float32) - 128.0) / 128.0
    else:
        samples = ints.astype(np.float32) / float(2 ** (8 * width - 1))
    shaped = samples.reshape(frames, channels)
    return Audio(shaped[:, 0].copy() if channels == 1 else shaped, rate)


def pcm16(audio: Audio) -> bytes:
    """`audio` as 16-bit little-endian PCM."""
    return (np.clip(audio.samples, -1.0, 1.0) * 32767.0).round().astype("<i2").tobytes()


async def write_event(event: Event, writer: asyncio.StreamWriter, timeout: float) -> None:
    """Send `event`; `TimeoutError` when the peer does not take it within `timeout` s."""
    await asyncio.wait_for(async_write_event(event, writer), timeout)
