"""What a node needs from the devices it hosts: `DeviceBackend`.

`Simulator` is one (the default); an adapter for real devices (Zigbee, KUKSA, a phone) only
has to offer these few methods. Values arrive already checked against the spec.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

from hyperhub.devices.sim import SimEvent


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

    def drain_events(self) -> list[SimEvent]:
        """Events since the last drain, oldest first."""
        ...
