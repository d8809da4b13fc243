"""Hosting one device on the fabric: how it is described, and how a command to it is run.

Both are plain functions of the device (and its backend), so a node — or any adapter that
speaks the fabric itself — describes and commands devices the same way.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal

from hyperhub import __version__
from hyperhub.errors import HyperHubError, SpecError
from hyperhub.fabric.messages import AckMsg, CallMsg, DiscoveryMsg, SetMsg, parse, type_spec
from hyperhub.space import Device
from hyperhub.spec import DeviceType, builtin_types
from hyperhub.spec.backend import DeviceBackend, PushBackend

log = logging.getLogger("hyperhub.fabric.node")


@lru_cache(maxsize=1)
def _shipped() -> dict[str, DeviceType]:
    return {t.type: t for t in builtin_types()}


def discovery_of(device: Device, node: str) -> DiscoveryMsg:
    """The device's discovery message; a type the hub does not ship travels with its spec."""
    base = _shipped().get(device.type)
    values = device.dtype.narrowing(base) if base is not None else {}
    shipped = base is not None and base.narrowed(values) == device.dtype
    return DiscoveryMsg(
        device=device.id,
        type=device.type,
        name=device.name,
        node=node,
        area=device.area,
        cls=device.cls,
        aliases=list(device.aliases),
        properties=list(device.properties),
        spec=None if shipped else type_spec(device.dtype),
        values=values,
        version=__version__,
    )


class CommandExpired(HyperHubError):
    """A command that reached the device after its deadline (`expires`): it was not run."""

    def __init__(self, message: str, cid: str) -> None:
        super().__init__(message)
        self.cid = cid


def parse_command(kind: Literal["set", "call"], payload: bytes | bytearray) -> SetMsg | CallMsg:
    """The command in a `set` or `call` payload; `Malformed` if it is not one."""
    cmd: SetMsg | CallMsg = parse(SetMsg if kind == "set" else CallMsg, payload)
    return cmd


def run_command(
    backend: DeviceBackend,
    device: Device,
    kind: Literal["set", "call"],
    action: str | None,
    payload: bytes | bytearray,
    *,
    now: float | None = None,
) -> AckMsg:
    """Parse, check against the spec and apply one command; the ack says how it went.

    Raises `Malformed` when the payload is not a command at all (the caller answers only
    if it can still read a correlation id), and `CommandExpired` as `apply_command` does.
    """
    return apply_command(backend, device, parse_command(kind, payload), action, now=now)


def apply_command(
    backend: DeviceBackend,
    device: Device,
    cmd: SetMsg | CallMsg,
    action: str | None,
    *,
    now: float | None = None,
) -> AckMsg:
    """Check a parsed command against the spec and apply it; the ack says how it went.

    Raises `CommandExpired` — nothing is run — when `now` (wall-clock UNIX time) is past
    the command's `expires`.
    """
    try:
        checked = check_message(device, cmd, action, now)
        if isinstance(checked, Write):
            changes = backend.set(device.id, checked.prop, checked.value)
        else:
            changes = backend.call(device.id, checked.action, checked.args)
    except CommandExpired:
        raise
    except Exception as exc:  # an adapter's own error is still an answer, not a crash
        return _refused(device, cmd, exc)
    return AckMsg(cid=cmd.cid, ok=True, changes=changes)


async def apply_command_async(
    backend: PushBackend,
    device: Device,
    cmd: SetMsg | CallMsg,
    action: str | None,
    *,
    now: float | None = None,
) -> AckMsg:
    """`apply_command` for devices of another system: the same checks, then the command,
    which completes once the device has reported its effect."""
    try:
        checked = check_message(device, cmd, action, now)
        if isinstance(checked, Write):
            changes = await backend.set(device.id, checked.prop, checked.value)
        else:
            changes = await backend.call(device.id, checked.action, checked.args)
    except CommandExpired:
        raise
    except Exception as exc:
        return _refused(device, cmd, exc)
    return AckMsg(cid=cmd.cid, ok=True, changes=changes)


@dataclass(frozen=True)
class Write:
    prop: str
    value: Any


@dataclass(frozen=True)
class Act:
    action: str
    args: dict[str, Any]


def check_message(
    device: Device, cmd: SetMsg | CallMsg, action: str | None, now: float | None
) -> Write | Act:
    """What a command asks of `device`, checked against its spec: a write of a property it
    exposes with a valid value, or an action with valid arguments. Raises `CommandExpired`
    when `now` is past the command's deadline, the spec's `HyperHubError` when invalid."""
    if now is not None and cmd.expires is not None and now > cmd.expires:
        what = f"set {cmd.property}" if isinstance(cmd, SetMsg) else f"call {action}"
        deadline = time.strftime("%H:%M:%S", time.localtime(cmd.expires))
        raise CommandExpired(
            f"command {cmd.cid} ({what}) reached {device.id} {now - cmd.expires:.1f} s after "
            f"its deadline ({deadline}) and was not run; on a live link this means the clocks "
            "of hub and node disagree",
            cmd.cid,
        )
    if isinstance(cmd, SetMsg):
        if cmd.property not in device.properties:
            device.dtype.prop(cmd.property, device.id)  # an unknown name: the spec lists them
            raise SpecError(
                f"device {device.id} does not expose {cmd.property!r}; "
                f"it has: {', '.join(device.properties)}"
            )
        return Write(cmd.property, device.dtype.check_write(cmd.property, cmd.value, device.id))
    assert action is not None
    return Act(action, device.dtype.check_args(action, cmd.args, device.id))


def _refused(device: Device, cmd: SetMsg | CallMsg, exc: Exception) -> AckMsg:
    if not isinstance(exc, HyperHubError):
        log.exception("%s on %s failed", "set" if isinstance(cmd, SetMsg) else "call", device.id)
    return AckMsg(cid=cmd.cid, ok=False, error=type(exc).__name__, message=str(exc))
