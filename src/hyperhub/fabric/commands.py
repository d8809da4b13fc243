"""Commands on the fabric, hub side: checked before they are sent, errors mapped back after.

The checks are those of `hub.LocalSpace`: the value or arguments must fit the spec, and a
risky write or action needs `confirm`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from hyperhub.errors import (
    CommandFailed,
    DeviceTimeout,
    DeviceUnavailable,
    HyperHubError,
    NeedsConfirmation,
    NotAllowed,
    SpecError,
    UnknownDevice,
    ValueNotAllowed,
)
from hyperhub.fabric.messages import EXPIRED, AckMsg, CallMsg, Malformed, SetMsg, dump
from hyperhub.fabric.registry import DeviceRecord, Offline
from hyperhub.fabric.topics import Topics
from hyperhub.spec import DeviceType, words
from hyperhub.spec.model import label
from hyperhub.spec.words import lang_of, name_in
from hyperhub.store.state_store import AuditRow

# Error names a device may answer with, mapped back to our classes (anything else: CommandFailed)
_ERRORS: dict[str, type[HyperHubError]] = {
    cls.__name__: cls
    for cls in (
        SpecError,
        ValueNotAllowed,
        NotAllowed,
        NeedsConfirmation,
        UnknownDevice,
        DeviceUnavailable,
        DeviceTimeout,
        Malformed,
    )
}
_ERRORS[EXPIRED] = DeviceTimeout  # it reached the device after its deadline: not run


@dataclass(frozen=True)
class Command:
    """A write (`property`, `value`) or an action (`action`, `args`) for one device."""

    device: str
    property: str | None = None
    value: Any = None
    action: str | None = None
    args: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        if (self.property is None) == (self.action is None):
            raise ValueError("a command has either a property (and value) or an action")

    def what(self) -> dict[str, Any]:
        """What was asked, as the audit log records it."""
        if self.action is None:
            return {"property": self.property, "value": jsonable(self.value)}
        return {"action": self.action, "args": jsonable(self.args or {})}

    def summary(self) -> str:
        if self.action is None:
            return f"set {self.property}={self.value!r}"
        return f"call {self.action}"


@dataclass(frozen=True)
class Checked:
    """A command that passed the checks, ready to be sent with a fresh correlation id."""

    topic: str
    property: str | None = None
    value: Any = None
    args: dict[str, Any] | None = None

    def payload(self, cid: str, ts: float, expires: float | None = None) -> bytes:
        """The command's payload; `expires` is the wall-clock deadline after which a node
        must not run it (it may reach the node late: queued by the broker while the node's
        link was down)."""
        if self.property is not None:
            msg: SetMsg | CallMsg = SetMsg(
                cid=cid, property=self.property, value=self.value, ts=ts, expires=expires
            )
        else:
            msg = CallMsg(cid=cid, args=self.args or {}, ts=ts, expires=expires)
        return dump(msg)


def check_command(topics: Topics, record: DeviceRecord, cmd: Command, confirm: bool) -> Checked:
    """Check `cmd` against the device's spec and risk rules; raise what `LocalSpace` raises."""
    device, dtype = record.id, record.dtype
    if cmd.property is not None:
        prop = cmd.property
        if prop not in record.properties:
            dtype.prop(prop, device)  # an unknown name: the spec's error lists the known ones
            raise SpecError(
                f"device {device} ({dtype.type}) does not expose {prop!r}; "
                f"it has: {', '.join(sorted(record.properties))}"
            )
        value = dtype.check_write(prop, cmd.value, device)
        if dtype.write_is_risky(prop, value, record.cls) and not confirm:
            raise needs_confirmation(
                device, record.info.name, dtype, prop=prop, value=value, aliases=record.info.aliases
            )
        return Checked(topics.set(device), property=prop, value=value)
    assert cmd.action is not None
    args = dtype.check_args(cmd.action, cmd.args or {}, device)
    if dtype.action(cmd.action, device).is_risky(record.cls) and not confirm:
        raise needs_confirmation(
            device, record.info.name, dtype, action=cmd.action, aliases=record.info.aliases
        )
    return Checked(topics.call(device, cmd.action), args=args)


