"""What every adapter shares: the proposal of a found device (`Proposal`), the id and area
it proposes from a foreign name (`slug`, `place`), what the hub needs of a running adapter
(`Adapter`), and the bookkeeping every adapter keeps (`AdapterCore`)."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from hyperhub.fabric.client import FabricClient
from hyperhub.space import Space
from hyperhub.space.adapters import AdapterDecl
from hyperhub.spec.backend import PushBackend

_SLUG = re.compile(r"[^a-z0-9]+")


@dataclass(frozen=True)
class Proposal:
    """What one device of another system (or one part of it) becomes: a HyperHub device to
    accept. `external` is its id there (Zigbee2MQTT: the IEEE address, `/<part>` for a
    further part; OwnTracks: `user/device`); `id`, `name` and `area` are proposed from its
    name there and the space's areas. `bindings`, `actions` and `events` say how its values
    and commands translate (the adapter's own kind of binding)."""

    external: str
    friendly_name: str
    type: str
    id: str
    name: str
    area: str | None = None
    cls: str | None = None
    properties: tuple[str, ...] = ()
    values: dict[str, tuple[str, ...]] = field(default_factory=dict)  # enum narrowing
    bindings: tuple[Any, ...] = ()  # each with `.prop`, the HyperHub property it carries
    actions: dict[str, dict[str, Any]] = field(default_factory=dict)  # action → its payload
    events: str | None = None  # the foreign property whose values are `pressed` events
    model: str = ""
    vendor: str = ""
    description: str = ""
    unmapped: tuple[str, ...] = ()  # exposes left out
    sources: tuple[str, ...] = ()  # the foreign parts it is made of (HA: entity keys)

    def binding(self, prop: str) -> Any:
        return next((b for b in self.bindings if b.prop == prop), None)

    def entry(self) -> dict[str, Any]:
        """The device as the accepted-devices file keeps it (`hyperhub.space.adapters`)."""
        out: dict[str, Any] = {"id": self.id, "type": self.type, "name": self.name}
        if self.cls:
            out["class"] = self.cls
        if self.area:
            out["area"] = self.area
        out["properties"] = list(self.properties)
        if self.values:
            out["values"] = {k: list(v) for k, v in self.values.items()}
        return out


def slug(text: str) -> str:
    """A HyperHub id from a name: "Floor Lamp" → "floor_lamp"; "" for a name without a
    latin letter or digit ("吊灯")."""
    return _SLUG.sub("_", text.casefold()).strip("_")


def place(friendly_name: str, areas: Mapping[str, Iterable[str]]) -> tuple[str, str | None]:
    """The name and the proposed area of a friendly name: its last `/` segment, and an
    earlier segment that names an area (`areas`: id → the names it goes by)."""
    parts = [p.strip() for p in friendly_name.split("/") if p.strip()]
    name = parts[-1] if parts else friendly_name
    for part in reversed(parts[:-1]):
        wanted = slug(part)
        for area_id, names in areas.items():
            if wanted == area_id or any(slug(n) == wanted for n in names):
                return name, area_id
    return name, None


class Adapter(PushBackend, Protocol):
    """A running adapter: a `PushBackend` for its accepted devices, plus what it found."""

    decl: AdapterDecl
    found: dict[str, Proposal]  # external id → what it would become

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def accept_from(self, space: Space) -> None:
        """Host the devices `space` accepted from this adapter (again after a change)."""
        ...

    def pending(self) -> list[Proposal]:
        """What it found that is not accepted yet."""
        ...

    def on_found(self, callback: Callable[[list[Proposal]], None]) -> None:
        """Call `callback(pending)` whenever it has read its system's device list."""
        ...

    @property
    def reachable(self) -> bool:
        """Whether its system answers (a bridge online, a broker connected)."""
        ...

    @property
    def problems(self) -> list[str]:
        """What it found and had to leave out, and why (for people: names, and the fix)."""
        ...


class AdapterCore:
    """What every adapter keeps: what it found (external id → `Proposal`), which of those
    the space accepted (external id → device id), their reported states, and who listens;
    the kinds add how they talk to their system."""

    def __init__(self, decl: AdapterDecl, space: Space, log: logging.Logger) -> None:
        self.decl = decl
        self.space = space
        self.found: dict[str, Proposal] = {}
        self._accepted: dict[str, str] = {}  # external id → device id
        self._states: dict[str, dict[str, Any]] = {}  # device id → reported (HyperHub) state
        self._listeners: list[Callable[[str], None]] = []
        self._on_found: list[Callable[[list[Proposal]], None]] = []
        self._log = log

    def mqtt_client(self, client_kwargs: dict[str, Any], client_id: str | None) -> FabricClient:
        """The adapter's connection to its system's broker, with a client id of its own."""
        return FabricClient(
            client_kwargs, client_id=client_id or f"hyperhub-adapter-{self.decl.id}-{id(self):x}"
        )

    @staticmethod
    def cancel_waiting(waiting: dict[str, list[Any]]) -> None:
        """Cancel the commands still waiting for their device's report (on stopping)."""
        for waiters in waiting.values():
            for waiter in waiters:
                if not waiter.done.done():
                    waiter.done.cancel()

    def accepted_in(self, space: Space) -> dict[str, str]:
        """The devices `space` accepted from this adapter: external id → device id."""
        return {
            str(d.external): d.id
            for d in space.devices.values()
            if d.adapter == self.decl.id and d.external
        }

    @property
    def device_ids(self) -> list[str]:
        return list(dict.fromkeys(self._accepted.values()))

    def pending(self) -> list[Proposal]:
        """What it found that is not accepted yet."""
        return [p for external, p in self.found.items() if external not in self._accepted]

    @property
    def problems(self) -> list[str]:
        """What it found and had to leave out, and why (none, unless the kind says)."""
        return []

    def on_found(self, callback: Callable[[list[Proposal]], None]) -> None:
        """Call `callback(pending)` whenever what it found changed."""
        self._on_found.append(callback)

    def listen(self, changed: Callable[[str], None]) -> None:
        self._listeners.append(changed)

    def state(self, device_id: str) -> dict[str, Any]:
        return dict(self._states.get(device_id, {}))

    def _tell_found(self) -> None:
        pending = self.pending()
        for callback in self._on_found:
            callback(pending)

    def _tell(self, devices: Iterable[str]) -> None:
        """Tell the listeners (the node) that these devices changed."""
        for device_id in devices:
            for listener in self._listeners:
                try:
                    listener(device_id)
                except Exception:  # one failing listener must not stop the others
                    self._log.exception("%s: a listener of %s failed", self.decl.id, device_id)
