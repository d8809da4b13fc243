"""`Zigbee2Mqtt`: a Zigbee2MQTT bridge's devices, found and run through its own MQTT topics.

Zigbee2MQTT (base topic `zigbee2mqtt` unless its `mqtt.base_topic` says otherwise):

- `<base>/bridge/devices` (retained): every device with its definition and exposes; read on
  connection and again whenever Zigbee2MQTT republishes it (a device joined, was renamed,
  was removed). Each becomes `Proposal`s (`exposes.propose`): accepted ones are hosted,
  the others wait in `pending`.
- `<base>/bridge/state` (retained): `{"state": "online"|"offline"}` (or the bare word, as
  Zigbee2MQTT 1.x had it): while the bridge is offline, so are all its devices.
- `<base>/bridge/event`: `device_leave` marks the device offline until it is heard again.
- `<base>/<friendly name>`: a device's state, as Zigbee2MQTT's property names and units.
- `<base>/<friendly name>/availability`: `{"state": "online"|"offline"}` (or the bare word)
  when Zigbee2MQTT's availability feature is on; without it a device counts as online.
- commands go to `<base>/<friendly name>/set` as Zigbee2MQTT's JSON. A command is done
  when the device next reports the properties it set (Zigbee2MQTT publishes the new state
  once the device confirmed it), failed with `DeviceTimeout` after `timeout_s`.

Friendly names may contain `/` ("kitchen/floor lamp"): a topic is read by the friendly names
the bridge listed, longest first.

This is a `PushBackend` for its accepted devices: `DeviceNode` hosts them on the fabric, so
the hub checks, audits and acknowledges their commands like any other device's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiomqtt

from hyperhub.adapters.base import AdapterCore, Proposal
from hyperhub.adapters.zigbee2mqtt.exposes import propose
from hyperhub.errors import DeviceTimeout, DeviceUnavailable, NotSupported
from hyperhub.fabric.messages import FOREIGN_PAYLOAD
from hyperhub.fabric.ratelimit import WarnEvery
from hyperhub.service import Service
from hyperhub.space import Space
from hyperhub.space.adapters import AdapterDecl
from hyperhub.spec.backend import DeviceEvent

log = logging.getLogger("hyperhub.adapters.zigbee2mqtt")
MAX_PAYLOAD = FOREIGN_PAYLOAD  # bridge/devices of a large network is big (~4.5 KB a device)


@dataclass
class _Waiter:
    """A command waiting for the device to report what it set (`sent`, Zigbee2MQTT's)."""

    sent: dict[str, Any]
    done: asyncio.Future[dict[str, Any]]


def confirms(sent: dict[str, Any], reported: dict[str, Any]) -> bool:
    """Whether a report shows what a command set: every key, at its value — numbers within
    rounding (a colour's xy within 0.01, brightness ±1), words in any case; a toggle or a
    cover's stop by any report (it cannot be known what it became)."""
    for key, want in sent.items():
        if isinstance(want, str) and want.upper() == "STOP":
            continue  # a stopped cover reports its position, not its state
        if key not in reported:
            return False
        if not _near(want, reported[key]):
            return False
    return True


def _near(want: Any, got: Any) -> bool:
    if isinstance(want, str):  # a toggle or a stop: what it became cannot be known
        if want.upper() in ("TOGGLE", "STOP"):
            return True
        return isinstance(got, str) and got.upper() == want.upper()
    if isinstance(want, bool) or isinstance(got, bool):
        return want == got
    if isinstance(want, int | float) and isinstance(got, int | float):
        return abs(float(want) - float(got)) <= max(1.0, abs(float(want)) * 0.01)
    if isinstance(want, dict) and isinstance(got, dict):
        return all(
            k in got
            and isinstance(got[k], int | float)
            and isinstance(v, int | float)
            and abs(float(v) - float(got[k])) <= 0.01
            for k, v in want.items()
        )
    return bool(want == got)


class Zigbee2Mqtt(AdapterCore, Service):
    """One Zigbee2MQTT bridge: `async with Zigbee2Mqtt(decl, space, client_kwargs):`."""

    def __init__(
        self,
        decl: AdapterDecl,
        space: Space,
        client_kwargs: dict[str, Any],
        *,
        client_id: str | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        super().__init__(decl, space, log)
        self.base = str(decl.options.base_topic)
        self.clock = clock
        self.client = self.mqtt_client(client_kwargs, client_id)
        self.names: dict[str, str] = {}  # friendly name → IEEE address
        self.described = asyncio.Event()  # set once bridge/devices has been read
        self.bridge_online = False
        self.received = 0  # device state messages taken (a statistic, for the benchmark)
        self._reports: dict[str, dict[str, Any]] = {}  # IEEE address → last report, as it came
        self._said: dict[str, bool] = {}  # friendly name → its last availability (any order)
        # (external id, key) → the last mode a thermostat reported that was not "off"
        self._modes: dict[tuple[str, str], str] = {}
        self._reachable: dict[str, bool] = {}  # device id → its own availability
        self._events: list[DeviceEvent] = []
        self._waiters: dict[str, list[_Waiter]] = {}
        self._warn = WarnEvery(log)
        self.accept_from(space)

    # -- which devices -----------------------------------------------------------------------

    def accept_from(self, space: Space) -> None:
        """Host the devices `space` accepted from this adapter (again after a change)."""
        self.space = space
        before = set(self._accepted.values())
        self._accepted = self.accepted_in(space)
        for external, device_id in self._accepted.items():  # what it said before it joined
            report = self._reports.get(external.split("/", 1)[0])
            if device_id not in before and report is not None:
                self._read(device_id, report)

    @property
    def reachable(self) -> bool:
        """Whether the bridge says it is online."""
        return self.bridge_online

    def _proposal(self, device_id: str) -> Proposal:
        device = self.space.device(device_id)
        found = self.found.get(str(device.external))
        if found is None:
            why = (
                "has not described its devices yet"
                if not self.described.is_set()
                else f"has no device {device.external} (removed from the Zigbee network?)"
            )
            raise DeviceUnavailable(f"device {device_id}: Zigbee2MQTT ({self.decl.id}) {why}")
        return found

    # -- PushBackend ---------------------------------------------------------------------------

    def online(self, device_id: str) -> bool:
        return (
            self.bridge_online
            and str(self.space.device(device_id).external) in self.found
            and self._reachable.get(device_id, True)
        )

    def drain_events(self) -> list[DeviceEvent]:
        events, self._events = self._events, []
        return events

    async def set(self, device_id: str, prop: str, value: Any) -> dict[str, Any]:
        proposal = self._proposal(device_id)
        binding = proposal.binding(prop)
        if binding is None or not binding.settable:
            raise NotSupported(f"device {device_id} cannot set {prop} (Zigbee2MQTT: read-only)")
        payload = binding.write(value)
        if binding.kind == "power" and value:  # switched on: back to the mode it had
            last = self._modes.get((proposal.external, binding.key))
            if last is not None:
                payload = {binding.key: last}
        return await self._command(device_id, proposal, payload)

    async def call(self, device_id: str, action: str, args: dict | None = None) -> dict[str, Any]:
        proposal = self._proposal(device_id)
        payload = proposal.actions.get(action)
        if payload is None:
            raise NotSupported(f"device {device_id} cannot {action} (not exposed by Zigbee2MQTT)")
        return await self._command(device_id, proposal, payload)

    async def _command(
        self, device_id: str, proposal: Proposal, payload: dict[str, Any]
    ) -> dict[str, Any]:
        if not self.online(device_id):
            raise DeviceUnavailable(f"device {device_id} is offline (Zigbee2MQTT {self.decl.id})")
        waiter = _Waiter(payload, asyncio.get_running_loop().create_future())
        self._waiters.setdefault(device_id, []).append(waiter)
        try:
            topic = f"{self.base}/{proposal.friendly_name}/set"
            await self.client.publish(topic, json.dumps(payload), qos=1)
            return await asyncio.wait_for(waiter.done, self.decl.timeout_s)
        except TimeoutError:
            raise DeviceTimeout(
                f"device {device_id} ({proposal.friendly_name}) did not report "
                f"{', '.join(sorted(payload))} within {self.decl.timeout_s:g} s of the command "
                "(Zigbee2MQTT sent it; is the device in range?)"
            ) from None
        finally:
            waiting = self._waiters.get(device_id, [])
            if waiter in waiting:
                waiting.remove(waiter)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        await self.client.subscribe(f"{self.base}/#", self._on_message)
        self.client.on_disconnect(self._lost)
        self.client.start()

    async def stop(self) -> None:
        self.cancel_waiting(self._waiters)
        await self.client.close()

    def _lost(self) -> None:
        """Without the broker we hear nothing: every device counts as offline."""
        if self.bridge_online:
            self.bridge_online = False
            self._tell(self.device_ids)

    # -- what Zigbee2MQTT says ---------------------------------------------------------------------

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        rest = topic[len(self.base) + 1 :]
        payload = message.payload
        if not isinstance(payload, bytes | bytearray) or len(payload) > MAX_PAYLOAD:
            return
        try:
            if rest.startswith("bridge/"):
                self._bridge(rest[len("bridge/") :], payload)
            elif rest.endswith("/availability"):
                self._availability(rest[: -len("/availability")], payload)
            elif rest in self.names:
                self._state(rest, payload, bool(message.retain))
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            self._warn(
                "payload", "%s: ignoring a malformed message on %s: %s", self.decl.id, topic, exc
            )

    def _bridge(self, what: str, payload: bytes | bytearray) -> None:
        if what == "state":
            online = _word(payload) == "online"
            if online != self.bridge_online:
                self.bridge_online = online
                self._tell(self.device_ids)
        elif what == "devices":
            self._devices(json.loads(payload))
        elif what == "event":
            event = json.loads(payload)
            data = event.get("data") or {}
            if event.get("type") == "device_leave":
                device = self._accepted_parts(str(data.get("ieee_address")))
                for device_id in device:
                    self._reachable[device_id] = False
                self._tell(device)

    def _devices(self, listed: Any) -> None:
        if not isinstance(listed, list):
            raise ValueError("bridge/devices is not a list")
        areas = {a.id: [a.name, *a.aliases] for a in self.space.areas.values()}
        found: dict[str, Proposal] = {}
        names: dict[str, str] = {}
        for entry in listed:
            if not isinstance(entry, dict):
                continue
            for proposal in propose(entry, areas):
                found[proposal.external] = proposal
            if isinstance(entry.get("friendly_name"), str) and isinstance(
                entry.get("ieee_address"), str
            ):
                names[entry["friendly_name"]] = entry["ieee_address"]
        self.found, self.names = found, dict(sorted(names.items(), key=lambda n: -len(n[0])))
        for friendly, online in self._said.items():  # availability that came before the list
            for device_id in self._accepted_parts(names.get(friendly, "")):
                self._reachable.setdefault(device_id, online)
        self.described.set()
        self._tell(self.device_ids)  # a device is online only once the bridge has described it
        self._tell_found()

    def _accepted_parts(self, ieee: str) -> list[str]:
        """The accepted devices made from Zigbee2MQTT device `ieee` (its parts)."""
        return [d for ext, d in self._accepted.items() if ext == ieee or ext.startswith(ieee + "/")]

    def _availability(self, friendly: str, payload: bytes | bytearray) -> None:
        online = _word(payload) == "online"
        self._said[friendly] = online  # kept: it may come before the device list
        ieee = self.names.get(friendly)
        if ieee is None:
            return
        devices = self._accepted_parts(ieee)
        for device_id in devices:
            self._reachable[device_id] = online
        self._tell(devices)

    def _state(self, friendly: str, payload: bytes | bytearray, retained: bool = False) -> None:
        """A device's report; a retained one (the broker's copy, on connecting) says
        nothing about now: it fills the state but neither marks the device reachable nor
        replays a button press."""
        reported = json.loads(payload)
        if not isinstance(reported, dict):
            raise ValueError("a device state is not a JSON object")
        ieee = self.names[friendly]
        self.received += 1
        self._reports[ieee] = {**self._reports.get(ieee, {}), **reported}
        now = self.clock()
        told = []
        for device_id in self._accepted_parts(ieee):
            proposal, changes = self._read(device_id, reported)
            if proposal is None:
                continue
            if retained:
                told.append(device_id)
                continue
            self._reachable[device_id] = True
            if proposal.events and reported.get(proposal.events) not in (None, ""):
                args = {"action": str(reported[proposal.events])[:64]}
                self._events.append(DeviceEvent(device_id, "pressed", args, now))
            for waiter in list(self._waiters.get(device_id, [])):
                if not waiter.done.done() and confirms(waiter.sent, reported):
                    waiter.done.set_result(changes)
            told.append(device_id)
        self._tell(told)

    def _read(
        self, device_id: str, reported: dict[str, Any]
    ) -> tuple[Proposal | None, dict[str, Any]]:
        """Take a report into the device's state; (its proposal, what the report changed)."""
        proposal = self.found.get(str(self.space.device(device_id).external))
        if proposal is None:
            return None, {}
        before = self._states.get(device_id, {})
        changes = {}
        for binding in proposal.bindings:
            if binding.kind == "power":
                mode = reported.get(binding.key)
                if isinstance(mode, str) and mode != "off":
                    self._modes[proposal.external, binding.key] = mode
            if binding.key in reported:
                value = binding.read(reported[binding.key])
                if value is not None and (
                    binding.prop not in before or before[binding.prop] != value
                ):
                    changes[binding.prop] = value
        self._states[device_id] = {**before, **changes}
        return proposal, changes


def _word(payload: bytes | bytearray) -> str:
    """`{"state": "online"}` or the bare `online` (Zigbee2MQTT 1.x) → "online"."""
    text = bytes(payload).decode("utf-8", "replace").strip()
    if text.startswith("{"):
        found = json.loads(text).get("state")
        return str(found).lower() if found is not None else ""
    return text.lower()
