"""`LocalSpace`: a space's devices, simulated in this process, their state kept in the store —
where commands meet devices when no hub is running (the CLI). It checks each command with
the policy (`spec.policy`, as the fabric's hub side does), applies it to the simulator,
persists the changes and writes the audit log."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from hyperhub.clock import Clock, SystemClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import HyperHubError
from hyperhub.fabric.commands import audit_row
from hyperhub.space import Space
from hyperhub.spec.backend import DeviceEvent
from hyperhub.spec.policy import Command, check_command
from hyperhub.store import StateStore, StateUpdate


class LocalSpace:
    """A space's devices, simulated, with every change persisted and every command audited."""

    def __init__(
        self, space: Space, store: StateStore, clock: Clock | None = None, *, seed: int = 0
    ) -> None:
        self.space = space
        self.store = store
        self.clock = clock or SystemClock()
        self.sim = Simulator(
            space, self.clock, seed=seed, state=space.restored_state(store.current_all())
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
