"""HyperHub's named exceptions: each message says what happened and names the thing involved."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


class HyperHubError(Exception):
    """Base of every error HyperHub raises on purpose; the CLI prints these in one line.
    `code` names the kind of error for machines (the API's error code, the audit log's):
    one name per class, written here only."""

    code: str = "error"


class SpecError(HyperHubError):
    """A capability spec is broken, or a type / property / action is unknown."""

    code: str = "invalid"


class ValueNotAllowed(SpecError):
    """A value does not fit its property: wrong type, out of range, not in the enum, read-only."""

    code: str = "value_not_allowed"


class NotAllowed(HyperHubError):
    """The caller may not do this (read-only property, missing scope, hub busy)."""

    code: str = "not_allowed"


class UnknownDevice(HyperHubError):
    """No device with this id exists in the space."""

    code: str = "unknown_device"


class ModelUnavailable(HyperHubError):
    """The local LLM cannot run: llama-cpp-python or the model file is missing or unreadable."""

    code: str = "assistant_unavailable"


class DeviceTimeout(HyperHubError):
    """A device did not answer a command within the timeout."""

    code: str = "device_timeout"


class UnknownRule(HyperHubError):
    """No rule with this id is loaded."""

    code: str = "unknown_rule"


class UnknownScene(HyperHubError):
    """No scene with this id, name or alias is loaded."""

    code: str = "unknown_scene"


class RuleDisabled(HyperHubError):
    """The rule cannot run now: it is disabled, or loop protection stopped it."""

    code: str = "rule_disabled"


class StoreError(HyperHubError):
    """The state store cannot be opened or written."""

    code: str = "store_unavailable"


@dataclass(frozen=True)
class Problem:
    """One problem found in a file, at a line (1-based; 0 when the line is unknown); `loc`
    is where in the file's data, when known (("rules", 0, "triggers")): the message starts
    with it said as text ("rules[0].triggers: …")."""

    line: int
    message: str
    loc: tuple[str | int, ...] | None = field(default=None, compare=False)

    def render(self, path: str) -> str:
        return f"{path}:{self.line}: {self.message}"


class SpaceError(HyperHubError):
    """A space file is refused; `problems` lists every problem found, each with its line."""

    code: str = "invalid_space"

    def __init__(self, path: str, problems: list[Problem]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda p: p.line)
        super().__init__("\n".join(p.render(path) for p in self.problems))

    @property
    def lines(self) -> list[str]:
        return [p.render(self.path) for p in self.problems]


class AutomationError(HyperHubError):
    """Automation files are refused; `problems` lists every problem of every file as
    (file, problem), sorted by file then line. `path` is what was loaded (a directory or
    a file)."""

    code: str = "invalid_automations"

    def __init__(self, path: str, problems: list[tuple[str, Problem]]) -> None:
        self.path = path
        self.problems = sorted(problems, key=lambda fp: (fp[0], fp[1].line))
        super().__init__("\n".join(self.lines))

    @property
    def lines(self) -> list[str]:
        return [problem.render(file) for file, problem in self.problems]


class StaleVersion(HyperHubError):
    """A change names the version of a rule or scene it was made from (If-Match), and the
    rule or scene has changed, or gone, since."""

    code: str = "stale_version"


class VersionRequired(HyperHubError):
    """A change of an existing rule or scene names no version it was made from (If-Match)."""

    code: str = "version_required"


class ReadOnly(HyperHubError):
    """Rules or scenes that cannot be written here: the demo shipped inside HyperHub, or
    YAML that JSON cannot carry back unchanged (the message says which and why)."""

    code: str = "read_only"


class NeedsConfirmation(NotAllowed):
    """A risky write or action was asked for without confirmation. `said(lang)` gives the
    refusal in another language when whoever raised it knows how (the API answers in the
    request's, the CLI in the terminal's); the message is English."""

    code: str = "needs_confirmation"

    def __init__(self, message: str, said: Callable[[str], str] | None = None) -> None:
        super().__init__(message)
        self._said = said

    def in_lang(self, lang: str) -> str:
        """The refusal in `lang` ("en", "zh"), else the English message."""
        return self._said(lang) if self._said is not None else str(self)


class BrokerError(HyperHubError):
    """The MQTT broker cannot be started, reached or configured (bad URL, credentials, ACL)."""

    code: str = "fabric_unavailable"


class DeviceUnavailable(HyperHubError):
    """A device (or the node hosting it) is offline, so a command cannot reach it."""

    code: str = "device_unavailable"


class FabricDisconnected(BrokerError):
    """The fabric client is not connected to the MQTT broker right now (it keeps retrying)."""

    code: str = "fabric_unavailable"


class CommandFailed(HyperHubError):
    """A device answered a command with an error that has no more specific class here."""

    code: str = "command_failed"


class AdapterError(HyperHubError):
    """An adapter's device cannot be accepted or rejected as asked (an unknown device, an id
    that is taken …), or an adapter cannot start."""

    code: str = "adapter_error"


class NotSupported(CommandFailed):
    """A command the device cannot do, though its type has it (a thermostat that only heats
    cannot be switched off, a fan that cannot oscillate)."""

    code: str = "not_supported"


class AudioError(HyperHubError):
    """Audio that cannot be used: a missing or unreadable file, not a WAV, a broken or
    truncated one, an encoding HyperHub does not read, no samples."""

    code: str = "bad_audio"


class VoiceUnavailable(HyperHubError):
    """Speech cannot run: the voice extra, espeak-ng, a model or a voice file is missing or
    unreadable; the message says what to install or pass."""

    code: str = "voice_unavailable"


class ModelChecksumMismatch(HyperHubError):
    """A model file's SHA-256 is not the one recorded for it: damaged or replaced. The
    message names the file, both checksums and what to reinstall."""

    code: str = "model_checksum"


class UnsupportedLanguage(HyperHubError):
    """A language HyperHub cannot speak or listen in (it knows "en" and "zh")."""

    code: str = "unsupported_language"


def closest(name: str, known: Iterable[str]) -> str | None:
    """The known name most like `name` (a typo's fix), or None when none is close."""
    import difflib  # only when a name is wrong

    close = difflib.get_close_matches(name, sorted(set(known)), n=1)
    return close[0] if close else None


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """The end of an error message for a wrong name: "; did you mean 'kitchen'?", or ""."""
    close = closest(name, known)
    return f"; did you mean {close!r}?" if close is not None else ""
