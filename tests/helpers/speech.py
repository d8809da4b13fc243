"""Helpers of the voice tests: WAV files of any kind written by hand (so the reader is not
checked against itself), word error rate, and test signals."""

from __future__ import annotations

import re
import struct

import numpy as np

_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")


def wav_of(
    samples: np.ndarray,
    rate: int,
    *,
    bits: int = 16,
    floating: bool = False,
    extensible: bool = False,
    data_size: int | None = None,
) -> bytes:
    """A WAV file of `samples` (float in [-1, 1], (frames,) or (frames, channels)): integer
    PCM of `bits` (8: unsigned), or IEEE float of 32/64 bits; `extensible` writes
    WAVE_FORMAT_EXTENSIBLE; `data_size` overrides the data chunk's declared size."""
    x = samples if samples.ndim == 2 else samples[:, None]
    channels = x.shape[1]
    if floating:
        raw = x.astype("<f4" if bits == 32 else "<f8").tobytes()
    elif bits == 8:
        raw = (np.round(x * 127) + 128).astype(np.uint8).tobytes()
    elif bits == 24:
        ints = np.round(x * (2**23 - 1)).astype("<i4").reshape(-1)
        raw = b"".join(struct.pack("<i", int(v))[:3] for v in ints)
    else:
        raw = np.round(x * (2 ** (bits - 1) - 1)).astype(f"<i{bits // 8}").tobytes()
    tag = 3 if floating else 1
    align = channels * bits // 8
    fmt = struct.pack("<HHIIHH", 0xFFFE if extensible else tag, channels, rate, rate * align,
                      align, bits)  # fmt: skip
    if extensible:
        fmt += struct.pack("<HHI", 22, bits, (1 << channels) - 1)
        fmt += struct.pack("<H", tag) + _GUID_TAIL
    size = len(raw) if data_size is None else data_size
    body = b"WAVE" + _chunk(b"fmt ", fmt) + b"LIST" + struct.pack("<I", 4) + b"INFO"
    body += b"data" + struct.pack("<I", size) + raw + (b"\0" if len(raw) & 1 else b"")
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _chunk(name: bytes, data: bytes) -> bytes:
    return name + struct.pack("<I", len(data)) + data + (b"\0" if len(data) & 1 else b"")


def sine(freq: float, rate: int, seconds: float, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def words(text: str) -> list[str]:
    """Lower-case words without punctuation ("Turn off the light." → turn, off, the, light)."""
    return re.findall(r"[a-z0-9']+", text.lower())


def word_error_rate(expected: str, heard: str) -> float:
    """(substitutions + deletions + insertions) / words expected, over `words`."""
    ref, hyp = words(expected), words(heard)
    row = list(range(len(hyp) + 1))
    for i, r in enumerate(ref, 1):
        prev, row[0] = row[0], i
        for j, h in enumerate(hyp, 1):
            prev, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, prev + (r != h))
    return row[-1] / max(1, len(ref))
