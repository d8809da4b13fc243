"""A stand-in Zigbee2MQTT for the tests: on a real broker, it publishes what Zigbee2MQTT
publishes — retained `bridge/state` and `bridge/devices` (real device definitions from the
fixture), each device's state and availability — and answers `<friendly name>/set` as
Zigbee2MQTT does, by publishing the device's new state (so a command is confirmed the way a
real device confirms it). A device in `mute` takes commands without answering."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiomqtt

from hyperhub.fabric.client import FabricClient

FIXTURE = Path(__file__).parent.parent / "adapters" / "fixtures" / "z2m_bridge_devices.json"


def fixture_devices() -> list[dict[str, Any]]:
    return list(json.loads(FIXTURE.read_text())["devices"])


class FakeZigbee2Mqtt:
    """`async with FakeZigbee2Mqtt(client_kwargs, states={name: {...}}) as z2m:`."""

    def __init__(
        self,
        client_kwargs: dict[str, Any],
        *,
        base: str = "zigbee2mqtt",
        devices: list[dict[str, Any]] | None = None,
        states: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.base = base
        self.devices = devices if devices is not None else fixture_devices()
        self.states: dict[str, dict[str, Any]] = {k: dict(v) for k, v in (states or {}).items()}
        self.sets: list[tuple[str, dict[str, Any]]] = []  # (friendly name, payload) received
        self.mute: set[str] = set()
        self.client = FabricClient(client_kwargs, client_id="fake-zigbee2mqtt")
        self._tasks: set[asyncio.Task[None]] = set()
        self._names = sorted((d["friendly_name"] for d in self.devices), key=len, reverse=True)

    async def __aenter__(self) -> FakeZigbee2Mqtt:
        await self.client.subscribe(f"{self.base}/#", self._on_message)
        self.client.start()
        await self.client.wait_connected(10)
        await self.publish("bridge/state", {"state": "online"}, retain=True)
        await self.publish("bridge/devices", self.devices, retain=True)
        for name, state in self.states.items():
            await self.publish(name, state, retain=True)
        return self

    async def __aexit__(self, *exc: object) -> None:
        for task in self._tasks:
            task.cancel()
        await self.client.close()

    async def publish(self, sub: str, payload: Any, *, retain: bool = False) -> None:
        text = payload if isinstance(payload, str) else json.dumps(payload)
        await self.client.publish(f"{self.base}/{sub}", text, retain=retain)

    async def report(self, name: str, **changes: Any) -> None:
        """The device `name` reports a change (as a real one does on its own)."""
        self.states.setdefault(name, {}).update(changes)
        await self.publish(name, {**self.states[name], "linkquality": 120})

    async def press(self, name: str, action: str) -> None:
        """A button sends an action: Zigbee2MQTT publishes it once, then clears it."""
        await self.publish(name, {**self.states.get(name, {}), "action": action})
        await self.publish(name, {**self.states.get(name, {}), "action": ""})

    async def rename(self, old: str, new: str) -> None:
        """Rename a device, as Zigbee2MQTT's frontend does: its list is published again."""
        self.devices = [
            {**d, "friendly_name": new} if d["friendly_name"] == old else d for d in self.devices
        ]
        self._names = sorted((d["friendly_name"] for d in self.devices), key=len, reverse=True)
        if old in self.states:
            self.states[new] = self.states.pop(old)
        await self.publish("bridge/devices", self.devices, retain=True)

    async def availability(self, name: str, online: bool) -> None:
        await self.publish(f"{name}/availability", {"state": "online" if online else "offline"})

    def _on_message(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        if not topic.endswith("/set"):
            return
        name = topic[len(self.base) + 1 : -len("/set")]
        if name not in self._names:
            return
        payload = json.loads(bytes(message.payload))
        self.sets.append((name, payload))
        if name in self.mute:
            return
        state = self.states.setdefault(name, {})
        for key, value in payload.items():
            if value == "TOGGLE":
                value = "OFF" if state.get(key) == "ON" else "ON"
            state[key] = value
        task = asyncio.get_running_loop().create_task(self.publish(name, dict(state)))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
