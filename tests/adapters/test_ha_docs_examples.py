"""Home Assistant's own documentation examples (tests/adapters/fixtures/ha_docs_examples.json,
copied from home-assistant.io with their source): each reads as a discovery message, and
each HA device becomes the HyperHub device the mapping promises, reading the state messages
the documentation shows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hyperhub.adapters.ha_discovery.config import Entity, Removed, read
from hyperhub.adapters.ha_discovery.mapping import group, propose

EXAMPLES: list[dict[str, Any]] = json.loads(
    (Path(__file__).parent / "fixtures" / "ha_docs_examples.json").read_text()
)
# example name (its start) → (type, properties) of each device it becomes, and values read
EXPECTED: dict[str, tuple[list[tuple[str, tuple[str, ...]]], dict[str, Any]]] = {
    "json-schema light, abbreviated keys with ~": (
        [("light", ("on", "brightness"))], {"on": True, "brightness": 100},
    ),
    "json-schema light with abbreviated dev": ([("light", ("on",))], {}),
    "switch, full key names": ([("switch", ("on",))], {}),
    "switch, abbreviated keys with ~": ([("switch", ("on",))], {}),
    "binary_sensor motion": ([("sensor", ("motion",))], {"motion": True}),
    "sensor temperature with value_template": ([("sensor", ("temperature",))], {"temperature": 23.2}),
    "sensor humidity with value_template": ([("sensor", ("humidity",))], {"humidity": 43.7}),
    "single-component sensor": ([("sensor", ("temperature",))], {}),
    "sensor with object_id": ([], {}),  # no device class: no word for what it measures
    "sensor temperature via the mqtt.publish": ([("sensor", ("temperature",))], {}),
    "sensor timestamp": ([], {}),
    "device-based discovery, two sensors": ([("sensor", ("temperature", "humidity"))], {}),
    "device-based discovery, removing one": ([("sensor", ("temperature",))], {}),
    "device-based discovery, update": ([("sensor", ("temperature",))], {}),
    "migration example, single-component device_automation": ([], {}),
    "migration example, single-component sensor": ([], {}),
    "migration example, device-based": ([], {}),
    # the documentation's state message has a trailing comma: not JSON, nothing read
    "climate (HVAC) heat only": (
        [("climate", ("on", "mode", "target_temp", "current_temp"))], {},
    ),
}  # fmt: skip


def expected(name: str) -> tuple[list[tuple[str, tuple[str, ...]]], dict[str, Any]]:
    (found,) = [v for k, v in EXPECTED.items() if name.startswith(k)]
    return found


def test_every_example_is_expected() -> None:
    assert len(EXAMPLES) == 18
    for example in EXAMPLES:
        expected(example["name"])


@pytest.mark.parametrize("example", EXAMPLES, ids=[e["name"][:48] for e in EXAMPLES])
def test_a_documented_example_becomes_the_promised_device(example: dict[str, Any]) -> None:
    said = read("homeassistant", example["topic"], json.dumps(example["payload"]).encode())
    assert said, "a config says something"
    entities = [e for e in said if isinstance(e, Entity)]
    assert all(isinstance(e, Entity | Removed) for e in said)
    devices = [p for entities_of in group(entities) for p in propose(entities_of)]
    kinds, values = expected(example["name"])
    assert [(p.type, p.properties) for p in devices] == kinds
    read_values = {
        b.prop: b.read(s["payload"])
        for p in devices
        for b in p.bindings
        for s in example.get("state_topic_examples", [])
        if b.state_topic == s["topic"] and b.read(s["payload"]) is not None
    }
    assert read_values == values
