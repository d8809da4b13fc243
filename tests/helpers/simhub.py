"""A hub for engine tests: the real simulator on a manual clock, in one process.

State changes from commands and from `advance` (a car driving its route) reach the engine's
listeners as they would from the fabric; `push` sets readings (a sensor's pm25, a watch's
`sleeping`) the way a device reports them; `offline` / `online` flip availability.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from hyperhub.automation.access import Listeners
from hyperhub.clock import ManualClock
from hyperhub.devices.sim import Simulator
from hyperhub.errors import DeviceUnavailable
from hyperhub.fabric.feed import Availability, Event
from hyperhub.space import Space
from hyperhub.spec.policy import Command


class SimHub:
    def __init__(self, space: Space, clock: ManualClock) -> None:
        self.space = space
        self.clock = clock
        self.sim = Simulator(space, clock)
        self.states = self.sim.states()
        self.down: set[str] = set()
        self.sent: list[tuple[str, str, dict[str, Any]]] = []  # (actor, device, command)
        self._listeners: list[Listeners] = []
        self.skipped = 0  # changes left out as quiet

    # -- the Hub protocol ----------------------------------------------------------------
    def state_of(self, device: str) -> dict[str, Any] | None:
        return self.states.get(device)

    def is_online(self, device: str) -> bool:
        return device not in self.down

    async def send(self, cmd: Command, *, actor: str) -> dict[str, Any]:
        device = cmd.device
        command = {k: v for k, v in vars(cmd).items() if k != "device" and v is not None}
        self.sent.append((actor, device, command))
        await asyncio.sleep(0)
        if device in self.down:
            raise DeviceUnavailable(f"device {device} is offline")
        if "property" in command:
            changes = self.sim.set(device, command["property"], command["value"])
        else:
            changes = self.sim.call(device, command["action"], command.get("args"))
        self._publish(device, changes)
        for event in self.sim.drain_events():
            self.emit(event.device, event.name, event.args)
        return changes

    def listen(self, to: Listeners) -> Callable:
        """As `FabricAccess.listen`: changes `quiet` calls quiet are not handed over (counted in
        `skipped`), so the engine tests run with the gate the live hub uses."""
        self._listeners.append(to)
        return lambda: self._listeners.remove(to)

    # -- driving it ----------------------------------------------------------------------
    def advance(self, seconds: float, step: float = 1.0) -> None:
        """Move time on in steps (as a node ticks), publishing what changed."""
        left = seconds
        while left > 1e-9:
            h = min(step, left)
            for device, changes in self.sim.advance(h).items():
                self._publish(device, changes)
            left -= h

    def push(self, device: str, **changes: Any) -> None:
        """A device reports new readings (the simulated device takes them too, so a later
        command starts from them)."""
        self.sim._sims[device].state.update(changes)  # a test double may reach inside
        self._publish(device, changes)

    def offline(self, device: str) -> None:
        self.down.add(device)
        for _, _, on_av, _ in list(self._listeners):
            on_av(Availability(device, False, self.clock.now()))

    def online(self, device: str) -> None:
        self.down.discard(device)
        for _, _, on_av, _ in list(self._listeners):
            on_av(Availability(device, True, self.clock.now()))

    def emit(self, device: str, name: str, args: dict[str, Any] | None = None) -> None:
        for _, on_event, _, _ in list(self._listeners):
            on_event(Event(device, name, dict(args or {}), self.clock.now()))

    def _publish(self, device: str, changes: dict[str, Any]) -> None:
        changed = {
            k: v for k, v in changes.items() if self.states.get(device, {}).get(k, object()) != v
        }
        if not changed:
            return
        self.states.setdefault(device, {}).update(changed)
        for on_changes, _, _, quiet in list(self._listeners):
            if quiet is not None and quiet(device, changed):
                self.skipped += 1
                continue
            on_changes([(device, changed, self.clock.now())])

    def sent_to(self, device: str) -> list[dict[str, Any]]:
        return [c for _, d, c in self.sent if d == device]
