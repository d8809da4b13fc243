"""What a node needs from the devices it hosts: `DeviceBackend`, and the `DeviceEvent`s they
emit — the contract between the fabric and any implementation of the capability model.

The simulator (`devices.sim.Simulator`) is one; an adapter for real devices (Zigbee, KUKSA,
a phone) only has to offer these few methods. Values arrive already checked against the
spec. The fabric knows only this protocol, never an implementation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass
class DeviceEvent:
    """An event a device emitted (the spec's `events`): `args` are its arguments (an
    action's, when an action emitted it), `ts` when, in UNIX seconds."""

    device: str
    name: str
    args: dict[str, Any]
    ts: float


@runtime_checkable
class DeviceBackend(Protocol):
    """The devices behind a node: read state, write, act, advance time, hand over events."""

    @property
    def device_ids(self) -> list[str]:
        """The devices this backend runs."""
        ...

    def state(self, device_id: str) -> dict[str, Any]:
        """A copy of one device's full current state."""
        ...

    def states(self) -> dict[str, dict[str, Any]]:
        """A copy of every device's full current state."""
        ...

    def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]:
        """Write a property; return what changed. Raises a `HyperHubError` when refused."""
        ...

    def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]:
        """Run an action; return what changed. Raises a `HyperHubError` when refused."""
        ...

    def tick(self) -> dict[str, dict[str, Any]]:
        """Bring the devices up to now (simulated time, or a poll of real devices)."""
        ...

    def drain_events(self) -> list[DeviceEvent]:
        """Events since the last drain, oldest first."""
        ...
