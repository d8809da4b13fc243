"""WAV in and out without any model: every kind the reader takes gives the samples written,
broken files give `AudioError` saying what is wrong, resampling keeps what it should."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.speech import sine, wav_of

from hyperhub.errors import AudioError
from hyperhub.voice.audio import Audio, parse_wav, read_wav, resample, wav_bytes, write_wav

RATE = 22_050
SIGNAL = sine(440, RATE, 0.25, amplitude=0.6)
STEREO = np.stack([SIGNAL, -0.5 * SIGNAL], axis=1)

# (bits, floating, extensible) → the largest error a sample may have after the round trip
KINDS = {
    "8-bit PCM": (8, False, False, 1 / 100),
    "16-bit PCM": (16, False, False, 1e-4),
    "24-bit PCM": (24, False, False, 1e-6),
    "32-bit PCM": (32, False, False, 1e-8),
    "32-bit float": (32, True, False, 0.0),
    "64-bit float": (64, True, False, 1e-7),
    "24-bit PCM, extensible": (24, False, True, 1e-6),
    "32-bit float, extensible": (32, True, True, 0.0),
}


@pytest.mark.parametrize("kind", list(KINDS))
@pytest.mark.parametrize("channels", [1, 2])
def test_every_kind_of_wav_reads_back_as_written(kind: str, channels: int) -> None:
    bits, floating, extensible, tolerance = KINDS[kind]
    written = SIGNAL if channels == 1 else STEREO
    data = wav_of(written, RATE, bits=bits, floating=floating, extensible=extensible)
    audio = parse_wav(data, "x.wav")
    assert audio.rate == RATE and audio.channels == channels
    assert audio.samples.dtype == np.float32 and audio.samples.shape == written.shape
    assert np.max(np.abs(audio.samples - written)) <= tolerance + 1e-7


def test_stereo_is_mixed_to_mono_and_8khz_resampled_to_16khz_for_the_model() -> None:
    left, right = sine(300, 8000, 1.0, 0.4), sine(300, 8000, 1.0, 0.2)
    audio = parse_wav(wav_of(np.stack([left, right], axis=1), 8000), "phone.wav")
    samples = audio.for_stt()
    expected = sine(300, 16_000, 1.0, 0.3)  # the mean of the channels, at 16 kHz
    assert len(samples) == 16_000
    inner = slice(400, -400)  # the filter's edges see the silence beyond the ends
    assert np.max(np.abs(samples[inner] - expected[inner])) < 2e-3


@pytest.mark.parametrize("src, dst", [(8000, 16_000), (44_100, 16_000), (48_000, 16_000)])
def test_resampling_keeps_a_tone_and_its_length(src: int, dst: int) -> None:
    out = resample(sine(1000, src, 0.5), src, dst)
    assert len(out) == dst // 2
    expected = sine(1000, dst, 0.5)
    inner = slice(dst // 50, -dst // 50)
    assert np.max(np.abs(out[inner] - expected[inner])) < 2e-3


def test_resampling_down_removes_what_the_new_rate_cannot_hold() -> None:
    """A 10 kHz tone has no place at 16 kHz (Nyquist 8 kHz): it must not fold back to 6 kHz."""
    out = resample(sine(10_000, 44_100, 0.5, amplitude=0.5), 44_100, 16_000)
    assert Audio(out[800:-800], 16_000).rms() < 0.005  # was 0.35


def test_written_wav_is_16_bit_pcm_that_reads_back() -> None:
    audio = Audio(STEREO, RATE)
    data = wav_bytes(audio)
    assert struct.unpack_from("<HHIIHH", data, 20) == (1, 2, RATE, RATE * 4, 4, 16)
    again = parse_wav(data)
    assert np.max(np.abs(again.samples - STEREO)) < 1e-4


def test_write_wav_and_read_wav_on_disk(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, Audio(SIGNAL, RATE))
    assert read_wav(path).seconds == pytest.approx(0.25, abs=1e-3)


def test_a_streamed_wav_with_a_placeholder_size_runs_to_the_end() -> None:
    """espeak-ng --stdout and ffmpeg to a pipe cannot go back to write the real size."""
    data = wav_of(SIGNAL, RATE, data_size=0x7FFFF000)
    assert len(parse_wav(data).samples) == len(SIGNAL)
    assert len(parse_wav(wav_of(SIGNAL, RATE, data_size=0xFFFFFFFF)).samples) == len(SIGNAL)


BROKEN = {
    "empty": (b"", "x.wav is empty"),
    "not a wav": (b"ID3\x04\x00 an mp3 file, say", "not a WAV file"),
    "truncated": (wav_of(SIGNAL, RATE)[:3000], "truncated WAV file"),
    "no data chunk": (wav_of(SIGNAL, RATE)[:44 - 8 + 12], "no audio data chunk"),
    "no samples": (wav_of(SIGNAL[:0], RATE), "holds no audio"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(BROKEN))
def test_a_broken_wav_is_an_audio_error_saying_what_is_wrong(case: str) -> None:
    data, said = BROKEN[case]
    with pytest.raises(AudioError, match=said) as caught:
        parse_wav(data, "x.wav")
    assert caught.value.code == "bad_audio"


def test_an_encoding_it_does_not_read_is_named_with_what_to_do() -> None:
    data = bytearray(wav_of(SIGNAL, 8000, bits=8))
    struct.pack_into("<H", data, 20, 7)  # µ-law
    with pytest.raises(AudioError, match="µ-law audio, which HyperHub does not read; convert"):
        parse_wav(bytes(data), "call.wav")


def test_a_format_that_does_not_add_up_is_refused() -> None:
    data = bytearray(wav_of(SIGNAL, RATE))
    struct.pack_into("<H", data, 32, 3)  # block align 3 for 16-bit mono
    with pytest.raises(AudioError, match="do not fit together"):
        parse_wav(bytes(data), "x.wav")


def test_a_missing_file_or_a_folder_is_an_audio_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"nope\.wav: no such file"):
        read_wav(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a folder"):
        read_wav(tmp_path)
