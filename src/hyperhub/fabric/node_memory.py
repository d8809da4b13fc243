"""`NodeMemory`: what a node remembers of its devices between publishes, and the LWW rule.

Per device: the latest state, when it last changed here (0 until it changes after the
node started), and whether it still has to be published; plus a bounded queue of events.
This is what carries a node through an outage of the broker.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Literal

from hyperhub.fabric.messages import StateMsg
from hyperhub.spec.backend import DeviceEvent

State = dict[str, Any]
Verdict = Literal["adopt", "publish", "keep"]


class NodeMemory:
    """Latest state and change time per device, what is unpublished, and queued events."""

    def __init__(self, states: dict[str, State], max_events: int) -> None:
        self.states = states
        self.changed_at = dict.fromkeys(states, 0.0)
        self.dirty: set[str] = set()  # devices whose state is not on the broker yet
        self.events: deque[DeviceEvent] = deque()
        self.max_events = max_events
        self.dropped = 0  # events dropped, oldest first, while the queue was full

    def note(self, device: str, state: State, now: float) -> bool:
        """Record the device's current state; True (and to be published) if it changed.

        A device's change time never goes backwards, even if the clock does.
        """
        if state == self.states[device]:
            return False
        self.states[device] = state
        self.changed_at[device] = max(now, self.changed_at[device])
        self.dirty.add(device)
        return True

    def forget(self, device: str) -> None:
        """The device is no longer hosted here."""
        self.states.pop(device, None)
        self.changed_at.pop(device, None)
        self.dirty.discard(device)

    def queue_event(self, event: DeviceEvent) -> None:
        if len(self.events) >= self.max_events:
            self.events.popleft()
            self.dropped += 1
        self.events.append(event)

    def take(self) -> tuple[list[str], list[DeviceEvent]]:
        """Everything still to publish (devices with unpublished state, queued events)."""
        devices, self.dirty = sorted(self.dirty), set()
        events = list(self.events)
        self.events.clear()
        return devices, events

    def put_back(self, devices: list[str], events: list[DeviceEvent]) -> None:
        """A publish failed: keep it for the next connection (newer events win the room)."""
        self.dirty.update(devices)
        for event in reversed(events):
            if len(self.events) >= self.max_events:
                self.dropped += 1
                continue
            self.events.appendleft(event)

    def resolve(self, device: str, theirs: StateMsg | None, now: float) -> Verdict:
        """Last writer wins, by timestamp, between our state and the broker's retained one.

        "adopt": theirs is newer than our last change. "publish": ours is newer, there is no
        retained state, or they differ at the same time (ties go to the node). "keep": the
        broker already holds exactly our state.
        """
        ours = self.changed_at[device]
        if theirs is not None and theirs.ts > ours:
            return "adopt"
        if theirs is not None and theirs.ts == ours and theirs.state == self.states[device]:
            return "keep"
        if ours == 0:  # the first word on this device since the node started
            self.changed_at[device] = now
        self.dirty.add(device)
        return "publish"

    def adopted(self, device: str, state: State, theirs: StateMsg) -> None:
        """We took over `theirs`; `state` is ours now (it may differ in read-only readings)."""
        self.states[device] = state
        self.changed_at[device] = max(theirs.ts, self.changed_at[device])
        if state != theirs.state:
            self.dirty.add(device)