def needs_confirmation(
    device: str,
    name: str,
    dtype: DeviceType,
    *,
    prop: str | None = None,
    value: Any = None,
    action: str | None = None,
    aliases: Sequence[str] = (),
) -> NeedsConfirmation:
    """The one refusal of a risky command sent without a yes, in words, with what could
    happen (the spec's `why`) and the command's id for scripts: "Unlock Front Door Lock
    needs confirmation: anyone could walk in (front_door_lock.unlock)"; in Chinese
    "解锁前门需要确认：任何人都能走进来（front_door_lock.unlock）"."""
    if action is not None:
        rule, ref = dtype.actions[action].risky, action
    else:
        assert prop is not None
        rule, ref = dtype.properties[prop].risky, prop
    why = rule.why if rule is not None and rule.why else "it is a risky action"

    def said(lang: str) -> str:
        if lang_of(lang) == "zh":
            what = _risky_zh(name_in("zh", name, aliases), dtype, prop, value, action)
            return f"{what}需要确认：{words.risk_why('zh', why)}（{device}.{ref}）"
        what = _risky_en(name, dtype, prop, value, action)
        return f"{what[:1].upper()}{what[1:]} needs confirmation: {why} ({device}.{ref})"

    return NeedsConfirmation(said("en"), said)


def _risky_en(
    name: str, dtype: DeviceType, prop: str | None, value: Any, action: str | None
) -> str:
    if action is not None:
        return f"{label(action)} {name}"
    assert prop is not None
    if prop == "locked" and isinstance(value, bool):
        return f"{'lock' if value else 'unlock'} {name}"
    if prop.endswith("_open") and isinstance(value, bool):
        return f"{'open' if value else 'close'} {name}'s {label(prop[:-5])}"
    if isinstance(value, bool):
        return f"set {name}'s {label(prop)} to {'yes' if value else 'no'}"
    return f"set {name}'s {label(prop)} to {dtype.properties[prop].text(value, prop)}"


def _risky_zh(
    name: str, dtype: DeviceType, prop: str | None, value: Any, action: str | None
) -> str:
    if action is not None:
        return f"{words.action_label('zh', action)}{name}"
    assert prop is not None
    if prop == "locked" and isinstance(value, bool):
        return f"{words.action_label('zh', 'lock' if value else 'unlock')}{name}"
    if prop.endswith("_open") and isinstance(value, bool):
        verb = words.action_label("zh", "open" if value else "close")
        return f"{verb}{name}的{words.label('zh', prop)}"
    shown = dtype.properties[prop].text(value, prop, "zh")
    space = " " if shown[:1].isascii() else ""  # "设为 100 %", "设为制热"
    return f"把{name}的{words.label('zh', prop)}设为{space}{shown}"


def unavailable(device: str, offline: Offline | None) -> DeviceUnavailable:
    """The error for a command to an offline device (or one that never joined)."""
    if offline is None:
        return DeviceUnavailable(
            f"device {device} is not on the fabric: no node has announced it yet"
        )
    since = ""
    if offline.since is not None:
        since = " since " + time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(offline.since))
    return DeviceUnavailable(f"device {device} is offline{since}: {offline.reason}")


def may_still_run(expires: float) -> str:
    """The end of the message for a command given up on before its ack: it may still run."""
    deadline = time.strftime("%H:%M:%S", time.localtime(expires))
    return f"; it may still run if the device gets it by {deadline} (its deadline)"


def ack_error(device: str, ack: AckMsg) -> HyperHubError:
    """The exception for a refusing ack: our class of the same name, else `CommandFailed`."""
    cls = _ERRORS.get(ack.error or "")
    if cls is not None:
        return cls(ack.message or f"device {device} refused the command ({ack.error})")
    reason = ack.message or "no reason given"
    return CommandFailed(f"device {device} refused the command: {ack.error or 'error'}: {reason}")


def audit_row(
    actor: str, cmd: Command, outcome: dict[str, Any] | HyperHubError, ts: float | None = None
) -> AuditRow:
    """The audit log's row for a command and how it ended: the changes it made, or the error
    that stopped it (a timeout is its own result). Every path that carries out a command
    audits through here, so every row says the same things the same way."""
    kind = "set" if cmd.action is None else "call"
    if isinstance(outcome, HyperHubError):
        result = "timeout" if isinstance(outcome, DeviceTimeout) else "error"
        return (actor, cmd.device, kind, cmd.what(), result, str(outcome), ts, outcome.code, None)
    changes = jsonable(outcome)
    return (actor, cmd.device, kind, cmd.what(), "ok", describe(outcome), ts, "", changes)


def describe(changes: dict[str, Any]) -> str:
    """What changed, for the audit log, as JSON writes values: "on → true, brightness → 30"
    (it said on=True: Python, not words)."""
    if not changes:
        return "no change"
    return ", ".join(f"{k} → {_plain(v)}" for k, v in changes.items())


def _plain(value: Any) -> str:
    if isinstance(value, str):
        return value
    try:
        return json.dumps(jsonable(value), ensure_ascii=False, separators=(", ", ": "))
    except (TypeError, ValueError):
        return repr(value)


def jsonable(value: Any) -> Any:
    """A value made JSON-safe for the audit log (anything unknown becomes its repr)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return repr(value)
