"""`OwnTracks`: phones running the OwnTracks app, in its MQTT mode and its HTTP mode.

OwnTracks (https://owntracks.org/booklet/tech/json/) publishes on `<topic>/<user>/<device>`
(topic `owntracks` by default):

- `_type: location` — `lat`, `lon`, `tst` (when, UNIX s), `acc` (m), `batt` (%), `vel`
  (km/h) …: the phone's `location` and `battery` (a report older than the last one, which
  the app sends after an outage, is not taken); a phone's "last seen" is its `updated` in
  the API, when its location or battery last changed;
- `_type: transition` (also on `…/event`) — entering or leaving one of the app's regions,
  with the position it happened at: taken as a location;
- `_type: lwt` — the app's last will (it lost its connection): the phone is offline until it
  reports again;
- other types (`card`, `waypoint(s)`, `status`, `cmd` …) are left alone.

In HTTP mode the app POSTs the same JSON to the hub (`POST /api/adapters/<id>/owntracks`,
`X-Limit-U` / `X-Limit-D` naming user and device, authenticated with a token) and takes the
answer (`[]`): `take()` is the one path both modes use.

Each `user/device` is found as a phone (`location`, `battery`); the adapter's `users:` map
sends one to a phone the space already has ("alice/pixel": phone_li_na), which the adapter
then hosts instead of the simulator. The geofence rules (arriving and leaving home) follow
its location like any phone's. A phone accepts no command through OwnTracks: writes and
actions are refused (`NotSupported`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable
from typing import Any

import aiomqtt

from hyperhub.adapters.base import AdapterCore, Proposal, slug
from hyperhub.errors import NotSupported
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.service import Service
from hyperhub.space import Space
from hyperhub.space.adapters import AdapterDecl
from hyperhub.spec.backend import DeviceEvent

log = logging.getLogger("hyperhub.adapters.owntracks")
MAX_PAYLOAD = 64_000  # an OwnTracks message is a few hundred bytes
MAX_FOUND = 200  # phones found and not accepted: more are not remembered (a flood of names)
AHEAD_S = 300.0  # a report this far in the future is taken as now (a phone's clock is off)
PROPERTIES = ("location", "battery")


class OwnTracks(AdapterCore, Service):
    """`async with OwnTracks(decl, space, client_kwargs):` — or without a broker connection
    (`client_kwargs` None) for HTTP mode only."""

    def __init__(
        self,
        decl: AdapterDecl,
        space: Space,
        client_kwargs: dict[str, Any] | None,
        *,
        client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(decl, space, log)
        self.topic = str(decl.options.topic)
        self.users: dict[str, str] = dict(decl.options.users)
        self.clock = clock
        self.client = None if client_kwargs is None else self.mqtt_client(client_kwargs, client_id)
        self.received = 0  # messages taken (a statistic)
        self._seen: dict[str, float] = {}  # device id → `tst` of its last report
        self._gone: set[str] = set()  # devices whose app's last will came
        self._warn = WarnEvery(log)
        self.accept_from(space)

    # -- which devices -----------------------------------------------------------------------

    def accept_from(self, space: Space) -> None:
        """Host the phones accepted from it and those its `users:` map names."""
        self.space = space
        mapped = {who: device for who, device in self.users.items() if device in space.devices}
        self._accepted = {**self.accepted_in(space), **mapped}

    @property
    def reachable(self) -> bool:
        return self.client is None or self.client.connected.is_set()

    # -- PushBackend ---------------------------------------------------------------------------

    def online(self, device_id: str) -> bool:
        """A phone is online once it reported, until its app's last will says it left."""
        return device_id in self._seen and device_id not in self._gone

    def drain_events(self) -> list[DeviceEvent]:
        return []

    async def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]:
        raise NotSupported(f"device {device_id} reports through OwnTracks, which takes no commands")

    async def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]:
        raise NotSupported(f"device {device_id} reports through OwnTracks, which takes no commands")

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        if self.client is not None:
            await self.client.subscribe(f"{self.topic}/+/+", self._on_message)
            await self.client.subscribe(f"{self.topic}/+/+/event", self._on_message)
            self.client.start()

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()

    # -- what the phones say -----------------------------------------------------------------------

    def _on_message(self, message: aiomqtt.Message) -> None:
        levels = message.topic.value[len(self.topic) + 1 :].split("/")
        payload = message.payload
        if len(levels) < 2 or not isinstance(payload, bytes | bytearray) or not payload:
            return
        if len(payload) > MAX_PAYLOAD:
            return
        try:
            self.take(levels[0], levels[1], json.loads(payload), retained=bool(message.retain))
        except (ValueError, TypeError) as exc:
            self._warn("payload", "%s: ignoring a malformed message on %s: %s",
                       self.decl.id, message.topic.value, exc)  # fmt: skip

    def take(self, user: str, device: str, message: Any, *, retained: bool = False) -> bool:
        """One OwnTracks message of `user`'s `device` (MQTT or HTTP); True if it was a
        location the hub took. A message that is not OwnTracks JSON raises ValueError. A
        `retained` one (the broker's copy of the app's last report, on connecting) gives
        the phone its last place but does not make it online: it may be days old."""
        if not isinstance(message, dict):
            raise ValueError("an OwnTracks message is a JSON object")
        who = f"{user}/{device}"
        kind = message.get("_type")
        self.received += 1
        device_id = self._accepted.get(who)
        if kind == "lwt":
            if device_id is not None and device_id not in self._gone:
                self._gone.add(device_id)
                self._tell([device_id])
            return False
        if kind not in ("location", "transition"):
            return False
        lat, lon = _number(message.get("lat")), _number(message.get("lon"))
        if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180):
            raise ValueError(f"{kind} without a valid lat/lon")
        if device_id is None:  # a phone nobody accepted: found, once it said where it is
            if who not in self.found and len(self.found) < MAX_FOUND:
                self._found(user, device)
            return False
        now = self.clock()
        tst = _number(message.get("tst"))
        when = now if tst is None or tst > now + AHEAD_S else tst
        if when < self._seen.get(device_id, 0):
            return False  # an older report (OwnTracks sends queued ones after an outage)
        state: dict[str, Any] = {"location": {"lat": lat, "lon": lon}}
        batt = _number(message.get("batt"))
        if batt is not None and 0 <= batt <= 100:
            state["battery"] = round(batt)
        self._states[device_id] = {**self._states.get(device_id, {}), **state}
        if retained:
            self._tell([device_id])
            return True
        self._seen[device_id] = when
        self._gone.discard(device_id)
        self._tell([device_id])
        return True

    def _found(self, user: str, device: str) -> None:
        who = f"{user}/{device}"
        self.found[who] = Proposal(
            external=who,
            friendly_name=who,
            type="phone",
            id=slug(f"{user}_{device}") or "phone",
            name=f"{user}'s {device}",
            properties=PROPERTIES,
            vendor="OwnTracks",
        )
        self._tell_found()


def _number(value: Any) -> float | None:
    """A finite JSON number as a float, else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None
