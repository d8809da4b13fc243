"""`DeviceRegistry`: what the hub knows about the devices on the fabric, as they come and go.

A device joins with a discovery message and leaves with an empty one. It is online while
its own availability is not "offline" and its node's availability is not "offline"; a node
that drops (its last will) takes all its devices offline at once.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hyperhub.fabric.messages import DiscoveryMsg
from hyperhub.spec import DeviceType
from hyperhub.spec.policy import Target


@dataclass
class DeviceRecord:
    """One discovered device: its description, type, availability and last state."""

    info: DiscoveryMsg
    dtype: DeviceType
    properties: frozenset[str]
    available: bool | None = None  # its own availability; None until heard
    since: float | None = None  # when `available` last changed (hub clock)
    state: dict[str, Any] = field(default_factory=dict)
    ts: float | None = None  # the device's time of `state`

    @property
    def id(self) -> str:
        return self.info.device

    @property
    def node(self) -> str:
        return self.info.node

    @property
    def cls(self) -> str | None:
        return self.info.cls

    @property
    def target(self) -> Target:
        """What the command policy needs of it (`spec.policy`): only what it exposes."""
        return Target(
            self.id, self.dtype, self.cls, self.info.name, self.info.aliases, self.properties
        )


@dataclass
class NodeRecord:
    online: bool
    since: float


@dataclass(frozen=True)
class Offline:
    """Why a device is offline and since when."""

    since: float | None
    reason: str


class DeviceRegistry:
    """Discovered devices by id, with their nodes' availability."""

    def __init__(self) -> None:
        self._devices: dict[str, DeviceRecord] = {}
        self._nodes: dict[str, NodeRecord] = {}
        self._early: dict[str, tuple[bool, float]] = {}  # availability heard before discovery

    def __contains__(self, device_id: object) -> bool:
        return device_id in self._devices

    def __len__(self) -> int:
        return len(self._devices)

    def __iter__(self) -> Iterator[DeviceRecord]:
        return iter(list(self._devices.values()))

    def get(self, device_id: str) -> DeviceRecord | None:
        return self._devices.get(device_id)

    def ids(self) -> list[str]:
        return sorted(self._devices)

    def join(self, info: DiscoveryMsg, dtype: DeviceType) -> DeviceRecord:
        """Add a device, or update its description (state and availability are kept)."""
        exposed = set(info.properties) & set(dtype.properties) or set(dtype.properties)
        old = self._devices.get(info.device)
        record = DeviceRecord(info, dtype, frozenset(exposed))
        if old is not None:
            record.available, record.since = old.available, old.since
            record.state = {k: v for k, v in old.state.items() if k in exposed}
            record.ts = old.ts
        elif info.device in self._early:
            record.available, record.since = self._early.pop(info.device)
        self._devices[info.device] = record
        return record

    def leave(self, device_id: str) -> bool:
        """Remove a device; False if it was not there."""
        self._early.pop(device_id, None)
        return self._devices.pop(device_id, None) is not None

    def set_available(self, device_id: str, online: bool, now: float) -> bool:
        """Record a device's own availability; True if it changed."""
        record = self._devices.get(device_id)
        if record is None:
            self._early[device_id] = (online, now)
            return False
        if record.available == online:
            return False
        record.available, record.since = online, now
        return True

    def set_node(self, node: str, online: bool, now: float) -> list[str]:
        """Record a node's availability; returns the ids of its devices if it changed."""
        known = self._nodes.get(node)
        if known is not None and known.online == online:
            return []
        self._nodes[node] = NodeRecord(online, now)
        return [d.id for d in self._devices.values() if d.node == node]

    def node_online(self, node: str) -> bool | None:
        known = self._nodes.get(node)
        return None if known is None else known.online

    def offline(self, device_id: str) -> Offline | None:
        """Why the device is offline, or None when it is (as far as we know) online."""
        record = self._devices[device_id]
        node = self._nodes.get(record.node)
        if node is not None and not node.online:
            return Offline(node.since, f"its node {record.node!r} is offline")
        if record.available is False:
            return Offline(record.since, "it reported itself offline")
        return None

    def is_online(self, device_id: str) -> bool:
        return device_id in self._devices and self.offline(device_id) is None
