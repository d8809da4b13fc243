"""Audio in and out: WAV files of any common kind read into `Audio`, mixed to mono and
resampled to the rate a model wants; 16-bit PCM WAV written out.

`parse_wav` reads the RIFF chunks itself (the standard `wave` module of Python 3.11 reads
integer PCM only): integer PCM of 8, 16, 24 or 32 bits, IEEE float of 32 or 64 bits,
`WAVE_FORMAT_EXTENSIBLE` of either, any rate, any number of channels. A data chunk whose
size is a streaming placeholder (a writer that cannot seek back, such as `espeak-ng
--stdout`) runs to the end of the file; any other size larger than the file is truncation.
"""

from __future__ import annotations

import io
import itertools
import struct
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from hyperhub.errors import AudioError

Samples = npt.NDArray[np.float32]

STT_RATE = 16_000  # what Whisper listens to
_PCM, _FLOAT, _EXTENSIBLE = 0x0001, 0x0003, 0xFFFE
_KNOWN = {0x0006: "A-law", 0x0007: "µ-law", 0x0002: "ADPCM", 0x0011: "IMA ADPCM", 0x0055: "MP3"}
# the GUID tail every WAVE_FORMAT_EXTENSIBLE subformat shares (its first 2 bytes: the format)
_GUID_TAIL = bytes.fromhex("000000001000800000aa00389b71")
_PLACEHOLDER = 0x7FFF0000  # sizes at or above this are "unknown, until the end of the stream"


@dataclass(frozen=True)
class Audio:
    """Samples as float32 in [-1, 1], shaped (frames,) for mono or (frames, channels)."""

    samples: Samples
    rate: int

    @property
    def channels(self) -> int:
        return 1 if self.samples.ndim == 1 else int(self.samples.shape[1])

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate

    def mono(self) -> Audio:
        """The channels averaged into one."""
        if self.samples.ndim == 1:
            return self
        return Audio(self.samples.mean(axis=1, dtype=np.float32), self.rate)

    def at(self, rate: int) -> Audio:
        """The same sound at another sample rate (band-limited: nothing above either
        rate's Nyquist frequency folds back)."""
        return Audio(resample(self.samples, self.rate, rate), rate)

    def for_stt(self) -> Samples:
        """Mono float32 at 16 kHz, as the speech-to-text model takes it."""
        return self.mono().at(STT_RATE).samples

    def rms(self) -> float:
        """Root mean square level (0 for silence, ~0.7 for a full-scale sine)."""
        if not len(self.samples):
            return 0.0
        return float(np.sqrt(np.mean(np.square(self.samples, dtype=np.float64))))


def read_wav(path: Path) -> Audio:
    """The WAV file at `path`; `AudioError` saying why when it cannot be read."""
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise AudioError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise AudioError(f"{path} is a folder, not a WAV file") from None
    except OSError as exc:
        raise AudioError(f"cannot read {path}: {exc.strerror or exc}") from None
    return parse_wav(data, str(path))


