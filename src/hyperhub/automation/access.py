"""What the rule engine needs to reach devices (`DeviceAccess`), and the adapter that gives
it over a `HubFabric` (`FabricAccess`).

The engine reads current state, sends commands and listens to changes, events and
availability. `FabricAccess` does that over the fabric (the running hub); tests may give the
engine anything with the same methods.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any, NamedTuple, Protocol

from hyperhub.fabric.feed import Availability, Event
from hyperhub.fabric.hubside import HubFabric
from hyperhub.spec.policy import Command
from hyperhub.store import RunRow, StateStore

ChangeItem = tuple[str, dict[str, Any], float]  # device, changed properties, ts


class Listeners(NamedTuple):
    """Whom `DeviceAccess.listen` hands what happens: every change (in batches of (device,
    changed properties, ts), in order), event and availability change. A change for which
    `quiet(device, changed)` is True may be left out (nothing would come of it)."""

    on_changes: Callable[[list[ChangeItem]], None]
    on_event: Callable[[Event], None]
    on_availability: Callable[[Availability], None]
    quiet: Callable[[str, dict[str, Any]], bool] | None = None


class DeviceAccess(Protocol):
    """The engine's view of the hub."""

    def state_of(self, device: str) -> dict[str, Any] | None:
        """The device's current state, or None when it is not known (not joined yet)."""
        ...

    def is_online(self, device: str) -> bool: ...

    async def send(self, cmd: Command, *, actor: str) -> dict[str, Any]:
        """Send one command (risky ones confirmed: rules and scenes are the owner's); return
        the properties that changed. Raises the command's error."""
        ...

    def listen(self, to: Listeners) -> Callable[[], None]:
        """Hand `to` what happens from now on; returns a stopper."""
        ...


class FabricAccess:
    """`DeviceAccess` over a running `HubFabric`."""

    def __init__(self, fabric: HubFabric) -> None:
        self.fabric = fabric

    def state_of(self, device: str) -> dict[str, Any] | None:
        record = self.fabric.registry.get(device)
        return None if record is None or record.ts is None else record.state

    def is_online(self, device: str) -> bool:
        return self.fabric.registry.is_online(device)

    async def send(self, cmd: Command, *, actor: str) -> dict[str, Any]:
        ack = await self.fabric.send(cmd, actor=actor, confirm=True)
        return dict(ack.changes)

    def listen(self, to: Listeners) -> Callable[[], None]:
        on_changes, quiet = to.on_changes, to.quiet
        _, events, availability = self.fabric.feeds
        # the ingest path only appends; the engine reads the changes in one batch right
        # after (the same loop turn's end): the flood of state messages is not slowed per
        # message, and the engine binds its look-ups once per batch
        pending: list[ChangeItem] = []
        loop = asyncio.get_running_loop()

        def drain() -> None:
            items = pending.copy()
            pending.clear()
            on_changes(items)

        def collect(device: str, changed: dict[str, Any], ts: float) -> None:
            if quiet is not None and quiet(device, changed):
                return  # a number on the side of its thresholds where nothing happens
            if not pending:
                loop.call_soon(drain)
            pending.append((device, changed, ts))

        stops = [self.fabric.listen_changes(collect), events.listen(to.on_event)]
        stops.append(availability.listen(to.on_availability))

        def stop() -> None:
            for one in stops:
                one()

        return stop


PRUNE_EVERY = 1000  # traces written between prunes
KEEP_PER_RULE = 200  # traces kept per rule


def store_sink(fabric: HubFabric, store: StateStore) -> Callable[[list[RunRow]], None]:
    """Where a running hub's engine writes traces: the fabric's store writer (the same
    process and order as state and audit rows), pruned to `KEEP_PER_RULE` per rule."""
    written = 0

    def sink(rows: list[RunRow]) -> None:
        nonlocal written
        fabric.submit(f"write {len(rows)} rule traces", store.write_runs, list(rows))
        written += len(rows)
        if written >= PRUNE_EVERY:
            written = 0
            fabric.submit("prune rule traces", store.prune_runs, KEEP_PER_RULE)

    return sink
