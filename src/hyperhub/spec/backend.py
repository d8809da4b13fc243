"""What a node needs from the devices it hosts — the contract between the fabric and any
implementation of the capability model — and the `DeviceEvent`s they emit.

Two forms: `DeviceBackend`, whose devices change when they are written to or when time is
advanced (`tick`): the simulator (`devices.sim.Simulator`); and `PushBackend`, whose devices
live in another system and report changes when they happen, whose commands complete when the
device reports their effect: the adapters (`hyperhub.adapters`: Zigbee2MQTT, OwnTracks).
Values arrive already checked against the spec. The fabric knows only these protocols,
never an implementation.
"""

from __future__ import annotations

from collections.abc import Callable
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


@runtime_checkable
class PushBackend(Protocol):
    """Devices of another system: they report state, availability and events when these
    change (`listen`), and a command completes once the device has reported its effect."""

    @property
    def device_ids(self) -> list[str]:
        """The devices this backend hosts."""
        ...

    def state(self, device_id: str) -> dict[str, Any]:
        """A copy of one device's last reported state (what it exposes, as far as known)."""
        ...

    def online(self, device_id: str) -> bool:
        """Whether the device is reachable now, as its own system says."""
        ...

    def listen(self, changed: Callable[[str], None]) -> None:
        """Call `changed(device_id)` whenever a device's state or availability changed or
        it emitted an event (the events wait in `drain_events`)."""
        ...

    async def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]:
        """Write a property; return what changed once the device reported it. Raises a
        `HyperHubError` when refused, `DeviceTimeout` when the device did not report."""
        ...

    async def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]:
        """Run an action; return what changed once the device reported it."""
        ...

    def drain_events(self) -> list[DeviceEvent]:
        """Events since the last drain, oldest first."""
        ...