def parse_wav(data: bytes, name: str = "the audio") -> Audio:
    """The WAV in `data` (`name` for messages): see the module's docstring for the kinds."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        kind = "empty" if not data else "not a WAV file (no RIFF/WAVE header)"
        raise AudioError(f"{name} is {kind}; give a WAV file (PCM or float)")
    fmt: bytes | None = None
    pos = 12
    while pos + 8 <= len(data):
        chunk_id, size = data[pos : pos + 4], struct.unpack_from("<I", data, pos + 4)[0]
        body = pos + 8
        if chunk_id == b"fmt ":
            fmt = data[body : body + size]
        elif chunk_id == b"data":
            if fmt is None:
                raise AudioError(f"{name} is a broken WAV file: its data comes before its format")
            if body + size > len(data):
                if size < _PLACEHOLDER:
                    raise AudioError(
                        f"{name} is a truncated WAV file: its header promises {size} bytes of "
                        f"audio, the file holds {len(data) - body}"
                    )
                size = len(data) - body
            return _decode(fmt, data[body : body + size], name)
        pos = body + size + (size & 1)  # chunks are padded to an even length
    what = "format" if fmt is None else "audio data"
    raise AudioError(f"{name} is a broken WAV file: no {what} chunk")


def _decode(fmt: bytes, raw: bytes, name: str) -> Audio:
    if len(fmt) < 16:
        raise AudioError(f"{name} is a broken WAV file: its format chunk is too short")
    tag, channels, rate, _, align, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _EXTENSIBLE and len(fmt) >= 40:
        sub = fmt[24:40]
        tag = struct.unpack_from("<H", sub)[0] if sub[2:] == _GUID_TAIL[:14] else -1
    if tag not in (_PCM, _FLOAT):
        kind = _KNOWN.get(tag, f"format tag {tag:#06x}")
        raise AudioError(
            f"{name} is {kind} audio, which HyperHub does not read; convert it to PCM "
            f"(e.g. `sox in.wav -e signed -b 16 out.wav`)"
        )
    width = bits // 8
    if not channels or not rate or bits % 8 or align != width * channels:
        raise AudioError(
            f"{name} is a broken WAV file: {channels} channels, {rate} Hz, {bits} bits, "
            f"{align} bytes a frame do not fit together"
        )
    if (tag, width) not in {(_PCM, 1), (_PCM, 2), (_PCM, 3), (_PCM, 4), (_FLOAT, 4), (_FLOAT, 8)}:
        kind = "float" if tag == _FLOAT else "PCM"
        raise AudioError(f"{name} is {bits}-bit {kind}, which HyperHub does not read")
    frames = len(raw) // align
    if not frames:
        raise AudioError(f"{name} holds no audio (0 samples)")
    raw = raw[: frames * align]
    samples: npt.NDArray[np.floating]
    if tag == _FLOAT:
        samples = np.frombuffer(raw, dtype="<f4" if width == 4 else "<f8")
        samples = np.nan_to_num(samples, nan=0.0, posinf=1.0, neginf=-1.0)
    elif width == 1:  # 8-bit WAV is unsigned
        samples = (np.frombuffer(raw, dtype=np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 3:  # 24-bit: place each 3-byte sample in the top of an int32
        b = np.frombuffer(raw, dtype=np.uint8).reshape(-1, 3).astype(np.uint32)
        joined = (b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)
        samples = joined.view(np.int32).astype(np.float32) / 2.0**31
    else:
        ints = np.frombuffer(raw, dtype="<i2" if width == 2 else "<i4")
        samples = ints.astype(np.float32) / float(2 ** (bits - 1))
    shaped = np.clip(samples.astype(np.float32), -1.0, 1.0).reshape(frames, channels)
    return Audio(shaped[:, 0].copy() if channels == 1 else shaped, rate)


def wav_bytes(audio: Audio) -> bytes:
    """`audio` as a 16-bit PCM WAV file."""
    ints = np.round(np.clip(audio.samples, -1.0, 1.0) * 32767.0).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as w:
        w.setnchannels(audio.channels)
        w.setsampwidth(2)
        w.setframerate(audio.rate)
        w.writeframes(ints.tobytes())
    return buffer.getvalue()


def write_wav(path: Path, audio: Audio) -> None:
    """Write `audio` to `path` as a 16-bit PCM WAV (at once: a reader never sees half)."""
    from hyperhub.files import write_atomic

    try:
        write_atomic(Path(path), wav_bytes(audio))
    except OSError as exc:
        raise AudioError(f"cannot write {path}: {exc.strerror or exc}") from None


def resample(samples: Samples, src: int, dst: int, *, zero_crossings: int = 16) -> Samples:
    """`samples` (mono or frames × channels) from `src` Hz to `dst` Hz by band-limited
    interpolation: a Kaiser-windowed sinc, cut off at the lower of the two Nyquist
    frequencies, evaluated at each output instant."""
    if src == dst or not len(samples):
        return samples
    if samples.ndim == 2:
        columns = [resample(samples[:, c], src, dst) for c in range(samples.shape[1])]
        return np.stack(columns, axis=1)
    ratio = dst / src
    cutoff = min(1.0, ratio)  # in units of the input's Nyquist frequency
    half = int(np.ceil(zero_crossings / cutoff))  # half the filter, in input samples
    beta = 8.6  # Kaiser window: ~-80 dB side lobes
    n_out = round(len(samples) * ratio)
    padded = np.concatenate([np.zeros(half, np.float32), samples, np.zeros(half + 1, np.float32)])
    taps = np.arange(-half + 1, half + 1)
    out = np.empty(n_out, dtype=np.float32)
    step = max(1, (1 << 20) // len(taps))  # outputs per block: bounded memory
    for start in range(0, n_out, step):
        t = np.arange(start, min(start + step, n_out)) / ratio  # instants, in input samples
        base = np.floor(t).astype(np.int64)
        idx = base[:, None] + taps[None, :]
        x = t[:, None] - idx
        window = np.i0(beta * np.sqrt(np.clip(1.0 - (x / half) ** 2, 0.0, None))) / np.i0(beta)
        weights = cutoff * np.sinc(cutoff * x) * window
        out[start : start + len(t)] = (padded[idx + half] * weights).sum(axis=1)
    return np.clip(out, -1.0, 1.0)


# -- any recording, for speech to text -------------------------------------------------------

# the sample rates `decode_audio` takes from a WAV: telephone speech up to studio audio (a
# header may say anything; resampling from an absurd rate costs minutes)
MIN_RATE, MAX_RATE = 4_000, 192_000
# FFmpeg's demuxers `decode_audio` may use, chosen by the data's first bytes: only these,
# since others (playlists, concat lists) open further files or URLs named inside the data
_CONTAINERS = {"matroska": "WebM", "ogg": "Ogg", "mov": "MP4", "flac": "FLAC", "mp3": "MP3"}
_CONTAINERS |= {"aac": "AAC"}
READS = "WAV, WebM, Ogg, MP4/M4A, MP3, FLAC or AAC"


def container_of(data: bytes) -> str | None:
    """The FFmpeg demuxer for a compressed recording in `data`, by its first bytes (None:
    none that `decode_audio` reads; WAV is not one, HyperHub reads it itself)."""
    if data[:4] == b"\x1a\x45\xdf\xa3":  # EBML: WebM, as browsers' MediaRecorder writes it
        return "matroska"
    if data[:4] == b"OggS":
        return "ogg"
    if data[4:8] == b"ftyp":  # MP4, M4A (Safari's MediaRecorder, phones)
        return "mov"
    if data[:4] == b"fLaC":
        return "flac"
    if data[:3] == b"ID3":
        return "mp3"
    if len(data) >= 2 and data[0] == 0xFF and data[1] & 0xE0 == 0xE0:  # an MPEG frame sync
        return "aac" if data[1] & 0x06 == 0 else "mp3"  # layer 0: ADTS (AAC)
    return None


def decode_audio(
    data: bytes, name: str = "the audio", *, max_seconds: float | None = None
) -> Audio:
    """The sound in `data` as speech to text takes it, mono at 16 kHz: a WAV (`parse_wav`),
    or a WebM, Ogg, MP4/M4A, MP3, FLAC or AAC recording decoded by PyAV (FFmpeg).
    `AudioError` saying why when it is none of these, is empty or broken, or is longer than
    `max_seconds` (a compressed recording is not decoded past that)."""
    if not data:
        raise AudioError(f"{name} is empty; send speech as {READS}")
    if data[:4] == b"RIFF":
        audio = parse_wav(data, name)
        if not MIN_RATE <= audio.rate <= MAX_RATE:
            raise AudioError(
                f"{name} says it has {audio.rate} samples a second; HyperHub reads "
                f"{MIN_RATE:,}–{MAX_RATE:,} Hz"
            )
    else:
        container = container_of(data)
        if container is None:
            raise AudioError(f"{name} is not audio HyperHub reads; send speech as {READS}")
        audio = _decode_compressed(data, container, name, max_seconds)
    if max_seconds is not None and audio.seconds > max_seconds:
        raise AudioError(_too_long(name, max_seconds, f"is {audio.seconds:.1f} s long"))
    return _at_stt_rate(audio.mono())


def _at_stt_rate(audio: Audio) -> Audio:
    """Mono `audio` at 16 kHz: by FFmpeg's resampler when PyAV is there (~100 times faster
    than `resample` for 48 kHz, as anti-aliased), else by `Audio.at`."""
    from hyperhub.voice.models import installed

    if audio.rate == STT_RATE or not installed("av"):
        return audio.at(STT_RATE)
    import av

    frame = av.AudioFrame.from_ndarray(audio.samples[None, :], format="flt", layout="mono")
    frame.sample_rate = audio.rate
    resampler = av.AudioResampler(format="flt", layout="mono", rate=STT_RATE)
    out = [*resampler.resample(frame), *resampler.resample(None)]
    samples = np.concatenate([f.to_ndarray().reshape(-1) for f in out]).astype(np.float32)
    return Audio(np.clip(samples, -1.0, 1.0), STT_RATE)


def _too_long(name: str, max_seconds: float, how_long: str) -> str:
    return f"{name} {how_long}; a spoken question may be at most {max_seconds:g} s"


def _decode_compressed(data: bytes, container: str, name: str, max_seconds: float | None) -> Audio:
    from hyperhub.voice.models import require

    require("av", f"Reading {_CONTAINERS[container]} audio")
    import av

    kind = _CONTAINERS[container]
    chunks: list[Samples] = []
    total = 0
    try:
        with av.open(io.BytesIO(data), mode="r", format=container) as opened:
            if not opened.streams.audio:
                raise AudioError(f"{name} is {kind} without an audio track")
            stream = opened.streams.audio[0]
            resampler = av.AudioResampler(format="flt", layout="mono", rate=STT_RATE)
            # frame by frame, the flush (None) last: a long recording stops at the limit
            for frame in itertools.chain(opened.decode(stream), [None]):
                for out in resampler.resample(frame):
                    chunk = out.to_ndarray().reshape(-1).astype(np.float32)
                    chunks.append(chunk)
                    total += len(chunk)
                if max_seconds is not None and total > max_seconds * STT_RATE:
                    raise AudioError(_too_long(name, max_seconds, f"is over {max_seconds:g} s"))
    except (av.error.FFmpegError, ValueError, EOFError, OSError) as exc:
        why = getattr(exc, "strerror", None) or exc
        raise AudioError(f"{name} is {kind} that cannot be decoded: {why}") from None
    if not total:
        raise AudioError(f"{name} holds no audio (0 samples)")
    samples = np.clip(np.concatenate(chunks), -1.0, 1.0)
    return Audio(samples, STT_RATE)
