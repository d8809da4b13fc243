"""Commands on the fabric, hub side: checked before they are sent, errors mapped back after.

Whether a command may go is `spec.policy`'s decision (the same as `local.LocalSpace`'s): the
value or arguments must fit the spec, and a risky write or action needs `confirm`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from hyperhub.errors import (
    CommandFailed,
    DeviceTimeout,
    DeviceUnavailable,
    HyperHubError,
    NeedsConfirmation,
    NotAllowed,
    NotSupported,
    SpecError,
    UnknownDevice,
    ValueNotAllowed,
)
from hyperhub.fabric.messages import EXPIRED, AckMsg, CallMsg, Malformed, SetMsg, dump
from hyperhub.fabric.registry import DeviceRecord, Offline
from hyperhub.fabric.topics import Topics
from hyperhub.spec.policy import Command, jsonable
from hyperhub.spec.policy import check_command as check_command_policy
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
        NotSupported,
        Malformed,
    )
}
_ERRORS[EXPIRED] = DeviceTimeout  # it reached the device after its deadline: not run


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
    """`cmd` checked by the policy (`spec.policy.check_command`: the spec, what the device
    exposes, a yes for a risky one), ready to send on the device's topic."""
    ok = check_command_policy(record.target, cmd, confirm)
    if ok.action is None:
        return Checked(topics.set(record.id), property=ok.property, value=ok.value)
    return Checked(topics.call(record.id, ok.action), args=ok.args)


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
