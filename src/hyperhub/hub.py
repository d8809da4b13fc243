"""The hub's core: a space's devices with their state kept in the store, and the run loop.

`LocalSpace` is where commands meet devices when no hub is running: it checks them against
the spec, holds back risky ones without confirmation, applies them to the simulator, persists
the changes and writes the audit log (the same rules `fabric.hubside` applies on the fabric).
`HubLock` marks a data dir as served by a running hub (see `runtime.serve`).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hyperhub.clock import Clock, SystemClock
from hyperhub.config import private_dir
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError, NotAllowed
from hyperhub.fabric.commands import audit_row
from hyperhub.space import Space
from hyperhub.spec.backend import DeviceEvent
from hyperhub.spec.policy import Command, check_command
from hyperhub.store import StateStore, StateUpdate

log = logging.getLogger("hyperhub.hub")
LOCK_FILE = "hub.lock"


class HubLock:
    """Marks a data dir as served by a running hub: an flock that vanishes with the process."""

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        private_dir(self.path.parent)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            pid = running_hub(self.path.parent)
            where = self.path.parent
            raise NotAllowed(f"a hub is already running on {where} (pid {pid})") from None
        os.ftruncate(fd, 0)
        os.write(fd, str(os.getpid()).encode())
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None


def running_hub(data_dir: Path) -> int | None:
    """The pid of the hub serving `data_dir`, or None when no hub holds its lock."""
    path = data_dir / LOCK_FILE
    if not path.exists():
        return None
    fd = os.open(path, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        text = path.read_text().strip()
        return int(text) if text.isdigit() else -1
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def restored_state(space: Space, stored: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Stored values that still fit the space (known device, exposed property, valid value)."""
    out: dict[str, dict[str, Any]] = {}
    for device in space.devices.values():
        keep = {}
        for prop, value in (stored.get(device.id) or {}).items():
            if prop in device.properties:
                with contextlib.suppress(HyperHubError):
                    keep[prop] = device.dtype.check_write(
                        prop, value, device.id, allow_readonly=True
                    )
        if keep:
            out[device.id] = keep
    return out


class LocalSpace:
    """A space's devices, simulated, with every change persisted and every command audited."""

    def __init__(
        self, space: Space, store: StateStore, clock: Clock | None = None, *, seed: int = 0
    ) -> None:
        self.space = space
        self.store = store
        self.clock = clock or SystemClock()
        self.sim = Simulator(
            space, self.clock, seed=seed, state=restored_state(space, store.current_all())
        )

    def snapshot(self) -> int:
        """Write every device's full state (first start, or after a space change)."""
        now = self.clock.now()
        return self.store.write_states(
            StateUpdate(dev, state, None, now) for dev, state in self.sim.states().items()
        )

    def set(
        self, device_id: str, prop: str, value: Any, *, actor: str, confirm: bool = False
    ) -> dict[str, Any]:
        """Write one property; returns the properties that changed."""

        cmd = Command(device_id, prop, value)

        def apply() -> dict[str, Any]:
            checked = check_command(self.space.device(device_id).target, cmd, confirm)
            return self.sim.set(device_id, prop, checked.value)

        return self._command(cmd, actor, apply)

    def call(
        self,
        device_id: str,
        action: str,
        args: dict[str, Any] | None = None,
        *,
        actor: str,
        confirm: bool = False,
    ) -> dict[str, Any]:
        """Run one action; returns the properties that changed."""

        cmd = Command(device_id, action=action, args=args)

        def apply() -> dict[str, Any]:
            checked = check_command(self.space.device(device_id).target, cmd, confirm)
            return self.sim.call(device_id, action, checked.args or {})

        return self._command(cmd, actor, apply)

    def send(self, cmd: Command, *, actor: str, confirm: bool = False) -> dict[str, Any]:
        """`set` or `call`, as `cmd` says."""
        if cmd.action is not None:
            return self.call(cmd.device, cmd.action, cmd.args, actor=actor, confirm=confirm)
        return self.set(cmd.device, cmd.property or "", cmd.value, actor=actor, confirm=confirm)

    def _command(
        self, cmd: Command, actor: str, apply: Callable[[], dict[str, Any]]
    ) -> dict[str, Any]:
        try:
            changes = apply()
        except HyperHubError as exc:
            self.store.audit_many([audit_row(actor, cmd, exc)])
            raise
        self.persist({cmd.device: changes} if changes else {})
        self.store.audit_many([audit_row(actor, cmd, changes)])
        return changes

    def tick(self) -> dict[str, dict[str, Any]]:
        """Advance the simulation to now and persist what changed."""
        changes = self.sim.tick()
        self.persist(changes)
        return changes

    def settle(self) -> dict[str, dict[str, Any]]:
        """Finish every movement at once and persist it (for one-shot commands)."""
        changes = self.sim.settle()
        self.persist(changes)
        return changes

    def persist(self, changes: dict[str, dict[str, Any]]) -> int:
        if not changes:
            return 0
        now = self.clock.now()
        return self.store.write_states(
            StateUpdate(dev, self.sim.state(dev), changed, now) for dev, changed in changes.items()
        )

    def events(self) -> list[DeviceEvent]:
        return self.sim.drain_events()
