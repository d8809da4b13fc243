"""Stand-in devices that speak Home Assistant's MQTT discovery, for the tests: on a real
broker they publish retained discovery configs (as ESPHome, Tasmota or Shelly firmware do),
their states and availability, and answer their command topics as the firmware does — by
publishing the new state on the state topic (`answers`: command topic → how). A command
topic in `mute` is taken without an answer."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import aiomqtt

from hyperhub.fabric.client import FabricClient

Answer = Callable[[str], list[tuple[str, str]]]  # payload → (topic, payload) to publish


def echo(state_topic: str, words: dict[str, str] | None = None) -> Answer:
    """Answer a command by reporting it on `state_topic` (in `words`, when the state
    payloads differ from the command's: LOCK → LOCKED)."""
    return lambda payload: [(state_topic, (words or {}).get(payload, payload))]


def json_light(state_topic: str, state: dict[str, Any]) -> Answer:
    """A JSON-schema light: the command's keys merged into its state, reported whole."""

    def answer(payload: str) -> list[tuple[str, str]]:
        state.update(json.loads(payload))
        return [(state_topic, json.dumps(state))]

    return answer


class FakeHaDevices:
    """`async with FakeHaDevices(client_kwargs, configs={topic: config}, …) as devices:`."""

    def __init__(
        self,
        client_kwargs: dict[str, Any],
        *,
        configs: dict[str, dict[str, Any]],
        states: dict[str, str] | None = None,
        answers: dict[str, Answer] | None = None,
    ) -> None:
        self.configs = configs
        self.states = dict(states or {})
        self.answers = dict(answers or {})
        self.received: list[tuple[str, str]] = []  # (command topic, payload)
        self.mute: set[str] = set()
        self.client = FabricClient(client_kwargs, client_id="fake-ha-devices")

    async def __aenter__(self) -> FakeHaDevices:
        if self.answers:
            await self.client.subscribe(list(self.answers), self._on_command)
        self.client.start()
        await self.client.wait_connected(10)
        for topic, payload in self.states.items():
            await self.client.publish(topic, payload, retain=True)
        for topic, config in self.configs.items():
            await self.configure(topic, config)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    async def configure(self, topic: str, config: dict[str, Any] | str) -> None:
        """Publish (retained) a discovery config; "" removes the entity."""
        text = config if isinstance(config, str) else json.dumps(config)
        await self.client.publish(topic, text, retain=True)

    async def say(self, topic: str, payload: str, *, retain: bool = True) -> None:
        await self.client.publish(topic, payload, retain=retain)

    def _on_command(self, message: aiomqtt.Message) -> None:
        topic = message.topic.value
        payload = bytes(message.payload).decode()  # type: ignore[arg-type]
        self.received.append((topic, payload))
        answer = self.answers.get(topic)
        if answer is None or topic in self.mute:
            return
        for out_topic, out in answer(payload):
            self.client.send(out_topic, out, retain=True)
